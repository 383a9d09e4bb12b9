//! Training examples of the radio CNN from a RadioQA-sim dataset: the manifest's questions grouped by
//! scene, each radio task's reference label as a class index (a task a scene does not carry is
//! masked out of the loss), the observed cutout read through `io::load` and turned into the network's
//! input; the eight symmetries of the square, which change none of the labels. Read on scoped
//! `radio-data-N` threads; any thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::input::radio_input;
use super::net::TASKS;
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
}

impl RadioExample {
    /// Symmetry `k` of the square (0-7: rotations by k % 4 quarter turns, mirrored when k >= 4).
    pub fn symmetry(&self, k: u8) -> RadioExample {
        let n = self.side;
        let mut x = Vec::with_capacity(self.x.len());
        for channel in self.x.chunks(n * n) {
            for r in 0..n {
                for c in 0..n {
                    let (mut sr, mut sc) = (r, c);
                    if k >= 4 {
                        sc = n - 1 - sc;
                    }
                    for _ in 0..k % 4 {
                        (sr, sc) = (n - 1 - sc, sr);
                    }
                    x.push(channel[sr * n + sc]);
                }
            }
        }
        RadioExample { x, ..self.clone() }
    }
}

/// The class index of `answer` for task `task`, or None when it is not one of the task's labels.
pub fn class_of(task: usize, answer: &str) -> Option<usize> {
    let kind = TASKS[task];
    let label = radio_answer(kind, answer)?;
    kind.radio_classes().iter().position(|c| *c == label)
}

/// Scenes of the radio questions in `records`, in first-appearance order, with their labels.
pub fn scenes_of(records: &[QaRecord]) -> Vec<(String, Split, String, [Option<usize>; 6])> {
    let mut order: Vec<String> = Vec::new();
    let mut by_scene: BTreeMap<String, (Split, String, [Option<usize>; 6])> = BTreeMap::new();
    for r in records.iter().filter(|r| r.kind.is_radio()) {
        let Some(task) = TASKS.iter().position(|k| *k == r.kind) else { continue };
        let entry = by_scene.entry(r.scene.clone()).or_insert_with(|| {
            order.push(r.scene.clone());
            (r.split, r.images.observed.clone(), [None; 6])
        });
        entry.2[task] = class_of(task, &r.answer);
    }
    order
        .into_iter()
        .filter_map(|s| by_scene.remove(&s).map(|(split, observed, labels)| (s, split, observed, labels)))
        .collect()
}

/// Every radio scene of `dataset` in `splits`, read into inputs of `side` pixels and `channels`
/// channels on `threads` threads.
pub fn load_radio_examples(
    dataset: &Path,
    side: usize,
    channels: usize,
    splits: &[Split],
    threads: usize,
) -> Result<Vec<RadioExample>, RadioDataError> {
    let records = crate::eval::read_manifest(&dataset.join("manifest.jsonl"))?;
    let scenes: Vec<_> = scenes_of(&records).into_iter().filter(|s| splits.contains(&s.1)).collect();
    if scenes.is_empty() {
        return Err(RadioDataError::Invalid(format!(
            "{} has no RadioQA scenes in the {} split(s); make one with `heatscope data radio`",
            dataset.display(),
            splits.iter().map(|s| s.name()).collect::<Vec<_>>().join("/")
        )));
    }
    let threads = threads.clamp(1, 16);
    let chunk = scenes.len().div_ceil(threads);
    let results: Vec<Result<Vec<RadioExample>, RadioDataError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = scenes
            .chunks(chunk)
            .enumerate()
            .map(|(k, part)| {
                std::thread::Builder::new()
                    .name(format!("radio-data-{k}"))
                    .spawn_scoped(scope, move || part.iter().map(|s| read_one(dataset, s, side, channels)).collect())
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

fn read_one(
    dataset: &Path,
    (scene, split, observed, labels): &(String, Split, String, [Option<usize>; 6]),
    side: usize,
    channels: usize,
) -> Result<RadioExample, RadioDataError> {
    let path = dataset.join(observed);
    let fail = |message: String| RadioDataError::Scene { scene: scene.clone(), path: path.clone(), message };
    let raster = crate::io::load(&path, &crate::io::LoadOptions::default()).map_err(|e| fail(e.to_string()))?;
    let x = radio_input(&raster, side, channels).map_err(fail)?;
    Ok(RadioExample { scene: scene.clone(), split: *split, observed: observed.clone(), side, x, labels: *labels })
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
    }

    #[test]
    fn answers_map_to_classes_as_radio_llava_parses_them() {
        assert_eq!(class_of(0, "2c-3p."), Some(4));
        assert_eq!(class_of(2, " FR-II! "), Some(1));
        assert_eq!(class_of(3, "maybe"), None);
    }
}
