//! How low the Ramachandran JS of a set of a given size can go. A (φ, ψ) histogram of a few
//! thousand residues is noisy, so even natural chains sit well above zero against the test
//! split: 16 chains of 100 residues get about 0.084. The sample JS is read against what
//! natural train chains of the same residue count get, as they are and with N, C, O rebuilt
//! from their Cα (the floor of every Cα model here). `examples/reference_stats.rs` measures
//! the table and bundles it with the test-split figures.

use serde::{Deserialize, Serialize};

use diffgen_core::SeededRng;

use crate::metrics::{js_divergence, ramachandran_histogram};
use crate::rebuild::backbone_from_ca;
use crate::structure::Backbone;

/// Residue counts the bundled table measures (64 sampled chains have about 5,700).
pub const FLOOR_RESIDUES: [usize; 6] = [800, 1600, 3200, 6400, 12800, 25600];

/// Sets drawn per table point.
pub const FLOOR_DRAWS: usize = 20;

/// Each drawn chain is a window of at most this many residues, as the models sample.
const WINDOW: usize = 128;

/// The JS natural chains get at one size.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct RamaFloor {
    /// Residues per drawn set.
    pub residues: usize,
    /// Mean JS of the drawn sets against the reference.
    pub natural: f64,
    /// Mean JS of the same sets with N, C, O rebuilt from their Cα.
    pub rebuilt: f64,
}

/// Draws `draws` sets of `residues` residues from `pool` (random chains, each a random window
/// of at most 128 residues, the last cut to fill the count) and averages their JS against
/// `reference` (a (φ, ψ) histogram).
pub fn measure_floor(
    pool: &[Backbone],
    reference: &[u64],
    residues: usize,
    draws: usize,
    rng: &mut SeededRng,
) -> RamaFloor {
    // Chains too short for a (φ, ψ) pair would never fill a set.
    let pool: Vec<&Backbone> = pool.iter().filter(|b| b.len() >= 3).collect();
    let (mut natural, mut rebuilt) = (0.0, 0.0);
    for _ in 0..draws {
        let mut set = Vec::new();
        let mut left = residues;
        while left >= 3 && !pool.is_empty() {
            let chain = pool[rng.int_inclusive(0, pool.len() - 1)];
            let n = chain.len().min(WINDOW).min(left);
            let start = rng.int_inclusive(0, chain.len() - n);
            set.push(chain.slice(start..start + n));
            left -= n;
        }
        let from_ca: Vec<Backbone> = set.iter().map(|b| backbone_from_ca(&b.id, &b.ca)).collect();
        natural += js_divergence(&ramachandran_histogram(&set), reference);
        rebuilt += js_divergence(&ramachandran_histogram(&from_ca), reference);
    }
    let draws = draws.max(1) as f64;
    RamaFloor {
        residues,
        natural: natural / draws,
        rebuilt: rebuilt / draws,
    }
}

/// The bundled table: [`FLOOR_DRAWS`] sets at each of [`FLOOR_RESIDUES`] from `pool`, in
/// that order from one seeded stream (seed 0), so that it can be measured again exactly.
pub fn measure_table(pool: &[Backbone], reference: &[u64]) -> Vec<RamaFloor> {
    let mut rng = SeededRng::new(0);
    FLOOR_RESIDUES
        .iter()
        .map(|&n| measure_floor(pool, reference, n, FLOOR_DRAWS, &mut rng))
        .collect()
}

/// The floor of `table` (sorted by residues) at `residues`: linear in log(residues)
/// between its points, the end points' values beyond them; `None` for an empty table.
pub fn floor_at(table: &[RamaFloor], residues: usize) -> Option<RamaFloor> {
    let first = table.first()?;
    let x = (residues.max(1) as f64).ln();
    let mut at = *first;
    for pair in table.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (xa, xb) = ((a.residues as f64).ln(), (b.residues as f64).ln());
        if x >= xb {
            at = b;
            continue;
        }
        if x > xa {
            let w = (x - xa) / (xb - xa);
            at = RamaFloor {
                residues,
                natural: a.natural + w * (b.natural - a.natural),
                rebuilt: a.rebuilt + w * (b.rebuilt - a.rebuilt),
            };
        }
        break;
    }
    Some(RamaFloor { residues, ..at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_interpolated_in_log_residues_and_held_beyond_the_ends() {
        let table = [
            RamaFloor {
                residues: 100,
                natural: 0.4,
                rebuilt: 0.5,
            },
            RamaFloor {
                residues: 10_000,
                natural: 0.2,
                rebuilt: 0.3,
            },
        ];
        let mid = floor_at(&table, 1000).unwrap();
        assert!((mid.natural - 0.3).abs() < 1e-12 && (mid.rebuilt - 0.4).abs() < 1e-12);
        assert_eq!(mid.residues, 1000);
        assert_eq!(floor_at(&table, 10).unwrap().natural, 0.4);
        assert_eq!(floor_at(&table, 50_000).unwrap().rebuilt, 0.3);
        assert!(floor_at(&[], 1000).is_none());
    }
}
