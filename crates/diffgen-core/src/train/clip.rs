//! Global gradient-norm clipping, including EDM's adaptive threshold.

use std::collections::VecDeque;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use super::config::GradClip;
use crate::tensor_util::scalar;

/// The clipper's state: the recent norms for the adaptive rule.
#[derive(Debug, Clone)]
pub struct Clipper {
    rule: GradClip,
    history: VecDeque<f64>,
}

/// What one step of clipping saw and did.
#[derive(Debug, Clone, Copy)]
pub struct ClipReport {
    /// The global L2 norm of the gradients, before clipping.
    pub norm: f64,
    /// The threshold in force this step (None: no clipping rule).
    pub threshold: Option<f64>,
}

impl Clipper {
    /// A fresh clipper for `rule`; the adaptive rule's history starts as `[initial]`.
    pub fn new(rule: GradClip) -> Self {
        let history = match rule {
            GradClip::Adaptive { initial, .. } => VecDeque::from([initial]),
            _ => VecDeque::new(),
        };
        Self { rule, history }
    }

    /// A clipper resumed with the norms of [`Clipper::history`] (empty: a fresh one).
    pub fn restore(rule: GradClip, history: Vec<f64>) -> Self {
        let mut c = Self::new(rule);
        if !history.is_empty() {
            c.history = history.into();
        }
        c
    }

    /// The recorded norms, oldest first, as a checkpoint stores them.
    pub fn history(&self) -> Vec<f64> {
        self.history.iter().copied().collect()
    }

    fn threshold(&self) -> Option<f64> {
        match self.rule {
            GradClip::None => None,
            GradClip::Norm { max_norm } => Some(max_norm),
            GradClip::Adaptive { .. } => {
                let n = self.history.len() as f64;
                let mean = self.history.iter().sum::<f64>() / n;
                let var = self.history.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                Some(1.5 * mean + 2.0 * var.sqrt())
            }
        }
    }

    /// Measures the global norm of `grads` for `module`'s parameters and rescales them when
    /// it exceeds the threshold (by `threshold / (norm + 1e-6)`, as PyTorch does).
    pub fn clip<M: Module>(
        &mut self,
        module: &M,
        grads: GradientsParams,
    ) -> (GradientsParams, ClipReport) {
        let mut measure = NormVisitor {
            grads: &grads,
            sum_sq: None,
        };
        module.visit(&mut measure);
        let norm = measure.sum_sq.map(|s| scalar(s).sqrt()).unwrap_or(0.0);
        let threshold = self.threshold();
        if let GradClip::Adaptive { window, .. } = self.rule {
            let t = threshold.expect("adaptive rule has a threshold");
            self.history.push_back(norm.min(t));
            while self.history.len() > window {
                self.history.pop_front();
            }
        }
        let grads = match threshold {
            Some(t) if norm > t => {
                let mut scale = ScaleVisitor {
                    grads,
                    factor: t / (norm + 1e-6),
                };
                module.visit(&mut scale);
                scale.grads
            }
            _ => grads,
        };
        (grads, ClipReport { norm, threshold })
    }
}

struct NormVisitor<'a> {
    grads: &'a GradientsParams,
    sum_sq: Option<Tensor<1>>,
}

impl ModuleVisitor for NormVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.square().sum();
            self.sum_sq = Some(match self.sum_sq.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

struct ScaleVisitor {
    grads: GradientsParams,
    factor: f64,
}

impl ModuleVisitor for ScaleVisitor {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.factor));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_threshold_follows_edm() {
        let mut c = Clipper::new(GradClip::Adaptive {
            window: 50,
            initial: 3000.0,
        });
        // With one seed value the threshold is 1.5 · 3000.
        assert_eq!(c.threshold(), Some(4500.0));
        c.history.push_back(1000.0);
        // mean 2000, population std 1000.
        assert_eq!(c.threshold(), Some(1.5 * 2000.0 + 2.0 * 1000.0));
    }
}
