//! The core's sections of a run's page: what ran, the figures beside their references, the
//! plots the run wrote, and a training run's curves.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::svg::line_chart;
use super::{data_uri, escape, PageSection};
use crate::pipeline::Manifest;
use crate::train::MetricsRecord;
use crate::CoreError;

/// A directory `diffgen report` shows.
#[derive(Debug, Clone)]
pub enum RunDir {
    /// A `run`/`sample` output directory (it has a `manifest.json`).
    Samples {
        /// The directory.
        dir: PathBuf,
        /// Its `manifest.json`.
        manifest: Box<Manifest>,
    },
    /// A `train` run directory (it has a `metrics.jsonl`).
    Training {
        /// The directory.
        dir: PathBuf,
        /// Its `metrics.jsonl`.
        records: Vec<MetricsRecord>,
    },
}

impl RunDir {
    /// Reads what a directory holds; a directory that is neither kind of run is an error
    /// naming what was looked for.
    pub fn open(dir: &Path) -> Result<Self, CoreError> {
        let err = |m: String| CoreError::Other(format!("{}: {m}", dir.display()));
        if !dir.is_dir() {
            return Err(err("not a directory".into()));
        }
        let manifest = dir.join("manifest.json");
        if manifest.is_file() {
            let text = std::fs::read_to_string(&manifest).map_err(|e| err(e.to_string()))?;
            let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
                CoreError::Other(format!(
                    "{}: not a diffgen manifest: {e}",
                    dir.join("manifest.json").display()
                ))
            })?;
            return Ok(RunDir::Samples {
                dir: dir.to_path_buf(),
                manifest: Box::new(manifest),
            });
        }
        let log = dir.join("metrics.jsonl");
        if log.is_file() {
            let text = std::fs::read_to_string(&log).map_err(|e| err(e.to_string()))?;
            let mut records = Vec::new();
            for (k, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let record: MetricsRecord = serde_json::from_str(line)
                    .map_err(|e| CoreError::Other(format!("{}:{}: {e}", log.display(), k + 1)))?;
                records.push(record);
            }
            if records.is_empty() {
                return Err(CoreError::Other(format!("{}: no records", log.display())));
            }
            return Ok(RunDir::Training {
                dir: dir.to_path_buf(),
                records,
            });
        }
        Err(err(
            "not a diffgen run: no manifest.json (a run or sample directory) or metrics.jsonl \
             (a training directory)"
                .into(),
        ))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        match self {
            RunDir::Samples { dir, .. } | RunDir::Training { dir, .. } => dir,
        }
    }

    /// Up to [`super::MAX_TRAJECTORIES`] trajectories the run wrote with extension `ext`
    /// (`trajectories/*.<ext>`), as (name, text); unreadable ones are left out.
    pub fn trajectories(&self, ext: &str) -> Vec<(String, String)> {
        self.files()
            .into_iter()
            .filter(|p| {
                p.extension().is_some_and(|e| e == ext)
                    && p.parent()
                        .and_then(|d| d.file_name())
                        .is_some_and(|d| d == "trajectories")
            })
            .take(super::MAX_TRAJECTORIES)
            .filter_map(|p| {
                let name = p.file_stem()?.to_string_lossy().into_owned();
                Some((name, std::fs::read_to_string(&p).ok()?))
            })
            .collect()
    }

    /// The files the manifest lists, joined to the directory (whether or not they still
    /// exist: a missing one is the reader's error to name).
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            RunDir::Samples { dir, manifest } => {
                manifest.files.iter().map(|f| dir.join(f)).collect()
            }
            RunDir::Training { .. } => Vec::new(),
        }
    }
}

fn row(out: &mut String, cells: &[String]) {
    out.push_str("<tr>");
    for c in cells {
        write!(out, "<td>{c}</td>").expect("String write");
    }
    out.push_str("</tr>\n");
}

/// A figure as the terminal and the page print it: shares as percentages, whole numbers
/// bare, the rest with four decimals or in scientific notation.
pub fn format_figure(value: f64, share: bool) -> String {
    if share {
        format!("{:.1} %", 100.0 * value)
    } else if value.fract() == 0.0 && value.abs() < 1e12 {
        format!("{value:.0}")
    } else if value.abs() >= 1e-4 && value.abs() < 1e5 {
        format!("{value:.4}")
    } else {
        format!("{value:.3e}")
    }
}

/// The core's sections of one run directory.
pub fn run_sections(run: &RunDir) -> Result<Vec<PageSection>, CoreError> {
    match run {
        RunDir::Samples { dir, manifest } => Ok(sample_sections(dir, manifest)),
        RunDir::Training { dir, records } => Ok(vec![training_section(dir, records)]),
    }
}

fn sample_sections(dir: &Path, m: &Manifest) -> Vec<PageSection> {
    let mut ran = String::from("<table>\n");
    let mut pair = |k: &str, v: String| row(&mut ran, &[escape(k), escape(&v)]);
    pair("modality", m.modality.clone());
    pair(
        "model",
        format!("{} (trained {} steps)", m.model, m.model_step),
    );
    pair(
        "sampler",
        format!(
            "{}{}",
            m.sampler,
            m.steps.map_or(String::new(), |s| format!(", {s} steps"))
        ),
    );
    pair("samples", format!("{} (shard {})", m.num_samples, m.shard));
    pair("seed", m.seed.to_string());
    if let Some(g) = m.guidance {
        pair("guidance", g.to_string());
    }
    for (k, v) in &m.options {
        pair(&format!("--{k}"), v.clone());
    }
    pair("diffgen", m.diffgen_version.clone());
    pair("directory", dir.display().to_string());
    ran.push_str("</table>");

    // Figures beside every reference column that has one of them.
    let columns: Vec<_> = m
        .references
        .iter()
        .filter(|c| m.metrics.keys().any(|k| c.values.contains_key(k)))
        .collect();
    let mut figures = String::from("<table class=\"figures\">\n<tr><th></th><th>this run</th>");
    for c in &columns {
        write!(
            figures,
            "<th title=\"{}\">{}</th>",
            escape(&c.source),
            escape(&c.name)
        )
        .expect("String write");
    }
    figures.push_str("</tr>\n");
    // Sorted by name, as the manifest keeps them (which puts each convention's together).
    for (name, &value) in &m.metrics {
        let share = m.shares.contains(name);
        let mut cells = vec![
            escape(name),
            format!(
                "<span data-figure=\"{}\">{}</span>",
                escape(name),
                format_figure(value, share)
            ),
        ];
        cells.extend(columns.iter().map(|c| {
            c.values
                .get(name)
                .map_or_else(|| "–".to_string(), |&v| format_figure(v, share))
        }));
        row(&mut figures, &cells);
    }
    figures.push_str("</table>\n");
    for c in &columns {
        writeln!(
            figures,
            "<p class=\"note\"><b>{}</b>: {}</p>",
            escape(&c.name),
            escape(&c.source)
        )
        .expect("String write");
    }

    let mut sections = vec![
        PageSection {
            title: "What ran".into(),
            html: ran,
        },
        PageSection {
            title: "Figures".into(),
            html: figures,
        },
    ];
    // The run's own plots and animations at its top level (per-sample files are the
    // modality's to show).
    let mut plots = String::from("<div class=\"plots\">\n");
    let mut any = false;
    for file in &m.files {
        let top_level = file.components().count() == 1;
        let ext = file.extension().and_then(|e| e.to_str());
        if !top_level || !matches!(ext, Some("png" | "gif")) {
            continue;
        }
        let path = dir.join(file);
        match data_uri(&path) {
            Ok(uri) => writeln!(
                plots,
                "<figure style=\"display:inline-block\"><img src=\"{uri}\" alt=\"{n}\"><figcaption class=\"note\">{n}</figcaption></figure>",
                n = escape(&file.display().to_string())
            ),
            Err(e) => write!(plots, "<p class=\"broken\">{}</p>", escape(&e.to_string())),
        }
        .expect("String write");
        any = true;
    }
    plots.push_str("</div>");
    if any {
        sections.push(PageSection {
            title: "Plots".into(),
            html: plots,
        });
    }
    sections
}

fn training_section(dir: &Path, records: &[MetricsRecord]) -> PageSection {
    let series = |f: fn(&MetricsRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter_map(|r| f(r).map(|v| (r.step as f64, v)))
            .collect()
    };
    let last = records.last().map_or(0, |r| r.step);
    let best_val = records
        .iter()
        .filter_map(|r| r.val_loss.map(|v| (r.step, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let rates = series(|r| r.steps_per_sec);
    let mean_rate = rates.iter().map(|p| p.1).sum::<f64>() / rates.len().max(1) as f64;
    let mut html = String::from("<table>\n");
    row(
        &mut html,
        &["directory".into(), escape(&dir.display().to_string())],
    );
    row(&mut html, &["last logged step".into(), last.to_string()]);
    if let Some((step, v)) = best_val {
        row(
            &mut html,
            &[
                "best validation loss".into(),
                format!("{v:.4} (step {step})"),
            ],
        );
    }
    row(
        &mut html,
        &["mean steps/s".into(), format!("{mean_rate:.3}")],
    );
    html.push_str("</table>\n<div class=\"plots\">\n");
    html.push_str(&line_chart(
        "loss",
        "step",
        &[
            ("train", series(|r| r.train_loss)),
            ("validation (EMA)", series(|r| r.val_loss)),
        ],
        true,
    ));
    html.push_str(&line_chart(
        "learning rate",
        "step",
        &[("lr", series(|r| r.lr))],
        false,
    ));
    html.push_str(&line_chart(
        "gradient norm (before clipping)",
        "step",
        &[("norm", series(|r| r.grad_norm))],
        true,
    ));
    html.push_str(&line_chart(
        "steps per second",
        "step",
        &[("steps/s", rates)],
        false,
    ));
    html.push_str("</div>");
    PageSection {
        title: format!("Training run {}", dir.display()),
        html,
    }
}
