//! The desktop app (egui/eframe), UI thread only. It reaches files and statistics only through
//! `workers::{Job, Event}`; panels return [`Command`]s that are applied at the end of the frame.

mod annotations;
mod chat;
mod chat_gsd;
mod chat_history;
pub mod chat_route;
mod chat_view;
mod cnn;
pub mod compare;
pub mod detail;
mod display_panel;
mod document;
mod events;
pub mod failures;
pub mod file_browser;
mod frames;
mod gsd;
mod gsd_sweep;
pub mod image_bench;
pub mod measure;
mod measure_panel;
mod measure_view;
mod overlays;
mod panels;
pub mod probe;
mod readout;
pub mod runs;
mod samples;
pub mod session;
pub mod slot;
pub mod sources;
mod sources_view;
pub mod tour;
pub mod view_bench;
mod view_export;
mod viewer;
mod window;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::anyhow;

use crate::io::LoadOptions;
use crate::render::DisplaySettings;
use crate::stats::RangeMode;
use crate::workers::{Job, Workers};
use document::Part;
use slot::{Key, ModelKind, Slot};

pub use chat::{ChatSettings, ChatState, SavedTurn, Turn, TurnStatus, restore_histories};
pub use cnn::{CnnSettings, CnnState};
pub use document::{DocStatus, Document, Results};
pub use frames::FrameMeter;
pub use gsd::GsdState;
pub use samples::{GroundTruth, SampleSet};
pub use window::run;

/// Settings kept between runs (eframe storage; saved on exit and every 30 s).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Persisted {
    pub recent: Vec<PathBuf>,
    /// Display settings new images start with.
    pub defaults: DisplaySettings,
    /// Index into [`RangeMode::PRESETS`] of the range rule new images start with.
    pub default_range: usize,
    pub show_side_panels: bool,
    pub cnn: CnnSettings,
    pub chat: ChatSettings,
    pub runs: runs::RunSettings,
}

impl Default for Persisted {
    fn default() -> Self {
        Self {
            recent: Vec::new(),
            defaults: DisplaySettings::default(),
            default_range: 2,
            show_side_panels: true,
            cnn: CnnSettings::default(),
            chat: ChatSettings::default(),
            runs: runs::RunSettings::default(),
        }
    }
}

/// How the app starts besides its files.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// CNN folder (config.json, model.safetensors, calibration.json); `None`: the bundled model.
    pub cnn_dir: Option<PathBuf>,
    /// Router folder (config.json, model.safetensors); `None`: the bundled router.
    pub router_dir: Option<PathBuf>,
    /// Where VLM answers come from (default: the bundled vlm-spectrum-tiny).
    pub vlm: crate::workers::VlmSource,
    /// File the chat histories are kept in between runs (written after every answer); `None` keeps
    /// them in memory only (tests).
    pub chat_store: Option<PathBuf>,
    /// Where the last session is kept (every 30 s and on exit); `None` keeps none (tests).
    pub session_store: Option<PathBuf>,
    /// A tour to start with (`heatscope --tour FILE`).
    pub tour: Option<PathBuf>,
    /// `heatscope bench eval-view`'s script and where its numbers go (nothing else is opened, and
    /// the settings are not saved).
    pub view_bench:
        Option<(view_bench::ViewBenchConfig, std::sync::Arc<std::sync::Mutex<view_bench::ViewBenchReport>>)>,
    /// `heatscope bench view`'s script and where its numbers go (it opens its own file; nothing is saved).
    pub image_bench:
        Option<(image_bench::ImageBenchConfig, std::sync::Arc<std::sync::Mutex<image_bench::ImageBenchReport>>)>,
}

/// How many recent files the File menu keeps.
const RECENT_MAX: usize = 12;

/// A user-visible message in the message area.
#[derive(Clone, Debug)]
pub struct Message {
    pub error: bool,
    pub text: String,
    /// An error that a later success made stale: kept in the list, no longer in the status bar.
    pub settled: bool,
}

/// Structural changes requested by panels during a frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Open(Vec<PathBuf>),
    /// Choose files to open (the desktop's dialog, or the built-in browser without one).
    OpenDialog,
    /// The built-in browser with its path field (File > Open path…).
    OpenPath,
    Select(u64),
    Close(u64),
    ClearRecent,
    ClearMessages,
    /// Cancel a document's load.
    CancelLoad(u64),
    /// Show the sample set's current scene (after stepping, filtering or the truth toggle).
    ShowSample,
    /// Run the CNN on the active image now (replacing its cached result).
    RunCnn,
    /// Show an error message (from a panel that cannot reach the message list itself).
    Message(String),
    /// Run the chosen model over the dataset browsed, in the background.
    StartRun,
    /// Presentation mode on or off (P).
    TogglePresentation,
    /// Start the bundled tour over the bundled samples.
    StartSampleTour,
    /// End the tour being given.
    EndTour,
    /// Walk the tour: +1 the next step, -1 the previous one.
    TourStep(i32),
    /// Ask for a run folder to show (File > Open run…).
    OpenRunDialog,
    /// Ask for a CNN folder to load (File > Load CNN folder…): heatscope's own or an imported
    /// torchvision ResNet.
    LoadCnnDialog,
    /// Load the CNN from this folder (`None`: the bundled one) and read the open images again with it.
    LoadCnn(Option<PathBuf>),
    /// Ask for a second run folder to compare the shown run with (Error analysis).
    CompareRunDialog,
    /// Ask for annotation files to add to the active image.
    AddAnnotationsDialog,
    /// Save the session where it was last saved or opened (Ctrl+S), else ask where.
    SaveSession,
    /// Ask where to save the session.
    SaveSessionAs,
    /// Restore the session kept at the last exit.
    RestoreLastSession,
    /// Ask where to export the view as PNG.
    ExportView,
}

pub struct HeatscopeApp {
    pub persisted: Persisted,
    pub docs: Vec<Document>,
    pub active: Option<u64>,
    pub messages: Vec<Message>,
    workers: Workers<Key>,
    next_doc: u64,
    /// Model device (candle) and GPU adapter, for the status bar.
    pub device_label: String,
    pub gpu_label: String,
    srgb_target: bool,
    max_texture_dim: usize,
    /// The desktop's file dialog and the built-in browser.
    pub browser: file_browser::FileBrowser,
    commands: Vec<Command>,
    /// Results of documents that closed, by path, handed back when the file opens again.
    kept: HashMap<PathBuf, Results>,
    /// The SpectrumQA-sim dataset being browsed, if any.
    pub samples: Option<SampleSet>,
    /// Folder whose manifest a worker is reading.
    manifest_pending: Option<PathBuf>,
    /// The CNN model and its results.
    pub cnn: CnnState,
    /// The VLM and the conversations per image.
    pub chat: ChatState,
    /// The GSD estimator and the overrides.
    pub gsd: GsdState,
    /// The measuring tool and whether contours show.
    pub measure: measure::MeasureState,
    /// Radio sources on sky images (K).
    pub sources: sources::SourcesState,
    /// Annotation layers on or off (A).
    pub show_annotations: bool,
    /// Session files being read or written, and where they go.
    pub session: session::SessionState,
    /// File > Export view as PNG in progress.
    pub view_export: view_export::ViewExport,
    /// Two images compared (View > Compare with, V).
    pub compare: Option<compare::Compare>,
    /// The image shown before the active one (V compares with it).
    pub previous_active: Option<u64>,
    /// The active image when the last frame began.
    frame_active: Option<u64>,
    /// Versions of zoomed-in windows handed out (each upload is told apart by it).
    next_detail: u64,
    /// The ids of the tiles on the GPU at the start of this frame (None: no GPU state to ask).
    resident_tiles: Option<std::collections::HashSet<u64>>,
    /// Runs shown and made.
    pub runs: runs::RunsState,
    /// The failure list over the shown run (error analysis).
    pub failures: failures::FailureList,
    /// The CNN's folder (None: the bundled model), for the identity of the runs it makes.
    pub cnn_dir: Option<PathBuf>,
    /// Presentation mode: the image and the models' results only, at a larger UI scale.
    pub presenting: bool,
    /// The tour being given, if any.
    pub tour: Option<tour::Tour>,
    /// UI-thread time per frame (status bar).
    pub frames: FrameMeter,
    /// The benchmark script being played, if any.
    bench: Option<view_bench::ViewBench>,
    /// `heatscope bench view`'s script being played, if any.
    image_bench: Option<image_bench::ImageBench>,
}

impl HeatscopeApp {
    /// Build the app: restore settings, start workers, install the GPU pipeline, queue `files`.
    ///
    /// # Errors
    /// When the worker threads cannot start or eframe gave no wgpu renderer.
    pub fn new(cc: &eframe::CreationContext<'_>, files: Vec<PathBuf>) -> anyhow::Result<Self> {
        Self::with_options(cc, files, AppOptions::default())
    }

    /// [`HeatscopeApp::new`] with start options.
    ///
    /// # Errors
    /// As [`HeatscopeApp::new`].
    pub fn with_options(
        cc: &eframe::CreationContext<'_>,
        files: Vec<PathBuf>,
        options: AppOptions,
    ) -> anyhow::Result<Self> {
        let persisted: Persisted = cc.storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default();
        let ctx = cc.egui_ctx.clone();
        let workers = Workers::new(2, move || ctx.request_repaint())?;
        let rs = cc
            .wgpu_render_state
            .as_ref()
            .ok_or_else(|| anyhow!("heatscope needs the wgpu renderer, which did not start"))?;
        crate::render::callback::install(rs);
        let info = rs.adapter.get_info();
        let device = crate::models::compute_device();
        let mut device_label = format!("models: {}", device.label);
        if let Some(why) = device.fallback_reason {
            device_label += &format!(" ({why})");
        }
        let mut app = Self {
            persisted,
            docs: Vec::new(),
            active: None,
            messages: Vec::new(),
            workers,
            next_doc: 1,
            device_label,
            gpu_label: format!("display: {} ({:?})", info.name, info.backend),
            srgb_target: crate::render::callback::target_is_srgb(rs),
            max_texture_dim: rs.device.limits().max_texture_dimension_2d as usize,
            browser: file_browser::FileBrowser::default(),
            commands: Vec::new(),
            kept: HashMap::new(),
            samples: None,
            manifest_pending: None,
            cnn: CnnState::default(),
            chat: ChatState::default(),
            gsd: GsdState::default(),
            measure: measure::MeasureState::default(),
            sources: sources::SourcesState::default(),
            show_annotations: true,
            session: session::SessionState { last: options.session_store.clone(), ..Default::default() },
            view_export: view_export::ViewExport::default(),
            compare: None,
            previous_active: None,
            frame_active: None,
            next_detail: 0,
            resident_tiles: None,
            runs: runs::RunsState::default(),
            failures: failures::FailureList::default(),
            cnn_dir: options.cnn_dir.clone(),
            presenting: false,
            tour: None,
            frames: FrameMeter::default(),
            bench: options.view_bench.map(|(config, report)| view_bench::ViewBench::new(config, report)),
            image_bench: options.image_bench.map(|(config, report)| image_bench::ImageBench::new(config, report)),
        };
        app.load_model(ModelKind::Gsd, gsd::load_job());
        app.load_model(ModelKind::Cnn, cnn::load_job(options.cnn_dir));
        app.load_model(ModelKind::RadioCnn, sources::load_job());
        // The router loads in milliseconds; a broken folder leaves routing off, with the reason.
        app.chat.routing = chat_route::Routing::load(options.router_dir.as_deref());
        if let Err(why) = app.chat.routing.router() {
            app.error(why);
        }
        app.chat.source = options.vlm.clone();
        app.load_model(ModelKind::Vlm, chat::load_job(options.vlm));
        if let Some(store) = options.chat_store {
            match chat::load_histories(&store) {
                Ok(histories) => app.chat.histories = histories,
                Err(why) => app.error(why),
            }
            app.chat.store = Some(store);
        }
        let files = match &app.bench {
            // The script opens its run once the models have loaded.
            Some(_) => {
                app.failures.open = true;
                Vec::new()
            }
            // `bench view` opens its file itself, after its no-image phase.
            None if app.image_bench.is_some() => Vec::new(),
            None if files.is_empty() && options.tour.is_none() => samples::bundled_samples(),
            None => files,
        };
        app.open(files);
        if let Some(path) = &options.tour {
            match tour::read(path) {
                Ok(t) => app.start_tour(&cc.egui_ctx, t),
                Err(why) => app.error(why),
            }
        }
        Ok(app)
    }

    /// Start loading a model into its slot.
    fn load_model(&mut self, kind: ModelKind, job: Job) {
        let submitted = self.workers.submit(Key::Model(kind), job);
        let failed = submitted.as_ref().err().cloned();
        match kind {
            ModelKind::Cnn => self.cnn.model = Slot::submitted(&submitted),
            ModelKind::Gsd => self.gsd.model = Slot::submitted(&submitted),
            ModelKind::Vlm => self.chat.vlm = Slot::submitted(&submitted),
            ModelKind::RadioCnn => self.sources.model = Slot::submitted(&submitted),
        }
        if let Some(e) = failed {
            self.error(format!("cannot load the {}: {e}", model_name(kind)));
        }
    }

    /// Whether any worker job is queued or running.
    pub fn busy(&self) -> bool {
        self.workers.pending() > 0
    }

    /// The active document.
    pub fn active_doc(&self) -> Option<&Document> {
        self.docs.iter().find(|d| Some(d.id) == self.active)
    }

    pub fn active_doc_mut(&mut self) -> Option<&mut Document> {
        let id = self.active?;
        self.docs.iter_mut().find(|d| d.id == id)
    }

    /// Queue loads for `paths`; the last one becomes active.
    pub fn open(&mut self, paths: Vec<PathBuf>) {
        // Several run folders at once: the first is shown (A), the others compared with it in the
        // error analysis once its dataset is open.
        let mut first_run = true;
        for path in paths {
            // Absolute, so recent files and chat histories work from any folder the app starts in.
            let path = std::path::absolute(&path).unwrap_or(path);
            if session::is_session_file(&path) {
                self.open_session(path);
                continue;
            }
            if samples::is_dataset_folder(&path) {
                self.open_dataset(path);
                continue;
            }
            if runs::is_run_folder(&path) {
                if first_run {
                    self.open_run(path);
                    first_run = false;
                } else {
                    self.runs.pending_compare.push_back(path);
                    self.failures.open = true;
                }
                continue;
            }
            if let Some(doc) = self.docs.iter().find(|d| d.path == path) {
                self.active = Some(doc.id);
                continue;
            }
            let id = self.next_doc;
            self.next_doc += 1;
            let job = Job::Load {
                path: path.clone(),
                options: LoadOptions::default(),
                max_texture_dim: self.max_texture_dim.min(detail::OVERVIEW_MAX),
            };
            match self.workers.submit(Key::Doc(id, Part::Load), job) {
                Ok(ticket) => {
                    let mut doc = Document::new(
                        id,
                        path.clone(),
                        ticket.id,
                        self.persisted.defaults.clone(),
                        default_range(self.persisted.default_range),
                    );
                    doc.results = self.kept.remove(&path).unwrap_or_default();
                    self.docs.push(doc);
                    self.active = Some(id);
                    self.persisted.recent.retain(|p| p != &path);
                    self.persisted.recent.insert(0, path);
                    self.persisted.recent.truncate(RECENT_MAX);
                }
                Err(e) => self.error(format!("cannot open {}: {e}", path.display())),
            }
        }
    }

    /// Browse a SpectrumQA-sim dataset folder: its manifest is read on a worker.
    /// Put `dir` first in the recent files.
    fn remember_recent(&mut self, dir: &std::path::Path) {
        self.persisted.recent.retain(|p| p != dir);
        self.persisted.recent.insert(0, dir.to_path_buf());
        self.persisted.recent.truncate(RECENT_MAX);
    }

    pub fn open_dataset(&mut self, dir: PathBuf) {
        let job = Job::Manifest { path: dir.join("manifest.jsonl") };
        match self.workers.submit(Key::Manifest, job) {
            Ok(_) => {
                self.remember_recent(&dir);
                self.manifest_pending = Some(dir);
            }
            Err(e) => self.error(format!("cannot open the dataset {}: {e}", dir.display())),
        }
    }

    /// Show the sample set's current scene: open its grid with the sample display (turbo, fixed dB
    /// range) and close the previously shown sample, so stepping does not pile up images.
    fn show_sample(&mut self) {
        let Some(set) = &self.samples else { return };
        let Some(path) = set.current_path() else { return };
        let dir = set.dir.clone();
        let owns = |p: &std::path::Path| samples::is_scene_file(&dir, p);
        let stale: Vec<u64> = self.docs.iter().filter(|d| owns(&d.path) && d.path != path).map(|d| d.id).collect();
        // Keep the user's display choices from the sample shown before.
        let previous = self.active_doc().filter(|d| owns(&d.path)).map(|d| (d.settings.clone(), d.range));
        self.open(vec![path.clone()]);
        // The dataset folder is the recent entry, not each scene's grid.
        self.persisted.recent.retain(|p| !owns(p));
        if let Some(doc) = self.docs.iter_mut().find(|d| d.path == path) {
            match previous {
                Some((settings, range)) => {
                    doc.settings = settings;
                    doc.range = range;
                }
                None => {
                    let (lo, hi) = samples::SAMPLE_RANGE_DB;
                    doc.settings.colormap = crate::render::Colormap::Turbo;
                    doc.settings.scale = crate::render::Scale::Linear;
                    doc.range = [RangeMode::Manual(lo, hi); 3];
                }
            }
            doc.settings.lo = [samples::SAMPLE_RANGE_DB.0; 3];
            doc.settings.hi = [samples::SAMPLE_RANGE_DB.1; 3];
            doc.apply_ranges();
        }
        for id in stale {
            self.close(id);
        }
    }

    /// The ground truth to draw over the active document, when it is the current sample.
    pub fn ground_truth(&self) -> Option<GroundTruth> {
        let set = self.samples.as_ref()?;
        let doc = self.active_doc()?;
        (Some(&doc.path) == set.current_path().as_ref()).then(|| set.ground_truth()).flatten()
    }

    pub fn error(&mut self, text: String) {
        tracing::warn!("{text}");
        self.messages.push(Message { error: true, text, settled: false });
    }

    pub fn info(&mut self, text: String) {
        self.messages.push(Message { error: false, text, settled: false });
    }

    /// Queue a panel's command for the end of the frame.
    pub fn command(&mut self, c: Command) {
        self.commands.push(c);
    }

    /// Ask for statistics the visible channels still need.
    fn request_stats(&mut self) {
        let mut wanted = Vec::new();
        for doc in &self.docs {
            let Some(loaded) = &doc.loaded else { continue };
            for band in doc.missing_stats() {
                wanted.push((doc.id, band, std::sync::Arc::clone(&loaded.raster)));
            }
        }
        for (id, band, raster) in wanted {
            // A slot even on failure, so a band whose statistics cannot start is not retried every frame.
            let slot = match self.workers.submit(Key::Doc(id, Part::Stats(band)), Job::Stats { raster, band }) {
                Ok(ticket) => Slot::loading(&ticket),
                Err(e) => {
                    self.error(e.clone());
                    Slot::Failed(e)
                }
            };
            if let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) {
                doc.stats.insert(band, slot);
            }
        }
    }

    /// Run the CNN on the active image when it opened and "run on open" is on (square single-band
    /// grids only; other images wait for an explicit run, which explains why it cannot read them).
    fn request_cnn(&mut self) {
        if !self.persisted.cnn.run_on_open || self.cnn.model().is_none() {
            return;
        }
        let Some(doc) = self.active_doc() else { return };
        let Some(loaded) = &doc.loaded else { return };
        if !doc.results.cnn.is_empty() || !crate::workers::cnn_runs_on_open(&loaded.raster) {
            return;
        }
        self.run_cnn();
    }

    /// Load the CNN from `dir` (`None`: the bundled one) on a worker; every image's reading by the
    /// previous model is dropped, so the active one is read again once the new model is ready.
    pub(super) fn load_cnn(&mut self, dir: Option<PathBuf>) {
        self.cnn_dir.clone_from(&dir);
        self.load_model(ModelKind::Cnn, cnn::load_job(dir));
        for doc in &mut self.docs {
            doc.results.cnn = Slot::default();
        }
    }

    /// Run the CNN on the active image now.
    fn run_cnn(&mut self) {
        let Some(model) = self.cnn.model().cloned() else {
            self.error("the CNN is not loaded".into());
            return;
        };
        let Some(doc) = self.active_doc() else { return };
        let Some(loaded) = &doc.loaded else {
            match &doc.status {
                DocStatus::Failed(why) => {
                    let text = format!("{} could not be opened, so the CNN cannot read it: {why}", doc.name());
                    self.error(text);
                }
                _ => self.info("the image is still loading; press C again when it is ready".into()),
            }
            return;
        };
        let (id, raster) = (doc.id, std::sync::Arc::clone(&loaded.raster));
        match self.workers.submit(Key::Doc(id, Part::Cnn), cnn::run_job(model, raster)) {
            Ok(ticket) => {
                if let Some(doc) = self.active_doc_mut() {
                    doc.results.cnn = Slot::loading(&ticket);
                }
            }
            Err(e) => self.error(format!("cannot run the CNN: {e}")),
        }
    }

    /// The CNN's finished reading for the active image.
    pub fn cnn_reading(&self) -> Option<std::sync::Arc<crate::models::cnn::CnnReading>> {
        self.active_doc()?.results.cnn.ready().map(|t| std::sync::Arc::clone(&t.value))
    }

    /// The radio CNN's reading of the active image's selected source.
    pub fn radio_reading(&self) -> Option<std::sync::Arc<crate::models::cnn_radio::RadioReading>> {
        self.active_doc()?.sources.selected_reading()
    }

    fn apply_commands(&mut self, ctx: &egui::Context) {
        for command in std::mem::take(&mut self.commands) {
            match command {
                Command::Open(paths) => self.open(paths),
                Command::OpenDialog => self.choose(ctx, file_browser::Purpose::Files),
                Command::OpenPath => file_browser::open_path(self),
                Command::Select(id) => self.active = Some(id),
                Command::Close(id) => self.close(id),
                Command::ShowSample => self.show_sample(),
                Command::RunCnn => self.run_cnn(),
                Command::Message(text) => self.error(text),
                Command::StartRun => self.start_run(),
                Command::TogglePresentation => self.set_presenting(ctx, !self.presenting),
                Command::StartSampleTour => match tour::bundled_path().map(|p| tour::read(&p)) {
                    Some(Ok(t)) => self.start_tour(ctx, t),
                    Some(Err(why)) => self.error(why),
                    None => self.error("the bundled tour (assets/tours/samples.json) is not installed".into()),
                },
                Command::EndTour => {
                    self.tour = None;
                    self.set_presenting(ctx, false);
                }
                Command::TourStep(delta) => {
                    if let Some(t) = &self.tour {
                        let n = t.steps.len() as i64;
                        let next = (t.current as i64 + i64::from(delta)).clamp(0, n - 1) as usize;
                        if next != t.current {
                            self.go_step(next);
                        }
                    }
                }
                Command::OpenRunDialog => self.choose(ctx, file_browser::Purpose::RunFolder),
                Command::LoadCnnDialog => self.choose(ctx, file_browser::Purpose::CnnFolder),
                Command::LoadCnn(dir) => self.load_cnn(dir),
                Command::CompareRunDialog => self.choose(ctx, file_browser::Purpose::CompareRun),
                Command::AddAnnotationsDialog => self.choose(ctx, file_browser::Purpose::Annotations),
                Command::SaveSession => match self.session.path.clone() {
                    Some(path) => self.save_session(path),
                    None => self.session.save_as = Some(session::default_path(self).display().to_string()),
                },
                Command::SaveSessionAs => {
                    self.session.save_as = Some(session::default_path(self).display().to_string());
                }
                Command::ExportView => self.ask_export_view(),
                Command::RestoreLastSession => match self.session.last.clone() {
                    Some(path) => self.open_session(path),
                    None => self.error("no last session is kept in this mode".into()),
                },
                Command::ClearRecent => self.persisted.recent.clear(),
                Command::ClearMessages => self.messages.clear(),
                Command::CancelLoad(id) => self.workers.cancel_key(&Key::Doc(id, Part::Load)),
            }
        }
    }

    /// Close a document: cancel every job it started, keep its finished results for when the file
    /// opens again.
    fn close(&mut self, id: u64) {
        self.workers.cancel_where(|k| matches!(k, Key::Doc(d, _) if *d == id));
        let Some(i) = self.docs.iter().position(|d| d.id == id) else { return };
        let mut doc = self.docs.remove(i);
        chat::on_close(self, &doc);
        doc.results.cancel_all();
        doc.measure.cancel_all();
        doc.annotations.cancel_all();
        doc.sources.cancel();
        doc.detail.cancel();
        // An answer that was cut short is in the history; the slot itself need not be kept.
        doc.results.answer = Slot::Empty;
        self.kept.insert(doc.path.clone(), doc.results);
        if self.active == Some(id) {
            self.active = self.docs.get(i.min(self.docs.len().saturating_sub(1))).map(|d| d.id);
        }
    }
}

/// A model's name in messages.
fn model_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Cnn => "CNN",
        ModelKind::Gsd => "GSD estimator",
        ModelKind::Vlm => "VLM",
        ModelKind::RadioCnn => "radio CNN",
    }
}

/// The range rule of a preset index (out-of-range indices from old settings fall back to 0.5-99.5 %).
fn default_range(index: usize) -> RangeMode {
    RangeMode::PRESETS.get(index).copied().unwrap_or(RangeMode::Percentile(0.5, 99.5))
}
