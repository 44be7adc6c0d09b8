//! The modalities this binary knows. A new modality crate adds one line here.

use diffgen_core::modality::Modality;

static TOY: diffgen_toy::ToyModality = diffgen_toy::ToyModality;
static MOLECULE: diffgen_molecule::MoleculeModality = diffgen_molecule::MoleculeModality;

static PROTEIN: diffgen_protein::ProteinModality = diffgen_protein::ProteinModality;
static IMAGE: diffgen_image::ImageModality = diffgen_image::ImageModality;

static ALL: &[&dyn Modality] = &[&MOLECULE, &PROTEIN, &IMAGE, &TOY];

pub fn all() -> &'static [&'static dyn Modality] {
    ALL
}

pub fn find(name: &str) -> Option<&'static dyn Modality> {
    ALL.iter().copied().find(|m| m.name() == name)
}
