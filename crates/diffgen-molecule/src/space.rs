//! The noising space of molecules: positions in the zero-centre-of-mass subspace, atom-type
//! features Gaussian, padding masked everywhere.

use burn::tensor::{Device, Tensor};
use diffgen_core::rng::NoiseSource;
use diffgen_core::NoiseSpace;

use std::sync::Arc;

use crate::egnn::pair_kernel::PairGraph;
use crate::egnn::{remove_mean_with_mask, GraphMasks};

/// A padded batch's masks and atom counts.
#[derive(Debug, Clone)]
pub struct MolContext {
    pub masks: GraphMasks,
    pub counts: Vec<usize>,
}

impl MolContext {
    /// Masks for molecules of `counts` atoms, padded to the largest.
    pub fn new(counts: &[usize], device: &Device) -> Self {
        let b = counts.len();
        let n = counts.iter().copied().max().unwrap_or(1).max(1);
        let mut node = vec![0f32; b * n];
        let mut edge = vec![0f32; b * n * n];
        for (m, &count) in counts.iter().enumerate() {
            for i in 0..count {
                node[m * n + i] = 1.0;
                for j in 0..count {
                    if i != j {
                        edge[(m * n + i) * n + j] = 1.0;
                    }
                }
            }
        }
        let pairs = Some(Arc::new(PairGraph::from_node_mask(&node, b, n)));
        let node = Tensor::<1>::from_floats(node.as_slice(), device).reshape([b, n, 1]);
        let edge = Tensor::<1>::from_floats(edge.as_slice(), device).reshape([b, n, n, 1]);
        Self {
            masks: GraphMasks { node, edge, pairs },
            counts: counts.to_vec(),
        }
    }

    pub fn max_atoms(&self) -> usize {
        self.masks.node.dims()[1]
    }
}

/// Positions (the first 3 channels) live in the subspace Σ_i x_i = 0 over real atoms; the
/// other channels are plain Gaussians; padding is zero.
#[derive(Debug, Clone, Copy, Default)]
pub struct MoleculeSpace;

impl MoleculeSpace {
    fn centre_positions(x: Tensor<3>, node_mask: Tensor<3>) -> Tensor<3> {
        let [_, _, channels] = x.dims();
        let positions = remove_mean_with_mask(x.clone().narrow(2, 0, 3), node_mask.clone());
        let features = x.narrow(2, 3, channels - 3) * node_mask;
        Tensor::cat(vec![positions, features], 2)
    }
}

impl NoiseSpace<3> for MoleculeSpace {
    type Context = MolContext;

    fn noise<N: NoiseSource>(
        &self,
        shape: [usize; 3],
        context: &MolContext,
        source: &mut N,
        device: &Device,
    ) -> Tensor<3> {
        let node = context.masks.node.clone();
        let eps = source.standard_normal(shape, device) * node.clone();
        Self::centre_positions(eps, node)
    }

    fn project(&self, x: Tensor<3>, context: &MolContext) -> Tensor<3> {
        Self::centre_positions(x, context.masks.node.clone())
    }

    /// EDM's l2 loss: `0.5 · Σ(ε − ε̂)² / (channels · N_max)`, the padded N_max.
    fn reduce(&self, elementwise: Tensor<3>, _context: &MolContext) -> Tensor<1> {
        let b = elementwise.dims()[0];
        elementwise
            .reshape([b as i32, -1])
            .mean_dim(1)
            .reshape([b])
            .mul_scalar(0.5)
    }
}
