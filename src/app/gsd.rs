//! GSD in the app: the estimator is loaded on a worker at start and runs on a worker when a ground
//! image opens (GeoTIFF, PNG, JPEG; not sky images, not SpectrumQA grids); the result is cached per
//! file. [`HeatscopeApp::resolved_gsd`] is the one place the GSD in use comes from (override, then
//! metadata, then estimate): the badge, the scale bar and the readout all read it. The panel shows
//! the badge with its source, the estimate's density against the metadata value, the crop spread,
//! warnings, and the override (the spoofing test). UI thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, RichText, Stroke};
use egui_plot::{Line, Plot, PlotPoints, VLine};

use super::document::Part;
use super::slot::{Key, Slot, Timed};
use super::{Command, HeatscopeApp};
use crate::models::gsd::{GsdModel, ResolvedGsd, TileEstimate, format_metres, resolve};
use crate::types::{PixelUnit, Raster};
use crate::workers::Job;

/// Everything the app keeps about GSD besides the estimates (those are the documents').
#[derive(Debug, Default)]
pub struct GsdState {
    pub model: Slot<Arc<GsdModel>>,
    /// User overrides in metres, per file.
    pub overrides: HashMap<PathBuf, f64>,
    /// The override text box.
    pub override_input: String,
    /// Use the estimate even where the file has metadata.
    pub ignore_metadata: bool,
    /// Draw the crops and their estimates over the image.
    pub show_crops: bool,
    /// The spoofing sweep's question and points (`gsd_sweep.rs`).
    pub sweep: super::gsd_sweep::SweepUi,
}

/// The job that loads the bundled estimator.
pub(super) fn load_job() -> Job {
    Job::task("loading the GSD estimator", |_| GsdModel::bundled().map(Arc::new).map_err(|e| e.to_string()))
}

/// Whether a raster is a ground image the estimator should look at: not a sky image (pixel size in
/// arcsec), not a SpectrumQA-sim grid or array file, and at least one crop in size.
pub fn is_ground_image(raster: &Raster, path: &std::path::Path, side: usize) -> bool {
    let sky = raster.meta.pixel_size.as_ref().is_some_and(|p| p.unit != PixelUnit::Metres);
    let format = raster.meta.format.to_ascii_lowercase();
    let picture = ["tiff", "png", "jpeg", "jpg"].iter().any(|f| format.contains(f));
    let in_dataset = path.components().any(|c| c.as_os_str() == "scenes");
    !sky && picture && !in_dataset && raster.width >= side && raster.height >= side
}

impl HeatscopeApp {
    /// The GSD in use for the active image, from the one resolver.
    pub fn resolved_gsd(&self) -> Option<ResolvedGsd> {
        let doc = self.active_doc()?;
        let raster = &doc.loaded.as_ref()?.raster;
        let estimate = doc.results.gsd.ready().map(|t| t.value.as_ref());
        resolve(
            raster.meta.pixel_size.as_ref(),
            estimate,
            self.gsd.overrides.get(&doc.path).copied(),
            self.gsd.ignore_metadata,
        )
    }

    /// Estimate the GSD of the active image when it is a ground image not estimated yet.
    pub(super) fn request_gsd(&mut self) {
        let Some(model) = self.gsd.model.ready().cloned() else { return };
        let Some(doc) = self.active_doc_mut() else { return };
        let Some(loaded) = &doc.loaded else { return };
        if !doc.results.gsd.is_empty() || !is_ground_image(&loaded.raster, &doc.path, model.config().input) {
            return;
        }
        let (id, raster) = (doc.id, Arc::clone(&loaded.raster));
        let job = Job::task("estimating the GSD", move |_| {
            Timed::measure(|| model.estimate_raster(&raster).map_err(|e| e.to_string()))
        });
        match self.workers.submit(Key::Doc(id, Part::Gsd), job) {
            Ok(ticket) => {
                if let Some(doc) = self.active_doc_mut() {
                    doc.results.gsd = Slot::loading(&ticket);
                }
            }
            Err(e) => {
                if let Some(doc) = self.active_doc_mut() {
                    doc.results.gsd = Slot::Failed(e.clone());
                }
                self.error(format!("cannot estimate the GSD: {e}"));
            }
        }
    }
}

/// The "GSD" section of the right panel.
pub fn panel(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    let Some(doc) = app.active_doc() else { return };
    let Some(raster) = doc.loaded.as_ref().map(|l| Arc::clone(&l.raster)) else { return };
    let path = doc.path.clone();
    let sky = raster.meta.pixel_size.as_ref().is_some_and(|p| p.unit != PixelUnit::Metres);
    let has_meta = raster.meta.pixel_size.as_ref().is_some_and(|p| p.unit == PixelUnit::Metres);
    let result = doc.results.gsd.clone();
    if sky || (result.is_empty() && !has_meta && !app.gsd.overrides.contains_key(&path)) {
        // Sky images and grids have no ground sampling distance; say nothing.
        return;
    }
    let resolved = app.resolved_gsd();
    egui::CollapsingHeader::new(RichText::new("GSD").heading()).default_open(true).show(ui, |ui| {
        match &resolved {
            Some(r) => {
                ui.label(RichText::new(r.badge()).strong().size(15.0)).on_hover_text(format!(
                    "Ground sampling distance in use: {}.\nThe scale bar and the readout use it.",
                    r.source_text()
                ));
                ui.weak(format!("source: {}", r.source_text()));
                for w in &r.warnings {
                    ui.label(RichText::new(format!("warning: {w}")).color(Color32::from_rgb(240, 170, 60)));
                }
            }
            None => {
                ui.weak("No GSD yet.");
            }
        }
        if let Some(done) = result.show(ui, "estimating from the pixels…", "estimate: ") {
            let (e, ms) = (&done.value, done.ms);
            ui.label(format!(
                "estimate {} (68 %: {} - {})",
                format_metres(e.metres()),
                format_metres(10f64.powf(e.mu - e.sigma)),
                format_metres(10f64.powf(e.mu + e.sigma))
            ))
            .on_hover_text(
                "The estimator's calibrated 1-sigma interval; sigma was scaled on scenes it never trained on",
            );
            let skipped = if e.skipped > 0 { format!(", {} flat skipped", e.skipped) } else { String::new() };
            ui.weak(format!("{} crops, spread x/÷{:.2}{skipped}, {ms:.0} ms", e.crops.len(), 10f64.powf(e.spread)))
                .on_hover_text("The tile is estimated on a grid of crops; their spread shows whether its parts agree");
            density_plot(ui, e, resolved.as_ref().and_then(|r| r.metadata), app.gsd.overrides.get(&path).copied());
        } else if result.is_empty() {
            app.gsd.model.show(ui, "loading the estimator…", "estimator unavailable: ");
        }
        ui.horizontal(|ui| {
            ui.checkbox(&mut app.gsd.ignore_metadata, "ignore metadata")
                .on_hover_text("Use the estimate even where the file is georeferenced (how the estimator is scored)");
            ui.checkbox(&mut app.gsd.show_crops, "crops")
                .on_hover_text("Draw the estimation crops over the image with each crop's GSD");
        });
        ui.horizontal(|ui| {
            let edit = egui::TextEdit::singleline(&mut app.gsd.override_input).desired_width(70.0).hint_text("metres");
            let response = ui.add(edit).accessible_name("GSD override in metres").on_hover_text(
                "Override the GSD (the ScaleEarth spoofing test): the scale bar and readout use this value",
            );
            let enter = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Override").clicked() || enter {
                match app.gsd.override_input.trim().parse::<f64>() {
                    Ok(v) if v > 0.0 && v.is_finite() => {
                        app.gsd.overrides.insert(path.clone(), v);
                    }
                    _ => app.commands.push(Command::Message(format!(
                        "GSD override: {:?} is not a positive number of metres",
                        app.gsd.override_input.trim()
                    ))),
                }
            }
            if app.gsd.overrides.contains_key(&path)
                && ui.button("Clear").on_hover_text("Back to metadata / estimate").clicked()
            {
                app.gsd.overrides.remove(&path);
            }
        });
        super::gsd_sweep::section(app, ui, resolved.as_ref());
    });
    ui.separator();
}

/// The estimate's density over log10 GSD (one curve per crop, faint, and the tile's), with the metadata
/// value and the override as vertical lines.
fn density_plot(ui: &mut egui::Ui, e: &TileEstimate, metadata: Option<f64>, override_m: Option<f64>) {
    let gauss = |mu: f64, s: f64| {
        let lo = mu - 4.0 * s;
        PlotPoints::from_iter((0..=120).map(move |i| {
            let x = lo + 8.0 * s * i as f64 / 120.0;
            [x, (-(x - mu).powi(2) / (2.0 * s * s)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt())]
        }))
    };
    Plot::new("gsd density")
        .height(110.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show_y(false)
        .y_axis_label("density")
        .x_axis_label("log10 GSD (m)")
        .show(ui, |plot| {
            plot.line(
                Line::new("estimate", gauss(e.mu, e.sigma)).stroke(Stroke::new(2.0, Color32::from_rgb(90, 170, 250))),
            );
            if let Some(m) = metadata {
                plot.vline(
                    VLine::new("metadata", m.log10()).stroke(Stroke::new(2.0, Color32::from_rgb(120, 210, 120))),
                );
            }
            if let Some(m) = override_m {
                plot.vline(VLine::new("override", m.log10()).stroke(Stroke::new(2.0, Color32::from_rgb(240, 170, 60))));
            }
        })
        .response
        .on_hover_text("Blue: the estimate's density; green: the metadata value; orange: your override");
}

/// The crops and their GSD over the image; `to_screen` maps image pixels to screen points.
pub fn overlay(painter: &egui::Painter, e: &TileEstimate, side: f32, to_screen: impl Fn(f32, f32) -> egui::Pos2) {
    for c in &e.crops {
        let (x, y) = (c.x as f32, c.y as f32);
        let rect = egui::Rect::from_two_pos(
            to_screen(x - side / 2.0, y - side / 2.0),
            to_screen(x + side / 2.0, y + side / 2.0),
        );
        painter.rect_stroke(rect, 0.0, Stroke::new(1.5, Color32::from_rgb(90, 170, 250)), egui::StrokeKind::Middle);
        let text = format_metres(10f64.powf(c.mu));
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            text,
            egui::FontId::proportional(11.0),
            Color32::WHITE,
        );
    }
}
