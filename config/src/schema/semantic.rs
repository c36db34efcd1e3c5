//! `gateway.routing.semantic`: how semantic rules read a request's meaning — the encoder, the scoring,
//! the text taken from the body, and categories added to the built-in library.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checks::is_url;
use crate::problem::Check;
use crate::secrets::{contains_placeholder, is_single_placeholder};
use crate::{ByteSize, Duration, Path};

/// Categories of the built-in library, with Chinese and English example utterances in the data plane.
pub const BUILTIN_CATEGORIES: &[&str] = &[
    "conversation",
    "qa",
    "general",
    "code",
    "programming",
    "debug",
    "data",
    "analytics",
    "sql",
    "translation",
    "summarization",
    "math",
    "writing",
    "search",
];

/// The largest body the gateway reads to find a request's text.
pub const MAX_SEMANTIC_BODY: ByteSize = ByteSize::mib(1);

/// Semantic matching settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Semantic {
    /// What turns text into scores; default `builtin`.
    pub encoder: EncoderKind,
    /// A category's score is the mean of its `topK` best utterance similarities; default 3.
    pub top_k: u32,
    /// A semantic rule wins only if its best similarity beats the runner-up rule's by this much (a
    /// similarity difference: confidences saturate near 1, where a real lead no longer shows); default 0.01.
    pub margin: f64,
    /// Bodies larger than this skip semantic matching (and fall to the default rule); default 64KiB.
    pub max_body_size: ByteSize,
    /// Only the first this-many tokens of the text are read; default 256.
    pub max_tokens: u32,
    /// A JSON pointer (`/input/query`) to the text, tried before the usual fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_pointer: Option<String>,
    /// The weight of the keyword score in the `hybrid` encoder (the rest is `builtin`); default 0.3.
    pub hybrid_weight: f64,
    /// Categories defined here or utterances added to built-in ones, by name.
    pub categories: BTreeMap<String, Category>,
    /// The `openai` encoder's endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai: Option<OpenAi>,
    /// The `model2vec` encoder's model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model2vec: Option<Model2Vec>,
}

/// The encoders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// The multilingual static table shipped with the gateway.
    Builtin,
    /// BM25 over the utterances (CJK character bigrams); needs no model.
    Keyword,
    /// `builtin` and `keyword` mixed by `hybridWeight`.
    Hybrid,
    /// An OpenAI-compatible `/v1/embeddings` endpoint, falling back to `builtin`.
    Openai,
    /// A model2vec static model from a local directory.
    Model2vec,
}

/// One category of the library.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Category {
    /// Example requests of the category (added to the built-in ones when the name is built in).
    pub utterances: Vec<String>,
}

/// An OpenAI-compatible embeddings endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenAi {
    /// Base URL; `/embeddings` is appended (e.g. `https://api.openai.com/v1`). Required.
    pub base_url: String,
    /// Model name sent with each request. Required.
    pub model: String,
    /// Bearer key, as an environment placeholder (`${OPENAI_API_KEY}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Longest wait for one request's embedding before `builtin` answers instead; default 300ms.
    pub timeout: Duration,
    /// Embeddings kept, by text hash; default 10000.
    pub cache_size: u32,
    /// Failures in a row that open the circuit breaker; default 5.
    pub failure_threshold: u32,
    /// How long an open breaker sends everything to `builtin` before trying again; default 30s.
    pub cooldown: Duration,
}

/// A static model on the node's disk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Model2Vec {
    /// Directory with `model.safetensors`, `tokenizer.json` and `config.json`. Required.
    pub path: String,
    /// When the model cannot be loaded, match with `keyword` (and warn) instead of refusing the config.
    pub fallback_to_keyword: bool,
}

// === impl Semantic ===

impl Default for Semantic {
    fn default() -> Self {
        Self {
            encoder: EncoderKind::Builtin,
            top_k: 3,
            margin: 0.01,
            max_body_size: ByteSize::kib(64),
            max_tokens: 256,
            text_pointer: None,
            hybrid_weight: 0.3,
            categories: BTreeMap::new(),
            openai: None,
            model2vec: None,
        }
    }
}

impl Semantic {
    /// True when `name` is a built-in category or one defined here.
    pub fn knows(&self, name: &str) -> bool {
        BUILTIN_CATEGORIES.contains(&name) || self.categories.contains_key(name)
    }

    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        c.range(&at.key("topK"), self.top_k, 1, 50);
        c.range(&at.key("margin"), self.margin, 0.0, 1.0);
        c.range(&at.key("hybridWeight"), self.hybrid_weight, 0.0, 1.0);
        c.range(&at.key("maxTokens"), self.max_tokens, 1, 8192);
        if self.max_body_size.bytes() > MAX_SEMANTIC_BODY.bytes() {
            c.fail(
                &at.key("maxBodySize"),
                format!("must be at most {MAX_SEMANTIC_BODY}"),
                &self.max_body_size,
            );
        }
        if let Some(p) = &self.text_pointer
            && !(p.starts_with('/') && p.len() > 1)
        {
            c.fail(
                &at.key("textPointer"),
                "must be a JSON pointer such as \"/input/query\"",
                p,
            );
        }
        for (name, cat) in &self.categories {
            let p = at.key("categories").key(name.clone());
            if name.trim().is_empty() {
                c.missing(&p, "a category needs a name");
            }
            if cat.utterances.is_empty() && !BUILTIN_CATEGORIES.contains(&name.as_str()) {
                c.missing(
                    &p.key("utterances"),
                    "a new category needs at least one utterance",
                );
            }
            for (i, u) in cat.utterances.iter().enumerate() {
                c.require(&p.key("utterances").index(i), u);
            }
        }
        self.validate_encoder(at, c);
    }

    fn validate_encoder(&self, at: &Path, c: &mut Check) {
        let kind = self.encoder;
        match (&self.openai, kind == EncoderKind::Openai) {
            (None, true) => c.missing(&at.key("openai"), "is required when encoder is openai"),
            (Some(o), true) => o.validate(&at.key("openai"), c),
            (Some(_), false) => c.missing(
                &at.key("openai"),
                format!("is only used when encoder is openai, not {}", kind.name()),
            ),
            (None, false) => {}
        }
        match (&self.model2vec, kind == EncoderKind::Model2vec) {
            (None, true) => c.missing(
                &at.key("model2vec"),
                "is required when encoder is model2vec",
            ),
            (Some(m), true) => {
                c.require(&at.key("model2vec").key("path"), &m.path);
            }
            (Some(_), false) => c.missing(
                &at.key("model2vec"),
                format!(
                    "is only used when encoder is model2vec, not {}",
                    kind.name()
                ),
            ),
            (None, false) => {}
        }
    }
}

// === impl EncoderKind ===

impl EncoderKind {
    /// The name used in documents.
    pub fn name(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::Keyword => "keyword",
            Self::Hybrid => "hybrid",
            Self::Openai => "openai",
            Self::Model2vec => "model2vec",
        }
    }
}

// === impl OpenAi ===

impl Default for OpenAi {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            model: String::new(),
            api_key: None,
            timeout: Duration::millis(300),
            cache_size: 10_000,
            failure_threshold: 5,
            cooldown: Duration::secs(30),
        }
    }
}

impl OpenAi {
    fn validate(&self, at: &Path, c: &mut Check) {
        if c.require(&at.key("baseUrl"), &self.base_url)
            && !contains_placeholder(&self.base_url)
            && !is_url(&self.base_url, &["http", "https"])
        {
            c.fail(
                &at.key("baseUrl"),
                "must be an http:// or https:// URL",
                &self.base_url,
            );
        }
        c.require(&at.key("model"), &self.model);
        if let Some(k) = &self.api_key
            && !is_single_placeholder(k)
        {
            c.missing(
                &at.key("apiKey"),
                "must be an environment placeholder such as \"${OPENAI_API_KEY}\"",
            );
        }
        let t = self.timeout.get();
        if t.is_zero() || t > std::time::Duration::from_secs(10) {
            c.fail(
                &at.key("timeout"),
                "must be within 1ms..=10s",
                &self.timeout,
            );
        }
        c.range(&at.key("cacheSize"), self.cache_size, 0, 10_000_000);
        c.range(&at.key("failureThreshold"), self.failure_threshold, 1, 1000);
        if self.cooldown.get().is_zero() {
            c.fail(
                &at.key("cooldown"),
                "must be greater than 0",
                &self.cooldown,
            );
        }
    }
}
