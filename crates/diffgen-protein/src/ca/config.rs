//! The Cα model's config (`configs/protein-cath-ca.toml`): the angle model's data table, a
//! network table of its own.

use diffgen_core::config::DiffusionConfig;
use diffgen_core::train::TrainConfig;
use diffgen_core::CoreError;
use serde::{Deserialize, Serialize};

use crate::ca::model::CaDenoiserConfig;
use crate::ca::steric::StericRepulsion;
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
    /// Geometric losses beside the process's own (none unless asked for).
    #[serde(default)]
    pub loss: CaLossConfig,
    /// How the model samples by default (sampling options override it).
    #[serde(default)]
    pub sampling: CaSamplingConfig,
}

/// `[sampling]`: the model's sampling defaults; training never reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSamplingConfig {
    /// Clashes in each step's x̂₀ pushed apart (none unless asked for).
    pub steric: Option<StericRepulsion>,
    /// Classifier-free guidance scale of a fold-class model when `--guidance` is not given
    /// (none: the plain conditional model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f64>,
}

/// `[loss]`: the trace's own auxiliary losses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaLossConfig {
    /// FrameDiff's loss on local pairwise distances at low noise.
    pub local_distances: Option<LocalDistanceLoss>,
    /// A hinge on residues the estimate puts on top of each other, at low noise.
    pub clashes: Option<ClashLoss>,
    /// The local-distance loss again, on the non-local contacts alone (strand partners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<ContactLoss>,
}

/// Squared error of the estimated trace's distances between residues that lie within
/// `cutoff` nm of each other in the data, for chains at times below `max_time` — FrameDiff
/// (Yim et al. 2023) credits it with fewer clashes and chain breaks. It sees the 3.8 Å
/// neighbour distance and the helix and strand contacts directly, which the per-coordinate
/// loss weighs no more than any other error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDistanceLoss {
    /// Its weight beside the process loss.
    pub weight: f64,
    /// Pairs closer than this in the data count (nm; FrameDiff's 6 Å).
    #[serde(default = "default_cutoff")]
    pub cutoff: f64,
    /// Only chains at t below this pay it (FrameDiff's 0.25).
    #[serde(default = "default_max_time")]
    pub max_time: f64,
}

/// A squared hinge on the estimated trace's non-local pairs (|i − j| ≥ 3) that come closer
/// than `distance` nm (or than the data's own distance, where that is smaller), per residue,
/// for chains at times below `max_time`. The local-distance loss only sees pairs that are
/// close in the data; a trace collapsed onto itself pays nothing there for the pairs it
/// brings together. Natural domains have no non-local Cα pair closer than about 4 Å.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClashLoss {
    /// Its weight beside the process loss.
    pub weight: f64,
    /// Pairs closer than this in the estimate pay (nm).
    #[serde(default = "default_clash_distance")]
    pub distance: f64,
    /// Only chains at t below this pay it.
    #[serde(default = "default_max_time")]
    pub max_time: f64,
}

/// Squared error of the estimated trace's distances between residues at least
/// `min_separation` apart in sequence that lie within `cutoff` nm of each other in the data,
/// averaged over those pairs, for chains at times below `max_time`. Among the pairs the
/// local-distance loss averages over, these are few (most are neighbours and helix turns),
/// and they are the ones sampled traces get wrong: strand partners that should sit 4.4–5.5 Å
/// apart spread over 3.5–6 Å, too loose for a β-ladder's hydrogen bonds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactLoss {
    /// Its weight beside the process loss.
    pub weight: f64,
    /// Pairs closer than this in the data count (nm).
    #[serde(default = "default_cutoff")]
    pub cutoff: f64,
    /// Pairs closer than this in sequence do not (|i − j| = 1–3: bonds, angles, helix turns).
    #[serde(default = "default_min_separation")]
    pub min_separation: usize,
    /// Only chains at t below this pay it.
    #[serde(default = "default_max_time")]
    pub max_time: f64,
}

fn default_min_separation() -> usize {
    4
}

fn default_clash_distance() -> f64 {
    0.38
}

fn default_cutoff() -> f64 {
    0.6
}

fn default_max_time() -> f64 {
    0.25
}

impl CaLossConfig {
    /// Weights, cut-offs and times must be positive finite numbers (times at most 1).
    pub fn validate(&self) -> Result<(), CoreError> {
        let mut checks = Vec::new();
        if let Some(local) = self.local_distances {
            checks.extend([
                ("local_distances.weight", local.weight, f64::INFINITY),
                ("local_distances.cutoff", local.cutoff, f64::INFINITY),
                ("local_distances.max_time", local.max_time, 1.0),
            ]);
        }
        if let Some(clashes) = self.clashes {
            checks.extend([
                ("clashes.weight", clashes.weight, f64::INFINITY),
                ("clashes.distance", clashes.distance, f64::INFINITY),
                ("clashes.max_time", clashes.max_time, 1.0),
            ]);
        }
        if let Some(contacts) = self.contacts {
            checks.extend([
                ("contacts.weight", contacts.weight, f64::INFINITY),
                ("contacts.cutoff", contacts.cutoff, f64::INFINITY),
                ("contacts.max_time", contacts.max_time, 1.0),
            ]);
            if contacts.min_separation < 2 {
                return Err(CoreError::setting(
                    "loss.contacts.min_separation",
                    format!(
                        "must be at least 2 (1 is the chain's own bonds), got {}",
                        contacts.min_separation
                    ),
                ));
            }
        }
        for (key, value, most) in checks {
            if !(value.is_finite() && value > 0.0 && value <= most) {
                return Err(CoreError::setting(
                    format!("loss.{key}"),
                    format!("must be a positive number (at most {most}), got {value}"),
                ));
            }
        }
        Ok(())
    }
}

impl CaConfig {
    /// Every table's checks.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.training.validate()?;
        self.model.validate()?;
        self.diffusion.validate()?;
        self.loss.validate()?;
        if let Some(steric) = &self.sampling.steric {
            steric.validate("sampling.steric")?;
        }
        if let Some(g) = self.sampling.guidance {
            if !g.is_finite() {
                return Err(CoreError::setting(
                    "sampling.guidance",
                    format!("{g} is not a finite number"),
                ));
            }
            match self.model.fold_class {
                None => {
                    return Err(CoreError::setting(
                        "sampling.guidance",
                        "guides a fold-class model; this one has no [model] fold_class",
                    ))
                }
                Some(c) if c.dropout == 0.0 => {
                    return Err(CoreError::setting(
                        "sampling.guidance",
                        "needs model.fold_class.dropout > 0: without dropped labels the \
                         unconditional half of guidance is never trained",
                    ))
                }
                Some(_) => {}
            }
        }
        self.data.validate()
    }
}
