//! The failure list (error analysis, first part): every question of the browsed dataset that the shown
//! run answered, with the truth, the run's answer and its verdict, filtered by level, kind, scenario,
//! split, right or wrong and a scene-id search, and a confusion matrix per closed question kind whose
//! cells filter the list to their questions. Clicking a row shows its scene in the viewer; then
//! Left / Right step through the filtered rows instead of through all scenes, and E brings the list
//! back. Rows are scored once per run (not per frame) and only the visible rows are laid out, so the
//! list stays smooth with a hundred thousand questions. UI thread.

use std::collections::HashMap;
use std::path::PathBuf;

use super::samples::SampleSet;
use super::{Command, HeatscopeApp};
use crate::eval::metrics::match_option;
use crate::eval::runs::RunLine;
use crate::types::{Level, QaRecord, QuestionKind, REGIONS, SEVERITY_CLASSES, Split};

pub mod cross;
mod export;
pub mod figures;
mod scoring;
use scoring::score_rows;
mod runs_view;
mod tables;
#[cfg(test)]
mod tests;
mod view;

pub use view::window;

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
    /// What the model's domain check said of the input (run A; None: the model has none).
    pub out_of_domain: Option<bool>,
    /// For closed questions, the truth's and the answer's index in [`matrix_classes`] (None when
    /// the answer names no class).
    pub truth_class: Option<usize>,
    pub guess_class: Option<usize>,
    /// Each compared run's answer to the same question (B, C, … in order; None where it did not
    /// answer).
    pub others: Vec<Option<Other>>,
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

impl Row {
    /// Whether run `k` (0: A, then the compared runs) got the question right; None where it did not
    /// answer it.
    pub fn right_in(&self, k: usize) -> Option<bool> {
        match k {
            0 => Some(self.correct),
            _ => self.others.get(k - 1)?.as_ref().map(|o| o.correct),
        }
    }

    /// Run `k`'s confidence in its answer, where it gave one.
    pub fn confidence_in(&self, k: usize) -> Option<f32> {
        match k {
            0 => self.confidence,
            _ => self.others.get(k - 1)?.as_ref()?.confidence,
        }
    }

    /// Run `k`'s score on the question (0 where it did not answer).
    pub fn score_in(&self, k: usize) -> f64 {
        match k {
            0 => self.score,
            _ => self.others.get(k - 1).and_then(Option::as_ref).map_or(0.0, |o| o.score),
        }
    }
}

/// A compared run's outcome on a row's question.
#[derive(Clone, Debug)]
pub struct Other {
    pub correct: bool,
    pub score: f64,
    pub answer: String,
    pub verdict: String,
    pub confidence: Option<f32>,
}

/// Where the runs stand on a question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agreement {
    /// At least two runs answered it, and some are right and some wrong.
    Disagree,
    /// Every run answered it and only run `k` (0: A, 1: B, …) is right.
    Only(usize),
}

/// The letter naming run `k` in the window and the exports: A (the run shown), then B, C, …
pub fn letter(k: usize) -> char {
    char::from(b'A' + (k.min(25) as u8))
}

/// The most runs compared with the shown one at once (B to H).
pub const MAX_COMPARED: usize = 7;

/// Bands of a run's confidence in its answer, for the filter: [lo, hi).
pub const CONFIDENCE_BANDS: [(f32, f32); 4] = [(0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, f32::INFINITY)];

/// The order of the listed rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// As the dataset lists its questions.
    #[default]
    Dataset,
    /// The most confident answers first (confident mistakes are the ones to look at).
    ConfidenceHigh,
    /// The least confident answers first.
    ConfidenceLow,
    /// The lowest scores first.
    ScoreLow,
    /// By scene id.
    Scene,
}

impl Sort {
    pub const ALL: [Sort; 5] = [Sort::Dataset, Sort::ConfidenceHigh, Sort::ConfidenceLow, Sort::ScoreLow, Sort::Scene];

    pub fn name(self) -> &'static str {
        match self {
            Sort::Dataset => "dataset order",
            Sort::ConfidenceHigh => "most confident first",
            Sort::ConfidenceLow => "least confident first",
            Sort::ScoreLow => "lowest score first",
            Sort::Scene => "scene id",
        }
    }
}

/// One level's comparison of the shown run (A) with a compared one (B, C, …), on the questions both
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

/// The closed kinds, each with a confusion matrix: SpectrumQA's, then the RadioQA tasks.
pub fn matrix_kinds() -> impl Iterator<Item = QuestionKind> {
    [QuestionKind::Severity, QuestionKind::RegionAffected, QuestionKind::WhichWorse, QuestionKind::WorstRegion]
        .into_iter()
        .chain(QuestionKind::RADIO)
}

/// What the window draws from the rows, counted when the rows or the filter change, not per frame.
#[derive(Clone, Debug, Default)]
pub struct Tallies {
    /// Right answers among the rows shown.
    pub right: usize,
    /// Each closed kind's confusion matrix ([`FailureList::confusion`]), for the kinds the run
    /// has questions of.
    pub confusion: Vec<(QuestionKind, Vec<Vec<usize>>)>,
    /// The IoU histogram and the reliability diagram ([`FailureList::plots`]).
    pub iou: [usize; BINS],
    pub reliability: [(usize, usize); BINS],
    /// A against each compared run per level ([`FailureList::compare_levels`]).
    pub levels: Vec<Vec<LevelComparison>>,
}

/// The classes of a closed kind's confusion matrix; empty for boxes and explanations. Which-is-worse
/// questions offer two of the five regions each, so their matrix runs over all five.
pub fn matrix_classes(kind: QuestionKind) -> &'static [&'static str] {
    match kind {
        QuestionKind::Severity => &SEVERITY_CLASSES,
        QuestionKind::RegionAffected => &["yes", "no"],
        QuestionKind::WhichWorse | QuestionKind::WorstRegion => &REGIONS,
        QuestionKind::Localize | QuestionKind::Explain => &[],
        QuestionKind::Morphology
        | QuestionKind::Extended
        | QuestionKind::Fr
        | QuestionKind::Galaxy
        | QuestionKind::Artefact
        | QuestionKind::Anomaly => kind.radio_classes(),
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
    /// Some(false): wrong answers only; Some(true): right only (of run `run`).
    pub correct: Option<bool>,
    /// The run whose right / wrong and confidence the filters read (0: A, 1: B, …).
    pub run: usize,
    /// A band of [`CONFIDENCE_BANDS`] (of run `run`'s confidence).
    pub confidence: Option<usize>,
    /// Some(true): answers on inputs run A's model judged out of its domain; Some(false): in domain.
    pub domain: Option<bool>,
    /// The order of the list.
    pub sort: Sort,
    /// Part of a scene id.
    pub search: String,
    /// A confusion-matrix cell: the kind, the true class and the answered class (None: unparsed).
    pub cell: Option<(QuestionKind, usize, Option<usize>)>,
    /// With compared runs: questions where the runs disagree, or only one of them is right.
    pub agreement: Option<Agreement>,
    /// A bar of the IoU histogram or of the reliability diagram.
    pub bin: Option<(Plotted, usize)>,
}

/// The runs and dataset the rows were scored from (folder and answer count of each run).
type Built = ((PathBuf, usize), Vec<(PathBuf, usize)>, PathBuf);

/// A run's answers by question id, shared with the thread that scores a large run.
pub type Lines = std::sync::Arc<HashMap<String, RunLine>>;

/// A run as the list reads it: its folder and its answers by question id.
pub type RunRef<'a> = (&'a PathBuf, &'a Lines);

/// From this many questions on, a run's rows are scored on another thread (a 100k-question run
/// takes most of a second), the list saying so meanwhile; smaller ones at once.
const SCORE_APART_FROM: usize = 20_000;

/// Rows being scored on another thread, and what they are scored from.
#[derive(Debug)]
struct Scoring {
    built: Built,
    rows: std::sync::mpsc::Receiver<Vec<Row>>,
}

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
    /// runs', the dataset and the filter.
    built: Option<(Built, Filter)>,
    /// The metric of the cross-scenario matrix (index into [`cross::METRICS`]).
    pub cross_metric: usize,
    /// Where the list's rows were drawn last frame and how far down they were scrolled (points).
    pub list_rect: Option<egui::Rect>,
    pub list_offset: f32,
    /// The scene-id search, lowercased once per filter change.
    needle: String,
    tallies: Tallies,
    /// A large run's rows being scored on another thread.
    scoring: Option<Scoring>,
    /// Rows arrived from that thread: the filtered view and the tallies are due.
    arrived: bool,
    /// The filter changed: the list goes back to its top (once).
    pub to_top: bool,
    /// Left / Right stepped to this position: the list brings it into sight (once).
    pub reveal: Option<usize>,
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

    /// The counts behind the window's matrix, plots and comparison, as of the last refresh.
    pub fn tallies(&self) -> &Tallies {
        &self.tallies
    }

    /// Brings rows and the filtered view up to date with the run and the dataset (cheap when
    /// nothing changed: one comparison per frame).
    pub fn refresh(&mut self, set: Option<&SampleSet>, run: Option<RunRef>, others: &[RunRef]) {
        let (Some(set), Some((dir, lines))) = (set, run) else {
            self.rows.clear();
            self.shown.clear();
            self.built = None;
            self.selected = None;
            self.tallies = Tallies::default();
            return;
        };
        let built: Built = (
            (dir.clone(), lines.len()),
            others.iter().map(|(d, l)| ((*d).clone(), l.len())).collect(),
            set.dir.clone(),
        );
        let other_lines: Vec<&HashMap<String, RunLine>> = others.iter().map(|(_, l)| l.as_ref()).collect();
        if self.collect_scored(&built, set) {
            return;
        }
        if !self.arrived && self.built.as_ref().is_some_and(|(b, f)| b == &built && f == &self.filter) {
            return;
        }
        self.arrived = false;
        let before = self.built.as_ref().map(|(b, _)| b);
        // The same runs and dataset with more answers in A (a run streaming in): score just those.
        let grew = before.is_some_and(|b| b.0.0 == built.0.0 && b.0.1 < built.0.1 && b.1 == built.1 && b.2 == built.2);
        if grew {
            let fresh: Vec<usize> = (0..set.records.len())
                .filter(|&i| !self.scored.get(i).copied().unwrap_or(false) && lines.contains_key(&set.records[i].id))
                .collect();
            self.rows.extend(score_rows(set, lines, &other_lines, &fresh));
            self.rows.sort_by_key(|r| r.record);
        } else if before != Some(&built) && set.records.len() >= SCORE_APART_FROM {
            self.score_apart(built, set, lines, others);
            return;
        } else if before != Some(&built) {
            let all: Vec<usize> = (0..set.records.len()).collect();
            self.rows = score_rows(set, lines, &other_lines, &all);
            self.chosen = None;
        }
        if before != Some(&built) {
            self.scored = vec![false; set.records.len()];
            for r in &self.rows {
                self.scored[r.record] = true;
            }
        }
        if self.built.as_ref().is_none_or(|(_, f)| f != &self.filter) {
            self.to_top = true;
        }
        self.needle = self.filter.search.trim().to_lowercase();
        self.filter.run = self.filter.run.min(others.len());
        self.shown = (0..self.rows.len()).filter(|&i| self.passes(set, &self.rows[i])).collect();
        self.sort(set);
        // The chosen row stays selected while it passes the filter, and is again when it passes again.
        self.selected = self.chosen.and_then(|c| self.shown.iter().position(|&i| self.rows[i].record == c));
        self.built = Some((built, self.filter.clone()));
        let (iou, reliability) = self.plots(set);
        self.tallies = Tallies {
            right: self.shown().filter(|r| r.correct).count(),
            confusion: matrix_kinds()
                .filter(|&k| self.rows.iter().any(|r| set.records[r.record].kind == k))
                .map(|k| (k, self.confusion(set, k)))
                .collect(),
            iou,
            reliability,
            levels: (1..=others.len()).map(|k| self.compare_levels(set, k)).collect(),
        };
    }

    /// Whether the rows carry a compared run's answers.
    pub fn comparing(&self) -> bool {
        self.compared() > 0
    }

    /// How many compared runs the rows carry (B, C, …).
    pub fn compared(&self) -> usize {
        self.built.as_ref().map_or(0, |((_, others, _), _)| others.len())
    }

    /// Orders the filtered rows as the filter asks (stable: dataset order among equals).
    fn sort(&mut self, set: &SampleSet) {
        let (rows, k) = (&self.rows, self.filter.run);
        let confidence = |i: &usize| rows[*i].confidence_in(k);
        match self.filter.sort {
            Sort::Dataset => {}
            // Answers without a confidence go last either way.
            Sort::ConfidenceHigh => self.shown.sort_by(|a, b| {
                let key = |i| confidence(i).map_or(f32::INFINITY, |c| -c);
                key(a).total_cmp(&key(b))
            }),
            Sort::ConfidenceLow => self.shown.sort_by(|a, b| {
                let key = |i| confidence(i).unwrap_or(f32::INFINITY);
                key(a).total_cmp(&key(b))
            }),
            Sort::ScoreLow => self.shown.sort_by(|a, b| rows[*a].score_in(k).total_cmp(&rows[*b].score_in(k))),
            Sort::Scene => {
                self.shown.sort_by(|a, b| set.records[rows[*a].record].scene.cmp(&set.records[rows[*b].record].scene))
            }
        }
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

    /// A against compared run `k` (1: B, 2: C, …) per level, over the questions both answered that
    /// pass the scenario, split and scene-id filters.
    pub fn compare_levels(&self, set: &SampleSet, k: usize) -> Vec<LevelComparison> {
        Level::ALL
            .into_iter()
            .filter_map(|level| {
                let pairs: Vec<(bool, bool)> = self
                    .rows
                    .iter()
                    .filter(|r| set.records[r.record].level == level && self.context_passes(set, r))
                    .filter_map(|r| r.right_in(k).map(|b| (r.correct, b)))
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
            && f.correct.is_none_or(|c| row.right_in(f.run) == Some(c))
            && f.confidence.is_none_or(|band| {
                let (lo, hi) = CONFIDENCE_BANDS[band.min(CONFIDENCE_BANDS.len() - 1)];
                row.confidence_in(f.run).is_some_and(|c| c >= lo && c < hi)
            })
            && f.domain.is_none_or(|d| row.out_of_domain == Some(d))
            && self.context_passes(set, row)
            && f.cell.is_none_or(|(k, t, g)| r.kind == k && row.truth_class == Some(t) && row.guess_class == g)
            && f.bin.is_none_or(|(plot, b)| match plot {
                Plotted::Iou => row.iou.is_some_and(|v| bin_of(v) == b),
                Plotted::Confidence => {
                    r.kind == QuestionKind::Severity && row.confidence.is_some_and(|c| bin_of(f64::from(c)) == b)
                }
            })
            && f.agreement.is_none_or(|a| {
                let outcomes = (0..=row.others.len()).map(|k| row.right_in(k));
                match a {
                    Agreement::Disagree => {
                        let answered: Vec<bool> = outcomes.flatten().collect();
                        answered.len() > 1 && answered.iter().any(|&c| c != answered[0])
                    }
                    Agreement::Only(only) => {
                        !row.others.is_empty() && outcomes.enumerate().all(|(k, c)| c == Some(k == only))
                    }
                }
            })
    }

    /// The filters that also shape the confusion matrix: scenario, split and scene id.
    fn context_passes(&self, set: &SampleSet, row: &Row) -> bool {
        let r = &set.records[row.record];
        let f = &self.filter;
        f.scenario.as_ref().is_none_or(|s| &r.scenario == s)
            && f.split.is_none_or(|s| r.split == s)
            && (self.needle.is_empty() || r.scene.to_lowercase().contains(&self.needle))
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
        let scene = self.select(at + delta);
        self.reveal = self.selected;
        scene
    }
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
