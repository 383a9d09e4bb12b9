//! The annotation readers' and writers' error type: every variant names the file (last in the
//! message) and says what the user can do about it. Any thread.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AnnotationError {
    #[error("cannot read the annotation file: {source} ({path})")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the annotation file: {source} ({path})")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "not a recognized annotation file ({why}); heatscope reads COCO JSON, GeoJSON, Pascal VOC XML, \
         YOLO .txt and DeepForest CSV ({path})"
    )]
    Unrecognized { path: PathBuf, why: String },
    #[error("malformed {format} annotations: {what} ({path})")]
    Malformed { path: PathBuf, format: &'static str, what: String },
    #[error("no annotations for the image {image} in this file; it describes {found} ({path})")]
    NoEntry { path: PathBuf, image: String, found: String },
    #[error("the image has no georeference, so map coordinates cannot be placed on it: {why} ({path})")]
    NoGeoreference { path: PathBuf, why: String },
    #[error("cannot convert the coordinates from {from} to the image's CRS {to}: {why} ({path})")]
    CrsMismatch { path: PathBuf, from: String, to: String, why: String },
    #[error(
        "the coordinates look projected (outside longitude -180..180 / latitude -90..90) but the file \
         declares no CRS; add a \"crs\" member naming it, e.g. EPSG:32618 ({path})"
    )]
    UndeclaredCrs { path: PathBuf },
    #[error("annotation file too large: {size} bytes, over the limit of {limit} bytes ({path})")]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("too many annotations: over the limit of {limit}; split the file ({path})")]
    TooMany { path: PathBuf, limit: usize },
    #[error("cannot write {format}: {why} ({path})")]
    Unwritable { path: PathBuf, format: &'static str, why: String },
}

impl AnnotationError {
    pub(crate) fn malformed(path: &Path, format: &'static str, what: impl Into<String>) -> Self {
        Self::Malformed { path: path.to_path_buf(), format, what: what.into() }
    }

    pub(crate) fn unrecognized(path: &Path, why: impl Into<String>) -> Self {
        Self::Unrecognized { path: path.to_path_buf(), why: why.into() }
    }

    pub(crate) fn unwritable(path: &Path, format: &'static str, why: impl Into<String>) -> Self {
        Self::Unwritable { path: path.to_path_buf(), format, why: why.into() }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::Write { path, .. }
            | Self::Unrecognized { path, .. }
            | Self::Malformed { path, .. }
            | Self::NoEntry { path, .. }
            | Self::NoGeoreference { path, .. }
            | Self::CrsMismatch { path, .. }
            | Self::UndeclaredCrs { path }
            | Self::TooLarge { path, .. }
            | Self::TooMany { path, .. }
            | Self::Unwritable { path, .. } => path,
        }
    }
}
