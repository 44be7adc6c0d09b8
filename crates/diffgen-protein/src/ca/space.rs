//! The Cα trace's space: positions in nm with zero centre of mass over the real residues,
//! padding held at zero.

use burn::tensor::{Device, Tensor};
use diffgen_core::space::{remove_mean_with_mask, rotate_noise_onto};
use diffgen_core::{NoiseSource, NoiseSpace};

use crate::space::ProteinContext;

/// Cα positions `[B, L, 3]`. A translation carries no information, so states live where
/// Σᵢ xᵢ = 0; the Gaussian prior is drawn there too, and flow matching may rotate it onto
/// each training chain (`flow.align_prior`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CaSpace;

impl NoiseSpace<3> for CaSpace {
    type Context = ProteinContext;

    fn noise<N: NoiseSource>(
        &self,
        shape: [usize; 3],
        context: &ProteinContext,
        source: &mut N,
        device: &Device,
    ) -> Tensor<3> {
        let mask = context.mask.clone().unsqueeze_dim(2); // [B, L, 1]
        remove_mean_with_mask(source.standard_normal(shape, device) * mask.clone(), mask)
    }

    fn project(&self, x: Tensor<3>, context: &ProteinContext) -> Tensor<3> {
        let mask = context.mask.clone().unsqueeze_dim(2);
        remove_mean_with_mask(x * mask.clone(), mask)
    }

    fn align_prior(&self, noise: Tensor<3>, x0: &Tensor<3>, context: &ProteinContext) -> Tensor<3> {
        rotate_noise_onto(noise, x0, &context.lengths)
    }

    /// Mean over real residues' coordinates.
    fn reduce(&self, elementwise: Tensor<3>, context: &ProteinContext) -> Tensor<1> {
        crate::space::mean_over_residues(elementwise, context)
    }
}
