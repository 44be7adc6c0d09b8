//! Shared helpers: the data folder, small configs, and seeded model construction.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use diffgen_core::config::parse_toml;
use diffgen_image::unet::{UNet, UNetConfig};
use diffgen_image::ImageConfig;

// The shared data (`$DIFFGEN_SHARED` or `../shared`); `None` means skip the test.
pub use diffgen_test_support::shared;

/// The data root (`…/shared/datasets`).
pub fn data_root() -> Option<PathBuf> {
    shared("datasets")
}

pub fn config_text(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../configs")
            .join(name),
    )
    .unwrap()
}

pub fn config(name: &str) -> ImageConfig {
    parse_toml(&config_text(name), Path::new(name)).unwrap()
}

/// A small UNet for `[channels, height, width]` images.
pub fn small_unet_config(
    channels: usize,
    height: usize,
    width: usize,
    conditional: bool,
) -> UNetConfig {
    UNetConfig {
        channels,
        height,
        width,
        block_out_channels: vec![8, 16, 16],
        attention: Some(vec![false, true, true]),
        layers_per_block: 1,
        norm_groups: 4,
        attention_head_dim: 8,
        conditional,
    }
}

/// A freshly initialised UNet, seeded (see `diffgen_core::rng::init_seeded`).
pub fn fresh_unet(config: &UNetConfig, num_classes: usize, seed: u64, device: &Device) -> UNet {
    diffgen_core::rng::init_seeded(device, seed, || {
        config.init(diffgen_core::Objective::Epsilon, num_classes, device)
    })
}

pub fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let a = diffgen_core::tensor_util::to_vec(a);
    let b = diffgen_core::tensor_util::to_vec(b);
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
