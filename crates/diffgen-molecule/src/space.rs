//! The noising space of molecules: positions in the zero-centre-of-mass subspace, atom-type
//! features Gaussian, padding masked everywhere.

use burn::tensor::{Device, Tensor};
use diffgen_core::rng::NoiseSource;
use diffgen_core::NoiseSpace;

use std::sync::Arc;

use diffgen_core::process::Part;

use crate::egnn::pair_kernel::PairGraph;
use crate::egnn::{remove_mean_with_mask, GraphMasks};
use crate::joint::{bond_block, unblock_bonds, JointShape, BOND_CLASSES};

/// A padded batch's masks and atom counts.
#[derive(Debug, Clone)]
pub struct MolContext {
    /// Node and edge masks of the padded batch, with the fused kernel's pairs.
    pub masks: GraphMasks,
    /// Real atoms of each molecule, `[B]`.
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

    /// N, the padded atoms per molecule.
    pub fn max_atoms(&self) -> usize {
        self.masks.node.dims()[1]
    }
}

/// Positions (the first 3 channels) live in the subspace Σ_i x_i = 0 over real atoms; the
/// other channels are plain Gaussians (EDM) or one-hot parts (the joint model); padding is
/// zero. A joint state's bonds are kept symmetric — entry (i, j) is entry (j, i), the one
/// above the diagonal — and exist only between two different real atoms.
#[derive(Debug, Clone, Copy, Default)]
pub struct MoleculeSpace {
    /// The joint model's layout (None: EDM's `[x, h]`).
    pub joint: Option<JointShape>,
}

impl MoleculeSpace {
    /// EDM's space.
    pub const EDM: Self = Self { joint: None };

    fn centre_positions(x: Tensor<3>, node_mask: Tensor<3>) -> Tensor<3> {
        let [_, _, channels] = x.dims();
        let positions = remove_mean_with_mask(x.clone().narrow(2, 0, 3), node_mask.clone());
        let features = x.narrow(2, 3, channels - 3) * node_mask;
        Tensor::cat(vec![positions, features], 2)
    }

    /// The bond columns with (i, j) set from (min, max) and padding, self-pairs and groups past
    /// the batch's atoms zero.
    fn symmetric_bonds(x: Tensor<3>, shape: &JointShape, context: &MolContext) -> Tensor<3> {
        let [b, n, _] = x.dims();
        let offset = shape.bond_offset();
        let width = shape.max_atoms * BOND_CLASSES;
        let block = bond_block(x.clone().narrow(2, offset, width), shape.max_atoms); // [B, N, N, 4]
        let device = x.device();
        let mut upper = vec![0f32; n * n];
        for i in 0..n {
            for j in (i + 1)..n {
                upper[i * n + j] = 1.0;
            }
        }
        let upper = Tensor::<1>::from_floats(upper.as_slice(), &device).reshape([1, n, n, 1]);
        let above = block * upper;
        let symmetric = (above.clone() + above.swap_dims(1, 2)) * context.masks.edge.clone();
        let bonds = unblock_bonds(symmetric, shape.max_atoms);
        Tensor::cat(vec![x.narrow(2, 0, offset), bonds], 2).reshape([b, n, shape.width()])
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
        let x = Self::centre_positions(x, context.masks.node.clone());
        match &self.joint {
            None => x,
            Some(shape) => Self::symmetric_bonds(x, shape, context),
        }
    }

    /// Rotates each molecule's noise positions onto its data positions (Kabsch: the proper
    /// rotation minimising Σ|R·ε_i − x_i|² over real atoms), the rotational half of
    /// equivariant optimal transport; the rest of the state is left as drawn.
    fn align_prior(&self, noise: Tensor<3>, x0: &Tensor<3>, context: &MolContext) -> Tensor<3> {
        diffgen_core::space::rotate_noise_onto(noise, x0, &context.counts)
    }

    /// A joint state's parts, each averaged over its own real entries: positions over real
    /// atoms' coordinates, types and charges over real atoms, bonds over ordered pairs of
    /// different real atoms (the elementwise terms are zero elsewhere).
    fn reduce_part(&self, part: &Part, elementwise: Tensor<3>, context: &MolContext) -> Tensor<1> {
        let b = elementwise.dims()[0];
        let per_entry = match part.name.as_str() {
            "positions" => 3,
            "bonds" => BOND_CLASSES,
            _ => part.width,
        };
        let real: Vec<f32> = context
            .counts
            .iter()
            .map(|&n| {
                let entries = match part.name.as_str() {
                    "bonds" => n * n.saturating_sub(1),
                    _ => n,
                };
                (entries.max(1) * per_entry) as f32
            })
            .collect();
        let real = Tensor::<1>::from_floats(real.as_slice(), &elementwise.device());
        elementwise.reshape([b as i32, -1]).sum_dim(1).reshape([b]) / real
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
