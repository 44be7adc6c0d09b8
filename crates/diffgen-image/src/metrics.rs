//! The Fréchet distance between Gaussians fitted to feature sets (FID's formula, on the
//! features of this project's own classifier, not Inception's):
//!
//! `d² = |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})`,
//!
//! with `tr (Σ₁Σ₂)^{1/2} = tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}`: both square roots are of
//! symmetric positive semi-definite matrices, taken by symmetric eigen-decomposition
//! (negative round-off eigenvalues clipped to 0). Covariances use the unbiased 1/(n−1).
//! Like FID it is biased upwards at small sample sizes; compare values at equal n.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// Mean and covariance of a feature set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gaussian {
    /// Feature dimension.
    pub dim: usize,
    /// Number of feature vectors it was fitted to.
    pub n: usize,
    /// Mean feature vector, `[dim]`.
    pub mean: Vec<f64>,
    /// Row-major `dim × dim`.
    pub cov: Vec<f64>,
}

impl Gaussian {
    /// Fits `features` (each of the same length, at least one).
    pub fn fit(features: &[Vec<f32>]) -> Gaussian {
        let n = features.len();
        let dim = features.first().map_or(0, Vec::len);
        let mut mean = vec![0.0; dim];
        for f in features {
            for (m, &v) in mean.iter_mut().zip(f) {
                *m += v as f64 / n.max(1) as f64;
            }
        }
        let mut cov = vec![0.0; dim * dim];
        let denom = (n.max(2) - 1) as f64;
        for f in features {
            let c: Vec<f64> = f.iter().zip(&mean).map(|(&v, m)| v as f64 - m).collect();
            for i in 0..dim {
                if c[i] == 0.0 {
                    continue;
                }
                for j in i..dim {
                    cov[i * dim + j] += c[i] * c[j] / denom;
                }
            }
        }
        for i in 0..dim {
            for j in 0..i {
                cov[i * dim + j] = cov[j * dim + i];
            }
        }
        Gaussian { dim, n, mean, cov }
    }

    fn matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.dim, self.dim, &self.cov)
    }
}

/// Square root of a symmetric PSD matrix.
fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let sym = (m + m.transpose()) * 0.5;
    let eig = SymmetricEigen::new(sym);
    let roots = DVector::from_iterator(
        eig.eigenvalues.len(),
        eig.eigenvalues.iter().map(|&l| l.max(0.0).sqrt()),
    );
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// The Fréchet distance (squared, as FID reports it) between two Gaussians of equal dimension.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    assert_eq!(a.dim, b.dim, "feature dimensions differ");
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let (sa, sb) = (a.matrix(), b.matrix());
    let root_a = sqrt_psd(&sa);
    let inner = &root_a * &sb * &root_a;
    let inner = (&inner + inner.transpose()) * 0.5;
    let cross: f64 = SymmetricEigen::new(inner)
        .eigenvalues
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    (mean_term + sa.trace() + sb.trace() - 2.0 * cross).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussians_in_closed_form() {
        // Diagonal covariances: d² = |Δμ|² + Σ (√a − √b)².
        let a = Gaussian {
            dim: 2,
            n: 0,
            mean: vec![0.0, 1.0],
            cov: vec![4.0, 0.0, 0.0, 1.0],
        };
        let b = Gaussian {
            dim: 2,
            n: 0,
            mean: vec![3.0, 1.0],
            cov: vec![1.0, 0.0, 0.0, 9.0],
        };
        let expected = 9.0 + (2.0f64 - 1.0).powi(2) + (1.0f64 - 3.0).powi(2);
        assert!((frechet_distance(&a, &b) - expected).abs() < 1e-9);
        assert!(frechet_distance(&a, &a) < 1e-9);
    }

    #[test]
    fn fit_matches_hand_moments() {
        let g = Gaussian::fit(&[vec![1.0, 2.0], vec![3.0, 2.0], vec![5.0, 8.0]]);
        assert_eq!(g.mean, vec![3.0, 4.0]);
        // var x = (4+0+4)/2 = 4; var y = (4+4+16)/2 = 12; cov = (2·2 + 0 + 2·4)/2 = 6... check:
        // centred x: -2, 0, 2; y: -2, -2, 4 → cov = (4 + 0 + 8)/2 = 6.
        assert_eq!(g.cov, vec![4.0, 6.0, 6.0, 12.0]);
    }
}
