//! The Cα design on real CATH chains: the loss falls, every sampler step keeps the trace in
//! its space (zero centre of mass over real residues, padding zero), a chain's prediction
//! does not depend on the chains padded beside it, and batches and shards do not change
//! samples.

mod common;

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use diffgen_core::modality::TrainRequest;
use diffgen_core::pipeline::{self, train_command, Generation, Pipeline};
use diffgen_core::rng::PaddedNoise;
use diffgen_core::sampler::{sample, SamplerConfig};
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::{Backend, Denoiser, SamplerKind};
use diffgen_protein::ca::CaPipeline;
use diffgen_protein::space::ProteinContext;
use diffgen_protein::ProteinOptions;

/// Trains a small Cα model on CATH train for `steps`; the run directory and its losses.
fn train_small(steps: u64) -> Option<(tempfile::TempDir, Vec<f64>)> {
    let root = common::data_root()?;
    let text = common::small_ca_config("");
    let dir = tempfile::tempdir().unwrap();
    let request = TrainRequest {
        init_from: None,
        config_text: text,
        config_origin: PathBuf::from("ca-test.toml"),
        data_dir: Some(root),
        out_dir: dir.path().join("run"),
        resume: false,
        overwrite: false,
        reschedule: false,
        backend: Backend::Cpu,
        steps: Some(steps),
        stop_at: None,
        show_progress: false,
    };
    train_command(&CaPipeline, &request).unwrap();
    let log = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    let losses = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["train_loss"].as_f64())
        .collect();
    Some((dir, losses))
}

#[test]
fn the_ca_loss_falls_and_samples_stay_centred() {
    let Some((dir, losses)) = train_small(150) else {
        return;
    };
    assert!(losses.len() >= 5, "{losses:?}");
    let first = losses[0];
    let last = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(
        last < 0.6 * first,
        "train loss {first} → {last}: {losses:?}"
    );

    let device = Device::flex();
    let loaded = pipeline::load(
        &CaPipeline,
        Some(&dir.path().join("run/model.safetensors")),
        &device,
    )
    .unwrap();
    let process = CaPipeline.process(&loaded).unwrap();
    let space = CaPipeline.space(&loaded.config, &loaded.stats);
    let lengths = [40usize, 57, 12];
    let context = ProteinContext::new(&lengths, &device);
    let l = 57;
    let check = |x: &Tensor<3>, sampler: &str| {
        let v = to_vec(x.clone());
        for (m, &n) in lengths.iter().enumerate() {
            for axis in 0..3 {
                let centre: f32 = (0..n).map(|i| v[(m * l + i) * 3 + axis]).sum();
                assert!(centre.abs() < 1e-3, "{sampler}: centre of mass {centre}");
                for i in n..l {
                    assert_eq!(v[(m * l + i) * 3 + axis], 0.0, "{sampler}: padding");
                }
            }
        }
    };
    for sampler in ["euler", "heun", "dpm++2m"] {
        let mut noise = PaddedNoise::new(1, 0..lengths.len() as u64, lengths.to_vec());
        let mut steps = 0;
        let out = sample(
            &SamplerConfig::new(sampler.parse::<SamplerKind>().unwrap(), Some(6)),
            &process,
            &space,
            &loaded.model,
            &context,
            [lengths.len(), l, 3],
            &mut noise,
            &device,
            &mut |e| {
                check(e.x, sampler);
                steps += 1;
            },
        )
        .unwrap();
        check(&out, sampler);
        assert_eq!(steps, 6, "{sampler}");
    }

    // A chain's prediction is its own: padding it beside a longer chain changes nothing.
    let alone = ProteinContext::new(&[12], &device);
    let x: Tensor<3> = tensor_from_vec(
        (0..36).map(|k| ((k * 7 % 11) as f32 - 5.0) * 0.1).collect(),
        [1, 12, 3],
        &device,
    );
    let x = space_project(&space, x, &alone);
    let t = Tensor::<1>::full([1], 0.3, &device);
    let single = to_vec(loaded.model.predict(x.clone(), t.clone(), &alone));
    let padded_x = Tensor::cat(
        vec![
            Tensor::cat(vec![x, Tensor::zeros([1, 45, 3], &device)], 1),
            Tensor::ones([1, 57, 3], &device),
        ],
        0,
    );
    let pair = ProteinContext::new(&[12, 57], &device);
    let padded_x = space_project(&space, padded_x, &pair);
    let padded = to_vec(
        loaded
            .model
            .predict(padded_x, Tensor::full([2], 0.3, &device), &pair),
    );
    for k in 0..36 {
        assert!(
            (single[k] - padded[k]).abs() < 1e-4,
            "residue {}: {} alone, {} padded",
            k / 3,
            single[k],
            padded[k]
        );
    }

    // Batches and shards do not change samples, and each sample is a full backbone.
    let options = ProteinOptions {
        length: Some(30),
        ..Default::default()
    };
    let how = Generation::new(SamplerConfig::new(SamplerKind::euler(), Some(5)), 3);
    let all: Vec<usize> = (0..6).collect();
    let whole = pipeline::generate(&CaPipeline, &loaded, &options, &all, &how, &device)
        .unwrap()
        .samples;
    let small = pipeline::generate(
        &CaPipeline,
        &loaded,
        &options,
        &all,
        &Generation {
            batch_size: 2,
            ..how.clone()
        },
        &device,
    )
    .unwrap()
    .samples;
    assert_eq!(whole, small, "batch size changed samples");
    let shard = pipeline::generate(&CaPipeline, &loaded, &options, &all[3..], &how, &device)
        .unwrap()
        .samples;
    assert_eq!(&whole[3..], &shard[..], "a shard differs");
    for b in &whole {
        assert_eq!(b.len(), 30);
        assert_eq!(b.n.len(), 30);
        assert!(b
            .n
            .iter()
            .chain(&b.c)
            .chain(&b.o)
            .all(|p| p.iter().all(|v| v.is_finite())));
    }
}

fn space_project(
    space: &diffgen_protein::ca::space::CaSpace,
    x: Tensor<3>,
    context: &ProteinContext,
) -> Tensor<3> {
    diffgen_core::NoiseSpace::project(space, x, context)
}
