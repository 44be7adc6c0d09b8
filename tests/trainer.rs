//! The trainer's guarantees: determinism, exact resume, atomic checkpoints, NaN stop, and
//! clear refusals of bad configs and foreign checkpoints.

mod common;

use std::path::Path;

use burn::tensor::{Device, Tensor};
use common::{fresh_model, small_config, toy_data, trainer};
use diffgen_core::checkpoint::{write_atomic, Checkpoint, EMA_PREFIX};
use diffgen_core::config::parse_toml;
use diffgen_core::error::BoxError;
use diffgen_core::rng::SeededRng;
use diffgen_core::train::TrainData;
use diffgen_core::{CoreError, EuclideanSpace};
use diffgen_toy::data::ToyData;
use diffgen_toy::model::ToyContext;
use diffgen_toy::ToyConfig;

fn weights(path: &Path) -> Checkpoint {
    Checkpoint::load(path).unwrap()
}

#[test]
fn same_seed_same_weights_and_resume_is_exact() {
    let config = small_config(30, true);
    let data = toy_data(&config);
    let space = EuclideanSpace::<ToyContext>::new();

    let straight = tempfile::tempdir().unwrap();
    trainer(&config, &space, straight.path(), None)
        .run::<2, _, _, ToyData>(fresh_model(&config), &data, None, None)
        .unwrap();

    let again = tempfile::tempdir().unwrap();
    trainer(&config, &space, again.path(), None)
        .run::<2, _, _, ToyData>(fresh_model(&config), &data, None, None)
        .unwrap();

    let split = tempfile::tempdir().unwrap();
    let first = trainer(&config, &space, split.path(), Some(15))
        .run::<2, _, _, ToyData>(fresh_model(&config), &data, None, None)
        .unwrap();
    assert_eq!(first.steps, 15);
    let ckpt = split.path().join("checkpoint.safetensors");
    // A fresh model (other parameter ids, other initial values) resumes from the file.
    let other = {
        let mut c = config.clone();
        c.training.seed = 99;
        fresh_model(&c)
    };
    let resumed = trainer(&config, &space, split.path(), None)
        .run::<2, _, _, ToyData>(other, &data, None, Some(&ckpt))
        .unwrap();
    assert_eq!(resumed.steps, 30);

    let a = weights(&straight.path().join("checkpoint.safetensors"));
    let b = weights(&again.path().join("checkpoint.safetensors"));
    let c = weights(&ckpt);
    assert_eq!(a.meta.step, 30);
    assert_eq!(c.meta.step, 30);
    assert!(!a.tensors.is_empty());
    for (name, tensor) in &a.tensors {
        assert_eq!(
            Some(tensor),
            b.tensors.get(name),
            "{name}: two runs with one seed differ"
        );
        assert_eq!(
            Some(tensor),
            c.tensors.get(name),
            "{name}: 15 + resume + 15 differs from 30 straight"
        );
    }
    // The resumed log has no duplicated steps.
    let log = std::fs::read_to_string(split.path().join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
}

#[test]
fn training_lowers_the_loss_and_writes_its_outputs() {
    let config = small_config(150, true);
    let data = toy_data(&config);
    let space = EuclideanSpace::<ToyContext>::new();
    let dir = tempfile::tempdir().unwrap();
    trainer(&config, &space, dir.path(), None)
        .run::<2, _, _, ToyData>(fresh_model(&config), &data, None, None)
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
    assert!(last < 0.6 * first, "loss went from {first} to {last}");
    for file in [
        "checkpoint.safetensors",
        "model.safetensors",
        "loss.png",
        "metrics.jsonl",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    // The inference copy holds only the averaged weights.
    let inference = weights(&dir.path().join("model.safetensors"));
    assert!(inference.meta.resume.is_none() && inference.optimizer.is_none());
    assert!(inference.tensors.keys().all(|k| k.starts_with("ema.")));
}

/// Data whose batch at `bad_step` (1-based) holds a NaN.
struct PoisonedData {
    inner: ToyData,
    bad_step: u64,
    calls: std::cell::Cell<u64>,
}

impl TrainData<2> for PoisonedData {
    type Context = ToyContext;

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn batch(
        &self,
        indices: &[usize],
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<(Tensor<2>, ToyContext), BoxError> {
        self.calls.set(self.calls.get() + 1);
        let (x, ctx) = self.inner.batch(indices, rng, device)?;
        if self.calls.get() == self.bad_step {
            return Ok((x.mul_scalar(f64::NAN), ctx));
        }
        Ok((x, ctx))
    }
}

#[test]
fn a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let mut config = small_config(20, true);
    config.training.checkpoint_every = 5;
    let space = EuclideanSpace::<ToyContext>::new();
    let data = PoisonedData {
        inner: toy_data(&config),
        bad_step: 8,
        calls: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let err = trainer(&config, &space, dir.path(), None)
        .run::<2, _, _, ToyData>(fresh_model(&config), &data, None, None)
        .err()
        .expect("NaN must stop training");
    assert!(
        matches!(err, CoreError::NonFiniteLoss { step: 8, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("step 8"));
    let kept = weights(&dir.path().join("checkpoint.safetensors"));
    assert_eq!(kept.meta.step, 5);
    assert!(kept
        .tensors
        .values()
        .all(|t| t.values.iter().all(|v| v.is_finite())));
}

#[test]
fn an_interrupted_write_leaves_the_old_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.bin");
    write_atomic(&path, |f| std::io::Write::write_all(f, b"old")).unwrap();
    // The writer dies half-way (disk full, killed): the old file stays, the temp goes.
    let err = write_atomic(&path, |f| {
        std::io::Write::write_all(f, b"ne")?;
        Err(std::io::Error::other("disk full"))
    });
    assert!(err.unwrap_err().to_string().contains("ckpt.bin"));
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
}

#[test]
fn foreign_and_misshapen_checkpoints_are_refused() {
    let config = small_config(2, true);
    let data = toy_data(&config);
    let space = EuclideanSpace::<ToyContext>::new();
    let dir = tempfile::tempdir().unwrap();
    trainer(&config, &space, dir.path(), None)
        .run::<2, _, _, ToyData>(fresh_model(&config), &data, None, None)
        .unwrap();
    let path = dir.path().join("model.safetensors");
    let ckpt = weights(&path);

    let err = ckpt
        .expect_modality("molecule", &["points"], &path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`toy` checkpoint") && err.contains("model.safetensors"),
        "{err}"
    );
    // A modality renamed from `toy` still loads it.
    ckpt.expect_modality("points", &["toy"], &path).unwrap();

    let mut wider = config.clone();
    wider.model.hidden = 96;
    let model = wider.model.init(
        wider.diffusion.objective,
        diffgen_toy::model::ToyShape {
            width: 2,
            num_classes: 8,
            self_conditioning: false,
        },
        &Device::flex(),
    );
    let err = ckpt
        .load_module(EMA_PREFIX, model, None, &Device::flex(), &path)
        .expect_err("shape mismatch")
        .to_string();
    assert!(
        err.contains("shape") && err.contains("[2, 64]") && err.contains("[2, 96]"),
        "{err}"
    );

    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint at all").unwrap();
    let err = Checkpoint::load(&junk).unwrap_err().to_string();
    assert!(
        err.contains("junk.safetensors") && err.contains("not a safetensors file"),
        "{err}"
    );
}

#[test]
fn bad_configs_name_the_key() {
    let good = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/toy-ring.toml"
    ))
    .unwrap();
    let origin = Path::new("configs/toy-ring.toml");
    let config: ToyConfig = parse_toml(&good, origin).unwrap();
    config.validate().unwrap();

    let unknown = good.replace("hidden = 256", "hiden = 256");
    let err = parse_toml::<ToyConfig>(&unknown, origin)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hiden") && err.contains("toy-ring.toml") && err.contains("line"),
        "{err}"
    );

    let wrong_type = good.replace("batch_size = 256", "batch_size = \"many\"");
    let err = parse_toml::<ToyConfig>(&wrong_type, origin)
        .unwrap_err()
        .to_string();
    assert!(err.contains("line"), "{err}");

    let negative = good.replace("lr = 2e-3", "lr = -1.0");
    let config: ToyConfig = parse_toml(&negative, origin).unwrap();
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("training.optimizer.lr"), "{err}");

    let bad_schedule = good.replace(
        "kind = \"cosine\", steps = 1000",
        "kind = \"cosine\", steps = 1",
    );
    let config: ToyConfig = parse_toml(&bad_schedule, origin).unwrap();
    assert!(config
        .validate()
        .unwrap_err()
        .to_string()
        .contains("diffusion.schedule.steps"));
}
