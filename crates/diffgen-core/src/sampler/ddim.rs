//! DDIM (Song et al. 2020): η = 0 is deterministic — on flow matching's straight line it is
//! exactly the Euler step of the flow ODE — and η = 1 is as noisy as DDPM. Fits any
//! Gaussian path.

use burn::tensor::Tensor;

use super::{number_in, Memory, Sampler, SamplerEntry, Step, StepOps};

/// `ddim[:<eta>]`.
pub(super) const ENTRY: SamplerEntry = SamplerEntry {
    name: "ddim",
    aliases: &[],
    usage: "ddim[:<eta>]",
    help: "DDIM; η in [0, 1] (default 0: deterministic)",
    build: |arg| {
        Ok(std::sync::Arc::new(Ddim {
            eta: number_in(arg, 0.0, 0.0..=1.0, "DDIM η")?,
        }))
    },
};

/// DDIM with η.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ddim {
    /// η in [0, 1]: the share of DDPM's posterior noise each step adds (0: none).
    pub eta: f64,
}

impl Sampler for Ddim {
    fn spec(&self) -> String {
        match self.eta {
            0.0 => "ddim".into(),
            eta => format!("ddim:{eta}"),
        }
    }

    fn label(&self) -> String {
        match self.eta {
            0.0 => "ddim".into(),
            eta => format!("ddim(eta={eta})"),
        }
    }

    fn step(&self, step: &Step<'_>, _memory: &mut Memory, ops: &mut dyn StepOps) -> Tensor<2> {
        let ((alpha_t, sigma_t), (alpha_s, sigma_s)) = (step.at_t(), step.at_s());
        let alpha_ts = alpha_t / alpha_s;
        let var_ts = sigma_t * sigma_t - alpha_ts * alpha_ts * sigma_s * sigma_s;
        let c = self.eta
            * (var_ts * sigma_s * sigma_s / (sigma_t * sigma_t))
                .max(0.0)
                .sqrt();
        let direction = (sigma_s * sigma_s - c * c).max(0.0).sqrt();
        let next = step.x0.clone().mul_scalar(alpha_s) + step.eps.clone().mul_scalar(direction);
        if c > 0.0 {
            next + ops.noise().mul_scalar(c)
        } else {
            next
        }
    }
}
