//! The network's distance inputs: the Gaussian radial basis of every pairwise distance of
//! the noisy trace and of the previous estimate (the attention biases read it) and each
//! residue's local features (the readouts read them). Neither trace carries a gradient (x_t
//! is data plus noise, the estimate is detached), so on the CPU they are computed on the host
//! in one pass over the pairs: as tensor operations the same figures took about ten passes
//! over `[B, L, L, K]` and a concatenation, and `exp` of the far tails on its slow path.
//! Other backends (a GPU) keep the tensor formulation, which a test holds the two to.

use std::ops::Range;

use burn::nn::Linear;
use burn::tensor::{Int, Tensor, TensorData};
use diffgen_core::tensor_util::to_vec;
use diffgen_nn::cpu::{dot, exp, takes_fused_path};
use diffgen_nn::with_best_isa;
use rayon::prelude::*;

use super::readout::{local_features, LOCAL_OFFSETS};

/// What [`distance_features`] returns.
pub struct DistanceFeatures {
    /// `[B, 2K, L, L]`, channel first: the basis of |x_i − x_j| (first K) and of the
    /// estimate's (last K), padding included (the attention's key mask hides it). Channel
    /// first, because each projection of it ([`project_pairs`]) is then one matrix product.
    pub pair: Tensor<4>,
    /// `[B, L, 14K]`: for x, then for the estimate, the basis of the distances to the
    /// residues i − 3 … i + 3 (zero where there is none) and the neighbour histogram (the
    /// basis summed over the chain's residues, over 8); what
    /// [`local_features`](super::readout::local_features) gives for each trace.
    pub local: Tensor<3>,
    /// `[B, L, L]`: 1/|x_i − x_j| (1/nm), zero on the diagonal, for the readout's radial
    /// field (when asked for): it divides by distances and leaves each residue's own pair out.
    pub inverse_distance: Option<Tensor<3>>,
    /// `[B, 4K, L, L]` (when asked for): the basis of each pair's distances averaged along
    /// the chain in both directions — over (i + s, j − s), an antiparallel ladder, then over
    /// (i + s, j + s), a parallel one, s = −2 … 2 within the chain — for x, then for the
    /// estimate; pairs with padding included (the attention's key mask hides them). A β-ladder is a run of such pairs at 4.5–5.5 Å; one noisy distance hides
    /// it, five averaged along the run show it (`[model] ladder_features`).
    pub ladders: Option<Tensor<4>>,
}

/// Residues on each side of a pair that its ladder features average over.
const LADDER_REACH: usize = 2;

/// What [`distance_features`] computes.
#[derive(Debug, Clone, Copy)]
pub struct FeatureSpec {
    /// Gaussians per distance, centred on 0 … `farthest` nm.
    pub centres: usize,
    /// The farthest centre (nm).
    pub farthest: f64,
    /// Also return the noisy trace's inverse distances.
    pub distances: bool,
    /// Also return the ladder features.
    pub ladders: bool,
}

/// The radial-basis features of `x` and `previous` (`[B, L, 3]`, nm), `mask` `[B, L]`: on
/// the host on the CPU, as tensor operations elsewhere.
pub fn distance_features(
    x: &Tensor<3>,
    previous: &Tensor<3>,
    mask: &Tensor<2>,
    spec: FeatureSpec,
) -> DistanceFeatures {
    if takes_fused_path(&x.device(), x.dtype()) {
        host_features(x, previous, mask, spec)
    } else {
        tensor_features(x, previous, mask, spec)
    }
}

/// The tensor formulation: the basis of each trace, masked for the local features.
pub fn tensor_features(
    x: &Tensor<3>,
    previous: &Tensor<3>,
    mask: &Tensor<2>,
    spec: FeatureSpec,
) -> DistanceFeatures {
    let distance = pairwise_distances(x.clone()); // [B, L, L]
    let rbf_x = radial_basis_tensor(distance.clone(), spec);
    let previous_distance = pairwise_distances(previous.clone()); // [B, L, L]
    let rbf_p = radial_basis_tensor(previous_distance.clone(), spec);
    let pairs =
        (mask.clone().unsqueeze_dim::<3>(2) * mask.clone().unsqueeze_dim(1)).unsqueeze_dim::<4>(3); // [B, L, L, 1]
    let local = Tensor::cat(
        vec![
            local_features(rbf_x.clone() * pairs.clone()),
            local_features(rbf_p.clone() * pairs.clone()),
        ],
        2,
    ); // [B, L, 14K]
    let ladders = spec.ladders.then(|| {
        let pairs = pairs.squeeze_dim::<3>(3); // [B, L, L]
        Tensor::cat(
            vec![
                ladder_basis_tensor(distance.clone(), pairs.clone(), spec),
                ladder_basis_tensor(previous_distance, pairs, spec),
            ],
            1,
        ) // [B, 4K, L, L]
    });
    DistanceFeatures {
        ladders,
        pair: Tensor::cat(vec![rbf_x, rbf_p], 3).permute([0, 3, 1, 2]),
        local,
        inverse_distance: spec.distances.then(|| {
            let l = distance.dims()[1];
            let device = distance.device();
            let off_diagonal = Tensor::<2>::ones([l, l], &device) - Tensor::<2>::eye(l, &device);
            distance.recip() * off_diagonal.unsqueeze_dim::<3>(0)
        }),
    }
}

/// `layer`'s output columns `columns` applied to every pair's features `pair`
/// `[B, C', L, L]` (channel first; the layer reads the first C ≤ C' channels) →
/// `[B, columns.len(), L, L]`. One matrix product, W_colsᵀ `[n, C]` · `[B, C, L·L]`, per call:
/// projecting every set of biases at once and cutting each block's heads out of the result
/// made burn's backward build a whole-sized zero gradient per cut, and the projection of
/// `[B, L, L, C]` rows needed a permute after it; together 104 against 58 ms per train step's
/// forward and backward at batch 32 × 128 (`examples/pair_bias_bench.rs`).
pub fn project_pairs(layer: &Linear, pair: &Tensor<4>, columns: Range<usize>) -> Tensor<4> {
    let [b, channels, l, _] = pair.dims();
    let n = columns.len();
    let weight = layer.weight.val(); // [C, S]
    let c = weight.dims()[0];
    let mut weight = weight.narrow(1, columns.start, n).transpose(); // [n, C]
    if c < channels {
        // Zero weights for the channels the layer does not read: cutting those channels out
        // of the features instead would copy them, element by element.
        let rest = Tensor::zeros([n, channels - c], &weight.device());
        weight = Tensor::cat(vec![weight, rest], 1); // [n, channels]
    }
    let features = pair.clone().reshape([b, channels, l * l]); // [B, channels, L·L]
    let out = weight
        .unsqueeze::<3>()
        .matmul(features)
        .reshape([b, n, l, l]); // [B, n, L, L]
    match &layer.bias {
        Some(bias) => out + bias.val().narrow(0, columns.start, n).reshape([1, n, 1, 1]),
        None => out,
    }
}

/// `[B, L, 3]` → `[B, L, L]`: √(|x_i − x_j|² + 10⁻⁸).
fn pairwise_distances(x: Tensor<3>) -> Tensor<3> {
    let [b, l, _] = x.dims();
    let diff = x.clone().unsqueeze_dim::<4>(2) - x.unsqueeze_dim::<4>(1); // [B, L, L, 3]
    diff.powi_scalar(2)
        .sum_dim(3)
        .add_scalar(1e-8)
        .sqrt()
        .reshape([b, l, l])
}

/// `[B, L, L]` distances and pair mask → `[B, 2K, L, L]`: the basis of the distances
/// averaged along the antiparallel, then the parallel diagonal through each pair.
fn ladder_basis_tensor(distance: Tensor<3>, pairs: Tensor<3>, spec: FeatureSpec) -> Tensor<4> {
    let [b, l, _] = distance.dims();
    let r = LADDER_REACH;
    let device = distance.device();
    // Zero margins of `r` on both residue axes, so that every shifted window exists.
    let pad = |t: Tensor<3>| {
        let rows = Tensor::zeros([b, r, l], &device);
        let t = Tensor::cat(vec![rows.clone(), t, rows], 1); // [B, L + 2r, L]
        let columns = Tensor::zeros([b, l + 2 * r, r], &device);
        Tensor::cat(vec![columns.clone(), t, columns], 2) // [B, L + 2r, L + 2r]
    };
    let weighted = pad(distance * pairs.clone());
    let weights = pad(pairs);
    let window = |t: &Tensor<3>, rows: usize, columns: usize| {
        t.clone().narrow(1, rows, l).narrow(2, columns, l)
    };
    let planes = [true, false].map(|antiparallel| {
        let mut sum = Tensor::<3>::zeros([b, l, l], &device);
        let mut count = Tensor::<3>::zeros([b, l, l], &device);
        for s in 0..=2 * r {
            // Row i + s − r, column j ∓ (s − r), in the padded frame.
            let column = if antiparallel { 2 * r - s } else { s };
            sum = sum + window(&weighted, s, column);
            count = count + window(&weights, s, column);
        }
        let mean = sum / count.clamp_min(1.0);
        radial_basis_tensor(mean, spec).permute([0, 3, 1, 2]) // [B, K, L, L]
    });
    Tensor::cat(planes.to_vec(), 1)
}

/// `[B, L, L]` distances → `[B, L, L, K]` Gaussians.
fn radial_basis_tensor(distance: Tensor<3>, spec: FeatureSpec) -> Tensor<4> {
    let [b, l, _] = distance.dims();
    let k = spec.centres;
    let step = spec.farthest / (k - 1) as f64;
    let mu = Tensor::<1, Int>::arange(0..k as i64, &distance.device())
        .float()
        .mul_scalar(step)
        .reshape([1, 1, 1, k]);
    let z = (distance.unsqueeze_dim::<4>(3).expand([b, l, l, k]) - mu).div_scalar(step);
    z.powi_scalar(2).neg().exp()
}

/// The host pass.
fn host_features(
    x: &Tensor<3>,
    previous: &Tensor<3>,
    mask: &Tensor<2>,
    spec: FeatureSpec,
) -> DistanceFeatures {
    let [b, l, _] = x.dims();
    let device = x.device();
    let k = spec.centres;
    let step = (spec.farthest / (k - 1) as f64) as f32;
    let traces = [to_vec(x.clone()), to_vec(previous.clone())];
    let mask = to_vec(mask.clone());
    let local_width = (LOCAL_OFFSETS.len() + 1) * k;
    let mut pair = vec![0f32; b * l * l * 2 * k];
    let mut local = vec![0f32; b * l * 2 * local_width];
    let mut distance = vec![0f32; b * l * l];
    let ladder_planes = 4 * k;
    // One unused value per chain without them, so that every chain still gets a chunk.
    let ladder_chunk = if spec.ladders {
        l * l * ladder_planes
    } else {
        1
    };
    let mut ladders = vec![0f32; b * ladder_chunk];
    if b * l > 0 {
        pair.par_chunks_mut(l * l * 2 * k)
            .zip(local.par_chunks_mut(l * 2 * local_width))
            .zip(distance.par_chunks_mut(l * l))
            .zip(ladders.par_chunks_mut(ladder_chunk))
            .enumerate()
            .for_each(|(item, (((pair, local), distance), ladders))| {
                let mask = &mask[item * l..(item + 1) * l];
                for (t, trace) in traces.iter().enumerate() {
                    let coords = &trace[item * l * 3..(item + 1) * l * 3];
                    let distance_matrix = chain_distances(coords, l);
                    let slots = Slots {
                        pair,
                        pair_offset: t * k,
                        local,
                        local_offset: t * local_width,
                        inverse_distance: (t == 0).then_some(&mut *distance),
                    };
                    let basis = Basis { centres: k, step };
                    with_best_isa!(chain_features(&distance_matrix, mask, basis, slots));
                    if spec.ladders {
                        let planes = &mut ladders[t * 2 * k * l * l..(t + 1) * 2 * k * l * l];
                        with_best_isa!(ladder_features(&distance_matrix, mask, basis, planes));
                    }
                }
            });
    }
    DistanceFeatures {
        pair: Tensor::from_data(TensorData::new(pair, [b, 2 * k, l, l]), &device),
        local: Tensor::from_data(TensorData::new(local, [b, l, 2 * local_width]), &device),
        inverse_distance: spec
            .distances
            .then(|| Tensor::from_data(TensorData::new(distance, [b, l, l]), &device)),
        ladders: spec.ladders.then(|| {
            Tensor::from_data(TensorData::new(ladders, [b, ladder_planes, l, l]), &device)
        }),
    }
}

/// Gaussians exp(−((d − μ_c)/Δ)²) with μ_c = c·Δ.
#[derive(Clone, Copy)]
struct Basis {
    centres: usize,
    step: f32,
}

/// Where one trace's figures go in one chain's rows.
struct Slots<'a> {
    /// `[2K, L, L]`; this trace's K planes start at `pair_offset`.
    pair: &'a mut [f32],
    pair_offset: usize,
    /// `[L, 14K]`; this trace's 7K start at `local_offset`.
    local: &'a mut [f32],
    local_offset: usize,
    /// `[L, L]` inverse distances (zero on the diagonal), for one of the traces.
    inverse_distance: Option<&'a mut [f32]>,
}

/// Centre `c`'s Gaussians exp(−(z − c)²) of a row of distances `z` (in units of the
/// centres' spacing), with the vectorisable `exp`.
#[inline(always)]
fn basis_row(plane: &mut [f32], z: &[f32], c: usize) {
    let centre = c as f32;
    for (v, &z) in plane.iter_mut().zip(z) {
        let u = z - centre;
        *v = exp(-u * u);
    }
}

/// One chain's distances `[L, L]` for one trace (`coords` `[L, 3]`), in the tensor
/// formulation's order: squares summed, then ε, then the root.
fn chain_distances(coords: &[f32], l: usize) -> Vec<f32> {
    let mut distance = vec![0f32; l * l];
    for i in 0..l {
        let p = &coords[i * 3..i * 3 + 3];
        for (j, d) in distance[i * l..(i + 1) * l].iter_mut().enumerate() {
            let q = &coords[j * 3..j * 3 + 3];
            let (dx, dy, dz) = (p[0] - q[0], p[1] - q[1], p[2] - q[2]);
            *d = (dx * dx + dy * dy + dz * dz + 1e-8).sqrt();
        }
    }
    distance
}

/// One chain's pairs for one trace (`distance` `[L, L]`, `mask` `[L]`), a row at a time:
/// each centre's Gaussians along that row of the centre's plane, with the vectorisable
/// `exp` — contiguous stores, a lane per pair. (Each unordered pair once, by a recurrence
/// over the centres, wrote half its values down columns and vectorised nothing.)
#[inline(always)]
fn chain_features(distance: &[f32], mask: &[f32], basis: Basis, mut slots: Slots<'_>) {
    let l = mask.len();
    let k = basis.centres;
    let local_width = slots.local.len() / l.max(1);
    let histogram = LOCAL_OFFSETS.len() * k;
    let mut z = vec![0f32; l];
    for i in 0..l {
        z.copy_from_slice(&distance[i * l..(i + 1) * l]);
        if let Some(inverse) = slots.inverse_distance.as_deref_mut() {
            for (j, (v, &d)) in inverse[i * l..(i + 1) * l].iter_mut().zip(&z).enumerate() {
                *v = if i == j { 0.0 } else { 1.0 / d };
            }
        }
        for z in z.iter_mut() {
            *z /= basis.step;
        }
        let row = i * local_width + slots.local_offset;
        for c in 0..k {
            let start = (slots.pair_offset + c) * l * l + i * l;
            let plane = &mut slots.pair[start..start + l];
            basis_row(plane, &z, c);
            if mask[i] == 0.0 {
                continue;
            }
            slots.local[row + histogram + c] = dot(plane, mask) * mask[i] / 8.0;
            for (slot, &offset) in LOCAL_OFFSETS.iter().enumerate() {
                let j = i as i64 + offset;
                if (0..l as i64).contains(&j) {
                    let j = j as usize;
                    slots.local[row + slot * k + c] = plane[j] * mask[i] * mask[j];
                }
            }
        }
    }
}

/// One chain's ladder planes for one trace (`distance` `[L, L]`; `planes` `[2K, L, L]`:
/// antiparallel, then parallel): each pair's distance averaged over the pairs (i + s, j ∓ s),
/// |s| ≤ 2, whose residues are both in the chain, then the basis of it, a row at a time.
/// Sums run in the tensor formulation's order (s ascending; absent terms add zero).
#[inline(always)]
fn ladder_features(distance: &[f32], mask: &[f32], basis: Basis, planes: &mut [f32]) {
    let l = mask.len();
    let k = basis.centres;
    let reach = LADDER_REACH as i64;
    let inside = |a: i64| (0..l as i64).contains(&a).then_some(a as usize);
    let mut z = vec![0f32; l];
    for (direction, sign) in [-1i64, 1].into_iter().enumerate() {
        for i in 0..l {
            for (j, z) in z.iter_mut().enumerate() {
                let (mut sum, mut count) = (0f32, 0f32);
                for s in -reach..=reach {
                    if let (Some(a), Some(c)) = (inside(i as i64 + s), inside(j as i64 + sign * s))
                    {
                        let w = mask[a] * mask[c];
                        sum += w * distance[a * l + c];
                        count += w;
                    }
                }
                *z = sum / count.max(1.0) / basis.step;
            }
            for c in 0..k {
                let start = (direction * k + c) * l * l + i * l;
                basis_row(&mut planes[start..start + l], &z, c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use diffgen_core::tensor_util::tensor_from_vec;
    use diffgen_core::SeededRng;

    use crate::space::ProteinContext;

    /// A hairpin: two straight strands, 0.33 nm per residue, 0.48 nm apart, antiparallel.
    /// Along a paired pair's antiparallel diagonal every distance is 0.48 nm, so its ladder
    /// planes hold the basis of 0.48 exactly; along the parallel one they are the mean of
    /// distances that grow away from the pair.
    #[test]
    fn ladder_features_average_along_the_antiparallel_and_parallel_diagonals() {
        let device = Device::flex();
        let (n, rise, gap) = (12usize, 0.33f32, 0.48f32);
        let l = 2 * n;
        let position = |k: usize| match k < n {
            true => [k as f32 * rise, 0.0, 0.0],
            false => [(2 * n - 1 - k) as f32 * rise, gap, 0.0],
        };
        let coords: Vec<f32> = (0..l).flat_map(position).collect();
        let x = tensor_from_vec(coords, [1, l, 3], &device);
        let mask = ProteinContext::new(&[l], &device).mask;
        let spec = FeatureSpec {
            centres: 16,
            farthest: 2.0,
            distances: false,
            ladders: true,
        };
        let planes = to_vec(host_features(&x, &x, &mask, spec).ladders.unwrap()); // [1, 4K, L, L]
        let step = 2.0 / 15.0;
        let basis = |d: f32, c: usize| (-((d / step - c as f32).powi(2))).exp();
        let distance = |a: usize, b: usize| {
            let (p, q) = (position(a), position(b));
            ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
        };
        for i in 2..n - 2 {
            let j = 2 * n - 1 - i; // i's partner
            let parallel = (0..5).map(|s| distance(i + s - 2, j + s - 2)).sum::<f32>() / 5.0;
            assert!(parallel > gap + 0.1, "{parallel}");
            for c in 0..16 {
                let at = |plane: usize| planes[(plane * 16 + c) * l * l + i * l + j];
                assert!((at(0) - basis(gap, c)).abs() < 1e-5, "antiparallel {i} {c}");
                assert!(
                    (at(1) - basis(parallel, c)).abs() < 1e-5,
                    "parallel {i} {c}"
                );
            }
        }
    }

    #[test]
    fn the_host_pass_gives_the_tensor_formulations_figures() {
        let device = Device::flex();
        let lengths = [9usize, 5, 1];
        let l = 9;
        let mut rng = SeededRng::new(11);
        let mut trace = || {
            let mut values = vec![0f32; 3 * l * 3];
            for (row, &n) in lengths.iter().enumerate() {
                for v in &mut values[row * l * 3..(row * l + n) * 3] {
                    *v = (0.5 * rng.normal()) as f32;
                }
            }
            tensor_from_vec(values, [3, l, 3], &device)
        };
        let (x, previous) = (trace(), trace());
        let mask = ProteinContext::new(&lengths, &device).mask;
        let spec = FeatureSpec {
            centres: 16,
            farthest: 2.0,
            distances: true,
            ladders: true,
        };
        let ours = host_features(&x, &previous, &mask, spec);
        let theirs = tensor_features(&x, &previous, &mask, spec);
        for (what, a, b) in [
            ("pair", to_vec(ours.pair), to_vec(theirs.pair)),
            ("local", to_vec(ours.local), to_vec(theirs.local)),
            (
                "inverse distance",
                to_vec(ours.inverse_distance.unwrap()),
                to_vec(theirs.inverse_distance.unwrap()),
            ),
            (
                "ladders",
                to_vec(ours.ladders.unwrap()),
                to_vec(theirs.ladders.unwrap()),
            ),
        ] {
            assert_eq!(a.len(), b.len(), "{what}");
            // Relative where values exceed 1: padding's inverse distances reach 10⁴.
            let worst = a
                .iter()
                .zip(&b)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "{what}: {worst}");
            assert!(b.iter().any(|v| *v > 0.1), "{what}: a trivial case");
        }
    }
}
