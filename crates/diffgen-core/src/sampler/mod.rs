//! Samplers as types: one file per update rule, each configured by its own struct.
//!
//! A [`Sampler`] steps the continuous columns of a state from time t to s < t, given the
//! network's estimates (x̂_0, ε̂) at t; it may draw noise and ask for more network calls
//! through [`StepOps`]. The driver ([`sample`]) walks the time grid, steps categorical parts
//! with [`categorical::CategoricalAncestral`], keeps the state in its space and reports every
//! step. A new sampler is a new file with a [`SamplerEntry`], listed once in [`SAMPLERS`];
//! `--sampler` then finds it, and it says itself which processes it fits.

pub mod categorical;
mod ddim;
mod ddpm;
mod dpm_solver;
mod driver;
mod euler;
mod euler_maruyama;
mod heun;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use burn::tensor::Tensor;

pub use ddim::Ddim;
pub use ddpm::Ddpm;
pub use dpm_solver::DpmSolver2M;
pub use driver::{sample, StepEvent};
pub use euler::Euler;
pub use euler_maruyama::EulerMaruyama;
pub use heun::Heun;

use crate::process::GaussianPath;
use crate::CoreError;

/// Every sampler `--sampler` knows, in the order `diffgen` lists them.
pub static SAMPLERS: &[SamplerEntry] = &[
    ddpm::ENTRY,
    ddim::ENTRY,
    dpm_solver::ENTRY,
    euler::ENTRY,
    heun::ENTRY,
    euler_maruyama::ENTRY,
];

/// How `--sampler` finds and builds a sampler.
pub struct SamplerEntry {
    /// The name before any `:` (`ddim`).
    pub name: &'static str,
    /// Other names it answers to.
    pub aliases: &'static [&'static str],
    /// How to write it (`ddim[:<eta>]`).
    pub usage: &'static str,
    /// One line on what it is.
    pub help: &'static str,
    /// Builds it from the text after `:` (None: no argument).
    pub build: BuildSampler,
}

/// Builds a sampler from the text after `:` of `--sampler` (None: no argument); the error
/// says what is wrong with the argument.
pub type BuildSampler = fn(Option<&str>) -> Result<Arc<dyn Sampler>, String>;

/// One step of a sampler: where it is, and the network's estimates there.
pub struct Step<'a> {
    /// The continuous parts' path.
    pub path: &'a GaussianPath,
    /// The current time.
    pub t: f64,
    /// The time this step reaches (< t; 0 at the last step).
    pub s: f64,
    /// The continuous columns at t, `[B, F]`.
    pub x: &'a Tensor<2>,
    /// x̂_0 there.
    pub x0: &'a Tensor<2>,
    /// ε̂ there.
    pub eps: &'a Tensor<2>,
    /// Whether this step reaches the end of the grid (s = 0).
    pub last: bool,
}

impl Step<'_> {
    /// (α, σ) at t.
    pub fn at_t(&self) -> (f64, f64) {
        (self.path.alpha(self.t), self.path.sigma(self.t))
    }

    /// (α, σ) at s.
    pub fn at_s(&self) -> (f64, f64) {
        (self.path.alpha(self.s), self.path.sigma(self.s))
    }
}

/// What a sampler may ask of the driver during a step.
pub trait StepOps {
    /// Standard noise of the continuous columns' shape, inside the space.
    fn noise(&mut self) -> Tensor<2>;
    /// The network's (x̂_0, ε̂) for continuous columns `x` at time `t` (the state is
    /// projected onto its space first; categorical parts are at their new values).
    fn predict(&mut self, x: Tensor<2>, t: f64) -> (Tensor<2>, Tensor<2>);
    /// Whether [`predict`](Self::predict) is defined at `t`: a network predicting x_0
    /// cannot give ε̂ where σ = 0.
    fn predicts_at(&self, t: f64) -> bool;
}

/// What a sampler keeps from one step to the next (multistep solvers).
#[derive(Default)]
pub struct Memory {
    /// The previous step's x̂_0 and a number of the sampler's choice (its step size).
    pub previous: Option<(Tensor<2>, f64)>,
}

/// An update rule for the continuous columns.
pub trait Sampler: fmt::Debug + Send + Sync {
    /// The text `--sampler` takes to rebuild it (`ddim:0.5`).
    fn spec(&self) -> String;

    /// How reports name it (default: its spec).
    fn label(&self) -> String {
        self.spec()
    }

    /// Why it cannot walk `path` (None: it can).
    fn unfit(&self, _path: &GaussianPath) -> Option<String> {
        None
    }

    /// The continuous columns at `step.s`.
    fn step(&self, step: &Step<'_>, memory: &mut Memory, ops: &mut dyn StepOps) -> Tensor<2>;
}

/// A chosen sampler (`--sampler`), shared cheaply.
#[derive(Clone)]
pub struct SamplerKind(Arc<dyn Sampler>);

impl SamplerKind {
    /// Wraps a sampler.
    pub fn new(sampler: impl Sampler + 'static) -> Self {
        Self(Arc::new(sampler))
    }

    /// Ancestral DDPM.
    pub fn ddpm() -> Self {
        Self::new(Ddpm)
    }

    /// DDIM with η.
    pub fn ddim(eta: f64) -> Self {
        Self::new(Ddim { eta })
    }

    /// DPM-Solver++(2M).
    pub fn dpm_solver_2m() -> Self {
        Self::new(DpmSolver2M)
    }

    /// The flow ODE's Euler method.
    pub fn euler() -> Self {
        Self::new(Euler)
    }

    /// The sampler itself.
    pub fn sampler(&self) -> &dyn Sampler {
        self.0.as_ref()
    }

    /// The name `--sampler` takes, without arguments.
    pub fn name(&self) -> String {
        let spec = self.0.spec();
        spec.split(':').next().unwrap_or_default().to_string()
    }

    /// An error naming the samplers that fit `path`, when this one does not.
    pub fn check(&self, path: &GaussianPath) -> Result<(), CoreError> {
        match self.0.unfit(path) {
            None => Ok(()),
            Some(why) => Err(CoreError::setting(
                "sampler",
                format!(
                    "`{}` cannot sample this model: {why}. This model ({}) takes: {}",
                    self.0.spec(),
                    path.describe(),
                    fitting(path).join(", ")
                ),
            )),
        }
    }
}

/// The usages of the samplers that fit `path`.
pub fn fitting(path: &GaussianPath) -> Vec<&'static str> {
    SAMPLERS
        .iter()
        .filter(|e| {
            (e.build)(None)
                .map(|s| s.unfit(path).is_none())
                .unwrap_or(false)
        })
        .map(|e| e.usage)
        .collect()
}

/// Every sampler's usage and help, for `--help` and `diffgen samplers`.
pub fn usage() -> String {
    SAMPLERS
        .iter()
        .map(|e| format!("{:<22} {}", e.usage, e.help))
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Debug for SamplerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SamplerKind({})", self.0.spec())
    }
}

impl fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.label())
    }
}

impl PartialEq for SamplerKind {
    fn eq(&self, other: &Self) -> bool {
        self.0.spec() == other.0.spec()
    }
}

impl FromStr for SamplerKind {
    type Err = CoreError;

    /// `name` or `name:argument`, as listed by [`usage`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, arg) = match s.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (s, None),
        };
        let entry = SAMPLERS
            .iter()
            .find(|e| e.name == name || e.aliases.contains(&name))
            .ok_or_else(|| {
                let known: Vec<&str> = SAMPLERS.iter().map(|e| e.usage).collect();
                CoreError::setting(
                    "sampler",
                    format!(
                        "unknown sampler `{s}`; expected one of {}",
                        known.join(", ")
                    ),
                )
            })?;
        (entry.build)(arg)
            .map(SamplerKind)
            .map_err(|reason| CoreError::setting("sampler", format!("`{s}`: {reason}")))
    }
}

/// A sampler and its number of steps (`None`: the process's default — every level of a
/// schedule, the flow's `steps`).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// The update rule.
    pub kind: SamplerKind,
    /// Network calls along the path.
    pub steps: Option<usize>,
    /// Where along the path those calls fall (flow matching; `None`: the process's default).
    pub time_grid: Option<crate::process::TimeGrid>,
}

impl SamplerConfig {
    /// `kind` with `steps` (`None`: the process's default) on a uniform grid.
    pub fn new(kind: SamplerKind, steps: Option<usize>) -> Self {
        Self {
            kind,
            steps,
            time_grid: None,
        }
    }

    /// The same on `time_grid` (`None`: the process's default).
    pub fn with_time_grid(self, time_grid: Option<crate::process::TimeGrid>) -> Self {
        Self { time_grid, ..self }
    }

    /// The time grid on `path`: this run's, else the process's default.
    pub fn time_grid_on(&self, path: &crate::process::GaussianPath) -> crate::process::TimeGrid {
        self.time_grid.unwrap_or(path.default_grid())
    }

    /// The times visited on `path`, from the prior to the data.
    pub fn grid(&self, path: &crate::process::GaussianPath) -> Result<Vec<f64>, crate::CoreError> {
        let steps = self.steps.unwrap_or(path.default_steps());
        path.grid_on(steps, &self.time_grid_on(path))
    }
}

/// Parses a sampler argument that must be a number in `range`.
pub(crate) fn number_in(
    arg: Option<&str>,
    default: f64,
    range: std::ops::RangeInclusive<f64>,
    what: &str,
) -> Result<f64, String> {
    match arg {
        None => Ok(default),
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|v| range.contains(v))
            .ok_or_else(|| {
                format!(
                    "bad {what} `{text}`; expected a number in [{}, {}]",
                    range.start(),
                    range.end()
                )
            }),
    }
}

/// The error of a sampler that takes no argument.
pub(crate) fn no_argument(
    arg: Option<&str>,
    sampler: impl Sampler + 'static,
) -> Result<Arc<dyn Sampler>, String> {
    match arg {
        None => Ok(Arc::new(sampler)),
        Some(a) => Err(format!("takes no argument (got `{a}`)")),
    }
}

/// The reason a continuous-time-only sampler gives on a discrete schedule.
pub(crate) fn needs_continuous_time(path: &GaussianPath) -> Option<String> {
    (!path.is_continuous()).then(|| {
        "it integrates the flow ODE in continuous time, and this model's process has discrete levels".to_string()
    })
}
