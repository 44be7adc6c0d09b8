//! The synthetic sets' reference points, held out from training and validation, and the
//! figures of samples against them (MMD², label agreement).

use crate::data::{DataSource, PointSet};
use crate::io::ToySample;
use crate::metrics;

/// Points held out for metrics in `run` and `eval`.
pub(crate) const REFERENCE_POINTS: usize = 1000;
/// The stream of the data seed reserved for reference points (train 0, validation 1).
const REFERENCE_STREAM: u64 = 2;

/// Reference points of a synthetic data set (independent of training and validation data),
/// with their labels.
pub(crate) fn reference_set(dataset: &str) -> Option<PointSet> {
    let source = match dataset {
        "ring" => DataSource::Ring {
            radius: 2.0,
            std: 0.1,
        },
        "moons" => DataSource::Moons { noise: 0.05 },
        _ => return None,
    };
    source
        .points(REFERENCE_POINTS, 12345, REFERENCE_STREAM)
        .ok()
}

/// Reference points of a synthetic data set.
pub(crate) fn reference_points(dataset: &str) -> Option<Vec<[f64; 2]>> {
    reference_set(dataset).map(|set| set.points)
}

/// The share of samples whose label is that of the reference point nearest to them (on the
/// ring: the component their point lies in).
pub(crate) fn label_agreement(samples: &[ToySample], reference: &PointSet) -> f64 {
    let agree = samples
        .iter()
        .filter(|s| {
            let nearest = reference
                .points
                .iter()
                .zip(&reference.labels)
                .min_by(|(a, _), (b, _)| distance2(a, &s.point).total_cmp(&distance2(b, &s.point)))
                .and_then(|(_, label)| *label);
            nearest.is_some() && nearest == s.label
        })
        .count();
    agree as f64 / samples.len().max(1) as f64
}

fn distance2(a: &[f64; 2], b: &[f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

/// MMD² of `points` to `reference`, with bandwidths from the reference's spread.
pub(crate) fn mmd_to(points: &[[f64; 2]], reference: &[[f64; 2]]) -> f64 {
    let set = PointSet {
        points: reference.to_vec(),
        labels: vec![None; reference.len()],
    };
    let (_, std) = set.moments();
    metrics::mmd2(points, reference, 0.5 * (std[0] + std[1]))
}

pub(crate) fn points_of(samples: &[ToySample]) -> Vec<[f64; 2]> {
    samples.iter().map(|s| s.point).collect()
}
