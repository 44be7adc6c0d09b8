//! Errors of the protein structure code. Each names what a user can go and fix: the file and
//! line, the residue, or the setting.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ProteinError {
    #[error(transparent)]
    Core(#[from] diffgen_core::CoreError),

    /// Reading or writing `path` failed at the operating-system level.
    #[error("{}: {}", .0.display(), .1)]
    Io(PathBuf, std::io::Error),

    /// A line of a text data file (the JSONL data set) is malformed.
    #[error("{}:{line}: {reason}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// A structure file (PDB/mmCIF) that pdbtbx cannot read, or that holds no usable backbone.
    #[error("{}: {reason}", path.display())]
    Structure { path: PathBuf, reason: String },

    /// One residue of a structure cannot be written or read.
    #[error("{}: chain {chain}, residue {residue}: {reason}", path.display())]
    Residue {
        path: PathBuf,
        chain: String,
        residue: String,
        reason: String,
    },

    /// A caller-supplied setting (split name, residue name, chain list) is not valid.
    #[error("invalid setting `{key}`: {reason}")]
    Setting { key: String, reason: String },
}

impl ProteinError {
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        ProteinError::Io(path.into(), error)
    }

    pub fn structure(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ProteinError::Structure {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub fn setting(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ProteinError::Setting {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
