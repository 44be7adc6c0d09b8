//! Errors of the core. Modalities wrap theirs in [`BoxError`].

use std::path::PathBuf;

/// Any error a modality returns through the object-safe [`crate::modality::Modality`] trait.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("invalid setting `{key}`: {reason}")]
    InvalidSetting { key: String, reason: String },

    #[error("backend `{0}` is not compiled into this binary; rebuild with `--features {0}`")]
    BackendNotCompiled(String),

    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        // Part of the message; not named `source`, so not repeated by error chains.
        error: std::io::Error,
    },

    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },

    #[error("training stopped at step {step}: the loss is {value} (not finite); the last good checkpoint is kept")]
    NonFiniteLoss { step: u64, value: f64 },

    /// SIGINT/SIGTERM: the run stopped, saving what it could.
    #[error("interrupted: {0}")]
    Interrupted(String),

    #[error("{0}")]
    Other(String),
}

impl CoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            error: source,
        }
    }

    pub fn setting(key: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::InvalidSetting {
            key: key.into(),
            reason: reason.into(),
        }
    }

    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        CoreError::Checkpoint {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
