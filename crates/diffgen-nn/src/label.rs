//! The class-label embedding of conditional models, with one extra learned row for "no
//! label" so that one network gives both halves of classifier-free guidance.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::EmbeddingConfig;
use burn::tensor::{Device, Int, Tensor};

/// Configuration of a [`LabelEmbedding`].
#[derive(Debug, Config)]
pub struct LabelEmbeddingConfig {
    /// Real classes; the null label is `classes`.
    pub classes: usize,
    /// Width of each embedding.
    pub width: usize,
}

/// A `[classes + 1, width]` table: rows `0..classes` embed the classes, row `classes` the
/// null label (unconditional). Its parameter is burn's [`Embedding`](burn::nn::Embedding)'s
/// (`weight`, drawn N(0, 1) the same way), so a model that swaps burn's embedding for this
/// one reads the same records.
#[derive(Module, Debug)]
pub struct LabelEmbedding {
    /// The table `[classes + 1, width]`.
    pub weight: Param<Tensor<2>>,
    /// Real classes; the null label's index.
    pub classes: usize,
}

impl LabelEmbeddingConfig {
    /// A table drawn as burn draws an embedding's.
    pub fn init(&self, device: &Device) -> LabelEmbedding {
        let table = EmbeddingConfig::new(self.classes + 1, self.width).init(device);
        LabelEmbedding {
            weight: table.weight,
            classes: self.classes,
        }
    }

    /// A table of zeros: added to another embedding, it leaves a network started from one
    /// without labels (fine-tuning) unchanged until training moves it.
    pub fn init_zeros(&self, device: &Device) -> LabelEmbedding {
        LabelEmbedding {
            weight: Param::from_tensor(Tensor::zeros([self.classes + 1, self.width], device)),
            classes: self.classes,
        }
    }
}

impl LabelEmbedding {
    /// `labels` `[B]` (the null label allowed) → `[B, width]`.
    pub fn forward(&self, labels: Tensor<1, Int>) -> Tensor<2> {
        self.weight.val().select(0, labels)
    }

    /// The null label for every entry of `labels`: the unconditional half of guidance.
    pub fn null_like(&self, labels: &Tensor<1, Int>) -> Tensor<1, Int> {
        labels.clone().full_like(self.classes as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::Embedding;
    use burn::tensor::TensorData;

    #[test]
    fn it_looks_up_burns_rows_and_names_its_parameter_as_burn_does() {
        let device = Device::flex();
        let ours = LabelEmbeddingConfig::new(3, 4).init(&device);
        let theirs = Embedding {
            weight: Param::from_tensor(ours.weight.val()),
        };
        let labels = Tensor::<1, Int>::from_data(TensorData::from([2i64, 0, 3, 3]), &device);
        let b = labels.dims()[0];
        let expected = theirs
            .forward(labels.clone().reshape([b, 1]))
            .reshape([b, 4]);
        assert_eq!(
            ours.forward(labels.clone()).into_data(),
            expected.into_data()
        );
        let nulls: Vec<i64> = ours.null_like(&labels).into_data().iter::<i64>().collect();
        assert_eq!(nulls, vec![3; 4]);
        assert_eq!(ours.num_params(), theirs.num_params());
    }
}
