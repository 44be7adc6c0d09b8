//! Access to the shared data and EDM's parity files.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use diffgen_core::checkpoint::{
    Checkpoint, CheckpointMeta, StoredTensor, EMA_PREFIX, FORMAT_VERSION,
};
use diffgen_molecule::egnn::EgnnDynamics;
use diffgen_molecule::import::{read_edm_safetensors, read_tensors};

// The shared data (`$DIFFGEN_SHARED` or `../shared`); `None` means skip the test.
pub use diffgen_test_support::shared;

pub fn tensors(path: &PathBuf) -> BTreeMap<String, StoredTensor> {
    read_tensors(&std::fs::read(path).unwrap(), path).unwrap()
}

pub fn tensor<const D: usize>(t: &StoredTensor, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(t.values.clone(), t.shape.clone()), device)
}

/// EDM's EGNN with the weights of a parity file.
pub fn edm_model(file: &str, device: &Device) -> EgnnDynamics {
    let path = shared(&format!("parity/edm/{file}")).expect("parity file");
    let edm = read_edm_safetensors(&std::fs::read(&path).unwrap(), &path).unwrap();
    let model = edm.config.init(edm.features, device);
    let mut ckpt = Checkpoint::new(CheckpointMeta {
        format: FORMAT_VERSION,
        diffgen_version: String::new(),
        modality: "molecule".into(),
        config: serde_json::Value::Null,
        schedule: Some(diffgen_core::ScheduleConfig::edm_polynomial()),
        data: serde_json::Value::Null,
        step: 0,
        resume: None,
    });
    let paths: Vec<String> = ckpt.insert_module(EMA_PREFIX, &model).into_keys().collect();
    ckpt.tensors = edm.to_ours(&paths, EMA_PREFIX).unwrap();
    ckpt.load_module(EMA_PREFIX, model, None, device, &path)
        .unwrap()
}
