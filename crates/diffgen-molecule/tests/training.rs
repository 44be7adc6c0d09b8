//! Training on real QM9 molecules.

mod common;

use burn::tensor::Device;
use common::shared;
use diffgen_core::config::parse_toml;
use diffgen_core::train::Trainer;
use diffgen_molecule::data::{MoleculeData, MoleculeStats};
use diffgen_molecule::space::MoleculeSpace;
use diffgen_molecule::xyz::read_xyz;
use diffgen_molecule::MoleculeConfig;

#[test]
fn the_loss_falls_on_a_qm9_subset() {
    let Some(valid) = shared("datasets/qm9/qm9_valid.xyz.gz") else {
        return;
    };
    let molecules: Vec<_> = read_xyz(&valid).unwrap().into_iter().take(512).collect();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/molecule-qm9-small.toml"
    ))
    .unwrap();
    let mut config: MoleculeConfig =
        parse_toml(&text, std::path::Path::new("molecule-qm9-small.toml")).unwrap();
    config.model.layers = 2;
    config.model.hidden = 32;
    config.training.steps = 120;
    config.training.batch_size = 32;
    config.training.log_every = 10;
    config.training.val_every = 0;
    config.training.checkpoint_every = 0;
    config.training.optimizer.lr = 1e-3;
    config.validate().unwrap();
    let data = MoleculeData::new(&molecules, &config.encoding).unwrap();
    let stats = MoleculeStats::from_molecules(&molecules, "qm9 valid subset");
    let device = Device::flex();
    let model = diffgen_core::rng::init_seeded(&device, 0, || {
        config.model.init(config.encoding.features(), &device)
    });
    let dir = tempfile::tempdir().unwrap();
    Trainer {
        config: &config.training,
        diffusion: &config.diffusion,
        layout: diffgen_core::process::StateLayout::single(),
        space: &MoleculeSpace::EDM,
        out_dir: dir.path().to_path_buf(),
        device,
        modality: "molecule".into(),
        former_modalities: &[],
        modality_config: serde_json::to_value(&config).unwrap(),
        data_stats: serde_json::to_value(&stats).unwrap(),
        show_progress: false,
        stop_at: None,
        lr_horizon: None,
        persistence: diffgen_core::train::Persistence::Checkpoints,
    }
    .run::<3, _, _, MoleculeData>(model, &data, None, None)
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
    assert!(last < 0.5 * first, "loss {first} → {last}");
}
