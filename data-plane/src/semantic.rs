//! Semantic routing: which category a request's text means. A config's categories are compiled into a
//! [`SemanticIndex`] (utterance vectors and calibrations computed once); each request's text is
//! encoded once and scored against every category. Encoders: the built-in multilingual static table,
//! keyword BM25, a hybrid of the two, an OpenAI-compatible endpoint, or a local model2vec model.

mod calibration;
mod extract;
mod index;
mod keyword;
mod library;
mod remote;
mod static_model;
mod store;
mod vector;

pub use extract::{Skip, request_text, semantic_text};
pub use index::{CategoryScore, Scores, SemanticIndex};
pub use static_model::StaticEncoder;
pub use store::ModelStore;

/// Why semantic matching cannot be set up as configured.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SemanticError {
    /// A model could not be loaded.
    #[error("cannot load the model at {path}: {reason}")]
    Model {
        /// Where it was looked for.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The shipped category library does not parse (a broken build).
    #[error("the built-in category library is unreadable: {0}")]
    Library(String),
    /// A rule names a category nobody defined.
    #[error(
        "category {0} has no utterances: it is neither built in nor defined in gateway.routing.semantic.categories"
    )]
    UnknownCategory(String),
    /// The openai encoder cannot be set up.
    #[error("openai encoder: {0}")]
    Remote(String),
}

/// The cache key of a text (its embedding, its scores).
fn text_key(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}
