//! One open image in the app: where it is in loading, its rasters, cached statistics, display
//! settings, range rules, view transform and inspected pixel. UI thread only; the data it holds was
//! produced by workers.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::render::uniform::axis_range;
use crate::render::{DisplaySettings, ViewTransform};
use crate::stats::{BandStats, RangeMode};
use crate::workers::Loaded;

/// Where a document is in its life.
#[derive(Clone, Debug, PartialEq)]
pub enum DocStatus {
    Loading { fraction: f32, message: String, job: u64 },
    Ready,
    Failed(String),
}

pub struct Document {
    /// Unique for the app's lifetime; keys GPU uploads and worker jobs.
    pub id: u64,
    pub path: PathBuf,
    pub status: DocStatus,
    pub loaded: Option<Loaded>,
    /// Statistics per band, computed on a worker once and kept.
    pub stats: HashMap<usize, BandStats>,
    pub settings: DisplaySettings,
    /// Range rule per channel (index 0 for single-band mode).
    pub range: [RangeMode; 3],
    /// None until the view is first laid out (then fitted).
    pub transform: Option<ViewTransform>,
    /// Pixel the readout is pinned to (click to pin, arrows to step, Esc to release).
    pub pinned: Option<[i64; 2]>,
}

impl Document {
    pub fn new(id: u64, path: PathBuf, job: u64, settings: DisplaySettings, range: RangeMode) -> Self {
        Self {
            id,
            path,
            status: DocStatus::Loading { fraction: 0.0, message: "queued".into(), job },
            loaded: None,
            stats: HashMap::new(),
            settings,
            range: [range; 3],
            transform: None,
            pinned: None,
        }
    }

    /// File name for lists and titles; a SpectrumQA-sim grid (`scenes/<id>/observed.npy`) is named with
    /// its scene, since every scene's files share the same names.
    pub fn name(&self) -> String {
        let file =
            self.path.file_name().map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let parent = self.path.parent();
        let in_scenes = parent.and_then(|p| p.parent()).and_then(|p| p.file_name()).is_some_and(|n| n == "scenes");
        match parent.and_then(|p| p.file_name()) {
            Some(scene) if in_scenes => format!("{}/{file}", scene.to_string_lossy()),
            _ => file,
        }
    }

    /// Bands shown now: one in single-band mode, three in RGB mode.
    pub fn channels(&self) -> Vec<usize> {
        if self.settings.rgb_mode { self.settings.rgb.to_vec() } else { vec![self.settings.band] }
    }

    /// Bands whose statistics are needed and not cached yet.
    pub fn missing_stats(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self.channels().into_iter().filter(|b| !self.stats.contains_key(b)).collect();
        out.dedup();
        out
    }

    /// Re-derive the range limits of every channel from its rule and the cached statistics.
    /// Channels whose statistics are not ready keep their limits.
    pub fn apply_ranges(&mut self) {
        for (slot, band) in self.channels().into_iter().enumerate() {
            if let Some(st) = self.stats.get(&band) {
                let [lo, hi] = axis_range(st, self.range[slot], self.settings.scale);
                self.settings.lo[slot] = lo;
                self.settings.hi[slot] = hi;
            }
        }
    }

    /// Whether every shown channel has its statistics (so the range is meaningful).
    pub fn ranges_ready(&self) -> bool {
        self.missing_stats().is_empty()
    }
}
