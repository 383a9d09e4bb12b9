//! The CNN in the app: the model is loaded on a worker at start, runs on a worker when a heatmap opens
//! (when "run on open" is on) or when asked (C), and its reading is cached per file. The panel shows the
//! calibrated class probabilities as bars, the answers for every level it covers and the toggles; the
//! overlay draws its box, exceedance mask and saliency over the image. UI thread.

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, FontId, Painter, Rect, RichText, Stroke, vec2};

use super::slot::{Slot, Timed};
use super::{Command, HeatscopeApp};
use crate::eval::score_question;
use crate::models::cnn::{CnnModel, CnnNet, CnnReading};
use crate::types::{QaRecord, QuestionKind, REGIONS, Raster, SEVERITY_CLASSES};
use crate::workers::Job;

/// What the user chose (kept between runs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CnnSettings {
    /// Run the CNN on every square single-band I/N grid that opens (arrays or dB values; not
    /// georeferenced tiles, photos or sky images).
    pub run_on_open: bool,
    pub show_box: bool,
    pub show_mask: bool,
    pub show_saliency: bool,
    /// Opacity of the saliency and mask overlays, 0-1.
    pub opacity: f32,
}

impl Default for CnnSettings {
    fn default() -> Self {
        CnnSettings { run_on_open: true, show_box: true, show_mask: false, show_saliency: false, opacity: 0.5 }
    }
}

/// Everything the app keeps about the CNN besides the readings (those are the documents').
#[derive(Debug, Default)]
pub struct CnnState {
    pub model: Slot<Arc<CnnModel>>,
}

impl CnnState {
    pub fn model(&self) -> Option<&Arc<CnnModel>> {
        self.model.ready()
    }
}

/// The job that loads the CNN: the folder given, or the bundled model.
pub(super) fn load_job(dir: Option<PathBuf>) -> Job {
    let what = match &dir {
        Some(d) => format!("loading the CNN from {}", d.display()),
        None => "loading the bundled CNN".into(),
    };
    Job::task(what, move |_| {
        let device = crate::models::compute_device().device;
        let model = match &dir {
            Some(d) => CnnModel::load(d, &device),
            None => CnnModel::bundled(&device),
        };
        model.map(Arc::new).map_err(|e| e.to_string())
    })
}

/// The job that reads one raster (band 1 of a square grid in dB).
pub(super) fn run_job(model: Arc<CnnModel>, raster: Arc<Raster>) -> Job {
    Job::task("running the CNN", move |_| {
        Timed::measure(|| {
            crate::workers::cnn_input(&raster)?;
            let mut readings = model.read_grids(&[&raster.bands[0]], raster.width).map_err(|e| e.to_string())?;
            if readings.is_empty() {
                return Err("the CNN returned nothing".into());
            }
            let mut reading = readings.remove(0);
            let unit = crate::models::cnn::domain::unit_reason(raster.meta.unit.as_deref());
            reading.domain = reading.domain.overruled(unit);
            Ok(reading)
        })
    })
}

/// The "CNN" section of the right panel.
pub fn panel(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    egui::CollapsingHeader::new(RichText::new("CNN").heading()).default_open(true).show(ui, |ui| {
        ui.horizontal(|ui| {
            if ui
                .small_button("Load…")
                .on_hover_text("Use another CNN folder: heatscope's own (config.json) or your torchvision ResNet (heatscope.json)")
                .clicked()
            {
                app.commands.push(Command::LoadCnnDialog);
            }
            if app.cnn_dir.is_some()
                && ui.small_button("Bundled").on_hover_text("Go back to the bundled cnn-spectrum").clicked()
            {
                app.commands.push(Command::LoadCnn(None));
            }
            let from = app.cnn_dir.as_ref().map_or_else(|| "bundled cnn-spectrum".to_string(), |d| d.display().to_string());
            ui.add(egui::Label::new(RichText::new(&from).weak()).truncate()).on_hover_text(format!("The CNN in use: {from}"));
        });
        let settings = &mut app.persisted.cnn;
        if let Some(m) = app.cnn.model.show(ui, "loading the model…", "The CNN could not be loaded: ") {
            let cal = &m.calibration;
            let what = match &m.net {
                CnnNet::Spectrum(_) => "The SpectrumQA CNN: L1 severity, L2 regions, L3 box.",
                CnnNet::Torchvision(_) => "Your own CNN, imported from a torchvision ResNet checkpoint with heatscope.json: it answers the L1 classes it was trained on (and L3 when it has a box head), nothing else.",
            };
            match m.uncalibrated() {
                None => {
                    let calibrated = format!("calibrated on {} val scenes (T = {:.2})", cal.val_scenes, cal.temperature);
                    ui.weak(format!("{}, {}", m.net.describe(), calibrated))
                        .on_hover_text(format!("{what} Confidences are temperature-scaled on the validation split."));
                }
                Some(why) => {
                    ui.weak(m.net.describe()).on_hover_text(what);
                    ui.label(
                        RichText::new("Uncalibrated: no calibration.json, so the confidences are the raw softmax")
                            .color(ui.visuals().warn_fg_color),
                    )
                    .on_hover_text(why);
                }
            }
        } else if app.cnn.model.failure().is_some() {
            return;
        }
        ui.horizontal(|ui| {
            ui.checkbox(&mut settings.run_on_open, "run on open")
                .on_hover_text("Run the CNN on a worker whenever a square single-band I/N grid opens (NumPy/CSV arrays or dB values; not tiles, photos or sky images)")
                .accessible_name("run the CNN on open");
            let can_run = app.cnn.model().is_some() && app.active.is_some();
            if ui
                .add_enabled(can_run, egui::Button::new("Run (C)"))
                .on_hover_text("Run the CNN on this image now (results are cached per file)")
                .clicked()
            {
                app.commands.push(Command::RunCnn);
            }
        });
        ui.horizontal(|ui| {
            ui.checkbox(&mut settings.show_box, "box").on_hover_text("The predicted L3 region box (B)");
            ui.checkbox(&mut settings.show_mask, "mask")
                .on_hover_text("Cells the CNN thinks exceed the protection criterion (M)");
            ui.checkbox(&mut settings.show_saliency, "saliency")
                .on_hover_text("Class activation of the predicted class (Grad-CAM for this network): what the decision rests on stays bright, the rest is dimmed (S)");
        });
        ui.add(egui::Slider::new(&mut settings.opacity, 0.0..=1.0).text("overlay opacity"))
            .on_hover_text("Opacity of the mask and saliency overlays");
        let Some(doc) = app.active_doc() else { return };
        let result = &doc.results.cnn;
        if result.is_empty() {
            match doc.loaded.as_ref().map(|l| crate::workers::cnn_input(&l.raster)) {
                Some(Err(why)) => {
                    ui.weak(format!("Not run: {why}."));
                }
                _ => {
                    ui.weak("Not run on this image (it does not look like an I/N grid in dB). Press C to run it anyway.");
                }
            }
        }
        if let Some(done) = result.show(ui, "running…", "") {
            let truth = app.samples.as_ref().filter(|s| s.owns(&doc.path)).map(|s| s.current_records());
            reading_view(ui, &done.value, done.ms, truth.as_deref().unwrap_or_default());
        }
    });
    ui.separator();
}

/// Colours of a right and a wrong answer.
pub const RIGHT: Color32 = Color32::from_rgb(110, 200, 110);
pub const WRONG: Color32 = Color32::from_rgb(230, 110, 90);

/// The CNN's answer to every question of the scene it answers (L1 class, L2 per region, L3 box) beside
/// the truth, scored by the one per-question scorer.
fn truth_view(ui: &mut egui::Ui, r: &CnnReading, questions: &[&QaRecord]) {
    let answered: Vec<(&QaRecord, crate::types::Prediction)> =
        questions.iter().filter_map(|q| r.answer(q).map(|p| (*q, p))).collect();
    if answered.is_empty() {
        return;
    }
    let right = answered.iter().filter(|(q, p)| score_question(q, Some(p)).correct).count();
    ui.label(RichText::new(format!("against the truth: {right} of {} right", answered.len())).strong())
        .on_hover_text("Every question of this scene the CNN answers, scored as `heatscope eval` scores it (L3: IoU of at least 0.5 counts as right)");
    egui::Grid::new("cnn vs truth").num_columns(3).striped(true).show(ui, |ui| {
        for (q, p) in &answered {
            let s = score_question(q, Some(p));
            ui.label(RichText::new(format!("{} {}", q.level.name(), kind_label(q))).small()).on_hover_text(&q.question);
            ui.label(RichText::new(super::panels::clip(p.answer.trim(), 14)).small())
                .on_hover_text(format!("CNN: {}\ntruth: {}", p.answer, q.answer));
            ui.label(RichText::new(&s.verdict).small().color(if s.correct { RIGHT } else { WRONG }))
                .on_hover_text(format!("truth: {}", q.answer));
            ui.end_row();
        }
    });
}

/// A question's kind, with the region it asks about where it asks about one.
fn kind_label(q: &QaRecord) -> String {
    let region = REGIONS.iter().find(|x| q.question.contains(&format!(" {x} ")));
    match (q.kind, region) {
        (QuestionKind::RegionAffected, Some(r)) => format!("{r} affected"),
        (kind, _) => kind.name().replace('_', " "),
    }
}

/// An out-of-domain reading: greyed, the reason, no class; the model's numbers only on request.
fn out_of_domain_view(ui: &mut egui::Ui, r: &CnnReading, ms: f64) {
    let why = r.domain.reason.as_deref().unwrap_or("the map is unlike the CNN's training maps");
    ui.label(RichText::new("Out of domain: no answer").strong().color(ui.visuals().weak_text_color()))
        .on_hover_text("The CNN checks whether a map is the kind it was trained on (an I/N map in dB) before it answers; this one is not, so its class would mean nothing");
    ui.label(RichText::new(why).color(ui.visuals().weak_text_color()).italics());
    egui::CollapsingHeader::new(RichText::new("what the model would have said").weak()).default_open(false).show(
        ui,
        |ui| {
            let class = SEVERITY_CLASSES[r.severity];
            ui.weak(format!(
                "{class} ({:.0} %), not to be trusted on this input (domain score {:.1}, limit 1)",
                100.0 * r.probs.get(r.severity).copied().unwrap_or(0.0),
                r.domain.score
            ));
        },
    );
    ui.weak(format!("{ms:.0} ms on a worker"));
}

fn reading_view(ui: &mut egui::Ui, r: &CnnReading, ms: f64, questions: &[&QaRecord]) {
    if r.domain.out_of_domain {
        out_of_domain_view(ui, r, ms);
        return;
    }
    let class = SEVERITY_CLASSES[r.severity];
    let p = r.probs.get(r.severity).copied().unwrap_or(0.0);
    ui.label(RichText::new(format!("severity: {class} ({:.0} %)", p * 100.0)).strong())
        .on_hover_text("L1 class with its calibrated probability");
    truth_view(ui, r, questions);
    // Class probabilities as bars.
    for (k, name) in SEVERITY_CLASSES.iter().enumerate() {
        let v = r.probs.get(k).copied().unwrap_or(0.0);
        ui.horizontal(|ui| {
            ui.add_sized([70.0, 16.0], egui::Label::new(*name));
            let bar = egui::ProgressBar::new(v).desired_width(150.0).text(format!("{:.1} %", v * 100.0));
            let bar = if k == r.severity { bar.fill(Color32::from_rgb(230, 140, 40)) } else { bar };
            ui.add(bar).accessible_name(format!("probability {name}"));
        });
    }
    if r.heads.bbox {
        let region = match r.bbox {
            Some(b) => format!("region: [{:.2}, {:.2}, {:.2}, {:.2}]", b[0], b[1], b[2], b[3]),
            None => "region: none".to_string(),
        };
        ui.label(format!("{region}  (p = {:.0} %)", r.region_prob * 100.0)).on_hover_text(
            "L3 box (x0, y0, x1, y1 as fractions of the image) and the probability that there is a region",
        );
    } else {
        ui.weak("no box head: this model gives no L3 region");
    }
    if !r.heads.regions {
        ui.weak("no region head: this model gives no L2 answers");
        ui.weak(format!("{ms:.0} ms on a worker"));
        return;
    }
    egui::Grid::new("cnn regions").num_columns(3).striped(true).show(ui, |ui| {
        ui.weak("region");
        ui.weak("affected").on_hover_text(if r.regions_from_mask {
            "yes when at least 10 % of the region's mask cells exceed the criterion (the share is shown)"
        } else {
            "the region head's probability that at least 10 % of the region exceeds the criterion"
        });
        ui.weak("p95 I/N");
        ui.end_row();
        for (k, name) in REGIONS.iter().enumerate() {
            ui.label(*name);
            let answer = if r.region_affected[k] { "yes" } else { "no" };
            ui.label(format!("{answer} ({:.0} %)", r.region_score[k] * 100.0));
            ui.label(format!("{:.1} dB", r.region_p95_db[k]));
            ui.end_row();
        }
    });
    ui.weak(format!("{ms:.0} ms on a worker"));
}

/// The saliency overlay dims what the decision did not rest on: black, more opaque where the class
/// activation is low, so the salient part keeps its colours on any colormap.
fn heat(v: f32, opacity: f32) -> Color32 {
    Color32::from_black_alpha((255.0 * opacity * (1.0 - v.clamp(0.0, 1.0))) as u8)
}

/// Bilinear sample of an `n x n` grid at cell-centre coordinates (u, v) in [0, 1].
fn sample(grid: &[f32], n: usize, u: f32, v: f32) -> f32 {
    let x = (u * n as f32 - 0.5).clamp(0.0, (n - 1) as f32);
    let y = (v * n as f32 - 0.5).clamp(0.0, (n - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(n - 1), (y0 + 1).min(n - 1));
    let (fx, fy) = (x.fract(), y.fract());
    let top = grid[y0 * n + x0] * (1.0 - fx) + grid[y0 * n + x1] * fx;
    let bottom = grid[y1 * n + x0] * (1.0 - fx) + grid[y1 * n + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// The top edge of the reading's box on screen, when it has one.
fn r_top(r: &CnnReading, to_screen: &impl Fn(f32, f32) -> egui::Pos2) -> Option<f32> {
    r.bbox.map(|b| to_screen(b[0], b[1]).y.min(to_screen(b[2], b[3]).y))
}

/// Draw the reading over the image; `to_screen` maps normalized image coordinates to screen points.
pub fn overlay(painter: &Painter, r: &CnnReading, settings: &CnnSettings, to_screen: impl Fn(f32, f32) -> egui::Pos2) {
    if r.domain.out_of_domain {
        // No class, box or mask on an input of another kind: one grey tag says why not.
        let galley = painter.layout_no_wrap(
            "CNN: out of domain, no answer".into(),
            FontId::proportional(12.0),
            Color32::from_gray(230),
        );
        let at = to_screen(0.0, 0.0) + vec2(4.0, 4.0);
        painter.rect_filled(Rect::from_min_size(at, galley.size() + vec2(6.0, 2.0)), 2.0, Color32::from_gray(90));
        painter.galley(at + vec2(3.0, 1.0), galley, Color32::from_gray(230));
        return;
    }
    let cells = |grid: &[f32], n: usize, k: usize, color: &dyn Fn(f32) -> Color32| {
        let mut mesh = egui::Mesh::default();
        for row in 0..k {
            for col in 0..k {
                let (u0, v0) = (col as f32 / k as f32, row as f32 / k as f32);
                let (u1, v1) = ((col + 1) as f32 / k as f32, (row + 1) as f32 / k as f32);
                let value = sample(grid, n, (u0 + u1) / 2.0, (v0 + v1) / 2.0);
                let c = color(value);
                if c.a() > 0 {
                    mesh.add_colored_rect(Rect::from_two_pos(to_screen(u0, v0), to_screen(u1, v1)), c);
                }
            }
        }
        painter.add(egui::Shape::mesh(mesh));
    };
    if settings.show_saliency && r.saliency_side > 0 {
        cells(&r.saliency, r.saliency_side, 48, &|v| heat(v, settings.opacity));
    }
    if settings.show_mask && r.mask_side > 0 {
        let a = (255.0 * settings.opacity) as u8;
        let on = Color32::from_rgba_unmultiplied(40, 220, 255, a);
        cells(&r.mask, r.mask_side, r.mask_side, &|p| if p > 0.5 { on } else { Color32::TRANSPARENT });
    }
    if settings.show_box {
        let p = r.probs.get(r.severity).copied().unwrap_or(0.0);
        let label = format!("CNN: {} {:.0} %", SEVERITY_CLASSES[r.severity], p * 100.0);
        let orange = Color32::from_rgb(255, 150, 30);
        let anchor = match r.bbox {
            Some(b) => {
                let rect = Rect::from_two_pos(to_screen(b[0], b[1]), to_screen(b[2], b[3]));
                painter.rect_stroke(rect, 0.0, Stroke::new(4.0, Color32::BLACK), egui::StrokeKind::Middle);
                painter.rect_stroke(rect, 0.0, Stroke::new(2.5, orange), egui::StrokeKind::Middle);
                rect.left_bottom() + vec2(0.0, 2.0)
            }
            None => to_screen(0.0, 0.0) + vec2(4.0, 4.0),
        };
        let text = if !r.heads.bbox {
            label
        } else if r.bbox.is_some() {
            format!("{label} · region {:.0} %", r.region_prob * 100.0)
        } else {
            format!("{label} · no region ({:.0} %)", (1.0 - r.region_prob) * 100.0)
        };
        let galley = painter.layout_no_wrap(text, FontId::proportional(12.0), Color32::BLACK);
        // Inside the visible part of the view, even when the box reaches its bottom or side.
        let size = galley.size() + vec2(6.0, 2.0);
        let view = painter.clip_rect();
        let mut at = anchor;
        if at.y + size.y > view.max.y {
            at.y = r_top(r, &to_screen).map_or(view.max.y - size.y, |top| top - size.y - 2.0);
        }
        at.x = at.x.clamp(view.min.x, (view.max.x - size.x).max(view.min.x));
        at.y = at.y.clamp(view.min.y, (view.max.y - size.y).max(view.min.y));
        painter.rect_filled(Rect::from_min_size(at, size), 2.0, orange);
        painter.galley(at + vec2(3.0, 1.0), galley, Color32::BLACK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_sample_hits_cell_centres_and_clamps() {
        let g = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(sample(&g, 2, 0.25, 0.25), 0.0);
        assert_eq!(sample(&g, 2, 0.75, 0.75), 3.0);
        assert_eq!(sample(&g, 2, 0.5, 0.25), 0.5);
        assert_eq!(sample(&g, 2, 0.0, 1.0), 2.0);
        assert_eq!(heat(1.0, 1.0).a(), 0);
        assert_eq!(heat(0.0, 0.5).a(), 127);
    }
}
