//! `diffgen train` for any modality: config, overrides, the run directory's rules, resume.

use std::path::Path;
use std::time::Instant;

use super::{load, to_json, DataRequest, ModalityConfig, Pipeline};
use crate::checkpoint::{Checkpoint, EMA_PREFIX};
use crate::config::parse_toml;
use crate::modality::{Report, TrainRequest};
use crate::train::{Persistence, TrainOutcome, Trainer};
use crate::CoreError;

/// A modality's training data, as [`Pipeline::load_data`] returns it.
pub struct TrainSets<T, S> {
    /// The training examples.
    pub train: T,
    /// Held-out examples for the validation loss (`None`: no validation).
    pub validation: Option<T>,
    /// What the checkpoint stores about the data.
    pub stats: S,
    /// Figures reported first (`training molecules`).
    pub summary: Vec<(String, f64)>,
    /// Lines reported after the figures (skipped files, say).
    pub notes: Vec<String>,
}

/// Files a run directory holds; any of them means a run is there.
const RUN_FILES: &[&str] = &[
    "checkpoint.safetensors",
    "model.safetensors",
    "best.safetensors",
    "metrics.jsonl",
    "loss.png",
];

/// Trains `pipeline`'s model as `request` says.
pub fn train_command<P: Pipeline<D>, const D: usize>(
    pipeline: &P,
    request: &TrainRequest,
) -> Result<Report, P::Error> {
    if request.resume && request.init_from.is_some() {
        return Err(CoreError::Other(
            "--init starts a new run from a checkpoint's weights; --resume continues the run in --out: choose one".into(),
        )
        .into());
    }
    if let Some(other) = pipeline.train_other(request) {
        return other;
    }
    let info = pipeline.info();
    let mut config: P::Config = parse_toml(&request.config_text, &request.config_origin)?;
    if let Some(steps) = request.steps {
        config.training_mut().steps = steps;
    }
    config.validate()?;
    let out_dir = &request.out_dir;
    let mut notes = Vec::new();
    let existing: Vec<&str> = RUN_FILES
        .iter()
        .copied()
        .filter(|f| out_dir.join(f).exists())
        .collect();
    let mut lr_horizon = None;
    if request.resume {
        let path = out_dir.join("checkpoint.safetensors");
        if !path.exists() {
            return Err(CoreError::checkpoint(&path, "does not exist; nothing to resume").into());
        }
        let stored = Checkpoint::load(&path)?;
        stored.expect_modality(info.name, info.former_names, &path)?;
        pipeline.check_checkpoint(&stored, &path)?;
        let mut original: P::Config = stored.config(&path)?;
        let horizon = stored
            .meta
            .resume
            .as_ref()
            .and_then(|r| r.lr_horizon)
            .unwrap_or(original.training().steps);
        let steps = config.training().steps;
        let rescheduled = |key: &str| request.reschedule && key.starts_with("training.lr_schedule");
        notes.extend(differences(&to_json(&original)?, &to_json(&config)?, "")
            .into_iter()
            .filter(|(key, _)| key != "training.steps")
            .map(|(key, change)| if rescheduled(&key) {
                format!("resume: `{key}` changed ({change}); applied from step {} on (--reschedule)", stored.meta.step)
            } else {
                format!("resume: `{key}` changed ({change}); the run continues with the checkpoint's value")
            }));
        if request.reschedule {
            // The new schedule is a function of the absolute step over the new length, so a
            // cool-down can start where the run stands (`lr_schedule.decay_start`).
            original.training_mut().lr_schedule = config.training().lr_schedule.clone();
            lr_horizon = Some(steps);
        } else {
            if steps != original.training().steps {
                notes.push(format!(
                    "resume: training.steps {} → {steps}; the learning-rate schedule keeps its original length ({horizon} steps) and stays at its final value after it",
                    original.training().steps
                ));
            }
            lr_horizon = Some(horizon);
        }
        original.training_mut().steps = steps;
        original.validate()?;
        config = original;
    } else if !existing.is_empty() && !request.overwrite {
        return Err(CoreError::Other(format!(
            "{} already holds a run ({}); pass --resume to continue it or --overwrite to replace it",
            out_dir.display(),
            existing.join(", ")
        ))
        .into());
    }
    for note in &notes {
        eprintln!("{note}");
    }

    let data = DataRequest {
        data_dir: request.data_dir.as_deref(),
        config_origin: &request.config_origin,
    };
    let sets = pipeline.load_data(&config, &data)?;
    if !request.resume {
        // Only now that the new run can start is the old one removed.
        for f in existing {
            let path = out_dir.join(f);
            std::fs::remove_file(&path).map_err(|e| CoreError::io(&path, e))?;
        }
    }
    let device = request.backend.device()?;
    let seed = config.training().seed;
    let model = crate::rng::init_seeded(&device, seed, || {
        pipeline.init_model(&config, &sets.stats, &device)
    });
    let model = match &request.init_from {
        Some(path) => {
            let (model, init_notes) = init_from(pipeline, model, &config, path, &device)?;
            for note in init_notes {
                eprintln!("{note}");
                notes.push(note);
            }
            model
        }
        None => model,
    };
    let space = pipeline.space(&config, &sets.stats);
    let trainer = Trainer {
        config: config.training(),
        diffusion: config.diffusion(),
        layout: pipeline.layout(&config, &sets.stats)?,
        space: &space,
        out_dir: out_dir.clone(),
        device: device.clone(),
        modality: info.name.to_string(),
        former_modalities: info.former_names,
        modality_config: to_json(&config)?,
        data_stats: to_json(&sets.stats)?,
        show_progress: request.show_progress,
        stop_at: request.stop_at,
        lr_horizon,
        persistence: Persistence::Checkpoints,
    };
    let resume = request
        .resume
        .then(|| out_dir.join("checkpoint.safetensors"));
    let started = Instant::now();
    let outcome = trainer.run(
        model,
        &sets.train,
        sets.validation.as_ref(),
        resume.as_deref(),
    )?;
    let seconds = started.elapsed().as_secs_f64();

    let mut report = outcome_report(&outcome, seconds);
    for (k, figure) in sets.summary.into_iter().enumerate() {
        report.metrics.insert(k, figure);
    }
    report.notes.extend(sets.notes);
    report.notes.extend(notes);
    if outcome.steps >= config.training().steps {
        let loaded = load(pipeline, Some(&outcome.inference_checkpoint), &device)?;
        pipeline.after_training(&loaded, &data, out_dir, &device, &mut report)?;
    }
    Ok(report)
}

/// `model` with the EMA weights of the checkpoint at `path` wherever it has the same
/// parameter, and lines saying what was taken, what was left fresh, and which settings
/// outside `[training]` differ from the checkpoint's (the new config's apply).
fn init_from<P: Pipeline<D>, const D: usize>(
    pipeline: &P,
    model: P::Model,
    config: &P::Config,
    path: &Path,
    device: &burn::tensor::Device,
) -> Result<(P::Model, Vec<String>), P::Error> {
    let info = pipeline.info();
    let stored = Checkpoint::load(path)?;
    stored.expect_modality(info.name, info.former_names, path)?;
    pipeline.check_checkpoint(&stored, path)?;
    let (model, load) = stored.load_module_matching(EMA_PREFIX, model, device, path)?;
    if load.loaded == 0 {
        return Err(CoreError::checkpoint(
            path,
            "shares no parameter with this config's model; nothing to start from",
        )
        .into());
    }
    let mut note = format!(
        "init: {} parameters from {} (step {})",
        load.loaded,
        path.display(),
        stored.meta.step
    );
    if !load.fresh.is_empty() {
        note.push_str(&format!("; fresh: {}", load.fresh.join(", ")));
    }
    if !load.unused.is_empty() {
        note.push_str(&format!("; not in this model: {}", load.unused.join(", ")));
    }
    let mut notes = vec![note];
    notes.extend(
        differences(&stored.meta.config, &to_json(config)?, "")
            .into_iter()
            .filter(|(key, _)| !key.starts_with("training."))
            .map(|(key, change)| {
                format!(
                    "init: `{key}` differs from the checkpoint's ({change}); this config's applies"
                )
            }),
    );
    Ok((model, notes))
}

/// What every `diffgen train` reports: the trainer's files and the run's figures.
fn outcome_report<M>(outcome: &TrainOutcome<M>, seconds: f64) -> Report {
    let dir = outcome.checkpoint.parent().unwrap_or(Path::new("."));
    let mut metrics = vec![
        ("steps".to_string(), outcome.steps as f64),
        ("seconds".to_string(), seconds),
    ];
    if let Some(l) = outcome.last_train_loss {
        metrics.push(("final train loss".into(), l));
    }
    if let Some(v) = outcome.best_val_loss {
        metrics.push(("best validation loss".into(), v));
    }
    Report {
        files: vec![
            outcome.checkpoint.clone(),
            outcome.inference_checkpoint.clone(),
            dir.join("metrics.jsonl"),
            dir.join("loss.png"),
        ],
        metrics,
        ..Report::default()
    }
}

/// Leaf settings that differ between two configs, as `(dotted key, "old → new")`.
fn differences(
    old: &serde_json::Value,
    new: &serde_json::Value,
    prefix: &str,
) -> Vec<(String, String)> {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    differences(
                        a.get(k).unwrap_or(&Value::Null),
                        b.get(k).unwrap_or(&Value::Null),
                        &key,
                    )
                })
                .collect()
        }
        (a, b) if a == b => Vec::new(),
        (a, b) => vec![(prefix.to_string(), format!("{a} → {b}"))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_changed_leaves() {
        let old = serde_json::json!({"training": {"steps": 10, "optimizer": {"lr": 0.001}}, "model": {"hidden": 64}});
        let new = serde_json::json!({"training": {"steps": 20, "optimizer": {"lr": 0.002}}, "model": {"hidden": 64}});
        let d = differences(&old, &new, "");
        assert_eq!(
            d,
            vec![
                (
                    "training.optimizer.lr".to_string(),
                    "0.001 → 0.002".to_string()
                ),
                ("training.steps".to_string(), "10 → 20".to_string()),
            ]
        );
    }
}
