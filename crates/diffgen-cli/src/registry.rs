//! The modalities this binary knows. A new modality crate adds one line here (and its
//! entry in this crate's Cargo.toml).

use diffgen_core::modality::Modality;

static ALL: &[&dyn Modality] = &[
    &diffgen_molecule::MODALITY,
    &diffgen_protein::MODALITY,
    &diffgen_protein::ca::MODALITY,
    &diffgen_image::MODALITY,
    &diffgen_toy::MODALITY,
];

/// Every registered modality, in the order `diffgen modalities` lists them.
pub fn all() -> &'static [&'static dyn Modality] {
    ALL
}

/// The modality called `name`.
pub fn find(name: &str) -> Option<&'static dyn Modality> {
    ALL.iter().copied().find(|m| m.name() == name)
}
