//! Helpers the kernel tests share.

use burn::tensor::Tensor;

/// A tensor's values, row-major, as f32.
pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("a float tensor converts to f32")
}
