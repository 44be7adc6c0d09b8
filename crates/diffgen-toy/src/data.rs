//! 2-D point sets: two synthetic distributions and the user's own CSV files.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use diffgen_core::error::BoxError;
use diffgen_core::rng::SeededRng;
use diffgen_core::tensor_util::tensor_from_vec;
use diffgen_core::train::TrainData;
use diffgen_core::CoreError;
use serde::{Deserialize, Serialize};

use crate::model::ToyContext;
use crate::ToyError;

/// Where the points come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataSource {
    /// Eight Gaussians (σ = `std`) evenly on a circle of `radius`; label = component.
    Ring {
        /// Radius of the circle.
        radius: f64,
        /// Standard deviation of each component.
        std: f64,
    },
    /// scikit-learn-style two moons with Gaussian `noise`; label = moon.
    Moons {
        /// Standard deviation of the noise added to each point.
        noise: f64,
    },
    /// `x,y[,label]` rows of a CSV file (header optional).
    Csv {
        /// The file, relative to the config's folder.
        path: PathBuf,
    },
}

impl DataSource {
    /// Classes the labels take (0 for unlabelled CSVs).
    pub fn num_classes(&self, points: &PointSet) -> usize {
        match self {
            DataSource::Ring { .. } => 8,
            DataSource::Moons { .. } => 2,
            DataSource::Csv { .. } => points.labels.iter().flatten().max().map_or(0, |m| m + 1),
        }
    }

    /// `n` points from stream `stream` of `seed` (synthetic sources), or the CSV file.
    pub fn points(&self, n: usize, seed: u64, stream: u64) -> Result<PointSet, ToyError> {
        let mut rng = SeededRng::stream(seed, stream);
        match self {
            DataSource::Ring { radius, std } => {
                let mut set = PointSet::default();
                for _ in 0..n {
                    let k = rng.int_inclusive(0, 7);
                    let angle = k as f64 * std::f64::consts::TAU / 8.0;
                    let noise = rng.normal_vec(2);
                    set.points.push([
                        radius * angle.cos() + std * noise[0] as f64,
                        radius * angle.sin() + std * noise[1] as f64,
                    ]);
                    set.labels.push(Some(k));
                }
                Ok(set)
            }
            DataSource::Moons { noise } => {
                let mut set = PointSet::default();
                for _ in 0..n {
                    let moon = rng.int_inclusive(0, 1);
                    let a = rng.uniform() * std::f64::consts::PI;
                    let (x, y) = if moon == 0 {
                        (a.cos(), a.sin())
                    } else {
                        (1.0 - a.cos(), 0.5 - a.sin())
                    };
                    let e = rng.normal_vec(2);
                    set.points
                        .push([x + noise * e[0] as f64, y + noise * e[1] as f64]);
                    set.labels.push(Some(moon));
                }
                Ok(set)
            }
            DataSource::Csv { path } => read_points_csv(path),
        }
    }

    /// The name written into sample files and reports (`ring`, `moons`, the CSV's path).
    pub fn name(&self) -> String {
        match self {
            DataSource::Ring { .. } => "ring".into(),
            DataSource::Moons { .. } => "moons".into(),
            DataSource::Csv { path } => path.display().to_string(),
        }
    }
}

/// Points with optional labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointSet {
    /// The points.
    pub points: Vec<[f64; 2]>,
    /// One label per point (`None`: unlabelled).
    pub labels: Vec<Option<usize>>,
}

impl PointSet {
    /// Points in the set.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether it holds no point.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Per-axis mean and standard deviation.
    pub fn moments(&self) -> ([f64; 2], [f64; 2]) {
        let n = self.len().max(1) as f64;
        let mut mean = [0.0; 2];
        let mut std = [0.0; 2];
        for p in &self.points {
            mean[0] += p[0] / n;
            mean[1] += p[1] / n;
        }
        for p in &self.points {
            std[0] += (p[0] - mean[0]).powi(2) / n;
            std[1] += (p[1] - mean[1]).powi(2) / n;
        }
        (mean, [std[0].sqrt().max(1e-8), std[1].sqrt().max(1e-8)])
    }
}

/// The most classes a CSV's labels may make (labels are 0..MAX_CLASSES-1): the model embeds
/// one vector per class, so an absurd label must not become an absurd allocation.
pub const MAX_CLASSES: usize = 1024;

/// Reads `x,y[,label]` rows. A first line that does not parse as numbers is a header; `#`
/// lines are comments. Errors name the file and line.
pub fn read_points_csv(path: &Path) -> Result<PointSet, ToyError> {
    let text = std::fs::read_to_string(path).map_err(|e| ToyError::Io(path.to_path_buf(), e))?;
    parse_points_csv(&text, path)
}

/// `x,y[,label]` rows (header optional); errors name the file and line.
pub fn parse_points_csv(text: &str, path: &Path) -> Result<PointSet, ToyError> {
    let mut set = PointSet::default();
    let mut seen_row = false;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let numbers: Vec<Option<f64>> = fields.iter().map(|f| f.parse::<f64>().ok()).collect();
        if !seen_row && numbers.iter().all(Option::is_none) {
            seen_row = true; // a header
            continue;
        }
        seen_row = true;
        let bad = |reason: String| ToyError::Parse {
            path: path.to_path_buf(),
            line: line_no,
            reason,
        };
        // Files written by `diffgen sample` start with the sample index.
        let (x, y, label) = match fields.len() {
            2 => (0, 1, None),
            3 => (0, 1, Some(2)),
            4 => (1, 2, Some(3)),
            n => {
                return Err(bad(format!(
                    "expected 2–4 comma-separated fields, found {n}"
                )))
            }
        };
        let coord = |k: usize| {
            numbers[k].filter(|v| v.is_finite()).ok_or_else(|| {
                bad(format!(
                    "field {} (`{}`) is not a finite number",
                    k + 1,
                    fields[k]
                ))
            })
        };
        set.points.push([coord(x)?, coord(y)?]);
        let label = match label {
            Some(k) if fields[k].is_empty() || fields[k] == "-" => None,
            Some(k) => {
                let label = fields[k].parse::<usize>().map_err(|_| {
                    bad(format!(
                        "label `{}` is not a non-negative integer",
                        fields[k]
                    ))
                })?;
                // The largest label sets the number of classes the model embeds.
                if label >= MAX_CLASSES {
                    return Err(bad(format!(
                        "label {label} is too large: labels are class indices 0..{}",
                        MAX_CLASSES - 1
                    )));
                }
                Some(label)
            }
            None => None,
        };
        set.labels.push(label);
    }
    if set.is_empty() {
        return Err(ToyError::Core(CoreError::Other(format!(
            "{}: no points (the file has no data rows)",
            path.display()
        ))));
    }
    Ok(set)
}

/// Standardised points ready for training.
pub struct ToyData {
    /// Standardised points.
    pub points: Vec<[f32; 2]>,
    /// Their labels.
    pub labels: Vec<Option<usize>>,
    /// Classes of the labels (0: unconditional data).
    pub num_classes: usize,
    /// Share of labels dropped to the null label per batch.
    pub label_dropout: f64,
    /// Columns of the one-hot label a joint model generates (None: the state is the point).
    pub label_columns: Option<usize>,
}

impl ToyData {
    /// `set` standardised with `mean` and `std` (the training set's).
    pub fn new(
        set: &PointSet,
        mean: [f64; 2],
        std: [f64; 2],
        num_classes: usize,
        label_dropout: f64,
    ) -> Self {
        Self {
            points: set
                .points
                .iter()
                .map(|p| {
                    [
                        ((p[0] - mean[0]) / std[0]) as f32,
                        ((p[1] - mean[1]) / std[1]) as f32,
                    ]
                })
                .collect(),
            labels: set.labels.clone(),
            num_classes,
            label_dropout,
            label_columns: None,
        }
    }

    /// The same points as states of a joint model: the point, then the label one-hot over
    /// `columns` (the classes, and a mask column where the prior has one).
    pub fn with_label_columns(mut self, columns: usize) -> Self {
        self.label_columns = Some(columns);
        self
    }
}

impl TrainData<2> for ToyData {
    type Context = ToyContext;

    fn len(&self) -> usize {
        self.points.len()
    }

    fn batch(
        &self,
        indices: &[usize],
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<(Tensor<2>, ToyContext), BoxError> {
        let width = 2 + self.label_columns.unwrap_or(0);
        let mut values = vec![0f32; indices.len() * width];
        for (row, &i) in indices.iter().enumerate() {
            values[row * width..row * width + 2].copy_from_slice(&self.points[i]);
            if self.label_columns.is_some() {
                let label = self.labels[i].ok_or("a joint model needs a label on every point")?;
                values[row * width + 2 + label] = 1.0;
            }
        }
        let x = tensor_from_vec(values, [indices.len(), width], device);
        let labels = (self.num_classes > 0).then(|| {
            let null = self.num_classes as i64;
            let ids: Vec<i64> = indices
                .iter()
                .map(|&i| {
                    let dropped = self.label_dropout > 0.0 && rng.uniform() < self.label_dropout;
                    match self.labels[i] {
                        Some(l) if !dropped => l as i64,
                        _ => null,
                    }
                })
                .collect();
            Tensor::<1, Int>::from_data(TensorData::new(ids, [indices.len()]), device)
        });
        Ok((x, ToyContext { labels }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_errors_name_the_line() {
        let err = parse_points_csv("x,y\n1,2\n3,abc\n", Path::new("pts.csv")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("pts.csv") && msg.contains("line 3") && msg.contains("abc"),
            "{msg}"
        );
        let err = parse_points_csv("1,2,3,4,5\n", Path::new("p.csv")).unwrap_err();
        assert!(err.to_string().contains("line 1"));
        assert!(parse_points_csv("1,nan\n", Path::new("p.csv")).is_err());
        assert!(parse_points_csv("# only a comment\n", Path::new("p.csv")).is_err());
    }

    #[test]
    fn csv_reads_labels_and_sample_files() {
        let set = parse_points_csv("x,y,label\n1,2,0\n3,4,-\n", Path::new("a.csv")).unwrap();
        assert_eq!(set.points, vec![[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(set.labels, vec![Some(0), None]);
        let set = parse_points_csv("index,x,y,label\n7,1.5,-2,3\n", Path::new("b.csv")).unwrap();
        assert_eq!(set.points, vec![[1.5, -2.0]]);
        assert_eq!(set.labels, vec![Some(3)]);
    }

    #[test]
    fn ring_points_lie_on_the_ring() {
        let set = DataSource::Ring {
            radius: 2.0,
            std: 0.05,
        }
        .points(2000, 1, 0)
        .unwrap();
        for p in &set.points {
            let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
            assert!((r - 2.0).abs() < 0.3, "radius {r}");
        }
        // All eight components appear.
        let mut seen = [false; 8];
        for l in set.labels.iter().flatten() {
            seen[*l] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
