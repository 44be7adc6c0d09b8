//! The categorical parts' sampler: ancestral steps from the exact posterior of the mixing
//! process ([`crate::process::categorical::posterior`]) averaged over the network's p̂(x_0),
//! on the same time grid as the continuous parts. Any step count; the last step draws from
//! p̂ itself (or takes its most likely class, with `final_argmax`).

use burn::tensor::Tensor;

use crate::process::categorical::{keep_probability, posterior, sample_one_hot};
use crate::process::CategoricalPrior;

/// Ancestral categorical sampling.
#[derive(Debug, Clone, Copy, Default)]
pub struct CategoricalAncestral {
    /// Take p̂'s most likely class at the last step instead of drawing from it.
    pub final_argmax: bool,
}

impl CategoricalAncestral {
    /// One-hot entries at time `s` from one-hot `x_t` (`[B, R, K]`) and the network's
    /// probabilities `p0` at `t`, drawing with `normals` (`[B, R, K]`).
    pub fn step(
        &self,
        x_t: Tensor<3>,
        p0: Tensor<3>,
        t: f64,
        s: f64,
        prior: &CategoricalPrior,
        normals: Tensor<3>,
    ) -> Tensor<3> {
        if s <= 0.0 && self.final_argmax {
            let best = p0.clone().max_dim(2);
            return (p0 - best).greater_equal_elem(0.0).float();
        }
        let p = posterior(x_t, p0, keep_probability(t), keep_probability(s), prior);
        sample_one_hot(p, normals)
    }

    /// Fully corrupted entries (time 1): draws from the prior.
    pub fn start(&self, prior: &CategoricalPrior, normals: Tensor<3>) -> Tensor<3> {
        let dims = normals.dims();
        let pi = prior.tensor(&normals.device());
        let p = pi.expand(dims);
        sample_one_hot(p, normals)
    }
}
