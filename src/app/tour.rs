//! Demo sessions: presentation mode (P, or View > Presentation mode: the image and the models' results
//! only, at a larger UI scale for projectors) and tours: a JSON list of steps, each a file or a
//! dataset scene, an optional question and the overlays to show, walked with Right and Left. Each step
//! opens its image, sets the CNN overlays, asks the VLM its question once the image and the VLM are
//! ready (a question kind such as "severity" asks the scene's own dataset question, so the answer is
//! scored against the truth), and shows its note. `heatscope --tour FILE` opens one; View > Start the
//! sample tour opens the bundled one. UI thread.

use std::path::{Path, PathBuf};

use super::HeatscopeApp;
use crate::types::QuestionKind;

/// The UI scale in presentation mode.
pub const PRESENTATION_ZOOM: f32 = 1.35;

/// One step of a tour as written in its file.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TourStep {
    /// An image to open (relative to the tour file).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A SpectrumQA-sim dataset folder (relative to the tour file) and the scene to show.
    #[serde(default)]
    pub dataset: Option<PathBuf>,
    #[serde(default)]
    pub scene: Option<String>,
    /// Show the true map of the scene instead of the observed one.
    #[serde(default)]
    pub truth: bool,
    /// What to ask the VLM: a question kind of the scene ("severity", "region_affected",
    /// "which_worse", "worst_region", "localize", "explain") or a question of one's own.
    #[serde(default)]
    pub question: Option<String>,
    /// CNN overlays to show: any of "box", "mask", "saliency" (default: the box).
    #[serde(default)]
    pub overlays: Option<Vec<String>>,
    /// What the presenter says about the step (shown under the image).
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TourFile {
    #[serde(default)]
    title: Option<String>,
    steps: Vec<TourStep>,
}

/// A tour being given.
#[derive(Clone, Debug)]
pub struct Tour {
    pub title: String,
    pub steps: Vec<TourStep>,
    pub current: usize,
    /// The scene the current step waits to show (its dataset is being read).
    pending_scene: Option<(PathBuf, String)>,
    /// The question the current step waits to ask (until the image and the VLM are ready).
    pending_question: Option<String>,
}

const OVERLAYS: [&str; 3] = ["box", "mask", "saliency"];

/// Read a tour from its JSON text; paths are resolved against `base` (the tour file's folder).
///
/// # Errors
/// A message naming the line and column of a syntax error, or the step that is wrong and why.
pub fn parse(text: &str, base: &Path, name: &str) -> Result<Tour, String> {
    let file: TourFile =
        serde_json::from_str(text).map_err(|e| format!("{name}: line {}, column {}: {e}", e.line(), e.column()))?;
    if file.steps.is_empty() {
        return Err(format!("{name}: the tour has no steps"));
    }
    let mut steps = Vec::with_capacity(file.steps.len());
    for (i, mut s) in file.steps.into_iter().enumerate() {
        let at = |why: &str| format!("{name}: step {}: {why}", i + 1);
        match (&s.file, &s.dataset, &s.scene) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            (None, Some(_), None) => return Err(at("a dataset step names its \"scene\"")),
            (None, None, _) => return Err(at("give a \"file\", or a \"dataset\" and a \"scene\"")),
            _ => return Err(at("give either a \"file\" or a \"dataset\" with a \"scene\", not both")),
        }
        if let Some(bad) = s.overlays.iter().flatten().find(|o| !OVERLAYS.contains(&o.as_str())) {
            return Err(at(&format!("unknown overlay {bad:?}; use box, mask or saliency")));
        }
        s.file = s.file.map(|f| base.join(f));
        s.dataset = s.dataset.map(|d| base.join(d));
        steps.push(s);
    }
    Ok(Tour {
        title: file.title.unwrap_or_else(|| name.to_string()),
        steps,
        current: 0,
        pending_scene: None,
        pending_question: None,
    })
}

/// Read a tour file.
///
/// # Errors
/// When the file cannot be read or is not a tour.
pub fn read(path: &Path) -> Result<Tour, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the tour {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base, &path.display().to_string())
}

/// The bundled tour over the bundled samples.
pub fn bundled_path() -> Option<PathBuf> {
    let dirs = [PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/tours"), PathBuf::from("assets/tours")];
    dirs.into_iter().map(|d| d.join("samples.json")).find(|p| p.is_file())
}

impl HeatscopeApp {
    /// Enter or leave presentation mode (the UI scale follows).
    pub fn set_presenting(&mut self, ctx: &egui::Context, on: bool) {
        if self.presenting != on {
            self.presenting = on;
            ctx.set_zoom_factor(if on { PRESENTATION_ZOOM } else { 1.0 });
        }
    }

    /// Start a tour at its first step, in presentation mode.
    pub fn start_tour(&mut self, ctx: &egui::Context, tour: Tour) {
        self.info(format!(
            "tour \"{}\": {} steps; Right and Left walk through them, P leaves presentation mode",
            tour.title,
            tour.steps.len()
        ));
        self.tour = Some(tour);
        self.set_presenting(ctx, true);
        self.go_step(0);
    }

    /// Show step `i` of the tour.
    pub fn go_step(&mut self, i: usize) {
        let Some(tour) = self.tour.as_mut() else { return };
        let Some(step) = tour.steps.get(i).cloned() else { return };
        tour.current = i;
        tour.pending_question = step.question.clone();
        tour.pending_scene = None;
        let shown = step.overlays.clone().unwrap_or_else(|| vec!["box".into()]);
        let cnn = &mut self.persisted.cnn;
        cnn.show_box = shown.iter().any(|o| o == "box");
        cnn.show_mask = shown.iter().any(|o| o == "mask");
        cnn.show_saliency = shown.iter().any(|o| o == "saliency");
        if let Some(file) = step.file {
            self.open(vec![file]);
        } else if let (Some(dataset), Some(scene)) = (step.dataset, step.scene) {
            let dataset = std::path::absolute(&dataset).unwrap_or(dataset);
            let browsing = self.samples.as_ref().is_some_and(|s| s.dir == dataset);
            if let Some(t) = self.tour.as_mut() {
                t.pending_scene = Some((dataset.clone(), scene));
            }
            if !browsing {
                self.open_dataset(dataset);
            }
        }
        if let Some(set) = self.samples.as_mut() {
            set.show_truth = step.truth;
        }
    }

    /// Per frame: show the scene a step waits for, ask its question when everything is ready.
    pub(super) fn update_tour(&mut self) {
        let Some(tour) = self.tour.as_mut() else { return };
        if let Some((dataset, scene)) = tour.pending_scene.clone()
            && let Some(set) = self.samples.as_mut()
            && set.dir == dataset
        {
            let step = tour.current + 1;
            tour.pending_scene = None;
            match set.scenes.iter().position(|s| s.id == scene) {
                Some(k) => {
                    set.current = k;
                    set.scenario_filter = None;
                    set.level_filter = None;
                    self.show_sample();
                }
                None => self.error(format!("tour step {step}: the dataset {} has no scene {scene}", dataset.display())),
            }
            return;
        }
        let Some(question) = self.tour.as_ref().and_then(|t| t.pending_question.clone()) else { return };
        let waiting_scene = self.tour.as_ref().is_some_and(|t| t.pending_scene.is_some());
        let ready = self.chat.vlm.ready().is_some()
            && self.active_doc().is_some_and(|d| d.loaded.is_some() && !d.results.answer.is_loading());
        if waiting_scene || !ready {
            return;
        }
        if let Some(t) = self.tour.as_mut() {
            t.pending_question = None;
        }
        // A question kind asks the scene's own dataset question (scored against the truth).
        let kind = QuestionKind::ALL.iter().find(|k| k.name() == question.trim());
        let record = kind.and_then(|k| {
            let set = self.samples.as_ref()?;
            let path = &self.active_doc()?.path;
            set.owns(path).then(|| set.current_records().into_iter().find(|r| r.kind == *k).cloned()).flatten()
        });
        match (kind, record) {
            (Some(k), None) => self.error(format!("tour: the image shown has no \"{}\" question", k.name())),
            (_, Some(r)) => {
                self.chat.input = r.question.clone();
                self.chat.picked = Some(r);
                super::chat::ask(self);
            }
            (None, None) => {
                self.chat.input = question;
                self.chat.picked = None;
                super::chat::ask(self);
            }
        }
    }

    /// The tour's line under the image: "Tour: 2 / 5 · note".
    pub fn tour_caption(&self) -> Option<String> {
        let t = self.tour.as_ref()?;
        let step = t.steps.get(t.current)?;
        let note = step.note.as_deref().map(|n| format!(" · {n}")).unwrap_or_default();
        Some(format!("{}: {} / {}{note}", t.title, t.current + 1, t.steps.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tour_reads_its_steps_and_says_what_is_wrong() {
        let base = Path::new("/tours");
        let t = parse(
            r#"{"title": "demo", "steps": [
                {"dataset": "../samples/spectrumqa", "scene": "leo-urban-00000", "question": "severity",
                 "overlays": ["box", "mask"], "note": "look"},
                {"file": "tile.tif", "question": "What is this?", "overlays": []}
            ]}"#,
            base,
            "demo.json",
        )
        .expect("a tour");
        assert_eq!(t.title, "demo");
        assert_eq!(t.steps.len(), 2);
        assert_eq!(t.steps[0].dataset.as_deref(), Some(Path::new("/tours/../samples/spectrumqa")));
        assert_eq!(t.steps[1].file.as_deref(), Some(Path::new("/tours/tile.tif")));
        let err = |text: &str| parse(text, base, "t.json").expect_err("refused");
        assert!(err("{\"steps\": [}").starts_with("t.json: line 1, column"), "{}", err("{\"steps\": [}"));
        assert!(err(r#"{"steps": []}"#).contains("no steps"));
        assert!(err(r#"{"steps": [{"dataset": "d"}]}"#).contains("step 1: a dataset step names its \"scene\""));
        assert!(err(r#"{"steps": [{"note": "x"}]}"#).contains("give a \"file\""));
        assert!(err(r#"{"steps": [{"file": "a", "dataset": "d", "scene": "s"}]}"#).contains("not both"));
        assert!(err(r#"{"steps": [{"file": "a", "overlays": ["glow"]}]}"#).contains("unknown overlay \"glow\""));
        assert!(err(r#"{"steps": [{"file": "a", "zoom": 2}]}"#).contains("unknown field"));
    }

    #[test]
    fn the_bundled_tour_is_a_valid_tour_over_bundled_files() {
        let path = bundled_path().expect("assets/tours/samples.json");
        let t = read(&path).expect("the bundled tour parses");
        assert!(t.steps.len() >= 4);
        for s in &t.steps {
            let target = s.file.clone().or_else(|| s.dataset.clone()).expect("a target");
            assert!(target.exists(), "{} is bundled", target.display());
        }
    }
}
