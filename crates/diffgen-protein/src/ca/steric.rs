//! Steric repulsion on the estimated trace while sampling. The network never sees a chain
//! passing through itself in training (noised real chains do not), so when a sampling
//! trajectory brings two distant residues together, nothing pulls them apart again. This
//! constraint does: on each step's x̂₀ (at times ≥ `until`), non-local pairs (|i − j| ≥ 3)
//! closer than `distance` are pushed apart along the line between them, each residue by
//! half the shortfall, for a few rounds; the sampler then re-derives its velocity from the
//! corrected x̂₀, as image models clamp x̂₀ to the pixel range. With `until` = 0 (the
//! bundled default) it acts to the last step, so the output is clash-free by construction;
//! with `until` > 0 the steps below it are the network's alone.

use burn::tensor::{Device, Tensor, TensorData};
use diffgen_core::space::remove_mean_with_mask;
use diffgen_core::CoreError;
use serde::{Deserialize, Serialize};

use super::data::NM_PER_ANGSTROM;
use crate::space::ProteinContext;

/// The largest floor accepted (Å): non-local Cα pairs in real chains come to about 4 Å.
pub const MAX_DISTANCE: f64 = 4.5;

/// Pairs closer in sequence than this are bonded neighbours or turns, never clashes (the
/// clash metric's |i − j| ≥ 3).
const MIN_SEPARATION: usize = 3;

/// `[sampling] steric` and `--opt steric=Å`, `--opt steric_until=t`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StericRepulsion {
    /// Non-local pairs of x̂₀ closer than this (Å) are pushed apart; 0 turns it off.
    pub distance: f64,
    /// Estimates made at times below this are left alone.
    #[serde(default)]
    pub until: f64,
    /// Rounds of pushing per estimate (a residue may clash with several others).
    #[serde(default = "default_rounds")]
    pub rounds: usize,
}

/// Rounds per estimate when the config does not say.
pub const DEFAULT_ROUNDS: usize = 10;

fn default_rounds() -> usize {
    DEFAULT_ROUNDS
}

impl StericRepulsion {
    /// The distance and the time from which it acts.
    pub fn new(distance: f64, until: f64) -> Self {
        Self {
            distance,
            until,
            rounds: default_rounds(),
        }
    }

    /// Refuses settings that cannot be meant (`setting` names them in the message).
    pub fn validate(&self, setting: &str) -> Result<(), CoreError> {
        if !(0.0..=MAX_DISTANCE).contains(&self.distance) {
            return Err(CoreError::setting(
                setting,
                format!(
                    "distance {} Å is outside 0–{MAX_DISTANCE} Å (0 turns it off)",
                    self.distance
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.until) {
            return Err(CoreError::setting(
                setting,
                format!("until = {} is not a time in 0–1", self.until),
            ));
        }
        if !(1..=100).contains(&self.rounds) {
            return Err(CoreError::setting(
                setting,
                format!("rounds = {} is outside 1–100", self.rounds),
            ));
        }
        Ok(())
    }

    /// `x0` (`[B, L, 3]`, nm) with its non-local clashes pushed apart, re-centred; None when
    /// it does not act at time `t`.
    pub fn apply(&self, x0: &Tensor<3>, t: f64, context: &ProteinContext) -> Option<Tensor<3>> {
        if self.distance <= 0.0 || t < self.until {
            return None;
        }
        let floor = self.distance * NM_PER_ANGSTROM;
        let [b, l, _] = x0.dims();
        let device = x0.device();
        let residues = context.mask.clone().unsqueeze_dim::<3>(2); // [B, L, 1]
        let real_pairs = residues.clone().unsqueeze_dim::<4>(2) // [B, L, 1, 1]
            * context.mask.clone().reshape([b, 1, l, 1]); // [B, L, L, 1]
        let pairs = real_pairs * non_local(l, &device); // [B, L, L, 1]
        let mut x = x0.clone();
        for _ in 0..self.rounds {
            // x_i − x_j, and half the shortfall as a multiple of it (each residue moves half).
            let apart = x.clone().unsqueeze_dim::<4>(2) - x.clone().unsqueeze_dim::<4>(1); // [B, L, L, 3]
            let squared = apart.clone().powi_scalar(2).sum_dim(3); // [B, L, L, 1]
            let distance = squared.add_scalar(1e-12).sqrt(); // [B, L, L, 1]
            let shortfall = distance.clone().neg().add_scalar(floor).clamp_min(0.0); // [B, L, L, 1]
            let push = shortfall * pairs.clone() / distance * 0.5; // [B, L, L, 1]
            let shift = (apart * push).sum_dim(2).reshape([b, l, 3]); // [B, L, 3]
            x = x + shift;
        }
        Some(remove_mean_with_mask(x * residues.clone(), residues))
    }
}

/// `[1, L, L, 1]`: 1 where |i − j| ≥ [`MIN_SEPARATION`].
fn non_local(l: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..l * l)
        .map(|k| f32::from(u8::from((k / l).abs_diff(k % l) >= MIN_SEPARATION)))
        .collect();
    Tensor::from_data(TensorData::new(values, [1, l, l, 1]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diffgen_core::tensor_util::{tensor_from_vec, to_vec};

    fn distance(values: &[f32], i: usize, j: usize) -> f32 {
        (0..3)
            .map(|c| (values[i * 3 + c] - values[j * 3 + c]).powi(2))
            .sum::<f32>()
            .sqrt()
    }

    /// Chain 0: 5 residues folded so that residues 0 and 4 sit 0.2 nm apart, padded to 6;
    /// the pair is pushed out to the floor, residues 2 and 4 (0.32 nm, but |i − j| = 2) are
    /// not pushed, the padding stays zero and the centre of mass at the origin. Chain 1,
    /// without a clash, comes back as it was.
    #[test]
    fn non_local_clashes_are_pushed_to_the_floor_and_nothing_else_moves_apart() {
        let device = Device::flex();
        let mut folded = vec![
            0.0, 0.0, 0.0, //
            0.38, 0.0, 0.0, // a neighbour of residue 0, never pushed
            0.2, 0.45, 0.0, // 0.32 nm from residue 4, but |i − j| = 2
            0.3, 0.5, 0.0, //
            0.0, 0.2, 0.0, // 0.2 nm from residue 0: |i − j| = 4, a clash
        ];
        let mean: Vec<f32> = (0..3)
            .map(|c| (0..5).map(|k| folded[k * 3 + c]).sum::<f32>() / 5.0)
            .collect();
        for k in 0..5 {
            for c in 0..3 {
                folded[k * 3 + c] -= mean[c];
            }
        }
        let straight: Vec<f32> = (0..18).map(|k| ((k / 3) as f32 - 2.5) * 0.5).collect();
        let values: Vec<f32> = folded
            .iter()
            .copied()
            .chain([0.0; 3])
            .chain(straight.iter().copied())
            .collect();
        let context = ProteinContext::new(&[5, 6], &device);
        let x0 = tensor_from_vec(values, [2, 6, 3], &device);
        let repulsion = StericRepulsion::new(3.8, 0.1);
        assert!(
            repulsion.apply(&x0, 0.05, &context).is_none(),
            "below `until`"
        );
        let out = to_vec(repulsion.apply(&x0, 0.5, &context).unwrap());
        assert!(
            (distance(&out, 0, 4) - 0.38).abs() < 1e-3,
            "{}",
            distance(&out, 0, 4)
        );
        assert!((distance(&out, 0, 1) - distance(&folded, 0, 1)).abs() < 0.05);
        assert!(distance(&out, 2, 4) < 0.3, "{}", distance(&out, 2, 4));
        assert_eq!(&out[15..18], &[0.0, 0.0, 0.0]);
        for c in 0..3 {
            let sum: f32 = (0..5).map(|k| out[k * 3 + c]).sum();
            assert!(sum.abs() < 1e-5, "centre {sum}");
        }
        for (a, b) in out[18..].iter().zip(&straight) {
            assert!((a - b).abs() < 1e-5, "the chain without a clash moved");
        }
        assert!(StericRepulsion::new(0.0, 0.0)
            .apply(&x0, 0.5, &context)
            .is_none());
    }
}
