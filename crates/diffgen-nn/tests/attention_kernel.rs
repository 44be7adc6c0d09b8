//! The fused attention kernel computes what the composed tensor formulation (the path of
//! other backends) computes, forward and backward, with and without biases: a head bias
//! shared over the batch (`[1, H, N, N]`) or each item's own (`[B, H, N, N]`).

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use diffgen_nn::kernels::attention::{self as kernel, AttentionShape};
use diffgen_nn::{attention, attention_composed};

mod common;
use common::to_vec;

type Biases = (Option<Tensor<4>>, Option<Tensor<2>>);

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

/// A key bias `[B, N]`: the last three keys of the second item are padding, the rest carry
/// small biases.
fn key_mask(b: usize, n: usize, device: &Device) -> Tensor<2> {
    let mut mask: Vec<f32> = (0..b * n).map(|i| (i % 5) as f32 * 0.3).collect();
    mask[2 * n - 3..2 * n].fill(-1e4);
    Tensor::<1>::from_floats(mask.as_slice(), device).reshape([b, n])
}

/// A per-head bias shared over the batch (relative positions) and a key bias (padding), as
/// the protein transformer uses them.
#[test]
fn biased_attention_matches_the_composed_formulation() {
    let device = Device::flex().autodiff();
    device.seed(9);
    let (b, h, n) = (3, 2, 11);
    let head_bias = Tensor::<4>::random([1, h, n, n], Distribution::Normal(0.0, 1.0), &device);
    let biases = (Some(head_bias), Some(key_mask(b, n, &device)));
    assert_same(&inputs([b, h, n, 4], &device), &biases, 0.5);
}

/// Each item's own pair bias `[B, H, N, N]` (pairwise distances) with a key mask: values
/// and the gradients of q, k, v and both biases, the head bias's per item.
#[test]
fn per_item_biased_attention_matches_the_composed_formulation() {
    let device = Device::flex().autodiff();
    device.seed(11);
    let (b, h, n) = (3, 2, 11);
    let head_bias = Tensor::<4>::random([b, h, n, n], Distribution::Normal(0.0, 1.0), &device);
    let biases = (Some(head_bias), Some(key_mask(b, n, &device)));
    assert_same(&inputs([b, h, n, 4], &device), &biases, 0.5);
    // Without the key bias, and with more heads than threads have tasks.
    let head_bias = Tensor::<4>::random([2, 5, 9, 9], Distribution::Normal(0.0, 1.0), &device);
    assert_same(
        &inputs([2, 5, 9, 8], &device),
        &(Some(head_bias), None),
        8f64.sqrt().recip(),
    );
}

/// A per-item bias that repeats one shared bias gives the shared bias's output exactly,
/// and per-item gradients that sum over the batch to the shared bias's gradient.
#[test]
fn per_item_bias_of_copies_agrees_with_the_shared_bias() {
    let device = Device::flex().autodiff();
    device.seed(13);
    let (b, h, n) = (4, 3, 10);
    let shared = Tensor::<4>::random([1, h, n, n], Distribution::Normal(0.0, 1.0), &device);
    let copies = shared.clone().repeat_dim(0, b);
    let x = inputs([b, h, n, 8], &device);
    let mask = Some(key_mask(b, n, &device));
    let one = run(true, &x, &(Some(shared), mask.clone()), 0.4);
    let each = run(true, &x, &(Some(copies), mask), 0.4);
    assert_eq!(one[0], each[0], "outputs differ");
    for i in 1..4 {
        assert_eq!(one[i], each[i], "q, k, v gradient {i} differs");
    }
    assert_eq!(each[4].len(), b * one[4].len());
    let summed: Vec<f32> = (0..one[4].len())
        .map(|j| (0..b).map(|i| each[4][i * h * n * n + j]).sum())
        .collect();
    let size = one[4].iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let diff = summed
        .iter()
        .zip(&one[4])
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(diff / size < 1e-5, "summed per-item gradient: {diff}");
}

/// A head bias of a batch size other than 1 and B is refused, fused and composed.
#[test]
#[should_panic(expected = "head bias [2, 2, 11, 11] is not [1, H, N, N] or [B, H, N, N]")]
fn fused_attention_refuses_a_head_bias_of_another_batch() {
    let device = Device::flex();
    let (b, h, n) = (3, 2, 11);
    let head_bias = Tensor::<4>::zeros([2, h, n, n], &device);
    let [q, k, v, _] = inputs([b, h, n, 4], &device);
    attention(q, k, v, Some(head_bias), None, 0.5);
}

#[test]
#[should_panic(expected = "head bias [2, 2, 11, 11] is not [1, H, N, N] or [B, H, N, N]")]
fn composed_attention_refuses_a_head_bias_of_another_batch() {
    let device = Device::flex();
    let (b, h, n) = (3, 2, 11);
    let head_bias = Tensor::<4>::zeros([2, h, n, n], &device);
    let [q, k, v, _] = inputs([b, h, n, 4], &device);
    attention_composed(q, k, v, Some(head_bias), None, 0.5);
}

/// The raw kernel checks a per-item bias's length too.
#[test]
#[should_panic(expected = "head bias is not [B, H, N, N]")]
fn kernel_refuses_a_per_item_bias_of_another_length() {
    let s = AttentionShape {
        batch: 3,
        heads: 2,
        tokens: 5,
        dim: 4,
        scale: 0.5,
    };
    let x = vec![0.0f32; 3 * 2 * 5 * 4];
    let bias = vec![0.0f32; 2 * 2 * 5 * 5];
    let biases = kernel::Biases {
        head: Some(&bias),
        head_per_item: true,
        key: None,
    };
    kernel::forward(&s, &x, &x, &x, &biases);
}

/// Milliseconds per forward and forward + backward call of the raw kernel at B = 32,
/// H = 4, N = 128, d = 32, with a shared and a per-item head bias and a key bias; printed,
/// not asserted. `cargo test --release -p diffgen-core --test attention_kernel -- --ignored
/// --nocapture`.
#[test]
#[ignore = "timing, printed only"]
fn timing_shared_and_per_item_bias() {
    let (b, h, n, d) = (32, 4, 128, 32);
    let s = AttentionShape {
        batch: b,
        heads: h,
        tokens: n,
        dim: d,
        scale: (d as f32).sqrt().recip(),
    };
    // Deterministic, roughly unit-scale values.
    let values = |len: usize, seed: usize| -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0)
            .collect()
    };
    let len = b * h * n * d;
    let (q, k, v, d_out) = (
        values(len, 1),
        values(len, 2),
        values(len, 3),
        values(len, 4),
    );
    let key = vec![0.0f32; b * n];
    let reps = 10;
    for (name, bh) in [("Bh = 1", 1), ("Bh = B", b)] {
        let head = values(bh * h * n * n, 5);
        let biases = kernel::Biases {
            head: Some(&head),
            head_per_item: bh != 1,
            key: Some(&key),
        };
        let (_, lse) = kernel::forward(&s, &q, &k, &v, &biases); // warm-up
        kernel::backward(&s, &q, &k, &v, &biases, &lse, &d_out);
        let start = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(kernel::forward(&s, &q, &k, &v, &biases));
        }
        let forward = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let start = Instant::now();
        for _ in 0..reps {
            let (_, lse) = kernel::forward(&s, &q, &k, &v, &biases);
            std::hint::black_box(kernel::backward(&s, &q, &k, &v, &biases, &lse, &d_out));
        }
        let both = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        println!(
            "attention B={b} H={h} N={n} d={d}, {name}: forward {forward:.2} ms, \
             forward + backward {both:.2} ms per call"
        );
    }
}
