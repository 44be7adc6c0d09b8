//! The Cα denoiser: the angle model's transformer blocks over residues, their attention
//! biased per chain by the pairwise distances of the noisy trace and of the network's
//! previous estimate (self-conditioning), so that contacts, not only sequence offsets, steer
//! which residues attend to which. With `readout = "absolute"` it reads and writes absolute
//! coordinates and training rotates every chain at random; with `readout = "equivariant"`
//! (`readout.rs`) it reads distances only and writes relative vectors; `readout = "chiral"`
//! adds the trace's handedness (`chirality.rs`).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor};

use super::chirality::{dihedral_features, DIHEDRAL_FEATURES};
use super::features::{distance_features, project_pairs, FeatureSpec};
use super::pair_track::{PairTrack, PairTrackConfig};
use super::readout::{CaReadout, CoordinateReadout, RadialInputs};
use diffgen_core::{CoreError, Denoiser, Objective};
use diffgen_nn::{
    sinusoidal_embedding, LabelEmbedding, LabelEmbeddingConfig, LayerNorm, LayerNormConfig,
};

use crate::fold_class::FOLD_CLASSES;
use serde::{Deserialize, Serialize};

use crate::model::{relative_offsets, validate_transformer, TransformerBlock, LAYER_NORM_EPSILON};
use crate::space::ProteinContext;

/// `[model]` of a Cα config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaDenoiserConfig {
    /// Width of the residue features.
    pub hidden: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads per block (each gets its own distance bias).
    pub heads: usize,
    /// Width of each feed-forward block.
    pub feed_forward: usize,
    /// Size of the sinusoidal embedding of t.
    #[serde(default = "default_time_features")]
    pub time_features: usize,
    /// Relative offsets |i − j| beyond this share one learned bias.
    #[serde(default = "default_max_relative")]
    pub max_relative: usize,
    /// Gaussian radial basis functions per distance, centred on 0 … `rbf_max` nm. Required:
    /// it is what tells a Cα config from an angle-model one (whose `[model]` table the rest
    /// of this one would accept), in TOML files and in checkpoints alike.
    pub rbf: usize,
    /// The farthest centre (nm).
    #[serde(default = "default_rbf_max")]
    pub rbf_max: f64,
    /// Feed the previous estimate of the clean trace back in (coordinates and distances).
    #[serde(default = "default_self_conditioning")]
    pub self_conditioning: bool,
    /// How coordinates go in and come out.
    #[serde(default)]
    pub readout: CaReadout,
    /// The readout also moves each residue along its lines to the residues its heads pick,
    /// by a learned function of their distance (the equivariant and chiral readouts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub radial_field: bool,
    /// The attention biases also read each pair's distances averaged along the chain in
    /// both directions (`features.rs`), where a β-ladder shows through noise that hides it
    /// in single distances. Zero-initialised, so that `train --init` from a run without
    /// them starts as that run's network.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ladder_features: bool,
    /// A pair state carried through the blocks (`pair_track.rs`); absent: the biases are
    /// the distance features' projections alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair_track: Option<PairTrackConfig>,
    /// Condition on the chain's fold class (absent: unconditional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold_class: Option<FoldClassConditioning>,
}

/// `[model] fold_class`: a label per chain (its [`FoldClass`](crate::fold_class::FoldClass)
/// from DSSP), added to the time embedding, with a null label for classifier-free guidance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoldClassConditioning {
    /// Share of training chains shown the null label (the unconditional half of guidance).
    pub dropout: f64,
}

fn default_time_features() -> usize {
    64
}
fn default_max_relative() -> usize {
    32
}
fn default_rbf_max() -> f64 {
    2.0
}
fn default_self_conditioning() -> bool {
    true
}

impl CaDenoiserConfig {
    /// Positive sizes, heads dividing the width, an even time embedding.
    pub fn validate(&self) -> Result<(), CoreError> {
        validate_transformer(
            self.hidden,
            self.layers,
            self.heads,
            self.feed_forward,
            self.time_features,
        )?;
        if let Some(c) = self.fold_class {
            if !(c.dropout.is_finite() && (0.0..1.0).contains(&c.dropout)) {
                return Err(CoreError::setting(
                    "model.fold_class.dropout",
                    format!("must be at least 0 and below 1, got {}", c.dropout),
                ));
            }
        }
        if self.radial_field && self.readout == CaReadout::Absolute {
            return Err(CoreError::setting(
                "model.radial_field",
                "needs readout = \"equivariant\" or \"chiral\"",
            ));
        }
        // The track feeds the readout's biases too, which the absolute readout has none of.
        if self.pair_track.is_some() && self.readout == CaReadout::Absolute {
            return Err(CoreError::setting(
                "model.pair_track",
                "needs readout = \"equivariant\" or \"chiral\"",
            ));
        }
        if self.pair_track.is_some_and(|t| t.channels == 0) {
            return Err(CoreError::setting(
                "model.pair_track.channels",
                "must be positive",
            ));
        }
        if self.rbf < 2 || !(self.rbf_max.is_finite() && self.rbf_max > 0.0) {
            return Err(CoreError::setting(
                "model.rbf/rbf_max",
                "need at least 2 centres and a positive, finite farthest centre",
            ));
        }
        Ok(())
    }

    /// A freshly initialised network.
    pub fn init(&self, objective: Objective, device: &Device) -> CaDenoiser {
        let h = self.hidden;
        let blocks = (0..self.layers)
            .map(|_| {
                TransformerBlock::new(h, self.heads, self.feed_forward, self.max_relative, device)
            })
            .collect();
        // Equivariant: per trace, 6 local distances and a neighbour histogram, each in the
        // radial basis (chiral: and the pseudo-dihedrals); the readout gets one more set of
        // distance biases.
        let (inputs, bias_sets) = match self.readout {
            CaReadout::Absolute => (6, self.layers),
            CaReadout::Equivariant => (2 * 7 * self.rbf, self.layers + 1),
            CaReadout::Chiral => (2 * (7 * self.rbf + DIHEDRAL_FEATURES), self.layers + 1),
        };
        let chiral = self.readout == CaReadout::Chiral;
        CaDenoiser {
            input: LinearConfig::new(inputs, h).init(device),
            time_in: LinearConfig::new(self.time_features, h).init(device),
            time_out: LinearConfig::new(h, h).init(device),
            pair: LinearConfig::new(2 * self.rbf, self.heads * bias_sets).init(device),
            ladder: self.ladder_features.then(|| {
                LinearConfig::new(4 * self.rbf, self.heads * bias_sets)
                    .with_initializer(Initializer::Zeros)
                    .init(device)
            }),
            pair_track: self.pair_track.map(|track| {
                let ladders = self.ladder_features.then_some(4 * self.rbf);
                track.init(h, self.heads, self.layers, 2 * self.rbf, ladders, device)
            }),
            blocks,
            norm_out: LayerNormConfig::new(h)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device),
            output: LinearConfig::new(h, 3).init(device),
            readout: (self.readout != CaReadout::Absolute).then(|| {
                let radial = self.radial_field.then_some(self.rbf);
                CoordinateReadout::new(h, self.heads, self.max_relative, chiral, radial, device)
            }),
            // Zero rows: a network started from an unconditional run's weights (`train
            // --init`) begins as that network, whatever the label.
            label: self
                .fold_class
                .map(|_| LabelEmbeddingConfig::new(FOLD_CLASSES, h).init_zeros(device)),
            time_features: self.time_features,
            max_relative: self.max_relative,
            heads: self.heads,
            rbf: self.rbf,
            rbf_max: self.rbf_max,
            self_conditioning: self.self_conditioning,
            objective,
        }
    }
}

/// See the module documentation.
#[derive(Module, Debug)]
pub struct CaDenoiser {
    input: Linear,
    time_in: Linear,
    time_out: Linear,
    pair: Linear,
    ladder: Option<Linear>,
    pair_track: Option<PairTrack>,
    blocks: Vec<TransformerBlock>,
    norm_out: LayerNorm,
    output: Linear,
    readout: Option<CoordinateReadout>,
    label: Option<LabelEmbedding>,
    time_features: usize,
    max_relative: usize,
    heads: usize,
    rbf: usize,
    rbf_max: f64,
    self_conditioning: bool,
    #[module(skip)]
    objective: Objective,
}

impl CaDenoiser {
    /// `x` `[B, L, 3]` noisy trace (nm), `t` `[B]`, `mask` `[B, L]`, `labels` `[B]` fold
    /// classes (None: the null label), `previous` the last estimate of the clean trace
    /// (None: first step, or half of training) → x̂₀ `[B, L, 3]`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        t: Tensor<1>,
        mask: Tensor<2>,
        labels: Option<Tensor<1, Int>>,
        previous: Option<Tensor<3>>,
    ) -> Tensor<3> {
        let [b, l, _] = x.dims();
        let device = x.device();
        let previous = match (self.self_conditioning, previous) {
            (true, Some(p)) => p,
            _ => Tensor::zeros([b, l, 3], &device),
        };
        let time = silu(
            self.time_in
                .forward(sinusoidal_embedding(t, self.time_features)),
        );
        let mut time = self.time_out.forward(time); // [B, H]
        if let Some(embedding) = &self.label {
            let labels =
                labels.unwrap_or_else(|| Tensor::<1, Int>::full([b], FOLD_CLASSES as i64, &device));
            time = time + embedding.forward(labels); // [B, H]
        }
        let radial = self
            .readout
            .as_ref()
            .is_some_and(CoordinateReadout::has_radial_field);
        let spec = FeatureSpec {
            centres: self.rbf,
            farthest: self.rbf_max,
            distances: radial,
            ladders: self.ladder.is_some(),
        };
        let distances = distance_features(&x, &previous, &mask, spec);
        let mut h = match &self.readout {
            Some(readout) => {
                let mut features = vec![distances.local]; // [B, L, 14K]
                if readout.is_chiral() {
                    features.push(dihedral_features(x.clone(), mask.clone())); // [B, L, 12]
                    features.push(dihedral_features(previous.clone(), mask.clone()));
                }
                self.input.forward(Tensor::cat(features, 2))
            }
            None => self
                .input
                .forward(Tensor::cat(vec![x.clone(), previous.clone()], 2)),
        }; // [B, L, H]

        // Set k of the attention biases, block k's heads (the readout's last): from the
        // distance features, and from the ladder features and the pair state z where the
        // network has them.
        let heads = self.heads;
        let biases = |k: usize, z: Option<&Tensor<4>>| {
            let columns = k * heads..(k + 1) * heads;
            let mut bias = project_pairs(&self.pair, &distances.pair, columns.clone()); // [B, heads, L, L]
            if let (Some(layer), Some(ladders)) = (&self.ladder, &distances.ladders) {
                bias = bias + project_pairs(layer, ladders, columns);
            }
            if let (Some(track), Some(z)) = (&self.pair_track, z) {
                bias = bias + track.biases(k, z);
            }
            bias
        };
        let relative = relative_offsets(self.max_relative, l, &device);
        let key_mask = (mask.clone() - 1.0).mul_scalar(1e4); // [B, L]
        let mut z = self
            .pair_track
            .as_ref()
            .map(|track| track.start(&distances.pair, distances.ladders.as_ref())); // [B, C, L, L]
        for (k, block) in self.blocks.iter().enumerate() {
            let bias = biases(k, z.as_ref());
            h = block.forward(
                h,
                time.clone(),
                relative.clone(),
                Some(bias),
                key_mask.clone(),
            );
            z = z
                .zip(self.pair_track.as_ref())
                .map(|(z, track)| track.update(k, z, &h));
        }
        let h = self.norm_out.forward(h);
        match &self.readout {
            Some(readout) => {
                let bias = biases(self.blocks.len(), z.as_ref());
                // x̂₀ is the trace moved along the field; other objectives are the field.
                let radial = distances
                    .inverse_distance
                    .map(|inverse_distance| RadialInputs {
                        basis: distances.pair,
                        inverse_distance,
                    });
                let field = readout.forward(h, x.clone(), bias, relative, key_mask, mask, radial); // [B, L, 3]
                match self.objective {
                    Objective::Sample => x + field,
                    _ => field,
                }
            }
            None => self.output.forward(h) * mask.unsqueeze_dim(2), // [B, L, 3]
        }
    }
}

impl CaDenoiser {
    /// The same network without its ladder projection and pair track: what a run started
    /// from it with `train --init` began as, while they are still at their zero start.
    #[cfg(test)]
    pub(crate) fn without_pair_extras(mut self) -> CaDenoiser {
        self.ladder = None;
        self.pair_track = None;
        self
    }
}

impl Denoiser<3> for CaDenoiser {
    type Context = ProteinContext;

    fn objective(&self) -> Objective {
        self.objective
    }

    fn predict(&self, x_t: Tensor<3>, t: Tensor<1>, context: &ProteinContext) -> Tensor<3> {
        self.forward(x_t, t, context.mask.clone(), context.labels.clone(), None)
    }

    fn unconditional(&self, context: &ProteinContext) -> Option<ProteinContext> {
        let labels = context.labels.as_ref()?;
        let embedding = self.label.as_ref()?;
        Some(ProteinContext {
            labels: Some(embedding.null_like(labels)),
            ..context.clone()
        })
    }

    fn self_conditioned(&self) -> bool {
        self.self_conditioning
    }

    fn predict_with(
        &self,
        x_t: Tensor<3>,
        t: Tensor<1>,
        context: &ProteinContext,
        previous: Option<Tensor<3>>,
    ) -> Tensor<3> {
        self.forward(
            x_t,
            t,
            context.mask.clone(),
            context.labels.clone(),
            previous,
        )
    }
}
