//! Product states: a state made of named parts laid side by side along its last axis.
//!
//! A modality's state stays one tensor `[B, …, F]`; its layout says which columns of the
//! last axis are which part. A continuous part follows the model's Gaussian path (flow
//! matching or diffusion); a categorical part holds `groups` one-hot vectors of `classes`
//! entries each (one atom type per row; a row's bonds to every other row as `N` groups) and
//! follows a categorical process. Every part has its own loss weight; all share one time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::categorical::CategoricalPrior;
use crate::CoreError;

/// What one part is.
#[derive(Debug, Clone, PartialEq)]
pub enum PartKind {
    /// Real numbers on the Gaussian path; the space's noise and projection apply.
    Continuous,
    /// `groups` one-hot vectors of `classes` entries (the mask class included when the
    /// prior is [`CategoricalPrior::Masked`]).
    Categorical {
        /// Entries per one-hot vector.
        classes: usize,
        /// The distribution a fully corrupted entry is drawn from.
        prior: CategoricalPrior,
    },
}

/// One named part of a state.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Its name (`positions`, `types`, `bonds`, `label`).
    pub name: String,
    /// First column along the last axis.
    pub offset: usize,
    /// Columns along the last axis.
    pub width: usize,
    /// Continuous or categorical.
    pub kind: PartKind,
    /// Its weight in the training loss.
    pub weight: f64,
}

impl Part {
    /// Whether it is continuous.
    pub fn is_continuous(&self) -> bool {
        matches!(self.kind, PartKind::Continuous)
    }

    /// The classes of a categorical part (`None`: continuous).
    pub fn classes(&self) -> Option<usize> {
        match self.kind {
            PartKind::Categorical { classes, .. } => Some(classes),
            PartKind::Continuous => None,
        }
    }
}

/// A config's settings for one part (`[diffusion.parts.<name>]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartSettings {
    /// Its weight in the loss (default 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// The prior of a categorical part (default uniform); ignored by continuous parts.
    #[serde(default)]
    pub prior: PriorKind,
}

fn one() -> f64 {
    1.0
}

impl Default for PartSettings {
    fn default() -> Self {
        Self {
            weight: 1.0,
            prior: PriorKind::default(),
        }
    }
}

/// Which prior a categorical part's config asks for; the modality supplies marginals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorKind {
    /// Every class equally likely.
    #[default]
    Uniform,
    /// The classes' frequencies in the training data.
    Marginal,
    /// An extra mask class that corrupted entries become (absorbing diffusion).
    Masked,
}

/// The parts of a state, in column order. No parts: the whole state is one continuous part.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateLayout {
    parts: Vec<Part>,
}

impl StateLayout {
    /// The whole state as one continuous part (every single-tensor model).
    pub fn single() -> Self {
        Self::default()
    }

    /// Starts a layout of named parts; widths come from the modality, settings from
    /// [`LayoutBuilder::settings`].
    pub fn builder() -> LayoutBuilder {
        LayoutBuilder::default()
    }

    /// The parts, in column order (empty for [`StateLayout::single`]).
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Whether the state is one continuous part (the path of every single-tensor model).
    pub fn is_single(&self) -> bool {
        self.parts.iter().all(Part::is_continuous)
            && self.parts.iter().map(|p| p.weight).all(|w| w == 1.0)
            && self.parts.len() <= 1
    }

    /// Whether any part is categorical.
    pub fn has_categorical(&self) -> bool {
        self.parts.iter().any(|p| !p.is_continuous())
    }

    /// The total width of the last axis (0 for [`StateLayout::single`]: any width).
    pub fn width(&self) -> usize {
        self.parts.iter().map(|p| p.width).sum()
    }

    /// The part called `name`.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }
}

/// Builds a [`StateLayout`] part by part.
#[derive(Debug, Default)]
pub struct LayoutBuilder {
    parts: Vec<(String, usize, BuilderKind)>,
}

#[derive(Debug)]
enum BuilderKind {
    Continuous,
    Categorical {
        groups: usize,
        classes: usize,
        marginals: Option<Vec<f64>>,
    },
}

impl LayoutBuilder {
    /// A continuous part of `width` columns.
    pub fn continuous(mut self, name: &str, width: usize) -> Self {
        self.parts
            .push((name.to_string(), width, BuilderKind::Continuous));
        self
    }

    /// A categorical part of `groups` one-hot vectors over `classes` data classes, with the
    /// data's class frequencies when known (for the marginal prior).
    pub fn categorical(
        mut self,
        name: &str,
        groups: usize,
        classes: usize,
        marginals: Option<Vec<f64>>,
    ) -> Self {
        self.parts.push((
            name.to_string(),
            groups * classes,
            BuilderKind::Categorical {
                groups,
                classes,
                marginals,
            },
        ));
        self
    }

    /// The layout with a config's per-part settings (`[diffusion.parts]`); a setting for a
    /// part the state does not have is an error naming it.
    pub fn settings(
        self,
        settings: &BTreeMap<String, PartSettings>,
    ) -> Result<StateLayout, CoreError> {
        let names: Vec<&str> = self.parts.iter().map(|p| p.0.as_str()).collect();
        if let Some(unknown) = settings.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(CoreError::setting(
                format!("diffusion.parts.{unknown}"),
                format!(
                    "this state has no part `{unknown}` (its parts: {})",
                    names.join(", ")
                ),
            ));
        }
        let mut parts = Vec::with_capacity(self.parts.len());
        let mut offset = 0;
        for (name, width, kind) in self.parts {
            let s = settings.get(&name).cloned().unwrap_or_default();
            let key = format!("diffusion.parts.{name}");
            if !(s.weight.is_finite() && s.weight >= 0.0) {
                return Err(CoreError::setting(
                    format!("{key}.weight"),
                    "must be a finite number ≥ 0",
                ));
            }
            let (width, kind) = match kind {
                BuilderKind::Continuous => (width, PartKind::Continuous),
                BuilderKind::Categorical {
                    groups,
                    classes,
                    marginals,
                } => {
                    let prior = CategoricalPrior::from_kind(s.prior, classes, marginals)
                        .map_err(|reason| CoreError::setting(format!("{key}.prior"), reason))?;
                    let classes = prior.classes();
                    (groups * classes, PartKind::Categorical { classes, prior })
                }
            };
            if width == 0 {
                return Err(CoreError::setting(key, "a part needs at least one column"));
            }
            parts.push(Part {
                name,
                offset,
                width,
                kind,
                weight: s.weight,
            });
            offset += width;
        }
        Ok(StateLayout { parts })
    }
}
