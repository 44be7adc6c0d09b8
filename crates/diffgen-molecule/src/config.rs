//! The molecule modality's config (`configs/molecule-*.toml`).

use std::path::PathBuf;

use diffgen_core::config::DiffusionConfig;
use diffgen_core::train::TrainConfig;
use diffgen_core::CoreError;
use serde::{Deserialize, Serialize};

use crate::data::Encoding;
use crate::egnn::EgnnConfig;
use crate::joint::JointConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// A molecule config file: `[data]`, `[encoding]`, `[model]` or `[joint]`, `[diffusion]`,
/// `[training]`.
pub struct MoleculeConfig {
    /// Where the molecules come from.
    pub data: MoleculeDataConfig,
    /// The elements and how atoms become features.
    pub encoding: Encoding,
    /// EDM's EGNN (used unless `joint` is given).
    pub model: EgnnConfig,
    /// The joint model: types, charges and bonds generated with the coordinates
    /// (`crate::joint`); `model` is then ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint: Option<JointConfig>,
    /// The process: ε objective for EDM's EGNN, clean-state (`sample`) for the joint model.
    pub diffusion: DiffusionConfig,
    /// The trainer's settings.
    pub training: TrainConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// The `[data]` table.
pub struct MoleculeDataConfig {
    /// The molecule files.
    pub source: MoleculeSource,
    /// Train on the first molecules of the (shuffled-by-seed) training set only.
    #[serde(default)]
    pub max_train_molecules: Option<usize>,
    /// Validation molecules used for the validation loss.
    #[serde(default = "default_valid")]
    pub max_valid_molecules: usize,
}

fn default_valid() -> usize {
    1000
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
/// Where training molecules come from (`[data] source = { kind = … }`).
pub enum MoleculeSource {
    /// `<data root>/qm9/qm9_{train,valid}.xyz.gz`: QM9 with EDM's split.
    Qm9,
    /// Your own (multi-)XYZ files (gzip allowed); paths relative to the config file.
    Xyz {
        /// The training molecules.
        train: PathBuf,
        /// The validation molecules (None: the last tenth of `train`'s file).
        valid: Option<PathBuf>,
    },
}

impl MoleculeConfig {
    /// Checks every setting, and that the objective fits the model; errors name the setting.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.training.validate()?;
        if self.model.layers == 0 || self.model.hidden == 0 {
            return Err(CoreError::setting(
                "model.layers/hidden",
                "must be positive",
            ));
        }
        if self
            .encoding
            .normalize_factors
            .iter()
            .any(|f| !(f.is_finite() && *f > 0.0))
        {
            return Err(CoreError::setting(
                "encoding.normalize_factors",
                "must be positive numbers",
            ));
        }
        match &self.joint {
            Some(joint) => {
                joint.validate()?;
                if self.diffusion.objective != diffgen_core::Objective::Sample {
                    return Err(CoreError::setting(
                        "diffusion.objective",
                        "the joint model predicts the clean state; only `sample` is supported",
                    ));
                }
            }
            None => {
                if self.diffusion.objective != diffgen_core::Objective::Epsilon {
                    return Err(CoreError::setting(
                        "diffusion.objective",
                        "the EGNN of EDM predicts ε; only `epsilon` is supported",
                    ));
                }
            }
        }
        self.diffusion.validate()?;
        Ok(())
    }
}
