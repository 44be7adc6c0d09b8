//! Config pieces every modality shares, and strict TOML parsing.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::forward::{LossWeighting, Objective};
use crate::schedule::ScheduleConfig;
use crate::CoreError;

/// The `[diffusion]` table: schedule, objective and loss weighting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusionConfig {
    /// The noise schedule (`[diffusion.schedule]`).
    pub schedule: ScheduleConfig,
    /// What the denoiser predicts (default ε).
    #[serde(default)]
    pub objective: Objective,
    /// Per-sample weight of the loss (default uniform).
    #[serde(default)]
    pub weighting: LossWeighting,
}

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
