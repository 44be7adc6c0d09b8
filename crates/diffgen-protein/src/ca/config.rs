//! The Cα model's config (`configs/protein-cath-ca.toml`): the angle model's data table, a
//! network table of its own.

use diffgen_core::config::DiffusionConfig;
use diffgen_core::train::TrainConfig;
use diffgen_core::CoreError;
use serde::{Deserialize, Serialize};

use crate::ca::model::CaDenoiserConfig;
use crate::config::ProteinDataConfig;

/// `[data]`, `[model]`, `[diffusion]`, `[training]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaConfig {
    /// Where the chains come from, their length range and crop (as the angle model's).
    pub data: ProteinDataConfig,
    /// The transformer with distance-biased attention.
    pub model: CaDenoiserConfig,
    /// The process; flow matching predicting the clean trace is what it was built for.
    pub diffusion: DiffusionConfig,
    /// Optimiser, schedule, batch size, checkpoints.
    pub training: TrainConfig,
}

impl CaConfig {
    /// Every table's checks.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.training.validate()?;
        self.model.validate()?;
        self.diffusion.validate()?;
        self.data.validate()
    }
}
