//! The loaders' error type: every variant names the file (last in the message) and the problem.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("cannot read the file: {source} ({path})")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not supported: {what} ({path})")]
    Unsupported { path: PathBuf, what: String },
    #[error("corrupt or truncated file: {what} ({path})")]
    Corrupt { path: PathBuf, what: String },
    #[error(
        "image too large: the file declares {width} x {height} x {bands} samples, over the limit of {limit} ({path})"
    )]
    TooLarge { path: PathBuf, width: u64, height: u64, bands: u64, limit: u64 },
    #[error(
        "too large for the memory budget: opening it needs about {} ({what}), over the budget of {}; \
         raise it with --memory-budget (default: a quarter of this machine's memory) or open a smaller file ({path})",
        super::options::human_bytes(*needed),
        super::options::human_bytes(*budget)
    )]
    OverBudget { path: PathBuf, needed: u64, budget: u64, what: String },
}

impl IoError {
    pub fn corrupt(path: &std::path::Path, what: impl Into<String>) -> Self {
        Self::Corrupt { path: path.to_path_buf(), what: what.into() }
    }

    pub fn unsupported(path: &std::path::Path, what: impl Into<String>) -> Self {
        Self::Unsupported { path: path.to_path_buf(), what: what.into() }
    }

    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Read { path, .. }
            | Self::Unsupported { path, .. }
            | Self::Corrupt { path, .. }
            | Self::TooLarge { path, .. }
            | Self::OverBudget { path, .. } => path,
        }
    }
}
