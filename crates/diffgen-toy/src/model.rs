//! A small MLP denoiser with a sinusoidal time embedding and an optional label embedding.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor};
use diffgen_core::{CoreError, Denoiser, Objective};
pub use diffgen_nn::sinusoidal_embedding;
use serde::{Deserialize, Serialize};

/// Per-batch context: class labels, where the model is conditional. The label `num_classes`
/// is the null label (unconditional).
#[derive(Debug, Clone)]
pub struct ToyContext {
    pub labels: Option<Tensor<1, Int>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToyDenoiserConfig {
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
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.hidden == 0 || self.layers == 0 {
            return Err(CoreError::setting(
                "model.hidden/layers",
                "must be positive",
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

    /// `num_classes` is ignored unless the config is conditional.
    pub fn init(&self, objective: Objective, num_classes: usize, device: &Device) -> ToyDenoiser {
        let classes = if self.conditional { num_classes } else { 0 };
        ToyDenoiser {
            input: LinearConfig::new(2, self.hidden).init(device),
            time: LinearConfig::new(self.time_features, self.hidden).init(device),
            label: (classes > 0)
                .then(|| EmbeddingConfig::new(classes + 1, self.hidden).init(device)),
            blocks: (0..self.layers)
                .map(|_| LinearConfig::new(self.hidden, self.hidden).init(device))
                .collect(),
            output: LinearConfig::new(self.hidden, 2).init(device),
            time_features: self.time_features,
            num_classes: classes,
            objective,
        }
    }
}

#[derive(Module, Debug)]
pub struct ToyDenoiser {
    input: Linear,
    time: Linear,
    label: Option<Embedding>,
    blocks: Vec<Linear>,
    output: Linear,
    time_features: usize,
    num_classes: usize,
    #[module(skip)]
    objective: Objective,
}

impl ToyDenoiser {
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    pub fn forward(&self, x: Tensor<2>, t: Tensor<1>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        let b = x.dims()[0];
        // [B, H]
        let mut h = self.input.forward(x)
            + self
                .time
                .forward(sinusoidal_embedding(t, self.time_features));
        if let (Some(embedding), Some(labels)) = (&self.label, labels) {
            let hidden = h.dims()[1];
            h = h + embedding
                .forward(labels.reshape([b, 1]))
                .reshape([b, hidden]);
        }
        let mut h = silu(h);
        for block in &self.blocks {
            h = h.clone() + silu(block.forward(h));
        }
        self.output.forward(h) // [B, 2]
    }
}

impl Denoiser<2> for ToyDenoiser {
    type Context = ToyContext;

    fn objective(&self) -> Objective {
        self.objective
    }

    fn predict(&self, x_t: Tensor<2>, t: Tensor<1>, context: &ToyContext) -> Tensor<2> {
        self.forward(x_t, t, context.labels.clone())
    }

    fn unconditional(&self, context: &ToyContext) -> Option<ToyContext> {
        let labels = context.labels.as_ref()?;
        (self.num_classes > 0).then(|| ToyContext {
            labels: Some(labels.clone().full_like(self.num_classes as i64)),
        })
    }
}
