//! The joint model on real QM9 molecules: the loss falls, every sampler step keeps the state
//! in its space (zero centre of mass, one-hot types and charges, symmetric one-hot bonds
//! between real atoms only), and batches and shards do not change samples.

mod common;

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use common::shared;
use diffgen_core::modality::TrainRequest;
use diffgen_core::pipeline::{train_command, Generation, Pipeline};
use diffgen_core::rng::PaddedNoise;
use diffgen_core::sampler::{sample, SamplerConfig};
use diffgen_core::tensor_util::to_vec;
use diffgen_core::{Backend, SamplerKind};
use diffgen_molecule::joint::BOND_CLASSES;
use diffgen_molecule::space::MolContext;
use diffgen_molecule::{generate, load_molecule, MoleculeOptions, MoleculePipeline};

/// Trains a small joint model on 600 QM9 validation molecules; returns the run directory
/// (kept alive by the returned guard) and the logged training losses.
fn train_small(steps: u64) -> Option<(tempfile::TempDir, Vec<f64>)> {
    let valid = shared("datasets/qm9/qm9_valid.xyz.gz")?;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/molecule-qm9-joint.toml"
    ))
    .unwrap();
    let text = text
        .replace(
            "source = { kind = \"qm9\" }",
            &format!(
                "source = {{ kind = \"xyz\", train = {:?} }}\nmax_train_molecules = 600",
                valid.display().to_string()
            ),
        )
        .replace("layers = 6", "layers = 2")
        .replace("hidden = 128", "hidden = 32")
        .replace("edge_hidden = 32", "edge_hidden = 8")
        .replace("batch_size = 64", "batch_size = 32")
        .replace("log_every = 50", "log_every = 10")
        .replace("val_every = 1000", "val_every = 0")
        .replace("checkpoint_every = 500", "checkpoint_every = 0")
        .replace(
            "lr_schedule = { warmup_steps = 500 }",
            "lr_schedule = { warmup_steps = 10 }",
        )
        .replace("lr = 5e-4", "lr = 2e-3");
    let dir = tempfile::tempdir().unwrap();
    let request = TrainRequest {
        init_from: None,
        config_text: text,
        config_origin: PathBuf::from("joint-test.toml"),
        data_dir: None,
        out_dir: dir.path().join("run"),
        resume: false,
        overwrite: false,
        reschedule: false,
        backend: Backend::Cpu,
        steps: Some(steps),
        stop_at: None,
        show_progress: false,
    };
    train_command(&MoleculePipeline, &request).unwrap();
    let log = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    let losses = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["train_loss"].as_f64())
        .collect();
    Some((dir, losses))
}

#[test]
fn the_joint_loss_falls_and_samples_stay_in_their_space() {
    let Some((dir, losses)) = train_small(100) else {
        return;
    };
    assert!(losses.len() >= 5, "{losses:?}");
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(
        last < 0.7 * first,
        "train loss {first} → {last}: {losses:?}"
    );

    let device = Device::flex();
    let checkpoint = dir.path().join("run/model.safetensors");
    let loaded = load_molecule(Some(&checkpoint), &device).unwrap();
    let pipeline = MoleculePipeline;
    let process = pipeline.process(&loaded).unwrap();
    let space = pipeline.space(&loaded.config, &loaded.stats);
    let shape = space.joint.expect("a joint model's space");
    let counts = [5usize, 9, 14, 3];
    let context = MolContext::new(&counts, &device);
    let n = context.max_atoms();
    let w = shape.width();
    let check = |x: &Tensor<3>, sampler: &str| {
        let v = to_vec(x.clone());
        for (m, &count) in counts.iter().enumerate() {
            for axis in 0..3 {
                let centre: f32 = (0..count).map(|i| v[(m * n + i) * w + axis]).sum::<f32>();
                assert!(centre.abs() < 1e-3, "{sampler}: centre of mass {centre}");
            }
            for i in 0..n {
                let row = &v[(m * n + i) * w..(m * n + i + 1) * w];
                let ones = |r: &[f32]| r.iter().filter(|&&e| e == 1.0).count();
                let zeros = |r: &[f32]| r.iter().filter(|&&e| e == 0.0).count();
                let types = &row[shape.type_offset()..shape.charge_offset()];
                let charges = &row[shape.charge_offset()..shape.bond_offset()];
                let real = i < count;
                assert_eq!(ones(types), usize::from(real), "{sampler}: types {types:?}");
                assert_eq!(ones(charges), usize::from(real), "{sampler}: charges");
                assert_eq!(zeros(types) + ones(types), types.len());
                for j in 0..shape.max_atoms {
                    let at = shape.bond_offset() + j * BOND_CLASSES;
                    let bond = &row[at..at + BOND_CLASSES];
                    let pair = real && j < count && j != i;
                    assert_eq!(ones(bond), usize::from(pair), "{sampler}: bond ({i}, {j})");
                    if pair {
                        let back = (m * n + j) * w + shape.bond_offset() + i * BOND_CLASSES;
                        assert_eq!(bond, &v[back..back + BOND_CLASSES], "{sampler}: symmetry");
                    }
                }
            }
        }
    };
    for sampler in ["euler", "heun", "dpm++2m", "ddpm"] {
        let mut noise = PaddedNoise::new(1, 0..counts.len() as u64, counts.to_vec());
        let mut steps = 0;
        let out = sample(
            &SamplerConfig::new(sampler.parse::<SamplerKind>().unwrap(), Some(8)),
            &process,
            &space,
            &loaded.model,
            &context,
            [counts.len(), n, w],
            &mut noise,
            &device,
            &mut |e| {
                check(e.x, sampler);
                steps += 1;
            },
        )
        .unwrap();
        check(&out, sampler);
        assert_eq!(steps, 8, "{sampler}");
    }

    // Batches and shards do not change samples.
    let options = MoleculeOptions { atoms: None };
    let how = Generation::new(SamplerConfig::new(SamplerKind::euler(), Some(6)), 3);
    let all: Vec<usize> = (0..10).collect();
    let whole = generate(&loaded, &options, &all, &how, &device)
        .unwrap()
        .samples;
    let small = generate(
        &loaded,
        &options,
        &all,
        &Generation {
            batch_size: 3,
            ..how.clone()
        },
        &device,
    )
    .unwrap()
    .samples;
    assert_eq!(whole, small, "batch size changed samples");
    let shard = generate(&loaded, &options, &all[4..], &how, &device)
        .unwrap()
        .samples;
    assert_eq!(&whole[4..], &shard[..], "a shard differs");
    assert!(whole.iter().all(|s| s.structure.is_some()));
}
