//! Times forward + backward of the Cα model's pair biases (a pair-feature projection to
//! heads × (layers + 1) biases, one set per block, plus each set's relative-offset bias) in
//! several tensor formulations, at the bench shape (batch 32, length 128, 2 × 16 features).
//!   cargo run --release -p diffgen-protein --example pair_bias_bench -- [reps]

use std::time::Instant;

use burn::module::Param;
use burn::tensor::{Device, Distribution, Tensor};

/// The `diffgen` binary's allocator, so that the timings are the trainer's.
#[global_allocator]
static ALLOCATOR: diffgen_core::allocator::ReuseLargeBlocks =
    diffgen_core::allocator::ReuseLargeBlocks;

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let (b, l, c, h, sets) = (32, 128, 32, 4, 5);
    let s = h * sets;
    let device = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    let features = Tensor::<4>::random([b, l, l, c], normal, &device); // [B, L, L, C]
    let channel_first = features
        .clone()
        .permute([0, 3, 1, 2])
        .reshape([b, c, l * l]); // [B, C, L·L]
    let weight = Param::from_tensor(Tensor::<2>::random([c, s], normal, &device));
    let bias = Param::from_tensor(Tensor::<1>::random([s], normal, &device));
    let relative: Vec<Param<Tensor<4>>> = (0..sets)
        .map(|_| Param::from_tensor(Tensor::random([1, h, l, l], normal, &device)))
        .collect();
    let upstream: Vec<Tensor<4>> = (0..sets)
        .map(|_| Tensor::random([b, h, l, l], normal, &device))
        .collect();
    let finish = |biases: Vec<Tensor<4>>| {
        let loss = biases
            .into_iter()
            .zip(&upstream)
            .map(|(x, g)| (x * g.clone()).sum())
            .reduce(|a, x| a + x)
            .unwrap();
        let _ = loss.backward();
    };
    type Case<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let cases: Vec<Case> = vec![
        (
            "linear [B,L,L,C]→[B,L,L,S], permute, narrow per set",
            Box::new(|| {
                let all = (features.clone().matmul(weight.val().unsqueeze::<4>())
                    + bias.val().reshape([1, 1, 1, s]))
                .permute([0, 3, 1, 2]); // [B, S, L, L]
                finish(
                    (0..sets)
                        .map(|k| all.clone().narrow(1, k * h, h) + relative[k].val())
                        .collect(),
                );
            }),
        ),
        (
            "channel-first [B,C,L·L], one matmul per set with its weight columns",
            Box::new(|| {
                finish(
                    (0..sets)
                        .map(|k| {
                            let w = weight.val().narrow(1, k * h, h).transpose(); // [h, C]
                            let bk = bias.val().narrow(0, k * h, h).reshape([1, h, 1, 1]);
                            w.unsqueeze::<3>()
                                .matmul(channel_first.clone())
                                .reshape([b, h, l, l])
                                + (relative[k].val() + bk)
                        })
                        .collect(),
                );
            }),
        ),
        (
            "channel-first [B,C,L·L], one matmul for all sets, narrow per set",
            Box::new(|| {
                let all = weight
                    .val()
                    .transpose()
                    .unsqueeze::<3>()
                    .matmul(channel_first.clone())
                    .reshape([b, s, l, l])
                    + bias.val().reshape([1, s, 1, 1]); // [B, S, L, L]
                finish(
                    (0..sets)
                        .map(|k| all.clone().narrow(1, k * h, h) + relative[k].val())
                        .collect(),
                );
            }),
        ),
        (
            "linear per set on [B,L,L,C], permute",
            Box::new(|| {
                finish(
                    (0..sets)
                        .map(|k| {
                            let w = weight.val().narrow(1, k * h, h); // [C, h]
                            let bk = bias.val().narrow(0, k * h, h).reshape([1, 1, 1, h]);
                            (features.clone().matmul(w.unsqueeze::<4>()) + bk).permute([0, 3, 1, 2])
                                + relative[k].val()
                        })
                        .collect(),
                );
            }),
        ),
    ];
    for (name, run) in &cases {
        run();
        let start = Instant::now();
        for _ in 0..reps {
            run();
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        println!("{ms:8.1} ms  {name}");
    }
    linear_rows_cases();
}

/// A Linear on `[B, L, H]` rows: burn's batched product per item, or one product over the
/// rows flattened to `[B·L, H]`.
fn linear_rows_cases() {
    use burn::nn::LinearConfig;
    let device = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    let (b, l, h, o) = (32, 128, 128, 256);
    let layer = LinearConfig::new(h, o).init(&device);
    let x = Tensor::<3>::random([b, l, h], normal, &device).require_grad();
    let g = Tensor::<3>::random([b, l, o], normal, &device);
    for (name, flat) in [("batched [B, L, H]", false), ("flattened [B·L, H]", true)] {
        let run = || {
            let y = match flat {
                true => layer
                    .forward(x.clone().reshape([b * l, h]))
                    .reshape([b, l, o]),
                false => layer.forward(x.clone()),
            };
            let _ = (y * g.clone()).sum().backward();
        };
        run();
        let start = Instant::now();
        for _ in 0..20 {
            run();
        }
        println!(
            "{:8.2} ms  linear {h}→{o}, {name}",
            start.elapsed().as_secs_f64() * 1e3 / 20.0
        );
    }
}
