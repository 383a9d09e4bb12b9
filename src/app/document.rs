//! One open image in the app: where it is in loading, its rasters, its results (statistics, CNN
//! reading, GSD estimate and spoofing sweep, the answer streaming in the chat, what a run recorded), display settings,
//! range rules, view transform and inspected pixel. Each result is a [`Slot`] holding the cancel
//! handle of the job filling it, so closing a document stops everything it started. UI thread only;
//! the data it holds was produced by workers.

use std::collections::HashMap;
use std::path::PathBuf;

use super::slot::{Applied, Slot, Timed};
use crate::backend::Finish;
use crate::eval::runs::RunLine;
use crate::models::cnn::CnnReading;
use crate::models::gsd::TileEstimate;
use crate::render::uniform::axis_range;
use crate::render::{DisplaySettings, ViewTransform};
use crate::stats::{BandStats, RangeMode};
use crate::workers::{EventKind, Loaded};

/// Which of a document's results a job fills (the second half of its [`super::slot::Key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    Load,
    Stats(usize),
    Cnn,
    Gsd,
    /// The GSD spoofing sweep (`gsd_sweep.rs`).
    GsdSweep,
    Chat,
    /// Contour lines (`measure.rs`).
    Contours,
    /// Statistics of a drawn region (`measure.rs`).
    Region,
    /// Cutting the zoomed-in window (`detail.rs`).
    Detail,
    /// Reading the inspected pixel from the file while the image is read (`probe.rs`).
    Probe,
    /// A batch of annotation files (`annotations.rs`: 0 the sidecars, then each file added).
    Annotations(usize),
    /// Writing the annotations shown into one file.
    AnnotationExport,
    /// The radio source finder (`sources.rs`).
    Sources,
    /// The radio CNN on the selected source's cutout (`sources.rs`).
    SourceCnn,
}

/// What the models said about one image. Kept by file path when the document closes (a file reopened
/// or a sample stepped back to is not run again); jobs still running are cancelled then.
#[derive(Clone, Debug, Default)]
pub struct Results {
    pub cnn: Slot<Timed<CnnReading>>,
    pub gsd: Slot<Timed<TileEstimate>>,
    /// The last GSD spoofing sweep of this image.
    pub sweep: Slot<std::sync::Arc<super::gsd_sweep::SweepResult>>,
    /// The chat answer being streamed (its tokens go to the chat history); ready with how it ended.
    pub answer: Slot<Finish>,
    /// The answers a run recorded for this scene (File > Open run…, or a run started in the app).
    pub recorded: Vec<RunLine>,
}

impl Results {
    /// Stop every job still filling a slot.
    pub fn cancel_all(&mut self) {
        self.cnn.cancel();
        self.gsd.cancel();
        self.sweep.cancel();
        self.answer.cancel();
    }

    /// Apply a worker event to the slot `part` names (statistics, loading and chat are the
    /// document's and the chat's own).
    pub fn apply(&mut self, part: Part, job: u64, kind: EventKind) -> Applied {
        match part {
            Part::Cnn => self.cnn.apply(job, kind),
            Part::Gsd => self.gsd.apply(job, kind),
            Part::GsdSweep => self.sweep.apply(job, kind),
            Part::Load
            | Part::Stats(_)
            | Part::Chat
            | Part::Contours
            | Part::Region
            | Part::Annotations(_)
            | Part::AnnotationExport
            | Part::Sources
            | Part::SourceCnn
            | Part::Detail
            | Part::Probe => Applied::Nothing,
        }
    }

    /// Whether a job is filling any slot.
    pub fn busy(&self) -> bool {
        self.cnn.is_loading() || self.gsd.is_loading() || self.sweep.is_loading() || self.answer.is_loading()
    }
}

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
    /// While a large image is read: its overview, streamed from the file first (shown, with no
    /// readout, until `loaded` arrives).
    pub preview: Option<crate::workers::Preview>,
    /// The readout's pixel read from the file while the image is read.
    pub probe: super::probe::DocProbe,
    /// Statistics per band, computed on a worker once and kept (a failed band is not retried).
    pub stats: HashMap<usize, Slot<BandStats>>,
    pub results: Results,
    pub settings: DisplaySettings,
    /// Range rule per channel (index 0 for single-band mode).
    pub range: [RangeMode; 3],
    /// None until the view is first laid out (then fitted).
    pub transform: Option<ViewTransform>,
    /// Pixel the readout is pinned to (click to pin, arrows to step, Esc to release).
    pub pinned: Option<[i64; 2]>,
    /// Contours, the shape drawn and what was measured on it.
    pub measure: super::measure::DocMeasure,
    /// The zoomed-in window at full resolution (images larger than the overview).
    pub detail: super::detail::DocDetail,
    /// Other tools' annotations of this image.
    pub annotations: super::annotations::DocAnnotations,
    /// Radio sources found on this image.
    pub sources: super::sources::DocSources,
    /// Display settings, ranges and view came from a session: loading keeps them.
    pub restored: bool,
    /// Where the image was drawn last frame and the points per pixel then (None before the first).
    pub view_rect: Option<(egui::Rect, f32)>,
}

impl Document {
    pub fn new(id: u64, path: PathBuf, job: u64, settings: DisplaySettings, range: RangeMode) -> Self {
        Self {
            id,
            path,
            status: DocStatus::Loading { fraction: 0.0, message: "queued".into(), job },
            loaded: None,
            preview: None,
            probe: super::probe::DocProbe::default(),
            stats: HashMap::new(),
            results: Results::default(),
            settings,
            range: [range; 3],
            transform: None,
            pinned: None,
            measure: super::measure::DocMeasure::default(),
            annotations: super::annotations::DocAnnotations::default(),
            sources: super::sources::DocSources::default(),
            detail: super::detail::DocDetail::default(),
            view_rect: None,
            restored: false,
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

    /// Where image coordinates `p` (pixels, (0, 0) the image's top-left corner) were on screen last
    /// frame; None before the image was first drawn.
    pub fn screen_pos(&self, p: [f32; 2]) -> Option<egui::Pos2> {
        let ((rect, ppp), transform) = (self.view_rect?, self.transform?);
        let v = transform.to_view(p);
        Some(egui::pos2(rect.min.x + v[0] / ppp, rect.min.y + v[1] / ppp))
    }

    /// The statistics of `band`, when ready.
    pub fn band_stats(&self, band: usize) -> Option<&BandStats> {
        self.stats.get(&band).and_then(Slot::ready)
    }

    /// Bands shown now: one in single-band mode, three in RGB mode.
    pub fn channels(&self) -> Vec<usize> {
        if self.settings.rgb_mode { self.settings.rgb.to_vec() } else { vec![self.settings.band] }
    }

    /// Bands whose statistics are needed and not asked for yet.
    pub fn missing_stats(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self.channels().into_iter().filter(|b| !self.stats.contains_key(b)).collect();
        out.dedup();
        out
    }

    /// Re-derive the range limits of every channel from its rule and the cached statistics.
    /// Channels whose statistics are not ready keep their limits.
    pub fn apply_ranges(&mut self) {
        for (slot, band) in self.channels().into_iter().enumerate() {
            if let Some(st) = self.band_stats(band) {
                let [lo, hi] = axis_range(st, self.range[slot], self.settings.scale);
                self.settings.lo[slot] = lo;
                self.settings.hi[slot] = hi;
            }
        }
    }

    /// Whether every shown channel has its statistics or gave up on them (so nothing more will come).
    pub fn ranges_ready(&self) -> bool {
        self.channels().iter().all(|b| self.stats.get(b).is_some_and(|s| !s.is_loading()))
    }
}
