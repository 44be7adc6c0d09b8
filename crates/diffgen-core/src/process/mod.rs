//! Processes: how a state is corrupted in training and walked back in sampling.
//!
//! A model's [`Process`] is its continuous parts' [`GaussianPath`] (discrete-time diffusion
//! or flow matching), its [`StateLayout`] (which columns are which part, and the categorical
//! parts' priors) and how training draws times. [`process_loss`] trains any of them, and
//! [`crate::sampler::sample`] steps all parts together: the continuous columns with the
//! chosen [`crate::sampler::Sampler`], the categorical ones with the exact posterior of
//! [`categorical`]. `docs/processes.md` says which sampler fits which process.

pub mod categorical;
pub mod flow;
pub mod layout;
mod loss;
mod path;
pub mod time_grid;

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

pub use categorical::CategoricalPrior;
pub use flow::{FlowConfig, TimeSampler};
pub use layout::{LayoutBuilder, Part, PartKind, PartSettings, PriorKind, StateLayout};
pub use loss::process_loss;
pub use path::GaussianPath;
pub use time_grid::TimeGrid;

use crate::forward::{LossWeighting, Objective};
use crate::rng::SeededRng;
use crate::schedule::ScheduleConfig;
use crate::CoreError;

/// The `[diffusion]` table: the process (a `schedule` for diffusion, or a `flow` table for
/// flow matching), what the network predicts, loss weighting, per-part settings of a product
/// state, and self-conditioning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusionConfig {
    /// Gaussian diffusion's noise schedule (`[diffusion.schedule]`); give this or `flow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleConfig>,
    /// Flow matching on the straight line (`[diffusion.flow]`); give this or `schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowConfig>,
    /// What the network predicts for continuous parts (default ε; flow: `sample` or
    /// `flow_velocity`).
    #[serde(default)]
    pub objective: Objective,
    /// Per-sample weight of the continuous parts' loss (default uniform).
    #[serde(default)]
    pub weighting: LossWeighting,
    /// Per-part loss weights and priors (`[diffusion.parts.<name>]`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parts: BTreeMap<String, PartSettings>,
    /// Feed the network its own previous estimate of the clean state (Chen et al. 2022):
    /// half of training steps and every sampling step after the first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_conditioning: bool,
}

impl DiffusionConfig {
    /// Gaussian diffusion with `schedule`, predicting `objective`, plain loss.
    pub fn gaussian(schedule: ScheduleConfig, objective: Objective) -> Self {
        Self {
            schedule: Some(schedule),
            flow: None,
            objective,
            weighting: LossWeighting::Uniform,
            parts: BTreeMap::new(),
            self_conditioning: false,
        }
    }

    /// The continuous parts' path; the error names the setting.
    pub fn path(&self) -> Result<GaussianPath, CoreError> {
        match (&self.schedule, &self.flow) {
            (Some(schedule), None) => {
                if self.objective == Objective::FlowVelocity {
                    return Err(CoreError::setting(
                        "diffusion.objective",
                        "flow_velocity needs flow matching ([diffusion.flow]); a schedule's models predict epsilon, sample or velocity",
                    ));
                }
                Ok(GaussianPath::Schedule(schedule.build()?))
            }
            (None, Some(flow)) => {
                flow.validate()?;
                if !matches!(self.objective, Objective::Sample | Objective::FlowVelocity) {
                    return Err(CoreError::setting(
                        "diffusion.objective",
                        format!(
                            "flow matching predicts `sample` (x_0) or `flow_velocity`, not `{}` (its x_0 is undefined at the prior, t = 1)",
                            self.objective.name()
                        ),
                    ));
                }
                Ok(GaussianPath::Linear {
                    default_steps: flow.steps,
                    default_grid: flow.time_grid,
                })
            }
            (Some(_), Some(_)) => Err(CoreError::setting(
                "diffusion",
                "give either a schedule (diffusion) or a [diffusion.flow] table (flow matching), not both",
            )),
            (None, None) => Err(CoreError::setting(
                "diffusion",
                "needs a schedule (diffusion) or a [diffusion.flow] table (flow matching)",
            )),
        }
    }

    /// Checks the process settings (the layout's are checked when it is built).
    pub fn validate(&self) -> Result<(), CoreError> {
        self.weighting.validate()?;
        self.path().map(|_| ())
    }

    /// The process of a state laid out as `layout`.
    pub fn process(&self, layout: StateLayout) -> Result<Process, CoreError> {
        let path = self.path()?;
        if self.parts.keys().next().is_some() && layout.parts().is_empty() {
            let names: Vec<&String> = self.parts.keys().collect();
            return Err(CoreError::setting(
                "diffusion.parts",
                format!("this model's state has no named parts; remove {names:?}"),
            ));
        }
        let time = match (&path, &self.flow) {
            (GaussianPath::Schedule(s), _) => TimeDraw::Levels {
                min: s.min_train_t(),
                max: s.steps(),
            },
            (GaussianPath::Linear { .. }, Some(flow)) => TimeDraw::Continuous(flow.time),
            (GaussianPath::Linear { .. }, None) => TimeDraw::Continuous(TimeSampler::Uniform),
        };
        Ok(Process {
            path,
            layout,
            weighting: self.weighting,
            time,
            align_prior: self.flow.as_ref().is_some_and(|f| f.align_prior),
        })
    }
}

/// How training draws a sample's time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeDraw {
    /// A uniform level in `min..=max` of a schedule, as DDPM and EDM train.
    Levels {
        /// The least noisy level trained on.
        min: usize,
        /// T.
        max: usize,
    },
    /// A continuous time from a sampler.
    Continuous(TimeSampler),
}

/// A model's process, built from its `[diffusion]` table and its modality's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    /// The continuous parts' path.
    pub path: GaussianPath,
    /// The parts of the state.
    pub layout: StateLayout,
    /// Per-sample weight of the continuous parts' loss.
    pub weighting: LossWeighting,
    /// How training draws times.
    pub time: TimeDraw,
    /// Whether training aligns each prior sample onto its data (flow matching only).
    pub align_prior: bool,
}

impl From<crate::schedule::NoiseSchedule> for Process {
    /// Plain diffusion of a single-tensor state on `schedule`.
    fn from(schedule: crate::schedule::NoiseSchedule) -> Self {
        let time = TimeDraw::Levels {
            min: schedule.min_train_t(),
            max: schedule.steps(),
        };
        Process {
            path: GaussianPath::Schedule(schedule),
            layout: StateLayout::single(),
            weighting: LossWeighting::Uniform,
            time,
            align_prior: false,
        }
    }
}

impl Process {
    /// Training times (0 clean … 1 prior) for `n` samples, from `rng`.
    pub fn draw_times(&self, n: usize, rng: &mut SeededRng) -> Vec<f64> {
        match self.time {
            TimeDraw::Levels { min, max } => (0..n)
                .map(|_| rng.int_inclusive(min, max) as f64 / max as f64)
                .collect(),
            TimeDraw::Continuous(sampler) => (0..n).map(|_| sampler.draw(rng)).collect(),
        }
    }

    /// The parts of a state `x` (`[B, …, F]`) in layout order (the whole state for a single
    /// part).
    pub fn split<const D: usize>(&self, x: &Tensor<D>) -> Vec<Tensor<D>> {
        match self.layout.parts().is_empty() {
            true => vec![x.clone()],
            false => self
                .layout
                .parts()
                .iter()
                .map(|p| x.clone().narrow(D - 1, p.offset, p.width))
                .collect(),
        }
    }

    /// The state of `parts` (in layout order).
    pub fn join<const D: usize>(&self, mut parts: Vec<Tensor<D>>) -> Tensor<D> {
        match parts.len() {
            1 => parts.remove(0),
            _ => Tensor::cat(parts, D - 1),
        }
    }

    /// Whether part `i` (in layout order) is continuous.
    pub fn is_continuous(&self, i: usize) -> bool {
        self.layout.parts().get(i).is_none_or(Part::is_continuous)
    }

    /// The prior of part `i` when it is categorical.
    pub fn prior(&self, i: usize) -> Option<&CategoricalPrior> {
        match &self.layout.parts().get(i)?.kind {
            PartKind::Categorical { prior, .. } => Some(prior),
            PartKind::Continuous => None,
        }
    }

    /// The loss weight of part `i`.
    pub fn weight(&self, i: usize) -> f64 {
        self.layout.parts().get(i).map_or(1.0, |p| p.weight)
    }

    /// A description for messages and reports.
    pub fn describe(&self) -> String {
        let parts = self.layout.parts();
        if parts.is_empty() {
            return self.path.describe();
        }
        let names: Vec<String> = parts
            .iter()
            .map(|p| match &p.kind {
                PartKind::Continuous => format!("{} (continuous)", p.name),
                PartKind::Categorical { classes, prior } => format!(
                    "{} ({} × {classes}-way categorical, {} prior)",
                    p.name,
                    p.width / classes,
                    match prior {
                        CategoricalPrior::Uniform { .. } => "uniform",
                        CategoricalPrior::Marginal(_) => "marginal",
                        CategoricalPrior::Masked { .. } => "mask",
                    }
                ),
            })
            .collect();
        format!("{}; parts: {}", self.path.describe(), names.join(", "))
    }
}

/// `[B, …, W]` → `[B, R, K]` for a categorical part of `k` classes.
pub(crate) fn as_groups<const D: usize>(x: Tensor<D>, k: usize) -> Tensor<3> {
    let b = x.dims()[0];
    x.reshape([b as i32, -1, k as i32])
}
