//! Exponential moving average of a module's weights.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// `ema ← d·ema + (1 − d)·model`, parameter by parameter (both modules have the same
/// structure; the average lives on the plain device, outside autodiff).
pub fn update_ema<M: Module>(ema: M, model: &M, decay: f64) -> M {
    let mut collect = Collect { values: Vec::new() };
    model.visit(&mut collect);
    let mut blend = Blend {
        values: collect.values.into_iter(),
        decay,
    };
    ema.map(&mut blend)
}

struct Collect {
    values: Vec<Tensor<1>>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let v = param.val().inner();
        let n = v.shape().num_elements();
        self.values.push(v.reshape([n]));
    }
}

struct Blend {
    values: std::vec::IntoIter<Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let current = self
            .values
            .next()
            .expect("EMA and model have the same parameters");
        let decay = self.decay;
        param.map(|ema| {
            let shape = ema.shape();
            ema.mul_scalar(decay) + current.reshape(shape).mul_scalar(1.0 - decay)
        })
    }
}
