//! The denoiser: a small transformer over residues (after FoldingDiff's BERT encoder), with a
//! learned relative-position bias in every attention layer, the noise level added to every
//! layer's input, and key masks so that one batch can hold chains of different lengths.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use diffgen_core::{CoreError, Denoiser, Objective};
use serde::{Deserialize, Serialize};

use crate::geometry::ANGLE_NAMES;
use crate::space::ProteinContext;
use diffgen_nn::{attention, gelu, sinusoidal_embedding, LayerNorm, LayerNormConfig};

/// ε of every layer norm (burn's default).
pub(crate) const LAYER_NORM_EPSILON: f64 = 1e-5;

/// Features per residue: the six backbone angles.
pub const FEATURES: usize = ANGLE_NAMES.len();

/// The `[model]` table: the transformer's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProteinDenoiserConfig {
    /// Width of the per-residue features; `heads` must divide it.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Transformer blocks.
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Attention heads per block.
    #[serde(default = "default_heads")]
    pub heads: usize,
    /// Width of each feed-forward block.
    #[serde(default = "default_feed_forward")]
    pub feed_forward: usize,
    /// Size of the sinusoidal embedding of t.
    #[serde(default = "default_time_features")]
    pub time_features: usize,
    /// Relative offsets |i − j| beyond this share one learned bias.
    #[serde(default = "default_max_relative")]
    pub max_relative: usize,
}

fn default_hidden() -> usize {
    128
}
fn default_layers() -> usize {
    4
}
fn default_heads() -> usize {
    4
}
fn default_feed_forward() -> usize {
    256
}
fn default_time_features() -> usize {
    64
}
fn default_max_relative() -> usize {
    32
}

impl ProteinDenoiserConfig {
    /// Checks the sizes; errors name the setting.
    pub fn validate(&self) -> Result<(), CoreError> {
        validate_transformer(
            self.hidden,
            self.layers,
            self.heads,
            self.feed_forward,
            self.time_features,
        )
    }

    /// A freshly initialised denoiser that predicts `objective`'s target.
    pub fn init(&self, objective: Objective, device: &Device) -> ProteinDenoiser {
        let h = self.hidden;
        ProteinDenoiser {
            input: LinearConfig::new(FEATURES, h).init(device),
            time_in: LinearConfig::new(self.time_features, h).init(device),
            time_out: LinearConfig::new(h, h).init(device),
            blocks: (0..self.layers)
                .map(|_| {
                    TransformerBlock::new(
                        h,
                        self.heads,
                        self.feed_forward,
                        self.max_relative,
                        device,
                    )
                })
                .collect(),
            norm_out: LayerNormConfig::new(h)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device),
            output: LinearConfig::new(h, FEATURES).init(device),
            time_features: self.time_features,
            max_relative: self.max_relative,
            objective,
        }
    }
}

/// The checks every residue transformer's sizes need (the angle and the Cα models');
/// errors name the `model.*` setting.
pub(crate) fn validate_transformer(
    hidden: usize,
    layers: usize,
    heads: usize,
    feed_forward: usize,
    time_features: usize,
) -> Result<(), CoreError> {
    if hidden == 0 || layers == 0 || heads == 0 || feed_forward == 0 {
        return Err(CoreError::setting(
            "model.hidden/layers/heads/feed_forward",
            "must be positive",
        ));
    }
    if !hidden.is_multiple_of(heads) {
        return Err(CoreError::setting(
            "model.heads",
            format!("must divide model.hidden ({hidden})"),
        ));
    }
    if time_features < 2 || !time_features.is_multiple_of(2) {
        return Err(CoreError::setting(
            "model.time_features",
            "must be an even number ≥ 2",
        ));
    }
    Ok(())
}

/// Pre-norm transformer layer with relative-position attention bias.
#[derive(Module, Debug)]
pub struct TransformerBlock {
    time: Linear,
    norm_attention: LayerNorm,
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    relative_bias: Embedding,
    norm_ff: LayerNorm,
    ff_in: Linear,
    ff_out: Linear,
    heads: usize,
}

impl TransformerBlock {
    /// A block of width `hidden` with `heads` heads, a `feed_forward`-wide MLP and learned
    /// biases for relative offsets up to ±`max_relative`.
    pub(crate) fn new(
        hidden: usize,
        heads: usize,
        feed_forward: usize,
        max_relative: usize,
        device: &Device,
    ) -> Self {
        let h = hidden;
        let norm = || {
            LayerNormConfig::new(h)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device)
        };
        TransformerBlock {
            time: LinearConfig::new(h, h).init(device),
            norm_attention: norm(),
            query: LinearConfig::new(h, h).init(device),
            key: LinearConfig::new(h, h).init(device),
            value: LinearConfig::new(h, h).init(device),
            attention_out: LinearConfig::new(h, h).init(device),
            relative_bias: EmbeddingConfig::new(2 * max_relative + 1, heads).init(device),
            norm_ff: norm(),
            ff_in: LinearConfig::new(h, feed_forward).init(device),
            ff_out: LinearConfig::new(feed_forward, h).init(device),
            heads,
        }
    }

    /// `h` `[B, L, H]`, `time` `[B, H]`, `relative` `[1, L·L]` clipped offsets, an optional
    /// per-chain `pair_bias` `[B, heads, L, L]` added to the attention logits, `key_mask`
    /// `[B, L]` (0 for residues, −1e4 for padding) → `[B, L, H]`.
    pub(crate) fn forward(
        &self,
        h: Tensor<3>,
        time: Tensor<2>,
        relative: Tensor<2, Int>,
        pair_bias: Option<Tensor<4>>,
        key_mask: Tensor<2>,
    ) -> Tensor<3> {
        let [b, l, hidden] = h.dims();
        let heads = self.heads;
        let dh = hidden / heads;
        let h = h + self.time.forward(time).unsqueeze_dim(1); // [B, L, H]

        let x = self.norm_attention.forward(h.clone());
        let split = |t: Tensor<3>| t.reshape([b, l, heads, dh]).swap_dims(1, 2); // [B, h, L, dh]
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        // [1, L·L, heads] → [1, heads, L, L], shared over the batch
        let bias = self
            .relative_bias
            .forward(relative)
            .reshape([l, l, heads])
            .permute([2, 0, 1])
            .unsqueeze_dim(0);
        let bias = match pair_bias {
            Some(pair) => pair + bias, // [B, heads, L, L]
            None => bias,
        };
        let scale = 1.0 / (dh as f64).sqrt();
        let attended = attention(q, k, v, Some(bias), Some(key_mask), scale); // [B, heads, L, dh]
        let attended = attended.swap_dims(1, 2).reshape([b, l, hidden]);
        let h = h + self.attention_out.forward(attended);

        let x = self.norm_ff.forward(h.clone());
        h + self.ff_out.forward(gelu(self.ff_in.forward(x)))
    }
}

/// Offsets `j − i` clipped to ±`max_relative`, as embedding indices `[1, L·L]`.
pub(crate) fn relative_offsets(max_relative: usize, l: usize, device: &Device) -> Tensor<2, Int> {
    let k = max_relative as i64;
    let idx: Vec<i64> = (0..l as i64)
        .flat_map(|i| (0..l as i64).map(move |j| (j - i).clamp(-k, k) + k))
        .collect();
    Tensor::from_data(TensorData::new(idx, [1, l * l]), device)
}

/// The transformer denoiser (module docs): centred angles `[B, L, 6]` and t → the
/// objective's target `[B, L, 6]`, zero on padding.
#[derive(Module, Debug)]
pub struct ProteinDenoiser {
    input: Linear,
    time_in: Linear,
    time_out: Linear,
    blocks: Vec<TransformerBlock>,
    norm_out: LayerNorm,
    output: Linear,
    time_features: usize,
    max_relative: usize,
    #[module(skip)]
    objective: Objective,
}

impl ProteinDenoiser {
    /// `x` `[B, L, 6]` angles, `t` `[B]`, `mask` `[B, L]` (1 residue, 0 padding) → `[B, L, 6]`.
    pub fn forward(&self, x: Tensor<3>, t: Tensor<1>, mask: Tensor<2>) -> Tensor<3> {
        let [_, l, _] = x.dims();
        let device = x.device();
        // The centred, wrapped angles enter as they are, as in FoldingDiff.
        let time = silu(
            self.time_in
                .forward(sinusoidal_embedding(t, self.time_features)),
        );
        let time = self.time_out.forward(time); // [B, H]
        let mut h = self.input.forward(x); // [B, L, H]
        let relative = relative_offsets(self.max_relative, l, &device);
        // Padding keys get a large negative logit; −1e4 stays finite in half precision too.
        let key_mask = (mask.clone() - 1.0).mul_scalar(1e4); // [B, L]
        for block in &self.blocks {
            h = block.forward(h, time.clone(), relative.clone(), None, key_mask.clone());
        }
        let out = self.output.forward(self.norm_out.forward(h)); // [B, L, 6]
        out * mask.unsqueeze_dim(2)
    }
}

impl Denoiser<3> for ProteinDenoiser {
    type Context = ProteinContext;

    fn objective(&self) -> Objective {
        self.objective
    }

    fn predict(&self, x_t: Tensor<3>, t: Tensor<1>, context: &ProteinContext) -> Tensor<3> {
        self.forward(x_t, t, context.mask.clone())
    }
}
