//! Flow matching's settings: how training draws times, and the default number of steps.
//!
//! The path is the straight line `x_t = (1 − t)·x_0 + t·ε` ([`GaussianPath::Linear`]); its
//! velocity is `u = dx_t/dt = ε − x_0`. A network predicts either `u`
//! ([`crate::Objective::FlowVelocity`]) or the data `x_0` ([`crate::Objective::Sample`]);
//! [`crate::Objective::split`] converts between them. Times here run from data (0) to the
//! prior (1): a paper's Beta(a, b) on "data time" `1 − t` is Beta(b, a) here.

use serde::{Deserialize, Serialize};

use super::{GaussianPath, TimeGrid};
use crate::rng::SeededRng;
use crate::CoreError;

/// The `[diffusion.flow]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// How training draws t (default uniform).
    #[serde(default)]
    pub time: TimeSampler,
    /// Sampler steps when a run does not say (default 100).
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// Align each training prior sample onto its data through the space's
    /// [`crate::NoiseSpace::align_prior`] (molecules: a Kabsch rotation).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub align_prior: bool,
    /// The sampler's time grid when a run does not say (`uniform`, or `power:<p>`: steps
    /// denser near the data). A sampling default, like `steps`; training never reads it.
    #[serde(default, skip_serializing_if = "TimeGrid::is_uniform")]
    pub time_grid: TimeGrid,
}

fn default_steps() -> usize {
    100
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            time: TimeSampler::default(),
            steps: default_steps(),
            align_prior: false,
            time_grid: TimeGrid::Uniform,
        }
    }
}

impl FlowConfig {
    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.time.validate()?;
        GaussianPath::Linear {
            default_steps: self.steps,
            default_grid: self.time_grid,
        }
        .grid(self.steps)
        .map_err(|e| CoreError::setting("diffusion.flow.steps", e.to_string()))?;
        Ok(())
    }
}

/// The distribution of training times t (0: data, 1: prior).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TimeSampler {
    /// U(0, 1).
    #[default]
    Uniform,
    /// `t = sigmoid(m + s·z)`, z ~ N(0, 1) (Esser et al. 2024: m = 0, s = 1), which spends
    /// training on the middle of the path.
    LogitNormal {
        /// m, the location in logit space.
        mean: f64,
        /// s > 0, the spread in logit space.
        std: f64,
    },
    /// Beta(a, b) (SemlaFlow's Beta(2, 1) on data time is `a = 1, b = 2` here).
    Beta {
        /// a > 0.
        a: f64,
        /// b > 0.
        b: f64,
    },
}

impl TimeSampler {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), CoreError> {
        let ok = match *self {
            TimeSampler::Uniform => true,
            TimeSampler::LogitNormal { mean, std } => mean.is_finite() && std > 0.0 && std < 1e3,
            TimeSampler::Beta { a, b } => a > 0.0 && b > 0.0 && a < 1e6 && b < 1e6,
        };
        match ok {
            true => Ok(()),
            false => Err(CoreError::setting(
                "diffusion.flow.time",
                format!("{self:?}: logit-normal needs a finite mean and std > 0, Beta a, b > 0"),
            )),
        }
    }

    /// One draw from `rng`, kept inside (0, 1) so that neither end is exactly hit.
    pub fn draw(&self, rng: &mut SeededRng) -> f64 {
        let t = match *self {
            TimeSampler::Uniform => rng.uniform(),
            TimeSampler::LogitNormal { mean, std } => {
                1.0 / (1.0 + (-(mean + std * rng.normal())).exp())
            }
            TimeSampler::Beta { a, b } => rng.beta(a, b),
        };
        t.clamp(1e-5, 1.0 - 1e-5)
    }

    /// The mean and variance where they have a closed form (uniform, Beta).
    pub fn moments(&self) -> Option<(f64, f64)> {
        match *self {
            TimeSampler::Uniform => Some((0.5, 1.0 / 12.0)),
            TimeSampler::LogitNormal { .. } => None,
            TimeSampler::Beta { a, b } => {
                Some((a / (a + b), a * b / ((a + b).powi(2) * (a + b + 1.0))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_moments(sampler: TimeSampler, n: usize) -> (f64, f64) {
        let mut rng = SeededRng::new(3);
        let draws: Vec<f64> = (0..n).map(|_| sampler.draw(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, var)
    }

    #[test]
    fn time_samplers_have_their_stated_moments() {
        let n = 200_000;
        for sampler in [
            TimeSampler::Uniform,
            TimeSampler::Beta { a: 1.0, b: 2.0 },
            TimeSampler::Beta { a: 2.5, b: 0.7 },
        ] {
            let (mean, var) = sample_moments(sampler, n);
            let (m, v) = sampler.moments().unwrap();
            // Standard errors at n = 2·10^5 are below 1e-3 for the mean.
            assert!((mean - m).abs() < 3e-3, "{sampler:?}: mean {mean} vs {m}");
            assert!((var - v).abs() < 3e-3, "{sampler:?}: variance {var} vs {v}");
        }
        // Logit-normal(0, 1) is symmetric about 1/2; its variance is ≈ 0.0433 (numerical
        // integration of sigmoid(z)² against N(0, 1), minus 1/4).
        let (mean, var) = sample_moments(
            TimeSampler::LogitNormal {
                mean: 0.0,
                std: 1.0,
            },
            n,
        );
        assert!((mean - 0.5).abs() < 3e-3, "logit-normal mean {mean}");
        assert!((var - 0.0433).abs() < 2e-3, "logit-normal variance {var}");
        // A shifted location moves the mean the right way.
        let (shifted, _) = sample_moments(
            TimeSampler::LogitNormal {
                mean: 1.0,
                std: 1.0,
            },
            n,
        );
        assert!(shifted > 0.65, "{shifted}");
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(TimeSampler::Beta { a: 0.0, b: 1.0 }.validate().is_err());
        assert!(TimeSampler::LogitNormal {
            mean: f64::NAN,
            std: 1.0
        }
        .validate()
        .is_err());
        assert!(FlowConfig {
            steps: 0,
            ..FlowConfig::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn the_models_time_grid_is_the_samplers_default_and_a_run_may_override_it() {
        use crate::sampler::{SamplerConfig, SamplerKind};
        let flow: FlowConfig = toml::from_str("steps = 4\ntime_grid = \"power:2\"").unwrap();
        assert_eq!(flow.time_grid, TimeGrid::Power(2.0));
        let text = toml::to_string(&flow).unwrap();
        assert_eq!(toml::from_str::<FlowConfig>(&text).unwrap(), flow);
        // Old configs carry no grid: uniform, and nothing new is written for them.
        let old: FlowConfig = toml::from_str("steps = 4").unwrap();
        assert!(!toml::to_string(&old).unwrap().contains("time_grid"));
        let path = GaussianPath::Linear {
            default_steps: flow.steps,
            default_grid: flow.time_grid,
        };
        let sampler = SamplerConfig::new(SamplerKind::euler(), None);
        assert_eq!(
            sampler.grid(&path).unwrap(),
            vec![1.0, 0.5625, 0.25, 0.0625, 0.0]
        );
        let uniform = sampler.with_time_grid(Some(TimeGrid::Uniform));
        assert_eq!(
            uniform.grid(&path).unwrap(),
            vec![1.0, 0.75, 0.5, 0.25, 0.0]
        );
        let err = toml::from_str::<FlowConfig>("time_grid = \"power:0\"").unwrap_err();
        assert!(err.to_string().contains("time-grid exponent"), "{err}");
    }
}
