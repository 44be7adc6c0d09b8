//! Writers: samples as CSV, a scatter plot PNG, the trajectory as CSV.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use diffgen_core::checkpoint::write_atomic;
use diffgen_core::plot::scatter_plot;
use diffgen_core::CoreError;

/// One generated point with its global sample index and label (if conditioned).
#[derive(Debug, Clone, PartialEq)]
pub struct ToySample {
    /// The sample's global index (the same in every shard and batch size).
    pub index: usize,
    /// The point, in data units.
    pub point: [f64; 2],
    /// The class it was conditioned on, or generated with.
    pub label: Option<usize>,
}

/// `index,x,y,label`, with a `# dataset=` comment that `eval` reads back.
pub fn write_samples_csv(
    path: &Path,
    dataset: &str,
    samples: &[ToySample],
) -> Result<(), CoreError> {
    let mut text = format!("# dataset={dataset}\nindex,x,y,label\n");
    for s in samples {
        let label = s.label.map_or("-".to_string(), |l| l.to_string());
        writeln!(
            text,
            "{},{:.6},{:.6},{label}",
            s.index, s.point[0], s.point[1]
        )
        .expect("writing to a String");
    }
    write_atomic(path, |f| f.write_all(text.as_bytes()))
}

/// `step,t,index,x,y`: every recorded sampler step of every sample.
pub fn write_trajectory_csv(
    path: &Path,
    frames: &[diffgen_core::pipeline::Frame<ToySample>],
) -> Result<(), CoreError> {
    let mut text = String::from("step,t,index,x,y\n");
    for frame in frames {
        for s in &frame.samples {
            writeln!(
                text,
                "{},{},{},{:.6},{:.6}",
                frame.step, frame.t, s.index, s.point[0], s.point[1]
            )
            .expect("writing to a String");
        }
    }
    write_atomic(path, |f| f.write_all(text.as_bytes()))
}

/// Samples over reference data.
pub fn write_scatter_png(
    path: &Path,
    samples: &[[f64; 2]],
    reference: Option<&[[f64; 2]]>,
) -> Result<(), CoreError> {
    let pts: Vec<(f64, f64)> = samples.iter().map(|p| (p[0], p[1])).collect();
    let reference: Vec<(f64, f64)> = reference
        .unwrap_or(&[])
        .iter()
        .map(|p| (p[0], p[1]))
        .collect();
    let mut series: Vec<(&str, &[(f64, f64)])> = Vec::new();
    if !reference.is_empty() {
        series.push(("data", &reference));
    }
    series.push(("samples", &pts));
    scatter_plot(path, "diffgen toy samples", &series)
}

/// Reads the `# dataset=` line of a samples file.
pub fn dataset_of(text: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| {
            l.trim_start_matches('#')
                .trim()
                .strip_prefix("dataset=")
                .map(str::to_string)
        })
}
