//! The UNet: output shapes (grey 28×28, RGB 36×28, odd sizes), time and label conditioning,
//! guidance at scale 0, and the course config's parameter count.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use common::{config, fresh_unet, max_abs_diff, small_unet_config};
use diffgen_core::{Denoiser, Guided};
use diffgen_image::unet::{group_count, ImageContext};

fn labels(values: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

#[test]
fn course_unet_keeps_the_grey_28x28_shape() {
    let device = Device::flex();
    let cfg = config("image-mnist.toml").model;
    let model = fresh_unet(&cfg, 10, 0, &device);
    // 6,804,225 with 11 class embeddings (10 digits + the null label).
    let params = model.num_params();
    assert!((6_500_000..7_200_000).contains(&params), "{params}");
    let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let t = Tensor::<1>::from_floats([0.1, 0.9], &device);
    let y = model.forward(x, t, Some(labels(&[3, 10], &device)));
    assert_eq!(y.dims(), [2, 1, 28, 28]);
}

#[test]
fn rgb_36x28_and_odd_sizes_keep_their_shape() {
    let device = Device::flex();
    for (c, h, w) in [(3, 36, 28), (3, 30, 22), (1, 9, 13)] {
        let cfg = small_unet_config(c, h, w, false);
        let model = fresh_unet(&cfg, 0, 1, &device);
        let x = Tensor::<4>::random([2, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let y = model.forward(x, Tensor::<1>::from_floats([0.5, 0.2], &device), None);
        assert_eq!(y.dims(), [2, c, h, w], "{c}×{h}×{w}");
        let v = diffgen_core::tensor_util::to_vec(y);
        assert!(v.iter().all(|x| x.is_finite()));
    }
}

#[test]
fn the_course_faces_config_builds_for_rgb_36x28() {
    let device = Device::flex();
    let mut cfg = config("image-mnist.toml").model;
    cfg.channels = 3;
    cfg.height = 36;
    cfg.width = 28;
    cfg.block_out_channels = vec![128, 256, 384];
    cfg.conditional = false;
    cfg.validate().unwrap();
    let model = fresh_unet(&cfg, 0, 2, &device);
    eprintln!(
        "faces UNet (128, 256, 384), RGB 36×28: {} parameters",
        model.num_params()
    );
    let x = Tensor::<4>::random([1, 3, 36, 28], Distribution::Normal(0.0, 1.0), &device);
    let y = model.forward(x, Tensor::<1>::from_floats([0.3], &device), None);
    assert_eq!(y.dims(), [1, 3, 36, 28]);
}

#[test]
fn time_and_label_change_the_output() {
    let device = Device::flex();
    let cfg = small_unet_config(1, 8, 8, true);
    let model = fresh_unet(&cfg, 10, 3, &device);
    let x = Tensor::<4>::random([2, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let t = |v: f32| Tensor::<1>::from_floats([v, v], &device);
    let run = |t: Tensor<1>, l: &[i64]| model.forward(x.clone(), t, Some(labels(l, &device)));
    let base = run(t(0.5), &[1, 2]);
    assert_eq!(max_abs_diff(base.clone(), run(t(0.5), &[1, 2])), 0.0);
    assert!(
        max_abs_diff(base.clone(), run(t(0.6), &[1, 2])) > 1e-4,
        "time is ignored"
    );
    assert!(
        max_abs_diff(base.clone(), run(t(0.5), &[7, 9])) > 1e-4,
        "labels are ignored"
    );
    assert!(
        max_abs_diff(base, run(t(0.5), &[10, 10])) > 1e-4,
        "the null label is ignored"
    );
}

#[test]
fn guidance_scale_zero_is_the_unconditional_prediction() {
    let device = Device::flex();
    let cfg = small_unet_config(1, 8, 8, true);
    let model = fresh_unet(&cfg, 10, 4, &device);
    let x = Tensor::<4>::random([3, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let t = Tensor::<1>::from_floats([0.2, 0.5, 0.8], &device);
    let cond = ImageContext {
        labels: Some(labels(&[0, 4, 7], &device)),
    };
    let null = model.unconditional(&cond).expect("a conditional model");
    let unconditional = model.predict(x.clone(), t.clone(), &null);
    let conditional = model.predict(x.clone(), t.clone(), &cond);
    let guided0 = Guided::new(&model, 0.0).predict(x.clone(), t.clone(), &cond);
    assert!(max_abs_diff(guided0, unconditional.clone()) < 1e-5);
    let guided1 = Guided::new(&model, 1.0).predict(x.clone(), t.clone(), &cond);
    assert!(max_abs_diff(guided1, conditional.clone()) < 1e-5);
    // Scale 3 extrapolates: u + 3(c − u).
    let guided3 = Guided::new(&model, 3.0).predict(x, t, &cond);
    let expected = unconditional.clone() + (conditional - unconditional).mul_scalar(3.0);
    assert!(max_abs_diff(guided3, expected) < 1e-4);
}

#[test]
fn unconditional_models_have_no_null_context() {
    let device = Device::flex();
    let model = fresh_unet(&small_unet_config(1, 8, 8, false), 10, 5, &device);
    assert_eq!(model.num_classes(), 0);
    assert!(model
        .unconditional(&ImageContext { labels: None })
        .is_none());
}

#[test]
fn group_counts_divide_the_channels() {
    assert_eq!(group_count(64, 32), 32);
    assert_eq!(group_count(16, 32), 16);
    assert_eq!(group_count(48, 32), 24);
    assert_eq!(group_count(3, 32), 3);
    assert_eq!(group_count(7, 4), 1);
}

#[test]
fn configs_validate() {
    for name in [
        "image-mnist.toml",
        "image-mnist-cpu.toml",
        "image-digits-small.toml",
    ] {
        config(name).validate().unwrap();
    }
    let mut bad = config("image-mnist.toml");
    bad.model.attention = Some(vec![true]);
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("model.attention"), "{err}");
    bad = config("image-mnist.toml");
    bad.model.channels = 2;
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("model.channels"));
}
