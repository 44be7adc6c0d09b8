//! The categorical process of a product state's discrete parts.
//!
//! A one-hot entry is kept with probability κ(t) = 1 − t and otherwise replaced by a draw
//! from a prior π (uniform, the data's marginals, or an absorbing mask class):
//! `q(x_t | x_0) = Cat(κ_t·x_0 + (1 − κ_t)·π)`. This is D3PM's mixing process in continuous
//! time, on the same clock as the continuous parts; with the mask prior it is absorbing
//! (masked) diffusion. Between two times s < t the process keeps an entry with
//! probability r = κ_t/κ_s, so the exact posterior `q(x_s | x_t, x_0)` has a closed form,
//! and averaging it over the network's distribution p̂(x_0 | x_t) gives the ancestral step
//! of [`posterior`]. Training is cross-entropy of p̂ against x_0 ([`cross_entropy`]).

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor};

use super::layout::PriorKind;
use crate::tensor_util::tensor_from_vec;

/// The prior a fully corrupted entry is drawn from.
#[derive(Debug, Clone, PartialEq)]
pub enum CategoricalPrior {
    /// Every one of `classes` classes equally likely.
    Uniform {
        /// K.
        classes: usize,
    },
    /// The data's class frequencies (they sum to one).
    Marginal(Vec<f64>),
    /// An extra class after the `data_classes`, which corrupted entries become and the
    /// network never predicts.
    Masked {
        /// Classes of the data (the mask is one more).
        data_classes: usize,
    },
}

impl CategoricalPrior {
    /// The prior of a config's `kind` over `classes` data classes.
    pub fn from_kind(
        kind: PriorKind,
        classes: usize,
        marginals: Option<Vec<f64>>,
    ) -> Result<Self, String> {
        if classes < 2 {
            return Err(format!(
                "a categorical part needs at least 2 classes, has {classes}"
            ));
        }
        Ok(match kind {
            PriorKind::Uniform => CategoricalPrior::Uniform { classes },
            PriorKind::Masked => CategoricalPrior::Masked {
                data_classes: classes,
            },
            PriorKind::Marginal => {
                let m = marginals.ok_or(
                    "this modality does not supply class frequencies; use uniform or masked",
                )?;
                let total: f64 = m.iter().sum();
                if m.len() != classes
                    || m.iter().any(|p| !(p.is_finite() && *p >= 0.0))
                    || total <= 0.0
                {
                    return Err(format!("bad class frequencies {m:?} for {classes} classes"));
                }
                // A class absent from the data keeps a sliver of mass, so that the posterior
                // never divides by zero.
                let floor = 1e-6;
                let m: Vec<f64> = m.iter().map(|p| p / total + floor).collect();
                let total: f64 = m.iter().sum();
                CategoricalPrior::Marginal(m.iter().map(|p| p / total).collect())
            }
        })
    }

    /// Entries per one-hot vector (the mask class included).
    pub fn classes(&self) -> usize {
        match self {
            CategoricalPrior::Uniform { classes } => *classes,
            CategoricalPrior::Marginal(m) => m.len(),
            CategoricalPrior::Masked { data_classes } => data_classes + 1,
        }
    }

    /// Whether the last class is the mask.
    pub fn is_masked(&self) -> bool {
        matches!(self, CategoricalPrior::Masked { .. })
    }

    /// π over all entries.
    pub fn probabilities(&self) -> Vec<f64> {
        match self {
            CategoricalPrior::Uniform { classes } => vec![1.0 / *classes as f64; *classes],
            CategoricalPrior::Marginal(m) => m.clone(),
            CategoricalPrior::Masked { data_classes } => {
                let mut p = vec![0.0; data_classes + 1];
                p[*data_classes] = 1.0;
                p
            }
        }
    }

    fn row(&self, values: Vec<f64>, device: &Device) -> Tensor<3> {
        let k = values.len();
        tensor_from_vec(
            values.into_iter().map(|v| v as f32).collect(),
            [1, 1, k],
            device,
        )
    }

    /// π as a `[1, 1, K]` row.
    pub fn tensor(&self, device: &Device) -> Tensor<3> {
        self.row(self.probabilities(), device)
    }

    /// 1 for the classes the network may predict, 0 for the mask: `[1, 1, K]`.
    fn predictable(&self, device: &Device) -> Tensor<3> {
        let mut keep = vec![1.0; self.classes()];
        if let CategoricalPrior::Masked { data_classes } = self {
            keep[*data_classes] = 0.0;
        }
        self.row(keep, device)
    }
}

/// The probability κ(t) = 1 − t that an entry still holds its data value at time t.
pub fn keep_probability(t: f64) -> f64 {
    (1.0 - t).clamp(0.0, 1.0)
}

/// One-hot draws from the distributions `probabilities` (`[B, R, K]`, rows summing to one),
/// by the Gumbel-max trick on `normals` of the same shape (each mapped to a uniform through
/// the normal CDF), so that every draw comes from the caller's seeded stream.
pub fn sample_one_hot(probabilities: Tensor<3>, normals: Tensor<3>) -> Tensor<3> {
    let uniform = normals
        .div_scalar(std::f64::consts::SQRT_2)
        .erf()
        .add_scalar(1.0)
        .mul_scalar(0.5)
        .clamp(1e-7, 1.0 - 1e-7);
    let gumbel = uniform.log().neg().log().neg();
    let score = probabilities.clamp_min(1e-30).log() + gumbel;
    let best = score.clone().max_dim(2);
    (score - best).greater_equal_elem(0.0).float()
}

/// `x_t` for data `x0` (`[B, R, K]` one-hot) at per-sample keep probabilities `kappa`
/// (`[B, 1, 1]`), drawing with `normals`.
pub fn corrupt(
    x0: Tensor<3>,
    kappa: Tensor<3>,
    prior: &CategoricalPrior,
    normals: Tensor<3>,
) -> Tensor<3> {
    let pi = prior.tensor(&x0.device());
    let probabilities = x0 * kappa.clone() + pi * kappa.neg().add_scalar(1.0);
    sample_one_hot(probabilities, normals)
}

/// The network's distribution p̂(x_0 | x_t) from its logits (`[B, R, K]`); the mask class,
/// if any, gets none.
pub fn denoiser_probabilities(logits: Tensor<3>, prior: &CategoricalPrior) -> Tensor<3> {
    let p = softmax(logits, 2);
    if !prior.is_masked() {
        return p;
    }
    let keep = prior.predictable(&p.device());
    let p = p * keep;
    let total = p.clone().sum_dim(2).clamp_min(1e-30);
    p / total
}

/// The ancestral step's distribution `p(x_s | x_t) = Σ_{x_0} q(x_s | x_t, x_0)·p̂(x_0 | x_t)`
/// for one-hot `x_t` and the network's `p0` (both `[B, R, K]`), from time t to s < t.
///
/// With `q(x_t = j | x_s = i) = r·[i = j] + (1 − r)·π_j` (r = κ_t/κ_s) and
/// `q(x_s = i | x_0) = κ_s·[i = x_0] + (1 − κ_s)·π_i`, Bayes gives
/// `p(x_s = i) = A_i·(κ_s·w_i + (1 − κ_s)·π_i·Σ w)` with `A_i = r·[i = j] + (1 − r)·π_j`,
/// `w = p̂ / q(x_t = j | x_0)` and `q(x_t = j | x_0) = κ_t·[x_0 = j] + (1 − κ_t)·π_j`.
/// At s = 0 this is p̂ itself.
pub fn posterior(
    x_t: Tensor<3>,
    p0: Tensor<3>,
    kappa_t: f64,
    kappa_s: f64,
    prior: &CategoricalPrior,
) -> Tensor<3> {
    let pi = prior.tensor(&x_t.device());
    let pi_j = (x_t.clone() * pi.clone()).sum_dim(2); // [B, R, 1]
    let r = if kappa_s > 0.0 {
        kappa_t / kappa_s
    } else {
        0.0
    };
    let a = x_t.clone().mul_scalar(r) + pi_j.clone().mul_scalar(1.0 - r);
    let likelihood = x_t.mul_scalar(kappa_t) + pi_j.mul_scalar(1.0 - kappa_t);
    let w = p0 / likelihood.add_scalar(1e-20);
    let w_total = w.clone().sum_dim(2);
    let p = a * (w.mul_scalar(kappa_s) + pi * w_total.mul_scalar(1.0 - kappa_s));
    let total = p.clone().sum_dim(2).clamp_min(1e-30);
    p / total
}

/// Per-entry cross-entropy terms of `logits` against one-hot `x0` (`[B, R, K]`), scaled by K
/// so that a mean over the last axis is the cross-entropy of one entry.
pub fn cross_entropy(logits: Tensor<3>, x0: Tensor<3>, prior: &CategoricalPrior) -> Tensor<3> {
    let k = prior.classes();
    let logits = match prior.is_masked() {
        // The mask is never a target; −10⁴ keeps it out of the normalisation.
        true => {
            logits
                + prior
                    .predictable(&x0.device())
                    .neg()
                    .add_scalar(1.0)
                    .mul_scalar(-1e4)
        }
        false => logits,
    };
    (log_softmax(logits, 2) * x0).mul_scalar(-(k as f64))
}
