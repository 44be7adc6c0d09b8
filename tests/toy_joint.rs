//! The joint toy: the point by flow matching and its ring component as a categorical part,
//! generated together. Its bundled model must put each label where its point is, match the
//! ring as well as the Gaussian toy does, train from scratch, and sample the same whatever
//! the batching.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use diffgen_core::modality::TrainRequest;
use diffgen_core::pipeline::train_command;
use diffgen_core::sampler::SamplerConfig;
use diffgen_core::{Backend, SamplerKind};
use diffgen_toy::data::DataSource;
use diffgen_toy::metrics::mmd2;
use diffgen_toy::{generate, load_toy, Generation, ToyPipeline, JOINT_CONFIG};

const RING: DataSource = DataSource::Ring {
    radius: 2.0,
    std: 0.1,
};

fn samples(
    checkpoint: Option<&str>,
    sampler: &str,
    steps: usize,
    n: usize,
) -> Vec<diffgen_toy::io::ToySample> {
    let device = Device::flex();
    let loaded = load_toy(checkpoint.map(Path::new), &device).unwrap();
    let kind: SamplerKind = sampler.parse().unwrap();
    let mut how = Generation::new(SamplerConfig::new(kind, Some(steps)), 21);
    how.batch_size = 500;
    let indices: Vec<usize> = (0..n).collect();
    generate(&loaded, &indices, &how, &device).unwrap().samples
}

fn points(s: &[diffgen_toy::io::ToySample]) -> Vec<[f64; 2]> {
    s.iter().map(|s| s.point).collect()
}

#[test]
fn the_bundled_joint_model_puts_each_label_where_its_point_is() {
    let n = 1000;
    let reference = RING.points(2000, 99, 5).unwrap();
    let joint = samples(Some("bundled:joint"), "euler", 100, n);
    // The label of the nearest reference point is the component the point lies in.
    let agree = joint
        .iter()
        .filter(|s| {
            let nearest = reference
                .points
                .iter()
                .zip(&reference.labels)
                .min_by(|(a, _), (b, _)| {
                    let d =
                        |p: &[f64; 2]| (p[0] - s.point[0]).powi(2) + (p[1] - s.point[1]).powi(2);
                    d(a).total_cmp(&d(b))
                })
                .unwrap()
                .1;
            s.label.is_some() && s.label == *nearest
        })
        .count() as f64
        / n as f64;
    assert!(agree >= 0.95, "label agreement {agree}");

    // Every component is generated, in about its share (1/8 each).
    let mut counts = [0usize; 8];
    for s in &joint {
        counts[s.label.unwrap()] += 1;
    }
    assert!(
        counts.iter().all(|&c| (70..=180).contains(&c)),
        "{counts:?}"
    );

    // MMD² within 2× of the Gaussian toy's (unconditional DDPM, all levels), or of the
    // estimate's own floor: two independent draws of the ring.
    let gaussian = samples(None, "ddpm", 1000, n);
    let ring = RING.points(n, 7, 3).unwrap().points;
    let scale = 1.4;
    let mmd_joint = mmd2(&points(&joint), &ring, scale);
    let mmd_gaussian = mmd2(&points(&gaussian), &ring, scale);
    let floor = mmd2(&RING.points(n, 8, 4).unwrap().points, &ring, scale).abs();
    assert!(
        mmd_joint <= 2.0 * mmd_gaussian.max(floor),
        "MMD² joint {mmd_joint}, Gaussian {mmd_gaussian}, floor {floor}"
    );
}

#[test]
fn joint_samples_do_not_depend_on_batches_or_shards() {
    let device = Device::flex();
    let loaded = load_toy(Some(Path::new("bundled:joint")), &device).unwrap();
    for sampler in ["euler", "euler-maruyama:1", "dpm++2m"] {
        let kind: SamplerKind = sampler.parse().unwrap();
        let how = Generation::new(SamplerConfig::new(kind, Some(20)), 4);
        let all: Vec<usize> = (0..30).collect();
        let whole = generate(&loaded, &all, &how, &device).unwrap().samples;
        let small = generate(
            &loaded,
            &all,
            &Generation {
                batch_size: 7,
                ..how.clone()
            },
            &device,
        )
        .unwrap()
        .samples;
        assert_eq!(whole, small, "{sampler}: batch size changed samples");
        let shard = generate(&loaded, &all[12..], &how, &device)
            .unwrap()
            .samples;
        assert_eq!(&whole[12..], &shard[..], "{sampler}: a shard differs");
        let other = generate(
            &loaded,
            &all,
            &Generation {
                seed: 5,
                ..how.clone()
            },
            &device,
        )
        .unwrap()
        .samples;
        assert_ne!(whole, other, "{sampler}: the seed changes nothing");
    }
}

#[test]
fn the_joint_model_trains_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let config = JOINT_CONFIG
        .replace("val_every = 2000", "val_every = 150")
        .replace("checkpoint_every = 5000", "checkpoint_every = 0");
    let request = TrainRequest {
        init_from: None,
        config_text: config,
        config_origin: PathBuf::from("configs/toy-ring-joint.toml"),
        data_dir: None,
        out_dir: dir.path().join("run"),
        resume: false,
        overwrite: false,
        reschedule: false,
        backend: Backend::Cpu,
        steps: Some(600),
        stop_at: None,
        show_progress: false,
    };
    train_command(&ToyPipeline, &request).unwrap();
    let log = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    let val: Vec<f64> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["val_loss"].as_f64())
        .collect();
    assert!(val.len() >= 3, "{log}");
    // The first validation comes after 150 steps; the untrained loss is far higher still
    // (ln 8 ≈ 2.08 for the label alone).
    assert!(
        val.last().unwrap() < &(val[0] - 0.02),
        "validation loss did not fall: {val:?}"
    );
}
