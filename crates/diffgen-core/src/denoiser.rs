//! The network side of the contract, and classifier-free guidance.

use burn::tensor::Tensor;

use crate::forward::Objective;

/// A denoising network `(x_t, t, context) → prediction`.
///
/// `t` is the noise level as a fraction `t / T` in [0, 1], one per sample. The declared
/// [`Objective`] tells samplers how to read the prediction, so they never look inside.
pub trait Denoiser<const D: usize> {
    /// What the network is conditioned on besides `x_t` and `t` (`()`, class labels, masks).
    type Context;

    /// How samplers and the loss read the output of [`predict`](Self::predict).
    fn objective(&self) -> Objective;

    /// The prediction for `x_t` at levels `t` (fractions t/T), in the declared objective.
    fn predict(&self, x_t: Tensor<D>, t: Tensor<1>, context: &Self::Context) -> Tensor<D>;

    /// Whether the network takes its own previous estimate of the clean state as an extra
    /// input (self-conditioning); such a network implements [`predict_with`](Self::predict_with).
    fn self_conditioned(&self) -> bool {
        false
    }

    /// The prediction given the previous estimate of the clean state (continuous parts:
    /// x̂_0; categorical parts: probabilities), `None` at the first step and in half of
    /// training steps. Networks without self-conditioning ignore it.
    fn predict_with(
        &self,
        x_t: Tensor<D>,
        t: Tensor<1>,
        context: &Self::Context,
        _previous: Option<Tensor<D>>,
    ) -> Tensor<D> {
        self.predict(x_t, t, context)
    }

    /// The same context with its condition dropped (the "null" label), for classifier-free
    /// guidance; `None` for unconditional models.
    fn unconditional(&self, _context: &Self::Context) -> Option<Self::Context> {
        None
    }
}

/// Classifier-free guidance: `u + w·(c − u)` from the unconditional (u) and conditional (c)
/// predictions. `w = 1` is the plain conditional model, `w = 0` the unconditional one.
pub struct Guided<'a, M> {
    model: &'a M,
    scale: f64,
}

impl<'a, M> Guided<'a, M> {
    /// `model` guided with `w` = `scale`.
    pub fn new(model: &'a M, scale: f64) -> Self {
        Self { model, scale }
    }
}

impl<const D: usize, M: Denoiser<D>> Denoiser<D> for Guided<'_, M> {
    type Context = M::Context;

    fn objective(&self) -> Objective {
        self.model.objective()
    }

    fn predict(&self, x_t: Tensor<D>, t: Tensor<1>, context: &Self::Context) -> Tensor<D> {
        self.predict_with(x_t, t, context, None)
    }

    fn self_conditioned(&self) -> bool {
        self.model.self_conditioned()
    }

    fn predict_with(
        &self,
        x_t: Tensor<D>,
        t: Tensor<1>,
        context: &Self::Context,
        previous: Option<Tensor<D>>,
    ) -> Tensor<D> {
        let conditional =
            self.model
                .predict_with(x_t.clone(), t.clone(), context, previous.clone());
        match self.model.unconditional(context) {
            Some(null) if self.scale != 1.0 => {
                let unconditional = self.model.predict_with(x_t, t, &null, previous);
                unconditional.clone() + (conditional - unconditional).mul_scalar(self.scale)
            }
            _ => conditional,
        }
    }

    fn unconditional(&self, context: &Self::Context) -> Option<Self::Context> {
        self.model.unconditional(context)
    }
}
