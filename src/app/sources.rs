//! Radio sources on sky images: the finder (`stats::sources`) run on a worker when a sky image (a
//! beam or celestial coordinates) is shown and sources are on (K), again when the band or the
//! thresholds change; the islands' outlines traced there too. A click on an island selects it; the
//! "Sources" section lists the islands and what was measured on the selected one. Painting in
//! `sources_view.rs`. UI thread.

use std::fmt::Write as _;
use std::sync::Arc;

use egui::RichText;

use super::HeatscopeApp;
use super::document::Part;
use super::slot::{Key, Slot};
use crate::models::cnn_radio::{RadioCnn, RadioReading};
use crate::stats::sources::{FinderOptions, Island, SourceCatalog, find_sources};
use crate::types::{Raster, fmt_num};
use crate::workers::Job;

/// A catalogue and each island's outline (pixel-edge segments in image coordinates).
#[derive(Debug)]
pub struct FoundSources {
    pub catalog: SourceCatalog,
    pub outlines: Vec<Vec<[[f32; 2]; 2]>>,
}

/// One image's sources.
#[derive(Debug, Default)]
pub struct DocSources {
    pub found: Slot<Arc<FoundSources>>,
    /// What `found` was asked for: band, seed, flood and prominence.
    asked: Option<(usize, [f32; 3])>,
    /// The selected island's id.
    pub selected: Option<usize>,
    /// The radio CNN's reading of the selected island's cutout, and the island it read.
    pub reading: Slot<Arc<RadioReading>>,
    reading_for: Option<usize>,
}

impl DocSources {
    pub fn cancel(&mut self) {
        self.found.cancel();
        self.reading.cancel();
    }

    /// Apply a worker event; the failure message, if it failed.
    pub fn apply(&mut self, job: u64, kind: crate::workers::EventKind) -> Option<String> {
        match self.found.apply(job, kind) {
            super::slot::Applied::Failed(why) => Some(why),
            _ => None,
        }
    }

    /// The selected island, when the catalogue is ready and still has it.
    pub fn selected_island(&self) -> Option<&Island> {
        let id = self.selected?;
        self.found.ready()?.catalog.islands.iter().find(|i| i.id == id)
    }

    /// The radio CNN's reading of the selected island, when it is ready and is of that island.
    pub fn selected_reading(&self) -> Option<Arc<RadioReading>> {
        let selected = self.selected?;
        (self.reading_for == Some(selected)).then(|| self.reading.ready().map(Arc::clone)).flatten()
    }

    /// The cutout the models are shown of the selected island: [`CUTOUT_SIDE`] px (the benchmark's
    /// cutouts), or twice the island's extent when it is larger, centred on its centroid.
    pub fn selected_cutout(&self, raster: &Raster) -> Option<(usize, Raster)> {
        let island = self.selected_island()?;
        let band = self.found.ready()?.catalog.band;
        let extent = (island.bbox[2] - island.bbox[0]).max(island.bbox[3] - island.bbox[1]) + 1;
        let side = CUTOUT_SIDE.max(2 * extent);
        Some((island.id, crate::stats::sources::cutout(raster, band, island.x + 0.5, island.y + 0.5, side)))
    }

    /// Select the island under image point `p` (none when it is on no island).
    pub fn select_at(&mut self, p: [f64; 2]) {
        let Some(found) = self.found.ready() else { return };
        if p[0] < 0.0 || p[1] < 0.0 {
            self.selected = None;
            return;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (c, r) = (p[0] as usize, p[1] as usize);
        self.selected = found.catalog.island_at(c, r).map(|i| i.id);
    }
}

/// Side of the cutout a selected source is shown to the models as (RadioQA-sim's cutouts).
pub const CUTOUT_SIDE: usize = 128;

/// App-wide source settings.
pub struct SourcesState {
    /// Find and draw sources on sky images (K).
    pub show: bool,
    pub options: FinderOptions,
    /// The radio CNN, loaded at start.
    pub model: Slot<Arc<RadioCnn>>,
}

impl Default for SourcesState {
    fn default() -> Self {
        Self { show: true, options: FinderOptions::default(), model: Slot::Empty }
    }
}

/// The job that loads the bundled radio CNN.
pub(super) fn load_job() -> Job {
    Job::task("loading the radio CNN", |_| {
        RadioCnn::bundled(&crate::models::compute_device().device).map(Arc::new).map_err(|e| e.to_string())
    })
}

/// The job that reads one cutout.
fn read_job(model: Arc<RadioCnn>, cutout: Raster) -> Job {
    Job::task("radio CNN on the source", move |_| {
        let mut readings = model.read(&[&cutout]).map_err(|e| e.to_string())?;
        readings.pop().unwrap_or_else(|| Err("no reading".into())).map(Arc::new)
    })
}

/// Whether `raster` is a sky image: the finder runs on it by itself.
pub fn is_sky(raster: &Raster) -> bool {
    raster.meta.beam.is_some() || raster.meta.wcs.is_some()
}

impl HeatscopeApp {
    /// Search the active sky image when sources are on and it has not been searched with these
    /// settings.
    pub(super) fn request_sources(&mut self) {
        if !self.sources.show {
            return;
        }
        let opts = self.sources.options.clone();
        let Some(doc) = self.active_doc_mut() else { return };
        let Some(raster) = doc.loaded.as_ref().map(|l| Arc::clone(&l.raster)) else { return };
        if !is_sky(&raster) {
            return;
        }
        let want = (doc.settings.band, [opts.seed_sigma, opts.flood_sigma, opts.prominence_sigma]);
        if doc.sources.asked == Some(want) {
            // The radio CNN reads a newly selected source.
            let model = self.sources.model.ready().map(Arc::clone);
            let Some(doc) = self.active_doc_mut() else { return };
            if doc.sources.reading_for == doc.sources.selected {
                return;
            }
            doc.sources.reading.cancel();
            doc.sources.reading = Slot::Empty;
            doc.sources.reading_for = doc.sources.selected;
            let (Some(model), Some((_, cut))) = (model, doc.sources.selected_cutout(&raster)) else { return };
            let id = doc.id;
            let submitted = self.workers.submit(Key::Doc(id, Part::SourceCnn), read_job(model, cut));
            if let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) {
                doc.sources.reading = Slot::submitted(&submitted);
            }
            return;
        }
        doc.sources.cancel();
        doc.sources.asked = Some(want);
        let id = doc.id;
        let submitted = self.workers.submit(Key::Doc(id, Part::Sources), find_job(raster, want.0, opts));
        if let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) {
            doc.sources.found = Slot::submitted(&submitted);
        }
    }
}

fn find_job(raster: Arc<Raster>, band: usize, opts: FinderOptions) -> Job {
    Job::task("finding sources", move |r| {
        r.progress(0.0, "background, noise and islands");
        let catalog = find_sources(&raster, band, &opts, r.cancel_flag()).map_err(|e| e.to_string())?;
        r.progress(0.9, "outlines");
        let outlines = catalog.islands.iter().map(|i| i.outline(catalog.width)).collect();
        Ok(Arc::new(FoundSources { catalog, outlines }))
    })
}

/// The "Sources" section of the right panel (sky images only).
pub fn section(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    let Some(doc) = app.docs.iter_mut().find(|d| Some(d.id) == app.active) else { return };
    if !doc.loaded.as_ref().is_some_and(|l| is_sky(&l.raster)) {
        return;
    }
    let state = &mut app.sources;
    egui::CollapsingHeader::new(RichText::new("Sources").heading()).id_salt("sources section").default_open(true).show(
        ui,
        |ui| {
            ui.checkbox(&mut state.show, "Find sources (K)").on_hover_text(
                "Islands of emission above the local noise: outlines, peaks (+) and the beam drawn on the image; click an island to select it",
            );
            ui.horizontal(|ui| {
                let o = &mut state.options;
                ui.label("seed");
                ui.add(egui::DragValue::new(&mut o.seed_sigma).range(1.0..=100.0).speed(0.1).suffix(" σ"))
                    .on_hover_text("An island needs a pixel this many sigma above the local background");
                ui.label("flood");
                ui.add(egui::DragValue::new(&mut o.flood_sigma).range(0.5..=100.0).speed(0.1).suffix(" σ"))
                    .on_hover_text("Islands grow down to this many sigma");
                o.flood_sigma = o.flood_sigma.min(o.seed_sigma);
            });
            if !state.show {
                return;
            }
            let unit = doc.loaded.as_ref().and_then(|l| l.raster.meta.unit.clone()).unwrap_or_default();
            match &doc.sources.found {
                Slot::Empty => {}
                Slot::Loading(p) => {
                    let mut cancel = false;
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(format!("finding sources: {}", p.message));
                        cancel = ui.button("Cancel").clicked();
                    });
                    if cancel {
                        doc.sources.found.cancel();
                        doc.sources.found = Slot::Failed("cancelled".into());
                    }
                }
                Slot::Failed(why) => {
                    ui.label(RichText::new(format!("No sources: {why}")).color(ui.visuals().error_fg_color));
                }
                Slot::Ready(found) => {
                    let found = Arc::clone(found);
                    summary(ui, &found.catalog, &unit);
                    list(ui, &found.catalog, &mut doc.sources.selected, &unit);
                    if let Some(island) = doc.sources.selected_island() {
                        details(ui, island, &unit);
                        specialist(ui, &doc.sources.reading, &state.model);
                    }
                }
            }
        },
    );
}

fn summary(ui: &mut egui::Ui, cat: &SourceCatalog, unit: &str) {
    ui.label(format!("{} islands, {} peaks; noise {} {unit}", cat.islands.len(), cat.peak_count(), fmt_num(cat.rms)));
    let rate = cat.false_per_deg2.map_or_else(String::new, |r| format!(" ({} per deg²)", fmt_num(r)));
    ui.label(RichText::new(format!("{} islands on the negated image{rate}", cat.negative_islands)).small().weak())
        .on_hover_text("The same search on the image turned upside down finds only noise and artefacts: about as many false islands are expected among those found");
}

fn list(ui: &mut egui::Ui, cat: &SourceCatalog, selected: &mut Option<usize>, unit: &str) {
    egui::ScrollArea::vertical().id_salt("island list").max_height(160.0).show(ui, |ui| {
        for island in &cat.islands {
            let peak = &island.peaks[0];
            let text = format!(
                "#{}  {}  {:.0}σ  {}",
                island.id,
                island.position.clone().unwrap_or_else(|| format!("{:.0}, {:.0}", island.x, island.y)),
                peak.snr,
                island.flux.map_or_else(|| format!("peak {} {unit}", fmt_num(peak.value)), |f| flux_text(f, unit)),
            );
            let on = *selected == Some(island.id);
            if ui.add(egui::Button::selectable(on, RichText::new(text).small())).clicked() {
                *selected = if on { None } else { Some(island.id) };
            }
        }
    });
}

/// "12.3 mJy" from a flux in the unit with "/beam" dropped.
fn flux_text(flux: f64, unit: &str) -> String {
    let base = unit.trim().trim_end_matches("/beam").trim_end_matches("/BEAM");
    if base.eq_ignore_ascii_case("jy") && flux.abs() < 1.0 {
        format!("{} mJy", fmt_num(flux * 1e3))
    } else {
        format!("{} {base}", fmt_num(flux))
    }
}

fn details(ui: &mut egui::Ui, i: &Island, unit: &str) {
    ui.separator();
    let mut text = String::new();
    let _ = writeln!(text, "island #{}: {} peak(s), {} px", i.id, i.peaks.len(), i.pixels);
    if let Some(p) = &i.position {
        let _ = writeln!(text, "position {p}");
    }
    let _ = writeln!(text, "centroid x {:.1}, y {:.1}", i.x, i.y);
    let peak = &i.peaks[0];
    let _ = writeln!(text, "peak {} {unit} ({:.1}σ)", fmt_num(peak.value), peak.snr);
    if let (Some(f), Some(e)) = (i.flux, i.flux_error) {
        let _ = writeln!(text, "integrated flux {} ± {}", flux_text(f, unit), flux_text(e, unit));
    }
    match (i.major_arcsec, i.minor_arcsec, i.pa_deg) {
        (Some(a), Some(b), Some(pa)) => {
            let _ = writeln!(text, "size {}\" x {}\", PA {:.0}°", fmt_num(a), fmt_num(b), pa);
        }
        _ => {
            let _ = writeln!(text, "size {:.1} x {:.1} px", i.major_px, i.minor_px);
        }
    }
    for (k, p) in i.peaks.iter().enumerate().skip(1) {
        let at = match (p.ra_deg, p.dec_deg) {
            (Some(ra), Some(dec)) => crate::types::sexagesimal(ra, dec),
            _ => format!("x {:.0}, y {:.0}", p.x, p.y),
        };
        let _ = writeln!(text, "peak {}: {at}, {:.1}σ", k + 1, p.snr);
    }
    ui.label(RichText::new(text.trim_end()).monospace().small());
    if ui.button("Copy").on_hover_text("Copy the island's measurements as text").clicked() {
        ui.ctx().copy_text(text);
    }
}

/// The radio CNN's answer on the selected source: each task's label and probability.
fn specialist(ui: &mut egui::Ui, reading: &Slot<Arc<RadioReading>>, model: &Slot<Arc<RadioCnn>>) {
    ui.separator();
    ui.label(RichText::new("Specialist CNN (cnn-radio) on the cutout").strong())
        .on_hover_text("The vision-only radio CNN, trained on RadioQA-sim, read on a 128 px cutout around the island; probabilities calibrated on its val split");
    match (reading, model) {
        (_, Slot::Failed(why)) => {
            ui.label(RichText::new(format!("radio CNN unavailable: {why}")).color(ui.visuals().error_fg_color));
        }
        (Slot::Ready(r), _) => {
            if let Some(why) = &r.out_of_domain {
                ui.label(RichText::new(format!("Out of domain: no answer ({why})")).color(ui.visuals().warn_fg_color));
                return;
            }
            // FR class is only asked of radio galaxies: shown faint when the model sees none.
            let no_galaxy = r.task("galaxy").is_some_and(|g| g.label == "NO");
            egui::Grid::new("radio cnn").num_columns(3).show(ui, |ui| {
                for t in &r.tasks {
                    ui.label(RichText::new(t.task).small());
                    if t.task == "fr" && no_galaxy {
                        ui.label(RichText::new(t.label).weak()).on_hover_text(
                            "FR class is asked only of extended radio galaxies, and the model sees none here",
                        );
                    } else {
                        ui.label(RichText::new(t.label).strong());
                    }
                    ui.add(
                        egui::ProgressBar::new(t.confidence())
                            .desired_width(90.0)
                            .text(format!("{:.0} %", 100.0 * t.confidence())),
                    )
                    .on_hover_text(
                        t.probs.iter().map(|(c, p)| format!("{c} {:.1} %", 100.0 * p)).collect::<Vec<_>>().join("\n"),
                    );
                    ui.end_row();
                }
            });
        }
        (Slot::Failed(why), _) => {
            ui.label(RichText::new(format!("radio CNN failed: {why}")).color(ui.visuals().error_fg_color));
        }
        _ => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("reading the cutout…");
            });
        }
    }
}
