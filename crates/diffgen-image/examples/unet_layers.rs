//! Per-layer timings of the course UNet's building blocks at its training shapes (batch 64,
//! 28×28 and 14×14), forward alone and forward + backward, in milliseconds: burn's own
//! layers (`burn …`) and the layers the UNet runs (`diffgen_nn`'s, with their fused kernels).
//! `benches/reference/unet_layers.py` times the same layers in PyTorch;
//! `benches/reference/run.sh image-layers` runs both and prints the ratios.
//!
//!     cargo run --release -p diffgen-image --example unet_layers [-- reps]

use std::time::Instant;

use burn::nn::conv::Conv2dConfig;
use burn::nn::{GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Distribution, Tensor};
use diffgen_image::unet::AttentionBlock;

// As in the `diffgen` binary.
#[global_allocator]
static ALLOCATOR: diffgen_core::allocator::ReuseLargeBlocks =
    diffgen_core::allocator::ReuseLargeBlocks;

/// Median milliseconds of `reps` runs after one warm-up run.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut ms: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let b = 64;
    let plain = Device::flex();
    let grad = plain.clone().autodiff();
    type Layer = Box<dyn Fn(Tensor<4>) -> Tensor<4>>;
    let conv = |cin: usize, cout: usize, stride: usize, device: &Device| -> Layer {
        let c = Conv2dConfig::new([cin, cout], [3, 3])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(device);
        Box::new(move |x| c.forward(x))
    };
    let norm = |c: usize, device: &Device| -> Layer {
        let n = GroupNormConfig::new(32, c).init(device);
        Box::new(move |x| n.forward(x))
    };
    // The UNet's layers: `diffgen_nn`'s convolution and group norm + SiLU.
    let our_conv = |cin: usize, cout: usize, stride: usize, device: &Device| -> Layer {
        let c = diffgen_nn::Conv2dConfig::new([cin, cout], [3, 3])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(device);
        Box::new(move |x| c.forward(x))
    };
    let our_norm_silu = |c: usize, device: &Device| -> Layer {
        let n = diffgen_nn::GroupNormConfig::new(32, c).init(device);
        Box::new(move |x| n.forward_silu(x))
    };
    let attention = |c: usize, device: &Device| -> Layer {
        let a = AttentionBlock::new(c, c / 8, 32, device);
        Box::new(move |x| a.forward(x))
    };
    type Case = (&'static str, [usize; 4], Box<dyn Fn(&Device) -> Layer>);
    let (big, small) = ([b, 64, 28, 28], [b, 128, 14, 14]);
    let cases: Vec<Case> = vec![
        (
            "burn conv3x3 64→64 28×28",
            big,
            Box::new(move |d| conv(64, 64, 1, d)),
        ),
        (
            "conv3x3 64→64 28×28",
            big,
            Box::new(move |d| our_conv(64, 64, 1, d)),
        ),
        (
            "burn conv3x3 128→128 14×14",
            small,
            Box::new(move |d| conv(128, 128, 1, d)),
        ),
        (
            "conv3x3 128→128 14×14",
            small,
            Box::new(move |d| our_conv(128, 128, 1, d)),
        ),
        (
            "burn conv3x3 stride 2 64→64 28×28",
            big,
            Box::new(move |d| conv(64, 64, 2, d)),
        ),
        (
            "conv3x3 stride 2 64→64 28×28",
            big,
            Box::new(move |d| our_conv(64, 64, 2, d)),
        ),
        (
            "burn group norm 32, 64 ch 28×28",
            big,
            Box::new(move |d| norm(64, d)),
        ),
        ("burn silu 64 ch 28×28", big, Box::new(|_| Box::new(silu))),
        (
            "group norm + silu 64 ch 28×28",
            big,
            Box::new(move |d| our_norm_silu(64, d)),
        ),
        (
            "attention 128 ch 14×14, 16 heads",
            small,
            Box::new(move |d| attention(128, d)),
        ),
    ];
    println!(
        "{:<36} {:>12} {:>16}",
        "layer (batch 64)", "forward ms", "fwd+bwd ms"
    );
    for (name, shape, make) in cases {
        let layer = make(&plain);
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &plain);
        let forward = time(reps, || {
            let _ = layer(x.clone()).into_data();
        });
        let layer = make(&grad);
        let xg = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &grad).require_grad();
        let both = time(reps, || {
            let grads = layer(xg.clone()).sum().backward();
            let _ = xg.grad(&grads).map(|g| g.into_data());
        });
        println!("{name:<36} {forward:>12.2} {both:>16.2}");
    }
}
