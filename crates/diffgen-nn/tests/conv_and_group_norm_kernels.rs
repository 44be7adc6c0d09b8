//! The hand-written convolution and group-norm kernels (this crate's `Conv2d` and
//! `GroupNorm` on Flex) compute what burn's own modules compute, forward and backward.

use burn::module::Param;
use burn::nn::conv::Conv2dConfig;
use burn::nn::{GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Distribution, Tensor};
use diffgen_nn::{Conv2d, GroupNorm};

mod common;
use common::to_vec;

fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / scale
}

/// Output and input gradient of `f`, for a loss Σ out·w.
fn run(f: &dyn Fn(Tensor<4>) -> Tensor<4>, x: &Tensor<4>, weights: &Tensor<4>) -> Vec<Vec<f32>> {
    let x = x.clone().detach().require_grad();
    let out = f(x.clone());
    let mut results = vec![to_vec(out.clone())];
    let grads = (out * weights.clone()).sum().backward();
    results.push(to_vec(x.grad(&grads).expect("input gradient")));
    results
}

fn assert_close(ours: &[Vec<f32>], theirs: &[Vec<f32>], what: &str) {
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let diff = max_rel_diff(a, b);
        assert!(
            diff < 1e-4,
            "{what}, result {i}: relative difference {diff}"
        );
    }
}

#[test]
fn convolution_matches_burn_forward_and_backward() {
    let device = Device::flex().autodiff();
    device.seed(5);
    // (cin, cout, kernel, stride, padding, height, width, bias)
    for (cin, cout, k, stride, pad, h, w, bias) in [
        (3, 8, [3, 3], [1, 1], [1, 1], 9, 7, true),
        (4, 6, [3, 3], [2, 2], [1, 1], 10, 9, true),
        (5, 7, [1, 1], [1, 1], [0, 0], 6, 5, true),
        (2, 3, [3, 3], [1, 1], [0, 0], 5, 8, true),
        // Unequal rows and columns catch a swapped index; no bias.
        (3, 4, [3, 1], [1, 2], [1, 0], 7, 9, false),
    ] {
        let conv = Conv2dConfig::new([cin, cout], k)
            .with_stride(stride)
            .with_padding(PaddingConfig2d::Explicit(pad[0], pad[1], pad[0], pad[1]))
            .with_bias(bias)
            .init(&device);
        // The same layer, sharing burn's parameter tensors.
        let ours_conv = Conv2d::from(conv.clone());
        let x = Tensor::<4>::random([3, cin, h, w], Distribution::Normal(0.0, 1.0), &device);
        let probe = conv.forward(x.clone());
        let weights = probe.random_like(Distribution::Normal(0.0, 1.0));
        let ours = run(&|x| ours_conv.forward(x), &x, &weights);
        let theirs = run(&|x| conv.forward(x), &x, &weights);
        let what = format!("conv {cin}→{cout} k{k:?} s{stride:?} p{pad:?}");
        assert_close(&ours, &theirs, &what);
        let grads_of = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let grads = (f(x.clone()) * weights.clone()).sum().backward();
            let mut g = vec![to_vec(
                conv.weight.val().grad(&grads).expect("weight gradient"),
            )];
            if let Some(b) = &conv.bias {
                g.push(to_vec(b.val().grad(&grads).expect("bias gradient")));
            }
            g
        };
        let ours = grads_of(&|x| ours_conv.forward(x));
        let theirs = grads_of(&|x| conv.forward(x));
        assert_close(&ours, &theirs, &format!("{what} parameters"));
        assert!(ours[0].iter().any(|v| v.abs() > 1e-3));
    }
}

#[test]
fn group_norm_with_and_without_silu_matches_burn() {
    let device = Device::flex().autodiff();
    device.seed(6);
    for (channels, groups, h, w) in [(8, 4, 5, 6), (6, 3, 7, 7), (4, 1, 3, 9)] {
        let mut norm = GroupNormConfig::new(groups, channels).init(&device);
        // Non-trivial affine parameters.
        norm.gamma = Some(Param::from_tensor(
            Tensor::<1>::random([channels], Distribution::Normal(1.0, 0.5), &device).require_grad(),
        ));
        norm.beta = Some(Param::from_tensor(
            Tensor::<1>::random([channels], Distribution::Normal(0.0, 0.5), &device).require_grad(),
        ));
        let ours_norm = GroupNorm::from(norm.clone());
        let x = Tensor::<4>::random([3, channels, h, w], Distribution::Normal(2.0, 3.0), &device);
        let weights = x.random_like(Distribution::Normal(0.0, 1.0));
        for then_silu in [false, true] {
            let reference = |x: Tensor<4>| {
                let y = norm.forward(x);
                if then_silu {
                    silu(y)
                } else {
                    y
                }
            };
            let ours = run(
                &|x| {
                    if then_silu {
                        ours_norm.forward_silu(x)
                    } else {
                        ours_norm.forward(x)
                    }
                },
                &x,
                &weights,
            );
            let theirs = run(&reference, &x, &weights);
            let what = format!("group norm {channels}/{groups}, silu {then_silu}");
            assert_close(&ours, &theirs, &what);
            let grads_of = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
                let grads = (f(x.clone()) * weights.clone()).sum().backward();
                let g = |p: &Option<Param<Tensor<1>>>| {
                    to_vec(p.as_ref().unwrap().val().grad(&grads).expect("gradient"))
                };
                vec![g(&norm.gamma), g(&norm.beta)]
            };
            let ours = grads_of(&|x| {
                if then_silu {
                    ours_norm.forward_silu(x)
                } else {
                    ours_norm.forward(x)
                }
            });
            let theirs = grads_of(&reference);
            assert_close(&ours, &theirs, &format!("{what} parameters"));
        }
    }
}
