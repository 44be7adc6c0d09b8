//! The forward process q(x_t | x_0), the prediction objectives and loss weighting.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// What the denoiser predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// The noise ε (DDPM, EDM).
    #[default]
    Epsilon,
    /// The clean sample x_0.
    Sample,
    /// The velocity v = α·ε − σ·x_0 (Salimans & Ho).
    Velocity,
    /// Flow matching's velocity u = dx_t/dt = ε − x_0 on the straight line α = 1 − t,
    /// σ = t (valid on that path only).
    FlowVelocity,
}

impl Objective {
    /// Its name in configs.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Epsilon => "epsilon",
            Objective::Sample => "sample",
            Objective::Velocity => "velocity",
            Objective::FlowVelocity => "flow_velocity",
        }
    }
}

/// Per-sample weight of the squared error, as a function of the SNR at t.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LossWeighting {
    /// Plain mean squared error on the objective (DDPM's "simple" loss; EDM's l2).
    #[default]
    Uniform,
    /// Min-SNR-γ (Hang et al. 2023): the x_0-space weight min(SNR, γ), expressed for the
    /// chosen objective.
    MinSnr {
        /// γ, the SNR above which the x_0-space weight stops growing (5 in the paper).
        gamma: f64,
    },
    /// Flow matching's velocity loss on the straight line x_t = (1 − t)·x_0 + t·ε: the
    /// velocity error is the x_0 error over t, so the x_0-space weight is 1/t² = (1 + √SNR)²,
    /// capped at `max_weight` so that draws of t near 0 stay finite. It puts the weight near
    /// the data, where local geometry is decided, without the high-noise end falling to zero
    /// as Min-SNR's does.
    FlowVelocity {
        /// The cap on the x_0-space weight (100 ⇔ t ≥ 0.1 is weighted as 1/t²).
        max_weight: f64,
    },
}

impl LossWeighting {
    /// Its parameter must be a positive finite number.
    pub fn validate(&self) -> Result<(), crate::CoreError> {
        let (name, value) = match *self {
            LossWeighting::Uniform => return Ok(()),
            LossWeighting::MinSnr { gamma } => ("gamma", gamma),
            LossWeighting::FlowVelocity { max_weight } => ("max_weight", max_weight),
        };
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(crate::CoreError::setting(
                format!("diffusion.weighting.{name}"),
                format!("must be a positive number, got {value}"),
            ))
        }
    }

    /// The weight of a sample at signal-to-noise ratio `snr` (α²/σ²) for `objective`.
    pub fn weight(self, objective: Objective, snr: f64) -> f64 {
        match self {
            LossWeighting::Uniform => 1.0,
            LossWeighting::MinSnr { gamma } => {
                let clipped = snr.min(gamma);
                match objective {
                    Objective::Epsilon => clipped / snr.max(f64::MIN_POSITIVE),
                    Objective::Sample => clipped,
                    Objective::Velocity => clipped / (snr + 1.0),
                    // u = ε − x_0 = (x_t − x_0)/t, so its squared error is the x_0 error
                    // over t², and t² = 1/(1 + √SNR)² on the line.
                    Objective::FlowVelocity => clipped / (1.0 + snr.sqrt()).powi(2),
                }
            }
            LossWeighting::FlowVelocity { max_weight } => {
                let on_line = (1.0 + snr.sqrt()).powi(2);
                let x0_weight = on_line.min(max_weight);
                match objective {
                    Objective::Epsilon => x0_weight / snr.max(f64::MIN_POSITIVE),
                    Objective::Sample => x0_weight,
                    Objective::Velocity => x0_weight / (snr + 1.0),
                    Objective::FlowVelocity => x0_weight / on_line,
                }
            }
        }
    }
}

/// `x_t = α·x_0 + σ·ε`, with `alpha` and `sigma` broadcastable per-sample coefficients.
pub fn add_noise<const D: usize>(
    x0: Tensor<D>,
    eps: Tensor<D>,
    alpha: Tensor<D>,
    sigma: Tensor<D>,
) -> Tensor<D> {
    x0 * alpha + eps * sigma
}

impl Objective {
    /// The regression target of the denoiser.
    pub fn target<const D: usize>(
        self,
        x0: Tensor<D>,
        eps: Tensor<D>,
        alpha: Tensor<D>,
        sigma: Tensor<D>,
    ) -> Tensor<D> {
        match self {
            Objective::Epsilon => eps,
            Objective::Sample => x0,
            Objective::Velocity => eps * alpha - x0 * sigma,
            Objective::FlowVelocity => eps - x0,
        }
    }

    /// Recovers (x̂_0, ε̂) from a prediction at a level with coefficients (α, σ).
    ///
    /// For the x_0 objective ε̂ divides by σ, so it must not be asked at σ = 0; the samplers
    /// never evaluate the network there.
    pub fn split<const D: usize>(
        self,
        x_t: Tensor<D>,
        prediction: Tensor<D>,
        alpha: f64,
        sigma: f64,
    ) -> (Tensor<D>, Tensor<D>) {
        match self {
            Objective::Epsilon => {
                let x0 = (x_t - prediction.clone().mul_scalar(sigma)).div_scalar(alpha);
                (x0, prediction)
            }
            Objective::Sample => {
                let eps = (x_t - prediction.clone().mul_scalar(alpha)).div_scalar(sigma);
                (prediction, eps)
            }
            Objective::Velocity => {
                let x0 = x_t.clone().mul_scalar(alpha) - prediction.clone().mul_scalar(sigma);
                let eps = x_t.mul_scalar(sigma) + prediction.mul_scalar(alpha);
                (x0, eps)
            }
            Objective::FlowVelocity => {
                // x_t = (1 − t)·x_0 + t·ε and u = ε − x_0 give x_0 = x_t − σ·u, ε = x_t + α·u.
                let x0 = x_t.clone() - prediction.clone().mul_scalar(sigma);
                let eps = x_t + prediction.mul_scalar(alpha);
                (x0, eps)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::{tensor_from_vec, to_vec};
    use burn::tensor::Device;

    #[test]
    fn split_inverts_target_for_every_objective() {
        for obj in [Objective::Epsilon, Objective::Sample, Objective::Velocity] {
            check_inverse(obj, 0.8, 0.6);
        }
        // Flow matching's objectives on the straight line (α + σ = 1), at both ends too.
        for t in [0.0, 0.3, 1.0] {
            check_inverse(Objective::FlowVelocity, 1.0 - t, t);
            if t > 0.0 {
                check_inverse(Objective::Sample, 1.0 - t, t);
            }
        }
    }

    /// x_0 and ε → target → split returns x_0 and ε, at coefficients (α, σ).
    fn check_inverse(obj: Objective, a: f64, s: f64) {
        let dev = Device::flex();
        let x0 = tensor_from_vec(vec![0.3, -1.2, 0.7], [3], &dev);
        let eps = tensor_from_vec(vec![-0.5, 0.1, 2.0], [3], &dev);
        let coefficient = |c: f64| x0.ones_like().mul_scalar(c);
        let x_t = add_noise(x0.clone(), eps.clone(), coefficient(a), coefficient(s));
        let target = obj.target(x0.clone(), eps.clone(), coefficient(a), coefficient(s));
        let (x0_hat, eps_hat) = obj.split(x_t, target, a, s);
        for (u, v) in to_vec(x0_hat).iter().zip(to_vec(x0.clone())) {
            assert!((u - v).abs() < 1e-5, "{obj:?} x0 at ({a}, {s})");
        }
        for (u, v) in to_vec(eps_hat).iter().zip(to_vec(eps.clone())) {
            assert!((u - v).abs() < 1e-5, "{obj:?} eps at ({a}, {s})");
        }
    }

    #[test]
    fn min_snr_weights_are_consistent_across_objectives() {
        let w = LossWeighting::MinSnr { gamma: 5.0 };
        // High SNR: x_0-space weight is γ; ε-space weight γ/SNR.
        assert!((w.weight(Objective::Sample, 20.0) - 5.0).abs() < 1e-12);
        assert!((w.weight(Objective::Epsilon, 20.0) - 0.25).abs() < 1e-12);
        // Low SNR: no clipping in ε space.
        assert!((w.weight(Objective::Epsilon, 0.5) - 1.0).abs() < 1e-12);
        assert_eq!(LossWeighting::Uniform.weight(Objective::Velocity, 3.0), 1.0);
    }

    #[test]
    fn flow_velocity_weight_is_one_over_t_squared_until_the_cap() {
        let w = LossWeighting::FlowVelocity { max_weight: 100.0 };
        let snr_at = |t: f64| ((1.0 - t) / t).powi(2);
        for t in [0.2, 0.5, 0.9] {
            let x0 = w.weight(Objective::Sample, snr_at(t));
            assert!((x0 - 1.0 / (t * t)).abs() < 1e-9, "t = {t}: {x0}");
            // The same loss predicting the velocity is unweighted.
            assert!((w.weight(Objective::FlowVelocity, snr_at(t)) - 1.0).abs() < 1e-9);
        }
        assert!((w.weight(Objective::Sample, snr_at(0.01)) - 100.0).abs() < 1e-9);
        assert!(LossWeighting::FlowVelocity {
            max_weight: f64::NAN
        }
        .validate()
        .is_err());
        assert!(LossWeighting::MinSnr { gamma: 0.0 }.validate().is_err());
    }
}
