//! The fused edge kernel computes the same function, and the same gradients, as the tensor
//! formulation of the EGNN (which the parity tests tie to EDM's code).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Tensor};
use diffgen_core::tensor_util::to_vec;
use diffgen_molecule::egnn::{EdgePath, EgnnConfig, EgnnDynamics};
use diffgen_molecule::space::MolContext;

/// A model whose 1-wide heads are far from their near-zero init, so coordinates move.
fn model(layers: usize, hidden: usize, device: &Device) -> EgnnDynamics {
    let config = EgnnConfig {
        layers,
        hidden,
        coords_range: 15.0,
        // Not EDM's 1 and 1, so that a kernel dropping either would be caught.
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
                    // Detached: a parameter must stay a leaf of the autodiff graph.
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
    diffgen_core::rng::init_seeded(device, 11, || config.init(6, device).map(&mut Wake))
}

/// Molecules of uneven sizes, one of a single atom (no pairs at all); about 3,200 pairs, so
/// the kernel cuts the batch into several chunks.
fn batch(device: &Device) -> (Tensor<3>, Tensor<1>, MolContext) {
    let counts = [5usize, 1, 9, 3, 7, 25, 29, 18, 22, 27, 14];
    let context = MolContext::new(&counts, device);
    let n = context.max_atoms();
    let xh = Tensor::<3>::random([counts.len(), n, 9], Distribution::Normal(0.0, 1.0), device)
        * context.masks.node.clone();
    let t = Tensor::<1>::from_floats(
        [0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.4, 0.6, 0.8, 1.0, 0.05],
        device,
    );
    (xh, t, context)
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

#[test]
fn fused_forward_equals_tensor_forward() {
    let device = Device::flex();
    for (layers, hidden) in [(2, 16), (3, 64)] {
        let m = model(layers, hidden, &device);
        let (xh, t, ctx) = batch(&device);
        let fused = to_vec(m.forward_with(xh.clone(), t.clone(), &ctx.masks, EdgePath::Fused));
        let tensor = to_vec(m.forward_with(xh, t, &ctx.masks, EdgePath::Tensor));
        let diff = max_rel_diff(&fused, &tensor);
        assert!(diff < 1e-5, "{layers}×{hidden}: relative difference {diff}");
        // The outputs move: a kernel returning zeros would not pass.
        assert!(tensor.iter().any(|v| v.abs() > 1e-2));
    }
}

/// Gradients of every parameter, in visiting order.
fn param_grads(m: &EgnnDynamics, grads: &burn::tensor::Gradients) -> Vec<Vec<f32>> {
    struct Collect<'a> {
        grads: &'a burn::tensor::Gradients,
        out: Vec<Vec<f32>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let g = p.val().grad(self.grads);
            self.out.push(g.map(to_vec).unwrap_or_default());
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
fn fused_gradients_equal_tensor_gradients() {
    let device = Device::flex().autodiff();
    let m = model(2, 32, &device);
    let (xh, t, ctx) = batch(&device);
    let weights = Tensor::<3>::random(xh.dims(), Distribution::Normal(0.0, 1.0), &device);
    let mut results = Vec::new();
    for path in [EdgePath::Fused, EdgePath::Tensor] {
        let input = xh.clone().detach().require_grad();
        let out = m.forward_with(input.clone(), t.clone(), &ctx.masks, path);
        let loss = (out * weights.clone()).sum();
        let grads = loss.backward();
        let input_grad = to_vec(input.grad(&grads).expect("input gradient"));
        results.push((param_grads(&m, &grads), input_grad));
    }
    let (fused, tensor) = (&results[0], &results[1]);
    assert_eq!(fused.0.len(), tensor.0.len());
    for (i, (a, b)) in fused.0.iter().zip(&tensor.0).enumerate() {
        assert!(
            !b.is_empty(),
            "parameter {i} has no gradient on the tensor path"
        );
        assert!(
            !a.is_empty(),
            "parameter {i} has no gradient on the fused path"
        );
        let diff = max_rel_diff(a, b);
        assert!(
            diff < 1e-3,
            "parameter {i}: relative gradient difference {diff}"
        );
    }
    // Through x and x0: the input's gradient covers both coordinate paths.
    let diff = max_rel_diff(&fused.1, &tensor.1);
    assert!(diff < 1e-3, "input gradient: relative difference {diff}");
    assert!(fused.1.iter().any(|v| v.abs() > 1e-3));
}
