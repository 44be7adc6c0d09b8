//! The protein modality's config (`configs/protein-*.toml`).

use std::path::PathBuf;

use diffgen_core::config::DiffusionConfig;
use diffgen_core::train::TrainConfig;
use diffgen_core::CoreError;
use serde::{Deserialize, Serialize};

use crate::model::ProteinDenoiserConfig;

/// A protein config file: `[data]`, `[model]`, `[diffusion]`, `[training]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProteinConfig {
    /// Where the chains come from, and their length range.
    pub data: ProteinDataConfig,
    /// The transformer's size.
    pub model: ProteinDenoiserConfig,
    /// The process (schedule, objective) on the torus.
    pub diffusion: DiffusionConfig,
    /// The trainer's settings.
    pub training: TrainConfig,
}

/// The `[data]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProteinDataConfig {
    /// Where the chains come from.
    pub source: ProteinSource,
    /// Chains shorter than this are left out.
    #[serde(default = "default_min_length")]
    pub min_length: usize,
    /// Longer chains are cropped to a random window of this many residues (per batch, from
    /// the seeded batch stream), as FoldingDiff crops CATH domains to 128.
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// Train on the first chains of the training set only (quick runs, tests).
    #[serde(default)]
    pub max_train_chains: Option<usize>,
    /// Residue name written into PDB/mmCIF files.
    #[serde(default = "default_residue_name")]
    pub residue_name: String,
}

fn default_min_length() -> usize {
    40
}
fn default_max_length() -> usize {
    128
}
fn default_residue_name() -> String {
    "GLY".into()
}

/// The training chains: `source = { kind = "cath_s40" }` or
/// `{ kind = "directory", path = "...", chains = [...] }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProteinSource {
    /// `<data root>/proteins/cath_s40_bb_40-256.jsonl.gz` with its train/valid split.
    CathS40,
    /// A directory of your own PDB/mmCIF files (relative to the config file); chains to keep
    /// (all when absent). Every 20th chain segment is held out for validation.
    Directory {
        /// The directory; a relative path is taken from the config file's folder.
        path: PathBuf,
        /// Chain ids to keep; all chains when absent.
        #[serde(default)]
        chains: Option<Vec<String>>,
    },
}

impl ProteinConfig {
    /// Checks every section; errors name the setting.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.training.validate()?;
        self.model.validate()?;
        self.diffusion.validate()?;
        self.data.validate()
    }
}

impl ProteinDataConfig {
    /// Length range and residue name (shared by the angle and the Cα models).
    pub fn validate(&self) -> Result<(), CoreError> {
        let d = self;
        if d.min_length < 3 || d.max_length < d.min_length {
            return Err(CoreError::setting(
                "data.min_length/max_length",
                "need 3 ≤ min_length ≤ max_length",
            ));
        }
        let name = &d.residue_name;
        let ok = (1..=3).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !ok {
            return Err(CoreError::setting(
                "data.residue_name",
                format!(
                    "`{name}` is not a residue name (1–3 upper-case letters or digits, e.g. GLY)"
                ),
            ));
        }
        Ok(())
    }
}
