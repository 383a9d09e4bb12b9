//! The failure list (error analysis, first part): every question of the browsed dataset that the shown
//! run answered, with the truth, the run's answer and its verdict, filtered by level, kind, scenario,
//! split, right or wrong and a scene-id search, and a confusion matrix per closed question kind whose
//! cells filter the list to their questions. Clicking a row shows its scene in the viewer; then
//! Left / Right step through the filtered rows instead of through all scenes, and E brings the list
//! back. Rows are scored once per run (not per frame) and only the visible rows are laid out, so the
//! list stays smooth with a hundred thousand questions. UI thread.

use std::collections::HashMap;
use std::path::PathBuf;

use egui::{Color32, RichText};

use super::samples::SampleSet;
use super::{Command, HeatscopeApp};
use crate::eval::metrics::match_option;
use crate::eval::runs::RunLine;
use crate::types::{Level, QaRecord, QuestionKind, REGIONS, SEVERITY_CLASSES, Split};

/// One answered question.
#[derive(Clone, Debug)]
pub struct Row {
    /// Index into the sample set's records.
    pub record: usize,
    /// Index into the sample set's scenes.
    pub scene: usize,
    pub correct: bool,
    pub score: f64,
    pub verdict: String,
    pub answer: String,
    pub confidence: Option<f32>,
    /// For closed questions, the truth's and the answer's index in [`matrix_classes`] (None when
    /// the answer names no class).
    pub truth_class: Option<usize>,
    pub guess_class: Option<usize>,
    /// The compared run's answer to the same question, when there is a compared run and it answered.
    pub other: Option<Other>,
    /// L3 with a box in both truth and answer: their IoU.
    pub iou: Option<f64>,
}

/// Bins of the L3 IoU histogram and of the L1 reliability diagram (tenths of 0..1).
pub const BINS: usize = 10;

/// Which plot a bin belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plotted {
    /// The L3 IoU histogram.
    Iou,
    /// The L1 reliability diagram (confidence bins).
    Confidence,
}

/// The tenth of 0..1 that `v` falls in (1.0 in the last).
fn bin_of(v: f64) -> usize {
    ((v * BINS as f64).floor().max(0.0) as usize).min(BINS - 1)
}

/// The compared run's outcome on a row's question.
#[derive(Clone, Debug)]
pub struct Other {
    pub correct: bool,
    pub answer: String,
    pub verdict: String,
}

/// Where the two compared runs stand on a question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agreement {
    /// Exactly one of them is right.
    Disagree,
    /// Only the shown run (A) is right.
    OnlyA,
    /// Only the compared run (B) is right.
    OnlyB,
}

/// One level's comparison of the shown run (A) with the compared one (B), on the questions both
/// answered.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelComparison {
    pub level: Level,
    pub both: usize,
    pub a_right: usize,
    pub b_right: usize,
    /// Right in A only, and in B only.
    pub only_a: usize,
    pub only_b: usize,
    /// B's accuracy minus A's, with its 95 % interval.
    pub delta: (f64, f64, f64),
    /// McNemar's exact two-sided p-value.
    pub p: f64,
}

/// The classes of a closed kind's confusion matrix; empty for boxes and explanations. Which-is-worse
/// questions offer two of the five regions each, so their matrix runs over all five.
pub fn matrix_classes(kind: QuestionKind) -> &'static [&'static str] {
    match kind {
        QuestionKind::Severity => &SEVERITY_CLASSES,
        QuestionKind::RegionAffected => &["yes", "no"],
        QuestionKind::WhichWorse | QuestionKind::WorstRegion => &REGIONS,
        QuestionKind::Localize | QuestionKind::Explain => &[],
    }
}

/// The classes a record's truth and `answer` name in its kind's matrix.
fn classes_of(r: &QaRecord, answer: &str) -> (Option<usize>, Option<usize>) {
    let classes = matrix_classes(r.kind);
    if classes.is_empty() {
        return (None, None);
    }
    (match_option(&r.answer, classes), match_option(answer, classes))
}

/// Which rows to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub level: Option<Level>,
    pub kind: Option<QuestionKind>,
    pub scenario: Option<String>,
    pub split: Option<Split>,
    /// Some(false): wrong answers only; Some(true): right only.
    pub correct: Option<bool>,
    /// Part of a scene id.
    pub search: String,
    /// A confusion-matrix cell: the kind, the true class and the answered class (None: unparsed).
    pub cell: Option<(QuestionKind, usize, Option<usize>)>,
    /// With a compared run: questions where the runs disagree, or only one of them is right.
    pub agreement: Option<Agreement>,
    /// A bar of the IoU histogram or of the reliability diagram.
    pub bin: Option<(Plotted, usize)>,
}

/// The runs and dataset the rows were scored from (folder and answer count of each run).
type Built = ((PathBuf, usize), Option<(PathBuf, usize)>, PathBuf);

/// The list's state: the scored rows of the shown run, the filtered view of them and the row shown.
#[derive(Debug, Default)]
pub struct FailureList {
    pub open: bool,
    pub filter: Filter,
    rows: Vec<Row>,
    /// Indices into `rows` that pass the filter.
    shown: Vec<usize>,
    /// Position in `shown` of the row whose scene is in the viewer; while set, Left / Right step it.
    pub selected: Option<usize>,
    /// The record of the row last chosen: selected again when a filter brings it back.
    chosen: Option<usize>,
    /// Which records have a row (indexed like the dataset's records), so a growing run scores only
    /// its new answers.
    scored: Vec<bool>,
    /// Exports being written (the message to show when done).
    pub export: super::slot::Slot<String>,
    /// The kind whose confusion matrix is shown (None: severity).
    pub matrix_kind: Option<QuestionKind>,
    /// What `rows` and `shown` were built from: the run folder and its answer count, the compared
    /// run's, the dataset and the filter.
    built: Option<(Built, Filter)>,
}

impl FailureList {
    /// The rows passing the filter, in dataset order.
    pub fn shown(&self) -> impl Iterator<Item = &Row> {
        self.shown.iter().map(|&i| &self.rows[i])
    }

    pub fn shown_len(&self) -> usize {
        self.shown.len()
    }

    pub fn answered(&self) -> usize {
        self.rows.len()
    }

    /// Brings rows and the filtered view up to date with the run and the dataset (cheap when
    /// nothing changed: one comparison per frame).
    pub fn refresh(
        &mut self,
        set: Option<&SampleSet>,
        run: Option<(&PathBuf, &HashMap<String, RunLine>)>,
        other: Option<(&PathBuf, &HashMap<String, RunLine>)>,
    ) {
        let (Some(set), Some((dir, lines))) = (set, run) else {
            self.rows.clear();
            self.shown.clear();
            self.built = None;
            self.selected = None;
            return;
        };
        let built: Built = ((dir.clone(), lines.len()), other.map(|(d, l)| (d.clone(), l.len())), set.dir.clone());
        if self.built.as_ref().is_some_and(|(b, f)| b == &built && f == &self.filter) {
            return;
        }
        let before = self.built.as_ref().map(|(b, _)| b);
        // The same runs and dataset with more answers in A (a run streaming in): score just those.
        let grew = before.is_some_and(|b| b.0.0 == built.0.0 && b.0.1 < built.0.1 && b.1 == built.1 && b.2 == built.2);
        if grew {
            let fresh: Vec<usize> = (0..set.records.len())
                .filter(|&i| !self.scored.get(i).copied().unwrap_or(false) && lines.contains_key(&set.records[i].id))
                .collect();
            self.rows.extend(score_rows(set, lines, other.map(|(_, l)| l), &fresh));
            self.rows.sort_by_key(|r| r.record);
        } else if before != Some(&built) {
            let all: Vec<usize> = (0..set.records.len()).collect();
            self.rows = score_rows(set, lines, other.map(|(_, l)| l), &all);
            self.chosen = None;
        }
        self.scored = vec![false; set.records.len()];
        for r in &self.rows {
            self.scored[r.record] = true;
        }
        self.shown = (0..self.rows.len()).filter(|&i| self.passes(set, &self.rows[i])).collect();
        // The chosen row stays selected while it passes the filter, and is again when it passes again.
        self.selected = self.chosen.and_then(|c| self.shown.iter().position(|&i| self.rows[i].record == c));
        self.built = Some((built, self.filter.clone()));
    }

    /// Whether the rows carry a compared run's answers.
    pub fn comparing(&self) -> bool {
        self.built.as_ref().is_some_and(|((_, other, _), _)| other.is_some())
    }

    /// The L3 IoU histogram (questions per tenth) and the L1 reliability diagram (per confidence
    /// tenth: questions and right answers), over the rows passing scenario, split and scene id.
    pub fn plots(&self, set: &SampleSet) -> ([usize; BINS], [(usize, usize); BINS]) {
        let mut iou = [0; BINS];
        let mut reliability = [(0, 0); BINS];
        for row in self.rows.iter().filter(|r| self.context_passes(set, r)) {
            if let Some(v) = row.iou {
                iou[bin_of(v)] += 1;
            }
            if set.records[row.record].kind == QuestionKind::Severity
                && let Some(c) = row.confidence
            {
                let b = &mut reliability[bin_of(f64::from(c))];
                b.0 += 1;
                b.1 += usize::from(row.correct);
            }
        }
        (iou, reliability)
    }

    /// A against B per level, over the questions both answered that pass the scenario, split and
    /// scene-id filters.
    pub fn compare_levels(&self, set: &SampleSet) -> Vec<LevelComparison> {
        Level::ALL
            .into_iter()
            .filter_map(|level| {
                let pairs: Vec<(bool, bool)> = self
                    .rows
                    .iter()
                    .filter(|r| set.records[r.record].level == level && self.context_passes(set, r))
                    .filter_map(|r| r.other.as_ref().map(|o| (r.correct, o.correct)))
                    .collect();
                if pairs.is_empty() {
                    return None;
                }
                let count = |f: fn(&(bool, bool)) -> bool| pairs.iter().filter(|p| f(p)).count();
                let (only_a, only_b) = (count(|p| p.0 && !p.1), count(|p| !p.0 && p.1));
                Some(LevelComparison {
                    level,
                    both: pairs.len(),
                    a_right: count(|p| p.0),
                    b_right: count(|p| p.1),
                    only_a,
                    only_b,
                    delta: crate::eval::metrics::paired_difference(only_a, only_b, pairs.len()),
                    p: crate::eval::metrics::mcnemar_exact(only_a, only_b),
                })
            })
            .collect()
    }

    fn passes(&self, set: &SampleSet, row: &Row) -> bool {
        let r = &set.records[row.record];
        let f = &self.filter;
        f.level.is_none_or(|l| r.level == l)
            && f.kind.is_none_or(|k| r.kind == k)
            && f.correct.is_none_or(|c| row.correct == c)
            && self.context_passes(set, row)
            && f.cell.is_none_or(|(k, t, g)| r.kind == k && row.truth_class == Some(t) && row.guess_class == g)
            && f.bin.is_none_or(|(plot, b)| match plot {
                Plotted::Iou => row.iou.is_some_and(|v| bin_of(v) == b),
                Plotted::Confidence => {
                    r.kind == QuestionKind::Severity && row.confidence.is_some_and(|c| bin_of(f64::from(c)) == b)
                }
            })
            && f.agreement.is_none_or(|a| {
                let b = row.other.as_ref().map(|o| o.correct);
                match a {
                    Agreement::Disagree => b.is_some_and(|b| b != row.correct),
                    Agreement::OnlyA => b == Some(false) && row.correct,
                    Agreement::OnlyB => b == Some(true) && !row.correct,
                }
            })
    }

    /// The filters that also shape the confusion matrix: scenario, split and scene id.
    fn context_passes(&self, set: &SampleSet, row: &Row) -> bool {
        let r = &set.records[row.record];
        let f = &self.filter;
        f.scenario.as_ref().is_none_or(|s| &r.scenario == s)
            && f.split.is_none_or(|s| r.split == s)
            && (f.search.is_empty() || r.scene.to_lowercase().contains(&f.search.trim().to_lowercase()))
    }

    /// Counts of `kind`'s questions per (true class, answered class; the last column is
    /// "unparsed"), over the rows passing the scenario, split and scene-id filters.
    pub fn confusion(&self, set: &SampleSet, kind: QuestionKind) -> Vec<Vec<usize>> {
        let n = matrix_classes(kind).len();
        let mut m = vec![vec![0; n + 1]; n];
        for row in &self.rows {
            if set.records[row.record].kind != kind || !self.context_passes(set, row) {
                continue;
            }
            if let Some(t) = row.truth_class.filter(|&t| t < n) {
                m[t][row.guess_class.filter(|&g| g < n).unwrap_or(n)] += 1;
            }
        }
        m
    }

    /// Select the filtered row at `pos` (wrapping) and return its scene index.
    pub fn select(&mut self, pos: isize) -> Option<usize> {
        if self.shown.is_empty() {
            return None;
        }
        let p = pos.rem_euclid(self.shown.len() as isize) as usize;
        self.selected = Some(p);
        self.chosen = Some(self.rows[self.shown[p]].record);
        Some(self.rows[self.shown[p]].scene)
    }

    /// Step `delta` filtered rows from the selected one; the scene index to show.
    pub fn step(&mut self, delta: isize) -> Option<usize> {
        let at = self.selected? as isize;
        self.select(at + delta)
    }
}

/// The records of `which` (indices) that the run answered, scored, with the compared run's answer
/// where it has one.
fn score_rows(
    set: &SampleSet,
    lines: &HashMap<String, RunLine>,
    other: Option<&HashMap<String, RunLine>>,
    which: &[usize],
) -> Vec<Row> {
    let scene_of: HashMap<&str, usize> = set.scenes.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    // A line's verdict: right or not, and what to say.
    let judge = |r: &QaRecord, line: &RunLine| {
        let s = crate::eval::score_question(r, Some(&line.prediction()));
        match &line.error {
            Some(e) => (false, s.score, format!("failed: {e}")),
            None => (s.correct, s.score, s.verdict),
        }
    };
    which
        .iter()
        .filter_map(|&i| {
            let r = set.records.get(i)?;
            let line = lines.get(&r.id)?;
            let scene = *scene_of.get(r.scene.as_str())?;
            let (correct, score, verdict) = judge(r, line);
            let (truth_class, guess_class) = classes_of(r, &line.answer);
            let iou = match crate::eval::question::outcome(r, Some(&line.prediction())) {
                crate::eval::question::Outcome::Region { truth: Some(t), guess: Some(g) } if line.error.is_none() => {
                    Some(crate::eval::metrics::iou(t, g))
                }
                _ => None,
            };
            let other = other.and_then(|o| o.get(&r.id)).map(|l| {
                let (correct, _, verdict) = judge(r, l);
                Other { correct, answer: l.answer.clone(), verdict }
            });
            Some(Row {
                record: i,
                scene,
                correct,
                score,
                verdict,
                answer: line.answer.clone(),
                confidence: line.confidence,
                truth_class,
                guess_class,
                other,
                iou,
            })
        })
        .collect()
}

/// Left / Right through the filtered rows while one is selected, and E to show or hide the list.
/// Called before the sample browser's own arrows, which it takes over while a row is selected.
pub fn keys(app: &mut HeatscopeApp, ctx: &egui::Context) {
    use egui::{Key, Modifiers};
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    let pinned = app.active_doc().is_some_and(|d| d.pinned.is_some());
    let walking = app.failures.selected.is_some() && !pinned;
    let (e, left, right) = ctx.input_mut(|i| {
        let arrow = |i: &mut egui::InputState, k| walking && i.consume_key(Modifiers::NONE, k);
        (i.consume_key(Modifiers::NONE, Key::E), arrow(i, Key::ArrowLeft), arrow(i, Key::ArrowRight))
    });
    if e {
        app.failures.open = !app.failures.open;
    }
    if left || right {
        let scene = app.failures.step(if right { 1 } else { -1 });
        show_scene(app, scene);
    }
}

fn show_scene(app: &mut HeatscopeApp, scene: Option<usize>) {
    if let (Some(scene), Some(set)) = (scene, app.samples.as_mut()) {
        set.current = scene;
        app.command(Command::ShowSample);
    }
}

/// The list's window (View > Error analysis, E).
pub fn window(app: &mut HeatscopeApp, ctx: &egui::Context) {
    let run = app.runs.shown.as_ref().map(|r| (&r.dir, &r.lines));
    let other = app.runs.compare.as_ref().map(|r| (&r.dir, &r.lines));
    app.failures.refresh(app.samples.as_ref(), run, other);
    if !app.failures.open {
        return;
    }
    let mut open = true;
    let mut asked = Asked::default();
    let screen = ctx.content_rect();
    egui::Window::new("Error analysis")
        .open(&mut open)
        .max_height((screen.height() - 90.0).max(200.0))
        .default_size([820.0, 620.0])
        .default_pos([290.0, 60.0])
        .show(ctx, |ui| asked = contents(app, ui));
    app.failures.open = open;
    if let Some(pos) = asked.row {
        let scene = app.failures.select(pos as isize);
        show_scene(app, scene);
    }
    if asked.compare {
        app.command(Command::CompareRunDialog);
    }
    if asked.stop_comparing {
        app.runs.compare = None;
    }
    if asked.export {
        export(app);
    }
}

/// Writes the listed rows (CSV) and the run's summary (JSON and CSV) into `analysis/` in the run's
/// folder, on a worker; the paths come back as a message.
fn export(app: &mut HeatscopeApp) {
    let (Some(set), Some(run)) = (app.samples.as_ref(), app.runs.shown.as_ref()) else { return };
    let list = list_csv(&app.failures, set);
    let report = run.summary.as_ref().and_then(|s| s.report.clone());
    let dir = run.dir.join("analysis");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let rows = app.failures.shown_len();
    let job = crate::workers::Job::task("writing the error analysis", move |_| {
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let write = |name: String, text: String| {
            let path = dir.join(name);
            crate::io::atomic::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok::<_, String>(path)
        };
        let mut written = vec![write(format!("list-{stamp}.csv"), list)?];
        if let Some(r) = report {
            let json = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
            written.push(write("summary.json".into(), json + "\n")?);
            written.push(write("summary.csv".into(), summary_csv(&r))?);
        }
        let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        Ok(format!("exported {rows} listed questions: {}", names.join(", ")))
    });
    match app.workers.submit(super::slot::Key::Export, job) {
        Ok(ticket) => app.failures.export = super::slot::Slot::loading(&ticket),
        Err(e) => app.error(format!("cannot export: {e}")),
    }
}

impl HeatscopeApp {
    /// The export's outcome, as a message.
    pub(super) fn export_event(&mut self, job: u64, kind: crate::workers::EventKind) {
        match self.failures.export.apply(job, kind) {
            super::slot::Applied::Ready => {
                if let super::slot::Slot::Ready(text) = std::mem::take(&mut self.failures.export) {
                    self.info(text);
                }
            }
            super::slot::Applied::Failed(why) => self.error(format!("the export failed: {why}")),
            _ => {}
        }
    }
}

/// One CSV field: quoted when it holds a comma, quote or line break; control characters dropped.
fn csv_field(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control() || *c == '\n').collect();
    if clean.contains([',', '"', '\n']) { format!("\"{}\"", clean.replace('"', "\"\"")) } else { clean }
}

/// The listed rows as CSV, B's columns included when comparing.
fn list_csv(list: &FailureList, set: &SampleSet) -> String {
    use std::fmt::Write;
    let comparing = list.comparing();
    let mut s = String::from("id,scene,scenario,split,level,kind,truth,answer,verdict,correct,score,confidence");
    if comparing {
        s += ",b_answer,b_verdict,b_correct";
    }
    s.push('\n');
    for row in list.shown() {
        let r = &set.records[row.record];
        let conf = row.confidence.map_or_else(String::new, |c| format!("{c:.4}"));
        let _ = write!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{:.4},{conf}",
            csv_field(&r.id),
            csv_field(&r.scene),
            csv_field(&r.scenario),
            r.split.name(),
            r.level.name(),
            r.kind.name(),
            csv_field(&r.answer),
            csv_field(&row.answer),
            csv_field(&row.verdict),
            row.correct,
            row.score
        );
        if comparing {
            match &row.other {
                Some(o) => {
                    let _ = write!(s, ",{},{},{}", csv_field(&o.answer), csv_field(&o.verdict), o.correct);
                }
                None => s += ",,,",
            }
        }
        s.push('\n');
    }
    s
}

/// The report's headline metrics as CSV: group, metric, value and 95 % interval, n.
fn summary_csv(report: &serde_json::Value) -> String {
    use std::fmt::Write;
    let mut s = String::from("group,metric,value,lo,hi,n\n");
    for g in report["groups"].as_array().into_iter().flatten() {
        let name = csv_field(g["name"].as_str().unwrap_or("?"));
        for (key, m) in g.as_object().into_iter().flatten() {
            if let (Some(v), Some(lo), Some(hi), Some(n)) =
                (m["value"].as_f64(), m["lo"].as_f64(), m["hi"].as_f64(), m["n"].as_u64())
            {
                let _ = writeln!(s, "{name},{key},{v:.6},{lo:.6},{hi:.6},{n}");
            }
        }
    }
    s
}

/// What the window's contents asked for.
#[derive(Default)]
struct Asked {
    /// The position (in the filtered list) of a clicked row.
    row: Option<usize>,
    compare: bool,
    stop_comparing: bool,
    export: bool,
}

/// The window's contents.
fn contents(app: &mut HeatscopeApp, ui: &mut egui::Ui) -> Asked {
    let mut asked = Asked::default();
    let (Some(set), Some(run)) = (app.samples.as_ref(), app.runs.shown.as_ref()) else {
        ui.label(
            "Open a dataset and a run to list its answers: File > Open run…, or run a model from the sample browser.",
        );
        return asked;
    };
    let model = model_of(run);
    ui.label(RichText::new(format!("A: run {} ({model})", run.dir.display())).weak()).on_hover_ui(|ui| {
        ui.label(run_details(run));
    });
    ui.horizontal(|ui| match &app.runs.compare {
        Some(b) => {
            ui.label(RichText::new(format!("B: run {} ({})", b.dir.display(), model_of(b))).weak())
                .on_hover_ui(|ui| {
                    ui.label(run_details(b));
                });
            asked.stop_comparing = ui.button("stop comparing").clicked();
        }
        None => {
            asked.compare = ui
                .button("Compare with a run…")
                .on_hover_text("Another run of this dataset (another model, or another checkpoint): A vs B per level, and the questions where they differ")
                .clicked();
        }
    });
    let list = &mut app.failures;
    let right = list.shown().filter(|r| r.correct).count();
    ui.horizontal(|ui| {
        ui.label(format!(
            "{} of {} answered questions shown: {} right, {} wrong",
            list.shown_len(),
            list.answered(),
            right,
            list.shown_len() - right
        ));
        if list.export.is_loading() {
            ui.spinner();
        } else {
            asked.export = ui
                .button("Export")
                .on_hover_text(
                    "The listed questions (CSV) and the run's summary (JSON, CSV), into analysis/ in the run's folder",
                )
                .clicked();
        }
    });
    let comparing = list.comparing();
    // The tables and plots scroll on their own, so the list below keeps at least half the window.
    let top = (ui.available_height() * 0.5).max(120.0);
    egui::ScrollArea::vertical().id_salt("analysis-top").max_height(top).show(ui, |ui| {
        egui::CollapsingHeader::new("Summary").default_open(false).show(ui, |ui| {
            match run.summary.as_ref().and_then(|s| s.report.as_ref()) {
                Some(report) => summary(ui, report),
                None => {
                    ui.label("The summary appears when the run is complete (continue it with Start run).");
                }
            }
            let b = app.runs.compare.as_ref().and_then(|r| r.summary.as_ref()).and_then(|s| s.report.as_ref());
            let a = run.summary.as_ref().and_then(|s| s.report.as_ref());
            let runs: Vec<(&str, &serde_json::Value)> =
                [("A", a), ("B", b)].into_iter().filter_map(|(n, r)| r.map(|r| (n, r))).collect();
            if !runs.is_empty() {
                level_plot(ui, &runs);
            }
        });
        if list.comparing() {
            egui::CollapsingHeader::new("A vs B")
                .default_open(true)
                .show(ui, |ui| comparison(ui, &list.compare_levels(set)));
        }
        filters(ui, &mut list.filter, set, comparing);
        egui::CollapsingHeader::new("Confusion matrix").default_open(true).show(ui, |ui| matrix(ui, list, set));
        egui::CollapsingHeader::new("L3 IoU and L1 reliability")
            .default_open(false)
            .show(ui, |ui| plots(ui, list, set));
    });
    ui.separator();

    let records = &set.records;
    let row_h = ui.text_style_height(&egui::TextStyle::Monospace) + 6.0;
    let selected = list.selected;
    let rows: Vec<&Row> = list.shown().collect();
    let columns = |scene: &str, question: &str, truth: &str, answer: &str, verdict: &str, b: Option<(&str, &str)>| {
        let b = b.map_or_else(String::new, |(answer, verdict)| format!(" | B {answer:<12} {verdict}"));
        format!("{scene:<20} {question:<20} {truth:<14} {answer:<14} {verdict:<16}{b}")
    };
    let header_b = comparing.then_some(("answer", "verdict"));
    let header = columns("scene", "question", "truth", "answer", "verdict", header_b);
    ui.add(egui::Label::new(RichText::new(header).monospace().strong()).extend());
    egui::ScrollArea::both().auto_shrink([false, false]).show_rows(ui, row_h, rows.len(), |ui, range| {
        for pos in range {
            let row = rows[pos];
            let r = &records[row.record];
            let colour = if row.correct { Color32::from_rgb(120, 200, 120) } else { Color32::from_rgb(235, 110, 100) };
            let conf = row.confidence.map_or_else(String::new, |c| format!(" (p {c:.2})"));
            let b = row.other.as_ref().map(|o| (cell(&o.answer, 12), cell(&o.verdict, 40)));
            let missing = comparing && b.is_none();
            let text = columns(
                &cell(&r.scene, 20),
                &format!("{} {}", r.level.name(), r.kind.name()),
                &cell(&r.answer, 14),
                &cell(&row.answer, 14),
                &format!("{}{conf}", cell(&row.verdict, 60)),
                if missing { Some(("-", "not answered")) } else { b.as_ref().map(|(a, v)| (a.as_str(), v.as_str())) },
            );
            let label = egui::Button::selectable(selected == Some(pos), RichText::new(text).monospace().color(colour))
                .wrap_mode(egui::TextWrapMode::Extend);
            let mut hover = format!("{}\ntruth: {}\nanswer: {}", r.question, r.answer, row.answer);
            if let Some(o) = &row.other {
                hover += &format!("\nB's answer: {} ({})", o.answer, o.verdict);
            }
            if ui.add(label).on_hover_text(hover).clicked() {
                asked.row = Some(pos);
            }
        }
    });
    asked
}

/// The runs compared level by level: questions both answered, each one's right answers, those only
/// one got right, B's accuracy minus A's with its 95 % interval, and McNemar's exact p-value.
fn comparison(ui: &mut egui::Ui, levels: &[LevelComparison]) {
    if levels.is_empty() {
        ui.label("The two runs answered no question in common (within the filters).");
        return;
    }
    egui::Grid::new("a-vs-b").striped(true).spacing([12.0, 2.0]).show(ui, |ui| {
        for h in ["level", "both answered", "A right", "B right", "only A", "only B", "B - A (95 %)", "McNemar p"] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for l in levels {
            let pct = |k: usize| format!("{k} ({:.1} %)", 100.0 * k as f64 / l.both as f64);
            let (d, lo, hi) = l.delta;
            ui.label(l.level.name());
            ui.label(l.both.to_string());
            ui.label(pct(l.a_right));
            ui.label(pct(l.b_right));
            ui.label(l.only_a.to_string());
            ui.label(l.only_b.to_string());
            ui.label(format!("{:+.1} [{:+.1}, {:+.1}] pt", 100.0 * d, 100.0 * lo, 100.0 * hi));
            let p = RichText::new(format!("{:.3}", l.p));
            ui.label(if l.p < 0.05 { p.strong() } else { p }).on_hover_text(
                "the chance of a split at least this uneven between only-A and only-B if the two were equally good",
            );
            ui.end_row();
        }
    });
}

/// `text` on one line of at most `n` characters: line breaks and other control characters become
/// spaces (a row of the list is one line high), the rest cut with an ellipsis.
fn cell(text: &str, n: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    super::panels::clip(&flat, n)
}

/// What makes a run this run, for a tooltip: model, dataset, questions asked, options, answers,
/// whether it is complete, and when its summary was last written.
fn run_details(run: &super::runs::ShownRun) -> String {
    let mut text = format!("folder {}\nmodel {}", run.dir.display(), model_of(run));
    if let Some(s) = &run.summary {
        let sel = &s.settings.selection;
        let split = sel.split.map_or("all splits", Split::name);
        let levels: Vec<&str> = sel.levels.iter().map(|l| l.name()).collect();
        let limit = sel.limit.map_or_else(String::new, |n| format!(", first {n}"));
        text += &format!(
            "\ndataset {}\nquestions: {split}, {}{limit}\noptions {}\n{} of {} answered, {} failed{}",
            s.settings.dataset.display(),
            levels.join(" "),
            s.settings.options,
            s.answered,
            s.questions,
            s.failed,
            if s.complete { "" } else { " (not complete)" }
        );
    }
    if let Some(age) = run.written.map(|t| t.elapsed().unwrap_or_default()) {
        let hours = age.as_secs_f64() / 3600.0;
        text += &if hours < 48.0 {
            format!("\nwritten {hours:.1} h ago")
        } else {
            format!("\nwritten {:.0} days ago", hours / 24.0)
        };
    }
    text
}

fn model_of(run: &super::runs::ShownRun) -> String {
    run.summary.as_ref().map_or_else(
        || "model unknown".to_string(),
        |s| {
            let m = &s.settings.model;
            format!("{} {}", m.kind, m.name)
        },
    )
}

fn filters(ui: &mut egui::Ui, f: &mut Filter, set: &SampleSet, comparing: bool) {
    ui.horizontal_wrapped(|ui| {
        combo(ui, "level", &mut f.level, Level::ALL.map(|l| (l, l.name().to_string())).into());
        combo(ui, "kind", &mut f.kind, QuestionKind::ALL.map(|k| (k, k.name().to_string())).into());
        combo(ui, "scenario", &mut f.scenario, set.scenarios().into_iter().map(|s| (s.clone(), s)).collect());
        combo(ui, "split", &mut f.split, Split::ALL.map(|s| (s, s.name().to_string())).into());
        ui.selectable_value(&mut f.correct, None, "right and wrong");
        ui.selectable_value(&mut f.correct, Some(false), "wrong only");
        ui.selectable_value(&mut f.correct, Some(true), "right only");
        ui.add(egui::TextEdit::singleline(&mut f.search).hint_text("scene id…").desired_width(120.0))
            .on_hover_text("Show only scenes whose id contains this");
        if comparing {
            ui.separator();
            ui.selectable_value(&mut f.agreement, None, "A and B");
            ui.selectable_value(&mut f.agreement, Some(Agreement::Disagree), "exactly one right");
            ui.selectable_value(&mut f.agreement, Some(Agreement::OnlyA), "only A right");
            ui.selectable_value(&mut f.agreement, Some(Agreement::OnlyB), "only B right");
        } else {
            f.agreement = None;
        }
    });
}

/// The headline metrics per group (overall, then each scenario) with their 95 % bootstrap
/// intervals, as the run's report holds them (`eval --json`'s schema); the best scenario per column bold.
fn summary(ui: &mut egui::Ui, report: &serde_json::Value) {
    const COLUMNS: [(&str, &str); 8] = [
        ("l1", "L1 acc"),
        ("l1_macro_f1", "L1 macro-F1"),
        ("l2", "L2 acc"),
        ("l3_iou", "L3 IoU"),
        ("l3_none_acc", "L3 none acc"),
        ("l4_token_f1", "L4 token F1"),
        ("l4_concept_f1", "L4 concept F1"),
        ("composite", "composite"),
    ];
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    let metric = |g: &serde_json::Value, key: &str| {
        let m = &g[key];
        let n = m["n"].as_u64().unwrap_or(0);
        (n > 0).then(|| {
            (m["value"].as_f64().unwrap_or(0.0), m["lo"].as_f64().unwrap_or(0.0), m["hi"].as_f64().unwrap_or(0.0))
        })
    };
    egui::ScrollArea::horizontal().show(ui, |ui| {
        egui::Grid::new("summary").striped(true).spacing([10.0, 2.0]).show(ui, |ui| {
            ui.label("");
            for (_, name) in COLUMNS {
                ui.label(RichText::new(name).strong());
            }
            ui.end_row();
            for g in &groups {
                ui.label(g["name"].as_str().unwrap_or("?"));
                for (key, _) in COLUMNS {
                    // The best scenario per column (overall is not a rival of its parts).
                    let scenarios = groups.iter().filter(|o| o["name"] != "overall");
                    let best = scenarios.filter_map(|o| metric(o, key)).map(|m| m.0).fold(f64::MIN, f64::max);
                    match metric(g, key) {
                        Some((v, lo, hi)) => {
                            let text = RichText::new(format!("{v:.3}")).monospace();
                            let rival = g["name"] != "overall" && groups.len() > 2;
                            let text = if rival && v >= best { text.strong() } else { text };
                            ui.label(text).on_hover_text(format!("95 % interval {lo:.3} to {hi:.3}"));
                        }
                        None => {
                            ui.label(RichText::new("-").weak()).on_hover_text("no questions of this level");
                        }
                    }
                }
                ui.end_row();
            }
        });
    });
    ui.label(
        RichText::new(format!(
            "hover a number for its 95 % bootstrap interval (over scenes, {} resamples)",
            report["bootstrap"].as_u64().unwrap_or(0)
        ))
        .weak(),
    );
}

/// Each run's headline score per level, overall, as bars with their 95 % intervals as error bars
/// (the SpectrumQA paper's Figure 1): L1 accuracy, L2 accuracy, L3 IoU, L4 concept F1.
fn level_plot(ui: &mut egui::Ui, runs: &[(&str, &serde_json::Value)]) {
    use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};
    const LEVELS: [(&str, &str); 4] =
        [("l1", "L1 acc"), ("l2", "L2 acc"), ("l3_iou", "L3 IoU"), ("l4_concept_f1", "L4 concept F1")];
    let colours = [Color32::from_rgb(120, 170, 230), Color32::from_rgb(240, 160, 80)];
    let width = 0.8 / runs.len() as f64;
    Plot::new("levels")
        .height(170.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .include_y(0.0)
        .include_y(1.0)
        .legend(Legend::default())
        .x_grid_spacer(|_| (0..LEVELS.len()).map(|i| egui_plot::GridMark { value: i as f64, step_size: 1.0 }).collect())
        .x_axis_formatter(|mark, _| {
            LEVELS.get(mark.value.round() as usize).map_or_else(String::new, |l| l.1.to_string())
        })
        .show(ui, |p| {
            for (k, (name, report)) in runs.iter().enumerate() {
                let groups = report["groups"].as_array().cloned().unwrap_or_default();
                let overall =
                    groups.iter().find(|g| g["name"] == "overall").or(groups.first()).cloned().unwrap_or_default();
                let mut bars = Vec::new();
                for (i, (key, label)) in LEVELS.iter().enumerate() {
                    let m = &overall[*key];
                    if m["n"].as_u64().unwrap_or(0) == 0 {
                        continue;
                    }
                    let (v, lo, hi) = (
                        m["value"].as_f64().unwrap_or(0.0),
                        m["lo"].as_f64().unwrap_or(0.0),
                        m["hi"].as_f64().unwrap_or(0.0),
                    );
                    let x = i as f64 - 0.4 + width * (k as f64 + 0.5);
                    bars.push(
                        Bar::new(x, v).width(width * 0.9).name(format!("{name} {label}: {v:.3} [{lo:.3}, {hi:.3}]")),
                    );
                    let whisker = PlotPoints::from(vec![[x, lo], [x, hi]]);
                    p.line(Line::new("95 % intervals", whisker).color(Color32::WHITE).width(1.5));
                }
                p.bar_chart(BarChart::new(format!("run {name}"), bars).color(colours[k % 2]));
            }
        });
}

/// The confusion matrix of one closed kind: rows are the true class, columns the answered class
/// (and "unparsed"); a cell's shade is its share of the row, green on the diagonal. Clicking a cell
/// lists its questions; clicking it again clears that.
fn matrix(ui: &mut egui::Ui, list: &mut FailureList, set: &SampleSet) {
    let kind = list.matrix_kind.unwrap_or(QuestionKind::Severity);
    ui.horizontal(|ui| {
        for k in
            [QuestionKind::Severity, QuestionKind::RegionAffected, QuestionKind::WhichWorse, QuestionKind::WorstRegion]
        {
            if ui.selectable_label(kind == k, k.name()).clicked() {
                list.matrix_kind = Some(k);
            }
        }
    });
    let classes = matrix_classes(kind);
    let counts = list.confusion(set, kind);
    let mut chosen = None;
    egui::Grid::new("confusion").spacing([4.0, 2.0]).show(ui, |ui| {
        ui.label(RichText::new("truth \\ answer").weak());
        for c in classes.iter().chain(&["unparsed"]) {
            ui.add_sized([48.0, 18.0], egui::Label::new(*c));
        }
        ui.end_row();
        for (t, row) in counts.iter().enumerate() {
            ui.label(classes[t]);
            let total: usize = row.iter().sum();
            for (g, &count) in row.iter().enumerate() {
                let guess = (g < classes.len()).then_some(g);
                let share = if total > 0 { count as f32 / total as f32 } else { 0.0 };
                let hue =
                    if guess == Some(t) { Color32::from_rgb(60, 150, 80) } else { Color32::from_rgb(170, 60, 60) };
                let fill = if count == 0 { Color32::TRANSPARENT } else { hue.gamma_multiply(0.25 + 0.75 * share) };
                let selected = list.filter.cell == Some((kind, t, guess));
                let answered = guess.map_or("unparsed", |g| classes[g]);
                let what = format!("truth {}, answer {answered}: {count}", classes[t]);
                let response = ui
                    .add(
                        egui::Button::new(count.to_string())
                            .fill(fill)
                            .selected(selected)
                            .min_size(egui::vec2(48.0, 0.0)),
                    )
                    .on_hover_text(format!("{what} ({:.0} % of {}); click to list them", 100.0 * share, classes[t]));
                response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &what));
                if response.clicked() {
                    chosen = Some(if selected { None } else { Some((kind, t, guess)) });
                }
            }
            ui.end_row();
        }
    });
    if let Some(cell) = chosen {
        list.filter.cell = cell;
        if cell.is_some() {
            // The cell decides right or wrong and the kind; other choices would hide it.
            (list.filter.correct, list.filter.kind, list.filter.level) = (None, None, None);
        }
    }
    if let Some((k, t, g)) = list.filter.cell {
        let classes = matrix_classes(k);
        let answered = g.map_or("unparsed", |g| classes[g]);
        ui.horizontal(|ui| {
            ui.label(format!("listing {} questions with truth {} answered {answered}", k.name(), classes[t]));
            if ui.button("show all").clicked() {
                list.filter.cell = None;
            }
        });
    }
}

/// The L3 IoU histogram and the L1 reliability diagram side by side; clicking a bar lists its
/// questions, clicking it again (or "show all") lists all.
fn plots(ui: &mut egui::Ui, list: &mut FailureList, set: &SampleSet) {
    use egui_plot::{Bar, BarChart, Line, Plot, PlotPoints};
    let (iou, reliability) = list.plots(set);
    let mut chosen = None;
    let centre = |b: usize| (b as f64 + 0.5) / BINS as f64;
    let selected = |plot: Plotted, b: usize| list.filter.bin == Some((plot, b));
    let colour = |on: bool| if on { Color32::from_rgb(250, 200, 80) } else { Color32::from_gray(150) };
    ui.columns(2, |cols| {
        let bars: Vec<Bar> = (0..BINS)
            .map(|b| {
                Bar::new(centre(b), iou[b] as f64)
                    .width(0.9 / BINS as f64)
                    .fill(colour(selected(Plotted::Iou, b)))
                    .name(format!("IoU {:.1}-{:.1}: {}", b as f64 / 10.0, (b + 1) as f64 / 10.0, iou[b]))
            })
            .collect();
        let plot = Plot::new("iou-histogram")
            .height(150.0)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .x_axis_label("L3 IoU (answers with a box)")
            .y_axis_label("questions")
            .include_x(0.0)
            .include_x(1.0)
            .show(&mut cols[0], |p| p.bar_chart(BarChart::new("IoU", bars)));
        if plot.response.clicked()
            && let Some(pos) = plot.response.interact_pointer_pos()
        {
            let x = plot.transform.value_from_position(pos).x;
            if (0.0..=1.0).contains(&x) {
                chosen = Some((Plotted::Iou, bin_of(x)));
            }
        }
        let bars: Vec<Bar> = (0..BINS)
            .map(|b| {
                let (n, right) = reliability[b];
                let acc = if n > 0 { right as f64 / n as f64 } else { 0.0 };
                Bar::new(centre(b), acc).width(0.9 / BINS as f64).fill(colour(selected(Plotted::Confidence, b))).name(
                    format!("confidence {:.1}-{:.1}: {right} of {n} right", b as f64 / 10.0, (b + 1) as f64 / 10.0),
                )
            })
            .collect();
        let plot = Plot::new("reliability")
            .height(150.0)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .x_axis_label("L1 confidence")
            .y_axis_label("share right")
            .include_x(0.0)
            .include_x(1.0)
            .include_y(1.0)
            .show(&mut cols[1], |p| {
                p.bar_chart(BarChart::new("accuracy", bars));
                let diagonal = PlotPoints::from(vec![[0.0, 0.0], [1.0, 1.0]]);
                p.line(Line::new("calibrated", diagonal).color(Color32::from_rgb(80, 160, 255)));
            });
        if plot.response.clicked()
            && let Some(pos) = plot.response.interact_pointer_pos()
        {
            let x = plot.transform.value_from_position(pos).x;
            if (0.0..=1.0).contains(&x) {
                chosen = Some((Plotted::Confidence, bin_of(x)));
            }
        }
    });
    if let Some(bin) = chosen {
        list.filter.bin = if list.filter.bin == Some(bin) { None } else { Some(bin) };
    }
    if let Some((plot, b)) = list.filter.bin {
        let what = match plot {
            Plotted::Iou => "L3 answers with an IoU of",
            Plotted::Confidence => "L1 answers with a confidence of",
        };
        ui.horizontal(|ui| {
            ui.label(format!("listing {what} {:.1}-{:.1}", b as f64 / 10.0, (b + 1) as f64 / 10.0));
            if ui.button("show all answers").clicked() {
                list.filter.bin = None;
            }
        });
    } else {
        ui.label(RichText::new("click a bar to list its questions").weak());
    }
}

/// A labelled drop-down choosing `value` among "all" (None) and `options` (value, text).
fn combo<T: PartialEq + Clone>(ui: &mut egui::Ui, name: &str, value: &mut Option<T>, options: Vec<(T, String)>) {
    let label = ui.label(name);
    let current = options.iter().find(|(v, _)| Some(v) == value.as_ref()).map_or("all", |(_, t)| t.as_str());
    egui::ComboBox::from_id_salt(("failures", name))
        .selected_text(current.to_string())
        .show_ui(ui, |ui| {
            ui.selectable_value(value, None, "all");
            for (v, text) in options {
                ui.selectable_value(value, Some(v), text);
            }
        })
        .response
        .labelled_by(label.id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{QaRecord, ScenePaths};

    fn record(id: &str, scene: &str, kind: QuestionKind, answer: &str) -> QaRecord {
        QaRecord {
            id: id.into(),
            scene: scene.into(),
            scenario: if scene.starts_with('a') { "leo-urban" } else { "geo-rural" }.into(),
            split: Split::Test,
            level: kind.level(),
            kind,
            question: "?".into(),
            answer: answer.into(),
            choices: vec!["low".into(), "high".into()],
            bbox: None,
            concepts: Vec::new(),
            examples: Vec::new(),
            images: ScenePaths::default(),
        }
    }

    fn line(id: &str, answer: &str) -> RunLine {
        RunLine {
            id: id.into(),
            answer: answer.into(),
            bbox: None,
            confidence: None,
            parsed: true,
            score: 0.0,
            latency_ms: 1.0,
            raw: answer.into(),
            error: None,
        }
    }

    #[test]
    fn filters_narrow_the_rows_and_stepping_walks_only_them() {
        let records = vec![
            record("a1-q1", "a1", QuestionKind::Severity, "high"),
            record("a2-q1", "a2", QuestionKind::Severity, "low"),
            record("b1-q1", "b1", QuestionKind::Severity, "high"),
            record("b2-q1", "b2", QuestionKind::Severity, "low"),
        ];
        let set = SampleSet::new(PathBuf::from("/data"), records);
        // Right on a1 and b2, wrong on a2 and b1; b2's answer is missing from the run.
        let lines: HashMap<String, RunLine> = [line("a1-q1", "high"), line("a2-q1", "high"), line("b1-q1", "low")]
            .into_iter()
            .map(|l| (l.id.clone(), l))
            .collect();
        let run = PathBuf::from("/runs/cnn");
        let mut list = FailureList::default();
        list.refresh(Some(&set), Some((&run, &lines)), None);
        assert_eq!(list.answered(), 3);
        list.filter.correct = Some(false);
        list.refresh(Some(&set), Some((&run, &lines)), None);
        let wrong: Vec<usize> = list.shown().map(|r| r.scene).collect();
        assert_eq!(wrong, [1, 2], "a2 and b1 are the wrong answers");
        assert_eq!(list.select(0), Some(1));
        assert_eq!(list.step(1), Some(2));
        assert_eq!(list.step(1), Some(1), "wraps within the filtered rows");
        assert_eq!(list.step(-1), Some(2), "and back");
        list.filter.search = "B1".into();
        list.refresh(Some(&set), Some((&run, &lines)), None);
        assert_eq!(list.shown_len(), 1);
        assert_eq!(list.selected, Some(0), "the shown row stays selected when it still passes");
        list.filter.scenario = Some("leo-urban".into());
        list.refresh(Some(&set), Some((&run, &lines)), None);
        assert_eq!((list.shown_len(), list.selected), (0, None));
        assert_eq!(list.step(1), None);
        list.filter.scenario = None;
        list.refresh(Some(&set), Some((&run, &lines)), None);
        assert_eq!(list.selected, Some(0), "chosen again once the filter lets it through");
        // The severity matrix (truth x answer, plus unparsed) and one of its cells as a filter.
        list.filter = Filter::default();
        list.refresh(Some(&set), Some((&run, &lines)), None);
        let m = list.confusion(&set, QuestionKind::Severity);
        assert_eq!((m[2][2], m[0][2], m[2][0], m.iter().flatten().sum::<usize>()), (1, 1, 1, 3));
        list.filter.cell = Some((QuestionKind::Severity, 0, Some(2)));
        list.refresh(Some(&set), Some((&run, &lines)), None);
        assert_eq!(list.shown().map(|r| r.scene).collect::<Vec<_>>(), [1], "a2: truth low, answered high");
        // A run that grows (answers streaming in) gains rows for its new answers only, in dataset
        // order, the chosen row kept.
        list.filter = Filter::default();
        list.refresh(Some(&set), Some((&run, &lines)), None);
        assert_eq!(list.select(2), Some(2));
        // Another run (more answers) rescores the rows.
        let mut more = lines.clone();
        more.insert("b2-q1".into(), line("b2-q1", "low"));
        list.filter = Filter::default();
        list.refresh(Some(&set), Some((&run, &more)), None);
        assert_eq!((list.answered(), list.shown().filter(|r| r.correct).count()), (4, 2));
        assert_eq!(list.shown().map(|r| r.scene).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(list.selected, Some(2), "b1 stays chosen as b2's row arrives");
        let mut fresh = FailureList::default();
        fresh.refresh(Some(&set), Some((&run, &more)), None);
        let key = |l: &FailureList| l.shown().map(|r| (r.record, r.correct, r.verdict.clone())).collect::<Vec<_>>();
        assert_eq!(key(&list), key(&fresh), "the same rows as scoring the whole run");
    }

    #[test]
    fn a_compared_run_gives_per_level_counts_and_agreement_filters() {
        let records = vec![
            record("a1-q1", "a1", QuestionKind::Severity, "high"),
            record("a2-q1", "a2", QuestionKind::Severity, "low"),
            record("b1-q1", "b1", QuestionKind::Severity, "high"),
            record("b2-q1", "b2", QuestionKind::Severity, "low"),
        ];
        let set = SampleSet::new(PathBuf::from("/data"), records);
        let map = |v: Vec<RunLine>| v.into_iter().map(|l| (l.id.clone(), l)).collect::<HashMap<_, _>>();
        // A: right on a1, a2; wrong on b1, b2. B: right on a1, b1, b2; wrong on a2.
        let a = map(vec![line("a1-q1", "high"), line("a2-q1", "low"), line("b1-q1", "low"), line("b2-q1", "high")]);
        let b = map(vec![line("a1-q1", "high"), line("a2-q1", "high"), line("b1-q1", "high"), line("b2-q1", "low")]);
        let (da, db) = (PathBuf::from("/runs/a"), PathBuf::from("/runs/b"));
        let mut list = FailureList::default();
        list.refresh(Some(&set), Some((&da, &a)), Some((&db, &b)));
        assert!(list.comparing());
        let l1 = &list.compare_levels(&set)[0];
        assert_eq!((l1.both, l1.a_right, l1.b_right, l1.only_a, l1.only_b), (4, 2, 3, 1, 2));
        assert!((l1.delta.0 - 0.25).abs() < 1e-12);
        assert!((l1.p - crate::eval::metrics::mcnemar_exact(1, 2)).abs() < 1e-12);
        let scenes = |list: &FailureList| list.shown().map(|r| r.scene).collect::<Vec<_>>();
        list.filter.agreement = Some(Agreement::OnlyB);
        list.refresh(Some(&set), Some((&da, &a)), Some((&db, &b)));
        assert_eq!(scenes(&list), [2, 3]);
        list.filter.agreement = Some(Agreement::OnlyA);
        list.refresh(Some(&set), Some((&da, &a)), Some((&db, &b)));
        assert_eq!(scenes(&list), [1]);
        list.filter.agreement = Some(Agreement::Disagree);
        list.refresh(Some(&set), Some((&da, &a)), Some((&db, &b)));
        assert_eq!(scenes(&list), [1, 2, 3]);
        // Without B the rows carry no second answer.
        list.filter = Filter::default();
        list.refresh(Some(&set), Some((&da, &a)), None);
        assert!(!list.comparing() && list.shown().all(|r| r.other.is_none()));
    }

    #[test]
    fn csv_fields_are_quoted_when_they_must_be_and_lose_control_characters() {
        assert_eq!(csv_field("high"), "high");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"no\""), "\"say \"\"no\"\"\"");
        assert_eq!(csv_field("bell\u{7}tab\there"), "belltabhere");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn the_iou_histogram_and_reliability_bins_count_and_filter() {
        let boxed = |id: &str, scene: &str| {
            let mut r = record(id, scene, QuestionKind::Localize, "[0, 0, 0.5, 0.5]");
            r.bbox = Some([0.0, 0.0, 0.5, 0.5]);
            r
        };
        let records =
            vec![boxed("a1-q3", "a1"), boxed("a2-q3", "a2"), record("a3-q1", "a3", QuestionKind::Severity, "high")];
        let set = SampleSet::new(PathBuf::from("/data"), records);
        let with_box = |id: &str, b: [f32; 4]| RunLine { bbox: Some(b), ..line(id, "box") };
        let sure = RunLine { confidence: Some(0.73), ..line("a3-q1", "high") };
        let lines: HashMap<String, RunLine> =
            [with_box("a1-q3", [0.0, 0.0, 0.5, 0.5]), with_box("a2-q3", [0.0, 0.0, 0.25, 0.5]), sure]
                .into_iter()
                .map(|l| (l.id.clone(), l))
                .collect();
        let run = PathBuf::from("/runs/cnn");
        let mut list = FailureList::default();
        list.refresh(Some(&set), Some((&run, &lines)), None);
        let (iou, reliability) = list.plots(&set);
        assert_eq!((iou[9], iou[5], iou.iter().sum::<usize>()), (1, 1, 2), "IoU 1.0 and 0.5");
        assert_eq!(reliability[7], (1, 1), "one severity answer at 0.73, right");
        list.filter.bin = Some((Plotted::Iou, 5));
        list.refresh(Some(&set), Some((&run, &lines)), None);
        assert_eq!(list.shown().map(|r| r.scene).collect::<Vec<_>>(), [1]);
        list.filter.bin = Some((Plotted::Confidence, 7));
        list.refresh(Some(&set), Some((&run, &lines)), None);
        assert_eq!(list.shown().map(|r| r.scene).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn list_cells_are_one_line() {
        assert_eq!(cell("two\nlines\tand\u{7}bell", 40), "two lines and bell");
        assert_eq!(cell(&"x".repeat(100), 5), "xxxx…");
    }

    #[test]
    fn a_hundred_thousand_questions_list_filter_and_grow() {
        // 16,667 scenes of six questions (the run answers five in six), long answers with line breaks.
        let kinds = [QuestionKind::Severity, QuestionKind::RegionAffected, QuestionKind::WorstRegion];
        let records: Vec<QaRecord> = (0..100_000)
            .map(|i| record(&format!("s{}-q{}", i / 6, i % 6), &format!("s{}", i / 6), kinds[i % 3], "high"))
            .collect();
        let set = SampleSet::new(PathBuf::from("/data"), records);
        assert_eq!(set.scenes.len(), 16_667);
        let answer = |i: usize| if i.is_multiple_of(2) { "high" } else { "low\nbecause\tof noise" };
        let lines: HashMap<String, RunLine> = set
            .records
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 6 != 5)
            .map(|(i, r)| (r.id.clone(), line(&r.id, answer(i))))
            .collect();
        let run = PathBuf::from("/runs/big");
        let mut list = FailureList::default();
        list.refresh(Some(&set), Some((&run, &lines)), None);
        assert_eq!(list.answered(), lines.len());
        list.filter.correct = Some(true);
        list.filter.kind = Some(QuestionKind::Severity);
        list.refresh(Some(&set), Some((&run, &lines)), None);
        assert!(list.shown().all(|r| r.correct && set.records[r.record].kind == QuestionKind::Severity));
        assert!(list.shown_len() > 10_000);
        let mut more = lines.clone();
        more.extend(set.records.iter().skip(5).step_by(6).map(|r| (r.id.clone(), line(&r.id, "high"))));
        list.refresh(Some(&set), Some((&run, &more)), None);
        assert_eq!(list.answered(), 100_000);
    }
}
