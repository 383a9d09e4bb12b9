//! Runs in the app: open a run folder (File > Open run…, or any folder with a `summary.json` opened
//! like a file) made by the app or by `heatscope eval --run`, or run a model over the dataset being
//! browsed in the background (progress, questions/s, ETA, cancel; the answers stream in and are kept
//! in the run folder as they come, so a crash loses nothing and the same folder continues later).
//! The answers land in the documents' `recorded` slots, so the sample browser shows each scene's
//! recorded answers and scores without running the model again. The runs themselves are
//! `eval::execute` on a worker; this file only asks for them and shows them. UI thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::HeatscopeApp;
use super::slot::{Applied, Key, Slot};
use crate::eval::execute::{CpuShare, Executed, Keep, Plan, execute};
use crate::eval::predictor::{Predictor, PriorPredictor, RulePredictor};
use crate::eval::runner::{RunEnd, Selection};
use crate::eval::runs::{RunLine, SUMMARY, Summary};
use crate::types::{Level, QaRecord, Split};
use crate::workers::{Job, Reporter};

mod panel;
pub use panel::section;

/// Which of the two run jobs an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunJob {
    /// Reading a run folder.
    Open,
    /// Running a model over the dataset.
    Make,
    /// Reading a second run to compare the shown one with.
    Compare,
}

/// The models a run can ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RunModel {
    Prior,
    Rule,
    Cnn,
    Vlm,
}

impl RunModel {
    pub const ALL: [RunModel; 4] = [RunModel::Prior, RunModel::Rule, RunModel::Cnn, RunModel::Vlm];

    /// The name `heatscope eval --model` uses.
    pub fn name(self) -> &'static str {
        match self {
            RunModel::Prior => "prior",
            RunModel::Rule => "rule",
            RunModel::Cnn => "cnn",
            RunModel::Vlm => "vlm",
        }
    }
}

/// What the user chose for the next run (kept between sessions).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RunSettings {
    pub model: RunModel,
    /// "test", "val", "train" or "all".
    pub split: String,
    /// Ask only the first N questions (0: all).
    pub limit: usize,
    /// Share of the machine's cores a local model may use (the viewer keeps the rest).
    pub cpu_share: f64,
}

impl Default for RunSettings {
    /// One core's worth by default, so the viewer stays smooth.
    fn default() -> Self {
        Self { model: RunModel::Cnn, split: "test".into(), limit: 0, cpu_share: 1.0 / cores() as f64 }
    }
}

/// This machine's cores.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// A run as the app shows it: its folder, its summary (absent while the first answers of a new run
/// stream in) and its answers by question id.
#[derive(Clone, Debug, Default)]
pub struct ShownRun {
    pub dir: PathBuf,
    pub summary: Option<Summary>,
    /// Shared, so the error analysis can score them on another thread (copied on write while it does).
    pub lines: Arc<HashMap<String, RunLine>>,
    /// The dataset the run was made on, when it is on this machine with the same manifest.
    pub dataset: Option<PathBuf>,
    /// When its summary was last written (read on the worker that read the run).
    pub written: Option<std::time::SystemTime>,
    /// Its dataset's questions, read with the run when that dataset is not the one browsed (so
    /// opening a run opens its dataset without reading the manifest a second time); taken when shown.
    pub records: Option<Vec<QaRecord>>,
}

/// A run compared with the shown one, and whether the error analysis shows it.
#[derive(Clone, Debug)]
pub struct Compared {
    pub run: ShownRun,
    pub show: bool,
}

impl RunsState {
    /// The compared runs the error analysis shows, in order (B, C, …).
    pub fn shown_compared(&self) -> impl Iterator<Item = &ShownRun> {
        self.compared.iter().filter(|c| c.show).map(|c| &c.run)
    }
}

/// What the background run sends after each batch: its answers and where it stands.
#[derive(Debug, Default)]
struct Update {
    lines: Vec<RunLine>,
    done: usize,
    total: usize,
    rate: f64,
    eta_s: f64,
}

/// A run going on in the background.
#[derive(Debug)]
pub struct Live {
    updates: Receiver<Update>,
    /// Questions answered (those of earlier runs in the folder included) and to answer in all.
    pub done: usize,
    pub total: usize,
    /// Questions a second and seconds left, at this run's pace.
    pub rate: f64,
    pub eta_s: f64,
}

/// How a background run ended.
#[derive(Debug)]
pub struct Finished {
    pub run: ShownRun,
    /// Questions asked and answers that came back with an error.
    pub asked: usize,
    pub failed: usize,
    /// Why it stopped early, if it did (the folder keeps what was answered: Start continues it).
    pub stopped: Option<String>,
}

/// Everything the app keeps about runs.
#[derive(Debug, Default)]
pub struct RunsState {
    /// The run shown in the sample browser.
    pub shown: Option<ShownRun>,
    /// A run folder being read.
    pub opening: Slot<ShownRun>,
    /// Other runs of the same dataset, compared with the shown one in the error analysis (B, C, …).
    pub compared: Vec<Compared>,
    /// A compared run's folder being read.
    pub comparing: Slot<ShownRun>,
    /// Run folders to compare with the shown run once it and its dataset are open (several run
    /// folders opened at once), read one at a time.
    pub pending_compare: std::collections::VecDeque<PathBuf>,
    /// A model run in the background, and its outcome.
    pub making: Slot<Finished>,
    pub live: Option<Live>,
    /// The folder the next run is kept in (empty: a default beside the app's settings).
    pub folder: String,
    /// The documents' `recorded` slots need filling again.
    dirty: bool,
}

/// Whether `dir` holds a run (its summary).
pub fn is_run_folder(dir: &Path) -> bool {
    dir.join(SUMMARY).is_file()
}

/// Read a run folder and find its dataset: the one browsed when its manifest is the run's, else the
/// folder the run names when that one's is.
fn read_run(dir: &Path, browsing: Option<&Path>) -> Result<ShownRun, String> {
    // The answers are read beside the dataset's manifest (a large run's two big files at once).
    std::thread::scope(|s| {
        let answers = s.spawn(|| crate::eval::runs::open(dir).map_err(|e| e.to_string()));
        let summary = crate::eval::runs::read_summary(dir).map_err(|e| e.to_string())?;
        let wanted = &summary.settings.manifest_checksum;
        let same = |d: &Path| {
            crate::io::checksum::of_file(&d.join("manifest.jsonl"), None).ok().is_some_and(|(_, c)| &c == wanted)
        };
        let named = &summary.settings.dataset;
        let manifest = named.join("manifest.jsonl");
        // The named dataset's manifest is read once: checksummed, then parsed when it is the run's.
        let named_bytes = || std::fs::read(&manifest).ok().filter(|b| &crate::io::checksum::of_bytes(b) == wanted);
        let (dataset, records) = match browsing {
            Some(b) if same(b) => (Some(b.to_path_buf()), None),
            _ => match named_bytes() {
                Some(bytes) => {
                    let records = match String::from_utf8(bytes) {
                        Ok(text) => crate::eval::parse_manifest(&text, &manifest),
                        Err(_) => crate::eval::read_manifest(&manifest),
                    };
                    let records = records.map_err(|e| format!("the run's dataset {}: {e}", named.display()))?;
                    (Some(named.clone()), Some(records))
                }
                None => match browsing {
                    Some(b) => {
                        return Err(format!(
                            "{} is a run of another dataset ({}) than the one browsed ({}); open its dataset first",
                            dir.display(),
                            named.display(),
                            b.display()
                        ));
                    }
                    None => (None, None),
                },
            },
        };
        let (summary, lines) = answers.join().unwrap_or_else(|e| std::panic::resume_unwind(e))?;
        let lines = Arc::new(lines.into_iter().map(|l| (l.id.clone(), l)).collect());
        let written = std::fs::metadata(dir.join(SUMMARY)).and_then(|m| m.modified()).ok();
        Ok(ShownRun { dir: dir.to_path_buf(), summary: Some(summary), lines, dataset, written, records })
    })
}

impl HeatscopeApp {
    /// Read the run in `dir` on a worker and show it.
    pub fn open_run(&mut self, dir: PathBuf) {
        let browsing = self.samples.as_ref().map(|s| s.dir.clone());
        let what = format!("reading the run {}", dir.display());
        let job = Job::task(what, move |_| read_run(&dir, browsing.as_deref()));
        match self.workers.submit(Key::Run(RunJob::Open), job) {
            Ok(ticket) => self.runs.opening = Slot::loading(&ticket),
            Err(e) => self.error(format!("cannot open the run: {e}")),
        }
    }

    /// Read the run in `dir` on a worker to compare the shown run with. It must be a run of the
    /// dataset browsed (the runs are aligned by question id, so another dataset's run is refused).
    pub fn open_compare(&mut self, dir: PathBuf) {
        let Some(browsing) = self.samples.as_ref().map(|s| s.dir.clone()) else {
            return self.error("open a run first: the comparison is of runs of the same dataset".into());
        };
        let same = |d: &Path| d == dir || d.canonicalize().ok().is_some_and(|c| Some(c) == dir.canonicalize().ok());
        if self.runs.shown.as_ref().is_some_and(|r| same(&r.dir)) || self.runs.compared.iter().any(|c| same(&c.run.dir))
        {
            return self.error(format!("{} is already open in the error analysis", dir.display()));
        }
        if self.runs.compared.len() >= super::failures::MAX_COMPARED {
            return self.error(format!(
                "at most {} runs are compared with the shown one: remove one (remove, in the Runs table) first",
                super::failures::MAX_COMPARED
            ));
        }
        let what = format!("reading the run {} to compare", dir.display());
        let job = Job::task(what, move |_| {
            let run = read_run(&dir, Some(&browsing))?;
            match run.dataset {
                Some(_) => Ok(run),
                None => Err(format!("{} is not a run of the dataset browsed ({})", dir.display(), browsing.display())),
            }
        });
        match self.workers.submit(Key::Run(RunJob::Compare), job) {
            Ok(ticket) => self.runs.comparing = Slot::loading(&ticket),
            Err(e) => self.error(format!("cannot open the run to compare: {e}")),
        }
    }

    /// Start running the chosen model over the dataset browsed, kept in the run folder chosen
    /// (continued when it already holds this run).
    pub fn start_run(&mut self) {
        let Some(set) = &self.samples else {
            return self.error("open a SpectrumQA-sim dataset first: a run asks the questions of its scenes".into());
        };
        let settings = self.persisted.runs.clone();
        let split = match settings.split.as_str() {
            "all" => None,
            s => match Split::parse(s) {
                Some(s) => Some(s),
                None => return self.error(format!("unknown split {s:?}")),
            },
        };
        let selection =
            Selection { split, levels: Level::ALL.to_vec(), limit: (settings.limit > 0).then_some(settings.limit) };
        let dataset = set.dir.clone();
        let records = set.records.clone();
        let folder = match self.runs.folder.trim() {
            "" => default_folder(&dataset, &settings),
            f => PathBuf::from(f),
        };
        let builder = match self.model_builder(settings.model) {
            Ok(b) => b,
            Err(why) => return self.error(why),
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let plan = Plan { dataset, selection, options: builder.options.clone(), keep: Keep::Continue(folder.clone()) };
        let share = if builder.local { settings.cpu_share } else { 1.0 };
        let job = Job::task(format!("running {} over the dataset", settings.model.name()), move |r| {
            make_run(&plan, &records, builder, share, &tx, r)
        });
        match self.workers.submit(Key::Run(RunJob::Make), job) {
            Ok(ticket) => {
                self.runs.making = Slot::loading(&ticket);
                self.runs.live = Some(Live { updates: rx, done: 0, total: 0, rate: 0.0, eta_s: f64::INFINITY });
                // The folder's earlier answers, if it holds this run, arrive with the first update.
                self.runs.shown = Some(ShownRun { dir: folder.clone(), ..ShownRun::default() });
                self.runs.folder = folder.display().to_string();
                self.runs.dirty = true;
            }
            Err(e) => self.error(format!("cannot start the run: {e}")),
        }
    }

    /// How to build the chosen model on the worker, from what the app has loaded.
    fn model_builder(&self, model: RunModel) -> Result<Builder, String> {
        let loaded = |what: &str| format!("the {what} is not loaded yet (or failed to load); try again when it is");
        Ok(match model {
            RunModel::Prior => Builder { make: Make::Prior, options: serde_json::json!({}), local: true },
            RunModel::Rule => Builder { make: Make::Rule, options: serde_json::json!({}), local: true },
            RunModel::Cnn => {
                let m = self.cnn.model().cloned().ok_or_else(|| loaded("CNN"))?;
                let p = crate::models::cnn::CnnPredictor::of(m, self.cnn_dir.as_deref());
                Builder { make: Make::Ready(Arc::new(p)), options: serde_json::json!({}), local: true }
            }
            RunModel::Vlm => {
                let backend = self.chat.vlm.ready().cloned().ok_or_else(|| loaded("VLM"))?;
                let c = &self.persisted.chat;
                let shots = if c.few_shot { c.shots } else { 0 };
                let ask =
                    crate::backend::predictor::VlmAsk { shots, cot: c.cot, max_tokens: c.max_tokens, constrain: false };
                let remote = matches!(self.chat.source, crate::workers::VlmSource::Server { .. });
                let options = serde_json::json!({"shots": shots, "cot": c.cot, "max_tokens": c.max_tokens});
                let source = self.chat.source.clone();
                Builder {
                    make: Make::Vlm { backend, source, ask, in_flight: if remote { 4 } else { 1 } },
                    options,
                    local: !remote,
                }
            }
        })
    }

    /// Apply an event of a run job.
    pub(super) fn run_event(&mut self, which: RunJob, job: u64, kind: crate::workers::EventKind) {
        match which {
            RunJob::Compare => match self.runs.comparing.apply(job, kind) {
                Applied::Ready => {
                    if let Slot::Ready(run) = std::mem::take(&mut self.runs.comparing) {
                        let k = self.runs.compared.len() + 1;
                        let (dir, n) = (run.dir.display(), run.lines.len());
                        self.info(format!(
                            "comparing with the run {dir} as {}: {n} answers",
                            super::failures::letter(k)
                        ));
                        self.runs.compared.push(Compared { run, show: true });
                    }
                }
                Applied::Failed(why) => self.error(format!("cannot compare with the run: {why}")),
                _ => {}
            },
            RunJob::Open => match self.runs.opening.apply(job, kind) {
                Applied::Ready => {
                    if let Slot::Ready(run) = std::mem::take(&mut self.runs.opening) {
                        self.show_run(run);
                    }
                }
                Applied::Failed(why) => {
                    self.error(format!("cannot open the run: {why}"));
                    self.drop_pending_compare("the run to compare them with did not open");
                }
                _ => {}
            },
            RunJob::Make => match self.runs.making.apply(job, kind) {
                Applied::Ready => {
                    self.take_lines();
                    self.runs.live = None;
                    if let Slot::Ready(f) = &mut self.runs.making {
                        let run = std::mem::take(&mut f.run);
                        let text = match &f.stopped {
                            Some(why) => format!(
                                "the run stopped: {why}; its {} answers are kept in {}: Start continues it",
                                run.lines.len(),
                                run.dir.display()
                            ),
                            None => format!(
                                "the run finished: {} questions ({} failed), kept in {}",
                                f.asked,
                                f.failed,
                                run.dir.display()
                            ),
                        };
                        if f.stopped.is_some() {
                            self.error(text)
                        } else {
                            self.info(text)
                        }
                        self.runs.shown = Some(run);
                        self.runs.dirty = true;
                    }
                }
                Applied::Failed(why) => {
                    self.take_lines();
                    self.runs.live = None;
                    self.error(format!("the run could not start: {why}"));
                }
                Applied::Cancelled => {
                    self.take_lines();
                    self.runs.live = None;
                    let kept = self.runs.shown.as_ref().map_or(0, |r| r.lines.len());
                    self.info(format!("run cancelled; the {kept} answers so far are kept: Start continues it"));
                }
                Applied::Nothing => {}
            },
        }
    }

    /// Show a run read from its folder: open its dataset when another one (or none) is browsed.
    fn show_run(&mut self, mut run: ShownRun) {
        let browsing = self.samples.as_ref().map(|s| s.dir.clone());
        match (&run.dataset, &browsing) {
            (Some(d), Some(b)) if d == b => {}
            (Some(d), _) => {
                self.info(format!("opening the run's dataset {}", d.display()));
                match run.records.take() {
                    Some(records) => {
                        self.remember_recent(d);
                        self.install_samples(d.clone(), records);
                    }
                    None => self.open_dataset(d.clone()),
                }
            }
            (None, _) => {
                let named = run.summary.as_ref().map(|s| s.settings.dataset.display().to_string()).unwrap_or_default();
                self.error(format!("the run {} was made on {named}, which is not on this machine (or its manifest changed): its answers are shown once that dataset is open", run.dir.display()));
                self.drop_pending_compare("the shown run's dataset is not on this machine");
            }
        }
        let n = run.lines.len();
        // Through a set of the dataset's ids: a 100k-question run against a 100k-question dataset.
        let unknown = self.samples.as_ref().map_or(0, |s| {
            let ids: std::collections::HashSet<&str> = s.records.iter().map(|r| r.id.as_str()).collect();
            run.lines.keys().filter(|id| !ids.contains(id.as_str())).count()
        });
        if unknown > 0 && run.dataset == browsing {
            self.error(format!(
                "{unknown} of the run's {n} answers have ids the dataset does not have; they are not shown"
            ));
        }
        self.info(format!("run {}: {n} answers", run.dir.display()));
        self.runs.shown = Some(run);
        self.runs.dirty = true;
    }

    /// Answers and progress streamed from the background run so far.
    fn take_lines(&mut self) {
        let Some(live) = self.runs.live.as_mut() else { return };
        let updates: Vec<Update> = live.updates.try_iter().collect();
        let Some(last) = updates.last() else { return };
        (live.done, live.total, live.rate, live.eta_s) = (last.done, last.total, last.rate, last.eta_s);
        if let Some(shown) = self.runs.shown.as_mut() {
            for line in updates.into_iter().flat_map(|u| u.lines) {
                Arc::make_mut(&mut shown.lines).insert(line.id.clone(), line);
            }
        }
        self.runs.dirty = true;
    }

    /// Per frame: streamed answers in, folder dialog answers, and the documents' recorded answers.
    pub(super) fn update_runs(&mut self) {
        self.take_lines();
        self.next_pending_compare();
        if !self.runs.dirty {
            return;
        }
        self.runs.dirty = false;
        let (Some(set), Some(run)) = (&self.samples, &self.runs.shown) else { return };
        for doc in &mut self.docs {
            if !set.owns(&doc.path) {
                continue;
            }
            let scene = set.scene_of(&doc.path);
            doc.results.recorded = set
                .records
                .iter()
                .filter(|r| Some(r.scene.as_str()) == scene)
                .filter_map(|r| run.lines.get(&r.id).cloned())
                .collect();
        }
    }

    /// Read the next run folder waiting to be compared, once the shown run's dataset is the one
    /// browsed and no other run is being read.
    fn next_pending_compare(&mut self) {
        if self.runs.pending_compare.is_empty() || self.runs.comparing.is_loading() || self.runs.opening.is_loading() {
            return;
        }
        let browsing = self.samples.as_ref().map(|s| &s.dir);
        let ready = self.runs.shown.as_ref().is_some_and(|r| r.dataset.is_some() && r.dataset.as_ref() == browsing);
        if ready && let Some(dir) = self.runs.pending_compare.pop_front() {
            self.open_compare(dir);
        }
    }

    /// Give up on the run folders waiting to be compared, saying why.
    fn drop_pending_compare(&mut self, why: &str) {
        if !self.runs.pending_compare.is_empty() {
            let n = self.runs.pending_compare.len();
            self.runs.pending_compare.clear();
            self.error(format!("{n} run folder(s) not compared: {why}"));
        }
    }

    /// A document opened or the dataset changed: fill the recorded slots again.
    pub(super) fn runs_changed(&mut self) {
        self.runs.dirty = true;
    }
}

/// The default run folder: `runs/<dataset>-<model>-<split>` beside the app's settings (or in the
/// temporary folder when there is no settings folder).
fn default_folder(dataset: &Path, s: &RunSettings) -> PathBuf {
    let base = eframe::storage_dir("heatscope").unwrap_or_else(std::env::temp_dir).join("runs");
    let name = dataset.file_name().map_or_else(|| "dataset".into(), |n| n.to_string_lossy().into_owned());
    base.join(format!("{name}-{}-{}", s.model.name(), s.split))
}

/// How to make the model on the worker.
struct Builder {
    make: Make,
    options: serde_json::Value,
    /// Whether it computes on this machine (then it is held to a share of the CPU).
    local: bool,
}

enum Make {
    Prior,
    Rule,
    Ready(Arc<dyn Predictor>),
    Vlm {
        backend: Arc<dyn crate::backend::ChatBackend>,
        source: crate::workers::VlmSource,
        ask: crate::backend::predictor::VlmAsk,
        in_flight: usize,
    },
}

/// The background run (on a worker).
fn make_run(
    plan: &Plan,
    records: &[QaRecord],
    builder: Builder,
    share: f64,
    tx: &Sender<Update>,
    r: &Reporter<'_>,
) -> Result<Finished, String> {
    r.progress(0.0, "preparing the model");
    let model: Arc<dyn Predictor> = match builder.make {
        Make::Prior => Arc::new(PriorPredictor::new(records).map_err(|e| e.to_string())?),
        Make::Rule => Arc::new(RulePredictor::tuned(&plan.dataset, records).map_err(|e| e.to_string())?.0),
        Make::Ready(p) => p,
        Make::Vlm { backend, source, ask, in_flight } => {
            Arc::new(crate::backend::predictor::VlmPredictor::new(backend, &source, records, ask, in_flight))
        }
    };
    let bounded = CpuShare::new(model.as_ref(), share, cores());
    let before = std::cell::Cell::new(0);
    let mut on_start = |left: usize, b: usize, earlier: &[RunLine]| {
        before.set(b);
        // A continued run: its earlier answers show at once (read by the folder, on this worker).
        let lines = earlier.to_vec();
        let _ = tx.send(Update { lines, done: b, total: b + left, eta_s: f64::INFINITY, ..Update::default() });
        r.progress(0.0, format!("{left} questions to ask"));
    };
    let mut on_step = |step: &crate::eval::runner::Step<'_>, lines: &[RunLine]| {
        // The UI may have gone; the folder keeps the answers either way.
        let _ = tx.send(Update {
            lines: lines.to_vec(),
            done: before.get() + step.done,
            total: before.get() + step.total,
            rate: step.rate(),
            eta_s: step.eta_s(),
        });
        #[allow(clippy::cast_precision_loss)]
        let fraction = step.done as f32 / step.total.max(1) as f32;
        r.progress(fraction, format!("{}/{} questions", step.done, step.total));
    };
    let run: Executed<'_> =
        execute(plan, records, &bounded, r.cancel_flag(), &mut on_start, &mut on_step).map_err(|e| e.to_string())?;
    let asked = run.asked.len();
    let failed = run.failed();
    let stopped = match &run.end {
        Ok(RunEnd::Finished) => None,
        Ok(RunEnd::Cancelled) => return Err("cancelled".into()),
        Err(e) => Some(e.to_string()),
    };
    if stopped.is_none()
        && let Some(folder) = &run.folder
    {
        let asked_records: Vec<QaRecord> = run.asked.iter().map(|r| (*r).clone()).collect();
        let predictions: Vec<_> = run.lines.iter().map(RunLine::prediction).collect();
        let opts = crate::eval::ScoreOptions { split: plan.selection.split, ..crate::eval::ScoreOptions::default() };
        let report = crate::eval::score(&asked_records, &predictions, &opts);
        let json = serde_json::from_str(&report.to_json()).map_err(|e| e.to_string())?;
        folder.write_summary(asked, Some(json)).map_err(|e| e.to_string())?;
    }
    let dir = run.folder.as_ref().map(|f| f.dir().to_path_buf()).unwrap_or_default();
    let summary = crate::eval::runs::open(&dir).ok().map(|(s, _)| s);
    let lines = Arc::new(run.lines.into_iter().map(|l| (l.id.clone(), l)).collect());
    let written = Some(std::time::SystemTime::now());
    let run = ShownRun { dir, summary, lines, dataset: Some(plan.dataset.clone()), written, records: None };
    Ok(Finished { run, asked, failed, stopped })
}
