//! Pixels in [−1, 1] with i.i.d. Gaussian noise: the core's Euclidean space, plus (optionally)
//! clamping of the predicted clean image x̂₀ to [−1, 1] during sampling, as diffusers'
//! `clip_sample` does.

use burn::tensor::{Device, Tensor};
use diffgen_core::rng::NoiseSource;
use diffgen_core::NoiseSpace;

use crate::unet::ImageContext;

/// The image modality's noise space: standard Gaussian noise on every pixel.
#[derive(Debug, Clone, Copy, Default)]
pub struct PixelSpace {
    /// Clamp x̂₀ to [−1, 1] in the samplers (training is unaffected).
    pub clamp_x0: bool,
}

impl PixelSpace {
    /// A space that clamps x̂₀ in the samplers when `clamp_x0` is set.
    pub fn new(clamp_x0: bool) -> Self {
        Self { clamp_x0 }
    }
}

impl NoiseSpace<4> for PixelSpace {
    type Context = ImageContext;

    fn noise<N: NoiseSource>(
        &self,
        shape: [usize; 4],
        _context: &ImageContext,
        source: &mut N,
        device: &Device,
    ) -> Tensor<4> {
        source.standard_normal(shape, device)
    }

    fn constrain_prediction(
        &self,
        x0: &Tensor<4>,
        _t: f64,
        _context: &ImageContext,
    ) -> Option<Tensor<4>> {
        self.clamp_x0.then(|| x0.clone().clamp(-1.0, 1.0))
    }
}
