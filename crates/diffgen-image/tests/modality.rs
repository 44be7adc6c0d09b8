//! `diffgen train --modality image` through the modality: a diffusion config and a
//! classifier config (`task = "classifier"`) on the digits, and a folder of RGB photos.

mod common;

use std::path::{Path, PathBuf};

use common::{config_text, data_root, shared};
use diffgen_core::modality::{Modality, TrainRequest};
use diffgen_core::Backend;
use diffgen_image::classifier::load_classifier;
use diffgen_image::{load_image, MODALITY};

fn request(text: String, data: Option<PathBuf>, out: &Path, steps: u64) -> TrainRequest {
    TrainRequest {
        init_from: None,
        config_text: text,
        config_origin: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/test.toml"
        )),
        data_dir: data,
        out_dir: out.to_path_buf(),
        resume: false,
        // Several tests train into one folder on purpose.
        overwrite: true,
        reschedule: false,
        backend: Backend::Cpu,
        steps: Some(steps),
        stop_at: None,
        show_progress: false,
    }
}

#[test]
fn train_writes_a_checkpoint_and_a_preview_grid() {
    let Some(root) = data_root() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("image-digits-small.toml")
        .replace("preview_samples = 20", "preview_samples = 6")
        .replace("preview_steps = 25", "preview_steps = 5");
    let report = MODALITY
        .train(&request(text, Some(root), dir.path(), 5))
        .unwrap();
    assert!(report
        .metrics
        .iter()
        .any(|(k, v)| k == "steps" && *v == 5.0));
    let loaded = load_image(
        Some(&dir.path().join("model.safetensors")),
        &burn::tensor::Device::flex(),
    )
    .unwrap();
    assert_eq!(diffgen_image::shape_of(&loaded), [1, 8, 8]);
    assert_eq!(loaded.stats.num_classes, 10);
    assert_eq!(
        (loaded.stats.train_images, loaded.stats.held_out_images),
        (1617, 180)
    );
    let png = image::open(dir.path().join("samples.png")).unwrap();
    // 6 images, one column per class (10), so one row of 6: (2 + 6·10) × (2 + 10).
    assert_eq!((png.width(), png.height()), (62, 12));

    // Without a data root the error says how to give one.
    let err = MODALITY
        .train(&request(
            config_text("image-digits-small.toml"),
            None,
            dir.path(),
            1,
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--data"), "{err}");
}

#[test]
fn the_classifier_task_trains_and_loads() {
    let Some(root) = data_root() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
task = "classifier"
[data]
source = { kind = "digits" }
[classifier]
conv1 = 8
conv2 = 16
hidden = 32
[training]
steps = 30
batch_size = 32
"#;
    let report = MODALITY
        .train(&request(text.into(), Some(root), dir.path(), 30))
        .unwrap();
    assert!(report
        .metrics
        .iter()
        .any(|(k, _)| k.contains("held-out accuracy")));
    let path = dir.path().join("model.safetensors");
    let c = load_classifier(Some(&path), &[], &burn::tensor::Device::flex()).unwrap();
    assert_eq!(c.shape(), [1, 8, 8]);
    assert_eq!(c.reference.dim, 32);
    assert_eq!(c.held_out_features.as_ref().map(Vec::len), Some(180));
    // A classifier is not a diffusion model.
    let err = load_image(Some(&path), &burn::tensor::Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("classifier"), "{err}");
    // Unknown keys are refused with the line.
    let bad = text.replace("hidden = 32", "hidden = 32\nwidth = 3");
    let err = MODALITY
        .train(&request(bad, None, dir.path(), 1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("width") && err.contains("line"), "{err}");
}

#[test]
fn an_rgb_folder_trains_unconditionally() {
    let Some(photos) = shared("datasets/images/rgb_samples") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("image-digits-small.toml")
        .replace(
            r#"source = { kind = "digits" }"#,
            &format!(
                "source = {{ kind = \"folder\", path = \"{}\" }}",
                photos.display()
            ),
        )
        .replace("channels = 1", "channels = 3")
        .replace("height = 8", "height = 12")
        .replace("width = 8", "width = 10")
        .replace("conditional = true", "conditional = false")
        .replace("batch_size = 64", "batch_size = 4")
        .replace("preview_samples = 20", "preview_samples = 2")
        .replace("preview_steps = 25", "preview_steps = 3");
    MODALITY
        .train(&request(text.clone(), None, dir.path(), 2))
        .unwrap();
    let png = image::open(dir.path().join("samples.png")).unwrap();
    assert_eq!((png.width(), png.height()), (2 + 2 * 12, 2 + 14));
    assert!(matches!(png, image::DynamicImage::ImageRgb8(_)));
    // A conditional model needs labels.
    let err = MODALITY
        .train(&request(
            text.replace("conditional = false", "conditional = true"),
            None,
            dir.path(),
            1,
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("labelled"), "{err}");
}
