//! The toy modality's config (`configs/toy-*.toml`).

use diffgen_core::config::DiffusionConfig;
use diffgen_core::train::TrainConfig;
use diffgen_core::CoreError;
use serde::{Deserialize, Serialize};

use crate::data::DataSource;
use crate::model::ToyDenoiserConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// A toy config file: `[data]`, `[model]`, `[diffusion]`, `[training]`.
pub struct ToyConfig {
    /// Where the points come from.
    pub data: DataConfig,
    /// The denoiser's size.
    pub model: ToyDenoiserConfig,
    /// The process (schedule or flow, objective, parts).
    pub diffusion: DiffusionConfig,
    /// The trainer's settings.
    pub training: TrainConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// The `[data]` table.
pub struct DataConfig {
    /// The point source.
    pub source: DataSource,
    /// Points drawn for training (synthetic sources).
    #[serde(default = "default_train_size")]
    pub train_size: usize,
    /// Held-out points for validation and metrics.
    #[serde(default = "default_val_size")]
    pub val_size: usize,
    /// Share of training labels replaced by the null label, so one model learns both the
    /// conditional and the unconditional score (classifier-free guidance).
    #[serde(default = "default_label_dropout")]
    pub label_dropout: f64,
}

fn default_train_size() -> usize {
    20_000
}

fn default_val_size() -> usize {
    2_000
}

fn default_label_dropout() -> f64 {
    0.1
}

impl ToyConfig {
    /// Checks every setting; errors name it.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.training.validate()?;
        self.model.validate()?;
        if self.data.train_size == 0 || self.data.val_size == 0 {
            return Err(CoreError::setting(
                "data.train_size/val_size",
                "must be positive",
            ));
        }
        if !(0.0..1.0).contains(&self.data.label_dropout) {
            return Err(CoreError::setting(
                "data.label_dropout",
                "must lie in [0, 1)",
            ));
        }
        self.diffusion.validate()?;
        Ok(())
    }
}
