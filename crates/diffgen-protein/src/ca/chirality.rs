//! The trace's handedness, for the chiral readout.
//!
//! Distances and sums of relative vectors are blind to mirror images: a network built from
//! them alone (E(3)-equivariant) cannot tell a right-handed α-helix from a left-handed one,
//! so its best estimate of a noisy helix averages the two. Proteins are chiral. The chiral
//! readout adds two things that change sign under a reflection but not under a rotation: the
//! Cα pseudo-dihedral angles around each residue (in), and the normal of its two bonds (out).
//! The network is then SE(3)-equivariant, as FrameDiff's and Genie's are.

use burn::tensor::Tensor;

/// Windows of four consecutive residues around residue i, by their first residue's offset:
/// each holds i, and together they see i − 3 … i + 3.
const DIHEDRAL_WINDOWS: [i64; 4] = [-3, -2, -1, 0];

/// Features per trace from [`dihedral_features`].
pub const DIHEDRAL_FEATURES: usize = 3 * DIHEDRAL_WINDOWS.len();

/// `x` moved along the chain: `out[:, i] = x[:, i + offset]`, zero past either end.
fn shift(x: Tensor<3>, offset: i64) -> Tensor<3> {
    let [b, l, c] = x.dims();
    let device = x.device();
    let by = offset.unsigned_abs() as usize;
    if by == 0 {
        return x;
    }
    if by >= l {
        return Tensor::zeros([b, l, c], &device);
    }
    let zeros = Tensor::zeros([b, by, c], &device);
    match offset > 0 {
        true => Tensor::cat(vec![x.narrow(1, by, l - by), zeros], 1),
        false => Tensor::cat(vec![zeros, x.narrow(1, 0, l - by)], 1),
    }
}

/// Row-wise cross product of `[B, L, 3]` tensors.
fn cross(a: Tensor<3>, b: Tensor<3>) -> Tensor<3> {
    let c = |t: &Tensor<3>, k: usize| t.clone().narrow(2, k, 1);
    Tensor::cat(
        vec![
            c(&a, 1) * c(&b, 2) - c(&a, 2) * c(&b, 1),
            c(&a, 2) * c(&b, 0) - c(&a, 0) * c(&b, 2),
            c(&a, 0) * c(&b, 1) - c(&a, 1) * c(&b, 0),
        ],
        2,
    )
}

fn dot(a: Tensor<3>, b: Tensor<3>) -> Tensor<3> {
    (a * b).sum_dim(2)
}

/// For each residue, the pseudo-dihedral of every window of four consecutive residues that
/// holds it, as (cos φ, sin φ, present): `x` `[B, L, 3]` a trace, `mask` `[B, L]` →
/// `[B, L, 12]`, zero for windows that leave the chain.
pub fn dihedral_features(x: Tensor<3>, mask: Tensor<2>) -> Tensor<3> {
    let mask = mask.unsqueeze_dim::<3>(2); // [B, L, 1]
    let mut features = Vec::with_capacity(DIHEDRAL_FEATURES);
    for start in DIHEDRAL_WINDOWS {
        let p: Vec<Tensor<3>> = (0..4).map(|k| shift(x.clone(), start + k)).collect();
        let present = (0..4)
            .map(|k| shift(mask.clone(), start + k))
            .reduce(|a, b| a * b)
            .expect("four residues"); // [B, L, 1]
        let b1 = p[1].clone() - p[0].clone();
        let b2 = p[2].clone() - p[1].clone();
        let b3 = p[3].clone() - p[2].clone();
        let n2 = cross(b2.clone(), b3);
        // φ = atan2(|b2| b1·(b2 × b3), (b1 × b2)·(b2 × b3)), read as a unit vector.
        let along = dot(cross(b1.clone(), b2.clone()), n2.clone());
        let across = dot(b2.clone(), b2).sqrt() * dot(b1, n2);
        let radius = (along.clone().powi_scalar(2) + across.clone().powi_scalar(2))
            .add_scalar(1e-12)
            .sqrt();
        features.push(along / radius.clone() * present.clone());
        features.push(across / radius * present.clone());
        features.push(present);
    }
    Tensor::cat(features, 2) // [B, L, 12]
}

/// Each residue's bonds and their normal: `(x_{i+1} − x_i, x_{i−1} − x_i, n̂)` with
/// n̂ = the first × the second over the product of their lengths (|n̂| = sin of the angle
/// between them); zero where a neighbour is missing. `x` `[B, L, 3]`, `mask` `[B, L]`.
pub fn bond_frame(x: Tensor<3>, mask: Tensor<2>) -> [Tensor<3>; 3] {
    let mask = mask.unsqueeze_dim::<3>(2); // [B, L, 1]
    let bond = |offset: i64| {
        let present = shift(mask.clone(), offset) * mask.clone();
        (shift(x.clone(), offset) - x.clone()) * present
    };
    let (next, previous) = (bond(1), bond(-1));
    let length = |v: &Tensor<3>| dot(v.clone(), v.clone()).sqrt();
    let scale = length(&next) * length(&previous);
    let normal = cross(next.clone(), previous.clone()) / scale.add_scalar(1e-6);
    [next, previous, normal]
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use diffgen_core::tensor_util::{tensor_from_vec, to_vec};

    /// An ideal right-handed α-helix's Cα trace (radius 2.3 Å, rise 1.5 Å, 100° per residue).
    fn helix(n: usize, handedness: f32) -> Vec<f32> {
        (0..n)
            .flat_map(|i| {
                let a = (100f32).to_radians() * i as f32 * handedness;
                [0.23 * a.cos(), 0.23 * a.sin(), 0.15 * i as f32]
            })
            .collect()
    }

    #[test]
    fn a_helix_and_its_mirror_image_have_opposite_dihedrals() {
        let device = Device::flex();
        let n = 8;
        let mask = Tensor::<2>::ones([1, n], &device);
        let features = |v: Vec<f32>| {
            to_vec(dihedral_features(
                tensor_from_vec(v, [1, n, 3], &device),
                mask.clone(),
            ))
        };
        let right = features(helix(n, 1.0));
        let left = features(helix(n, -1.0));
        // Residue 4's window starting at itself: the α-helix's Cα dihedral is about +50°.
        let at = |f: &[f32], residue: usize, window: usize| {
            let o = residue * DIHEDRAL_FEATURES + 3 * window;
            (f[o], f[o + 1], f[o + 2])
        };
        let (cos, sin, present) = at(&right, 4, 3);
        let phi = sin.atan2(cos).to_degrees();
        assert!((40.0..60.0).contains(&phi), "right-handed: {phi}°");
        assert_eq!(present, 1.0);
        let (cos_l, sin_l, _) = at(&left, 4, 3);
        assert!((cos - cos_l).abs() < 1e-5 && (sin + sin_l).abs() < 1e-5);
        // Residue 0 has no window starting three residues before it.
        assert_eq!(at(&right, 0, 0), (0.0, 0.0, 0.0));
        assert_eq!(at(&right, 0, 3).2, 1.0);
    }

    #[test]
    fn the_bond_normal_flips_with_a_mirror_image_and_vanishes_at_the_ends() {
        let device = Device::flex();
        let n = 5;
        let mask = Tensor::<2>::ones([1, n], &device);
        let normal = |v: Vec<f32>| {
            let [_, _, normal] = bond_frame(tensor_from_vec(v, [1, n, 3], &device), mask.clone());
            to_vec(normal)
        };
        let right = normal(helix(n, 1.0));
        let left = normal(helix(n, -1.0));
        // Mirror through the xz-plane: y flips; a pseudo-vector flips the other two.
        for i in 1..n - 1 {
            let (r, l) = (&right[3 * i..3 * i + 3], &left[3 * i..3 * i + 3]);
            assert!((r[0] + l[0]).abs() < 1e-5 && (r[1] - l[1]).abs() < 1e-5);
            assert!((r[2] + l[2]).abs() < 1e-5);
            assert!(r.iter().map(|v| v * v).sum::<f32>() > 0.1);
        }
        assert!(right[..3]
            .iter()
            .chain(&right[3 * (n - 1)..])
            .all(|v| *v == 0.0));
    }
}
