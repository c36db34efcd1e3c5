//! The config crate's error type.

use crate::Problems;

/// Why a document could not be loaded, edited or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The document has problems; every one is listed.
    #[error("{0}")]
    Invalid(Problems),
    /// A config file exists but could not be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A config file named explicitly (by `OPENCLAW_GLOBAL_CONFIG` or `OPENCLAW_USER_CONFIG`) is absent.
    #[error(
        "{file} does not exist (named by {variable}; unset {variable} for the standard path, or set it empty for no file)"
    )]
    Missing {
        /// The file.
        file: String,
        /// The variable that named it.
        variable: String,
    },
    /// Text that should be a JSON document is not.
    #[error("{origin}: not a valid JSON document: {message}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// What the parser said.
        message: String,
    },
    /// An `OPENCLAW_*__*` variable that cannot be read as a config key.
    #[error("environment variable {name}: {message}")]
    EnvKey {
        /// The variable's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A `--config.key=value` flag that cannot be read.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag as given.
        flag: String,
        /// What is wrong.
        message: String,
    },
    /// A patch that cannot be applied.
    #[error("patch cannot be applied: {0}")]
    Patch(String),
}

// === impl ConfigError ===

impl ConfigError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::Read { .. } => "read",
            Self::Missing { .. } => "missing",
            Self::Parse { .. } => "parse",
            Self::EnvKey { .. } => "env_key",
            Self::Flag { .. } => "flag",
            Self::Patch(_) => "patch",
        }
    }
}
