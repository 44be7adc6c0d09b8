//! A small MLP denoiser with a sinusoidal time embedding and an optional label embedding.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor};
use diffgen_core::{CoreError, Denoiser, Objective};
pub use diffgen_nn::sinusoidal_embedding;
use diffgen_nn::{LabelEmbedding, LabelEmbeddingConfig};
use serde::{Deserialize, Serialize};

/// Per-batch context: class labels, where the model is conditional. The label `num_classes`
/// is the null label (unconditional).
#[derive(Debug, Clone)]
pub struct ToyContext {
    /// `[B]` class indices (the null class for unconditional rows), or None.
    pub labels: Option<Tensor<1, Int>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// The `[model]` table: the residual MLP's size.
pub struct ToyDenoiserConfig {
    /// Width of the hidden layers.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Residual hidden layers.
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Size of the sinusoidal embedding of t.
    #[serde(default = "default_time_features")]
    pub time_features: usize,
    /// Condition on the data's labels (with a learned null label for guidance).
    #[serde(default)]
    pub conditional: bool,
    /// Generate the label with the point, as a categorical part of the state (needs a
    /// process with `[diffusion.parts.label]`-style settings; excludes `conditional`).
    #[serde(default)]
    pub joint: bool,
}

/// The shape of a toy network's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToyShape {
    /// Columns of the state: 2 for the point, plus the label's one-hot for joint models.
    pub width: usize,
    /// Classes a conditional model embeds (0: unconditional).
    pub num_classes: usize,
    /// Whether the network also reads its previous estimate of the clean state.
    pub self_conditioning: bool,
}

fn default_hidden() -> usize {
    128
}
fn default_layers() -> usize {
    3
}
fn default_time_features() -> usize {
    32
}

impl ToyDenoiserConfig {
    /// Checks the sizes; errors name the setting.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.hidden == 0 || self.layers == 0 {
            return Err(CoreError::setting(
                "model.hidden/layers",
                "must be positive",
            ));
        }
        if self.joint && self.conditional {
            return Err(CoreError::setting(
                "model.joint",
                "a joint model generates its label; it cannot also be conditioned on one (set conditional = false)",
            ));
        }
        if self.time_features < 2 || !self.time_features.is_multiple_of(2) {
            return Err(CoreError::setting(
                "model.time_features",
                "must be an even number ≥ 2",
            ));
        }
        Ok(())
    }

    /// `shape.num_classes` is ignored unless the config is conditional.
    pub fn init(&self, objective: Objective, shape: ToyShape, device: &Device) -> ToyDenoiser {
        let classes = if self.conditional {
            shape.num_classes
        } else {
            0
        };
        let inputs = shape.width * if shape.self_conditioning { 2 } else { 1 };
        ToyDenoiser {
            input: LinearConfig::new(inputs, self.hidden).init(device),
            time: LinearConfig::new(self.time_features, self.hidden).init(device),
            label: (classes > 0)
                .then(|| LabelEmbeddingConfig::new(classes, self.hidden).init(device)),
            blocks: (0..self.layers)
                .map(|_| LinearConfig::new(self.hidden, self.hidden).init(device))
                .collect(),
            output: LinearConfig::new(self.hidden, shape.width).init(device),
            time_features: self.time_features,
            num_classes: classes,
            self_conditioning: shape.self_conditioning,
            objective,
        }
    }
}

/// A residual MLP on `[x, time features, label embedding]`: the toy modality's network.
#[derive(Module, Debug)]
pub struct ToyDenoiser {
    input: Linear,
    time: Linear,
    label: Option<LabelEmbedding>,
    blocks: Vec<Linear>,
    output: Linear,
    time_features: usize,
    num_classes: usize,
    self_conditioning: bool,
    #[module(skip)]
    objective: Objective,
}

impl ToyDenoiser {
    /// Classes of its label embedding (0: unconditional).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The prediction for states `x` (`[B, W]`) at times `t`; a self-conditioned network
    /// also reads `previous` (its last estimate, zeros when there is none).
    pub fn forward(
        &self,
        x: Tensor<2>,
        t: Tensor<1>,
        labels: Option<Tensor<1, Int>>,
        previous: Option<Tensor<2>>,
    ) -> Tensor<2> {
        let x = match self.self_conditioning {
            true => {
                let previous = previous.unwrap_or_else(|| x.zeros_like());
                Tensor::cat(vec![x, previous], 1) // [B, 2W]
            }
            false => x,
        };
        // [B, H]
        let mut h = self.input.forward(x)
            + self
                .time
                .forward(sinusoidal_embedding(t, self.time_features));
        if let (Some(embedding), Some(labels)) = (&self.label, labels) {
            h = h + embedding.forward(labels);
        }
        let mut h = silu(h);
        for block in &self.blocks {
            h = h.clone() + silu(block.forward(h));
        }
        self.output.forward(h) // [B, W]
    }
}

impl Denoiser<2> for ToyDenoiser {
    type Context = ToyContext;

    fn objective(&self) -> Objective {
        self.objective
    }

    fn predict(&self, x_t: Tensor<2>, t: Tensor<1>, context: &ToyContext) -> Tensor<2> {
        self.forward(x_t, t, context.labels.clone(), None)
    }

    fn self_conditioned(&self) -> bool {
        self.self_conditioning
    }

    fn predict_with(
        &self,
        x_t: Tensor<2>,
        t: Tensor<1>,
        context: &ToyContext,
        previous: Option<Tensor<2>>,
    ) -> Tensor<2> {
        self.forward(x_t, t, context.labels.clone(), previous)
    }

    fn unconditional(&self, context: &ToyContext) -> Option<ToyContext> {
        let labels = context.labels.as_ref()?;
        let embedding = self.label.as_ref()?;
        Some(ToyContext {
            labels: Some(embedding.null_like(labels)),
        })
    }
}
