//! Errors of the protein structure code. Each names what a user can go and fix: the file and
//! line, the residue, or the setting.

use std::path::PathBuf;

/// An error of the protein modality.
#[derive(Debug, thiserror::Error)]
pub enum ProteinError {
    /// An error from the core (config, checkpoint, training, sampling).
    #[error(transparent)]
    Core(#[from] diffgen_core::CoreError),

    /// Reading or writing `path` failed at the operating-system level.
    #[error("{}: {}", .0.display(), .1)]
    Io(PathBuf, std::io::Error),

    /// A line of a text data file (the JSONL data set) is malformed.
    #[error("{}:{line}: {reason}", path.display())]
    Parse {
        /// The data file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },

    /// A structure file (PDB/mmCIF) that pdbtbx cannot read, or that holds no usable backbone.
    #[error("{}: {reason}", path.display())]
    Structure {
        /// The file (read, or being written).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// One residue of a structure cannot be written or read.
    #[error("{}: chain {chain}, residue {residue}: {reason}", path.display())]
    Residue {
        /// The file.
        path: PathBuf,
        /// Chain id.
        chain: String,
        /// Residue number (1-based), followed by the model number and backbone id when
        /// writing.
        residue: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A caller-supplied setting (split name, residue name, chain list) is not valid.
    #[error("invalid setting `{key}`: {reason}")]
    Setting {
        /// The setting's name (`split`, `residue_name`, `data`, …).
        key: String,
        /// Why the value is refused.
        reason: String,
    },
}

impl ProteinError {
    /// [`ProteinError::Io`] on `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        ProteinError::Io(path.into(), error)
    }

    /// [`ProteinError::Structure`] on `path`.
    pub fn structure(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ProteinError::Structure {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// [`ProteinError::Setting`] for `key`.
    pub fn setting(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ProteinError::Setting {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
