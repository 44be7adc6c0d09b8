//! Config pieces every modality shares, and strict TOML parsing.
//!
//! The `[diffusion]` table is [`DiffusionConfig`] (in [`crate::process`]).

use std::path::Path;

use serde::de::DeserializeOwned;

pub use crate::process::DiffusionConfig;
use crate::CoreError;

/// Parses TOML into `T`, rejecting unknown keys (every config struct denies them); the error
/// names the file, the line and the key.
pub fn parse_toml<T: DeserializeOwned>(text: &str, origin: &Path) -> Result<T, CoreError> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| {
                format!(
                    ", line {}",
                    text[..span.start.min(text.len())].lines().count().max(1)
                )
            })
            .unwrap_or_default();
        CoreError::Other(format!("{}{line}: {}", origin.display(), e.message()))
    })
}
