//! Noising spaces: where a modality's state lives and which constraints it keeps.

use std::marker::PhantomData;

use burn::tensor::{Device, Tensor};

use crate::rng::NoiseSource;

/// A modality's state space. Samplers and the trainer only combine states linearly, draw
/// noise through [`NoiseSpace::noise`] and call [`NoiseSpace::project`] after every update,
/// so a space can add constraints — remove the centre of mass, zero the padding, wrap
/// angles onto a torus — without the samplers knowing.
pub trait NoiseSpace<const D: usize> {
    /// Per-batch information the constraints and the denoiser need (padding masks, labels).
    type Context;

    /// Standard noise for a batch of `shape`, already inside the space.
    fn noise<N: NoiseSource>(
        &self,
        shape: [usize; D],
        context: &Self::Context,
        source: &mut N,
        device: &Device,
    ) -> Tensor<D>;

    /// Maps a state back onto the space after a linear update.
    fn project(&self, x: Tensor<D>, _context: &Self::Context) -> Tensor<D> {
        x
    }

    /// Constrains a prediction of the clean sample made at time `t` (e.g. clamp pixels to
    /// [−1, 1]); `None` leaves it as it is. Samplers then re-derive ε̂ from the constrained
    /// x̂_0.
    fn constrain_prediction(
        &self,
        _x0: &Tensor<D>,
        _t: f64,
        _context: &Self::Context,
    ) -> Option<Tensor<D>> {
        None
    }

    /// Per-sample mean of an elementwise loss, `[B, …]` → `[B]`. The default averages over
    /// every non-batch axis (which, with padded entries zero in both prediction and target,
    /// is EDM's `sum / (features · N_max)`).
    fn reduce(&self, elementwise: Tensor<D>, _context: &Self::Context) -> Tensor<1> {
        let b = elementwise.dims()[0];
        elementwise.reshape([b as i32, -1]).mean_dim(1).reshape([b])
    }

    /// Moves a training prior sample `noise` towards its data `x0` without changing its
    /// distribution (flow matching's prior alignment: a space may rotate or permute each
    /// sample's noise onto its data, as equivariant optimal transport does for molecules,
    /// which straightens the paths). Called only when the config asks for it; the default
    /// returns the noise as drawn.
    fn align_prior(
        &self,
        noise: Tensor<D>,
        _x0: &Tensor<D>,
        _context: &Self::Context,
    ) -> Tensor<D> {
        noise
    }

    /// An extra per-sample loss `[B]` on the network's clean-state estimate against the data
    /// `x0` at times `t` (0 clean … 1 prior), added to the process loss — a space's own
    /// geometry (FrameDiff's loss on local pairwise distances at low noise, say). `estimate`
    /// computes that estimate when called, so spaces without such a loss pay nothing; `None`,
    /// the default, adds nothing.
    fn auxiliary_loss(
        &self,
        _estimate: &dyn Fn() -> Tensor<D>,
        _x0: &Tensor<D>,
        _t: &[f64],
        _context: &Self::Context,
    ) -> Option<Tensor<1>> {
        None
    }

    /// [`reduce`](Self::reduce) for one named part of a product state (its columns only), so
    /// that a space can average each part over its own real entries (atoms, pairs); the
    /// default is `reduce`.
    fn reduce_part(
        &self,
        _part: &crate::process::Part,
        elementwise: Tensor<D>,
        context: &Self::Context,
    ) -> Tensor<1> {
        self.reduce(elementwise, context)
    }
}

/// Plain ℝⁿ with i.i.d. Gaussian noise: pixels, toy points. `C` is whatever context the
/// paired denoiser needs (`()` or class labels); the space itself ignores it.
#[derive(Debug, Clone, Copy)]
pub struct EuclideanSpace<C = ()> {
    context: PhantomData<fn() -> C>,
}

impl<C> Default for EuclideanSpace<C> {
    fn default() -> Self {
        Self {
            context: PhantomData,
        }
    }
}

impl<C> EuclideanSpace<C> {
    /// The space (it holds no state).
    pub fn new() -> Self {
        Self::default()
    }
}

impl<const D: usize, C> NoiseSpace<D> for EuclideanSpace<C> {
    type Context = C;

    fn noise<N: NoiseSource>(
        &self,
        shape: [usize; D],
        _context: &C,
        source: &mut N,
        device: &Device,
    ) -> Tensor<D> {
        source.standard_normal(shape, device)
    }
}

/// `x` `[B, N, C]` minus each item's mean over its real entries (`mask` `[B, N, 1]`, 1 real,
/// 0 padding), padding left at zero: the zero-centre-of-mass subspace in which point clouds
/// (atoms, Cα traces) are noised, so that a translation is never learned.
pub fn remove_mean_with_mask(x: Tensor<3>, mask: Tensor<3>) -> Tensor<3> {
    let count = mask.clone().sum_dim(1); // [B, 1, 1]
    let mean = x.clone().sum_dim(1) / count; // [B, 1, C]
    x - mean * mask
}

/// Rotates each item's first three channels of `noise` `[B, N, C]` onto the same channels of
/// `x0` over its first `counts[b]` entries: the proper rotation R minimising Σ|R·ε_i − x_i|²
/// (Kabsch). The rotational half of equivariant optimal transport for flow matching; the
/// noise keeps its distribution (an isotropic Gaussian rotated), the paths get straighter.
/// Other channels are left as drawn.
pub fn rotate_noise_onto(noise: Tensor<3>, x0: &Tensor<3>, counts: &[usize]) -> Tensor<3> {
    use nalgebra::{Matrix3, Vector3};
    let [b, n, c] = noise.dims();
    let device = noise.device();
    let mut e = crate::tensor_util::to_vec(noise);
    let x = crate::tensor_util::to_vec(x0.clone());
    for (m, &count) in counts.iter().enumerate() {
        let at = |i: usize, k: usize| (m * n + i) * c + k;
        let mut h = Matrix3::<f64>::zeros();
        for i in 0..count {
            for r in 0..3 {
                for col in 0..3 {
                    h[(r, col)] += e[at(i, r)] as f64 * x[at(i, col)] as f64;
                }
            }
        }
        let svd = h.svd(true, true);
        let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
            continue;
        };
        let v = v_t.transpose();
        let d = (v * u.transpose()).determinant().signum();
        let rotation = v * Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, d)) * u.transpose();
        for i in 0..count {
            let p = Vector3::new(e[at(i, 0)] as f64, e[at(i, 1)] as f64, e[at(i, 2)] as f64);
            let q = rotation * p;
            for k in 0..3 {
                e[at(i, k)] = q[k] as f32;
            }
        }
    }
    crate::tensor_util::tensor_from_vec(e, [b, n, c], &device)
}
