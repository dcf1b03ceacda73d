//! Which model a lab tool measures: a shipped one by name, or any weight file by path.

use std::path::PathBuf;

use anyhow::Result;

use vqcodec::model::{ModelKind, Weights};

/// A model to measure: a shipped one by name, or a weight file (a training run's
/// `model.vqw` or `checkpoint.vqw`) by path.
#[derive(Debug, Clone)]
pub enum ModelSpec {
    /// `base` or `lite`, as shipped.
    Shipped(ModelKind),
    /// A weight file.
    File(PathBuf),
}

impl std::str::FromStr for ModelSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.parse::<ModelKind>() {
            Ok(kind) => Ok(Self::Shipped(kind)),
            Err(_) if s.ends_with(".vqw") => Ok(Self::File(PathBuf::from(s))),
            Err(e) => Err(format!("{e}, or a path to a .vqw weight file")),
        }
    }
}

impl ModelSpec {
    /// A short name for tables and CSV rows: the shipped model's name, or the run's folder
    /// for a training run's `model.vqw` / `checkpoint.vqw`, else the file's stem.
    pub fn label(&self) -> String {
        match self {
            Self::Shipped(kind) => kind.name().to_string(),
            Self::File(path) => {
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
                let parent = path
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|s| s.to_string_lossy().into_owned());
                match (stem.as_deref(), parent) {
                    (Some("model" | "checkpoint"), Some(dir)) => dir,
                    (Some(stem), _) => stem.to_string(),
                    (None, _) => path.display().to_string(),
                }
            }
        }
    }

    /// The weights.
    ///
    /// # Errors
    /// A file that cannot be read or is not a weight file.
    pub fn weights(&self) -> Result<Weights> {
        Ok(match self {
            Self::Shipped(kind) => Weights::embedded(*kind),
            Self::File(path) => Weights::from_bytes(std::fs::read(path)?)?,
        })
    }
}
