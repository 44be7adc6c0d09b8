//! The forward process: x_t = √ᾱ·x_0 + √(1−ᾱ)·ε has mean √ᾱ·x_0 and variance 1 − ᾱ.

use burn::tensor::Device;
use diffgen_core::forward::add_noise;
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::{NoiseSource, ScheduleConfig, SeededRng};

#[test]
fn noised_samples_have_the_closed_form_moments() {
    let device = Device::flex();
    let schedule = ScheduleConfig::course_linear().build().unwrap();
    let n = 50_000;
    let x0_value = 0.7_f32;
    for t in [1, 50, 200, 400] {
        let mut rng = SeededRng::new(t as u64);
        let x0 = tensor_from_vec(vec![x0_value; n], [n, 1], &device);
        let eps = rng.standard_normal([n, 1], &device);
        let (a, s) = (schedule.alpha(t), schedule.sigma(t));
        let x_t = to_vec(add_noise(
            x0.clone(),
            eps,
            x0.ones_like().mul_scalar(a),
            x0.ones_like().mul_scalar(s),
        ));
        let mean = x_t.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let var = x_t.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        let expected_var = 1.0 - schedule.alpha_bar(t);
        // Standard errors: √(var/n) for the mean, var·√(2/n) for the variance.
        assert!(
            (mean - a * x0_value as f64).abs() < 5.0 * (expected_var / n as f64).sqrt() + 1e-6,
            "t={t}: mean {mean}"
        );
        assert!(
            (var - expected_var).abs() < 5.0 * expected_var * (2.0 / n as f64).sqrt() + 1e-9,
            "t={t}: var {var} vs {expected_var}"
        );
    }
}
