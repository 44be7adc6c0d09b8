//! Novelty: how close each sample comes to the training data, as its highest TM-score
//! against a fixed subset of CATH train (normalised by the sample's length; lower = more
//! novel, 1 = a copy). TM-align costs milliseconds a pair, so the whole train split is out of
//! reach for a metric; a fixed, seeded subset keeps the figure cheap and comparable between
//! runs and with the test split's bundled value.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::ProteinError;
use crate::io::load_split;
use crate::structure::Backbone;
use crate::tmscore::tm_align;

/// Train domains in the subset: 64 samples of ~100 residues against them take about a minute
/// on one core (~50 alignments/s).
pub const NOVELTY_CHAINS: usize = 48;
/// The metric scores at most this many samples, evenly spaced through the set.
pub const NOVELTY_MAX_SAMPLES: usize = 64;
/// Seed of the subset: the domains whose ids hash lowest under it.
pub const NOVELTY_SEED: u64 = 0x006e_6f76_656c_7479;

/// FNV-1a of the seed and the id: a stable, platform-independent order of domain ids.
fn rank(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in NOVELTY_SEED.to_le_bytes().iter().chain(id.as_bytes()) {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The subset of `train`: its [`NOVELTY_CHAINS`] lowest-ranked ids, in rank order.
pub fn pick_subset(mut train: Vec<Backbone>) -> Vec<Backbone> {
    train.sort_by(|a, b| rank(&a.id).cmp(&rank(&b.id)).then_with(|| a.id.cmp(&b.id)));
    train.truncate(NOVELTY_CHAINS);
    train
}

/// The subset from the shared data under `data_root` (what `--data` points at).
pub fn load_subset(data_root: &Path) -> Result<Vec<Backbone>, ProteinError> {
    Ok(pick_subset(load_split(data_root, "train")?))
}

/// Each sample's highest TM-score against the subset, and their mean.
#[derive(Debug, Clone, PartialEq)]
pub struct Novelty {
    /// Per sample, in order: its highest TM-score (normalised by the sample's length) to any
    /// train domain; 0 against none.
    pub max_tm: Vec<f64>,
    /// Mean of `max_tm` (0 for no samples).
    pub mean_max_tm: f64,
    /// Train domains compared against.
    pub train_chains: usize,
}

/// [`Novelty`] of `samples` against `train`, on the available cores (threads take samples
/// one at a time; the result does not depend on how many there are).
pub fn novelty(samples: &[Backbone], train: &[Backbone]) -> Novelty {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(samples.len().max(1));
    let mut max_tm = vec![0.0; samples.len()];
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(sample) = samples.get(i) else {
                            return done;
                        };
                        let best = train
                            .iter()
                            .map(|t| tm_align(&sample.ca, &t.ca).tm_norm_a)
                            .fold(0.0, f64::max);
                        done.push((i, best));
                    }
                })
            })
            .collect();
        for worker in workers {
            // A worker only panics if TM-align does; its samples then keep 0.
            for (i, best) in worker.join().unwrap_or_default() {
                max_tm[i] = best;
            }
        }
    });
    let mean_max_tm = max_tm.iter().sum::<f64>() / samples.len().max(1) as f64;
    Novelty {
        max_tm,
        mean_max_tm,
        train_chains: train.len(),
    }
}
