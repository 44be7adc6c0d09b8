//! The EGNN dynamics of EDM (Hoogeboom et al. 2022), layer for layer.
//!
//! Field names mirror EDM's `state_dict` (`embedding`, `e_block_{l}.gcl_0.edge_mlp.{0,2}`, …)
//! so its weights import by renaming (`import`). One change of algebra, not of function:
//! the first linear layer of each edge MLP acts on `[h_i, h_j, e_ij]`; it is evaluated as
//! `W_i·h_i + W_j·h_j + W_e·e_ij` — two per-node products broadcast over pairs — instead of
//! materialising the `[B, N, N, 2H+2]` concatenation.
//!
//! On Flex (the CPU backend) the edge work of each layer — second edge layer, gate or
//! coordinate head, mask and neighbour sum — runs as one fused kernel over the real pairs
//! only ([`pair_kernel`], registered with burn in [`fused`]); elsewhere it runs as tensor ops
//! over the padded `N×N` grid. Both compute the same function for EDM's masks (tests compare
//! them): the fused kernel takes its pairs from the node mask (all ordered pairs i ≠ j of
//! real atoms), which is what EDM's edge mask says.

pub mod fused;
pub mod pair_kernel;

use std::sync::Arc;

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::{sigmoid, silu};
use burn::tensor::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use diffgen_core::tensor_util::to_vec;
use diffgen_nn::cpu::takes_fused_path;
use pair_kernel::{Head, PairGraph};

/// The `[model]` table: the size and constants of EDM's EGNN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgnnConfig {
    /// Equivariant blocks (EDM QM9: 9).
    pub layers: usize,
    /// Hidden width (EDM QM9: 256).
    pub hidden: usize,
    /// Bound of each coordinate message, `tanh(·)·coords_range` (EDM: 15, in every block).
    #[serde(default = "default_coords_range")]
    pub coords_range: f64,
    /// Added to |x_i − x_j| when normalising coordinate differences (EDM: 1).
    #[serde(default = "one")]
    pub norm_constant: f64,
    /// Divides the neighbour sums (EDM: 1).
    #[serde(default = "one")]
    pub normalization_factor: f64,
}

fn default_coords_range() -> f64 {
    15.0
}

fn one() -> f64 {
    1.0
}

impl EgnnConfig {
    /// `features`: node feature channels besides the 3 coordinates (QM9: 5 one-hot + 1 charge).
    pub fn init(&self, features: usize, device: &Device) -> EgnnDynamics {
        let nf = self.hidden;
        let linear = |i: usize, o: usize| LinearConfig::new(i, o).init(device);
        let blocks = (0..self.layers)
            .map(|_| EquivariantBlock::new(nf, device))
            .collect();
        EgnnDynamics {
            egnn: Egnn {
                embedding: linear(features + 1, nf),
                e_blocks: blocks,
                embedding_out: linear(nf, features + 1),
            },
            joint: None,
            coords_range: self.coords_range,
            norm_constant: self.norm_constant,
            normalization_factor: self.normalization_factor,
        }
    }
}

/// EDM's `EGNN_dynamics_QM9`: the ε-network on `xh = [x (3), h (features)]`; with `joint`,
/// the joint model's x̂_0-network on a product state (`crate::joint`).
#[derive(Module, Debug)]
pub struct EgnnDynamics {
    /// The network proper (EDM's `dynamics.egnn`).
    pub egnn: Egnn,
    /// The joint model's edge stream; `None` for EDM's EGNN (whose checkpoints hold no such
    /// weights).
    pub joint: Option<crate::joint::JointEdges>,
    pub(crate) coords_range: f64,
    pub(crate) norm_constant: f64,
    pub(crate) normalization_factor: f64,
}

/// EDM's `EGNN`: node features and time embedded into H channels, the equivariant blocks,
/// and the features read back out.
#[derive(Module, Debug)]
pub struct Egnn {
    /// `F + 1 → H`: the node features and the time.
    pub embedding: Linear,
    /// The blocks, EDM's `e_block_{l}`.
    pub e_blocks: Vec<EquivariantBlock>,
    /// `H → F + 1`: back to the features (the time channel is then dropped).
    pub embedding_out: Linear,
}

/// One of EDM's `EquivariantBlock`s: invariant message passing, then a coordinate update.
#[derive(Module, Debug)]
pub struct EquivariantBlock {
    /// The invariant messages, which update h.
    pub gcl_0: Gcl,
    /// The coordinate update, which moves x.
    pub gcl_equiv: EquivariantUpdate,
}

/// Invariant message passing with a gated (sigmoid) attention and a residual node update.
#[derive(Module, Debug)]
pub struct Gcl {
    /// `2H + 2 → H` on `[h_i, h_j, r_ij, d_ij]`: squared distances now and at the input.
    pub edge_mlp_0: Linear,
    /// `H → H`: the message.
    pub edge_mlp_2: Linear,
    /// `2H → H` on `[h_i, Σ_j messages]`.
    pub node_mlp_0: Linear,
    /// `H → H`: the residual update of h.
    pub node_mlp_2: Linear,
    /// `H → 1`: the logit of each message's sigmoid gate.
    pub att_mlp_0: Linear,
}

/// The equivariant coordinate update.
#[derive(Module, Debug)]
pub struct EquivariantUpdate {
    /// `2H + 2 → H` on `[h_i, h_j, r_ij, d_ij]`.
    pub coord_mlp_0: Linear,
    /// `H → H`.
    pub coord_mlp_2: Linear,
    /// `H → 1`, no bias: the per-pair scalar, bounded as `tanh(·)·coords_range`.
    pub coord_mlp_4: Linear,
}

/// Masks of a padded batch.
#[derive(Debug, Clone)]
pub struct GraphMasks {
    /// `[B, N, 1]`: 1 for real atoms.
    pub node: Tensor<3>,
    /// `[B, N, N, 1]`: `node_i · node_j · (i ≠ j)`.
    pub edge: Tensor<4>,
    /// The fused kernel's pair lists, built once per batch where the atom counts are known
    /// (a sampler reuses them at every step); `None`: read from `node` at each call.
    pub pairs: Option<Arc<PairGraph>>,
}

/// Subtracts the per-molecule mean over real atoms (the core's, for every point cloud).
pub use diffgen_core::space::remove_mean_with_mask;

/// `W·[h_i, h_j, e_ij] + b` of a `2H + 2 → H` layer, without the concatenation.
fn pair_input(layer: &Linear, h: Tensor<3>, radial: Tensor<4>, radial0: Tensor<4>) -> Tensor<4> {
    let [b, n, nf] = h.dims();
    let weight = layer.weight.val(); // [2H + 2, out] (burn's row layout)
    let out = weight.dims()[1];
    let w_i = weight.clone().narrow(0, 0, nf);
    let w_j = weight.clone().narrow(0, nf, nf);
    let w_r = weight.clone().narrow(0, 2 * nf, 1).reshape([1, 1, 1, out]);
    let w_r0 = weight.narrow(0, 2 * nf + 1, 1).reshape([1, 1, 1, out]);
    let flat = h.reshape([b * n, nf]);
    let from_i = flat.clone().matmul(w_i).reshape([b, n, 1, out]);
    let from_j = flat.matmul(w_j).reshape([b, 1, n, out]);
    let mut pre = from_i + from_j + radial * w_r + radial0 * w_r0; // [B, N, N, out]
    if let Some(bias) = &layer.bias {
        pre = pre + bias.val().reshape([1, 1, 1, out]);
    }
    pre
}

/// `|x_i − x_j|²` `[B, N, N, 1]` and `(x_i − x_j)/(|x_i − x_j| + c)` `[B, N, N, 3]`.
pub fn coord2diff(x: Tensor<3>, norm_constant: f64) -> (Tensor<4>, Tensor<4>) {
    let diff = x.clone().unsqueeze_dim::<4>(2) - x.unsqueeze_dim::<4>(1); // [B, N, N, 3]
    let radial = diff.clone().square().sum_dim(3); // [B, N, N, 1]
    let norm = radial
        .clone()
        .add_scalar(1e-8)
        .sqrt()
        .add_scalar(norm_constant);
    (radial, diff / norm)
}

/// Which implementation runs the edge work of every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgePath {
    /// Tensor ops over the padded `N×N` grid: every backend.
    Tensor,
    /// The fused pair kernel over real pairs: Flex devices only.
    Fused,
}

impl EdgePath {
    /// The fused kernel where it applies to `xh` (Flex, f32), else the tensor path.
    pub fn best_for(xh: &Tensor<3>) -> Self {
        Self::best_on(&xh.device(), xh.dtype())
    }

    /// The fused kernel where it applies to tensors of `dtype` on `device` (Flex, f32), else
    /// the tensor path.
    pub fn best_on(device: &Device, dtype: DType) -> Self {
        match takes_fused_path(device, dtype) {
            true => EdgePath::Fused,
            false => EdgePath::Tensor,
        }
    }
}

/// The ten tensors of [`fused::pair_messages`] for a `2H + 2 → H → H` edge MLP and its head.
fn pair_tensors(
    first: &Linear,
    second: &Linear,
    head_w: Tensor<2>,
    head_b: Tensor<2>,
    h: Tensor<2>,
    x: Tensor<2>,
    x0: Tensor<2>,
) -> [Tensor<2>; 10] {
    let nf = h.dims()[1];
    let weight = first.weight.val(); // [2H + 2, H]
    let out = weight.dims()[1];
    let mut p = h.clone().matmul(weight.clone().narrow(0, 0, nf)); // [rows, H]
    if let Some(bias) = &first.bias {
        p = p + bias.val().reshape([1, out]);
    }
    let q = h.matmul(weight.clone().narrow(0, nf, nf));
    let w_r = weight.clone().narrow(0, 2 * nf, 1);
    let w_d = weight.narrow(0, 2 * nf + 1, 1);
    let b2 = match &second.bias {
        Some(bias) => bias.val().reshape([1, out]),
        None => Tensor::zeros([1, out], &x.device()),
    };
    [
        p,
        q,
        x,
        x0,
        w_r,
        w_d,
        second.weight.val(),
        b2,
        head_w,
        head_b,
    ]
}

/// A model's pair features `[B, N, N, F]` and the two projections that add them to the
/// first layer of a block's edge MLPs. EDM's EGNN has none. The fused path projects inside
/// the kernel, on real pairs only; the tensor path projects the padded grid.
#[derive(Debug, Clone, Copy)]
pub struct PairInput<'a> {
    /// `[B, N, N, F]`.
    pub features: &'a Tensor<4>,
    /// Into the invariant messages.
    pub gate: &'a Linear,
    /// Into the coordinate update.
    pub coord: &'a Linear,
}

/// What every block of a fused forward pass shares: the network's input coordinates
/// `x0` `[B·N, 3]`, the masks, the pair lists and the constants
/// `(coords_range, norm_constant, normalization_factor)`.
pub struct FusedPass<'a> {
    /// `[B·N, 3]`: the network's input coordinates.
    pub x0: Tensor<2>,
    /// The batch's masks.
    pub masks: &'a GraphMasks,
    /// The batch's real pairs.
    pub graph: &'a Arc<PairGraph>,
    /// `(coords_range, norm_constant, normalization_factor)`.
    pub consts: (f64, f64, f64),
}

impl EquivariantBlock {
    /// A block of width `nf`, initialised as EDM does (the joint model's blocks too).
    pub fn new(nf: usize, device: &Device) -> Self {
        let linear = |i: usize, o: usize| LinearConfig::new(i, o).init(device);
        EquivariantBlock {
            gcl_0: Gcl {
                edge_mlp_0: linear(2 * nf + 2, nf),
                edge_mlp_2: linear(nf, nf),
                node_mlp_0: linear(2 * nf, nf),
                node_mlp_2: linear(nf, nf),
                att_mlp_0: linear(nf, 1),
            },
            gcl_equiv: EquivariantUpdate {
                coord_mlp_0: linear(2 * nf + 2, nf),
                coord_mlp_2: linear(nf, nf),
                // EDM: xavier_uniform with gain 0.001, so coordinates start nearly still.
                coord_mlp_4: LinearConfig::new(nf, 1)
                    .with_bias(false)
                    .with_initializer(Initializer::XavierUniform { gain: 0.001 })
                    .init(device),
            },
        }
    }

    /// The block with its edge work in the fused kernel.
    pub fn forward_fused(
        &self,
        h: Tensor<3>,
        x: Tensor<3>,
        pass: &FusedPass<'_>,
        pair: Option<PairInput<'_>>,
    ) -> (Tensor<3>, Tensor<3>) {
        let (masks, graph, x0) = (pass.masks, pass.graph, pass.x0.clone());
        let (coords_range, norm_constant, normalization_factor) = pass.consts;
        let [b, n, nf] = h.dims();
        let x_flat = x.clone().reshape([b * n, 3]);
        let spec = |head| fused::PairSpec {
            graph: graph.clone(),
            head,
            normalization: normalization_factor as f32,
            pair: false,
        };
        let features = pair.map(|p| {
            let width = p.features.dims()[3];
            p.features.clone().reshape([b * n * n, width])
        });
        let call = |mut inputs: [Tensor<2>; 10], projection: Option<&Linear>, head| {
            match (projection, &features) {
                (Some(projection), Some(features)) => {
                    // The projection's bias joins the per-node product p (every pair has it).
                    if let Some(bias) = &projection.bias {
                        let width = bias.dims()[0];
                        inputs[0] = inputs[0].clone() + bias.val().reshape([1, width]);
                    }
                    fused::pair_messages_with_features(
                        inputs,
                        features.clone(),
                        projection.weight.val(),
                        spec(head),
                    )
                }
                _ => fused::pair_messages(inputs, spec(head)),
            }
        };

        // Invariant messages.
        let g = &self.gcl_0;
        let att_b = match &g.att_mlp_0.bias {
            Some(bias) => bias.val().reshape([1, 1]),
            None => Tensor::zeros([1, 1], &h.device()),
        };
        let inputs = pair_tensors(
            &g.edge_mlp_0,
            &g.edge_mlp_2,
            g.att_mlp_0.weight.val(),
            att_b,
            h.clone().reshape([b * n, nf]),
            x_flat.clone(),
            x0.clone(),
        );
        let agg = call(inputs, pair.map(|p| p.gate), Head::Gate).reshape([b, n, nf]);
        let update = g.node_mlp_2.forward(silu(
            g.node_mlp_0.forward(Tensor::cat(vec![h.clone(), agg], 2)),
        ));
        let h = (h + update) * masks.node.clone();

        // Equivariant coordinate update.
        let c = &self.gcl_equiv;
        let inputs = pair_tensors(
            &c.coord_mlp_0,
            &c.coord_mlp_2,
            c.coord_mlp_4.weight.val(),
            Tensor::zeros([1, 1], &h.device()),
            h.clone().reshape([b * n, nf]),
            x_flat,
            x0,
        );
        let head = Head::Displacement {
            coords_range: coords_range as f32,
            norm_constant: norm_constant as f32,
        };
        let trans = call(inputs, pair.map(|p| p.coord), head).reshape([b, n, 3]);
        let x = (x + trans) * masks.node.clone();
        let h = h * masks.node.clone();
        (h, x)
    }

    /// The block over the padded `N×N` grid (every backend).
    pub fn forward(
        &self,
        h: Tensor<3>,
        x: Tensor<3>,
        radial0: Tensor<4>,
        masks: &GraphMasks,
        consts: (f64, f64, f64),
        pair: Option<PairInput<'_>>,
    ) -> (Tensor<3>, Tensor<3>) {
        let (coords_range, norm_constant, normalization_factor) = consts;
        let [b, n, nf] = h.dims();
        let (radial, diff) = coord2diff(x.clone(), norm_constant);

        // Invariant messages.
        let g = &self.gcl_0;
        let mut pre = pair_input(&g.edge_mlp_0, h.clone(), radial.clone(), radial0.clone());
        if let Some(pair) = pair {
            pre = pre + pair.gate.forward(pair.features.clone());
        }
        let m = silu(pre);
        let m = silu(g.edge_mlp_2.forward(m)); // [B, N, N, H]
        let gate = sigmoid(g.att_mlp_0.forward(m.clone())); // [B, N, N, 1]
        let m = m * gate * masks.edge.clone();
        let agg = m
            .sum_dim(2)
            .reshape([b, n, nf])
            .div_scalar(normalization_factor);
        let update = g.node_mlp_2.forward(silu(
            g.node_mlp_0.forward(Tensor::cat(vec![h.clone(), agg], 2)),
        ));
        let h = (h + update) * masks.node.clone();

        // Equivariant coordinate update, from the updated h and the block's input geometry.
        let c = &self.gcl_equiv;
        let mut pre = pair_input(&c.coord_mlp_0, h.clone(), radial, radial0);
        if let Some(pair) = pair {
            pre = pre + pair.coord.forward(pair.features.clone());
        }
        let phi = silu(pre);
        let phi = c.coord_mlp_4.forward(silu(c.coord_mlp_2.forward(phi))); // [B, N, N, 1]
        let trans = diff * phi.tanh().mul_scalar(coords_range) * masks.edge.clone(); // [B, N, N, 3]
        let x = (x + trans
            .sum_dim(2)
            .reshape([b, n, 3])
            .div_scalar(normalization_factor))
            * masks.node.clone();
        let h = h * masks.node.clone();
        (h, x)
    }
}

impl EgnnDynamics {
    /// Whether padded atoms cost no edge work on `device`: the fused kernel visits real
    /// pairs only, so sampling can fill whole batches whatever their sizes.
    pub fn padding_is_free(&self, device: &Device) -> bool {
        // Sampling draws its inputs in the device's default float type.
        let dtype = device.settings().float_dtype.into();
        EdgePath::best_on(device, dtype) == EdgePath::Fused
    }

    /// `xh` `[B, N, 3 + F]`, `t` `[B]` in [0, 1] → `[ε̂_x (3, centred), ε̂_h (F)]`, zero on
    /// padding.
    ///
    /// The edge work runs in the fused kernel on Flex devices (see [`EdgePath`]).
    pub fn forward(&self, xh: Tensor<3>, t: Tensor<1>, masks: &GraphMasks) -> Tensor<3> {
        let path = EdgePath::best_for(&xh);
        self.forward_with(xh, t, masks, path)
    }

    /// [`forward`](Self::forward) with the edge implementation chosen by the caller; `Fused`
    /// falls back to `Tensor` where the kernel does not apply (see [`EdgePath::best_for`]).
    pub fn forward_with(
        &self,
        xh: Tensor<3>,
        t: Tensor<1>,
        masks: &GraphMasks,
        path: EdgePath,
    ) -> Tensor<3> {
        let [b, n, channels] = xh.dims();
        let features = channels - 3;
        let path = match path {
            EdgePath::Fused => EdgePath::best_for(&xh),
            EdgePath::Tensor => EdgePath::Tensor,
        };
        let xh = xh * masks.node.clone();
        let x = xh.clone().narrow(2, 0, 3);
        // Time is appended as one more feature, on padding rows too (as EDM does).
        let time = t.reshape([b, 1, 1]).expand([b, n, 1]);
        let h = Tensor::cat(vec![xh.narrow(2, 3, features), time], 2); // [B, N, F + 1]

        let mut h = self.egnn.embedding.forward(h); // [B, N, H]
        let mut x_cur = x.clone();
        let consts = (
            self.coords_range,
            self.norm_constant,
            self.normalization_factor,
        );
        match path {
            EdgePath::Tensor => {
                let radial0 = coord2diff(x.clone(), self.norm_constant).0;
                for block in &self.egnn.e_blocks {
                    (h, x_cur) = block.forward(h, x_cur, radial0.clone(), masks, consts, None);
                }
            }
            EdgePath::Fused => {
                let graph = masks.pairs.clone().unwrap_or_else(|| {
                    Arc::new(PairGraph::from_node_mask(&to_vec(masks.node.clone()), b, n))
                });
                let pass = FusedPass {
                    x0: x.clone().reshape([b * n, 3]),
                    masks,
                    graph: &graph,
                    consts,
                };
                for block in &self.egnn.e_blocks {
                    (h, x_cur) = block.forward_fused(h, x_cur, &pass, None);
                }
            }
        }
        let h = self.egnn.embedding_out.forward(h) * masks.node.clone(); // [B, N, F + 1]

        let velocity = (x_cur - x) * masks.node.clone();
        let velocity = remove_mean_with_mask(velocity, masks.node.clone());
        Tensor::cat(vec![velocity, h.narrow(2, 0, features)], 2)
    }
}
