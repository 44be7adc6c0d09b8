//! The modalities this binary knows. A new modality crate adds one line here (and its
//! entry in this crate's Cargo.toml).

use diffgen_core::checkpoint::CheckpointMeta;
use diffgen_core::modality::Modality;

static ALL: &[&dyn Modality] = &[
    &diffgen_molecule::MODALITY,
    &diffgen_protein::ca::MODALITY, // `protein`: Cα traces (the default design)
    &diffgen_protein::MODALITY,     // `protein-angles`: the torus model
    &diffgen_image::MODALITY,
    &diffgen_toy::MODALITY,
];

/// Every registered modality, in the order `diffgen modalities` lists them.
pub fn all() -> &'static [&'static dyn Modality] {
    ALL
}

/// The modality that loads a checkpoint with this metadata (by its label, current or former,
/// and its content: two modalities may have carried one name at different times).
pub fn for_checkpoint(meta: &CheckpointMeta) -> Option<&'static dyn Modality> {
    ALL.iter().copied().find(|m| m.loads(meta))
}

/// The modality called `name`, or called so before a rename (old scripts, checkpoints and
/// run directories keep working).
pub fn find(name: &str) -> Option<&'static dyn Modality> {
    let now = ALL.iter().copied().find(|m| m.name() == name);
    now.or_else(|| {
        ALL.iter()
            .copied()
            .find(|m| m.former_names().contains(&name))
    })
}
