//! Binned mean positions: the lookup tables of the Cα rebuild. A grid bins up to three
//! features (angles in degrees) and holds, per cell, how many training examples fell in it
//! and the mean local position of each placed atom; lookups interpolate between cell centres
//! so that predictions do not jump at bin edges.

use serde::{Deserialize, Serialize};

use crate::structure::Vec3;

/// Cells with fewer examples than this count for less in an interpolation (by `n / N0`).
const N0: f64 = 5.0;
/// Below this total weight a lookup gives up and the caller falls back to a coarser grid.
const MIN_WEIGHT: f64 = 1e-3;

/// One binned feature: `bins` bins of `width` degrees from `lo`, read from `features[feature]`.
/// Periodic axes (torsions) wrap; the others clamp, so outliers land in the edge bins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub feature: usize,
    pub lo: f64,
    pub width: f64,
    pub bins: usize,
    pub periodic: bool,
}

impl Axis {
    pub fn angle(feature: usize, width: f64) -> Axis {
        Axis {
            feature,
            lo: 60.0,
            width,
            bins: (110.0 / width).round() as usize,
            periodic: false,
        }
    }

    pub fn torsion(feature: usize, width: f64) -> Axis {
        Axis {
            feature,
            lo: -180.0,
            width,
            bins: (360.0 / width).round() as usize,
            periodic: true,
        }
    }

    fn wrap(&self, i: isize) -> usize {
        let n = self.bins.max(1) as isize;
        if self.periodic {
            i.rem_euclid(n) as usize
        } else {
            i.clamp(0, n - 1) as usize
        }
    }
}

/// Mean local positions of `atoms` atoms per cell (dense in memory).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub axes: Vec<Axis>,
    pub atoms: usize,
    counts: Vec<u32>,
    /// Sums while fitting, means (rounded to 0.001 Å) once finished.
    values: Vec<Vec3>,
}

/// The stored form: non-empty cells only, positions in integer mÅ.
#[derive(Serialize, Deserialize)]
pub struct GridFile {
    axes: Vec<Axis>,
    atoms: usize,
    /// `[cell index, count, x, y, z, …]` per non-empty cell.
    cells: Vec<Vec<i64>>,
}

impl Grid {
    pub fn new(axes: Vec<Axis>, atoms: usize) -> Grid {
        let cells: usize = axes.iter().map(|a| a.bins.max(1)).product();
        Grid {
            axes,
            atoms,
            counts: vec![0; cells],
            values: vec![Vec3::zeros(); cells * atoms],
        }
    }

    /// Cell coordinate along each axis, `None` if a feature it needs is missing (NaN).
    fn coords(&self, features: &[f64], centred: bool) -> Option<Vec<f64>> {
        self.axes
            .iter()
            .map(|a| {
                let x = *features.get(a.feature)?;
                let u = (x - a.lo) / a.width - if centred { 0.5 } else { 0.0 };
                u.is_finite().then_some(u)
            })
            .collect()
    }

    fn index(&self, cell: impl Iterator<Item = isize>) -> usize {
        self.axes
            .iter()
            .zip(cell)
            .fold(0, |k, (a, i)| k * a.bins.max(1) + a.wrap(i))
    }

    /// Adds one example (while fitting); skipped when a feature is missing.
    pub fn add(&mut self, features: &[f64], atoms: &[Vec3]) {
        let Some(u) = self.coords(features, false) else {
            return;
        };
        let k = self.index(u.iter().map(|x| x.floor() as isize));
        self.counts[k] += 1;
        for (v, a) in self.values[k * self.atoms..].iter_mut().zip(atoms) {
            *v += a;
        }
    }

    /// Sums to means, rounded to 0.001 Å as stored.
    pub fn finish(&mut self) {
        for (k, &n) in self.counts.iter().enumerate() {
            for v in &mut self.values[k * self.atoms..(k + 1) * self.atoms] {
                *v = if n > 0 {
                    (*v / n as f64).map(|x| (x * 1000.0).round() / 1000.0)
                } else {
                    Vec3::zeros()
                };
            }
        }
    }

    /// Interpolated mean positions (multilinear between cell centres, sparse cells counting
    /// less); `None` when a feature is missing or no populated cell is near.
    pub fn lookup(&self, features: &[f64]) -> Option<Vec<Vec3>> {
        let u = self.coords(features, true)?;
        let d = u.len();
        let mut out = vec![Vec3::zeros(); self.atoms];
        let mut total = 0.0;
        for corner in 0..1usize << d {
            let mut w = 1.0;
            let cell = u.iter().enumerate().map(|(axis, x)| {
                let (i, f) = (x.floor(), x - x.floor());
                if corner >> axis & 1 == 1 {
                    w *= f;
                    i as isize + 1
                } else {
                    w *= 1.0 - f;
                    i as isize
                }
            });
            let k = self.index(cell);
            let n = self.counts[k];
            if n == 0 || w == 0.0 {
                continue;
            }
            let w = w * (n as f64 / N0).min(1.0);
            for (o, v) in out.iter_mut().zip(&self.values[k * self.atoms..]) {
                *o += v * w;
            }
            total += w;
        }
        (total > MIN_WEIGHT).then(|| out.into_iter().map(|v| v / total).collect())
    }

    pub fn to_file(&self) -> GridFile {
        let cells = (0..self.counts.len())
            .filter(|&k| self.counts[k] > 0)
            .map(|k| {
                let mut row = vec![k as i64, self.counts[k] as i64];
                for v in &self.values[k * self.atoms..(k + 1) * self.atoms] {
                    row.extend(v.iter().map(|x| (x * 1000.0).round() as i64));
                }
                row
            })
            .collect();
        GridFile {
            axes: self.axes.clone(),
            atoms: self.atoms,
            cells,
        }
    }

    /// The grid of a stored file; `Err` says what is inconsistent.
    pub fn from_file(file: GridFile) -> Result<Grid, String> {
        let cells = (file.axes.iter()).try_fold(1usize, |n, a| n.checked_mul(a.bins));
        if file.axes.len() > 3 || !matches!(cells, Some(1..=100_000)) {
            return Err("grid axes out of range".into());
        }
        if !(1..=3).contains(&file.atoms) {
            return Err(format!("{} atoms per cell", file.atoms));
        }
        let mut grid = Grid::new(file.axes, file.atoms);
        for row in file.cells {
            let (k, n) = match row.get(..2) {
                Some(&[k, n]) if row.len() == 2 + 3 * grid.atoms => (k, n),
                _ => return Err(format!("cell row of {} numbers", row.len())),
            };
            let k = usize::try_from(k)
                .ok()
                .filter(|&k| k < grid.counts.len())
                .ok_or_else(|| format!("cell index {k} out of range"))?;
            grid.counts[k] = u32::try_from(n).map_err(|_| format!("cell count {n}"))?;
            for (a, xyz) in row[2..].chunks(3).enumerate() {
                grid.values[k * grid.atoms + a] =
                    Vec3::new(xyz[0] as f64, xyz[1] as f64, xyz[2] as f64) / 1000.0;
            }
        }
        Ok(grid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_interpolates_and_wraps() {
        let mut g = Grid::new(vec![Axis::torsion(0, 90.0)], 1);
        for (x, v) in [(-135.0, 0.0), (-45.0, 1.0), (45.0, 2.0), (135.0, 3.0)] {
            for _ in 0..10 {
                g.add(&[x], &[Vec3::new(v, 0.0, 0.0)]);
            }
        }
        g.finish();
        let at = |x: f64| g.lookup(&[x]).unwrap()[0].x;
        assert!((at(-45.0) - 1.0).abs() < 1e-12);
        assert!((at(0.0) - 1.5).abs() < 1e-12);
        // Across the periodic seam: halfway between 3 (at 135°) and 0 (at −135°).
        assert!((at(180.0) - 1.5).abs() < 1e-12);
        assert!(g.lookup(&[f64::NAN]).is_none());
        let back = Grid::from_file(g.to_file()).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn empty_cells_do_not_count() {
        let mut g = Grid::new(vec![Axis::angle(0, 10.0)], 1);
        g.add(&[95.0], &[Vec3::new(4.0, 0.0, 0.0)]);
        g.finish();
        // 100° is halfway between the 90–100 cell (one example) and an empty one.
        assert_eq!(g.lookup(&[100.0]).unwrap()[0].x, 4.0);
        assert!(g.lookup(&[150.0]).is_none());
    }
}
