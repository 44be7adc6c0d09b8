//! The equivariant half of the Cα denoiser: residue features from distances only, and a
//! coordinate output built from the trace's own relative vectors.
//!
//! A network that reads absolute coordinates and writes them through a linear layer has to
//! learn rotations from data; measured on test chains (`examples/ca_denoise_check.rs`), such
//! a network left the consecutive-Cα spread of a trace noised to t = 0.05 where the noise put
//! it. Here every input is invariant and every output is a sum of vectors between residues,
//! so the network is E(3)-equivariant by construction, and moving residue i along its bond to
//! i + 1 is one gate away.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use diffgen_core::space::remove_mean_with_mask;
use diffgen_nn::softmax;

use super::chirality::bond_frame;
use super::features::project_pairs;
use serde::{Deserialize, Serialize};

/// How the Cα denoiser reads and writes coordinates (`[model] readout`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaReadout {
    /// Absolute coordinates in through a linear layer and out through another; trained with
    /// random rotations (the first design; `runs/protein-ca`).
    #[default]
    Absolute,
    /// Distances in, relative vectors out: E(3)-equivariant ([`CoordinateReadout`]), and so
    /// blind to handedness (`runs/protein-ca-equivariant`).
    Equivariant,
    /// As `equivariant`, plus the trace's handedness: Cα pseudo-dihedrals in, each residue's
    /// bond normal out (`chirality.rs`). SE(3)-equivariant.
    Chiral,
}

/// Sequence offsets whose distances describe a residue's local shape.
pub(crate) const LOCAL_OFFSETS: [i64; 6] = [-3, -2, -1, 1, 2, 3];

/// Per-residue invariant features of one trace from its masked radial basis `rbf`
/// `[B, L, L, K]` (zero for pairs with padding): the basis of the distances to the residues
/// 1–3 before and after it, and its neighbour histogram (the basis summed over all residues,
/// over 8) → `[B, L, 7·K]`.
pub fn local_features(rbf: Tensor<4>) -> Tensor<3> {
    let [b, l, _, k] = rbf.dims();
    let device = rbf.device();
    // Pair (i, i + o) sits at i·(L + 1) + o of the flattened pair axis: each offset is one
    // index-select of L − |o| rows, O(B·L·K), not a masked sum over all L² pairs.
    let pairs = rbf.clone().reshape([b, l * l, k]); // [B, L², K]
    let mut local = Vec::with_capacity(LOCAL_OFFSETS.len() + 1);
    for &offset in LOCAL_OFFSETS.iter() {
        let by = offset.unsigned_abs() as usize;
        if by >= l {
            local.push(Tensor::zeros([b, l, k], &device));
            continue;
        }
        // Residues i with a partner i + o inside the chain; the others read zero.
        let first = if offset > 0 { 0 } else { by };
        let index: Vec<i64> = (first..first + l - by)
            .map(|i| (i * (l + 1)) as i64 + offset)
            .collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [l - by]), &device);
        let partners = pairs.clone().select(1, index); // [B, L − |o|, K]
        let zeros = Tensor::zeros([b, by, k], &device);
        local.push(match offset > 0 {
            true => Tensor::cat(vec![partners, zeros], 1),
            false => Tensor::cat(vec![zeros, partners], 1),
        }); // [B, L, K]
    }
    let histogram = rbf.sum_dim(2).reshape([b, l, k]).div_scalar(8.0); // [B, L, K]
    local.push(histogram);
    Tensor::cat(local, 2) // [B, L, 7K]
}

/// Attention over residues whose weights average the trace's positions: head h moves residue
/// i toward (or, with a negative gate, away from) its weighted mean of the others, and one
/// more gate scales i's own position about the centre of mass.
#[derive(Module, Debug)]
pub struct CoordinateReadout {
    query: Linear,
    key: Linear,
    gates: Linear,
    /// Per-head bias of the sequence offset j − i, so that a head can single out i ± 1.
    relative_bias: Embedding,
    /// Chiral readout: gates on each residue's two bonds and their normal.
    frame_gates: Option<Linear>,
    /// Radial field: per head, a function of distance (in the radial basis) along each
    /// pair's line, so a head can hold a partner at a set distance (a β-ladder's 4.4–5.5 Å).
    radial: Option<Linear>,
    heads: usize,
}

/// What the radial field reads: the noisy trace's inverse pairwise distances and their basis.
pub struct RadialInputs {
    /// `[B, 2K, L, L]` the pair features, channel first: the first K are the radial basis
    /// of |x_i − x_j|.
    pub basis: Tensor<4>,
    /// `[B, L, L]` 1/|x_i − x_j| (1/nm), zero on the diagonal.
    pub inverse_distance: Tensor<3>,
}

impl CoordinateReadout {
    /// A readout with `heads` heads over features of width `hidden`, offsets clipped to
    /// ±`max_relative`; `chiral`: with gates on the bond frame; `radial`: with a radial field
    /// over that many basis functions.
    pub fn new(
        hidden: usize,
        heads: usize,
        max_relative: usize,
        chiral: bool,
        radial: Option<usize>,
        device: &Device,
    ) -> Self {
        let zero_gates = |n: usize| {
            LinearConfig::new(hidden, n)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        Self {
            query: LinearConfig::new(hidden, hidden).init(device),
            key: LinearConfig::new(hidden, hidden).init(device),
            // Zero gates: the first estimate is the trace itself, right near the data.
            gates: zero_gates(heads + 1),
            relative_bias: EmbeddingConfig::new(2 * max_relative + 1, heads).init(device),
            frame_gates: chiral.then(|| zero_gates(3)),
            // Zero: a network started from one without the field (`train --init`) begins as
            // that network.
            radial: radial.map(|k| {
                LinearConfig::new(k, heads)
                    .with_bias(false)
                    .with_initializer(Initializer::Zeros)
                    .init(device)
            }),
            heads,
        }
    }

    /// Whether it has the radial field (and so needs [`RadialInputs`]).
    pub fn has_radial_field(&self) -> bool {
        self.radial.is_some()
    }

    /// Whether it sees handedness (and so its network reads the pseudo-dihedrals).
    pub fn is_chiral(&self) -> bool {
        self.frame_gates.is_some()
    }

    /// `h` `[B, L, H]` features, `x` `[B, L, 3]` the trace, `bias` `[B, heads, L, L]` from its
    /// distances, `relative` `[1, L·L]` clipped offsets, `key_mask` `[B, L]` (0 real, −1e4
    /// padding), `mask` `[B, L]`, `radial` the radial field's inputs (when it has one) → a
    /// vector field `[B, L, 3]` with zero mean over real residues, zero on padding.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        h: Tensor<3>,
        x: Tensor<3>,
        bias: Tensor<4>,
        relative: Tensor<2, Int>,
        key_mask: Tensor<2>,
        mask: Tensor<2>,
        radial: Option<RadialInputs>,
    ) -> Tensor<3> {
        let [b, l, hidden] = h.dims();
        let heads = self.heads;
        let dh = hidden / heads;
        let split = |t: Tensor<3>| t.reshape([b, l, heads, dh]).swap_dims(1, 2); // [B, h, L, dh]
        let q = split(self.query.forward(h.clone()));
        let k = split(self.key.forward(h.clone()));
        let offsets = self
            .relative_bias
            .forward(relative)
            .reshape([l, l, heads])
            .permute([2, 0, 1])
            .unsqueeze_dim::<4>(0); // [1, h, L, L]
        let logits = q.matmul(k.swap_dims(2, 3)).div_scalar((dh as f64).sqrt())
            + bias
            + offsets
            + key_mask.reshape([b, 1, 1, l]); // [B, h, L, L]
        let weights = softmax(logits, 3);
        let radial_field = match (&self.radial, radial) {
            (Some(layer), Some(inputs)) => Some(radial_field(layer, &weights, &x, inputs)),
            _ => None,
        };
        let positions = x.clone().unsqueeze_dim::<4>(1).expand([b, heads, l, 3]);
        let toward = weights.matmul(positions) - x.clone().unsqueeze_dim::<4>(1); // [B, h, L, 3]
        let gates = self.gates.forward(h.clone()); // [B, L, 1 + h]
        let scale = gates.clone().narrow(2, 0, 1); // [B, L, 1]
        let per_head = gates
            .narrow(2, 1, heads)
            .swap_dims(1, 2)
            .unsqueeze_dim::<4>(3); // [B, h, L, 1]
        let mut field = (toward * per_head).sum_dim(1).reshape([b, l, 3]) + x.clone() * scale;
        if let Some(radial) = radial_field {
            field = field + radial;
        }
        if let Some(frame_gates) = &self.frame_gates {
            let gates = frame_gates.forward(h); // [B, L, 3]
            for (k, direction) in bond_frame(x, mask.clone()).into_iter().enumerate() {
                field = field + direction * gates.clone().narrow(2, k, 1);
            }
        }
        let mask = mask.unsqueeze_dim(2); // [B, L, 1]
        remove_mean_with_mask(field * mask.clone(), mask)
    }
}

/// Σ_h Σ_j w_hij ψ_h(d_ij) (x_i − x_j)/d_ij with ψ_h = `layer` over the radial basis and w
/// the attention weights `[B, h, L, L]`, as x_i Σ_j M_ij − Σ_j M_ij x_j with M the pairs'
/// coefficients over their distances, the diagonal left out → `[B, L, 3]`.
fn radial_field(
    layer: &Linear,
    weights: &Tensor<4>,
    x: &Tensor<3>,
    inputs: RadialInputs,
) -> Tensor<3> {
    let [b, l, _] = x.dims();
    let heads = layer.weight.dims()[1];
    let psi = project_pairs(layer, &inputs.basis, 0..heads); // [B, h, L, L]
    let coefficients = (weights.clone() * psi).sum_dim(1).reshape([b, l, l]); // [B, L, L]
    let m = coefficients * inputs.inverse_distance; // [B, L, L]
    x.clone() * m.clone().sum_dim(2) - m.matmul(x.clone()) // [B, L, 3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::model::{CaDenoiser, CaDenoiserConfig};
    use burn::module::{ModuleMapper, Param};
    use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
    use diffgen_core::{Objective, SeededRng};

    /// Every parameter redrawn N(0, 0.3²), so that no zero-initialised gate hides a path.
    struct Randomise(SeededRng);

    impl ModuleMapper for Randomise {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let rng = &mut self.0;
            param.map(|p| {
                let dims = p.dims();
                let n: usize = dims.iter().product();
                let values: Vec<f32> = rng.normal_vec(n).iter().map(|v| 0.3 * v).collect();
                tensor_from_vec(values, dims, &p.device())
            })
        }
    }

    /// A small network; `pairs`: with ladder features and a pair track too.
    fn config(readout: &str, pairs: bool) -> CaDenoiserConfig {
        let extra = match pairs {
            true => "ladder_features = true\npair_track = { channels = 8 }",
            false => "",
        };
        diffgen_core::config::parse_toml(
            &format!(
                r#"
                hidden = 32
                layers = 2
                heads = 4
                feed_forward = 64
                rbf = 16
                readout = "{readout}"
                radial_field = true
                {extra}
                "#
            ),
            std::path::Path::new("test.toml"),
        )
        .unwrap()
    }

    /// Each residue's local block holds exactly the pair entries (i, i + o), zero where
    /// i + o leaves the chain, and its last block the pair sum over 8.
    #[test]
    fn local_features_pick_each_residues_sequence_neighbours() {
        let (b, l, k) = (2, 5, 3);
        let mut rng = SeededRng::new(3);
        let rbf = rng.normal_vec(b * l * l * k);
        let device = Device::default();
        let features = to_vec(local_features(tensor_from_vec(
            rbf.clone(),
            [b, l, l, k],
            &device,
        )));
        let width = (LOCAL_OFFSETS.len() + 1) * k;
        for s in 0..b {
            for i in 0..l {
                let row = &features[(s * l + i) * width..(s * l + i + 1) * width];
                for (n, &o) in LOCAL_OFFSETS.iter().enumerate() {
                    let j = i as i64 + o;
                    for c in 0..k {
                        let expected = match (0..l as i64).contains(&j) {
                            true => rbf[((s * l + i) * l + j as usize) * k + c],
                            false => 0.0,
                        };
                        assert_eq!(
                            row[n * k + c],
                            expected,
                            "sample {s}, residue {i}, offset {o}"
                        );
                    }
                }
                for c in 0..k {
                    let sum: f32 = (0..l).map(|j| rbf[((s * l + i) * l + j) * k + c]).sum();
                    let got = row[LOCAL_OFFSETS.len() * k + c];
                    assert!(
                        (got - sum / 8.0).abs() < 1e-5,
                        "histogram {got} vs {}",
                        sum / 8.0
                    );
                }
            }
        }
    }

    /// The rotation followed by a mirror through the xz-plane.
    fn improper() -> [[f32; 3]; 3] {
        let mut r = rotation();
        r[1] = r[1].map(|v| -v);
        r
    }

    /// A rotation about a tilted axis.
    fn rotation() -> [[f32; 3]; 3] {
        let (a, b) = (0.7f32, -1.1f32);
        let rz = [
            [a.cos(), -a.sin(), 0.0],
            [a.sin(), a.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ];
        let rx = [
            [1.0, 0.0, 0.0],
            [0.0, b.cos(), -b.sin()],
            [0.0, b.sin(), b.cos()],
        ];
        let mut r = [[0f32; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                r[i][j] = (0..3).map(|k| rz[i][k] * rx[k][j]).sum();
            }
        }
        r
    }

    fn rotate(values: &[f32], r: &[[f32; 3]; 3]) -> Vec<f32> {
        values
            .chunks(3)
            .flat_map(|p| (0..3).map(move |i| (0..3).map(|k| r[i][k] * p[k]).sum::<f32>()))
            .collect()
    }

    /// The largest difference between the output for the transformed trace and the
    /// transformed output.
    fn transform_error(
        model: &CaDenoiser,
        x: &Tensor<3>,
        mask: &Tensor<2>,
        r: &[[f32; 3]; 3],
    ) -> f32 {
        let device = x.device();
        let t = Tensor::<1>::from_floats([0.3, 0.7], &device);
        let moved =
            |v: &Tensor<3>| tensor_from_vec(rotate(&to_vec(v.clone()), r), v.dims(), &device);
        let out = model.forward(
            x.clone(),
            t.clone(),
            mask.clone(),
            None,
            Some(x.clone().mul_scalar(0.9)),
        );
        let x_moved = moved(x);
        let out_moved = model.forward(
            x_moved.clone(),
            t,
            mask.clone(),
            None,
            Some(x_moved.mul_scalar(0.9)),
        );
        to_vec(out_moved)
            .iter()
            .zip(&to_vec(moved(&out)))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    /// The ladder projection and the pair track start at zero, so that a run started from
    /// weights without them begins as that network; once they are not zero, they count.
    #[test]
    fn ladders_and_the_pair_track_start_silent_and_then_change_the_output() {
        let device = Device::flex();
        let lengths = [6usize, 4];
        let mut rng = SeededRng::new(8);
        let values: Vec<f32> = rng.normal_vec(2 * 6 * 3).iter().map(|v| 0.4 * v).collect();
        let x = tensor_from_vec(values, [2, 6, 3], &device);
        let mask = crate::space::ProteinContext::new(&lengths, &device).mask;
        let t = Tensor::<1>::from_floats([0.2, 0.6], &device);
        let run = |model: &CaDenoiser| {
            let estimate = Some(x.clone().mul_scalar(0.9));
            to_vec(model.forward(x.clone(), t.clone(), mask.clone(), None, estimate))
        };
        let largest_gap = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max)
        };
        let fresh = config("chiral", true)
            .init(Objective::Sample, &device)
            .map(&mut Randomise(SeededRng::new(5)));
        // Randomised: every part counts.
        let plain = fresh.clone().without_pair_extras();
        let gap = largest_gap(&run(&fresh), &run(&plain));
        assert!(gap > 1e-3, "the extras change nothing: {gap}");
        // Freshly initialised: the extras' outputs are zero.
        let fresh = config("chiral", true).init(Objective::Sample, &device);
        let plain = fresh.clone().without_pair_extras();
        let gap = largest_gap(&run(&fresh), &run(&plain));
        assert!(gap < 1e-6, "a fresh start differs: {gap}");
    }

    #[test]
    fn the_readouts_rotate_with_the_trace_and_only_the_chiral_one_sees_mirror_images() {
        let device = Device::flex();
        let lengths = [7usize, 5];
        let l = 7;
        let mut rng = SeededRng::new(3);
        let mut values = vec![0f32; 2 * l * 3];
        for (r, &n) in lengths.iter().enumerate() {
            for k in 0..n {
                for c in 0..3 {
                    values[(r * l + k) * 3 + c] = (0.4 * rng.normal()) as f32;
                }
            }
        }
        let context = crate::space::ProteinContext::new(&lengths, &device);
        let mask = context.mask.clone();
        let m = mask.clone().unsqueeze_dim(2);
        let x = remove_mean_with_mask(tensor_from_vec(values, [2, l, 3], &device) * m.clone(), m);
        let t = Tensor::<1>::from_floats([0.3, 0.7], &device);
        let designs = [("equivariant", false), ("chiral", false), ("chiral", true)];
        for (readout, pairs) in designs {
            for objective in [Objective::Sample, Objective::FlowVelocity] {
                let model = config(readout, pairs)
                    .init(objective, &device)
                    .map(&mut Randomise(SeededRng::new(5)));
                let what = format!("{readout}, pair track {pairs}, {objective:?}");
                let out = model.forward(
                    x.clone(),
                    t.clone(),
                    mask.clone(),
                    None,
                    Some(x.clone().mul_scalar(0.9)),
                );
                let moved = to_vec(out.clone() - x.clone());
                assert!(
                    moved.iter().any(|v| v.abs() > 1e-3),
                    "{what}: a trivial field"
                );
                let rotation_error = transform_error(&model, &x, &mask, &rotation());
                assert!(
                    rotation_error < 1e-4,
                    "{what}: rotation error {rotation_error}"
                );
                let mirror_error = transform_error(&model, &x, &mask, &improper());
                match readout {
                    "chiral" => assert!(mirror_error > 1e-2, "{what}: blind to handedness"),
                    _ => assert!(mirror_error < 1e-4, "{what}: mirror error {mirror_error}"),
                }
                // Zero centre of mass over real residues; padding zero.
                let values = to_vec(out);
                for (r, &n) in lengths.iter().enumerate() {
                    for c in 0..3 {
                        let sum: f32 = (0..n).map(|k| values[(r * l + k) * 3 + c]).sum();
                        assert!(sum.abs() < 1e-4, "{what}: centre {sum}");
                        for k in n..l {
                            assert_eq!(values[(r * l + k) * 3 + c], 0.0);
                        }
                    }
                }
            }
        }
    }
}
