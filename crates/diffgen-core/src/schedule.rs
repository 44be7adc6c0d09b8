//! Noise schedules as f64 tables over discrete time `t = 0..=T`.
//!
//! Convention (variance preserving): `x_t = α_t·x_0 + σ_t·ε` with `α_t² = ᾱ_t` and
//! `σ_t² = 1 − ᾱ_t`; `γ_t = −log SNR_t = log(σ_t²/α_t²)`, EDM's notation. Index 0 is the
//! least noisy level. It is clean data (`ᾱ_0 = 1`) for the linear-β schedule, as in DDPM,
//! and slightly noisy (`ᾱ_0 < 1`) for EDM's schedules; training and sampling look at
//! [`NoiseSchedule::min_train_t`] and [`NoiseSchedule::needs_final_denoise`] instead of
//! assuming either.

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// The most diffusion steps a schedule may have (EDM uses 1000, the course 400).
pub const MAX_STEPS: usize = 1_000_000;

/// How to build a schedule; the `[diffusion.schedule]` table of a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// DDPM's linear β from `beta_start` to `beta_end` over `steps` steps (the course: 1e-4 →
    /// 0.02, T = 400). `ᾱ_0 = 1`.
    Linear {
        /// T, the number of diffusion steps.
        steps: usize,
        /// β_1, the first step's variance.
        beta_start: f64,
        /// β_T, the last step's variance.
        beta_end: f64,
    },
    /// Nichol & Dhariwal's cosine schedule in EDM's discretisation (T + 1 levels, β clipped at
    /// 0.999, no precision post-processing).
    Cosine {
        /// T, the number of diffusion steps.
        steps: usize,
        /// s in `cos²((t/T + s)/(1 + s)·π/2)`, so that β is not vanishingly small near t = 0 (default 0.008).
        #[serde(default = "default_cosine_offset")]
        offset: f64,
    },
    /// EDM's `polynomial_<power>` with its clipping of α² ratios at 0.001 and the precision
    /// `s` (QM9: power 2, precision 1e-5, T = 1000).
    Polynomial {
        /// T, the number of diffusion steps.
        steps: usize,
        /// p in `ᾱ_t = (1 − (t/T)^p)²` before clipping.
        power: f64,
        /// s: ᾱ is mapped into [s, 1 − s] by `(1 − 2s)·ᾱ + s`, so no level is exactly clean.
        precision: f64,
    },
}

fn default_cosine_offset() -> f64 {
    0.008
}

impl ScheduleConfig {
    /// The course's schedule: linear β 1e-4 → 0.02, T = 400.
    pub fn course_linear() -> Self {
        ScheduleConfig::Linear {
            steps: 400,
            beta_start: 1e-4,
            beta_end: 0.02,
        }
    }

    /// EDM's QM9 schedule: polynomial_2, precision 1e-5, T = 1000.
    pub fn edm_polynomial() -> Self {
        ScheduleConfig::Polynomial {
            steps: 1000,
            power: 2.0,
            precision: 1e-5,
        }
    }

    /// Checks the parameters and tabulates `ᾱ_t` for `t = 0..=T`.
    pub fn build(&self) -> Result<NoiseSchedule, CoreError> {
        let key = "diffusion.schedule";
        let steps = match *self {
            ScheduleConfig::Linear { steps, .. }
            | ScheduleConfig::Cosine { steps, .. }
            | ScheduleConfig::Polynomial { steps, .. } => steps,
        };
        if steps < 2 {
            return Err(CoreError::setting(
                format!("{key}.steps"),
                "must be at least 2",
            ));
        }
        // The table has `steps + 1` entries; a checkpoint or config claiming 10^15 steps must
        // be an error, not an aborted allocation.
        if steps > MAX_STEPS {
            return Err(CoreError::setting(
                format!("{key}.steps"),
                format!("{steps} is more than the {MAX_STEPS} steps a schedule may have"),
            ));
        }
        let alpha_bar = match *self {
            ScheduleConfig::Linear {
                steps,
                beta_start,
                beta_end,
            } => {
                if !(0.0 < beta_start && beta_start <= beta_end && beta_end < 1.0) {
                    return Err(CoreError::setting(
                        format!("{key}.beta_start/beta_end"),
                        "need 0 < beta_start <= beta_end < 1",
                    ));
                }
                linear_alpha_bar(steps, beta_start, beta_end)
            }
            ScheduleConfig::Cosine { steps, offset } => {
                if !(offset > 0.0 && offset < 1.0) {
                    return Err(CoreError::setting(
                        format!("{key}.offset"),
                        "must lie in (0, 1)",
                    ));
                }
                cosine_alpha_bar(steps, offset)
            }
            ScheduleConfig::Polynomial {
                steps,
                power,
                precision,
            } => {
                if !(power > 0.0 && power.is_finite()) {
                    return Err(CoreError::setting(
                        format!("{key}.power"),
                        "must be positive",
                    ));
                }
                if !(precision > 0.0 && precision < 0.5) {
                    return Err(CoreError::setting(
                        format!("{key}.precision"),
                        "must lie in (0, 0.5)",
                    ));
                }
                polynomial_alpha_bar(steps, power, precision)
            }
        };
        Ok(NoiseSchedule { alpha_bar })
    }
}

fn linear_alpha_bar(steps: usize, beta_start: f64, beta_end: f64) -> Vec<f64> {
    let mut alpha_bar = Vec::with_capacity(steps + 1);
    alpha_bar.push(1.0);
    let mut prod = 1.0;
    for s in 0..steps {
        let beta = beta_start + (beta_end - beta_start) * s as f64 / (steps - 1) as f64;
        prod *= 1.0 - beta;
        alpha_bar.push(prod);
    }
    alpha_bar
}

/// numpy's `linspace(0, n, n)`.
fn linspace_0_n(n: usize) -> impl Iterator<Item = f64> {
    (0..n).map(move |i| i as f64 * n as f64 / (n - 1) as f64)
}

fn cosine_alpha_bar(steps: usize, offset: f64) -> Vec<f64> {
    let n = steps + 2;
    let f: Vec<f64> = linspace_0_n(n)
        .map(|x| {
            (((x / n as f64) + offset) / (1.0 + offset) * std::f64::consts::FRAC_PI_2)
                .cos()
                .powi(2)
        })
        .collect();
    let f0 = f[0];
    let abar: Vec<f64> = f.iter().map(|v| v / f0).collect();
    let mut prod = 1.0;
    abar.windows(2)
        .map(|w| {
            let beta = (1.0 - w[1] / w[0]).clamp(0.0, 0.999);
            prod *= 1.0 - beta;
            prod
        })
        .collect()
}

fn polynomial_alpha_bar(steps: usize, power: f64, precision: f64) -> Vec<f64> {
    let n = steps + 1;
    let raw: Vec<f64> = linspace_0_n(n)
        .map(|x| (1.0 - (x / n as f64).powf(power)).powi(2))
        .collect();
    // EDM's clip_noise_schedule: bound each step's α² ratio below by 0.001.
    let mut prod = 1.0;
    let mut previous = 1.0;
    raw.iter()
        .map(|&a| {
            let ratio = (a / previous).clamp(0.001, 1.0);
            previous = a;
            prod *= ratio;
            (1.0 - 2.0 * precision) * prod + precision
        })
        .collect()
}

/// A built schedule: `ᾱ_t` for `t = 0..=T`, in f64.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    alpha_bar: Vec<f64>,
}

impl NoiseSchedule {
    /// The number of diffusion steps T (the table has T + 1 entries).
    pub fn steps(&self) -> usize {
        self.alpha_bar.len() - 1
    }

    /// `ᾱ_t` at level `t` (0..=T).
    pub fn alpha_bar(&self, t: usize) -> f64 {
        self.alpha_bar[t]
    }

    /// `α_t = √ᾱ_t`, the signal coefficient at level `t`.
    pub fn alpha(&self, t: usize) -> f64 {
        self.alpha_bar[t].sqrt()
    }

    /// `σ_t = √(1 − ᾱ_t)`, the noise coefficient at level `t`.
    pub fn sigma(&self, t: usize) -> f64 {
        (1.0 - self.alpha_bar[t]).max(0.0).sqrt()
    }

    /// `γ_t = log(σ_t²) − log(α_t²)`, as EDM tabulates it.
    pub fn gamma(&self, t: usize) -> f64 {
        (1.0 - self.alpha_bar[t]).ln() - self.alpha_bar[t].ln()
    }

    /// `α_t / σ_t`'s log, the half-log-SNR λ the DPM-Solvers step in.
    pub fn lambda(&self, t: usize) -> f64 {
        -0.5 * self.gamma(t)
    }

    /// The smallest t worth training on: 1 when level 0 is clean data (σ_0 = 0), else 0.
    pub fn min_train_t(&self) -> usize {
        if self.sigma(0) == 0.0 {
            1
        } else {
            0
        }
    }

    /// Whether samplers end with one network call that maps the level-0 state to x̂_0.
    pub fn needs_final_denoise(&self) -> bool {
        self.sigma(0) > 0.0
    }

    /// `steps + 1` levels from T down to 0, evenly spaced (rounded), for a sampler taking
    /// `steps` steps. With `steps == T` this is every level.
    pub fn timesteps(&self, steps: usize) -> Result<Vec<usize>, CoreError> {
        let total = self.steps();
        if steps == 0 || steps > total {
            return Err(CoreError::setting(
                "steps",
                format!("must lie in 1..={total} for this schedule, got {steps}"),
            ));
        }
        Ok((0..=steps)
            .rev()
            .map(|k| ((k as f64) * total as f64 / steps as f64).round() as usize)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1e-300)
    }

    #[test]
    fn linear_matches_the_closed_form_product() {
        let s = ScheduleConfig::course_linear().build().unwrap();
        assert_eq!(s.steps(), 400);
        assert_eq!(s.alpha_bar(0), 1.0);
        assert!(rel(s.alpha_bar(1), 1.0 - 1e-4) < 1e-15);
        // ᾱ_T = Π (1 − β_s): the log-sum of an arithmetic sequence, to first order.
        let logs: f64 = (0..400)
            .map(|i| (1.0 - (1e-4 + (0.02 - 1e-4) * i as f64 / 399.0)).ln())
            .sum();
        assert!(rel(s.alpha_bar(400), logs.exp()) < 1e-12);
        assert_eq!(s.min_train_t(), 1);
        assert!(!s.needs_final_denoise());
    }

    #[test]
    fn polynomial_matches_edm_anchors() {
        let s = ScheduleConfig::edm_polynomial().build().unwrap();
        // (t, α², γ) from EDM's own computation (reference/edm-qm9.md §3.1).
        let anchors = [
            (0, 0.99999, -11.512915),
            (1, 0.999988, -11.330595),
            (10, 0.999790014, -8.468260),
            (100, 0.980090398, -3.896443),
            (250, 0.8788986719, -1.982042),
            (500, 0.56249875, -0.251309),
            (750, 0.1914124219, 1.440859),
            (900, 0.036109278, 3.284428),
            (990, 4.060020798e-4, 7.808746),
            (999, 1.399592108e-5, 11.176731),
            (1000, 1.000399592e-5, 11.512516),
        ];
        for (t, a2, g) in anchors {
            assert!(
                rel(s.alpha_bar(t), a2) < 1e-6,
                "α² at {t}: {} vs {a2}",
                s.alpha_bar(t)
            );
            // γ is printed to 6 decimals: within rounding of the print.
            assert!(
                (s.gamma(t) - g).abs() <= 5.1e-7,
                "γ at {t}: {} vs {g}",
                s.gamma(t)
            );
        }
        assert!((s.sigma(0) - 0.0031623).abs() < 1e-7);
        assert_eq!(s.min_train_t(), 0);
        assert!(s.needs_final_denoise());
    }

    #[test]
    fn cosine_matches_edm_anchors() {
        let s = ScheduleConfig::Cosine {
            steps: 1000,
            offset: 0.008,
        }
        .build()
        .unwrap();
        assert!(rel(s.alpha_bar(0), 0.9999588) < 1e-6);
        assert!(rel(s.alpha_bar(500), 0.4930652) < 1e-6);
        assert!(rel(s.alpha_bar(1000), 2.42e-9) < 1e-2);
    }

    #[test]
    fn every_schedule_is_monotone_and_variance_preserving() {
        for cfg in [
            ScheduleConfig::course_linear(),
            ScheduleConfig::edm_polynomial(),
            ScheduleConfig::Cosine {
                steps: 1000,
                offset: 0.008,
            },
        ] {
            let s = cfg.build().unwrap();
            for t in 1..=s.steps() {
                assert!(
                    s.alpha_bar(t) < s.alpha_bar(t - 1),
                    "{cfg:?} not decreasing at {t}"
                );
            }
            for t in 0..=s.steps() {
                let sum = s.alpha(t).powi(2) + s.sigma(t).powi(2);
                assert!((sum - 1.0).abs() < 1e-12, "{cfg:?}: α²+σ² = {sum} at {t}");
            }
        }
    }

    #[test]
    fn timesteps_run_from_t_to_zero() {
        let s = ScheduleConfig::course_linear().build().unwrap();
        assert_eq!(s.timesteps(4).unwrap(), vec![400, 300, 200, 100, 0]);
        assert_eq!(s.timesteps(400).unwrap().len(), 401);
        assert!(s.timesteps(0).is_err());
        assert!(s.timesteps(401).is_err());
    }

    #[test]
    fn bad_settings_name_the_key() {
        let err = ScheduleConfig::Linear {
            steps: 10,
            beta_start: 0.1,
            beta_end: 0.01,
        }
        .build()
        .unwrap_err();
        assert!(err.to_string().contains("diffusion.schedule.beta_start"));
    }

    #[test]
    fn enormous_or_nan_settings_are_errors_not_allocations() {
        for steps in [MAX_STEPS + 1, usize::MAX / 2, usize::MAX] {
            let err = ScheduleConfig::Linear {
                steps,
                beta_start: 1e-4,
                beta_end: 0.02,
            }
            .build()
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("`diffusion.schedule.steps`") && err.contains("more than"),
                "{err}"
            );
        }
        let err = ScheduleConfig::Polynomial {
            steps: 10,
            power: f64::NAN,
            precision: 1e-5,
        }
        .build()
        .unwrap_err();
        assert!(
            err.to_string().contains("diffusion.schedule.power"),
            "{err}"
        );
    }
}
