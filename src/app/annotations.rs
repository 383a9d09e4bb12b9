//! Other tools' annotations on the image: the files beside it (same name, .xml / .json / .geojson /
//! .txt / .csv) are read on a worker when it first shows, more are added with "Add file…" (or File >
//! Add annotations…); each file is a layer toggled on its own, all of them with A. Boxes, polygons
//! and points are painted in one colour per label (labels written where there is room), counted per
//! label in the "Annotations" section, and exported merged into one file of any format on a worker.
//! UI thread.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui::{Color32, Painter, RichText, Stroke};

use super::HeatscopeApp;
use super::document::Part;
use super::measure_view::Geometry;
use super::slot::{Key, Slot};
use crate::io::annotations::{self as ann, AnnotationError, ImageContext};
use crate::types::{AnnotationFormat, AnnotationSet, AnnotationShape, Raster};
use crate::workers::Job;

/// One file read (or refused) for an image.
#[derive(Debug)]
pub struct AnnotationFile {
    pub path: PathBuf,
    pub read: Result<AnnotationSet, String>,
    /// Found beside the image but not an annotation file (a data CSV, a readme .txt): listed quietly.
    pub not_annotations: bool,
}

/// One batch of files read by one job: the sidecars, or files the user added.
pub type Batch = Arc<Vec<AnnotationFile>>;

/// An image's annotation layers.
#[derive(Debug, Default)]
pub struct DocAnnotations {
    /// Batch 0 holds the sidecars (asked for once), later ones the files added.
    pub batches: Vec<Slot<Batch>>,
    /// Files the user turned off.
    pub hidden: HashSet<PathBuf>,
    /// Where Export writes, and in which format.
    pub export_path: String,
    pub export_format: Option<AnnotationFormat>,
    pub export: Slot<Arc<String>>,
    /// Annotations on screen left out of the last frame (over [`MAX_DRAWN`]).
    pub left_out: usize,
}

impl DocAnnotations {
    /// Every file read, in order.
    pub fn files(&self) -> impl Iterator<Item = &AnnotationFile> {
        self.batches.iter().filter_map(Slot::ready).flat_map(|b| b.iter())
    }

    /// The sets shown.
    pub fn shown(&self) -> impl Iterator<Item = &AnnotationSet> {
        self.files().filter(|f| !self.hidden.contains(&f.path)).filter_map(|f| f.read.as_ref().ok())
    }

    pub fn busy(&self) -> bool {
        self.batches.iter().any(Slot::is_loading) || self.export.is_loading()
    }

    pub fn cancel_all(&mut self) {
        for b in &mut self.batches {
            b.cancel();
        }
        self.export.cancel();
    }

    /// Apply a worker event; the failure message, if the job failed.
    pub fn apply(&mut self, part: Part, job: u64, kind: crate::workers::EventKind) -> Option<String> {
        let applied = match part {
            Part::Annotations(k) => self.batches.get_mut(k)?.apply(job, kind),
            Part::AnnotationExport => self.export.apply(job, kind),
            _ => return None,
        };
        match applied {
            super::slot::Applied::Failed(why) => Some(why),
            _ => None,
        }
    }
}

/// Read `paths` for the image `raster` shows; `quiet` marks files that are not annotations instead of
/// failing them (the sidecar search).
fn read_job(raster: Arc<Raster>, paths: Option<Vec<PathBuf>>) -> Job {
    Job::task("reading annotations", move |r| {
        let image = ImageContext::of(&raster);
        let sidecar_search = paths.is_none();
        let paths = paths.unwrap_or_else(|| ann::sidecars(&raster.meta.path));
        let mut out = Vec::new();
        for (k, path) in paths.into_iter().enumerate() {
            if r.cancelled() {
                return Err("cancelled".into());
            }
            r.progress(0.0, format!("file {}", k + 1));
            let read = ann::read(&path, &image);
            let not_annotations = sidecar_search
                && (matches!(read, Err(AnnotationError::Unrecognized { .. })) || read.is_err() && !recognized(&path));
            out.push(AnnotationFile { path, read: read.map_err(|e| e.to_string()), not_annotations });
        }
        Ok(Arc::new(out))
    })
}

/// Whether the first 8 KiB of `path` read as annotations (false when unreadable).
fn recognized(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(8192).read_to_end(&mut head)).is_ok() && ann::recognizes(&head)
}

impl HeatscopeApp {
    /// Look for the active image's sidecar annotations once it has loaded.
    pub(super) fn request_annotations(&mut self) {
        let Some(doc) = self.active_doc_mut() else { return };
        let Some(raster) = doc.loaded.as_ref().map(|l| Arc::clone(&l.raster)) else { return };
        if !doc.annotations.batches.is_empty() || raster.meta.path.as_os_str().is_empty() {
            return;
        }
        let id = doc.id;
        self.submit_annotations(id, raster, None);
    }

    /// Add annotation files to the active image.
    pub(super) fn add_annotations(&mut self, paths: Vec<PathBuf>) {
        let Some(doc) = self.active_doc() else {
            return self.error("open an image first, then add its annotations".into());
        };
        let Some(raster) = doc.loaded.as_ref().map(|l| Arc::clone(&l.raster)) else {
            return self.error("the image has not loaded yet; add its annotations when it shows".into());
        };
        let id = doc.id;
        self.submit_annotations(id, raster, Some(paths));
    }

    fn submit_annotations(&mut self, id: u64, raster: Arc<Raster>, paths: Option<Vec<PathBuf>>) {
        let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) else { return };
        // The sidecars are batch 0 even when a file is added first.
        if doc.annotations.batches.is_empty() && paths.is_some() {
            doc.annotations.batches.push(Slot::Empty);
            let sidecars = read_job(Arc::clone(&raster), None);
            let slot = Slot::submitted(&self.workers.submit(Key::Doc(id, Part::Annotations(0)), sidecars));
            if let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) {
                doc.annotations.batches[0] = slot;
            }
        }
        let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) else { return };
        let k = doc.annotations.batches.len();
        doc.annotations.batches.push(Slot::Empty);
        let slot = Slot::submitted(&self.workers.submit(Key::Doc(id, Part::Annotations(k)), read_job(raster, paths)));
        if let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) {
            doc.annotations.batches[k] = slot;
        }
    }

    /// Write every annotation shown into one file.
    fn export_annotations(&mut self) {
        let Some(doc) = self.active_doc() else { return };
        let Some(raster) = doc.loaded.as_ref().map(|l| Arc::clone(&l.raster)) else { return };
        let a = &doc.annotations;
        let format = a.export_format.unwrap_or(AnnotationFormat::Coco);
        let path = PathBuf::from(a.export_path.trim());
        if a.export_path.trim().is_empty() {
            return self.error("type where to export the annotations".into());
        }
        let mut merged = AnnotationSet { source: path.clone(), format, items: Vec::new(), notes: Vec::new() };
        for set in a.shown() {
            merged.items.extend(set.items.iter().cloned());
        }
        let id = doc.id;
        let job = Job::task("exporting annotations", move |_| {
            let image = ImageContext::of(&raster);
            let notes = ann::write(&merged, format, &image, &path).map_err(|e| e.to_string())?;
            let mut text =
                format!("wrote {} annotations as {} to {}", merged.items.len(), format.title(), path.display());
            if !notes.is_empty() {
                text += &format!(" ({})", notes.join("; "));
            }
            Ok(Arc::new(text))
        });
        let slot = Slot::submitted(&self.workers.submit(Key::Doc(id, Part::AnnotationExport), job));
        if let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) {
            doc.annotations.export = slot;
        }
    }
}

/// A label's colour: the same label always gets the same one.
pub fn label_colour(label: &str) -> Color32 {
    const PALETTE: [Color32; 8] = [
        Color32::from_rgb(255, 80, 80),
        Color32::from_rgb(80, 200, 255),
        Color32::from_rgb(255, 200, 40),
        Color32::from_rgb(120, 240, 120),
        Color32::from_rgb(230, 120, 255),
        Color32::from_rgb(255, 150, 60),
        Color32::from_rgb(60, 230, 200),
        Color32::from_rgb(250, 250, 250),
    ];
    // FNV-1a: stable across runs and platforms.
    let h = label.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    PALETTE[(h % PALETTE.len() as u64) as usize]
}

/// Most annotations drawn in one frame: beyond it the smallest on screen are left out (a million
/// boxes zoomed out would stall the UI thread).
pub const MAX_DRAWN: usize = 20_000;

/// Paint the shown annotations; a label is written on a shape wide enough on screen to hold it.
/// Returns how many on screen were left out to stay within [`MAX_DRAWN`].
pub fn paint(painter: &Painter, sets: &[&AnnotationSet], g: &Geometry) -> usize {
    let clip = painter.clip_rect();
    let mut visible: Vec<(&crate::types::Annotation, egui::Rect)> = sets
        .iter()
        .flat_map(|s| s.items.iter())
        .filter_map(|a| {
            let b = a.shape.bounds()?;
            let r = egui::Rect::from_two_pos(g.screen_at([b[0], b[1]]), g.screen_at([b[2], b[3]]));
            r.intersects(clip).then_some((a, r))
        })
        .collect();
    let mut left_out = 0;
    if visible.len() > MAX_DRAWN {
        let size = |r: &egui::Rect| r.width().max(r.height());
        visible.select_nth_unstable_by(MAX_DRAWN, |x, y| size(&y.1).total_cmp(&size(&x.1)));
        left_out = visible.len() - MAX_DRAWN;
        visible.truncate(MAX_DRAWN);
    }
    for (a, r) in visible {
        let colour = label_colour(&a.label);
        let stroke = Stroke::new(1.5, colour);
        match &a.shape {
            AnnotationShape::Box { .. } => {
                painter.rect_stroke(r, 0.0, Stroke::new(3.0, Color32::from_black_alpha(160)), egui::StrokeKind::Middle);
                painter.rect_stroke(r, 0.0, stroke, egui::StrokeKind::Middle);
            }
            AnnotationShape::Polygon(v) => {
                let pts: Vec<egui::Pos2> = v.iter().map(|p| g.screen_at(*p)).collect();
                for k in 0..pts.len() {
                    painter.line_segment([pts[k], pts[(k + 1) % pts.len()]], stroke);
                }
            }
            AnnotationShape::Point(p) => {
                painter.circle(g.screen_at(*p), 4.0, colour, Stroke::new(1.0, Color32::BLACK));
            }
        }
        let text = match a.score {
            Some(s) => format!("{} {:.2}", a.label, s),
            None => a.label.clone(),
        };
        #[allow(clippy::cast_precision_loss)]
        let room = r.width() >= 7.0 * text.chars().count() as f32;
        if room {
            let galley = painter.layout_no_wrap(text, egui::FontId::proportional(11.0), colour);
            let at = r.left_top() - egui::vec2(0.0, galley.size().y + 1.0);
            let plate = egui::Rect::from_min_size(at, galley.size() + egui::vec2(4.0, 0.0));
            painter.rect_filled(plate, 2.0, Color32::from_black_alpha(170));
            painter.galley(at + egui::vec2(2.0, 0.0), galley, colour);
        }
    }
    left_out
}

/// The "Annotations" section: one row per file (toggle, format, count, notes or why it failed), the
/// counts per label with their colours, Add file… and Export.
pub fn section(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    let mut add = false;
    let mut export = false;
    let show = &mut app.show_annotations;
    let Some(doc) = app.docs.iter_mut().find(|d| Some(d.id) == app.active) else { return };
    if doc.loaded.is_none() {
        return;
    }
    let stem = doc.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let folder = doc.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let a = &mut doc.annotations;
    let batches: Vec<Batch> = a.batches.iter().filter_map(|s| s.ready().cloned()).collect();
    let files: Vec<&AnnotationFile> = batches.iter().flat_map(|b| b.iter()).collect();
    let total: usize = a.shown().map(|s| s.items.len()).sum();
    let title = if total > 0 { format!("Annotations ({total})") } else { "Annotations".into() };
    egui::CollapsingHeader::new(RichText::new(title).heading()).id_salt("annotations section").default_open(true).show(
        ui,
        |ui| {
            ui.horizontal(|ui| {
                ui.checkbox(show, "Show (A)").on_hover_text("All annotation layers on or off");
                add = ui
                    .button("Add file…")
                    .on_hover_text("COCO JSON, YOLO .txt, Pascal VOC XML, GeoJSON or DeepForest CSV")
                    .clicked();
            });
            let mut toggles = Vec::new();
            for f in files.iter().filter(|f| !f.not_annotations) {
                let name = f.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                match &f.read {
                    Ok(set) => {
                        let mut on = !a.hidden.contains(&f.path);
                        if ui
                            .checkbox(&mut on, format!("{name}: {} {}", set.items.len(), set.format.title()))
                            .on_hover_text(f.path.display().to_string())
                            .changed()
                        {
                            toggles.push((f.path.clone(), on));
                        }
                        for note in &set.notes {
                            ui.add(egui::Label::new(RichText::new(note).small().weak()).wrap());
                        }
                    }
                    Err(why) => {
                        ui.add(
                            egui::Label::new(
                                RichText::new(format!("{name}: {why}")).color(ui.visuals().error_fg_color),
                            )
                            .wrap(),
                        );
                    }
                }
            }
            for (path, on) in toggles {
                if on {
                    a.hidden.remove(&path);
                } else {
                    a.hidden.insert(path);
                }
            }
            let skipped: Vec<String> = files
                .iter()
                .filter(|f| f.not_annotations)
                .filter_map(|f| f.path.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            if !skipped.is_empty() {
                ui.weak(format!("not annotations: {}", skipped.join(", ")))
                    .on_hover_text("Files beside the image with its name that no annotation reader recognizes");
            }
            if a.batches.iter().any(Slot::is_loading) {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.weak("reading annotations…");
                });
            } else if files.iter().all(|f| f.not_annotations) {
                ui.weak("No annotation file beside this image (same name, .xml, .json, .geojson, .txt or .csv).");
            }
            let mut counts = std::collections::BTreeMap::new();
            for set in a.shown() {
                for (label, n) in set.counts() {
                    *counts.entry(label).or_insert(0) += n;
                }
            }
            for (label, n) in &counts {
                ui.horizontal(|ui| {
                    let (r, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                    ui.painter().rect_stroke(
                        r.shrink(1.0),
                        0.0,
                        Stroke::new(2.0, label_colour(label)),
                        egui::StrokeKind::Middle,
                    );
                    ui.label(format!("{label}: {n}"));
                });
            }
            if total > 0 {
                ui.separator();
                let format = a.export_format.get_or_insert(AnnotationFormat::Coco);
                let before = *format;
                ui.horizontal(|ui| {
                    egui::ComboBox::from_id_salt("annotation export format")
                        .selected_text(format.title())
                        .show_ui(ui, |ui| {
                            for f in AnnotationFormat::ALL {
                                ui.selectable_value(format, f, f.title());
                            }
                        })
                        .response
                        .accessible_name("Export format")
                        .on_hover_text("The format Export writes");
                    export = ui
                        .add_enabled(!a.export.is_loading(), egui::Button::new("Export"))
                        .on_hover_text("Write every annotation shown into one file (replaced atomically)")
                        .clicked();
                });
                let format = *format;
                if a.export_path.is_empty() || before != format {
                    a.export_path =
                        folder.join(format!("{stem}.annotations.{}", format.extension())).display().to_string();
                }
                ui.add(egui::TextEdit::singleline(&mut a.export_path).desired_width(ui.available_width()))
                    .on_hover_text("Where Export writes");
                match &a.export {
                    Slot::Ready(text) => {
                        ui.add(egui::Label::new(RichText::new(text.as_str()).small().weak()).wrap());
                    }
                    Slot::Failed(why) => {
                        ui.add(egui::Label::new(RichText::new(why).color(ui.visuals().error_fg_color)).wrap());
                    }
                    _ => {}
                }
            }
        },
    );
    if add {
        app.command(super::Command::AddAnnotationsDialog);
    }
    if export {
        app.export_annotations();
    }
}
