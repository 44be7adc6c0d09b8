//! Adds the held-out feature table (`reference.features`) to a classifier checkpoint trained
//! before checkpoints stored it, without retraining (weights and statistics unchanged):
//!   cargo run --release -p diffgen-image --example classifier_reference -- \
//!       crates/diffgen-image/weights/mnist-classifier.safetensors ../shared/datasets

use std::path::PathBuf;

use burn::tensor::Device;
use diffgen_core::checkpoint::{Checkpoint, StoredTensor};
use diffgen_image::classifier::{load_classifier, predict_and_features, REFERENCE_FEATURES};
use diffgen_image::data::read_mnist_dir;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, data] = args.as_slice() else {
        return Err("usage: classifier_reference CHECKPOINT DATA_ROOT".into());
    };
    let path = PathBuf::from(path);
    let device = Device::flex();
    let loaded = load_classifier(Some(&path), &[], &device)?;
    let set = read_mnist_dir(&PathBuf::from(data).join("images").join("mnist"))?;
    let start = loaded.stats.train_images;
    let held = set.slice(start..start + loaded.stats.held_out_images);
    let (_, features) = predict_and_features(&loaded.model, &held, &device);
    let d = loaded.stats.feature_dim;
    let mut ckpt = Checkpoint::load(&path)?;
    ckpt.tensors.insert(
        REFERENCE_FEATURES.into(),
        StoredTensor {
            shape: vec![features.len(), d],
            values: features.iter().flatten().copied().collect(),
        },
    );
    ckpt.save(&path)?;
    let again = load_classifier(Some(&path), &[], &device)?;
    for n in [20, 50, 100, 500] {
        let (fd, m) = again.floor_at(n);
        println!("floor at n = {n}: {fd:.3} ({m} vs {})", features.len() / 2);
    }
    Ok(())
}
