//! The failure list (error analysis, first part): every question of the browsed dataset that the shown
//! run answered, with the truth, the run's answer and its verdict, filtered by level, kind, scenario,
//! split, right or wrong and a scene-id search. Clicking a row shows its scene in the viewer; then
//! Left / Right step through the filtered rows instead of through all scenes, and E brings the list
//! back. Rows are scored once per run (not per frame) and only the visible rows are laid out, so the
//! list stays smooth with a hundred thousand questions. UI thread.

use std::collections::HashMap;
use std::path::PathBuf;

use egui::{Color32, RichText};

use super::samples::SampleSet;
use super::{Command, HeatscopeApp};
use crate::eval::runs::RunLine;
use crate::types::{Level, QuestionKind, Split};

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
    /// What `rows` and `shown` were built from: the run folder, its answer count, the dataset and
    /// the filter.
    built: Option<(PathBuf, usize, PathBuf, Filter)>,
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
    pub fn refresh(&mut self, set: Option<&SampleSet>, run_dir: Option<&PathBuf>, lines: &HashMap<String, RunLine>) {
        let (Some(set), Some(dir)) = (set, run_dir) else {
            self.rows.clear();
            self.shown.clear();
            self.built = None;
            self.selected = None;
            return;
        };
        let key = (dir.clone(), lines.len(), set.dir.clone(), self.filter.clone());
        if self.built.as_ref() == Some(&key) {
            return;
        }
        let rows_stale = self.built.as_ref().is_none_or(|(d, n, s, _)| (d, *n, s) != (&key.0, key.1, &key.2));
        if rows_stale {
            self.rows = score_rows(set, lines);
            self.selected = None;
        }
        let before = self.selected.and_then(|p| self.shown.get(p).copied());
        self.shown = (0..self.rows.len()).filter(|&i| self.passes(set, &self.rows[i])).collect();
        // Keep the shown row selected when it still passes the new filter.
        self.selected = before.and_then(|r| self.shown.iter().position(|&i| i == r));
        self.built = Some(key);
    }

    fn passes(&self, set: &SampleSet, row: &Row) -> bool {
        let r = &set.records[row.record];
        let f = &self.filter;
        f.level.is_none_or(|l| r.level == l)
            && f.kind.is_none_or(|k| r.kind == k)
            && f.scenario.as_ref().is_none_or(|s| &r.scenario == s)
            && f.split.is_none_or(|s| r.split == s)
            && f.correct.is_none_or(|c| row.correct == c)
            && (f.search.is_empty() || r.scene.to_lowercase().contains(&f.search.trim().to_lowercase()))
    }

    /// Select the filtered row at `pos` (wrapping) and return its scene index.
    pub fn select(&mut self, pos: isize) -> Option<usize> {
        if self.shown.is_empty() {
            return None;
        }
        let p = pos.rem_euclid(self.shown.len() as isize) as usize;
        self.selected = Some(p);
        Some(self.rows[self.shown[p]].scene)
    }

    /// Step `delta` filtered rows from the selected one; the scene index to show.
    pub fn step(&mut self, delta: isize) -> Option<usize> {
        let at = self.selected? as isize;
        self.select(at + delta)
    }
}

/// Every record the run answered, scored once.
fn score_rows(set: &SampleSet, lines: &HashMap<String, RunLine>) -> Vec<Row> {
    let scene_of: HashMap<&str, usize> = set.scenes.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    set.records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let line = lines.get(&r.id)?;
            let scene = *scene_of.get(r.scene.as_str())?;
            let s = crate::eval::score_question(r, Some(&line.prediction()));
            let verdict = match &line.error {
                Some(e) => format!("failed: {e}"),
                None => s.verdict,
            };
            Some(Row {
                record: i,
                scene,
                correct: s.correct && line.error.is_none(),
                score: s.score,
                verdict,
                answer: line.answer.clone(),
                confidence: line.confidence,
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
    let lines = app.runs.shown.as_ref().map(|r| &r.lines);
    let empty = HashMap::new();
    app.failures.refresh(app.samples.as_ref(), app.runs.shown.as_ref().map(|r| &r.dir), lines.unwrap_or(&empty));
    if !app.failures.open {
        return;
    }
    let mut open = true;
    let mut clicked = None;
    egui::Window::new("Error analysis")
        .open(&mut open)
        .default_size([760.0, 460.0])
        .default_pos([300.0, 120.0])
        .show(ctx, |ui| clicked = contents(app, ui));
    app.failures.open = open;
    if let Some(pos) = clicked {
        let scene = app.failures.select(pos as isize);
        show_scene(app, scene);
    }
}

/// The window's contents; the position (in the filtered list) of a clicked row.
fn contents(app: &mut HeatscopeApp, ui: &mut egui::Ui) -> Option<usize> {
    let (Some(set), Some(run)) = (app.samples.as_ref(), app.runs.shown.as_ref()) else {
        ui.label(
            "Open a dataset and a run to list its answers: File > Open run…, or run a model from the sample browser.",
        );
        return None;
    };
    let model = run.summary.as_ref().map_or_else(
        || "model unknown".to_string(),
        |s| {
            let m = &s.settings.model;
            format!("{} {}", m.kind, m.name)
        },
    );
    ui.label(RichText::new(format!("run {} ({model})", run.dir.display())).weak());
    let list = &mut app.failures;
    let right = list.shown().filter(|r| r.correct).count();
    ui.label(format!(
        "{} of {} answered questions shown: {} right, {} wrong",
        list.shown_len(),
        list.answered(),
        right,
        list.shown_len() - right
    ));
    filters(ui, &mut list.filter, set);
    ui.separator();

    let records = &set.records;
    let row_h = ui.text_style_height(&egui::TextStyle::Monospace) + 6.0;
    let mut clicked = None;
    let selected = list.selected;
    let rows: Vec<&Row> = list.shown().collect();
    let columns = |scene: &str, question: &str, truth: &str, answer: &str, verdict: &str| {
        format!("{scene:<20} {question:<20} {truth:<14} {answer:<14} {verdict}")
    };
    ui.label(RichText::new(columns("scene", "question", "truth", "answer", "verdict")).monospace().strong());
    egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, row_h, rows.len(), |ui, range| {
        for pos in range {
            let row = rows[pos];
            let r = &records[row.record];
            let colour = if row.correct { Color32::from_rgb(120, 200, 120) } else { Color32::from_rgb(235, 110, 100) };
            let conf = row.confidence.map_or_else(String::new, |c| format!(" (p {c:.2})"));
            let text = columns(
                &super::panels::clip(&r.scene, 20),
                &format!("{} {}", r.level.name(), r.kind.name()),
                &super::panels::clip(&r.answer, 14),
                &super::panels::clip(&row.answer, 14),
                &format!("{}{conf}", row.verdict),
            );
            let label = egui::Button::selectable(selected == Some(pos), RichText::new(text).monospace().color(colour))
                .truncate();
            let hover = format!("{}\ntruth: {}\nanswer: {}", r.question, r.answer, row.answer);
            if ui.add(label).on_hover_text(hover).clicked() {
                clicked = Some(pos);
            }
        }
    });
    clicked
}

fn filters(ui: &mut egui::Ui, f: &mut Filter, set: &SampleSet) {
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
    });
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
        list.refresh(Some(&set), Some(&run), &lines);
        assert_eq!(list.answered(), 3);
        list.filter.correct = Some(false);
        list.refresh(Some(&set), Some(&run), &lines);
        let wrong: Vec<usize> = list.shown().map(|r| r.scene).collect();
        assert_eq!(wrong, [1, 2], "a2 and b1 are the wrong answers");
        assert_eq!(list.select(0), Some(1));
        assert_eq!(list.step(1), Some(2));
        assert_eq!(list.step(1), Some(1), "wraps within the filtered rows");
        assert_eq!(list.step(-1), Some(2), "and back");
        list.filter.search = "B1".into();
        list.refresh(Some(&set), Some(&run), &lines);
        assert_eq!(list.shown_len(), 1);
        assert_eq!(list.selected, Some(0), "the shown row stays selected when it still passes");
        list.filter.scenario = Some("leo-urban".into());
        list.refresh(Some(&set), Some(&run), &lines);
        assert_eq!((list.shown_len(), list.selected), (0, None));
        assert_eq!(list.step(1), None);
        // Another run (more answers) rescores the rows.
        let mut more = lines.clone();
        more.insert("b2-q1".into(), line("b2-q1", "low"));
        list.filter = Filter::default();
        list.refresh(Some(&set), Some(&run), &more);
        assert_eq!((list.answered(), list.shown().filter(|r| r.correct).count()), (4, 2));
    }
}
