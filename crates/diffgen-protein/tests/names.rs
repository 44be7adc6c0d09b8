//! The protein modalities' names across the rename: `protein` is the Cα model (it was
//! `protein-ca`), `protein-angles` the torus model (it was `protein`). Checkpoints written
//! under the old names keep loading where they belong, and one that lands in the wrong
//! modality is refused with the right name, not misread.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use diffgen_core::checkpoint::Checkpoint;
use diffgen_core::modality::Modality;
use diffgen_core::pipeline::{self, Pipeline};
use diffgen_core::process::TimeGrid;
use diffgen_protein::ca::{self, CaPipeline};
use diffgen_protein::ProteinPipeline;

fn weights(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("weights")
        .join(file)
}

/// A copy of a bundled checkpoint relabelled `label`, as an older diffgen wrote it.
fn relabelled(file: &str, label: &str, dir: &Path) -> PathBuf {
    let mut checkpoint = Checkpoint::load(&weights(file)).unwrap();
    checkpoint.meta.modality = label.to_string();
    let path = dir.join(format!("{label}-{file}"));
    checkpoint.save(&path).unwrap();
    path
}

fn refusal<P: Pipeline<3>>(pipeline: &P, path: &Path) -> String {
    match pipeline::load(pipeline, Some(path), &Device::flex()) {
        Ok(_) => panic!("{} loaded {}", pipeline.info().name, path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn protein_is_the_ca_model_and_samples_on_its_power_grid_by_default() {
    assert_eq!(CaPipeline.info().name, "protein");
    assert_eq!(ProteinPipeline.info().name, "protein-angles");
    let loaded = pipeline::load(&CaPipeline, None, &Device::flex()).unwrap();
    assert_eq!(loaded.meta.modality, "protein");
    let flow = loaded.config.diffusion.flow.as_ref().expect("a flow model");
    assert_eq!(flow.time_grid, TimeGrid::Power(6.0));
    let angles = pipeline::load(&ProteinPipeline, None, &Device::flex()).unwrap();
    assert_eq!(angles.meta.modality, "protein-angles");
}

#[test]
fn checkpoints_under_the_old_names_load_where_they_belong() {
    let dir = tempfile::tempdir().unwrap();
    // Campaign checkpoints of the Cα model (runs/protein-ca-*) say `protein-ca`.
    let ca = relabelled("protein-cath-ca.safetensors", "protein-ca", dir.path());
    pipeline::load(&CaPipeline, Some(&ca), &Device::flex()).unwrap();
    // Angle models trained before the rename say `protein`.
    let angles = relabelled("protein-cath.safetensors", "protein", dir.path());
    pipeline::load(&ProteinPipeline, Some(&angles), &Device::flex()).unwrap();
    // `diffgen sample` picks the modality that loads each: by label and content.
    let meta = |path: &Path| Checkpoint::read_meta(path).unwrap();
    assert!(ca::MODALITY.loads(&meta(&ca)));
    assert!(!diffgen_protein::MODALITY.loads(&meta(&ca)));
    assert!(diffgen_protein::MODALITY.loads(&meta(&angles)));
    assert!(!ca::MODALITY.loads(&meta(&angles)));
}

#[test]
fn a_checkpoint_in_the_wrong_protein_modality_is_refused_with_the_right_name() {
    let dir = tempfile::tempdir().unwrap();
    // An old angle checkpoint carries the Cα model's current name.
    let old_angles = relabelled("protein-cath.safetensors", "protein", dir.path());
    let message = refusal(&CaPipeline, &old_angles);
    assert!(
        message.contains("angle") && message.contains("--modality protein-angles"),
        "{message}"
    );
    // A Cα checkpoint labelled `protein` in the angle modality.
    let ca = relabelled("protein-cath-ca.safetensors", "protein", dir.path());
    let message = refusal(&ProteinPipeline, &ca);
    assert!(message.contains("--modality protein`"), "{message}");
    // A Cα campaign checkpoint is not an angle model either.
    let campaign = relabelled("protein-cath-ca.safetensors", "protein-ca", dir.path());
    let message = refusal(&ProteinPipeline, &campaign);
    assert!(message.contains("`protein-ca` checkpoint"), "{message}");
}
