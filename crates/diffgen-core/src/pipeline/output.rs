//! A sampling run's output directory: one naming scheme for every modality, and a manifest
//! of what was written so that a later run into the same `--out` replaces it cleanly.
//!
//! Layout (`<stem>` is `samples`, or `samples.shard-i-of-n` for a shard):
//! - `<stem>.<ext>`: files that hold every sample (SDF, CSV, a PNG grid);
//! - `samples/sample-00042.<ext>`: one file per sample, by global index;
//! - `trajectories/sample-00042.<ext>`: one sample's denoising path;
//! - `<stem>.metrics.json` and plots named by the modality under `<stem>.`;
//! - `manifest.json` (`manifest.shard-i-of-n.json`): what ran and every file above.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::modality::Shard;
use crate::CoreError;

/// What a run wrote and how it was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The modality that ran.
    pub modality: String,
    /// This binary's version.
    pub diffgen_version: String,
    /// `bundled` or the checkpoint's path.
    pub model: String,
    /// Training steps of the model.
    pub model_step: u64,
    /// Sampler, as `--sampler` spells it.
    pub sampler: String,
    /// Sampler steps (`None`: every level).
    pub steps: Option<usize>,
    /// `--time-grid` when not uniform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_grid: Option<String>,
    /// The seed.
    pub seed: u64,
    /// Samples of the whole run (all shards).
    pub num_samples: usize,
    /// `i/n`.
    pub shard: String,
    /// Guidance scale.
    pub guidance: Option<f64>,
    /// Modality options given.
    pub options: BTreeMap<String, String>,
    /// The figures the run printed.
    pub metrics: BTreeMap<String, f64>,
    /// The figures among them that are shares (fractions, printed as percentages).
    #[serde(default)]
    pub shares: Vec<String>,
    /// The reference columns printed beside them.
    #[serde(default)]
    pub references: Vec<crate::modality::ReferenceColumn>,
    /// Every file written, relative to the output directory.
    pub files: Vec<PathBuf>,
}

/// The output directory of one run (or shard), recording what is written into it.
#[derive(Debug)]
pub struct RunOutput {
    dir: PathBuf,
    shard: Shard,
    files: Vec<PathBuf>,
}

impl RunOutput {
    /// Opens `dir` for a run: the files an earlier run of the same shard (`manifest.json`,
    /// or `manifest.shard-i-of-n.json`) listed are removed, those of other shards stay
    /// beside them under their own names; a directory holding files that no manifest lists
    /// is refused, so nothing of the user's is mixed with or overwritten by samples.
    pub fn prepare(dir: &Path, shard: Shard) -> Result<Self, CoreError> {
        std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        let mut listed: Vec<PathBuf> = Vec::new();
        let mut remove: Vec<PathBuf> = Vec::new();
        let own = manifest_name(shard);
        let entries = std::fs::read_dir(dir).map_err(|e| CoreError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| CoreError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !(name.starts_with("manifest") && name.ends_with(".json")) {
                continue;
            }
            let path = entry.path();
            let text = std::fs::read_to_string(&path).map_err(|e| CoreError::io(&path, e))?;
            let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
                CoreError::Other(format!("{}: not a diffgen manifest: {e}", path.display()))
            })?;
            let files = manifest.files.iter().map(|f| dir.join(f));
            if name == own {
                remove.extend(files);
                remove.push(path.clone());
            } else {
                listed.extend(files);
            }
            listed.push(path);
        }
        // The run's page shows the samples being replaced: it goes with them.
        let page = dir.join(crate::page::REPORT_FILE);
        if page.is_file() {
            remove.push(page);
        }
        listed.extend(remove.iter().cloned());
        let strangers = unlisted_files(dir, &listed)?;
        if let Some(first) = strangers.first() {
            return Err(CoreError::Other(format!(
                "{} holds files no diffgen run wrote (e.g. {}); choose another --out or empty it",
                dir.display(),
                first.display()
            )));
        }
        for path in &remove {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CoreError::io(path, e)),
            }
        }
        for sub in ["samples", "trajectories"] {
            // Only empty folders go; the sibling shards' files stay.
            let _ = std::fs::remove_dir(dir.join(sub));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            shard,
            files: Vec::new(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `samples` or `samples.shard-i-of-n`: the stem of files that hold this run's samples.
    pub fn stem(&self) -> String {
        match self.shard.count {
            1 => "samples".to_string(),
            n => format!("samples.shard-{}-of-{n}", self.shard.index),
        }
    }

    /// `<stem>.<suffix>` (`samples.sdf`, `samples.metrics.json`), recorded.
    pub fn collection(&mut self, suffix: &str) -> PathBuf {
        let path = self.dir.join(format!("{}.{suffix}", self.stem()));
        self.record(path.clone());
        path
    }

    /// `samples/sample-00042.<ext>`, recorded (the folder is created).
    pub fn sample_file(&mut self, index: usize, ext: &str) -> Result<PathBuf, CoreError> {
        self.indexed("samples", index, ext)
    }

    /// `trajectories/sample-00042.<ext>`, recorded (the folder is created).
    pub fn trajectory_file(&mut self, index: usize, ext: &str) -> Result<PathBuf, CoreError> {
        self.indexed("trajectories", index, ext)
    }

    fn indexed(&mut self, sub: &str, index: usize, ext: &str) -> Result<PathBuf, CoreError> {
        let dir = self.dir.join(sub);
        std::fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
        let path = dir.join(format!("sample-{index:05}.{ext}"));
        self.record(path.clone());
        Ok(path)
    }

    /// Records a file written into the directory by other means (a plot).
    pub fn record(&mut self, path: PathBuf) {
        if !self.files.contains(&path) {
            self.files.push(path);
        }
    }

    /// Files recorded so far.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Writes the manifest (atomically) and returns every file, the manifest last.
    pub fn finish(mut self, mut manifest: Manifest) -> Result<Vec<PathBuf>, CoreError> {
        manifest.files = self
            .files
            .iter()
            .map(|f| f.strip_prefix(&self.dir).unwrap_or(f).to_path_buf())
            .collect();
        let path = self.dir.join(manifest_name(self.shard));
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| CoreError::Other(format!("serialising the manifest: {e}")))?;
        write_atomic(&path, |f| f.write_all(text.as_bytes()))?;
        self.files.push(path);
        Ok(self.files)
    }
}

fn manifest_name(shard: Shard) -> String {
    match shard.count {
        1 => "manifest.json".to_string(),
        n => format!("manifest.shard-{}-of-{n}.json", shard.index),
    }
}

/// Plain files under `dir` (one level of folders deep) that `listed` does not hold.
fn unlisted_files(dir: &Path, listed: &[PathBuf]) -> Result<Vec<PathBuf>, CoreError> {
    let mut out = Vec::new();
    let visit = |d: &Path, depth: usize, out: &mut Vec<PathBuf>| -> Result<(), CoreError> {
        let Ok(entries) = std::fs::read_dir(d) else {
            return Ok(());
        };
        let mut subdirs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CoreError::io(d, e))?;
            let path = entry.path();
            if path.is_dir() {
                if depth == 0 {
                    subdirs.push(path);
                } else {
                    out.push(path);
                }
            } else if !listed.contains(&path) {
                out.push(path);
            }
        }
        for sub in subdirs {
            let Ok(entries) = std::fs::read_dir(&sub) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() || !listed.contains(&path) {
                    out.push(path);
                }
            }
        }
        Ok(())
    };
    visit(dir, 0, &mut out)?;
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            modality: "toy".into(),
            diffgen_version: crate::VERSION.into(),
            model: "bundled".into(),
            model_step: 0,
            sampler: "ddpm".into(),
            steps: None,
            time_grid: None,
            seed: 0,
            num_samples: 2,
            shard: "0/1".into(),
            shares: Vec::new(),
            references: Vec::new(),
            guidance: None,
            options: BTreeMap::new(),
            metrics: BTreeMap::new(),
            files: Vec::new(),
        }
    }

    fn write(out: &mut RunOutput, n: usize) {
        for i in 0..n {
            std::fs::write(out.sample_file(i, "txt").unwrap(), "x").unwrap();
        }
        std::fs::write(out.collection("csv"), "x").unwrap();
    }

    #[test]
    fn a_second_run_replaces_the_first_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = RunOutput::prepare(dir.path(), Shard::WHOLE).unwrap();
        write(&mut first, 10);
        first.finish(manifest()).unwrap();
        let mut second = RunOutput::prepare(dir.path(), Shard::WHOLE).unwrap();
        write(&mut second, 3);
        let files = second.finish(manifest()).unwrap();
        assert_eq!(files.len(), 5);
        let left = std::fs::read_dir(dir.path().join("samples"))
            .unwrap()
            .count();
        assert_eq!(left, 3, "the first run's extra samples are gone");

        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let e = RunOutput::prepare(dir.path(), Shard::WHOLE).unwrap_err();
        assert!(e.to_string().contains("notes.txt"), "{e}");
        assert!(dir.path().join("notes.txt").exists());
    }

    #[test]
    fn shards_keep_each_others_files() {
        let dir = tempfile::tempdir().unwrap();
        for index in 0..2 {
            let shard = Shard { index, count: 2 };
            let mut out = RunOutput::prepare(dir.path(), shard).unwrap();
            std::fs::write(out.collection("csv"), "x").unwrap();
            let mut m = manifest();
            m.shard = format!("{index}/2");
            out.finish(m).unwrap();
        }
        assert!(dir.path().join("samples.shard-0-of-2.csv").exists());
        assert!(dir.path().join("samples.shard-1-of-2.csv").exists());
        // Shard 0 again replaces only its own files.
        let shard = Shard { index: 0, count: 2 };
        RunOutput::prepare(dir.path(), shard).unwrap();
        assert!(!dir.path().join("samples.shard-0-of-2.csv").exists());
        assert!(dir.path().join("samples.shard-1-of-2.csv").exists());
    }
}
