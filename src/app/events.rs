//! Worker events into the app: one match on the typed key sends each event to the slot it fills (a
//! model, a document's load, statistics, CNN reading, GSD estimate or answer, the sample set, a run,
//! the file browser's listing). UI thread.

use super::document::Part;
use super::slot::{Applied, Key, ModelKind, Slot};
use super::{DocStatus, HeatscopeApp, SampleSet, chat, model_name};
use crate::stats::RangeMode;
use crate::workers::{EventKind, Output};

impl HeatscopeApp {
    /// Apply worker events (non-blocking): each goes to the slot its typed key names.
    pub(super) fn drain_events(&mut self) {
        for event in self.workers.poll() {
            let job = event.ticket.id;
            match event.ticket.key {
                Key::Manifest => self.manifest_event(event.kind),
                Key::Model(kind) => self.model_event(kind, job, event.kind),
                Key::Run(which) => self.run_event(which, job, event.kind),
                Key::Browse => self.browse_event(job, event.kind),
                Key::Export => self.export_event(job, event.kind),
                Key::SessionOpen | Key::SessionSave => self.session_event(job, event.kind),
                Key::ViewExport => self.view_export_event(job, event.kind),
                Key::Doc(doc, Part::Chat) => chat::on_event(self, doc, job, event.kind),
                Key::Doc(doc, part) => self.doc_event(doc, part, job, event.kind),
            }
        }
    }

    fn model_event(&mut self, kind: ModelKind, job: u64, event: EventKind) {
        let applied = match kind {
            ModelKind::Cnn => self.cnn.model.apply(job, event),
            ModelKind::Gsd => self.gsd.model.apply(job, event),
            ModelKind::Vlm => self.chat.vlm.apply(job, event),
            ModelKind::RadioCnn => self.sources.model.apply(job, event),
        };
        if let Applied::Failed(why) = applied {
            let verb = if kind == ModelKind::Vlm { "opened" } else { "loaded" };
            self.error(format!("the {} could not be {verb}: {why}", model_name(kind)));
        }
    }

    fn doc_event(&mut self, id: u64, part: Part, job: u64, kind: EventKind) {
        let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) else { return };
        let failure = match part {
            Part::Load => return self.load_event(id, kind),
            Part::Stats(band) => {
                let slot = doc.stats.entry(band).or_default();
                let applied = slot.apply_with(job, kind, |o| match o {
                    Output::Stats(s) => Some(*s),
                    _ => None,
                });
                match applied {
                    Applied::Ready => {
                        doc.apply_ranges();
                        None
                    }
                    Applied::Cancelled => {
                        doc.stats.remove(&band);
                        None
                    }
                    Applied::Failed(why) => Some(format!("{}: statistics failed: {why}", doc.name())),
                    Applied::Nothing => None,
                }
            }
            // The GSD panel shows its own failures (many images are simply not ground images).
            Part::Gsd | Part::GsdSweep => {
                doc.results.apply(part, job, kind);
                None
            }
            Part::Chat => None,
            Part::Contours | Part::Region => {
                doc.measure.apply(part, job, kind).map(|why| format!("{}: {why}", doc.name()))
            }
            Part::SourceCnn => match doc.sources.reading.apply(job, kind) {
                Applied::Failed(why) => Some(format!("{}: radio CNN: {why}", doc.name())),
                _ => None,
            },
            Part::Sources => doc.sources.apply(job, kind).map(|why| format!("{}: source finder: {why}", doc.name())),
            Part::Detail => doc.detail.apply(job, kind).map(|why| format!("{}: zoomed-in window: {why}", doc.name())),
            Part::Probe => doc.probe.apply(job, kind).map(|why| format!("{}: reading a pixel: {why}", doc.name())),
            // The Annotations section lists each file's failure beside it; an export's too.
            Part::Annotations(_) | Part::AnnotationExport => {
                let why = doc.annotations.apply(part, job, kind);
                why.map(|why| format!("{}: annotations: {why}", doc.name()))
            }
            Part::Cnn => match doc.results.apply(part, job, kind) {
                Applied::Failed(why) => Some(format!("{}: the CNN failed: {why}", doc.name())),
                _ => None,
            },
        };
        if let Some(text) = failure {
            self.error(text);
        }
    }

    fn load_event(&mut self, id: u64, kind: EventKind) {
        let in_dataset = |p: &std::path::Path| self.samples.as_ref().is_some_and(|s| s.owns(p));
        let dataset_grid = self.docs.iter().find(|d| d.id == id).is_some_and(|d| in_dataset(&d.path));
        let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) else { return };
        match kind {
            EventKind::Progress { fraction, message } => {
                if let DocStatus::Loading { job, .. } = doc.status {
                    doc.status = DocStatus::Loading { fraction, message, job };
                }
            }
            EventKind::Preview(preview) => {
                if matches!(doc.status, DocStatus::Loading { .. }) {
                    // A first display range from the first look or overview (kept when the overview
                    // replaces the first look); the full image's statistics replace it.
                    if doc.preview.is_none() {
                        choose_display(doc, preview.display.band_count(), &preview.meta);
                        doc.stats = preview.stats.iter().map(|(b, s)| (*b, Slot::Ready(s.clone()))).collect();
                        doc.apply_ranges();
                    }
                    doc.preview = Some(*preview);
                }
            }
            EventKind::Done(Output::Loaded(mut loaded)) => {
                // A SpectrumQA-sim grid holds I/N in dB; the .npy cannot say so, the dataset can.
                if dataset_grid && loaded.raster.meta.unit.is_none() {
                    std::sync::Arc::make_mut(&mut loaded.raster).meta.unit = Some("dB".into());
                }
                if doc.preview.take().is_some() {
                    // The overview's statistics gave the first range; the full image's are asked for.
                    doc.stats.clear();
                }
                choose_display(doc, loaded.raster.band_count(), &loaded.raster.meta);
                let notice = (loaded.downsample > 1).then(|| {
                    let (w, h, f) = (loaded.raster.width, loaded.raster.height, loaded.downsample);
                    format!("{}: {w} x {h}: the GPU holds a {f}x overview and, zoomed in, the part in view at full resolution (the readout reports full-resolution pixels)", doc.name())
                });
                doc.loaded = Some(loaded);
                doc.status = DocStatus::Ready;
                self.runs_changed();
                // A file opened: earlier errors no longer describe what is on screen.
                for m in self.messages.iter_mut().filter(|m| m.error) {
                    m.settled = true;
                }
                if let Some(text) = notice {
                    self.info(text);
                }
            }
            EventKind::Done(_) => {
                doc.preview = None;
                doc.status = DocStatus::Failed("internal error: the loader returned no image".into());
            }
            EventKind::Failed(message) => {
                doc.preview = None;
                doc.status = DocStatus::Failed(message.clone());
                self.error(message);
            }
            EventKind::Cancelled => {
                doc.preview = None;
                doc.status = DocStatus::Failed("loading cancelled".into());
            }
            EventKind::Token { .. } => {}
        }
    }

    /// Browse the dataset in `dir` whose manifest held `records`.
    pub(super) fn install_samples(&mut self, dir: std::path::PathBuf, records: Vec<crate::types::QaRecord>) {
        let n = records.len();
        let set = SampleSet::new(dir, records);
        self.info(format!(
            "{} SpectrumQA-sim scenes, {n} questions: Left/Right step through them, T shows the truth",
            set.scenes.len()
        ));
        self.samples = Some(set);
        self.runs_changed();
        self.show_sample();
    }

    fn manifest_event(&mut self, kind: EventKind) {
        let Some(dir) = self.manifest_pending.take() else { return };
        match kind {
            EventKind::Done(Output::Manifest(records)) if records.is_empty() => {
                self.error(format!("the dataset {} has no questions", dir.display()));
            }
            EventKind::Done(Output::Manifest(records)) => self.install_samples(dir, records),
            EventKind::Failed(why) => self.error(format!("cannot open the dataset {}: {why}", dir.display())),
            EventKind::Progress { .. } => self.manifest_pending = Some(dir),
            _ => {}
        }
    }
}

/// The band shown and the colour mode for an image of `bands` bands described by `meta`: a restored
/// session's display stands as far as the file allows; otherwise colour photographs (3-4 bands of
/// 8-bit, or bands named R, G, B) open as RGB and radio images (FITS) with ZScale.
fn choose_display(doc: &mut super::Document, bands: usize, meta: &crate::types::RasterMeta) {
    if doc.settings.band >= bands {
        doc.settings.band = 0;
    }
    if doc.restored {
        doc.settings.rgb_mode &= bands >= 3 && doc.settings.rgb.iter().all(|&b| b < bands);
        return;
    }
    let named_rgb = meta.band_names.iter().take(3).map(String::as_str).eq(["R", "G", "B"]);
    let photo = (3..=4).contains(&bands) && meta.dtype == Some(crate::types::SampleType::U8);
    doc.settings.rgb_mode = bands >= 3 && (named_rgb || photo);
    doc.settings.rgb = [0, 1, 2];
    if meta.format == "FITS" {
        doc.range = [RangeMode::ZScale; 3];
    }
}
