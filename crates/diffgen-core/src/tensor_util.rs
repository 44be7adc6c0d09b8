//! Small conversions between host vectors and burn tensors.

use burn::tensor::{Device, Tensor, TensorData};

/// A float tensor of `shape` on `device` from row-major `values`.
pub fn tensor_from_vec<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The values of a float tensor, as f32, row-major.
pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("a float tensor converts to f32")
}

/// The single value of a one-element tensor.
pub fn scalar<const D: usize>(tensor: Tensor<D>) -> f64 {
    to_vec(tensor.reshape([1]))[0] as f64
}

/// Broadcastable per-sample coefficients: `[B]` → `[B, 1, …, 1]` with `D` axes.
pub fn per_sample<const D: usize>(values: Tensor<1>) -> Tensor<D> {
    let b = values.dims()[0];
    let mut shape = [1usize; D];
    shape[0] = b;
    values.reshape(shape)
}

/// A `[B]` tensor from f64 coefficients.
pub fn coefficients(values: &[f64], device: &Device) -> Tensor<1> {
    let n = values.len();
    tensor_from_vec(values.iter().map(|&v| v as f32).collect(), [n], device)
}
