//! The metrics log (JSON lines) and its loss-curve plot.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    /// Optimiser steps taken when the record was written.
    pub step: u64,
    /// Mean training loss over the steps since the previous record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_loss: Option<f64>,
    /// The loss of the EMA weights on the validation set, at validation steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// The learning rate of the record's step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// The global gradient norm of the record's step, before clipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<f64>,
    /// Optimiser steps per second since the previous record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_per_sec: Option<f64>,
}

/// Appends records to `metrics.jsonl` and keeps them for the plot.
pub struct MetricsLog {
    path: PathBuf,
    records: Vec<MetricsRecord>,
}

impl MetricsLog {
    /// Opens the log in `dir`. When resuming at `resume_step`, records after it (written by a
    /// run that crashed past its last checkpoint) are dropped so the log matches the state.
    pub fn open(dir: &Path, resume_step: Option<u64>) -> Result<Self, CoreError> {
        let path = dir.join("metrics.jsonl");
        let mut records = Vec::new();
        if let Some(step) = resume_step {
            if let Ok(text) = fs::read_to_string(&path) {
                records = text
                    .lines()
                    .filter_map(|l| serde_json::from_str::<MetricsRecord>(l).ok())
                    .filter(|r| r.step <= step)
                    .collect();
            }
        }
        let log = Self { path, records };
        log.rewrite()?;
        Ok(log)
    }

    fn rewrite(&self) -> Result<(), CoreError> {
        let mut text = String::new();
        for r in &self.records {
            text.push_str(&serde_json::to_string(r).expect("records serialise"));
            text.push('\n');
        }
        crate::checkpoint::write_atomic(&self.path, |f| f.write_all(text.as_bytes()))
    }

    /// Appends `record` to the file and to the plot's data.
    pub fn push(&mut self, record: MetricsRecord) -> Result<(), CoreError> {
        let line = serde_json::to_string(&record).expect("records serialise");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| CoreError::io(&self.path, e))?;
        writeln!(f, "{line}").map_err(|e| CoreError::io(&self.path, e))?;
        self.records.push(record);
        Ok(())
    }

    /// The records so far, oldest first (a resumed run's earlier ones included).
    pub fn records(&self) -> &[MetricsRecord] {
        &self.records
    }

    /// Draws `loss.png` beside the log: training and validation loss against steps.
    pub fn plot(&self, out: &Path) -> Result<(), CoreError> {
        let train: Vec<(f64, f64)> = self
            .records
            .iter()
            .filter_map(|r| r.train_loss.map(|l| (r.step as f64, l)))
            .collect();
        let val: Vec<(f64, f64)> = self
            .records
            .iter()
            .filter_map(|r| r.val_loss.map(|l| (r.step as f64, l)))
            .collect();
        crate::plot::line_plot(
            out,
            "loss",
            "step",
            "loss (log scale)",
            &[("train", &train), ("validation", &val)],
            true,
        )
    }
}
