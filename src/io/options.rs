//! Limits every loader enforces before it allocates.

use std::path::Path;

use super::IoError;

/// Limits a loader enforces before allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Largest `width * height * bands` accepted. The default (2^28 samples, 1 GiB as f32) holds any
    /// real tile we know of and refuses headers that claim absurd sizes.
    pub max_samples: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { max_samples: 1 << 28 }
    }
}

impl LoadOptions {
    /// Err(TooLarge) when `width * height * bands` exceeds the budget (overflow counts as too large).
    pub fn check(&self, path: &Path, width: u64, height: u64, bands: u64) -> Result<(), IoError> {
        let samples = width.checked_mul(height).and_then(|p| p.checked_mul(bands));
        match samples {
            Some(n) if n <= self.max_samples => Ok(()),
            _ => Err(IoError::TooLarge { path: path.to_path_buf(), width, height, bands, limit: self.max_samples }),
        }
    }
}
