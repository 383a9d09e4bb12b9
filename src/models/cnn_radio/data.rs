//! Training examples of the radio CNN from a RadioQA-sim dataset: the manifest's questions grouped by
//! scene, each radio task's reference label as a class index (a task a scene does not carry is
//! masked out of the loss), the observed cutout read through `io::load` and turned into the network's
//! input; the eight symmetries of the square, which change none of the labels. For training, a
//! train scene may also carry every label its metadata holds (the manifest keeps only a class-
//! balanced share of the questions) and its 8-bit PNG rendering as a second input. Read on scoped
//! `radio-data-N` threads; any thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::input::radio_input;
use super::net::{TASKS, square_symmetry};
use crate::types::{QaRecord, Split, radio_answer};

#[derive(Debug, thiserror::Error)]
pub enum RadioDataError {
    #[error(transparent)]
    Manifest(#[from] crate::eval::EvalError),
    #[error("scene {scene}: {message}: {path}")]
    Scene { scene: String, path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// One scene as the network trains on it.
#[derive(Debug, Clone)]
pub struct RadioExample {
    pub scene: String,
    pub split: Split,
    /// The observed cutout (relative to the dataset).
    pub observed: String,
    pub side: usize,
    /// Two channels, `side * side` each.
    pub x: Vec<f32>,
    /// Class index per task of [`TASKS`], None where the scene does not ask it.
    pub labels: [Option<usize>; 6],
    /// The same scene's 8-bit PNG rendering as network input, when loaded.
    pub rendering: Option<Vec<f32>>,
}

/// What [`load_radio_examples`] reads.
#[derive(Debug, Clone)]
pub struct RadioLoad {
    pub side: usize,
    pub channels: usize,
    pub splits: Vec<Split>,
    pub threads: usize,
    /// Train scenes take every label of their metadata file (`labels`), not only the asked ones.
    pub scene_labels: bool,
    /// Train and val scenes also read their PNG rendering into [`RadioExample::rendering`] (train
    /// trains on them, val sets the domain check's limit on them too).
    pub renderings: bool,
}

impl RadioExample {
    /// Symmetry `k` of the square (0-7: rotations by k % 4 quarter turns, mirrored when k >= 4).
    pub fn symmetry(&self, k: u8) -> RadioExample {
        RadioExample { x: square_symmetry(&self.x, self.side, k), rendering: None, ..self.clone() }
    }

    /// Symmetry `k` of the PNG rendering's input (the observed one where no rendering was read).
    pub fn rendering_symmetry(&self, k: u8) -> RadioExample {
        let source = self.rendering.as_ref().unwrap_or(&self.x);
        RadioExample { x: square_symmetry(source, self.side, k), rendering: None, ..self.clone() }
    }
}

/// The class index of `answer` for task `task`, or None when it is not one of the task's labels.
pub fn class_of(task: usize, answer: &str) -> Option<usize> {
    let kind = TASKS[task];
    let label = radio_answer(kind, answer)?;
    kind.radio_classes().iter().position(|c| *c == label)
}

/// One scene to read: its id, split, files and asked labels (a class index per task of [`TASKS`]).
struct SceneRef {
    scene: String,
    split: Split,
    images: crate::types::ScenePaths,
    labels: [Option<usize>; 6],
}

/// Scenes of the radio questions in `records`, in first-appearance order, with their labels.
fn scenes_of(records: &[QaRecord]) -> Vec<SceneRef> {
    let mut order: Vec<String> = Vec::new();
    let mut by_scene: BTreeMap<String, SceneRef> = BTreeMap::new();
    for r in records.iter().filter(|r| r.kind.is_radio()) {
        let Some(task) = TASKS.iter().position(|k| *k == r.kind) else { continue };
        let entry = by_scene.entry(r.scene.clone()).or_insert_with(|| {
            order.push(r.scene.clone());
            SceneRef { scene: r.scene.clone(), split: r.split, images: r.images.clone(), labels: [None; 6] }
        });
        entry.labels[task] = class_of(task, &r.answer);
    }
    order.into_iter().filter_map(|s| by_scene.remove(&s)).collect()
}

/// Every radio scene of `dataset` in `load.splits`, read into network inputs on `load.threads`
/// threads.
pub fn load_radio_examples(dataset: &Path, load: &RadioLoad) -> Result<Vec<RadioExample>, RadioDataError> {
    let records = crate::eval::read_manifest(&dataset.join("manifest.jsonl"))?;
    let scenes: Vec<SceneRef> = scenes_of(&records).into_iter().filter(|s| load.splits.contains(&s.split)).collect();
    if scenes.is_empty() {
        return Err(RadioDataError::Invalid(format!(
            "{} has no RadioQA scenes in the {} split(s); make one with `heatscope data radio`",
            dataset.display(),
            load.splits.iter().map(|s| s.name()).collect::<Vec<_>>().join("/")
        )));
    }
    let threads = load.threads.clamp(1, 16);
    let chunk = scenes.len().div_ceil(threads);
    let results: Vec<Result<Vec<RadioExample>, RadioDataError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = scenes
            .chunks(chunk)
            .enumerate()
            .map(|(k, part)| {
                std::thread::Builder::new()
                    .name(format!("radio-data-{k}"))
                    .spawn_scoped(scope, move || part.iter().map(|s| read_one(dataset, s, load)).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| Err(RadioDataError::Invalid("a reader thread panicked".into()))),
                Err(e) => Err(RadioDataError::Invalid(format!("cannot start a reader thread: {e}"))),
            })
            .collect()
    });
    let mut out = Vec::with_capacity(scenes.len());
    for part in results {
        out.extend(part?);
    }
    Ok(out)
}

fn read_one(dataset: &Path, s: &SceneRef, load: &RadioLoad) -> Result<RadioExample, RadioDataError> {
    let input_of = |rel: &str| {
        let path = dataset.join(rel);
        let fail = |message: String| RadioDataError::Scene { scene: s.scene.clone(), path: path.clone(), message };
        let raster = crate::io::load(&path, &crate::io::LoadOptions::default()).map_err(|e| fail(e.to_string()))?;
        radio_input(&raster, load.side, load.channels).map_err(fail)
    };
    let train = s.split == Split::Train;
    let mut labels = s.labels;
    if train && load.scene_labels {
        for (task, label) in scene_labels(&dataset.join(&s.images.meta))
            .map_err(|message| RadioDataError::Scene {
                scene: s.scene.clone(),
                path: dataset.join(&s.images.meta),
                message,
            })?
            .into_iter()
            .enumerate()
        {
            labels[task] = labels[task].or(label);
        }
    }
    let rendering = if s.split != Split::Test && load.renderings { Some(input_of(&s.images.png)?) } else { None };
    Ok(RadioExample {
        scene: s.scene.clone(),
        split: s.split,
        observed: s.images.observed.clone(),
        side: load.side,
        x: input_of(&s.images.observed)?,
        labels,
        rendering,
    })
}

/// Every task label a scene's metadata file holds (`"labels": {"morphology": "2C-3P", ...}`, null
/// where the task does not apply), as class indices.
fn scene_labels(path: &Path) -> Result<[Option<usize>; 6], String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the scene metadata: {e}"))?;
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("scene metadata is not JSON: {e}"))?;
    let Some(labels) = meta.get("labels").and_then(serde_json::Value::as_object) else {
        return Err("scene metadata has no `labels` object".into());
    };
    let mut out = [None; 6];
    for (task, kind) in TASKS.iter().enumerate() {
        match labels.get(kind.name()) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(label)) => {
                out[task] = Some(
                    class_of(task, label)
                        .ok_or_else(|| format!("{} label {label:?} is not one of the task's classes", kind.name()))?,
                );
            }
            Some(other) => return Err(format!("{} label {other} is not a string", kind.name())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetries_are_the_eight_of_the_square() {
        let n = 3;
        let e = RadioExample {
            scene: "s".into(),
            split: Split::Train,
            observed: String::new(),
            side: n,
            x: (0..2 * n * n).map(|v| v as f32).collect(),
            labels: [Some(0); 6],
            rendering: Some((0..2 * n * n).map(|v| 100.0 + v as f32).collect()),
        };
        let all: std::collections::BTreeSet<Vec<i32>> =
            (0..8).map(|k| e.symmetry(k).x.iter().map(|&v| v as i32).collect()).collect();
        assert_eq!(all.len(), 8);
        // Both channels move together: channel 1 is channel 0 plus 9 everywhere.
        for k in 0..8 {
            let s = e.symmetry(k);
            assert!(s.x[..9].iter().zip(&s.x[9..]).all(|(a, b)| (b - a - 9.0).abs() < 1e-6));
        }
        assert_eq!(e.symmetry(0).x, e.x);
        // The rendering turns the same way as the observed input.
        for k in 0..8 {
            let (a, b) = (e.symmetry(k), e.rendering_symmetry(k));
            assert!(a.x.iter().zip(&b.x).all(|(x, y)| (y - x - 100.0).abs() < 1e-6));
            assert!(a.rendering.is_none() && b.rendering.is_none());
        }
    }

    #[test]
    fn scene_metadata_labels_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"labels": {"morphology": "2C-3P", "extended": null, "fr": "FR-II"}}"#).unwrap();
        let labels = scene_labels(&path).unwrap();
        assert_eq!(labels[0], Some(4));
        assert_eq!(labels[1], None);
        assert_eq!(labels[2], Some(1));
        std::fs::write(&path, r#"{"labels": {"morphology": "4C-9P"}}"#).unwrap();
        assert!(scene_labels(&path).unwrap_err().contains("4C-9P"));
        std::fs::write(&path, r#"{"labels": "#).unwrap();
        assert!(scene_labels(&path).unwrap_err().contains("not JSON"));
        assert!(scene_labels(&dir.path().join("missing.json")).unwrap_err().contains("cannot read"));
    }

    #[test]
    fn answers_map_to_classes_as_radio_llava_parses_them() {
        assert_eq!(class_of(0, "2c-3p."), Some(4));
        assert_eq!(class_of(2, " FR-II! "), Some(1));
        assert_eq!(class_of(3, "maybe"), None);
    }
}
