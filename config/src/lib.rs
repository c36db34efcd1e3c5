//! The OpenClaw Gateway config document.
//!
//! A document is JSON, `{"gateway": {...}}`, with the sections of the seed (`http`, `performance`,
//! `agents`, `routing`, `loadBalancing`, `cache`, `logging`, `monitoring`) plus `controlPlane` and
//! `auth`. Data flows like this:
//!
//! - [`layers`] merges defaults, a control-plane snapshot, the two files, `OPENCLAW_*__*` variables and
//!   `--config.*` flags into one effective document, remembering each key's [`Layer`];
//! - [`validate`] turns a document into the typed [`Document`] or returns every [`Problem`], each
//!   named by its JSON [`Path`];
//! - [`secrets`] resolves `${NAME}` placeholders where a document is used and redacts secrets
//!   wherever one is shown;
//! - [`patch`], [`diff`](diff::diff) and [`canonical`] edit, compare and hash stored versions.

mod canonical;
mod checks;
pub mod diff;
mod document;
mod env_keys;
mod error;
pub mod layers;
pub mod patch;
mod path;
mod problem;
pub mod resources;
mod schema;
pub mod secrets;
pub mod suggest;
mod units;

pub use canonical::{canonical_bytes, content_hash};
pub use document::{parse, validate};
pub use env_keys::{SCHEMA_KEYS, env_name_to_path, path_to_env_name};
pub use error::ConfigError;
pub use layers::{Layer, Layered, Sources};
pub use path::{Path, Segment};
pub use problem::{Problem, Problems};
pub use schema::*;
pub use units::{ByteSize, Duration};

/// Validates `doc` and checks that every `${NAME}` it uses resolves through `lookup`.
///
/// What `openclaw gateway validate` runs; the control plane runs [`validate`] alone, since placeholders
/// are resolved by the data plane that applies them.
pub fn validate_with_env(
    doc: &serde_json::Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Document, Problems> {
    let checked = validate(doc);
    let unresolved = secrets::resolve(doc, lookup).err().unwrap_or_default();
    match checked {
        Ok(d) if unresolved.is_empty() => Ok(d),
        Ok(_) => Err(Problems(unresolved)),
        Err(mut p) => {
            p.0.extend(unresolved);
            Err(p)
        }
    }
}

/// The `keyHash` form of an API key: `sha256:<hex>`.
pub fn hash_api_key(key: &str) -> String {
    use sha2::Digest;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    )
}
