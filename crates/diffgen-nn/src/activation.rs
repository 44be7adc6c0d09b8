//! Activations with a fused kernel.

use burn::backend::Dispatch;
use burn::tensor::Tensor;

use crate::cpu::takes_fused_path;
use crate::kernels::KernelOps;

/// `gelu(x)`, the exact (erf) form: the fused kernel where [`takes_fused_path`] says so
/// (Flex, f32), burn's [`gelu`](burn::tensor::activation::gelu) elsewhere.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !takes_fused_path(&x.device(), x.dtype()) {
        return burn::tensor::activation::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as KernelOps>::gelu(x.into_dispatch()))
}

/// Softmax over dimension `dim`: the fused kernel (one pass per row each way) for a
/// non-empty last dimension where [`takes_fused_path`] says so, burn's
/// [`softmax`](burn::tensor::activation::softmax) elsewhere.
pub fn softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    if dim + 1 != D || x.dims()[dim] == 0 || !takes_fused_path(&x.device(), x.dtype()) {
        return burn::tensor::activation::softmax(x, dim);
    }
    Tensor::from_dispatch(<Dispatch as KernelOps>::softmax_last(x.into_dispatch()))
}
