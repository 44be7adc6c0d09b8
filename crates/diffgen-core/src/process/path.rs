//! The Gaussian path `x_t = α(t)·x_0 + σ(t)·ε` over time `t ∈ [0, 1]`, 0 being clean data.
//!
//! Both continuous processes of the core are such paths: discrete-time diffusion visits the
//! levels `k / T` of a [`NoiseSchedule`], and flow matching walks the straight line
//! `α = 1 − t, σ = t` in continuous time (rectified flow, conditional OT; the convention of
//! Stable Diffusion 3 and diffusers' flow-matching schedulers, where t = 1 is the prior).
//! Samplers read only α, σ, λ and — for the ODE solvers — dα/dt and dσ/dt, so every sampler
//! that needs no more than that runs on both.

use super::TimeGrid;
use crate::schedule::NoiseSchedule;
use crate::CoreError;

/// Where a continuous part's state is at time t.
#[derive(Debug, Clone, PartialEq)]
pub enum GaussianPath {
    /// Discrete-time diffusion: the levels `k / T` of a schedule (DDPM, EDM).
    Schedule(NoiseSchedule),
    /// Flow matching's straight line from data (t = 0) to the prior (t = 1).
    Linear {
        /// Sampler steps when a run does not say.
        default_steps: usize,
        /// Where those steps fall when a run does not say.
        default_grid: TimeGrid,
    },
}

impl GaussianPath {
    /// The level of a schedule nearest to `t` (exact for the grid points `k / T`).
    fn level(schedule: &NoiseSchedule, t: f64) -> usize {
        ((t * schedule.steps() as f64).round() as usize).min(schedule.steps())
    }

    /// The signal coefficient α(t).
    pub fn alpha(&self, t: f64) -> f64 {
        match self {
            GaussianPath::Schedule(s) => s.alpha(Self::level(s, t)),
            GaussianPath::Linear { .. } => 1.0 - t,
        }
    }

    /// The noise coefficient σ(t).
    pub fn sigma(&self, t: f64) -> f64 {
        match self {
            GaussianPath::Schedule(s) => s.sigma(Self::level(s, t)),
            GaussianPath::Linear { .. } => t,
        }
    }

    /// The half-log-SNR λ(t) = log(α/σ) (−∞ at the prior of the straight line, +∞ at data).
    pub fn lambda(&self, t: f64) -> f64 {
        match self {
            GaussianPath::Schedule(s) => s.lambda(Self::level(s, t)),
            GaussianPath::Linear { .. } => (1.0 - t).ln() - t.ln(),
        }
    }

    /// `(dα/dt, dσ/dt)` where time is continuous; `None` for a discrete schedule.
    pub fn derivatives(&self, _t: f64) -> Option<(f64, f64)> {
        match self {
            GaussianPath::Schedule(_) => None,
            GaussianPath::Linear { .. } => Some((-1.0, 1.0)),
        }
    }

    /// Whether time is continuous (ODE solvers need it).
    pub fn is_continuous(&self) -> bool {
        self.derivatives(0.5).is_some()
    }

    /// Whether the least noisy point is still noisy, so that samplers end with one network
    /// call mapping it to x̂_0 (EDM's schedules).
    pub fn needs_final_denoise(&self) -> bool {
        match self {
            GaussianPath::Schedule(s) => s.needs_final_denoise(),
            GaussianPath::Linear { .. } => false,
        }
    }

    /// Sampler steps when a run does not say: every level of a schedule, the flow's default.
    pub fn default_steps(&self) -> usize {
        match self {
            GaussianPath::Schedule(s) => s.steps(),
            GaussianPath::Linear { default_steps, .. } => *default_steps,
        }
    }

    /// The time grid when a run does not say: uniform on a schedule, the flow's default.
    pub fn default_grid(&self) -> TimeGrid {
        match self {
            GaussianPath::Schedule(_) => TimeGrid::Uniform,
            GaussianPath::Linear { default_grid, .. } => *default_grid,
        }
    }

    /// The sampler a run uses when it names none: DDPM on a schedule (its models' reference
    /// sampler), Euler on the flow's line.
    pub fn default_sampler(&self) -> crate::sampler::SamplerKind {
        match self {
            GaussianPath::Schedule(_) => crate::sampler::SamplerKind::ddpm(),
            GaussianPath::Linear { .. } => crate::sampler::SamplerKind::euler(),
        }
    }

    /// `steps + 1` times from the start (1, or level T) down to 0 for a sampler taking
    /// `steps` steps: a schedule's levels evenly spaced (rounded), the line's evenly spaced.
    pub fn grid(&self, steps: usize) -> Result<Vec<f64>, CoreError> {
        self.grid_on(steps, &TimeGrid::Uniform)
    }

    /// As [`Self::grid`], on `time_grid`: a non-uniform grid needs continuous time.
    pub fn grid_on(&self, steps: usize, time_grid: &TimeGrid) -> Result<Vec<f64>, CoreError> {
        match (self, time_grid) {
            (GaussianPath::Schedule(s), TimeGrid::Uniform) => Ok(s
                .timesteps(steps)?
                .into_iter()
                .map(|level| level as f64 / s.steps() as f64)
                .collect()),
            (GaussianPath::Schedule(_), _) => Err(CoreError::setting(
                "time-grid",
                format!(
                    "`{time_grid}` needs a continuous-time (flow-matching) model; this one is {}",
                    self.describe()
                ),
            )),
            (GaussianPath::Linear { .. }, _) => {
                if steps == 0 || steps > crate::schedule::MAX_STEPS {
                    return Err(CoreError::setting(
                        "steps",
                        format!(
                            "must lie in 1..={} for flow matching, got {steps}",
                            crate::schedule::MAX_STEPS
                        ),
                    ));
                }
                Ok(time_grid.points(steps))
            }
        }
    }

    /// The time the network is shown for `t`: the level's fraction `k / T` of a schedule
    /// (what its models were trained on), `t` itself on the line.
    pub fn model_time(&self, t: f64) -> f64 {
        match self {
            GaussianPath::Schedule(s) => Self::level(s, t) as f64 / s.steps() as f64,
            GaussianPath::Linear { .. } => t,
        }
    }

    /// A short description for messages ("flow matching (straight line)").
    pub fn describe(&self) -> String {
        match self {
            GaussianPath::Schedule(s) => {
                format!("Gaussian diffusion over {} discrete levels", s.steps())
            }
            GaussianPath::Linear { .. } => "flow matching (continuous time)".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScheduleConfig;

    #[test]
    fn schedule_grid_points_map_back_to_their_levels() {
        let schedule = ScheduleConfig::edm_polynomial().build().unwrap();
        let path = GaussianPath::Schedule(schedule.clone());
        let grid = path.grid(37).unwrap();
        let levels = schedule.timesteps(37).unwrap();
        for (t, level) in grid.iter().zip(levels) {
            assert_eq!(path.alpha(*t), schedule.alpha(level));
            assert_eq!(path.sigma(*t), schedule.sigma(level));
            assert_eq!(path.model_time(*t), level as f64 / 1000.0);
        }
    }

    #[test]
    fn the_line_runs_from_prior_to_data() {
        let path = GaussianPath::Linear {
            default_steps: 10,
            default_grid: TimeGrid::Uniform,
        };
        let grid = path.grid(4).unwrap();
        assert_eq!(grid, vec![1.0, 0.75, 0.5, 0.25, 0.0]);
        assert_eq!((path.alpha(1.0), path.sigma(1.0)), (0.0, 1.0));
        assert_eq!((path.alpha(0.0), path.sigma(0.0)), (1.0, 0.0));
        assert_eq!(path.lambda(1.0), f64::NEG_INFINITY);
        assert!((path.lambda(0.25) - 3f64.ln()).abs() < 1e-12);
        assert!(path.grid(0).is_err());
        let power = TimeGrid::Power(2.0);
        assert_eq!(path.grid_on(4, &power).unwrap(), power.points(4));
        assert!(path.grid_on(0, &power).is_err());
        let schedule = GaussianPath::Schedule(ScheduleConfig::edm_polynomial().build().unwrap());
        let err = schedule.grid_on(10, &power).unwrap_err().to_string();
        assert!(
            err.contains("time-grid") && err.contains("continuous"),
            "{err}"
        );
    }
}
