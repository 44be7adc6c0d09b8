//! The joint network: the fused kernel with per-pair inputs computes what the tensor
//! formulation computes (values and gradients), and the network is E(3)-equivariant in its
//! coordinates, invariant in its logits, and permutation-equivariant with its pair features.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Tensor};
use diffgen_core::rng::SeededRng;
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::NoiseSpace;
use diffgen_molecule::egnn::{EdgePath, EgnnDynamics};
use diffgen_molecule::joint::{JointConfig, JointShape, BOND_CLASSES};
use diffgen_molecule::space::{MolContext, MoleculeSpace};

const SHAPE: JointShape = JointShape {
    types: 5,
    max_atoms: 12,
    self_conditioning: false,
};

/// A joint network whose near-zero heads are woken up, so that coordinates move.
fn model(shape: JointShape, device: &Device) -> EgnnDynamics {
    let config = JointConfig {
        layers: 2,
        hidden: 32,
        edge_hidden: 8,
        coords_range: 15.0,
        norm_constant: 0.5,
        normalization_factor: 3.0,
    };
    struct Wake;
    impl ModuleMapper for Wake {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            p.map(|t| {
                let dims = t.dims();
                if D == 2 && dims[1] == 1 {
                    let s = 0.5 / (dims[0] as f64).sqrt();
                    let woken = (t.clone() + t.random_like(Distribution::Normal(0.0, s))).detach();
                    if woken.device().is_autodiff() {
                        woken.require_grad()
                    } else {
                        woken
                    }
                } else {
                    t
                }
            })
        }
    }
    diffgen_core::rng::init_seeded(device, 5, || config.init(shape, device).map(&mut Wake))
}

/// A random joint state of molecules of `counts` atoms: positions, one-hot types, charges
/// and symmetric bonds, projected into the space.
fn state(counts: &[usize], seed: u64, device: &Device) -> (Tensor<3>, MolContext) {
    let context = MolContext::new(counts, device);
    let n = context.max_atoms();
    let w = SHAPE.width();
    let mut rng = SeededRng::new(seed);
    let mut values = vec![0f32; counts.len() * n * w];
    for (m, &count) in counts.iter().enumerate() {
        for i in 0..count {
            let row = &mut values[(m * n + i) * w..][..w];
            for v in &mut row[..3] {
                *v = (1.5 * rng.normal()) as f32;
            }
            row[3 + rng.int_inclusive(0, SHAPE.types - 1)] = 1.0;
            row[SHAPE.charge_offset() + rng.int_inclusive(0, 2)] = 1.0;
            for j in 0..count {
                row[SHAPE.bond_offset() + j * BOND_CLASSES + rng.int_inclusive(0, 3)] = 1.0;
            }
        }
    }
    let space = MoleculeSpace { joint: Some(SHAPE) };
    let x = tensor_from_vec(values, [counts.len(), n, w], device);
    (space.project(x, &context), context)
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / scale
}

const COUNTS: [usize; 5] = [4, 1, 12, 7, 9];

#[test]
fn the_projected_state_has_symmetric_bonds_between_real_atoms_only() {
    let device = Device::flex();
    let (x, _) = state(&COUNTS, 1, &device);
    let v = to_vec(x);
    let (n, w) = (12, SHAPE.width());
    for (m, &count) in COUNTS.iter().enumerate() {
        for i in 0..n {
            for j in 0..SHAPE.max_atoms {
                let at = (m * n + i) * w + SHAPE.bond_offset() + j * BOND_CLASSES;
                let here = &v[at..at + BOND_CLASSES];
                let sum: f32 = here.iter().sum();
                let real_pair = i < count && j < count && i != j;
                assert_eq!(
                    sum,
                    if real_pair { 1.0 } else { 0.0 },
                    "molecule {m}, pair ({i}, {j})"
                );
                if real_pair {
                    let back = (m * n + j) * w + SHAPE.bond_offset() + i * BOND_CLASSES;
                    assert_eq!(
                        here,
                        &v[back..back + BOND_CLASSES],
                        "({i}, {j}) vs ({j}, {i})"
                    );
                }
            }
        }
    }
}

#[test]
fn fused_and_tensor_paths_agree_with_pair_inputs() {
    let device = Device::flex();
    let m = model(SHAPE, &device);
    let (x, ctx) = state(&COUNTS, 2, &device);
    let t = Tensor::<1>::from_floats([0.1, 0.5, 0.9, 0.3, 0.7], &device);
    let fused = to_vec(m.forward_joint(x.clone(), t.clone(), &ctx.masks, None, EdgePath::Fused));
    let tensor = to_vec(m.forward_joint(x, t, &ctx.masks, None, EdgePath::Tensor));
    let diff = max_rel_diff(&fused, &tensor);
    assert!(diff < 1e-4, "relative difference {diff}");
    assert!(tensor.iter().any(|v| v.abs() > 1e-2));
}

fn param_grads(m: &EgnnDynamics, grads: &burn::tensor::Gradients) -> Vec<Vec<f32>> {
    struct Collect<'a> {
        grads: &'a burn::tensor::Gradients,
        out: Vec<Vec<f32>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.out
                .push(p.val().grad(self.grads).map(to_vec).unwrap_or_default());
        }
    }
    let mut c = Collect {
        grads,
        out: Vec::new(),
    };
    m.visit(&mut c);
    c.out
}

#[test]
fn fused_and_tensor_gradients_agree_with_pair_inputs() {
    gradients_agree(&COUNTS);
    // Over 512 pairs: the kernel cuts the batch into several chunks, whose projection
    // gradients it sums, and trailing one-atom molecules leave a chunk with no pair.
    gradients_agree(&[12, 12, 12, 12, 12, 12, 1]);
    gradients_agree(&[12, 12, 12, 12, 1, 1]);
}

fn gradients_agree(counts: &[usize]) {
    let device = Device::flex().autodiff();
    let m = model(SHAPE, &device);
    let (x, ctx) = state(counts, 3, &device);
    let times: Vec<f32> = (0..counts.len()).map(|k| 0.15 + 0.1 * k as f32).collect();
    let t = Tensor::<1>::from_floats(times.as_slice(), &device);
    let weights = Tensor::<3>::random(x.dims(), Distribution::Normal(0.0, 1.0), &device);
    let mut results = Vec::new();
    for path in [EdgePath::Fused, EdgePath::Tensor] {
        let input = x.clone().detach().require_grad();
        let out = m.forward_joint(input.clone(), t.clone(), &ctx.masks, None, path);
        let grads = (out * weights.clone()).sum().backward();
        let input_grad = to_vec(input.grad(&grads).expect("input gradient"));
        results.push((param_grads(&m, &grads), input_grad));
    }
    let (fused, tensor) = (&results[0], &results[1]);
    for (i, (a, b)) in fused.0.iter().zip(&tensor.0).enumerate() {
        assert!(
            !a.is_empty() && !b.is_empty(),
            "parameter {i} has no gradient"
        );
        let diff = max_rel_diff(a, b);
        assert!(
            diff < 2e-3,
            "parameter {i}: relative gradient difference {diff}"
        );
    }
    let diff = max_rel_diff(&fused.1, &tensor.1);
    assert!(diff < 2e-3, "input gradient: relative difference {diff}");
}

/// Applies `rotation` (3×3, row-major; a reflection when det = −1) and `shift` to the
/// positions of a state.
fn transform(x: &Tensor<3>, rotation: [f32; 9], shift: [f32; 3]) -> Tensor<3> {
    let [b, n, w] = x.dims();
    let mut v = to_vec(x.clone());
    for row in v.chunks_mut(w) {
        let p = [row[0], row[1], row[2]];
        for k in 0..3 {
            row[k] = rotation[3 * k] * p[0]
                + rotation[3 * k + 1] * p[1]
                + rotation[3 * k + 2] * p[2]
                + shift[k];
        }
    }
    tensor_from_vec(v, [b, n, w], &x.device())
}

#[test]
fn the_network_is_equivariant() {
    let device = Device::flex();
    let m = model(SHAPE, &device);
    let counts = [9usize];
    let (x, ctx) = state(&counts, 4, &device);
    let t = Tensor::<1>::from_floats([0.4], &device);
    let out = m.forward_joint(x.clone(), t.clone(), &ctx.masks, None, EdgePath::Fused);
    let (c, s) = (0.6f32, 0.8f32);
    // A rotation about z, then the same with a reflection of x.
    for rotation in [
        [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0],
        [-c, s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0],
    ] {
        let moved = transform(&x, rotation, [0.0; 3]);
        let out_moved = m.forward_joint(moved, t.clone(), &ctx.masks, None, EdgePath::Fused);
        // Translations are removed by the space: the state's centre stays at zero.
        let expected = transform(&out, rotation, [0.0; 3]);
        let diff = max_rel_diff(&to_vec(out_moved), &to_vec(expected));
        assert!(
            diff < 1e-4,
            "rotation/reflection: relative difference {diff}"
        );
    }
    // A translation of the input moves nothing (x̂_0 is centred).
    let shifted = transform(
        &x,
        [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        [3.0, -2.0, 1.0],
    );
    let out_shifted = m.forward_joint(shifted, t.clone(), &ctx.masks, None, EdgePath::Fused);
    let diff = max_rel_diff(&to_vec(out_shifted), &to_vec(out.clone()));
    assert!(diff < 1e-4, "translation: relative difference {diff}");

    // A permutation of the atoms permutes the rows and the bond groups.
    let perm = [3usize, 0, 8, 1, 7, 2, 6, 4, 5];
    let permute = |x: &Tensor<3>| {
        let [b, n, w] = x.dims();
        let v = to_vec(x.clone());
        let mut p = vec![0f32; v.len()];
        for (new, &old) in perm.iter().enumerate() {
            let (src, dst) = (&v[old * w..(old + 1) * w], &mut p[new * w..(new + 1) * w]);
            dst[..SHAPE.bond_offset()].copy_from_slice(&src[..SHAPE.bond_offset()]);
            for (new_j, &old_j) in perm.iter().enumerate() {
                let (s0, d0) = (
                    SHAPE.bond_offset() + old_j * BOND_CLASSES,
                    SHAPE.bond_offset() + new_j * BOND_CLASSES,
                );
                dst[d0..d0 + BOND_CLASSES].copy_from_slice(&src[s0..s0 + BOND_CLASSES]);
            }
        }
        tensor_from_vec(p, [b, n, w], &x.device())
    };
    let out_perm = m.forward_joint(permute(&x), t, &ctx.masks, None, EdgePath::Fused);
    let diff = max_rel_diff(&to_vec(out_perm), &to_vec(permute(&out)));
    assert!(diff < 1e-4, "permutation: relative difference {diff}");
}

#[test]
fn prior_alignment_rotates_the_noise_onto_the_data() {
    let device = Device::flex();
    let counts = [7usize, 12, 3];
    let (x0, ctx) = state(&counts, 6, &device);
    let space = MoleculeSpace { joint: Some(SHAPE) };
    let noise = space.noise(x0.dims(), &ctx, &mut SeededRng::new(9), &device);
    let aligned = space.align_prior(noise.clone(), &x0, &ctx);
    let (e, a, x) = (to_vec(noise), to_vec(aligned), to_vec(x0));
    let (n, w) = (12, SHAPE.width());
    for (m, &count) in counts.iter().enumerate() {
        let pos = |v: &[f32], i: usize| {
            let at = (m * n + i) * w;
            [v[at] as f64, v[at + 1] as f64, v[at + 2] as f64]
        };
        let dist2 = |v: &[f32]| -> f64 {
            (0..count)
                .map(|i| {
                    let (p, q) = (pos(v, i), pos(&x, i));
                    (0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f64>()
                })
                .sum()
        };
        // Closer to the data, the same shape (a rotation keeps every pairwise distance),
        // still centred.
        assert!(dist2(&a) <= dist2(&e) + 1e-6, "molecule {m}");
        for i in 0..count {
            for j in 0..count {
                let d = |v: &[f32]| {
                    let (p, q) = (pos(v, i), pos(v, j));
                    (0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f64>().sqrt()
                };
                assert!((d(&a) - d(&e)).abs() < 1e-4, "distance ({i}, {j}) changed");
            }
        }
        for k in 0..3 {
            let centre: f64 = (0..count).map(|i| pos(&a, i)[k]).sum();
            assert!(centre.abs() < 1e-4, "centre {centre}");
        }
        // The categorical columns are left alone.
        for i in 0..n {
            let at = (m * n + i) * w;
            assert_eq!(&a[at + 3..at + w], &e[at + 3..at + w]);
        }
    }
}
