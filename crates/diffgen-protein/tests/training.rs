//! Training and sampling on real CATH backbones.

mod common;

use std::path::Path;

use burn::tensor::Device;
use diffgen_core::config::parse_toml;
use diffgen_core::sampler::{SamplerConfig, SamplerKind};
use diffgen_core::train::Trainer;
use diffgen_protein::data::{angles_of, ProteinData, ProteinStats};
use diffgen_protein::geometry::{CA_C, C_N, N_CA};
use diffgen_protein::space::TorusSpace;
use diffgen_protein::{generate, io, load_protein, Generation, ProteinConfig, ProteinOptions};

fn small_config() -> ProteinConfig {
    let text = include_str!("../../../configs/protein-cath.toml");
    let mut config: ProteinConfig = parse_toml(text, Path::new("protein-cath.toml")).unwrap();
    config.model.hidden = 64;
    config.model.layers = 2;
    config.model.feed_forward = 128;
    config.data.max_length = 64;
    config.training.steps = 150;
    config.training.batch_size = 16;
    config.training.log_every = 10;
    config.training.val_every = 0;
    config.training.checkpoint_every = 0;
    config.training.optimizer.lr = 1e-3;
    config.training.lr_schedule.warmup_steps = 20;
    config.validate().unwrap();
    config
}

#[test]
fn the_loss_falls_and_the_model_samples_backbones() {
    let Some(root) = common::data_root() else {
        return;
    };
    let config = small_config();
    let chains = angles_of(&io::load_split(&root, "valid").unwrap(), 40);
    assert!(chains.len() > 200);
    let stats = ProteinStats::from_chains(&chains, config.data.max_length, "cath valid");
    let data = ProteinData::new(&chains, &stats, config.data.max_length);
    let device = Device::flex();
    let model = diffgen_core::rng::init_seeded(&device, 0, || {
        config.model.init(config.diffusion.objective, &device)
    });
    let dir = tempfile::tempdir().unwrap();
    Trainer {
        config: &config.training,
        diffusion: &config.diffusion,
        layout: diffgen_core::process::StateLayout::single(),
        space: &TorusSpace,
        out_dir: dir.path().to_path_buf(),
        device: device.clone(),
        modality: diffgen_protein::NAME.into(),
        former_modalities: &[],
        modality_config: serde_json::to_value(&config).unwrap(),
        data_stats: serde_json::to_value(&stats).unwrap(),
        show_progress: false,
        stop_at: None,
        lr_horizon: None,
        persistence: diffgen_core::train::Persistence::Checkpoints,
    }
    .run::<3, _, _, ProteinData>(model, &data, None, None)
    .unwrap();
    let log = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let losses: Vec<f64> = log
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["train_loss"].as_f64()
        })
        .collect();
    let first = losses[0];
    let last = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    // Pure noise scores 1 per angle; learning the angle distribution takes it well below.
    assert!(last < 0.8 * first, "loss {first} → {last}");

    // The trained checkpoint samples backbones of the asked length, and the noise of each
    // chain does not depend on the batch it is drawn in.
    let loaded = load_protein(Some(&dir.path().join("model.safetensors")), &device).unwrap();
    let mut how = Generation::new(SamplerConfig::new(SamplerKind::ddpm(), Some(20)), 3);
    how.batch_size = 8;
    let mut options = ProteinOptions::default();
    let all = generate(&loaded, &options, &[0, 1, 2, 3, 4], &how, &device).unwrap();
    how.batch_size = 2;
    let part = generate(&loaded, &options, &[3, 4], &how, &device).unwrap();
    for (k, (i, b)) in part.iter().enumerate() {
        let (j, full) = all.iter().nth(3 + k).unwrap();
        assert_eq!(i, j);
        assert_eq!(b.len(), full.len());
        let gap =
            b.ca.iter()
                .zip(&full.ca)
                .map(|(p, q)| (p - q).norm())
                .fold(0.0, f64::max);
        assert!(gap < 1e-3, "sample {i}: batches disagree by {gap} Å");
    }
    options.length = Some(50);
    let fixed = generate(&loaded, &options, &[0, 1], &how, &device).unwrap();
    for b in &fixed.samples {
        assert_eq!(b.len(), 50);
        // NeRF keeps the ideal bond lengths whatever angles the model gives.
        for k in 0..b.len() {
            assert!(((b.ca[k] - b.n[k]).norm() - N_CA).abs() < 1e-6);
            assert!(((b.c[k] - b.ca[k]).norm() - CA_C).abs() < 1e-6);
            if k + 1 < b.len() {
                assert!(((b.n[k + 1] - b.c[k]).norm() - C_N).abs() < 1e-6);
            }
        }
    }
}
