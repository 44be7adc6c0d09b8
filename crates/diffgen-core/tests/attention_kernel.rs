//! The fused attention kernel computes what the composed tensor formulation (the path of
//! other backends) computes, forward and backward, with and without biases.

use burn::tensor::{Device, Distribution, Tensor};
use diffgen_core::kernels::{attention, attention_composed};
use diffgen_core::tensor_util::to_vec;

type Biases = (Option<Tensor<3>>, Option<Tensor<2>>);

/// Output and the gradients of q, k, v and the biases, for a loss Σ out·w.
fn run(
    fused: bool,
    [q, k, v, w]: &[Tensor<4>; 4],
    (head_bias, key_bias): &Biases,
    scale: f64,
) -> Vec<Vec<f32>> {
    let (q, k, v) = (
        q.clone().require_grad(),
        k.clone().require_grad(),
        v.clone().require_grad(),
    );
    let head_bias = head_bias.clone().map(Tensor::require_grad);
    let key_bias = key_bias.clone().map(Tensor::require_grad);
    let f = if fused { attention } else { attention_composed };
    let out = f(
        q.clone(),
        k.clone(),
        v.clone(),
        head_bias.clone(),
        key_bias.clone(),
        scale,
    );
    let grads = (out.clone() * w.clone()).sum().backward();
    let mut results = vec![
        to_vec(out),
        to_vec(q.grad(&grads).expect("dq")),
        to_vec(k.grad(&grads).expect("dk")),
        to_vec(v.grad(&grads).expect("dv")),
    ];
    if let Some(hb) = head_bias {
        results.push(to_vec(hb.grad(&grads).expect("head-bias gradient")));
    }
    if let Some(kb) = key_bias {
        results.push(to_vec(kb.grad(&grads).expect("key-bias gradient")));
    }
    results
}

fn assert_same(inputs: &[Tensor<4>; 4], biases: &Biases, scale: f64) {
    let (ours, theirs) = (
        run(true, inputs, biases, scale),
        run(false, inputs, biases, scale),
    );
    assert_eq!(ours.len(), theirs.len());
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let size = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
            / size;
        assert!(diff < 1e-4, "result {i}: relative difference {diff}");
        assert!(
            a.iter().any(|v| v.abs() > 1e-3),
            "result {i} is all but zero"
        );
    }
}

fn inputs(shape: [usize; 4], device: &Device) -> [Tensor<4>; 4] {
    std::array::from_fn(|_| Tensor::random(shape, Distribution::Normal(0.0, 1.5), device))
}

#[test]
fn plain_attention_matches_the_composed_formulation() {
    let device = Device::flex().autodiff();
    device.seed(7);
    assert_same(
        &inputs([2, 3, 13, 8], &device),
        &(None, None),
        8f64.sqrt().recip(),
    );
}

/// A per-head bias (relative positions) and a key bias (padding), as the protein
/// transformer uses them.
#[test]
fn biased_attention_matches_the_composed_formulation() {
    let device = Device::flex().autodiff();
    device.seed(9);
    let (b, h, n) = (3, 2, 11);
    let head_bias = Tensor::<3>::random([h, n, n], Distribution::Normal(0.0, 1.0), &device);
    // The last three keys of the second item are padding; the rest carry small biases.
    let mut mask: Vec<f32> = (0..b * n).map(|i| (i % 5) as f32 * 0.3).collect();
    mask[2 * n - 3..2 * n].fill(-1e4);
    let key_bias = Tensor::<1>::from_floats(mask.as_slice(), &device).reshape([b, n]);
    let biases = (Some(head_bias), Some(key_bias));
    assert_same(&inputs([b, h, n, 4], &device), &biases, 0.5);
}
