//! A small CNN classifier for sample metrics: conv 3×3 (32) → ReLU → max-pool 2 → conv 3×3
//! (64) → ReLU → max-pool 2 → dense 128 → ReLU (the **features**, 128-dimensional) → dense
//! to the classes. Trained inside the project (`task = "classifier"`), bundled with the
//! Gaussian statistics of its features on held-out data, so that Fréchet distances need no
//! data on disk.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use diffgen_core::checkpoint::{Checkpoint, CheckpointMeta, EMA_PREFIX, FORMAT_VERSION};
use diffgen_core::rng::SeededRng;
use diffgen_core::tensor_util::{scalar, to_vec};
use diffgen_core::{CoreError, ScheduleConfig};
use serde::{Deserialize, Serialize};

use crate::config::{ClassifierFile, Task};
use crate::data::ImageSet;
use crate::metrics::Gaussian;
use crate::ImageError;

/// Tensor name of the held-out features' mean `[dim]` inside a classifier checkpoint.
pub const REFERENCE_MEAN: &str = "reference.mean";
/// Tensor name of the held-out features' covariance `[dim, dim]`.
pub const REFERENCE_COV: &str = "reference.cov";
/// The held-out features themselves `[n, dim]`, for Fréchet floors at any sample size.
pub const REFERENCE_FEATURES: &str = "reference.features";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// The `[classifier]` table: the CNN's widths.
pub struct ClassifierConfig {
    /// Output channels of the first 3×3 convolution.
    pub conv1: usize,
    /// Output channels of the second 3×3 convolution.
    pub conv2: usize,
    /// Width of the penultimate (feature) layer.
    pub hidden: usize,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            conv1: 32,
            conv2: 64,
            hidden: 128,
        }
    }
}

impl ClassifierConfig {
    /// Checks the widths are positive; errors name the setting.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.conv1 == 0 || self.conv2 == 0 || self.hidden == 0 {
            return Err(CoreError::setting(
                "classifier.conv1/conv2/hidden",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// For `[channels, height, width]` inputs (height and width ≥ 4).
    pub fn init(&self, shape: [usize; 3], num_classes: usize, device: &Device) -> Classifier {
        let [c, h, w] = shape;
        let conv = |a: usize, b: usize| {
            Conv2dConfig::new([a, b], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let flat = self.conv2 * (h / 4) * (w / 4);
        Classifier {
            conv1: conv(c, self.conv1),
            conv2: conv(self.conv1, self.conv2),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            hidden: LinearConfig::new(flat, self.hidden).init(device),
            out: LinearConfig::new(self.hidden, num_classes).init(device),
            flat,
        }
    }
}

/// The CNN of the module docs; [`Classifier::features`] gives its penultimate layer.
#[derive(Module, Debug)]
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    hidden: Linear,
    out: Linear,
    flat: usize,
}

impl Classifier {
    /// Penultimate features: [B,C,H,W] in [−1, 1] → [B,hidden].
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let b = x.dims()[0];
        let h = self.pool.forward(relu(self.conv1.forward(x))); // [B,c1,H/2,W/2]
        let h = self.pool.forward(relu(self.conv2.forward(h))); // [B,c2,H/4,W/4]
        relu(self.hidden.forward(h.reshape([b, self.flat]))) // [B,hidden]
    }

    /// Class logits [B,classes].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.out.forward(self.features(x))
    }
}

/// What a classifier checkpoint stores besides its config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierStats {
    /// Channels of the images it takes (1: grey).
    pub channels: usize,
    /// Image height, in pixels.
    pub height: usize,
    /// Image width, in pixels.
    pub width: usize,
    /// Classes of its output layer (labels `0..num_classes`).
    pub num_classes: usize,
    /// The data source's name ([`crate::data::DataSource::name`]).
    pub dataset: String,
    /// Images it was trained on.
    pub train_images: usize,
    /// Images held out from training: the accuracy and the reference statistics come from them.
    pub held_out_images: usize,
    /// Share of the held-out images it labels correctly.
    pub held_out_accuracy: f64,
    /// Width of the feature layer: the dimension of the Fréchet statistics.
    pub feature_dim: usize,
    /// Fréchet distance between the features of two disjoint halves of the held-out set:
    /// what real data scores against itself at that sample size.
    pub frechet_floor: f64,
    /// Images in each half behind `frechet_floor`.
    pub frechet_floor_n: usize,
}

/// A classifier ready to score images, with the held-out feature statistics.
pub struct LoadedClassifier {
    /// The network.
    pub model: Classifier,
    /// What the checkpoint records about its training.
    pub stats: ClassifierStats,
    /// The Gaussian of all held-out images' features.
    pub reference: Gaussian,
    /// Penultimate features of the held-out images (checkpoints that store them).
    pub held_out_features: Option<Vec<Vec<f32>>>,
}

impl LoadedClassifier {
    /// The `[C, H, W]` of the images it scores.
    pub fn shape(&self) -> [usize; 3] {
        [self.stats.channels, self.stats.height, self.stats.width]
    }

    /// The Gaussian samples are compared with: the last half of the held-out features when
    /// the checkpoint stores them — the same reference as [`Self::floor_at`], so a sample
    /// set and real images of the same size are scored alike — else all held-out images.
    pub fn sample_reference(&self) -> Gaussian {
        match &self.held_out_features {
            Some(f) if f.len() >= 4 => Gaussian::fit(&f[f.len() - f.len() / 2..]),
            _ => self.reference.clone(),
        }
    }

    /// The Fréchet distance real data scores at sample size `n`: sets of `m = min(n, N/2)`
    /// held-out images from the first half against the last N/2 (disjoint), averaged over
    /// the disjoint sets, with the `m` used. Falls back to
    /// the stored floor (two halves) when the checkpoint has no held-out features.
    pub fn floor_at(&self, n: usize) -> (f64, usize) {
        match &self.held_out_features {
            Some(f) if f.len() >= 4 && n >= 2 => {
                let half = f.len() / 2;
                let m = n.min(half);
                let reference = Gaussian::fit(&f[f.len() - half..]);
                // The mean over the disjoint sets of m in the first half: one set alone
                // swings with its class mix (at m = 100: 190.8 for the first, 5 sets differ).
                let sets = (half / m).max(1);
                let total: f64 = (0..sets)
                    .map(|k| {
                        crate::metrics::frechet_distance(
                            &Gaussian::fit(&f[k * m..(k + 1) * m]),
                            &reference,
                        )
                    })
                    .sum();
                (total / sets as f64, m)
            }
            _ => (self.stats.frechet_floor, self.stats.frechet_floor_n),
        }
    }

    /// Predicted labels and features of `set`'s images, in batches.
    pub fn score(&self, set: &ImageSet, device: &Device) -> (Vec<usize>, Vec<Vec<f32>>) {
        predict_and_features(&self.model, set, device)
    }

    /// Predicted labels with their probabilities, and features, of `set`'s images.
    pub fn predict(&self, set: &ImageSet, device: &Device) -> Predictions {
        predict(&self.model, set, device)
    }
}

/// What the classifier makes of a set of images, one entry per image.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// The most probable class.
    pub labels: Vec<usize>,
    /// Its softmax probability.
    pub confidence: Vec<f64>,
    /// Penultimate-layer features.
    pub features: Vec<Vec<f32>>,
}

/// The softmax probability of class `label` of one row of logits (in f64, stable).
pub fn probability_of(logits: &[f32], label: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let total: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    logits
        .get(label)
        .map_or(0.0, |&l| (l as f64 - max).exp() / total)
}

/// Argmax labels and penultimate features of every image of `set`.
pub fn predict_and_features(
    model: &Classifier,
    set: &ImageSet,
    device: &Device,
) -> (Vec<usize>, Vec<Vec<f32>>) {
    let p = predict(model, set, device);
    (p.labels, p.features)
}

/// Argmax labels with their softmax probabilities, and penultimate features, of every image
/// of `set`, in batches.
pub fn predict(model: &Classifier, set: &ImageSet, device: &Device) -> Predictions {
    let mut labels = Vec::with_capacity(set.len());
    let mut confidence = Vec::with_capacity(set.len());
    let mut features = Vec::with_capacity(set.len());
    let all: Vec<usize> = (0..set.len()).collect();
    for chunk in all.chunks(250) {
        let f = model.features(set.tensor(chunk, device)); // [n,hidden]
        let dim = f.dims()[1];
        let logits = model.out.forward(f.clone()); // [n,classes]
        let classes = logits.dims()[1];
        let pred = logits.clone().argmax(1).reshape([chunk.len()]);
        let pred: Vec<usize> = pred
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .expect("int labels")
            .into_iter()
            .map(|l| l as usize)
            .collect();
        let rows = to_vec(logits);
        confidence.extend(
            rows.chunks(classes.max(1))
                .zip(&pred)
                .map(|(row, &p)| probability_of(row, p)),
        );
        labels.extend(pred);
        let v = to_vec(f);
        features.extend(v.chunks(dim).map(<[f32]>::to_vec));
    }
    Predictions {
        labels,
        confidence,
        features,
    }
}

/// Share of `set`'s labelled images the model labels correctly.
pub fn accuracy(model: &Classifier, set: &ImageSet, device: &Device) -> f64 {
    let (pred, _) = predict_and_features(model, set, device);
    let (mut right, mut total) = (0usize, 0usize);
    for (p, l) in pred.iter().zip(&set.labels) {
        if let Some(l) = l {
            total += 1;
            right += usize::from(p == l);
        }
    }
    right as f64 / total.max(1) as f64
}

/// One line of the classifier's training log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierLog {
    /// The step (1-based) the line was written after.
    pub step: u64,
    /// Mean cross-entropy over the steps since the previous line.
    pub loss: f64,
}

/// Trains with AdamW (no weight decay) on cross-entropy; batch order and initial weights
/// come from `training.seed`.
pub fn train_classifier(
    file: &ClassifierFile,
    train: &ImageSet,
    device: &Device,
    show_progress: bool,
) -> Result<(Classifier, Vec<ClassifierLog>), ImageError> {
    let num_classes = train.num_classes();
    if num_classes < 2 || train.labels.iter().any(Option::is_none) {
        return Err(ImageError::Data(
            "the classifier needs labelled images of at least two classes".into(),
        ));
    }
    let cfg = &file.training;
    let ad = device.clone().autodiff();
    let mut model = diffgen_core::rng::init_seeded(device, cfg.seed, || {
        file.classifier.init(train.shape(), num_classes, device)
    })
    .to_device(&ad)
    .train();
    let mut optim = AdamWConfig::new()
        .with_weight_decay(0.0)
        .with_epsilon(1e-8)
        .init();
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let mut rng = SeededRng::new(cfg.seed);
    let mut order: Vec<usize> = Vec::new();
    let mut log = Vec::new();
    let mut window = (0.0, 0u64);
    for step in 0..cfg.steps {
        let mut batch = Vec::with_capacity(cfg.batch_size);
        while batch.len() < cfg.batch_size {
            if order.is_empty() {
                order = rng.permutation(train.len());
            }
            batch.push(order.pop().expect("refilled"));
        }
        let x = train.tensor(&batch, &ad);
        let y: Vec<i64> = batch
            .iter()
            .map(|&i| train.labels[i].expect("labelled") as i64)
            .collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [batch.len()]), &ad);
        let loss = loss_fn.forward(model.forward(x), y);
        let value = scalar(loss.clone());
        if !value.is_finite() {
            return Err(CoreError::NonFiniteLoss {
                step: step + 1,
                value,
            }
            .into());
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        // Linear decay to 10 % of the rate.
        let lr = cfg.lr * (1.0 - 0.9 * step as f64 / cfg.steps as f64);
        model = optim.step(lr, model, grads);
        window.0 += value;
        window.1 += 1;
        if (step + 1) % cfg.log_every == 0 || step + 1 == cfg.steps {
            let mean = window.0 / window.1 as f64;
            if show_progress {
                eprintln!("step {}/{}: loss {mean:.4}", step + 1, cfg.steps);
            }
            log.push(ClassifierLog {
                step: step + 1,
                loss: mean,
            });
            window = (0.0, 0);
        }
    }
    Ok((model.valid().to_device(device), log))
}

/// The checkpoint of a trained classifier, with the feature statistics of `reference`.
pub fn classifier_checkpoint(
    file: &ClassifierFile,
    model: &Classifier,
    stats: &ClassifierStats,
    reference: &Gaussian,
    held_out_features: &[Vec<f32>],
    step: u64,
) -> Result<Checkpoint, ImageError> {
    let mut ckpt = Checkpoint::new(CheckpointMeta {
        format: FORMAT_VERSION,
        diffgen_version: diffgen_core::VERSION.to_string(),
        modality: crate::NAME.to_string(),
        config: serde_json::to_value(file).map_err(|e| CoreError::Other(e.to_string()))?,
        // Unused by a classifier; the field is required by the format.
        schedule: Some(ScheduleConfig::course_linear()),
        data: serde_json::to_value(stats).map_err(|e| CoreError::Other(e.to_string()))?,
        step,
        resume: None,
    });
    ckpt.insert_module(EMA_PREFIX, model);
    let d = reference.dim;
    ckpt.tensors.insert(
        REFERENCE_MEAN.into(),
        diffgen_core::checkpoint::StoredTensor {
            shape: vec![d],
            values: reference.mean.iter().map(|&v| v as f32).collect(),
        },
    );
    ckpt.tensors.insert(
        REFERENCE_COV.into(),
        diffgen_core::checkpoint::StoredTensor {
            shape: vec![d, d],
            values: reference.cov.iter().map(|&v| v as f32).collect(),
        },
    );
    if !held_out_features.is_empty() {
        ckpt.tensors.insert(
            REFERENCE_FEATURES.into(),
            diffgen_core::checkpoint::StoredTensor {
                shape: vec![held_out_features.len(), d],
                values: held_out_features.iter().flatten().copied().collect(),
            },
        );
    }
    Ok(ckpt)
}

/// Whether a checkpoint's config says it holds a classifier.
pub fn is_classifier(ckpt: &Checkpoint) -> bool {
    ckpt.meta
        .config
        .get("task")
        .and_then(|t| serde_json::from_value::<Task>(t.clone()).ok())
        == Some(Task::Classifier)
}

/// Loads a classifier checkpoint (file, or bundled bytes when `path` is None).
pub fn load_classifier(
    path: Option<&Path>,
    bundled: &[u8],
    device: &Device,
) -> Result<LoadedClassifier, ImageError> {
    let (ckpt, origin) = Checkpoint::open_for(crate::NAME, &[], path, bundled)?;
    if !is_classifier(&ckpt) {
        return Err(CoreError::checkpoint(&origin, "is not an image classifier checkpoint").into());
    }
    let file: ClassifierFile = ckpt.config(&origin)?;
    let stats: ClassifierStats = ckpt.data_stats(&origin)?;
    let model = file.classifier.init(
        [stats.channels, stats.height, stats.width],
        stats.num_classes,
        device,
    );
    let model = ckpt.load_module(EMA_PREFIX, model, None, device, &origin)?;
    let get = |name: &str, len: usize| -> Result<Vec<f64>, ImageError> {
        let t = ckpt
            .tensors
            .get(name)
            .ok_or_else(|| CoreError::checkpoint(&origin, format!("has no `{name}` tensor")))?;
        if t.values.len() != len {
            return Err(CoreError::checkpoint(
                &origin,
                format!("`{name}` has {} values, expected {len}", t.values.len()),
            )
            .into());
        }
        Ok(t.values.iter().map(|&v| v as f64).collect())
    };
    let d = stats.feature_dim;
    let reference = Gaussian {
        dim: d,
        n: stats.held_out_images,
        mean: get(REFERENCE_MEAN, d)?,
        cov: get(REFERENCE_COV, d * d)?,
    };
    let held_out_features = ckpt
        .tensors
        .get(REFERENCE_FEATURES)
        .filter(|t| t.shape.len() == 2 && t.shape[1] == d && t.values.len() == t.shape[0] * d)
        .map(|t| t.values.chunks(d).map(<[f32]>::to_vec).collect());
    Ok(LoadedClassifier {
        model,
        stats,
        reference,
        held_out_features,
    })
}
