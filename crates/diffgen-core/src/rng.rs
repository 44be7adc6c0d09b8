//! The one seeded source of randomness.
//!
//! Every random draw of diffgen — noise, time steps, batch order — goes through a
//! [`SeededRng`] (ChaCha8, whose state serialises into checkpoints for exact resume) or a
//! [`PerSampleStreams`], which gives each sample its own stream so that a sample's value
//! depends only on the seed and its index: not on the batch size, not on the shard.
//! Noise is drawn on the host and uploaded, so it is the same on every backend.

use std::sync::Mutex;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::tensor_util::tensor_from_vec;

/// Anything that can fill a batch-first tensor with standard normal noise.
pub trait NoiseSource {
    /// i.i.d. N(0, 1) values of `shape` on `device`, drawn on the host.
    fn standard_normal<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D>;
}

/// A single seeded stream (training: time steps, noise, batch order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeededRng {
    rng: ChaCha8Rng,
}

impl SeededRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// An independent stream `stream` of the same seed (e.g. one per sample or per epoch).
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self { rng }
    }

    /// `n` standard normal draws (sampled in f64, stored as f32).
    pub fn normal_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| self.rng.sample::<f64, _>(StandardNormal) as f32)
            .collect()
    }

    /// Uniform integer in `low..=high`.
    pub fn int_inclusive(&mut self, low: usize, high: usize) -> usize {
        self.rng.random_range(low..=high)
    }

    /// A uniform draw in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// One standard normal draw.
    pub fn normal(&mut self) -> f64 {
        self.rng.sample::<f64, _>(StandardNormal)
    }

    /// One Beta(a, b) draw (a, b > 0; invalid parameters give NaN).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        match rand_distr::Beta::new(a, b) {
            Ok(beta) => self.rng.sample(beta),
            Err(_) => f64::NAN,
        }
    }

    /// A Fisher–Yates permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.rng.random_range(0..=i);
            p.swap(i, j);
        }
        p
    }

    /// A uniform 64-bit integer.
    pub fn next_u64(&mut self) -> u64 {
        self.rng.random::<u64>()
    }
}

impl NoiseSource for SeededRng {
    fn standard_normal<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        let n = shape.iter().product();
        tensor_from_vec(self.normal_vec(n), shape, device)
    }
}

/// One stream per sample, indexed by the sample's global index.
///
/// Sample `i` of a run with seed `s` draws from stream `i` of `s` however the run is split
/// into batches or shards, which is what makes `--shard i/n` reproduce the unsharded run.
#[derive(Debug, Clone)]
pub struct PerSampleStreams {
    streams: Vec<SeededRng>,
}

impl PerSampleStreams {
    /// One stream per global sample index of `sample_indices`, in that order (the batch's rows).
    pub fn new(seed: u64, sample_indices: impl IntoIterator<Item = u64>) -> Self {
        Self {
            streams: sample_indices
                .into_iter()
                .map(|i| SeededRng::stream(seed, i))
                .collect(),
        }
    }

    /// The number of samples (rows) of the batch.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether the batch has no samples.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// The stream of the `row`-th sample of this batch, for per-sample draws that are not
    /// tensors (atom counts, lengths, class labels).
    pub fn row(&mut self, row: usize) -> &mut SeededRng {
        &mut self.streams[row]
    }
}

impl NoiseSource for PerSampleStreams {
    fn standard_normal<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        assert_eq!(
            shape[0],
            self.streams.len(),
            "batch axis must match the number of sample streams"
        );
        let per_row: usize = shape[1..].iter().product();
        let mut values = Vec::with_capacity(per_row * shape[0]);
        for stream in &mut self.streams {
            values.extend(stream.normal_vec(per_row));
        }
        tensor_from_vec(values, shape, device)
    }
}

/// Per-sample noise that ignores padding along axis 1: sample `b` draws `counts[b]` rows of
/// the trailing shape from its own stream and its padded rows are zero, so its noise is the
/// same in any batch (molecules padded to the largest, chains to the longest).
#[derive(Debug, Clone)]
pub struct PaddedNoise {
    streams: PerSampleStreams,
    counts: Vec<usize>,
}

impl PaddedNoise {
    /// `counts[b]` real rows for the sample whose global index is the `b`-th of `indices`.
    pub fn new(seed: u64, indices: impl IntoIterator<Item = u64>, counts: Vec<usize>) -> Self {
        let streams = PerSampleStreams::new(seed, indices);
        assert_eq!(streams.len(), counts.len(), "one count per sample");
        Self { streams, counts }
    }
}

impl NoiseSource for PaddedNoise {
    fn standard_normal<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        let (b, n) = (shape[0], shape[1]);
        assert_eq!(
            b,
            self.counts.len(),
            "batch axis must match the sample count"
        );
        let per_row: usize = shape[2..].iter().product();
        let mut values = vec![0f32; b * n * per_row];
        for (sample, &count) in self.counts.iter().enumerate() {
            let drawn = self.streams.row(sample).normal_vec(count.min(n) * per_row);
            let at = sample * n * per_row;
            values[at..at + drawn.len()].copy_from_slice(&drawn);
        }
        tensor_from_vec(values, shape, device)
    }
}

/// A module initialised from burn's global generator seeded with `seed`, every parameter
/// materialised before the generator is released.
///
/// Network weights are the one draw that does not come from a [`SeededRng`]: burn's layers
/// initialise from the device's process-wide generator, and lazily, on first use. Two
/// initialisations in one process (parallel tests, a library user's threads) would otherwise
/// interleave their draws and give different weights for the same seed.
///
/// Initialise on the plain device: a parameter materialised on an autodiff device cannot be
/// turned into a trainable leaf afterwards; the trainer moves the module to autodiff.
pub fn init_seeded<M: Module>(device: &Device, seed: u64, init: impl FnOnce() -> M) -> M {
    struct Materialise;
    impl ModuleVisitor for Materialise {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    static GLOBAL_GENERATOR: Mutex<()> = Mutex::new(());
    let _guard = GLOBAL_GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    let module = init();
    module.visit(&mut Materialise);
    module
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialised_state_resumes_the_same_sequence() {
        let mut a = SeededRng::new(7);
        a.normal_vec(13);
        let saved = serde_json::to_string(&a).unwrap();
        let mut b: SeededRng = serde_json::from_str(&saved).unwrap();
        assert_eq!(a.normal_vec(5), b.normal_vec(5));
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn streams_are_independent_of_batching() {
        let dev = Device::flex();
        let mut all = PerSampleStreams::new(3, 0..4);
        let mut first = PerSampleStreams::new(3, 0..2);
        let mut second = PerSampleStreams::new(3, 2..4);
        let full = all.standard_normal([4, 3], &dev);
        let joined = Tensor::cat(
            vec![
                first.standard_normal([2, 3], &dev),
                second.standard_normal([2, 3], &dev),
            ],
            0,
        );
        assert_eq!(
            full.into_data().try_to_vec::<f32>().unwrap(),
            joined.into_data().try_to_vec::<f32>().unwrap()
        );
    }

    #[test]
    fn different_seeds_differ() {
        assert_ne!(
            SeededRng::new(1).normal_vec(4),
            SeededRng::new(2).normal_vec(4)
        );
    }
}
