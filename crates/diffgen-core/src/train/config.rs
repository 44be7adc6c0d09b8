//! The `[training]` table of a config.

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// The `[training]` table: length, batches, optimiser, LR schedule, clipping, EMA, and
/// how often to log, validate and checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimiser steps in total (a resumed run continues up to this number).
    pub steps: u64,
    /// Examples per batch.
    pub batch_size: usize,
    /// How examples are grouped into batches.
    #[serde(default)]
    pub batching: super::Batching,
    /// Seeds initial weights, batch order, time steps and noise.
    #[serde(default)]
    pub seed: u64,
    /// The optimiser and its hyper-parameters.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// How the learning rate changes over the run.
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// Gradient-norm clipping (default none).
    #[serde(default)]
    pub grad_clip: GradClip,
    /// The weight average that sampling uses.
    #[serde(default)]
    pub ema: EmaConfig,
    /// Steps between lines of the metrics log.
    #[serde(default = "default_log_every")]
    pub log_every: u64,
    /// Steps between validation losses (0: never).
    #[serde(default)]
    pub val_every: u64,
    /// Validation batches per validation (fixed noise, so values compare across steps).
    #[serde(default = "default_val_batches")]
    pub val_batches: usize,
    /// Steps between checkpoints (0: only at the end).
    #[serde(default)]
    pub checkpoint_every: u64,
}

fn default_log_every() -> u64 {
    50
}

fn default_val_batches() -> usize {
    4
}

/// Which Adam variant; both run as burn's AdamW (Adam is weight decay 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam without weight decay.
    Adam,
    /// AdamW: decoupled weight decay (Loshchilov & Hutter).
    #[default]
    AdamW,
}

/// The `[training.optimizer]` table (defaults: AdamW, lr 1e-4, β 0.9/0.999, no decay).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Adam or AdamW.
    pub kind: OptimizerKind,
    /// The base learning rate, before the schedule.
    pub lr: f64,
    /// β₁, the decay of the gradients' running mean.
    pub beta1: f64,
    /// β₂, the decay of the squared gradients' running mean.
    pub beta2: f64,
    /// PyTorch's default, not burn's 1e-5.
    pub epsilon: f64,
    /// Decoupled weight decay (AdamW only: must be 0 for Adam).
    pub weight_decay: f64,
    /// AMSGrad: divide by the running maximum of the second moment.
    pub amsgrad: bool,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::AdamW,
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

/// Learning rate: linear warm-up, then constant or decaying to `final_factor · lr`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LrSchedule {
    /// Steps of linear warm-up, from `lr / warmup_steps` up to `lr` (0: none).
    pub warmup_steps: u64,
    /// What follows the warm-up.
    pub decay: LrDecay,
    /// Fraction of the base rate reached at the last step by a decay.
    pub final_factor: f64,
    /// The step at which a decay begins (default: the end of the warm-up). A later start
    /// keeps the base rate for longer — a run continued at a constant rate can be cooled
    /// down from where it stands (warm-up, stable, decay).
    pub decay_start: Option<u64>,
}

impl Default for LrSchedule {
    fn default() -> Self {
        Self {
            warmup_steps: 0,
            decay: LrDecay::Constant,
            final_factor: 0.0,
            decay_start: None,
        }
    }
}

/// The shape of the learning rate after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrDecay {
    /// The base rate throughout.
    #[default]
    Constant,
    /// A straight line from the base rate to `final_factor · lr` at the last step.
    Linear,
    /// Half a cosine from the base rate to `final_factor · lr` at the last step.
    Cosine,
}

impl LrSchedule {
    /// The rate at `step` (0-based) of a run of `total` steps.
    pub fn rate(&self, base: f64, step: u64, total: u64) -> f64 {
        if step < self.warmup_steps {
            return base * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let start = self
            .decay_start
            .unwrap_or(self.warmup_steps)
            .max(self.warmup_steps);
        let span = total.saturating_sub(start).max(1) as f64;
        let progress = (step.saturating_sub(start) as f64 / span).clamp(0.0, 1.0);
        let f = self.final_factor;
        let factor = match self.decay {
            LrDecay::Constant => 1.0,
            LrDecay::Linear => 1.0 - (1.0 - f) * progress,
            LrDecay::Cosine => {
                f + (1.0 - f) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        };
        base * factor
    }
}

/// Gradient-norm clipping over all parameters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GradClip {
    /// No clipping.
    #[default]
    None,
    /// Rescale when the global L2 norm exceeds `max_norm`.
    Norm {
        /// The largest global L2 norm let through.
        max_norm: f64,
    },
    /// EDM's rule: the threshold is `1.5·mean + 2·std` of the last `window` recorded norms
    /// (seeded with `initial`), and each step records `min(norm, threshold)`.
    Adaptive {
        /// How many recorded norms the statistics cover (default 50).
        #[serde(default = "default_window")]
        window: usize,
        /// The norm the history starts with (default 3000).
        #[serde(default = "default_initial")]
        initial: f64,
    },
}

fn default_window() -> usize {
    50
}

fn default_initial() -> f64 {
    3000.0
}

/// Exponential moving average of the weights; sampling uses the average.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmaConfig {
    /// The largest decay d of `ema ← d·ema + (1 − d)·model`.
    pub decay: f64,
    /// diffusers' warm-up: the decay at step n is `min(decay, 1 − (1 + n)^−power)`, so early
    /// averages are not dominated by the random initialisation. 0: constant decay (EDM).
    pub warmup_power: f64,
}

impl Default for EmaConfig {
    fn default() -> Self {
        Self {
            decay: 0.999,
            warmup_power: 2.0 / 3.0,
        }
    }
}

impl EmaConfig {
    /// The decay applied after 0-based step `step`, warm-up included.
    pub fn decay_at(&self, step: u64) -> f64 {
        if self.warmup_power > 0.0 {
            self.decay
                .min(1.0 - (1.0 + step as f64).powf(-self.warmup_power))
        } else {
            self.decay
        }
    }
}

/// A finite number above zero (NaN is not).
fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

impl TrainConfig {
    /// Checks values serde cannot, naming the offending key.
    pub fn validate(&self) -> Result<(), CoreError> {
        let k = |s: &str| format!("training.{s}");
        if self.steps == 0 {
            return Err(CoreError::setting(k("steps"), "must be positive"));
        }
        if self.batch_size == 0 {
            return Err(CoreError::setting(k("batch_size"), "must be positive"));
        }
        let o = &self.optimizer;
        if !positive(o.lr) {
            return Err(CoreError::setting(
                k("optimizer.lr"),
                format!("must be a positive number, got {}", o.lr),
            ));
        }
        for (name, v) in [("beta1", o.beta1), ("beta2", o.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(CoreError::setting(
                    k(&format!("optimizer.{name}")),
                    "must lie in [0, 1)",
                ));
            }
        }
        if !positive(o.epsilon) {
            return Err(CoreError::setting(
                k("optimizer.epsilon"),
                "must be positive",
            ));
        }
        if o.weight_decay < 0.0 || (o.kind == OptimizerKind::Adam && o.weight_decay != 0.0) {
            return Err(CoreError::setting(
                k("optimizer.weight_decay"),
                "must be ≥ 0, and 0 for `adam` (use `adamw` for weight decay)",
            ));
        }
        if !(0.0..=1.0).contains(&self.lr_schedule.final_factor) {
            return Err(CoreError::setting(
                k("lr_schedule.final_factor"),
                "must lie in [0, 1]",
            ));
        }
        if let Some(start) = self.lr_schedule.decay_start {
            if start >= self.steps {
                return Err(CoreError::setting(
                    k("lr_schedule.decay_start"),
                    format!(
                        "must lie before the last step ({}), got {start}",
                        self.steps
                    ),
                ));
            }
        }
        match self.grad_clip {
            GradClip::Norm { max_norm } if !positive(max_norm) => {
                return Err(CoreError::setting(
                    k("grad_clip.max_norm"),
                    "must be positive",
                ));
            }
            GradClip::Adaptive { window, initial } if window == 0 || !positive(initial) => {
                return Err(CoreError::setting(
                    k("grad_clip"),
                    "window and initial must be positive",
                ));
            }
            _ => {}
        }
        if !(0.0..1.0).contains(&self.ema.decay) {
            return Err(CoreError::setting(k("ema.decay"), "must lie in [0, 1)"));
        }
        if !(self.ema.warmup_power >= 0.0 && self.ema.warmup_power.is_finite()) {
            return Err(CoreError::setting(
                k("ema.warmup_power"),
                "must be ≥ 0 (0: no warm-up)",
            ));
        }
        if self.log_every == 0 {
            return Err(CoreError::setting(k("log_every"), "must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_decay() {
        let s = LrSchedule {
            warmup_steps: 10,
            decay: LrDecay::Cosine,
            final_factor: 0.1,
            decay_start: None,
        };
        assert!((s.rate(1.0, 0, 110) - 0.1).abs() < 1e-12);
        assert!((s.rate(1.0, 9, 110) - 1.0).abs() < 1e-12);
        assert!((s.rate(1.0, 10, 110) - 1.0).abs() < 1e-12);
        assert!((s.rate(1.0, 60, 110) - 0.55).abs() < 1e-12);
        assert!((s.rate(1.0, 110, 110) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn a_late_decay_start_keeps_the_base_rate_until_then() {
        let s = LrSchedule {
            warmup_steps: 10,
            decay: LrDecay::Linear,
            final_factor: 0.0,
            decay_start: Some(100),
        };
        assert!((s.rate(1.0, 5, 200) - 0.6).abs() < 1e-12);
        assert_eq!(s.rate(1.0, 50, 200), 1.0);
        assert_eq!(s.rate(1.0, 100, 200), 1.0);
        assert!((s.rate(1.0, 150, 200) - 0.5).abs() < 1e-12);
        assert_eq!(s.rate(1.0, 200, 200), 0.0);
        assert_eq!(s.rate(1.0, 250, 200), 0.0);
    }

    #[test]
    fn ema_warmup_starts_small_and_caps() {
        let e = EmaConfig::default();
        assert!(e.decay_at(0) < 0.5);
        assert_eq!(e.decay_at(10_000_000), 0.999);
        let edm = EmaConfig {
            decay: 0.9999,
            warmup_power: 0.0,
        };
        assert_eq!(edm.decay_at(0), 0.9999);
    }
}
