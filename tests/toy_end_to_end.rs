//! The toy modality end to end: training makes samples match the data; sampling is
//! deterministic, shardable, and guidance behaves as its definition says.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{fresh_model, small_config, toy_data, trainer};
use diffgen_core::sampler::{SamplerConfig, SamplerKind};
use diffgen_core::tensor_util::to_vec;
use diffgen_core::{Denoiser, EuclideanSpace, Guided};
use diffgen_toy::data::ToyData;
use diffgen_toy::metrics::mmd2;
use diffgen_toy::model::ToyContext;
use diffgen_toy::{generate, generate_with, load_toy, Generation, ToyOptions};

#[test]
fn a_short_training_run_beats_the_untrained_model() {
    let config = small_config(5000, false);
    let data = toy_data(&config);
    let space = EuclideanSpace::<ToyContext>::new();
    let dir = tempfile::tempdir().unwrap();

    // Untrained: the state before the first step (a stop at step 1 keeps the init nearly).
    let untrained_dir = tempfile::tempdir().unwrap();
    trainer(&config, &space, untrained_dir.path(), Some(1))
        .run::<2, _, _, ToyData>(fresh_model(&config), &data, None, None)
        .unwrap();
    trainer(&config, &space, dir.path(), None)
        .run::<2, _, _, ToyData>(fresh_model(&config), &data, None, None)
        .unwrap();

    let device = Device::flex();
    let reference = config.data.source.points(600, 77, 2).unwrap().points;
    let score = |path: &std::path::Path| {
        let loaded = load_toy(Some(path), &device).unwrap();
        let indices: Vec<usize> = (0..600).collect();
        let how = Generation::new(SamplerConfig::new(SamplerKind::ddpm(), Some(100)), 5);
        let samples = generate(&loaded, &indices, &how, &device).unwrap().samples;
        let points: Vec<[f64; 2]> = samples.iter().map(|s| s.point).collect();
        mmd2(&points, &reference, 1.4)
    };
    let untrained = score(&untrained_dir.path().join("model.safetensors"));
    let trained = score(&dir.path().join("model.safetensors"));
    assert!(
        trained < 0.25 * untrained,
        "MMD² trained {trained} vs untrained {untrained}"
    );
}

#[test]
fn sampling_is_deterministic_batch_independent_and_shardable() {
    let device = Device::flex();
    let loaded = load_toy(None, &device).expect("the bundled model loads");
    let how = Generation::new(SamplerConfig::new(SamplerKind::ddpm(), Some(50)), 9);
    let all: Vec<usize> = (0..40).collect();
    let whole = generate(&loaded, &all, &how, &device).unwrap().samples;
    let again = generate(&loaded, &all, &how, &device).unwrap().samples;
    assert_eq!(whole, again, "same seed, same samples");
    let other_seed = generate(
        &loaded,
        &all,
        &Generation {
            seed: 10,
            ..how.clone()
        },
        &device,
    )
    .unwrap()
    .samples;
    assert_ne!(whole, other_seed);
    // Shards 0/3, 1/3, 2/3 in small batches give the same samples as one run.
    let mut union = Vec::new();
    for shard in 0..3 {
        let range = diffgen_core::modality::Shard {
            index: shard,
            count: 3,
        }
        .range(40);
        let indices: Vec<usize> = range.collect();
        let part = generate(
            &loaded,
            &indices,
            &Generation {
                batch_size: 7,
                ..how.clone()
            },
            &device,
        )
        .unwrap()
        .samples;
        union.extend(part);
    }
    assert_eq!(union.len(), whole.len());
    for (a, b) in union.iter().zip(&whole) {
        assert_eq!(a.index, b.index);
        for k in 0..2 {
            assert!(
                (a.point[k] - b.point[k]).abs() < 1e-4,
                "sample {}: {:?} vs {:?}",
                a.index,
                a.point,
                b.point
            );
        }
    }
}

#[test]
fn guidance_interpolates_between_unconditional_and_conditional() {
    let device = Device::flex();
    let loaded = load_toy(None, &device).unwrap();
    let model = &loaded.model;
    let n = 16;
    let x = Tensor::<2>::random(
        [n, 2],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let t = Tensor::<1>::full([n], 0.4, &device);
    let labels = |l: i64| ToyContext {
        labels: Some(Tensor::<1, Int>::from_data(
            TensorData::new(vec![l; n], [n]),
            &device,
        )),
    };
    let cond = labels(3);
    let uncond = model
        .unconditional(&cond)
        .expect("the bundled model is conditional");
    let p_cond = to_vec(model.predict(x.clone(), t.clone(), &cond));
    let p_uncond = to_vec(model.predict(x.clone(), t.clone(), &uncond));
    let g0 = to_vec(Guided::new(model, 0.0).predict(x.clone(), t.clone(), &cond));
    let g1 = to_vec(Guided::new(model, 1.0).predict(x.clone(), t.clone(), &cond));
    let g3 = to_vec(Guided::new(model, 3.0).predict(x.clone(), t.clone(), &cond));
    for i in 0..p_cond.len() {
        assert!(
            (g0[i] - p_uncond[i]).abs() < 1e-5,
            "scale 0 is unconditional"
        );
        assert!((g1[i] - p_cond[i]).abs() < 1e-5, "scale 1 is conditional");
        let expected = p_uncond[i] + 3.0 * (p_cond[i] - p_uncond[i]);
        assert!((g3[i] - expected).abs() < 1e-4, "scale 3 extrapolates");
    }
    // The condition matters: the two predictions differ.
    assert!(p_cond
        .iter()
        .zip(&p_uncond)
        .any(|(a, b)| (a - b).abs() > 1e-3));
}

#[test]
fn conditional_samples_land_on_their_component() {
    let device = Device::flex();
    let loaded = load_toy(None, &device).unwrap();
    let indices: Vec<usize> = (0..200).collect();
    for class in [0usize, 3, 6] {
        let how = Generation {
            guidance: Some(2.0),
            ..Generation::new(
                SamplerConfig::new(SamplerKind::dpm_solver_2m(), Some(25)),
                1,
            )
        };
        let options = ToyOptions { class: Some(class) };
        let samples = generate_with(&loaded, &options, &indices, &how, &device)
            .unwrap()
            .samples;
        let angle = class as f64 * std::f64::consts::TAU / 8.0;
        let centre = [2.0 * angle.cos(), 2.0 * angle.sin()];
        let near = samples
            .iter()
            .filter(|s| {
                ((s.point[0] - centre[0]).powi(2) + (s.point[1] - centre[1]).powi(2)).sqrt() < 0.5
            })
            .count();
        assert!(
            near >= 180,
            "class {class}: {near}/200 samples near its component"
        );
    }
}
