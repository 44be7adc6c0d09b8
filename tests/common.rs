//! Shared helpers of the end-to-end tests: a small toy setup.

#![allow(dead_code)]

use std::path::Path;

use burn::tensor::Device;
use diffgen_core::config::parse_toml;
use diffgen_core::train::Trainer;
use diffgen_core::EuclideanSpace;
use diffgen_toy::data::ToyData;
use diffgen_toy::model::ToyContext;
use diffgen_toy::ToyConfig;

/// A ring config small enough to train in seconds; `conditional` on the ring component.
pub fn small_config(steps: u64, conditional: bool) -> ToyConfig {
    let text = format!(
        r#"
[data]
source = {{ kind = "ring", radius = 2.0, std = 0.1 }}
train_size = 4000
val_size = 500

[model]
hidden = 64
layers = 2
conditional = {conditional}

[diffusion]
schedule = {{ kind = "cosine", steps = 200 }}
objective = "velocity"

[training]
steps = {steps}
batch_size = 128
seed = 3
log_every = 10
val_every = 0
optimizer = {{ kind = "adamw", lr = 2e-3, amsgrad = true, weight_decay = 1e-4 }}
lr_schedule = {{ warmup_steps = 5, decay = "cosine", final_factor = 0.1 }}
grad_clip = {{ kind = "adaptive" }}
ema = {{ decay = 0.99 }}
"#
    );
    parse_toml(&text, Path::new("small.toml")).expect("the test config parses")
}

/// The standardisation `toy_data` applies, as the toy modality stores it.
pub fn stats(config: &ToyConfig) -> serde_json::Value {
    let set = config
        .data
        .source
        .points(config.data.train_size, 0, 0)
        .unwrap();
    let (mean, std) = set.moments();
    let classes = if config.model.conditional { 8 } else { 0 };
    serde_json::json!({"mean": mean, "std": std, "num_classes": classes, "dataset": "ring"})
}

pub fn toy_data(config: &ToyConfig) -> ToyData {
    let set = config
        .data
        .source
        .points(config.data.train_size, 0, 0)
        .unwrap();
    let (mean, std) = set.moments();
    ToyData::new(&set, mean, std, 8, config.data.label_dropout)
}

pub fn trainer<'a>(
    config: &'a ToyConfig,
    space: &'a EuclideanSpace<ToyContext>,
    out: &Path,
    stop_at: Option<u64>,
) -> Trainer<'a, EuclideanSpace<ToyContext>> {
    Trainer {
        config: &config.training,
        diffusion: &config.diffusion,
        layout: diffgen_core::process::StateLayout::single(),
        space,
        out_dir: out.to_path_buf(),
        device: Device::flex(),
        modality: "toy".into(),
        former_modalities: &[],
        modality_config: serde_json::to_value(config).unwrap(),
        data_stats: stats(config),
        show_progress: false,
        stop_at,
        lr_horizon: None,
        persistence: diffgen_core::train::Persistence::Checkpoints,
    }
}

/// A freshly initialised model. burn's backend RNG is process-global, so tests running in
/// parallel threads must seed and materialise (parameters initialise lazily) under one lock,
/// or another test's draws interleave with this one's.
pub fn fresh_model(config: &ToyConfig) -> diffgen_toy::model::ToyDenoiser {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::Tensor;
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    device.seed(config.training.seed);
    let model = config.model.init(
        config.diffusion.objective,
        diffgen_toy::model::ToyShape {
            width: 2,
            num_classes: 8,
            self_conditioning: false,
        },
        &device,
    );
    // Materialised on the plain device; the trainer moves it onto autodiff.
    model.visit(&mut Touch);
    model
}
