//! The CNN as an `eval::Predictor`: it answers L1-L3 from each scene's observed grid, reading grids
//! in batches of 16; a scene whose grid cannot be read gets its questions failed with the reason.
//! Its identity carries a checksum of its weights. Runs on the runner's threads.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{CnnModel, CnnReading};
use crate::eval::predictor::{Answer, Fatal, ModelIdentity, Predictor, SceneQuestions};
use crate::types::{QaRecord, SEVERITY_CLASSES};

/// Scenes read in one batch.
const BATCH: usize = 16;

pub struct CnnPredictor {
    model: Arc<CnnModel>,
    identity: ModelIdentity,
}

impl CnnPredictor {
    /// `name` says which model it is (its folder, or the bundled one); `checksum` is of its weights.
    pub fn new(model: Arc<CnnModel>, name: String, checksum: Option<String>) -> Self {
        let trained_on = model.net.trained_on().map(str::to_string);
        Self { model, identity: ModelIdentity { kind: "cnn".into(), name, checksum, trained_on } }
    }

    /// The model loaded from `dir` (named by its folder, checksum of its weights) or, without a
    /// folder, the bundled one.
    pub fn of(model: Arc<CnnModel>, dir: Option<&std::path::Path>) -> Self {
        match dir {
            Some(dir) => {
                let weights = dir.join("model.safetensors");
                let checksum = crate::io::checksum::of_file(&weights, None).ok().map(|(_, h)| h);
                Self::new(model, dir.display().to_string(), checksum)
            }
            None => Self::new(model, "bundled cnn-spectrum".into(), Some(CnnModel::bundled_checksum())),
        }
    }
}

/// A reading in words, kept as a run's raw output.
fn describe(r: &CnnReading) -> String {
    let probs: Vec<String> = SEVERITY_CLASSES.iter().zip(&r.probs).map(|(c, p)| format!("{c} {p:.3}")).collect();
    let bbox = r.bbox.map_or_else(|| "none".to_string(), |b| format!("{b:?}"));
    let domain = match (&r.domain.reason, r.domain.out_of_domain) {
        (Some(why), true) => format!("; out of domain: {why}"),
        _ if r.domain.score.is_nan() => String::new(),
        _ => format!("; in domain (score {:.2})", r.domain.score),
    };
    format!(
        "severity {}; box {bbox} (p region {:.3}); regions affected {:?}{domain}",
        probs.join(", "),
        r.region_prob,
        r.region_affected
    )
}

impl Predictor for CnnPredictor {
    fn identity(&self) -> ModelIdentity {
        self.identity.clone()
    }

    fn asks(&self, r: &QaRecord) -> bool {
        // No L4 and no RadioQA-sim question; an imported CNN only what it has heads for.
        self.model.net.heads().answer(r.kind)
    }

    fn batch(&self) -> usize {
        BATCH
    }

    fn predict(
        &self,
        dataset: &Path,
        scenes: &[SceneQuestions<'_>],
        cancel: &AtomicBool,
    ) -> Result<Vec<Answer>, Fatal> {
        let start = Instant::now();
        let mut out = Vec::new();
        // Each scene's grid, or why it has none.
        let mut grids: Vec<(&SceneQuestions<'_>, usize, Vec<f32>)> = Vec::new();
        for scene in scenes {
            if cancel.load(Ordering::Relaxed) {
                return Ok(out);
            }
            let Some(first) = scene.questions.first() else { continue };
            let path = dataset.join(&first.images.observed);
            match crate::io::load(&path, &crate::io::LoadOptions::default()) {
                Ok(r) if r.width == r.height && r.bands.len() == 1 => {
                    grids.push((scene, r.width, r.bands.into_iter().next().unwrap_or_default()));
                }
                Ok(r) => {
                    let why = format!(
                        "{} is {} x {} with {} bands, not one square grid",
                        path.display(),
                        r.width,
                        r.height,
                        r.bands.len()
                    );
                    out.extend(scene.questions.iter().map(|q| Answer::failed(q, why.clone())));
                }
                Err(e) => out.extend(scene.questions.iter().map(|q| Answer::failed(q, e.to_string()))),
            }
        }
        // A dataset has one grid size; group by size so mixtures still work.
        let mut sizes: Vec<usize> = grids.iter().map(|g| g.1).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let questions: usize = grids.iter().map(|g| g.0.questions.len()).sum();
        for n in sizes {
            let same: Vec<&(&SceneQuestions<'_>, usize, Vec<f32>)> = grids.iter().filter(|g| g.1 == n).collect();
            let batch: Vec<&[f32]> = same.iter().map(|g| g.2.as_slice()).collect();
            let readings = self.model.read_grids(&batch, n).map_err(|e| Fatal::new(format!("the CNN failed: {e}")))?;
            #[allow(clippy::cast_precision_loss)]
            let ms = start.elapsed().as_secs_f64() * 1000.0 / questions.max(1) as f64;
            for ((scene, _, _), reading) in same.iter().zip(readings) {
                let raw = describe(&reading);
                for r in &scene.questions {
                    match reading.answer(r) {
                        Some(mut p) => {
                            // Scored either way; the run records what the domain check said.
                            // (None when the model has no domain check and no rule fired: it did not judge.)
                            let judged = reading.domain.out_of_domain || !reading.domain.score.is_nan();
                            p.out_of_domain = judged.then_some(reading.domain.out_of_domain);
                            out.push(Answer::ok(p, raw.clone(), ms));
                        }
                        None => out.push(Answer::failed(r, "the CNN does not answer this kind of question")),
                    }
                }
            }
        }
        Ok(out)
    }
}
