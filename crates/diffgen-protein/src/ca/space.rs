//! The Cα trace's space: positions in nm with zero centre of mass over the real residues,
//! padding held at zero.

use burn::tensor::{Device, Tensor, TensorData};
use diffgen_core::space::{remove_mean_with_mask, rotate_noise_onto};
use diffgen_core::tensor_util::to_vec;
use diffgen_core::{NoiseSource, NoiseSpace};

use super::config::LocalDistanceLoss;
use crate::space::ProteinContext;

/// Cα positions `[B, L, 3]`. A translation carries no information, so states live where
/// Σᵢ xᵢ = 0; the Gaussian prior is drawn there too, and flow matching may rotate it onto
/// each training chain (`flow.align_prior`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CaSpace {
    /// `[loss] local_distances`, when the config asks for it.
    pub local_distances: Option<LocalDistanceLoss>,
}

impl NoiseSpace<3> for CaSpace {
    type Context = ProteinContext;

    fn noise<N: NoiseSource>(
        &self,
        shape: [usize; 3],
        context: &ProteinContext,
        source: &mut N,
        device: &Device,
    ) -> Tensor<3> {
        let mask = context.mask.clone().unsqueeze_dim(2); // [B, L, 1]
        remove_mean_with_mask(source.standard_normal(shape, device) * mask.clone(), mask)
    }

    fn project(&self, x: Tensor<3>, context: &ProteinContext) -> Tensor<3> {
        let mask = context.mask.clone().unsqueeze_dim(2);
        remove_mean_with_mask(x * mask.clone(), mask)
    }

    fn align_prior(&self, noise: Tensor<3>, x0: &Tensor<3>, context: &ProteinContext) -> Tensor<3> {
        rotate_noise_onto(noise, x0, &context.lengths)
    }

    fn auxiliary_loss(
        &self,
        estimate: &dyn Fn() -> Tensor<3>,
        x0: &Tensor<3>,
        t: &[f64],
        context: &ProteinContext,
    ) -> Option<Tensor<1>> {
        let local = self.local_distances?;
        let gate: Vec<f32> = t
            .iter()
            .map(|&t| if t < local.max_time { 1.0 } else { 0.0 })
            .collect();
        if gate.iter().all(|&g| g == 0.0) {
            return None;
        }
        let device = x0.device();
        let (target, pairs) = local_pairs(x0, &context.lengths, local.cutoff);
        let [b, l, _] = x0.dims();
        let x = estimate();
        let diff = x.clone().unsqueeze_dim::<4>(2) - x.unsqueeze_dim::<4>(1); // [B, L, L, 3]
        let distance = diff.powi_scalar(2).sum_dim(3).add_scalar(1e-10).sqrt(); // [B, L, L, 1]
        let target = Tensor::<4>::from_data(TensorData::new(target, [b, l, l, 1]), &device);
        let mask = Tensor::<4>::from_data(TensorData::new(pairs.mask, [b, l, l, 1]), &device);
        let summed = ((distance - target).powi_scalar(2) * mask)
            .reshape([b as i32, -1])
            .sum_dim(1)
            .reshape([b]);
        let scale: Vec<f32> = pairs
            .counts
            .iter()
            .zip(&gate)
            .map(|(&n, &g)| g * local.weight as f32 / n.max(1) as f32)
            .collect();
        Some(summed * Tensor::<1>::from_data(TensorData::new(scale, [b]), &device))
    }

    /// Mean over real residues' coordinates.
    fn reduce(&self, elementwise: Tensor<3>, context: &ProteinContext) -> Tensor<1> {
        crate::space::mean_over_residues(elementwise, context)
    }
}

/// Which residue pairs of each chain count for the local-distance loss.
struct LocalPairs {
    /// `[B·L·L]`: 1 for two different real residues within the cut-off in the data.
    mask: Vec<f32>,
    /// Such pairs per chain.
    counts: Vec<usize>,
}

/// The data's pairwise distances `[B·L·L]` (nm) and the pairs closer than `cutoff`. Computed
/// on the host: the data carries no gradient.
fn local_pairs(x0: &Tensor<3>, lengths: &[usize], cutoff: f64) -> (Vec<f32>, LocalPairs) {
    let [b, l, _] = x0.dims();
    let values = to_vec(x0.clone());
    let mut distances = vec![0f32; b * l * l];
    let mut mask = vec![0f32; b * l * l];
    let mut counts = vec![0usize; b];
    for (chain, &n) in lengths.iter().enumerate().take(b) {
        let at = |i: usize| &values[(chain * l + i) * 3..(chain * l + i) * 3 + 3];
        for i in 0..n.min(l) {
            for j in 0..n.min(l) {
                let (p, q) = (at(i), at(j));
                let d =
                    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
                let k = (chain * l + i) * l + j;
                distances[k] = d;
                if i != j && (d as f64) < cutoff {
                    mask[k] = 1.0;
                    counts[chain] += 1;
                }
            }
        }
    }
    (distances, LocalPairs { mask, counts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use diffgen_core::tensor_util::tensor_from_vec;

    /// Two chains padded to 4: a straight line of 3 residues 0.38 nm apart, and 4 residues
    /// of which only neighbours lie within 0.6 nm.
    fn traces(device: &Device) -> (Tensor<3>, ProteinContext) {
        let line = |k: usize, gap: f32| [k as f32 * gap, 0.0, 0.0];
        let mut values = Vec::new();
        for k in 0..4 {
            values.extend(if k < 3 { line(k, 0.38) } else { [0.0; 3] });
        }
        for k in 0..4 {
            values.extend(line(k, 0.5));
        }
        let context = ProteinContext::new(&[3, 4], device);
        (tensor_from_vec(values, [2, 4, 3], device), context)
    }

    #[test]
    fn the_local_distance_loss_has_its_closed_form_and_only_at_low_noise() {
        let device = Device::flex();
        let (x0, context) = traces(&device);
        let space = CaSpace {
            local_distances: Some(LocalDistanceLoss {
                weight: 2.0,
                cutoff: 0.6,
                max_time: 0.25,
            }),
        };
        let exact = space
            .auxiliary_loss(&|| x0.clone(), &x0, &[0.1, 0.1], &context)
            .unwrap();
        assert!(to_vec(exact).iter().all(|v| v.abs() < 1e-5));

        // Stretched by 10 %, every counted pair's error is 0.1·d. Chain 1 counts its two
        // neighbour pairs at 0.38 (each both ways) and its 0.76 pair not at all; chain 2 its
        // three neighbour pairs at 0.5; padding never.
        let stretched = x0.clone().mul_scalar(1.1);
        let loss = to_vec(
            space
                .auxiliary_loss(&|| stretched.clone(), &x0, &[0.1, 0.5], &context)
                .unwrap(),
        );
        assert!(
            (loss[0] - 2.0 * (0.038f32).powi(2)).abs() < 1e-6,
            "{loss:?}"
        );
        assert_eq!(loss[1], 0.0, "t above max_time pays nothing");
        let (_, pairs) = local_pairs(&x0, &context.lengths, 0.6);
        assert_eq!(pairs.counts, vec![4, 6]);

        assert!(space
            .auxiliary_loss(&|| stretched.clone(), &x0, &[0.3, 0.9], &context)
            .is_none());
        assert!(CaSpace::default()
            .auxiliary_loss(&|| stretched.clone(), &x0, &[0.1, 0.1], &context)
            .is_none());
    }
}
