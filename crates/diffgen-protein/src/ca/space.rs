//! The Cα trace's space: positions in nm with zero centre of mass over the real residues,
//! padding held at zero.

use burn::tensor::{Device, Tensor, TensorData};
use diffgen_core::space::{remove_mean_with_mask, rotate_noise_onto};
use diffgen_core::tensor_util::to_vec;
use diffgen_core::{NoiseSource, NoiseSpace};

use super::config::CaLossConfig;
use super::steric::StericRepulsion;
use crate::space::ProteinContext;

/// Cα positions `[B, L, 3]`. A translation carries no information, so states live where
/// Σᵢ xᵢ = 0; the Gaussian prior is drawn there too, and flow matching may rotate it onto
/// each training chain (`flow.align_prior`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CaSpace {
    /// `[loss]`: the geometric losses the config asks for.
    pub loss: CaLossConfig,
    /// Sampling only: clashes in x̂₀ pushed apart (`[sampling] steric`, `--opt steric`).
    pub steric: Option<StericRepulsion>,
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

    fn constrain_prediction(
        &self,
        x0: &Tensor<3>,
        t: f64,
        context: &ProteinContext,
    ) -> Option<Tensor<3>> {
        self.steric.and_then(|s| s.apply(x0, t, context))
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
        let CaLossConfig {
            local_distances,
            clashes,
            contacts,
        } = self.loss;
        let gate = |max_time: f64| -> Vec<f32> {
            t.iter()
                .map(|&t| if t < max_time { 1.0 } else { 0.0 })
                .collect()
        };
        let latest = [
            local_distances.map(|l| l.max_time),
            clashes.map(|c| c.max_time),
            contacts.map(|c| c.max_time),
        ]
        .into_iter()
        .flatten()
        .fold(0.0, f64::max);
        if !t.iter().any(|&t| t < latest) {
            return None;
        }
        let device = x0.device();
        let [b, l, _] = x0.dims();
        let data = pairwise_on_host(x0, &context.lengths);
        let x = estimate();
        let diff = x.clone().unsqueeze_dim::<4>(2) - x.unsqueeze_dim::<4>(1); // [B, L, L, 3]
        let distance = diff.powi_scalar(2).sum_dim(3).add_scalar(1e-10).sqrt(); // [B, L, L, 1]
        let pairs = |values: Vec<f32>| {
            Tensor::<4>::from_data(TensorData::new(values, [b, l, l, 1]), &device)
        };
        let per_chain = |t: Tensor<4>| t.reshape([b as i32, -1]).sum_dim(1).reshape([b]); // [B]
        let scaled = |summed: Tensor<1>, weight: f64, max_time: f64, counts: &[usize]| {
            let scale: Vec<f32> = gate(max_time)
                .iter()
                .zip(counts)
                .map(|(&g, &n)| g * weight as f32 / n.max(1) as f32)
                .collect();
            summed * Tensor::<1>::from_data(TensorData::new(scale, [b]), &device)
        };
        let mut total: Option<Tensor<1>> = None;
        let mut add = |term: Tensor<1>| {
            total = Some(match total.take() {
                Some(sum) => sum + term,
                None => term,
            });
        };
        // The local-distance and contact losses: one squared distance error, each term
        // averaging it over its own pairs (cutoff, smallest sequence separation).
        let distance_terms = [
            local_distances.map(|l| (l.cutoff, 1, l.weight, l.max_time)),
            contacts.map(|c| (c.cutoff, c.min_separation, c.weight, c.max_time)),
        ];
        if distance_terms.iter().any(Option::is_some) {
            let error = (distance.clone() - pairs(data.distances.clone())).powi_scalar(2);
            for (cutoff, min_separation, weight, max_time) in distance_terms.into_iter().flatten() {
                let (mask, counts) = data.within(cutoff, min_separation);
                let summed = per_chain(error.clone() * pairs(mask));
                add(scaled(summed, weight, max_time, &counts));
            }
        }
        if let Some(clash) = clashes {
            let floor = pairs(data.clash_floors(clash.distance));
            let summed = per_chain((floor - distance).clamp_min(0.0).powi_scalar(2));
            add(scaled(
                summed,
                clash.weight,
                clash.max_time,
                &context.lengths,
            ));
        }
        total
    }

    /// Mean over real residues' coordinates.
    fn reduce(&self, elementwise: Tensor<3>, context: &ProteinContext) -> Tensor<1> {
        crate::space::mean_over_residues(elementwise, context)
    }
}

/// The data's pairwise distances (nm), computed on the host: the data carries no gradient.
struct DataPairs {
    /// `[B·L·L]`, zero for pairs with padding.
    distances: Vec<f32>,
    lengths: Vec<usize>,
    width: usize,
}

/// Pairs closer in sequence than this are not clashes (the metric's |i − j| ≥ 3).
const MIN_CLASH_SEPARATION: usize = 3;

fn pairwise_on_host(x0: &Tensor<3>, lengths: &[usize]) -> DataPairs {
    let [b, l, _] = x0.dims();
    let values = to_vec(x0.clone());
    let mut distances = vec![0f32; b * l * l];
    for (chain, &n) in lengths.iter().enumerate().take(b) {
        let at = |i: usize| &values[(chain * l + i) * 3..(chain * l + i) * 3 + 3];
        for i in 0..n.min(l) {
            for j in 0..n.min(l) {
                let (p, q) = (at(i), at(j));
                let d =
                    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
                distances[(chain * l + i) * l + j] = d;
            }
        }
    }
    DataPairs {
        distances,
        lengths: lengths.to_vec(),
        width: l,
    }
}

impl DataPairs {
    /// Every ordered pair `(chain, i, j)` of two different real residues, with its index.
    fn real_pairs(&self) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        let l = self.width;
        self.lengths
            .iter()
            .enumerate()
            .flat_map(move |(chain, &n)| {
                let n = n.min(l);
                (0..n).flat_map(move |i| {
                    (0..n)
                        .filter(move |&j| j != i)
                        .map(move |j| (chain, i, j, (chain * l + i) * l + j))
                })
            })
    }

    /// The pairs at least `min_separation` apart in sequence and closer than `cutoff` in the
    /// data (`[B·L·L]` mask), and their count per chain.
    fn within(&self, cutoff: f64, min_separation: usize) -> (Vec<f32>, Vec<usize>) {
        let mut mask = vec![0f32; self.distances.len()];
        let mut counts = vec![0usize; self.lengths.len()];
        for (chain, i, j, k) in self.real_pairs() {
            if i.abs_diff(j) >= min_separation && (self.distances[k] as f64) < cutoff {
                mask[k] = 1.0;
                counts[chain] += 1;
            }
        }
        (mask, counts)
    }

    /// Per pair, the distance below which the estimate clashes: `distance`, or the data's own
    /// distance where that is smaller; zero (never paid) for local pairs and padding.
    fn clash_floors(&self, distance: f64) -> Vec<f32> {
        let mut floors = vec![0f32; self.distances.len()];
        for (_, i, j, k) in self.real_pairs() {
            if i.abs_diff(j) >= MIN_CLASH_SEPARATION {
                floors[k] = self.distances[k].min(distance as f32);
            }
        }
        floors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::config::{ClashLoss, ContactLoss, LocalDistanceLoss};
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
            loss: CaLossConfig {
                local_distances: Some(LocalDistanceLoss {
                    weight: 2.0,
                    cutoff: 0.6,
                    max_time: 0.25,
                }),
                clashes: None,
                contacts: None,
            },
            steric: None,
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
        let (_, counts) = pairwise_on_host(&x0, &context.lengths).within(0.6, 1);
        assert_eq!(counts, vec![4, 6]);

        assert!(space
            .auxiliary_loss(&|| stretched.clone(), &x0, &[0.3, 0.9], &context)
            .is_none());
        assert!(CaSpace::default()
            .auxiliary_loss(&|| stretched.clone(), &x0, &[0.1, 0.1], &context)
            .is_none());
    }

    #[test]
    fn the_clash_loss_pays_for_non_local_pairs_brought_together_and_only_those() {
        let device = Device::flex();
        let (x0, context) = traces(&device);
        let space = CaSpace {
            loss: CaLossConfig {
                local_distances: None,
                clashes: Some(ClashLoss {
                    weight: 2.0,
                    distance: 0.38,
                    max_time: 0.25,
                }),
                contacts: None,
            },
            steric: None,
        };
        let exact = space
            .auxiliary_loss(&|| x0.clone(), &x0, &[0.1, 0.1], &context)
            .unwrap();
        assert!(to_vec(exact).iter().all(|v| v.abs() < 1e-6));

        // Chain 2's last residue folded back to 0.2 nm from its first (|i − j| = 3): the
        // pair pays (0.38 − 0.2)² both ways, over 4 residues, times the weight. Chain 1 has
        // no pair 3 apart; its neighbours squeezed to 0.1 nm are local and pay nothing.
        let mut folded = to_vec(x0.clone());
        folded[4 * 3 + 3 * 3] = 0.2;
        folded[3] = 0.1;
        folded[6] = 0.2;
        let folded = tensor_from_vec(folded, [2, 4, 3], &device);
        let loss = to_vec(
            space
                .auxiliary_loss(&|| folded.clone(), &x0, &[0.1, 0.1], &context)
                .unwrap(),
        );
        assert_eq!(loss[0], 0.0);
        let expected = 2.0 * 2.0 * (0.38f32 - 0.2).powi(2) / 4.0;
        assert!((loss[1] - expected).abs() < 1e-6, "{loss:?} vs {expected}");
        let late = to_vec(
            space
                .auxiliary_loss(&|| folded.clone(), &x0, &[0.1, 0.5], &context)
                .unwrap(),
        );
        assert_eq!(late[1], 0.0, "t above max_time pays nothing");
    }

    #[test]
    fn the_contact_loss_sees_non_local_contacts_only() {
        let device = Device::flex();
        // Four residues on a line 0.38 nm apart and a fifth folded back to 0.5 nm from the
        // first: (0, 4) is the one pair at least 4 apart within 0.6 nm.
        let mut data = Vec::new();
        for k in 0..4 {
            data.extend([k as f32 * 0.38, 0.0, 0.0]);
        }
        data.extend([0.0, 0.5, 0.0]);
        let context = ProteinContext::new(&[5], &device);
        let x0 = tensor_from_vec(data.clone(), [1, 5, 3], &device);
        let contacts = |min_separation| CaSpace {
            loss: CaLossConfig {
                local_distances: None,
                clashes: None,
                contacts: Some(ContactLoss {
                    weight: 3.0,
                    cutoff: 0.6,
                    min_separation,
                    max_time: 0.25,
                }),
            },
            steric: None,
        };
        // The fifth residue moved to 0.6 nm from the first: that pair errs by 0.1 nm (both
        // ways, over the 2 counted pairs); its moves toward residues 2–4 are local.
        let mut moved = data;
        moved[4 * 3 + 1] = 0.6;
        let moved = tensor_from_vec(moved, [1, 5, 3], &device);
        let loss = to_vec(
            contacts(4)
                .auxiliary_loss(&|| moved.clone(), &x0, &[0.1], &context)
                .unwrap(),
        );
        assert!((loss[0] - 3.0 * 0.01).abs() < 1e-5, "{loss:?}");
        let none = to_vec(
            contacts(5)
                .auxiliary_loss(&|| moved.clone(), &x0, &[0.1], &context)
                .unwrap(),
        );
        assert_eq!(none[0], 0.0, "no pair 5 apart");
        let late = to_vec(
            contacts(4)
                .auxiliary_loss(&|| moved.clone(), &x0, &[0.3], &context)
                .unwrap_or_else(|| Tensor::zeros([1], &device)),
        );
        assert_eq!(late[0], 0.0, "t above max_time pays nothing");
    }
}
