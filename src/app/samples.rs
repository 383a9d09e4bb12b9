//! The sample browser: a SpectrumQA-sim dataset (the bundled samples, or any dataset folder opened)
//! stepped through scene by scene with the arrow keys, the observed or true grid shown, and the
//! ground truth drawn (L3 box, L1 class) with the scene's questions and answers listed. UI thread;
//! the manifest is read by a worker (`Job::Manifest`).

use std::path::{Path, PathBuf};

use egui::RichText;

use super::{Command, HeatscopeApp};
use crate::eval::runs::RunLine;
use crate::types::{Level, QaRecord, QuestionKind, Split};

/// Display range of sample grids (dB), the same as the PNGs a VLM sees.
pub const SAMPLE_RANGE_DB: (f32, f32) = crate::sim::PNG_RANGE_DB;

/// One scene of the set and its questions (indices into `records`).
#[derive(Clone, Debug)]
pub struct SceneEntry {
    pub id: String,
    pub scenario: String,
    pub split: Split,
    pub records: Vec<usize>,
}

/// A dataset being browsed.
#[derive(Clone, Debug)]
pub struct SampleSet {
    pub dir: PathBuf,
    /// Shared, so the error analysis can score a large run's answers on another thread.
    pub records: std::sync::Arc<Vec<QaRecord>>,
    pub scenes: Vec<SceneEntry>,
    /// Index into `scenes` of the scene shown.
    pub current: usize,
    /// Show the true I/N instead of the observed map.
    pub show_truth: bool,
    pub scenario_filter: Option<String>,
    pub level_filter: Option<Level>,
}

/// What the viewer draws over a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct GroundTruth {
    pub bbox: Option<[f32; 4]>,
    /// L1 class index, when the scene has a severity question.
    pub severity: Option<usize>,
    pub label: String,
}

/// Each scene's index among `records`' scenes in order of first appearance (the order
/// [`SampleSet::scenes`] lists them in), found through a map: a 100k-question set has some 15k scenes,
/// and a linear search per question would be quadratic.
pub fn scene_order(records: &[QaRecord]) -> std::collections::HashMap<&str, usize> {
    let mut index = std::collections::HashMap::new();
    for r in records {
        let next = index.len();
        index.entry(r.scene.as_str()).or_insert(next);
    }
    index
}

impl SampleSet {
    pub fn new(dir: PathBuf, records: Vec<QaRecord>) -> Self {
        let index = scene_order(&records);
        let mut scenes: Vec<SceneEntry> = Vec::with_capacity(index.len());
        for (i, r) in records.iter().enumerate() {
            match index[r.scene.as_str()] {
                k if k == scenes.len() => scenes.push(SceneEntry {
                    id: r.scene.clone(),
                    scenario: r.scenario.clone(),
                    split: r.split,
                    records: vec![i],
                }),
                k => scenes[k].records.push(i),
            }
        }
        drop(index);
        Self {
            dir,
            records: std::sync::Arc::new(records),
            scenes,
            current: 0,
            show_truth: false,
            scenario_filter: None,
            level_filter: None,
        }
    }

    pub fn scenarios(&self) -> Vec<String> {
        let mut v: Vec<String> = self.scenes.iter().map(|s| s.scenario.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether a scene passes the filters (scenario, and having a question of the chosen level).
    pub fn visible(&self, i: usize) -> bool {
        let s = &self.scenes[i];
        self.scenario_filter.as_ref().is_none_or(|f| &s.scenario == f)
            && self.level_filter.is_none_or(|l| s.records.iter().any(|&r| self.records[r].level == l))
    }

    /// Indices of the visible scenes.
    pub fn visible_scenes(&self) -> Vec<usize> {
        (0..self.scenes.len()).filter(|&i| self.visible(i)).collect()
    }

    /// Move `delta` visible scenes from the current one (wrapping); lands on the first visible scene
    /// when the current one is filtered out. Returns false when no scene is visible.
    pub fn step(&mut self, delta: isize) -> bool {
        let vis = self.visible_scenes();
        if vis.is_empty() {
            return false;
        }
        let pos = vis.iter().position(|&i| i == self.current);
        self.current = match pos {
            Some(p) => vis[(p as isize + delta).rem_euclid(vis.len() as isize) as usize],
            None => vis[0],
        };
        true
    }

    /// The file shown for the current scene.
    pub fn current_path(&self) -> Option<PathBuf> {
        let scene = self.scenes.get(self.current)?;
        let r = &self.records[*scene.records.first()?];
        Some(self.dir.join(if self.show_truth { &r.images.truth } else { &r.images.observed }))
    }

    /// Whether `path` is one of this set's grids.
    pub fn owns(&self, path: &Path) -> bool {
        is_scene_file(&self.dir, path)
    }

    /// The true map of the scene whose observed map is `path` (None for any other file).
    pub fn truth_of(&self, path: &Path) -> Option<PathBuf> {
        let r = self.records.iter().find(|r| self.dir.join(&r.images.observed) == path)?;
        Some(self.dir.join(&r.images.truth))
    }

    /// The scene a file of this set belongs to (`scenes/<scene>/...`).
    pub fn scene_of<'p>(&self, path: &'p Path) -> Option<&'p str> {
        let rest = path.strip_prefix(self.dir.join("scenes")).ok()?;
        rest.components().next()?.as_os_str().to_str()
    }

    /// The current scene's questions that pass the level filter.
    pub fn current_records(&self) -> Vec<&QaRecord> {
        self.scenes.get(self.current).map_or_else(Vec::new, |s| {
            s.records
                .iter()
                .map(|&i| &self.records[i])
                .filter(|r| self.level_filter.is_none_or(|l| r.level == l))
                .collect()
        })
    }

    /// The overlay for the current scene: its L3 box and its L1 class.
    pub fn ground_truth(&self) -> Option<GroundTruth> {
        let s = self.scenes.get(self.current)?;
        let recs: Vec<&QaRecord> = s.records.iter().map(|&i| &self.records[i]).collect();
        let class = recs.iter().find(|r| r.kind == QuestionKind::Severity).map(|r| r.answer.clone());
        let bbox = recs.iter().find(|r| r.kind == QuestionKind::Localize).and_then(|r| r.bbox);
        let view = if self.show_truth { "truth" } else { "observed" };
        let severity = class.as_deref().and_then(|c| crate::types::SEVERITY_CLASSES.iter().position(|&x| x == c));
        Some(GroundTruth {
            bbox,
            severity,
            label: format!("{}  ({view})  severity: {}", s.id, class.as_deref().unwrap_or("?")),
        })
    }
}

/// Whether `dir` is a SpectrumQA-sim dataset (it has a manifest).
pub fn is_dataset_folder(dir: &Path) -> bool {
    dir.join("manifest.jsonl").is_file()
}

/// Whether `path` lies in the `scenes/` folder of the dataset at `dir`.
pub fn is_scene_file(dir: &Path, path: &Path) -> bool {
    path.starts_with(dir.join("scenes"))
}

/// A question without the context sentences every question starts with.
pub fn short_question(q: &str) -> &str {
    q.split_once("I/N > -6 dB. ").map_or(q, |(_, rest)| rest)
}

/// The "Samples" section of the left panel.
pub fn section(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    let Some(set) = app.samples.as_mut() else { return };
    ui.separator();
    ui.heading("Samples");
    let vis = set.visible_scenes();
    let mut changed = false;
    ui.horizontal(|ui| {
        let selected = set.scenario_filter.clone().unwrap_or_else(|| "all scenarios".into());
        egui::ComboBox::from_id_salt("sample scenario")
            .selected_text(selected)
            .width(130.0)
            .show_ui(ui, |ui| {
                changed |= ui.selectable_value(&mut set.scenario_filter, None, "all scenarios").changed();
                for s in set.scenarios() {
                    changed |= ui.selectable_value(&mut set.scenario_filter, Some(s.clone()), s).changed();
                }
            })
            .response
            .accessible_name("Scenario filter")
            .on_hover_text("Show only scenes of one scenario");
        let level = set.level_filter.map_or("all levels", Level::name);
        egui::ComboBox::from_id_salt("sample level")
            .selected_text(level)
            .width(80.0)
            .show_ui(ui, |ui| {
                changed |= ui.selectable_value(&mut set.level_filter, None, "all levels").changed();
                for l in Level::ALL {
                    changed |= ui.selectable_value(&mut set.level_filter, Some(l), l.name()).changed();
                }
            })
            .response
            .accessible_name("Level filter")
            .on_hover_text("Show only questions of one level (and scenes that have one)");
    });
    let pos = vis.iter().position(|&i| i == set.current).map_or(0, |p| p + 1);
    let mut step = 0;
    ui.horizontal(|ui| {
        if ui.button("<").on_hover_text("Previous sample (Left arrow)").clicked() {
            step = -1;
        }
        ui.label(format!("{pos} / {}", vis.len()));
        if ui.button(">").on_hover_text("Next sample (Right arrow)").clicked() {
            step = 1;
        }
        let mut truth = set.show_truth;
        if ui.checkbox(&mut truth, "truth").on_hover_text("Show the true I/N instead of the observed map (T)").changed()
        {
            set.show_truth = truth;
            changed = true;
        }
    });
    if let Some(scene) = set.scenes.get(set.current) {
        ui.label(RichText::new(format!("{} ({})", scene.id, scene.split.name())).strong());
    }
    if step != 0 {
        set.step(step);
        changed = true;
    } else if changed && !set.visible(set.current) {
        set.step(0);
    }
    if changed {
        app.command(Command::ShowSample);
    }
    super::runs::section(app, ui);
    // What the shown run recorded for this scene (the document's slot).
    let recorded = app.active_doc().map(|d| d.results.recorded.clone()).unwrap_or_default();
    let Some(set) = app.samples.as_ref() else { return };
    egui::ScrollArea::vertical().id_salt("sample questions").max_height((ui.available_height() - 8.0).max(80.0)).show(
        ui,
        |ui| {
            for r in set.current_records() {
                ui.label(RichText::new(format!("{} {}", r.level.name(), r.kind.name())).small().weak());
                ui.label(short_question(&r.question)).on_hover_text(&r.question);
                ui.label(RichText::new(format!("-> {}", r.answer)).strong());
                if let Some(line) = recorded.iter().find(|l| l.id == r.id) {
                    recorded_answer(ui, r, line);
                }
                ui.add_space(4.0);
            }
        },
    );
}

/// A run's answer to `r`, scored by the one per-question scorer (or the reason it has none).
fn recorded_answer(ui: &mut egui::Ui, r: &QaRecord, line: &RunLine) {
    let (text, colour) = match &line.error {
        Some(why) => (format!("run: no answer ({why})"), super::cnn::WRONG),
        None => {
            let s = crate::eval::score_question(r, Some(&line.prediction()));
            let colour = if s.correct { super::cnn::RIGHT } else { super::cnn::WRONG };
            (format!("run: {} · {}", super::panels::clip(line.answer.trim(), 40), s.verdict), colour)
        }
    };
    let confidence = line.confidence.map(|c| format!("confidence {:.0} %, ", c * 100.0)).unwrap_or_default();
    ui.label(RichText::new(text).color(colour)).on_hover_text(format!(
        "{confidence}{:.0} ms\nraw output: {}",
        line.latency_ms,
        crate::backend::quote(line.raw.as_bytes())
    ));
}

/// Sample files and SpectrumQA-sim sample datasets shipped in `assets/samples` (looked up beside the
/// executable's crate or the working directory), opened when the app starts with no files.
pub(super) fn bundled_samples() -> Vec<PathBuf> {
    let dirs = [PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples"), PathBuf::from("assets/samples")];
    let Some(dir) = dirs.iter().find(|d| d.is_dir()) else { return Vec::new() };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| (p.is_file() && is_openable(p)) || is_dataset_folder(p))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Whether heatscope reads files with this name (by extension).
pub(super) fn is_openable(p: &std::path::Path) -> bool {
    super::session::is_session_file(p)
        || p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| crate::io::EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ScenePaths;

    fn rec(scene: &str, scenario: &str, kind: QuestionKind) -> QaRecord {
        QaRecord {
            id: format!("{scene}-{}", kind.name()),
            scene: scene.into(),
            scenario: scenario.into(),
            split: Split::Train,
            level: kind.level(),
            kind,
            question: "ctx I/N > -6 dB. Where?".into(),
            answer: "x".into(),
            choices: vec![],
            bbox: None,
            concepts: vec![],
            examples: vec![],
            images: ScenePaths {
                observed: format!("scenes/{scene}/observed.npy"),
                truth: format!("scenes/{scene}/truth.npy"),
                png: String::new(),
                meta: String::new(),
            },
            snr_bin: None,
        }
    }

    #[test]
    fn stepping_wraps_and_respects_filters() {
        let recs = vec![
            rec("a0", "leo", QuestionKind::Severity),
            rec("a0", "leo", QuestionKind::WorstRegion),
            rec("b0", "geo", QuestionKind::Severity),
            rec("a1", "leo", QuestionKind::Severity),
        ];
        let mut s = SampleSet::new(PathBuf::from("/d"), recs);
        assert_eq!(s.scenes.len(), 3);
        assert!(s.step(1));
        assert_eq!(s.current, 1);
        assert!(s.step(-2));
        assert_eq!(s.current, 2);
        s.scenario_filter = Some("leo".into());
        assert!(s.step(1));
        assert_eq!(s.current, 0);
        s.level_filter = Some(Level::L2);
        assert_eq!(s.visible_scenes(), vec![0]);
        s.scenario_filter = Some("mars".into());
        assert!(!s.step(1));
        s.scenario_filter = None;
        s.level_filter = None;
        s.current = 2;
        s.show_truth = true;
        assert_eq!(s.current_path(), Some(PathBuf::from("/d/scenes/a1/truth.npy")));
        assert!(s.owns(Path::new("/d/scenes/a1/truth.npy")));
        assert_eq!(short_question(&s.records[0].question), "Where?");
    }
}
