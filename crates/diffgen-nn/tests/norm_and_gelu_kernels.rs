//! The fused GELU and layer norm compute what burn's own operations compute, forward and
//! backward.

use burn::module::Param;
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Distribution, Tensor};
use diffgen_nn::LayerNormConfig;

mod common;
use common::to_vec;

fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let size = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / size
}

#[test]
fn gelu_matches_burn() {
    let device = Device::flex().autodiff();
    device.seed(3);
    // Wide enough to reach both tails, and more elements than one rayon task takes.
    let x = Tensor::<3>::random([4, 100, 77], Distribution::Normal(0.0, 3.0), &device);
    let w = x.random_like(Distribution::Normal(0.0, 1.0));
    let run = |fused: bool| {
        let x = x.clone().require_grad();
        let y = if fused {
            diffgen_nn::gelu(x.clone())
        } else {
            gelu(x.clone())
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        (to_vec(y), to_vec(x.grad(&grads).expect("gradient")))
    };
    let ((y1, g1), (y2, g2)) = (run(true), run(false));
    assert!(max_rel_diff(&y1, &y2) < 1e-5, "{}", max_rel_diff(&y1, &y2));
    assert!(max_rel_diff(&g1, &g2) < 1e-5, "{}", max_rel_diff(&g1, &g2));
}

/// Values and gradients of the fused softmax against burn's, with rows of very different
/// scales, a padded key's −10⁴ logit, and more rows than one rayon task takes.
#[test]
fn softmax_matches_burn() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let x = Tensor::<4>::random([3, 4, 70, 37], Distribution::Normal(0.0, 4.0), &device);
    let padded = Tensor::<4>::zeros([3, 4, 70, 1], &device).add_scalar(-1e4);
    let x = Tensor::cat(vec![x, padded], 3);
    let w = x.random_like(Distribution::Normal(0.0, 1.0));
    let run = |fused: bool| {
        let x = x.clone().require_grad();
        let y = if fused {
            diffgen_nn::softmax(x.clone(), 3)
        } else {
            burn::tensor::activation::softmax(x.clone(), 3)
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        (to_vec(y), to_vec(x.grad(&grads).expect("gradient")))
    };
    let ((y1, g1), (y2, g2)) = (run(true), run(false));
    assert!(max_rel_diff(&y1, &y2) < 1e-5, "{}", max_rel_diff(&y1, &y2));
    assert!(max_rel_diff(&g1, &g2) < 1e-5, "{}", max_rel_diff(&g1, &g2));
    // Rows sum to one.
    for row in y1.chunks(38) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn layer_norm_matches_burn() {
    let device = Device::flex().autodiff();
    device.seed(4);
    let d = 40;
    let mut norm = LayerNormConfig::new(d).with_epsilon(1e-5).init(&device);
    let mut burns = burn::nn::LayerNormConfig::new(d)
        .with_epsilon(1e-5)
        .init(&device);
    norm.gamma = Param::from_tensor(
        Tensor::<1>::random([d], Distribution::Normal(1.0, 0.5), &device).require_grad(),
    );
    norm.beta = Some(Param::from_tensor(
        Tensor::<1>::random([d], Distribution::Normal(0.0, 0.5), &device).require_grad(),
    ));
    // burn's layer over the same parameters (the same tensors: gradients reach both).
    burns.gamma = norm.gamma.clone();
    burns.beta = norm.beta.clone();
    // 130 rows: more than one rayon task of 64.
    let x = Tensor::<3>::random([2, 65, d], Distribution::Normal(1.0, 2.0), &device);
    let w = x.random_like(Distribution::Normal(0.0, 1.0));
    let run = |fused: bool| {
        let x = x.clone().require_grad();
        let y = if fused {
            norm.forward(x.clone())
        } else {
            burns.forward(x.clone())
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        vec![
            to_vec(y),
            to_vec(x.grad(&grads).expect("dx")),
            to_vec(norm.gamma.val().grad(&grads).expect("dgamma")),
            to_vec(
                norm.beta
                    .as_ref()
                    .unwrap()
                    .val()
                    .grad(&grads)
                    .expect("dbeta"),
            ),
        ]
    };
    for (i, (a, b)) in run(true).iter().zip(&run(false)).enumerate() {
        let diff = max_rel_diff(a, b);
        assert!(diff < 1e-4, "result {i}: relative difference {diff}");
    }
}
