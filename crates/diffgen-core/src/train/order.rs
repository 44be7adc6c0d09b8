//! Which examples make up the batch of each step: a pure function of the seed and the step,
//! so resuming needs no iterator state.

use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;

/// How batches are drawn from the training set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Batching {
    /// Each epoch a fresh permutation, cut into batches (the last partial batch dropped).
    #[default]
    Shuffled,
    /// As `shuffled`, then sorted by example size within windows of 32 batches and the
    /// batches shuffled again: every batch holds examples of similar size, so padded models
    /// (molecules) do little wasted work, while epochs still visit every example.
    BySize,
}

const WINDOW_BATCHES: usize = 32;

pub(crate) struct BatchOrder {
    seed: u64,
    batch: usize,
    batching: Batching,
    /// Example sizes, for `BySize`.
    sizes: Vec<usize>,
    len: usize,
    cache: Option<(u64, Vec<Vec<usize>>)>,
}

impl BatchOrder {
    pub(crate) fn new(
        seed: u64,
        len: usize,
        batch: usize,
        batching: Batching,
        sizes: Vec<usize>,
    ) -> Self {
        Self {
            seed,
            batch: batch.max(1),
            batching,
            sizes,
            len,
            cache: None,
        }
    }

    fn batches_per_epoch(&self) -> u64 {
        (self.len / self.batch).max(1) as u64
    }

    fn epoch(&self, epoch: u64) -> Vec<Vec<usize>> {
        let perm = SeededRng::stream(self.seed, (1 << 32) + epoch).permutation(self.len);
        if self.len <= self.batch {
            return vec![perm];
        }
        let usable = self.len / self.batch * self.batch;
        let perm = &perm[..usable];
        match self.batching {
            Batching::Shuffled => perm.chunks(self.batch).map(<[usize]>::to_vec).collect(),
            Batching::BySize => {
                let mut batches = Vec::with_capacity(usable / self.batch);
                for window in perm.chunks(self.batch * WINDOW_BATCHES) {
                    let mut sorted = window.to_vec();
                    sorted.sort_by_key(|&i| self.sizes.get(i).copied().unwrap_or(0));
                    batches.extend(sorted.chunks(self.batch).map(<[usize]>::to_vec));
                }
                let shuffle =
                    SeededRng::stream(self.seed, (2 << 32) + epoch).permutation(batches.len());
                shuffle.into_iter().map(|k| batches[k].clone()).collect()
            }
        }
    }

    /// The examples of the batch at `step` (0-based).
    pub(crate) fn batch(&mut self, step: u64) -> Vec<usize> {
        let per_epoch = self.batches_per_epoch();
        let (epoch, k) = (step / per_epoch, (step % per_epoch) as usize);
        if self.cache.as_ref().map(|c| c.0) != Some(epoch) {
            self.cache = Some((epoch, self.epoch(epoch)));
        }
        self.cache.as_ref().expect("set above").1[k].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_visits_every_example_once() {
        for batching in [Batching::Shuffled, Batching::BySize] {
            let sizes: Vec<usize> = (0..100).map(|i| (i * 7) % 13).collect();
            let mut order = BatchOrder::new(5, 100, 10, batching, sizes.clone());
            let mut seen: Vec<usize> = (0..10).flat_map(|s| order.batch(s)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..100).collect::<Vec<_>>());
            // Same step, same batch.
            let mut again = BatchOrder::new(5, 100, 10, batching, sizes);
            assert_eq!(order.batch(13), again.batch(13));
        }
    }

    #[test]
    fn by_size_batches_are_narrow() {
        let sizes: Vec<usize> = (0..3200).map(|i| (i * 7919) % 27 + 3).collect();
        let mut shuffled = BatchOrder::new(1, 3200, 32, Batching::Shuffled, sizes.clone());
        let mut by_size = BatchOrder::new(1, 3200, 32, Batching::BySize, sizes.clone());
        let spread = |b: Vec<usize>| {
            let s: Vec<usize> = b.iter().map(|&i| sizes[i]).collect();
            s.iter().max().unwrap() - s.iter().min().unwrap()
        };
        let wide: usize = (0..100).map(|s| spread(shuffled.batch(s))).sum();
        let narrow: usize = (0..100).map(|s| spread(by_size.batch(s))).sum();
        assert!(narrow * 5 < wide, "{narrow} vs {wide}");
    }
}
