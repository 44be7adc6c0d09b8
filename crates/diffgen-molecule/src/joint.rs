//! The joint molecule network: coordinates, atom types, formal charges and bond orders
//! denoised together, with pair features updated in every layer.
//!
//! The state of one molecule is a product state (see `docs/processes.md`) laid out per atom
//! row as `[x (3) | type one-hot (K_T) | charge one-hot (3) | bond one-hots to every atom
//! (N_max × 4)]`: positions are continuous (zero centre of mass), the rest categorical. The
//! network is EDM's EGNN — its blocks and their fused pair kernel — plus an edge stream:
//! each pair (i, j) carries features `e_ij` (`edge_hidden` wide) embedded from its bond
//! one-hot, projected into both edge MLPs of every block (the kernel's per-pair input), and
//! updated after every block from the atoms' new features and distance. It predicts the
//! clean state: x̂_0 (the EGNN's output coordinates, E(3)-equivariant), logits of types and
//! charges per atom, and bond logits per pair from `(e_ij + e_ji)/2` (symmetric).

use std::sync::Arc;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::egnn::pair_kernel::PairGraph;
use crate::egnn::{
    coord2diff, remove_mean_with_mask, EdgePath, Egnn, EgnnDynamics, EquivariantBlock, FusedPass,
    GraphMasks, PairInput,
};
use diffgen_core::tensor_util::to_vec;

/// Bond classes of the state: none, single, double, triple (Kekulé; aromatic rings as
/// alternating single and double bonds).
pub const BOND_CLASSES: usize = 4;

/// Formal charges of the state's charge classes.
pub const CHARGES: [i8; 3] = [-1, 0, 1];

/// The `[joint]` table: the network of the joint model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointConfig {
    /// Equivariant blocks.
    pub layers: usize,
    /// Atom feature width.
    pub hidden: usize,
    /// Pair feature width.
    #[serde(default = "default_edge_hidden")]
    pub edge_hidden: usize,
    /// Bound of each coordinate message, `tanh(·)·coords_range` (EDM: 15).
    #[serde(default = "default_coords_range")]
    pub coords_range: f64,
    /// Added to |x_i − x_j| when normalising coordinate differences (EDM: 1).
    #[serde(default = "one")]
    pub norm_constant: f64,
    /// Divides the neighbour sums (EDM: 1).
    #[serde(default = "one")]
    pub normalization_factor: f64,
}

fn default_edge_hidden() -> usize {
    32
}

fn default_coords_range() -> f64 {
    15.0
}

fn one() -> f64 {
    1.0
}

/// What a joint state holds, from the data: the column layout of one atom row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JointShape {
    /// Atom types (the vocabulary's elements).
    pub types: usize,
    /// Bond groups per row: the most atoms a molecule of the model may have.
    pub max_atoms: usize,
    /// The network also reads its previous estimate (types, charges, bonds).
    pub self_conditioning: bool,
}

impl JointShape {
    /// Charge classes.
    pub const CHARGES: usize = CHARGES.len();

    /// First column of the type one-hot.
    pub fn type_offset(&self) -> usize {
        3
    }

    /// First column of the charge one-hot.
    pub fn charge_offset(&self) -> usize {
        3 + self.types
    }

    /// First column of the bond one-hots.
    pub fn bond_offset(&self) -> usize {
        3 + self.types + Self::CHARGES
    }

    /// Columns of one atom row.
    pub fn width(&self) -> usize {
        self.bond_offset() + self.max_atoms * BOND_CLASSES
    }
}

impl JointConfig {
    /// Checks the sizes; errors name the setting.
    pub fn validate(&self) -> Result<(), diffgen_core::CoreError> {
        use diffgen_core::CoreError;
        if self.layers == 0 || self.hidden == 0 || self.edge_hidden == 0 {
            return Err(CoreError::setting(
                "joint.layers/hidden/edge_hidden",
                "must be positive",
            ));
        }
        for (key, v) in [
            ("joint.coords_range", self.coords_range),
            ("joint.norm_constant", self.norm_constant),
            ("joint.normalization_factor", self.normalization_factor),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(CoreError::setting(key, "must be a positive number"));
            }
        }
        Ok(())
    }

    /// The network for states of `shape`.
    pub fn init(&self, shape: JointShape, device: &Device) -> EgnnDynamics {
        let (nf, ne) = (self.hidden, self.edge_hidden);
        let linear = |i: usize, o: usize| LinearConfig::new(i, o).init(device);
        let atom_classes = shape.types + JointShape::CHARGES;
        let copies = if shape.self_conditioning { 2 } else { 1 };
        let blocks = (0..self.layers)
            .map(|_| EquivariantBlock::new(nf, device))
            .collect();
        let per_layer = |i: usize, o: usize| (0..self.layers).map(|_| linear(i, o)).collect();
        EgnnDynamics {
            egnn: Egnn {
                // Types, charges (and their previous estimates) and t.
                embedding: linear(copies * atom_classes + 1, nf),
                e_blocks: blocks,
                embedding_out: linear(nf, atom_classes),
            },
            joint: Some(JointEdges {
                edge_in: linear(copies * BOND_CLASSES, ne),
                gate_pair: per_layer(ne, nf),
                coord_pair: per_layer(ne, nf),
                edge_from_atoms: per_layer(nf, ne),
                edge_from_edge: per_layer(ne, ne),
                edge_from_distance: per_layer(1, ne),
                bond_out: linear(ne, BOND_CLASSES),
                types: shape.types,
                max_atoms: shape.max_atoms,
                self_conditioning: shape.self_conditioning,
            }),
            coords_range: self.coords_range,
            norm_constant: self.norm_constant,
            normalization_factor: self.normalization_factor,
        }
    }
}

/// The edge stream of the joint model (absent in EDM's EGNN).
#[derive(Module, Debug)]
pub struct JointEdges {
    /// Bond one-hot (and its previous estimate) → pair features.
    pub edge_in: Linear,
    /// Per block: pair features → the invariant messages' per-pair input.
    pub gate_pair: Vec<Linear>,
    /// Per block: pair features → the coordinate update's per-pair input.
    pub coord_pair: Vec<Linear>,
    /// Per block: the update of pair features from the atoms' features (applied to i and j)…
    pub edge_from_atoms: Vec<Linear>,
    /// … from the pair features themselves …
    pub edge_from_edge: Vec<Linear>,
    /// … and from the squared distance.
    pub edge_from_distance: Vec<Linear>,
    /// Pair features → bond logits.
    pub bond_out: Linear,
    types: usize,
    max_atoms: usize,
    self_conditioning: bool,
}

impl JointEdges {
    /// The state's layout.
    pub fn shape(&self) -> JointShape {
        JointShape {
            types: self.types,
            max_atoms: self.max_atoms,
            self_conditioning: self.self_conditioning,
        }
    }
}

/// `[B, N, N_max·4]` → `[B, N, N, 4]`: a state's bond one-hots to the batch's atoms.
pub fn bond_block(bonds: Tensor<3>, max_atoms: usize) -> Tensor<4> {
    let [b, n, _] = bonds.dims();
    bonds
        .reshape([b, n, max_atoms, BOND_CLASSES])
        .narrow(2, 0, n)
}

/// `[B, N, N, 4]` → `[B, N, N_max·4]`, zero for the groups past the batch's atoms.
pub fn unblock_bonds(block: Tensor<4>, max_atoms: usize) -> Tensor<3> {
    let [b, n, _, k] = block.dims();
    let block = if max_atoms > n {
        let pad = Tensor::zeros([b, n, max_atoms - n, k], &block.device());
        Tensor::cat(vec![block, pad], 2)
    } else {
        block
    };
    block.reshape([b, n, max_atoms * k])
}

impl EgnnDynamics {
    /// The joint model's prediction for a state `[B, N, W]` at times `t` `[B]`: x̂_0 (centred)
    /// and the logits of types, charges and bonds, zero on padding. `previous` is the last
    /// estimate of the clean state (self-conditioning), or None.
    pub fn forward_joint(
        &self,
        state: Tensor<3>,
        t: Tensor<1>,
        masks: &GraphMasks,
        previous: Option<Tensor<3>>,
        path: EdgePath,
    ) -> Tensor<3> {
        let joint = self
            .joint
            .as_ref()
            .expect("forward_joint is called on joint models only");
        let shape = joint.shape();
        let [b, n, _] = state.dims();
        let node = masks.node.clone();
        let edge = masks.edge.clone();
        let path = match path {
            EdgePath::Fused => EdgePath::best_for(&state),
            EdgePath::Tensor => EdgePath::Tensor,
        };
        let state = state * node.clone();
        let atom_classes = shape.types + JointShape::CHARGES;
        let x = state.clone().narrow(2, 0, 3);
        let atoms = state.clone().narrow(2, 3, atom_classes); // [B, N, K_T + 3]
        let bonds = bond_block(
            state.narrow(2, shape.bond_offset(), shape.max_atoms * BOND_CLASSES),
            shape.max_atoms,
        ); // [B, N, N, 4]
        let time = t.reshape([b, 1, 1]).expand([b, n, 1]);
        let (atom_in, bond_in) = match (&previous, shape.self_conditioning) {
            (Some(p), true) => {
                let p = p.clone() * node.clone();
                let p_atoms = p.clone().narrow(2, 3, atom_classes);
                let p_bonds = bond_block(
                    p.narrow(2, shape.bond_offset(), shape.max_atoms * BOND_CLASSES),
                    shape.max_atoms,
                );
                (
                    Tensor::cat(vec![atoms, p_atoms, time], 2),
                    Tensor::cat(vec![bonds, p_bonds], 3),
                )
            }
            (None, true) => (
                Tensor::cat(vec![atoms.clone(), atoms.zeros_like(), time], 2),
                Tensor::cat(vec![bonds.clone(), bonds.zeros_like()], 3),
            ),
            (_, false) => (Tensor::cat(vec![atoms, time], 2), bonds),
        };

        let mut h = self.egnn.embedding.forward(atom_in) * node.clone(); // [B, N, H]
        let mut e = joint.edge_in.forward(bond_in) * edge.clone(); // [B, N, N, He]
        let mut x_cur = x.clone();
        let consts = (
            self.coords_range,
            self.norm_constant,
            self.normalization_factor,
        );
        let radial0 = coord2diff(x.clone(), self.norm_constant).0;
        let graph = match path {
            EdgePath::Fused => Some(masks.pairs.clone().unwrap_or_else(|| {
                Arc::new(PairGraph::from_node_mask(&to_vec(node.clone()), b, n))
            })),
            EdgePath::Tensor => None,
        };
        let x0_flat = x.clone().reshape([b * n, 3]);
        for (l, block) in self.egnn.e_blocks.iter().enumerate() {
            let pair = PairInput {
                features: &e,
                gate: &joint.gate_pair[l],
                coord: &joint.coord_pair[l],
            };
            (h, x_cur) = match &graph {
                Some(graph) => {
                    let pass = FusedPass {
                        x0: x0_flat.clone(),
                        masks,
                        graph,
                        consts,
                    };
                    block.forward_fused(h, x_cur, &pass, Some(pair))
                }
                None => block.forward(h, x_cur, radial0.clone(), masks, consts, Some(pair)),
            };
            // Pair features from the updated atoms and geometry.
            let he = joint.edge_from_atoms[l].forward(h.clone()); // [B, N, He]
            let width = he.dims()[2];
            let radial = coord2diff(x_cur.clone(), self.norm_constant).0; // [B, N, N, 1]
            let update = he.clone().reshape([b, n, 1, width])
                + he.reshape([b, 1, n, width])
                + joint.edge_from_edge[l].forward(e.clone())
                + joint.edge_from_distance[l].forward(radial);
            e = (e + silu(update)) * edge.clone();
        }
        let atom_logits = self.egnn.embedding_out.forward(h) * node.clone(); // [B, N, K_T + 3]
        let symmetric = (e.clone() + e.swap_dims(1, 2)).mul_scalar(0.5);
        let bond_logits = joint.bond_out.forward(symmetric) * edge; // [B, N, N, 4]
        let positions = remove_mean_with_mask(x_cur * node.clone(), node.clone());
        Tensor::cat(
            vec![
                positions,
                atom_logits,
                unblock_bonds(bond_logits, shape.max_atoms),
            ],
            2,
        ) * node
    }
}
