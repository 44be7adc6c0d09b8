//! Fold-class conditioning of the Cα model: the class rule is the data set's, a network
//! started from an unconditional run (`train --init`) begins as that network, and after
//! fine-tuning the class and the guidance scale change what it predicts and samples.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use diffgen_core::checkpoint::{Checkpoint, EMA_PREFIX};
use diffgen_core::config::parse_toml;
use diffgen_core::modality::TrainRequest;
use diffgen_core::pipeline::{self, train_command, Generation, Pipeline};
use diffgen_core::sampler::SamplerConfig;
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::{Backend, Denoiser, Guided, Objective, SamplerKind};
use diffgen_protein::ca::config::CaConfig;
use diffgen_protein::ca::CaPipeline;
use diffgen_protein::fold_class::FoldClass;
use diffgen_protein::io::load_split;
use diffgen_protein::space::ProteinContext;
use diffgen_protein::ProteinOptions;

#[test]
fn the_class_rule_gives_the_data_sets_ss_class() {
    let Some(root) = common::data_root() else {
        return;
    };
    let index = std::fs::read_to_string(root.join("proteins/index.tsv")).unwrap();
    let classes: HashMap<&str, &str> = index
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[0], fields[3])
        })
        .collect();
    let mut checked = 0;
    for split in ["train", "valid", "test"] {
        for b in load_split(&root, split).unwrap() {
            let dssp = b.dssp.as_deref().expect("the shared set stores DSSP");
            assert_eq!(
                FoldClass::of_dssp(dssp).name(),
                classes[b.id.as_str()],
                "{}",
                b.id
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 5961);
}

fn train(text: String, root: &Path, out: PathBuf, steps: u64, init: Option<PathBuf>) {
    let request = TrainRequest {
        config_text: text,
        config_origin: PathBuf::from("fold-class-test.toml"),
        data_dir: Some(root.to_path_buf()),
        out_dir: out,
        resume: false,
        overwrite: false,
        reschedule: false,
        backend: Backend::Cpu,
        init_from: init,
        steps: Some(steps),
        stop_at: None,
        show_progress: false,
    };
    train_command(&CaPipeline, &request).unwrap();
}

fn max_difference(a: Tensor<3>, b: Tensor<3>) -> f32 {
    to_vec(a)
        .iter()
        .zip(to_vec(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn fine_tuning_adds_fold_classes_that_steer_the_model() {
    let Some(root) = common::data_root() else {
        return;
    };
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let plain_run = dir.path().join("plain");
    // The recipe without its labels: an unconditional run to start from.
    let unlabelled = common::small_ca_config("").replace("fold_class = { dropout = 0.2 }\n", "");
    assert!(!unlabelled.contains("fold_class = "));
    train(unlabelled, &root, plain_run.clone(), 20, None);
    let plain_file = plain_run.join("model.safetensors");
    let plain = pipeline::load(&CaPipeline, Some(&plain_file), &device).unwrap();

    // Started from the plain run, the new network is the plain one for every label.
    let text = common::small_ca_config("");
    assert!(text.contains("fold_class = { dropout = 0.2 }"));
    let config: CaConfig = parse_toml(&text, Path::new("fold-class-test.toml")).unwrap();
    let fresh = config.model.init(Objective::Sample, &device);
    let (started, load) = Checkpoint::load(&plain_file)
        .unwrap()
        .load_module_matching(EMA_PREFIX, fresh, &device, &plain_file)
        .unwrap();
    assert_eq!(load.fresh, vec!["label.weight".to_string()]);
    assert!(load.unused.is_empty(), "{:?}", load.unused);
    let lengths = [30usize, 30, 30, 30, 30];
    let mut values = Vec::new();
    for k in 0..5 * 30 * 3 {
        values.push(((k * 7919 % 113) as f32 / 113.0 - 0.5) * 2.0);
    }
    let x = tensor_from_vec(values, [5, 30, 3], &device);
    let t = Tensor::<1>::full([5], 0.4, &device);
    let context = ProteinContext::new(&lengths, &device);
    let unconditional = plain.model.predict(x.clone(), t.clone(), &context);
    let labelled = context.clone().with_labels(&[0, 1, 2, 3, 4], &device);
    let as_started = started.predict(x.clone(), t.clone(), &labelled);
    assert!(max_difference(unconditional.clone(), as_started) < 1e-6);

    // Fine-tuned, the label matters, and guidance mixes the two halves as it should.
    let tuned_run = dir.path().join("tuned");
    train(text, &root, tuned_run.clone(), 30, Some(plain_file));
    let tuned_file = tuned_run.join("model.safetensors");
    let tuned = pipeline::load(&CaPipeline, Some(&tuned_file), &device).unwrap();
    let counts = tuned
        .stats
        .fold_classes
        .clone()
        .expect("class counts stored");
    assert_eq!(counts.len(), 4);
    assert!(
        counts[0] > 0 && counts[1] > 0 && counts[2] > 0,
        "{counts:?}"
    );
    let alpha = context.clone().with_labels(&[0; 5], &device);
    let beta = context.clone().with_labels(&[1; 5], &device);
    let as_alpha = tuned.model.predict(x.clone(), t.clone(), &alpha);
    let as_beta = tuned.model.predict(x.clone(), t.clone(), &beta);
    assert!(max_difference(as_alpha.clone(), as_beta.clone()) > 1e-4);
    let null = tuned
        .model
        .unconditional(&beta)
        .expect("a conditional model");
    let labels: Vec<i64> = null
        .labels
        .clone()
        .unwrap()
        .into_data()
        .iter::<i64>()
        .collect();
    assert_eq!(labels, vec![4; 5]);
    let as_null = tuned.model.predict(x.clone(), t.clone(), &null);
    let guided = Guided::new(&tuned.model, 2.5).predict(x.clone(), t.clone(), &beta);
    let expected = as_null.clone() + (as_beta - as_null).mul_scalar(2.5);
    assert!(max_difference(guided, expected) < 1e-4);

    // Sampling: the option sets every chain's class; without it classes are drawn per
    // chain, and batch size still does not change samples.
    let how = Generation::new(SamplerConfig::new(SamplerKind::euler(), Some(4)), 1);
    let all: Vec<usize> = (0..4).collect();
    let with = |class: Option<FoldClass>, batch: usize| {
        let options = ProteinOptions {
            length: Some(24),
            fold_class: class,
            ..Default::default()
        };
        let how = Generation {
            batch_size: batch,
            ..how.clone()
        };
        pipeline::generate(&CaPipeline, &tuned, &options, &all, &how, &device)
            .unwrap()
            .samples
    };
    let mainly_alpha = with(Some(FoldClass::MainlyAlpha), 4);
    let mainly_beta = with(Some(FoldClass::MainlyBeta), 4);
    assert_ne!(mainly_alpha, mainly_beta);
    assert_eq!(with(None, 4), with(None, 1));
    let plan = CaPipeline.plan(&tuned, &ProteinOptions::default(), 0, 1);
    assert!(plan.condition.is_some(), "a class drawn for every chain");
}
