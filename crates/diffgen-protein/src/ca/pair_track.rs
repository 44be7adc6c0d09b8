//! A pair representation carried through the Cα network (`[model] pair_track`), after the
//! pair stacks of FrameFlow, Genie and Proteina, kept small for the CPU. The attention
//! biases of the plain network are a fixed linear function of each pair's distances, added
//! to q·k: they cannot say "attend to j when j is about 5 Å away *and* both are extended",
//! which is what pairing a β-strand asks. Here each pair has a state z_ij (C channels,
//! started from its distance features), updated after every block from the residues' new
//! features through a nonlinearity:
//!
//! z_ij ← z_ij + W_out · relu(W_mix · z_ij + a_i + b_j),  a = W_a·h, b = W_b·h,
//!
//! and each block's (and the readout's) attention biases get W_bias · z on top. W_out and
//! W_bias start at zero, so that `train --init` from a run without the track starts as that
//! run's network. Every product is channel-first, one matrix product per layer
//! ([`project_pairs`]).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::features::project_pairs;

/// `[model] pair_track`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairTrackConfig {
    /// Channels of each pair's state.
    pub channels: usize,
}

/// The track: its start from the distance features, one update per block, one set of
/// biases per block and for the readout.
#[derive(Module, Debug)]
pub struct PairTrack {
    /// Distance features (`[B, 2K, L, L]`) → the start state.
    start: Linear,
    /// Ladder features (`[B, 4K, L, L]`) → the start state, when the network reads them.
    start_ladders: Option<Linear>,
    updates: Vec<PairUpdate>,
    /// Per block, then for the readout: state → that set's head biases.
    biases: Vec<Linear>,
    channels: usize,
}

/// One update of every pair's state from the residues' features.
#[derive(Module, Debug)]
struct PairUpdate {
    mix: Linear,
    rows: Linear,
    columns: Linear,
    out: Linear,
}

impl PairTrackConfig {
    /// A track for `blocks` blocks of width `hidden` with `heads` heads, started from
    /// `features` distance channels (and `ladder_features`, when read).
    pub fn init(
        &self,
        hidden: usize,
        heads: usize,
        blocks: usize,
        features: usize,
        ladder_features: Option<usize>,
        device: &Device,
    ) -> PairTrack {
        let c = self.channels;
        let zeros = |from: usize, to: usize| {
            LinearConfig::new(from, to)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        PairTrack {
            start: LinearConfig::new(features, c).init(device),
            start_ladders: ladder_features.map(|n| LinearConfig::new(n, c).init(device)),
            updates: (0..blocks)
                .map(|_| PairUpdate {
                    mix: LinearConfig::new(c, c).init(device),
                    rows: LinearConfig::new(hidden, c).init(device),
                    columns: LinearConfig::new(hidden, c).init(device),
                    out: zeros(c, c),
                })
                .collect(),
            biases: (0..=blocks).map(|_| zeros(c, heads)).collect(),
            channels: c,
        }
    }
}

impl PairTrack {
    /// The start state from `pair` `[B, 2K, L, L]` and `ladders` `[B, 4K, L, L]` →
    /// `[B, C, L, L]`.
    pub fn start(&self, pair: &Tensor<4>, ladders: Option<&Tensor<4>>) -> Tensor<4> {
        let all = 0..self.channels;
        let z = project_pairs(&self.start, pair, all.clone());
        match (&self.start_ladders, ladders) {
            (Some(layer), Some(ladders)) => z + project_pairs(layer, ladders, all),
            _ => z,
        }
    }

    /// Bias set `k` (block k; the readout's is `blocks`) from `z` → `[B, heads, L, L]`.
    pub fn biases(&self, k: usize, z: &Tensor<4>) -> Tensor<4> {
        let layer = &self.biases[k];
        project_pairs(layer, z, 0..layer.weight.dims()[1])
    }

    /// `z` `[B, C, L, L]` after block `k`, whose output is `h` `[B, L, H]`.
    pub fn update(&self, k: usize, z: Tensor<4>, h: &Tensor<3>) -> Tensor<4> {
        let update = &self.updates[k];
        let all = 0..self.channels;
        let rows = update.rows.forward(h.clone()).swap_dims(1, 2); // [B, C, L]
        let columns = update.columns.forward(h.clone()).swap_dims(1, 2); // [B, C, L]
        let mixed = project_pairs(&update.mix, &z, all.clone())
            + rows.unsqueeze_dim::<4>(3)
            + columns.unsqueeze_dim::<4>(2); // [B, C, L, L]
        let delta = project_pairs(&update.out, &relu(mixed), all); // [B, C, L, L]
        z + delta
    }
}
