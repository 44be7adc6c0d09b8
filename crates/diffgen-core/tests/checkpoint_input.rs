//! Damaged checkpoint files are errors naming the file (and the tensor), never a panic, an
//! abort or weights that quietly sample NaN.

use std::path::Path;

use burn::nn::LinearConfig;
use burn::tensor::Device;
use diffgen_core::checkpoint::{Checkpoint, CheckpointMeta, StoredTensor, FORMAT_VERSION};
use diffgen_core::ScheduleConfig;

fn meta() -> CheckpointMeta {
    CheckpointMeta {
        format: FORMAT_VERSION,
        diffgen_version: diffgen_core::VERSION.to_string(),
        modality: "toy".into(),
        config: serde_json::json!({}),
        schedule: Some(ScheduleConfig::course_linear()),
        data: serde_json::json!({}),
        step: 3,
        resume: None,
    }
}

fn with_tensor(values: Vec<f32>) -> Checkpoint {
    let mut ckpt = Checkpoint::new(meta());
    ckpt.tensors.insert(
        "ema.layer.weight".into(),
        StoredTensor {
            shape: vec![2, values.len() / 2],
            values,
        },
    );
    ckpt
}

#[test]
fn nan_or_inf_weights_are_refused_naming_file_and_tensor() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, what) in [
        (f32::NAN, "nan"),
        (f32::INFINITY, "inf"),
        (-f32::INFINITY, "-inf"),
    ] {
        let path = dir.path().join(format!("{what}.safetensors"));
        with_tensor(vec![0.5, 1.0, bad, 2.0]).save(&path).unwrap();
        let msg = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("checkpoint {}", path.display()))
                && msg.contains("tensor `ema.layer.weight` holds NaN/inf values"),
            "{msg}"
        );
    }
    // The same file with finite values loads.
    let path = dir.path().join("ok.safetensors");
    with_tensor(vec![0.5, 1.0, 1.5, 2.0]).save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap().tensors.len(), 1);
}

#[test]
fn a_tensor_of_the_wrong_shape_does_not_fit_the_model() {
    let device = Device::flex();
    let model = LinearConfig::new(3, 4).init(&device);
    let mut ckpt = Checkpoint::new(meta());
    ckpt.insert_module("ema", &model);
    // Same number of values, other shape: [4, 3] for the model's [3, 4].
    let w = ckpt.tensors.get_mut("ema.weight").unwrap();
    assert_eq!(w.shape, vec![3, 4]);
    w.shape = vec![4, 3];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shape.safetensors");
    ckpt.save(&path).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();
    let fresh = LinearConfig::new(3, 4).init(&device);
    let msg = loaded
        .load_module("ema", fresh, None, &device, &path)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&path.display().to_string())
            && msg.contains("`weight` has shape [4, 3], the model expects [3, 4]"),
        "{msg}"
    );
    // A missing tensor too.
    let mut ckpt = Checkpoint::new(meta());
    ckpt.insert_module("ema", &model);
    ckpt.tensors.remove("ema.bias");
    let fresh = LinearConfig::new(3, 4).init(&device);
    let msg = ckpt
        .load_module("ema", fresh, None, &device, Path::new("m.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`bias` is missing"), "{msg}");
}

/// A safetensors file whose 8-byte header length and JSON header are given.
fn raw(header_len: u64, header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = header_len.to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn declared_sizes_are_checked_against_the_bytes() {
    let origin = Path::new("declared.safetensors");
    let meta = serde_json::to_string(&meta()).unwrap();
    let header = |shape: &str, end: u64| {
        serde_json::json!({
            "__metadata__": { "diffgen": meta },
            "ema.w": { "dtype": "F32", "shape": serde_json::from_str::<serde_json::Value>(shape).unwrap(), "data_offsets": [0, end] }
        })
        .to_string()
    };
    let h = header("[2]", 8);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // An enormous header length (the file is 40-odd bytes).
        (raw(u64::MAX, "{}", &[]), "not a safetensors file"),
        (raw(1 << 40, "{}", &[]), "not a safetensors file"),
        // A header longer than the file.
        (
            raw(h.len() as u64 + 100, &h, &[0; 8]),
            "not a safetensors file",
        ),
        // A tensor whose declared size the file does not hold.
        (
            raw(
                header("[1000000000, 1000000000]", 8).len() as u64,
                &header("[1000000000, 1000000000]", 8),
                &[0; 8],
            ),
            "safetensors",
        ),
        (
            raw(
                header("[4000000000]", 16_000_000_000).len() as u64,
                &header("[4000000000]", 16_000_000_000),
                &[0; 8],
            ),
            "safetensors",
        ),
        // Truncated data.
        (raw(h.len() as u64, &h, &[0; 4]), "safetensors"),
        (Vec::new(), "not a safetensors file"),
    ];
    for (bytes, what) in cases {
        let msg = Checkpoint::from_bytes(&bytes, origin)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("checkpoint declared.safetensors") && msg.contains(what),
            "{msg}"
        );
    }
    // And the well-formed version of the same file is read.
    let ok = Checkpoint::from_bytes(&raw(h.len() as u64, &h, &[0; 8]), origin).unwrap();
    assert_eq!(ok.tensors["ema.w"].values, vec![0.0, 0.0]);
}

#[test]
fn a_model_far_larger_than_the_file_is_refused_before_it_is_allocated() {
    // What a checkpoint whose config claims an enormous model leads to: the model (2^40
    // weights, 4 TiB) is built lazily, and loading must compare shapes without initialising
    // it — an initialisation would abort on the allocation.
    let device = Device::flex();
    let small = LinearConfig::new(3, 4).init(&device);
    let mut ckpt = Checkpoint::new(meta());
    ckpt.insert_module("ema", &small);
    let huge = LinearConfig::new(1 << 20, 1 << 20).init(&device);
    let msg = ckpt
        .load_module("ema", huge, None, &device, Path::new("claims.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("claims.safetensors") && msg.contains("the model expects [1048576, 1048576]"),
        "{msg}"
    );
    // A fitting model still loads, with the stored values.
    let fresh = LinearConfig::new(3, 4).init(&device);
    let loaded = ckpt
        .load_module("ema", fresh, None, &device, Path::new("ok.safetensors"))
        .unwrap();
    let mut again = Checkpoint::new(meta());
    again.insert_module("ema", &loaded);
    assert_eq!(again.tensors, ckpt.tensors);
}
