//! A config's semantic index: the utterance vectors (or BM25 postings) of every category its rules use,
//! computed when the config is compiled, and each encoder's calibration. A request's text is encoded once
//! (and cached by hash); each category's raw score is the mean of its `topK` best utterance
//! similarities, and its lead over the same score against the off-topic requests is turned into a
//! calibrated confidence (the calibration is fitted on the whole library, so it does not change with
//! the categories the rules happen to use).

use super::text_key;
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use openclaw_config::Semantic;

use super::SemanticError;
use super::calibration::Calibration;
use super::extract::truncate_chars;
use super::keyword::Bm25;
use super::library::Library;
use super::remote::RemoteEncoder;
use super::static_model::StaticEncoder;
use super::store::ModelStore;
use super::vector::Matrix;

/// Characters of text kept for encoders that count characters rather than tokens (≈ 4 per token).
const CHARS_PER_TOKEN: usize = 4;

/// One category's numbers for one request.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoryScore {
    /// The category.
    pub name: Arc<str>,
    /// Mean of the top-k utterance similarities.
    pub raw: f32,
    /// The calibrated confidence in 0..=1.
    pub confidence: f64,
}

/// What semantic matching made of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// The encoder that produced the numbers (`builtin`, `keyword`, `openai:<model>`, …).
    pub encoder: String,
    /// Why the stronger encoder did not answer, when a fallback did.
    pub fallback: Option<String>,
    /// Per category, in index order.
    pub categories: Vec<CategoryScore>,
}

/// A compiled semantic index; cheap to clone (shared).
#[derive(Clone)]
pub struct SemanticIndex {
    inner: Arc<Inner>,
}

struct Inner {
    names: Vec<Arc<str>>,
    spans: Vec<Range<usize>>,
    none: Range<usize>,
    top_k: usize,
    max_tokens: usize,
    scorer: Arc<Scorer>,
    /// How the index encodes, for `/health`: `builtin`, or `keyword (model unavailable: …)`.
    status: String,
    /// Set when a configured model could not be used and a fallback serves instead.
    warning: Option<String>,
    cache: moka::sync::Cache<u64, Arc<Scores>>,
}

/// Similarities against the utterances, with the calibration that turns them into confidences.
pub(crate) struct Dense {
    pub(crate) matrix: Matrix,
    pub(crate) calibration: Calibration,
}

/// BM25 postings of the utterances, with their calibration.
pub(crate) struct Keyword {
    pub(crate) bm25: Bm25,
    pub(crate) calibration: Calibration,
}

/// How an index turns text into utterance similarities.
pub(crate) enum Scorer {
    Static {
        encoder: Arc<StaticEncoder>,
        dense: Dense,
    },
    Keyword(Keyword),
    Hybrid {
        encoder: Arc<StaticEncoder>,
        matrix: Matrix,
        bm25: Bm25,
        weight: f32,
        calibration: Calibration,
    },
    Remote {
        remote: Arc<RemoteEncoder>,
        space: Arc<OnceLock<Dense>>,
        fallback: Arc<Scorer>,
    },
}

// === impl Scores ===

impl Scores {
    /// No scores at all (the request had no text to read): every semantic rule scores 0.
    pub fn none() -> Self {
        Self {
            encoder: "none".into(),
            fallback: None,
            categories: Vec::new(),
        }
    }
}

// === impl SemanticIndex ===

impl SemanticIndex {
    /// Builds the index of the categories `used` by a config's semantic rules.
    pub fn build(
        cfg: &Semantic,
        used: &[String],
        store: &ModelStore,
    ) -> Result<Self, SemanticError> {
        let library = Library::for_config(cfg, used)?;
        let top_k = cfg.top_k.max(1) as usize;
        let max_tokens = cfg.max_tokens.max(1) as usize;
        // The whole library calibrates (so a threshold means the same whatever the other rules are);
        // only the categories rules use, and the off-topic requests, are scored per request.
        let mut full_spans = Vec::new();
        let mut at = 0;
        for c in &library.categories {
            full_spans.push(at..at + c.utterances.len());
            at += c.utterances.len();
        }
        let full = Shape {
            spans: &full_spans,
            none: at..at + library.offtopic.len(),
            top_k,
            max_tokens,
        };
        let mut rows: Vec<usize> = Vec::new();
        let mut spans = Vec::new();
        let mut names: Vec<Arc<str>> = Vec::new();
        for (c, span) in library.categories.iter().zip(&full_spans) {
            if used.contains(&c.name) {
                spans.push(rows.len()..rows.len() + span.len());
                rows.extend(span.clone());
                names.push(Arc::from(c.name.as_str()));
            }
        }
        let none = rows.len()..rows.len() + full.none.len();
        rows.extend(full.none.clone());
        let (scorer, status, warning) = store.scorer(cfg, &library, &full, &rows)?;
        Ok(Self {
            inner: Arc::new(Inner {
                names,
                spans,
                none,
                top_k,
                max_tokens,
                scorer,
                status,
                warning,
                cache: moka::sync::Cache::new(10_000),
            }),
        })
    }

    /// How the index encodes (for `/health`).
    pub fn status(&self) -> &str {
        &self.inner.status
    }

    /// A configured model that could not be used, when a fallback serves instead.
    pub fn warning(&self) -> Option<&str> {
        self.inner.warning.as_deref()
    }

    /// False while a remote encoder's utterance vectors are still being fetched (its fallback answers).
    pub fn is_complete(&self) -> bool {
        match self.inner.scorer.as_ref() {
            Scorer::Remote { space, .. } => space.get().is_some(),
            _ => true,
        }
    }

    /// Waits up to `wait` for a remote encoder's utterance vectors; true when the index is complete.
    pub async fn ready(&self, wait: Duration) -> bool {
        let Scorer::Remote { space, .. } = self.inner.scorer.as_ref() else {
            return true;
        };
        let deadline = tokio::time::Instant::now() + wait;
        while space.get().is_none() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Scores `text` against every category (cached by the text's hash).
    pub async fn score(&self, text: &str) -> Arc<Scores> {
        let inner = &self.inner;
        let text = truncate_chars(text, inner.max_tokens * CHARS_PER_TOKEN);
        let key = text_key(text);
        if let Some(s) = inner.cache.get(&key) {
            return s;
        }
        let scores = Arc::new(match inner.scorer.as_ref() {
            Scorer::Remote {
                remote,
                space,
                fallback,
            } => match space.get() {
                None => self.local(
                    fallback,
                    text,
                    Some("openai: the library is not embedded yet".into()),
                ),
                Some(dense) => match remote.embed(text).await {
                    Ok(v) => {
                        let mut q = v.as_ref().clone();
                        super::vector::normalize(&mut q);
                        let sims = dense.matrix.cosines(&q);
                        self.finish(remote.label(), None, &sims, &dense.calibration)
                    }
                    Err(e) => self.local(fallback, text, Some(format!("openai: {e}"))),
                },
            },
            local => self.local(local, text, None),
        });
        // Fallback answers are not cached: the endpoint may answer the next time.
        if scores.fallback.is_none() {
            inner.cache.insert(key, scores.clone());
        }
        scores
    }

    /// Scores `text` now with the local encoder (a remote encoder's fallback), bypassing the cache: what
    /// benchmarks measure.
    pub fn score_uncached(&self, text: &str) -> Scores {
        let text = truncate_chars(text, self.inner.max_tokens * CHARS_PER_TOKEN);
        self.local(&self.inner.scorer, text, None)
    }

    fn local(&self, scorer: &Scorer, text: &str, fallback: Option<String>) -> Scores {
        let (label, sims, calibration) = scorer.local_similarities(text, self.inner.max_tokens);
        self.finish(label, fallback, &sims, &calibration)
    }

    fn finish(
        &self,
        encoder: String,
        fallback: Option<String>,
        sims: &[f32],
        calibration: &Calibration,
    ) -> Scores {
        let inner = &self.inner;
        let none = top_k_mean(&sims[inner.none.clone()], inner.top_k, None);
        let categories = inner
            .names
            .iter()
            .zip(&inner.spans)
            .map(|(name, span)| {
                let raw = top_k_mean(&sims[span.clone()], inner.top_k, None);
                CategoryScore {
                    name: name.clone(),
                    raw,
                    confidence: calibration.confidence(raw - none),
                }
            })
            .collect();
        Scores {
            encoder,
            fallback,
            categories,
        }
    }
}

// === impl Scorer ===

impl Scorer {
    /// Similarity of `text` to every utterance, by a local encoder (a remote one's fallback answers).
    pub(crate) fn local_similarities(
        &self,
        text: &str,
        max_tokens: usize,
    ) -> (String, Vec<f32>, Calibration) {
        match self {
            Self::Static { encoder, dense } => (
                encoder.label().to_string(),
                dense.matrix.cosines(&encoder.embed(text, max_tokens)),
                dense.calibration,
            ),
            Self::Keyword(k) => ("keyword".into(), k.bm25.similarities(text), k.calibration),
            Self::Hybrid {
                encoder,
                matrix,
                bm25,
                weight,
                calibration,
            } => {
                let dense = matrix.cosines(&encoder.embed(text, max_tokens));
                let kw = bm25.similarities(text);
                ("hybrid".into(), mix(&dense, &kw, *weight), *calibration)
            }
            Self::Remote { fallback, .. } => fallback.local_similarities(text, max_tokens),
        }
    }
}

/// `(1 - w)·dense + w·keyword`, element by element.
pub(crate) fn mix(dense: &[f32], keyword: &[f32], w: f32) -> Vec<f32> {
    dense
        .iter()
        .zip(keyword)
        .map(|(d, k)| (1.0 - w) * d + w * k)
        .collect()
}

/// The shape of a library: where each category's utterances and the off-topic requests sit, and the
/// scoring settings.
pub(crate) struct Shape<'a> {
    pub(crate) spans: &'a [Range<usize>],
    pub(crate) none: Range<usize>,
    pub(crate) top_k: usize,
    pub(crate) max_tokens: usize,
}

/// The mean of the `k` largest values of `sims`, leaving out position `skip`.
pub(crate) fn top_k_mean(sims: &[f32], k: usize, skip: Option<usize>) -> f32 {
    let mut best: Vec<f32> = sims
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(_, s)| *s)
        .collect();
    if best.is_empty() {
        return 0.0;
    }
    let k = k.min(best.len());
    best.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    best[..k].iter().sum::<f32>() / k as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn best(index: &SemanticIndex, text: &str) -> (String, f64) {
        let s = index.score(text).await;
        let b = s
            .categories
            .iter()
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
            .unwrap();
        (b.name.to_string(), b.confidence)
    }

    fn index(encoder: &str, used: &[&str]) -> SemanticIndex {
        let cfg: Semantic =
            serde_json::from_value(serde_json::json!({"encoder": encoder})).unwrap();
        let used: Vec<String> = used.iter().map(|s| s.to_string()).collect();
        SemanticIndex::build(&cfg, &used, &ModelStore::new()).unwrap()
    }

    #[tokio::test]
    async fn each_encoder_finds_the_category_and_off_topic_scores_low() {
        let used = ["code", "conversation", "translation"];
        for encoder in ["builtin", "keyword", "hybrid"] {
            let index = index(encoder, &used);
            assert_eq!(
                best(&index, "帮我写一个Python函数").await.0,
                "code",
                "{encoder}"
            );
            assert_eq!(
                best(&index, "hello, how are you?").await.0,
                "conversation",
                "{encoder}"
            );
            let (_, c) = best(&index, "帮我订一张明天去上海的机票").await;
            assert!(c < 0.5, "{encoder}: off-topic confidence {c}");
        }
    }

    #[tokio::test]
    async fn confidences_do_not_depend_on_which_other_categories_rules_use() {
        let text = "这段代码报错了怎么调试";
        let narrow = index("builtin", &["debug"]).score(text).await;
        let wide = index("builtin", &["debug", "code", "math", "writing"])
            .score(text)
            .await;
        let debug = |s: &Scores| {
            s.categories
                .iter()
                .find(|c| &*c.name == "debug")
                .unwrap()
                .confidence
        };
        assert!((debug(&narrow) - debug(&wide)).abs() < 1e-9);
        assert_eq!(narrow.categories.len(), 1);
        assert_eq!(wide.categories.len(), 4);
    }
}
