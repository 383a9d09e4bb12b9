//! The tools engineers measure with, and what they measured on each image: contour lines at chosen
//! levels, a line profile, and statistics of a drawn box or polygon. Contours and region statistics
//! are computed on workers from the full-resolution data (`Part::Contours`, `Part::Region`, with
//! progress and Cancel); a profile reads at most 200 000 pixels and is taken on the UI thread as the
//! line is dragged. Drawing and painting on the image live in `measure_view.rs`; the "Measure"
//! section of the right panel in `measure_panel.rs`. UI thread.

use std::sync::Arc;

use super::HeatscopeApp;
use super::document::Part;
use super::slot::{Key, Slot};
use crate::stats::contour::{self, ContourLine, LevelBasis, LevelSpec};
use crate::stats::region::{self, Profile, Region, RegionStats};
use crate::types::Raster;
use crate::workers::Job;

/// Which tool a primary drag or click on the image uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Tool {
    /// Drag pans, click pins the readout.
    #[default]
    Inspect,
    /// Drag a line: the values along it.
    Profile,
    /// Drag a box: its statistics.
    Rect,
    /// Click vertices, double-click or Enter to close: its statistics.
    Polygon,
}

impl Tool {
    pub const ALL: [Tool; 4] = [Tool::Inspect, Tool::Profile, Tool::Rect, Tool::Polygon];

    pub fn name(self) -> &'static str {
        match self {
            Self::Inspect => "Inspect",
            Self::Profile => "Profile",
            Self::Rect => "Box",
            Self::Polygon => "Polygon",
        }
    }

    /// The key that picks it.
    pub fn key(self) -> &'static str {
        match self {
            Self::Inspect => "Esc",
            Self::Profile => "L",
            Self::Rect => "R",
            Self::Polygon => "G",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            Self::Inspect => "Drag pans, click pins the readout.",
            Self::Profile => "Drag a line across the image for the values along it. Right-drag pans.",
            Self::Rect => "Drag a box for its statistics. Right-drag pans.",
            Self::Polygon => {
                "Click the corners; double-click or Enter closes the polygon, Backspace removes the last corner, Esc drops it. Right-drag pans."
            }
        }
    }
}

/// What was drawn on an image, in image pixel coordinates.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Drawn {
    Line([f64; 2], [f64; 2]),
    Region(Region),
}

/// Contour lines of one band at each level asked for.
#[derive(Debug)]
pub struct ContourSet {
    pub band: usize,
    pub levels: Vec<ContourLevel>,
    /// The sigma-clipped median and standard deviation, when a σ level asked for them.
    pub noise: Option<(f64, f64)>,
}

#[derive(Debug)]
pub struct ContourLevel {
    pub spec: LevelSpec,
    /// In the band's unit.
    pub value: f64,
    pub lines: Vec<ContourLine>,
}

impl ContourSet {
    pub fn line_count(&self) -> usize {
        self.levels.iter().map(|l| l.lines.len()).sum()
    }
}

/// Statistics of a region in each band asked for, and the level "share above" counts from.
#[derive(Debug)]
pub struct RegionResult {
    pub region: Region,
    /// Band name and its statistics (None: no data inside).
    pub bands: Vec<(String, Option<RegionStats>)>,
    /// The first contour level (label and value), when the levels field holds one.
    pub level: Option<(String, f64)>,
}

/// One image's measurements.
#[derive(Debug, Default)]
pub struct DocMeasure {
    /// The finished shape.
    pub drawn: Option<Drawn>,
    /// Start of a drag being drawn (image coordinates).
    pub drag_from: Option<[f64; 2]>,
    /// Polygon corners placed so far.
    pub placing: Vec<[f64; 2]>,
    /// The profile of the drawn line, per band shown.
    pub profile: Option<(Drawn, Vec<(String, Profile)>)>,
    pub stats: Slot<Arc<RegionResult>>,
    /// What `stats` was asked for: the region, bands and levels text.
    stats_for: Option<(Region, Vec<usize>, String)>,
    /// The contour levels typed for this image (None until the image loads: then its default).
    pub levels: Option<String>,
    pub contours: Slot<Arc<ContourSet>>,
    /// What `contours` was asked for: band and levels text.
    contours_for: Option<(usize, String)>,
}

impl DocMeasure {
    /// Stop both jobs.
    pub fn cancel_all(&mut self) {
        self.stats.cancel();
        self.contours.cancel();
    }

    /// Apply a worker event for `part`; the failure message, if it failed.
    pub fn apply(&mut self, part: Part, job: u64, kind: crate::workers::EventKind) -> Option<String> {
        let applied = match part {
            Part::Contours => self.contours.apply(job, kind),
            Part::Region => self.stats.apply(job, kind),
            _ => return None,
        };
        match applied {
            super::slot::Applied::Failed(why) => Some(why),
            _ => None,
        }
    }

    /// Forget the drawn shape and what was measured on it.
    pub fn clear_shape(&mut self) {
        self.drawn = None;
        self.drag_from = None;
        self.placing.clear();
        self.profile = None;
        self.stats.cancel();
        self.stats = Slot::Empty;
        self.stats_for = None;
    }
}

/// App-wide measuring state.
#[derive(Debug, Default)]
pub struct MeasureState {
    pub tool: Tool,
    /// Contours drawn on the image (I).
    pub show_contours: bool,
}

/// Most points one contour level may have, and all levels together.
const MAX_LEVEL_POINTS: usize = 4_000_000;
const MAX_TOTAL_POINTS: usize = 8_000_000;

/// The contour levels an image starts with: the protection criterion (-6 dB) on an I/N map, 3, 5, 10
/// and 20 σ on a sky image, the 90th percentile otherwise.
pub fn default_levels(raster: &Raster) -> String {
    let m = &raster.meta;
    if crate::workers::cnn_runs_on_open(raster)
        || m.unit.as_deref().is_some_and(|u| u.trim().eq_ignore_ascii_case("db"))
    {
        "-6 dB".into()
    } else if m.wcs.is_some() || m.beam.is_some() {
        "3σ 5σ 10σ 20σ".into()
    } else {
        "p90".into()
    }
}

/// A band's name for tables and legends.
pub fn band_name(raster: &Raster, band: usize) -> String {
    raster.meta.band_names.get(band).filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| format!("band {}", band + 1))
}

/// The profile of `line` in `bands`.
pub fn profiles(raster: &Raster, bands: &[usize], a: [f64; 2], b: [f64; 2]) -> Vec<(String, Profile)> {
    bands.iter().map(|&band| (band_name(raster, band), region::line_profile(raster, band, a, b))).collect()
}

impl HeatscopeApp {
    /// Start what the active image's measurements need: its default levels, the profile of a new
    /// line, region statistics of a new shape, contours for new levels or a new band.
    pub(super) fn request_measure(&mut self) {
        let show_contours = self.measure.show_contours;
        let Some(doc) = self.active_doc_mut() else { return };
        let Some(raster) = doc.loaded.as_ref().map(|l| Arc::clone(&l.raster)) else { return };
        let id = doc.id;
        let levels = doc.measure.levels.get_or_insert_with(|| default_levels(&raster)).clone();
        let bands = doc.channels();
        let mut jobs: Vec<(Part, Job)> = Vec::new();
        let m = &mut doc.measure;
        match m.drawn.clone() {
            Some(Drawn::Line(a, b)) => {
                let fresh = m.profile.as_ref().is_none_or(|(d, p)| *d != Drawn::Line(a, b) || p.len() != bands.len());
                if fresh {
                    m.profile = Some((Drawn::Line(a, b), profiles(&raster, &bands, a, b)));
                }
            }
            Some(Drawn::Region(r)) => {
                let want = (r.clone(), bands.clone(), levels.clone());
                if m.stats_for.as_ref() != Some(&want) {
                    m.stats.cancel();
                    m.stats_for = Some(want);
                    jobs.push((Part::Region, stats_job(Arc::clone(&raster), r, bands.clone(), &levels)));
                }
            }
            None => {}
        }
        if show_contours {
            let band = bands[0];
            let want = (band, levels.clone());
            if m.contours_for.as_ref() != Some(&want) {
                m.contours.cancel();
                m.contours_for = Some(want);
                match contour::parse_levels(&levels, raster.meta.unit.as_deref()) {
                    Ok(specs) => jobs.push((Part::Contours, contours_job(Arc::clone(&raster), band, specs))),
                    Err(why) => m.contours = Slot::Failed(why),
                }
            }
        }
        for (part, job) in jobs {
            let submitted = self.workers.submit(Key::Doc(id, part), job);
            let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) else { return };
            if part == Part::Contours {
                doc.measure.contours = Slot::submitted(&submitted);
            } else {
                doc.measure.stats = Slot::submitted(&submitted);
            }
        }
    }
}

/// Trace every level of `band` on a worker.
fn contours_job(raster: Arc<Raster>, band: usize, specs: Vec<LevelSpec>) -> Job {
    Job::task("tracing contours", move |r| {
        let needs_basis = specs.iter().any(|s| !matches!(s, LevelSpec::Value(_)));
        let basis = needs_basis.then(|| {
            r.progress(0.0, "noise and percentiles");
            LevelBasis::of(&raster, band)
        });
        let mut levels = Vec::new();
        let mut total = 0;
        for (k, &spec) in specs.iter().enumerate() {
            let value = match &basis {
                Some(b) => b.resolve(spec),
                None => contour::LevelBasis::resolve_value(spec),
            }
            .ok_or_else(|| format!("level {} needs data, and band {} has none", spec.label(), band + 1))?;
            #[allow(clippy::cast_precision_loss)]
            r.progress(k as f32 / specs.len() as f32, format!("level {} of {}", k + 1, specs.len()));
            let budget = MAX_LEVEL_POINTS.min(MAX_TOTAL_POINTS.saturating_sub(total));
            let lines = contour::trace(&raster, band, value, budget, r.cancel_flag()).map_err(|e| e.to_string())?;
            total += lines.iter().map(|l| l.points.len()).sum::<usize>();
            levels.push(ContourLevel { spec, value, lines });
        }
        Ok(Arc::new(ContourSet { band, levels, noise: basis.and_then(|b| b.noise()) }))
    })
}

/// Statistics of `region` in `bands` on a worker; "share above" counts from the first level of
/// `levels` (none when it does not parse).
fn stats_job(raster: Arc<Raster>, region: Region, bands: Vec<usize>, levels: &str) -> Job {
    let first = contour::parse_levels(levels, raster.meta.unit.as_deref()).ok().and_then(|s| s.first().copied());
    Job::task("region statistics", move |r| {
        let level = match first {
            Some(spec @ LevelSpec::Value(v)) => Some((spec.label(), v)),
            Some(spec) => {
                r.progress(0.0, "level");
                LevelBasis::of(&raster, bands[0]).resolve(spec).map(|v| (spec.label(), v))
            }
            None => None,
        };
        let mut out = Vec::new();
        for (k, &band) in bands.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            r.progress(k as f32 / bands.len() as f32, band_name(&raster, band));
            let stats = region::region_stats(&raster, band, &region, level.as_ref().map(|l| l.1), r.cancel_flag())?;
            out.push((band_name(&raster, band), stats));
        }
        Ok(Arc::new(RegionResult { region, bands: out, level }))
    })
}
