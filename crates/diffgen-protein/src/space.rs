//! The torus: six angles per residue, each living on a circle.
//!
//! Noise is Gaussian and every state is wrapped back to [−π, π) after each update, so a noisy
//! state is a wrapped normal around the scaled clean angles (FoldingDiff's forward process).
//! The core's samplers and trainer run through this space unchanged.

use std::f64::consts::PI;

use burn::tensor::{Device, Int, Tensor, TensorData};
use diffgen_core::{NoiseSource, NoiseSpace};

/// A batch of chains padded to one length.
#[derive(Debug, Clone)]
pub struct ProteinContext {
    /// `[B, L]`: 1 for a residue, 0 for padding.
    pub mask: Tensor<2>,
    /// Residues per chain.
    pub lengths: Vec<usize>,
    /// `[B]` fold-class labels of a conditional model (the null label allowed; `None`:
    /// unconditional).
    pub labels: Option<Tensor<1, Int>>,
}

impl ProteinContext {
    /// The context of chains of `lengths` residues, padded to the longest.
    pub fn new(lengths: &[usize], device: &Device) -> Self {
        let l = lengths.iter().copied().max().unwrap_or(0);
        let mut mask = vec![0f32; lengths.len() * l];
        for (row, &n) in lengths.iter().enumerate() {
            mask[row * l..row * l + n].fill(1.0);
        }
        Self {
            mask: Tensor::from_data(TensorData::new(mask, [lengths.len(), l]), device),
            lengths: lengths.to_vec(),
            labels: None,
        }
    }

    /// The same chains conditioned on `labels` (one per chain).
    pub fn with_labels(mut self, labels: &[usize], device: &Device) -> Self {
        let values: Vec<i64> = labels.iter().map(|&c| c as i64).collect();
        self.labels = Some(Tensor::from_data(
            TensorData::new(values, [labels.len()]),
            device,
        ));
        self
    }

    /// `[B, L, 1]`, to broadcast over the angle axis.
    fn mask3(&self) -> Tensor<3> {
        self.mask.clone().unsqueeze_dim(2)
    }
}

/// `x` wrapped to [−π, π), elementwise.
pub fn wrap<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let turns = x.clone().add_scalar(PI).div_scalar(2.0 * PI).floor();
    x - turns.mul_scalar(2.0 * PI)
}

/// Per-residue angles on the torus `[B, L, 6]` with padding held at zero.
#[derive(Debug, Clone, Copy, Default)]
pub struct TorusSpace;

impl NoiseSpace<3> for TorusSpace {
    type Context = ProteinContext;

    fn noise<N: NoiseSource>(
        &self,
        shape: [usize; 3],
        context: &ProteinContext,
        source: &mut N,
        device: &Device,
    ) -> Tensor<3> {
        // Unwrapped ε: it is the training target; `project` wraps the states it builds.
        source.standard_normal(shape, device) * context.mask3()
    }

    fn project(&self, x: Tensor<3>, context: &ProteinContext) -> Tensor<3> {
        wrap(x) * context.mask3()
    }

    /// Mean over real residues (all six angles; the undefined end angles — φ of the first
    /// residue, ψ, ω and the two peptide-bond angles of the last — hold the centred zero and
    /// are learned like the rest).
    fn reduce(&self, elementwise: Tensor<3>, context: &ProteinContext) -> Tensor<1> {
        mean_over_residues(elementwise, context)
    }
}

/// Per-chain mean of `[B, L, F]` over its real residues' features (padding excluded).
pub fn mean_over_residues(elementwise: Tensor<3>, context: &ProteinContext) -> Tensor<1> {
    let [b, _, f] = elementwise.dims();
    let summed = (elementwise * context.mask3())
        .reshape([b as i32, -1])
        .sum_dim(1);
    let counts: Vec<f32> = context
        .lengths
        .iter()
        .map(|&n| (n.max(1) * f) as f32)
        .collect();
    let counts = Tensor::<1>::from_data(TensorData::new(counts, [b]), &summed.device());
    summed.reshape([b]) / counts
}
