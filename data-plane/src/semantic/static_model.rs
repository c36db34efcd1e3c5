//! Static embedding tables loaded with `model2vec-rs`: the built-in multilingual table (compiled into
//! the binary) and `model2vec` models from a local directory. Embedding a text is a tokenizer pass and a
//! mean of table rows: microseconds, no network, no threads.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use model2vec_rs::model::StaticModel;

use super::SemanticError;

const BUILTIN_TOKENIZER: &[u8] = include_bytes!("../../semantic/model/tokenizer.json");
const BUILTIN_MODEL: &[u8] = include_bytes!("../../semantic/model/model.safetensors");
const BUILTIN_CONFIG: &[u8] = include_bytes!("../../semantic/model/config.json");

/// A loaded static model.
pub struct StaticEncoder {
    model: StaticModel,
    label: String,
}

// === impl StaticEncoder ===

impl StaticEncoder {
    /// The built-in table, loaded once per process on first use.
    pub fn builtin() -> Result<Arc<Self>, SemanticError> {
        static LOADED: OnceLock<Result<Arc<StaticEncoder>, SemanticError>> = OnceLock::new();
        LOADED
            .get_or_init(|| {
                Self::from_bytes("builtin", BUILTIN_TOKENIZER, BUILTIN_MODEL, BUILTIN_CONFIG)
                    .map(Arc::new)
                    .map_err(|reason| SemanticError::Model {
                        path: "builtin".into(),
                        reason,
                    })
            })
            .clone()
    }

    /// A model2vec directory (`model.safetensors`, `tokenizer.json`, `config.json`).
    pub fn from_dir(dir: &Path) -> Result<Self, SemanticError> {
        let err = |reason: String| SemanticError::Model {
            path: dir.display().to_string(),
            reason,
        };
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| err(format!("cannot read {name}: {e}")))
        };
        let tokenizer = read("tokenizer.json")?;
        let model = read("model.safetensors")?;
        let config = read("config.json")?;
        Self::from_bytes(
            &format!("model2vec:{}", dir.display()),
            &tokenizer,
            &model,
            &config,
        )
        .map_err(err)
    }

    fn from_bytes(
        label: &str,
        tokenizer: &[u8],
        model: &[u8],
        config: &[u8],
    ) -> Result<Self, String> {
        // One text at a time on the caller's thread: tokenizers would otherwise hand every text to a
        // rayon pool of its own (threads beside the runtime's, and a cross-thread hop per request).
        tokenizers::utils::parallelism::set_parallelism(false);
        // A malformed file must be an error, never a crash of the node: contain panics of the loader.
        let loaded = std::panic::catch_unwind(|| {
            StaticModel::from_bytes(tokenizer, model, config, Some(true))
        })
        .map_err(|_| "the model files are malformed (the loader gave up)".to_string())?
        .map_err(|e| format!("{e:#}"))?;
        let probe = loaded.encode_single("probe");
        if probe.is_empty() || probe.iter().any(|x| !x.is_finite()) {
            return Err("the model produces no usable vectors".into());
        }
        Ok(Self {
            model: loaded,
            label: label.to_string(),
        })
    }

    /// What to call this model in `/health` and explanations.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The vector length.
    pub fn dim(&self) -> usize {
        self.model.dim()
    }

    /// The unit-length vector of the first `max_tokens` tokens of `text` (zeros for empty text).
    pub fn embed(&self, text: &str, max_tokens: usize) -> Vec<f32> {
        let mut v = self
            .model
            .encode_with_args(&[text.to_string()], Some(max_tokens), 1)
            .pop()
            .unwrap_or_default();
        v.resize(self.dim(), 0.0);
        super::vector::normalize(&mut v);
        v
    }
}
