//! The classifier (a short run on the digits; the bundled one on held-out MNIST), the
//! Fréchet distance, and `eval` on a grid written by the writers.

mod common;

use std::path::Path;

use burn::tensor::Device;
use common::{data_root, shared};
use diffgen_core::config::parse_toml;
use diffgen_core::modality::Modality;
use diffgen_core::rng::SeededRng;
use diffgen_image::classifier::{accuracy, train_classifier};
use diffgen_image::config::ClassifierFile;
use diffgen_image::data::read_mnist_dir;
use diffgen_image::io::{read_samples, write_grid_png, Batch};
use diffgen_image::metrics::{frechet_distance, Gaussian};
use diffgen_image::{bundled_classifier, score, MODALITY};

#[test]
fn frechet_of_a_set_with_itself_is_zero_and_grows_with_a_shift() {
    let mut rng = SeededRng::new(5);
    let dim = 16;
    let features: Vec<Vec<f32>> = (0..400)
        .map(|_| {
            let mut v = rng.normal_vec(dim);
            v[1] += 0.5 * v[0]; // some correlation
            v
        })
        .collect();
    let g = Gaussian::fit(&features);
    assert!(frechet_distance(&g, &g) < 1e-6);
    let mut last = 0.0;
    for shift in [0.25f32, 0.5, 1.0, 2.0] {
        let moved: Vec<Vec<f32>> = features
            .iter()
            .map(|v| v.iter().map(|x| x + shift).collect())
            .collect();
        let d = frechet_distance(&g, &Gaussian::fit(&moved));
        // A pure shift adds |Δμ|² = dim·shift² and nothing else.
        let expected = dim as f64 * (shift as f64).powi(2);
        assert!((d - expected).abs() < 1e-3 * expected, "{d} vs {expected}");
        assert!(d > last);
        last = d;
    }
    // A change of scale is seen too.
    let scaled: Vec<Vec<f32>> = features
        .iter()
        .map(|v| v.iter().map(|x| 2.0 * x).collect())
        .collect();
    assert!(frechet_distance(&g, &Gaussian::fit(&scaled)) > 1.0);
}

#[test]
fn a_short_classifier_run_on_digits_is_accurate() {
    let Some(root) = data_root() else {
        return;
    };
    let file: ClassifierFile = parse_toml(
        r#"
task = "classifier"
[data]
source = { kind = "digits" }
[classifier]
conv1 = 16
conv2 = 32
hidden = 64
[training]
steps = 250
batch_size = 64
lr = 2e-3
seed = 0
"#,
        Path::new("digits-classifier.toml"),
    )
    .unwrap();
    let set = file
        .data
        .source
        .load(Some(&root), Path::new("."), None)
        .unwrap();
    let n = file.data.train_count(set.len());
    let device = Device::flex();
    let (model, log) = train_classifier(&file, &set.slice(0..n), &device, false).unwrap();
    let acc = accuracy(&model, &set.slice(n..set.len()), &device);
    eprintln!(
        "digits classifier: held-out accuracy {acc:.4}, loss {:?}",
        log.last()
    );
    assert!(acc > 0.85, "held-out accuracy {acc}");
}

#[test]
fn the_bundled_classifier_scores_held_out_mnist() {
    let device = Device::flex();
    let Some(classifier) = bundled_classifier(&device) else {
        eprintln!("skipped: no bundled classifier in this build");
        return;
    };
    let Some(dir) = shared("datasets/images/mnist") else {
        return;
    };
    let set = read_mnist_dir(&dir).unwrap();
    let held = set.slice(9000..10_000);
    let acc = accuracy(&classifier.model, &held, &device);
    eprintln!("bundled classifier: held-out accuracy {acc:.4}");
    assert!(acc >= 0.97, "held-out accuracy {acc}");
    assert_eq!(classifier.stats.feature_dim, classifier.reference.dim);

    // Held-out images score near the floor; training images too; noise scores far above.
    let requested: Vec<Option<usize>> = held.labels.clone();
    let scores = score(&classifier, &held.slice(0..500), &requested[..500], &device);
    let fd_real = scores.frechet.unwrap();
    assert!(scores.share_requested.unwrap() >= 0.97);
    let mut rng = SeededRng::new(1);
    let mut noise = held.slice(0..500);
    noise.pixels = rng
        .normal_vec(noise.pixels.len())
        .into_iter()
        .map(|v| v.clamp(-1.0, 1.0))
        .collect();
    let fd_noise = score(&classifier, &noise, &[], &device).frechet.unwrap();
    eprintln!(
        "FD real {fd_real:.3}, noise {fd_noise:.3}, floor {}",
        classifier.stats.frechet_floor
    );
    assert!(fd_noise > 10.0 * fd_real.max(classifier.stats.frechet_floor));

    // eval reads a grid written by the writers back into the same images.
    let tmp = tempfile::tempdir().unwrap();
    let grid = tmp.path().join("grid.png");
    let some = held.slice(0..13);
    write_grid_png(
        &grid,
        Batch {
            pixels: &some.pixels,
            shape: [1, 28, 28],
        },
        5,
    )
    .unwrap();
    let back = read_samples(&grid, [1, 28, 28]).unwrap();
    assert_eq!(back.len(), 13);
    let max_err = back
        .pixels
        .iter()
        .zip(&some.pixels)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_err < 0.01, "{max_err}");
    let report = MODALITY.eval(&[grid], None).unwrap();
    assert!(report.metrics.iter().any(|(k, _)| k.contains("Fréchet")));
    let err = MODALITY
        .eval(&[tmp.path().join("missing.png")], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.png"), "{err}");
}
