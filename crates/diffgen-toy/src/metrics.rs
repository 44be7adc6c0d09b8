//! Distribution distance between point sets: maximum mean discrepancy.

/// Unbiased estimate of MMD² with a sum of Gaussian kernels at several bandwidths (the scale
/// of the data times 0.05 … 1), so that both mode placement and mode width count.
pub fn mmd2(samples: &[[f64; 2]], reference: &[[f64; 2]], data_scale: f64) -> f64 {
    let bandwidths: Vec<f64> = [0.05, 0.1, 0.2, 0.5, 1.0]
        .iter()
        .map(|f| f * data_scale)
        .collect();
    let kernel = |a: &[f64; 2], b: &[f64; 2]| {
        let d2 = (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
        bandwidths
            .iter()
            .map(|h| (-d2 / (2.0 * h * h)).exp())
            .sum::<f64>()
    };
    let within = |set: &[[f64; 2]]| {
        let n = set.len();
        let mut total = 0.0;
        for i in 0..n {
            for j in (i + 1)..n {
                total += kernel(&set[i], &set[j]);
            }
        }
        2.0 * total / (n * (n - 1)).max(1) as f64
    };
    let mut cross = 0.0;
    for a in samples {
        for b in reference {
            cross += kernel(a, b);
        }
    }
    cross /= (samples.len() * reference.len()).max(1) as f64;
    within(samples) + within(reference) - 2.0 * cross
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataSource;

    #[test]
    fn mmd_separates_distributions() {
        let ring = DataSource::Ring {
            radius: 2.0,
            std: 0.1,
        };
        let a = ring.points(400, 1, 0).unwrap().points;
        let b = ring.points(400, 2, 0).unwrap().points;
        let moons = DataSource::Moons { noise: 0.1 }
            .points(400, 1, 0)
            .unwrap()
            .points;
        let same = mmd2(&a, &b, 2.0);
        let different = mmd2(&a, &moons, 2.0);
        assert!(same.abs() < 0.02, "same distribution: {same}");
        assert!(
            different > 10.0 * same.abs().max(1e-3),
            "{different} vs {same}"
        );
    }
}
