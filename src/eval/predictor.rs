//! The one way to ask "a model" for answers on the benchmark: a [`Predictor`] takes the questions of
//! a few scenes and gives an [`Answer`] per question (the prediction, how long it took, the raw
//! output, or the reason it failed). The prior and rule baselines implement it here; the CNN in
//! `models::cnn`, the VLM (local engine or any OpenAI-compatible server) in `backend`, and later the
//! router. The runner (`eval::runner`) drives any of them over a dataset. Any thread.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::answer::answer;
use super::baselines::{RuleParams, prior_predictions, rule_estimate};
use crate::types::{Prediction, QaRecord, QuestionKind};

/// The questions of one scene.
#[derive(Clone, Debug)]
pub struct SceneQuestions<'a> {
    pub scene: &'a str,
    pub questions: Vec<&'a QaRecord>,
}

/// One question's answer as a run records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub prediction: Prediction,
    /// What the model put out before parsing (a VLM's whole text; a CNN's reading in words).
    pub raw: String,
    pub latency_ms: f64,
    /// Why there is no answer (the question then counts as wrong).
    pub error: Option<String>,
}

impl Answer {
    /// The answer to `r` given as `prediction`.
    pub fn ok(prediction: Prediction, raw: String, latency_ms: f64) -> Self {
        Self { prediction, raw, latency_ms, error: None }
    }

    /// No answer to `r`, for `why`.
    pub fn failed(r: &QaRecord, why: impl Into<String>) -> Self {
        let prediction =
            Prediction { id: r.id.clone(), answer: String::new(), bbox: None, confidence: None, out_of_domain: None };
        Self { prediction, raw: String::new(), latency_ms: 0.0, error: Some(why.into()) }
    }
}

/// Which model answered: recorded in a run's summary and checked when a run resumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// prior, rule, cnn or vlm.
    pub kind: String,
    /// The folder, server or settings that make it this model.
    pub name: String,
    /// A checksum of its weights (or of what defines it), when it has any.
    pub checksum: Option<String>,
    /// The one scenario its training data came from, when its config records one (`train cnn
    /// --scenario`, `train vlm --scenario`): the error analysis's cross-scenario matrix reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_on: Option<String>,
}

/// An error that stops a run (the server is gone, the model cannot run at all), with the answers
/// given before it: those are recorded, the rest of the scenes in hand are not, so a resumed run
/// asks them again.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct Fatal {
    pub reason: String,
    pub answered: Vec<Answer>,
}

impl Fatal {
    /// Stop for `reason`, with nothing answered.
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), answered: Vec::new() }
    }
}

/// A model that answers SpectrumQA-sim questions.
pub trait Predictor: Send + Sync {
    fn identity(&self) -> ModelIdentity;

    /// Whether it answers `r` at all (the CNN has no L4 text); other questions are not asked.
    fn asks(&self, r: &QaRecord) -> bool;

    /// Scenes answered in one call (the CNN reads its grids in batches).
    fn batch(&self) -> usize {
        1
    }

    /// Calls in flight at once (a server works on several requests together).
    fn in_flight(&self) -> usize {
        1
    }

    /// Before a run: whether every question of `asked` can be asked as configured (a VLM's
    /// in-context examples exist); the first that cannot, and why.
    ///
    /// # Errors
    /// The reason, naming the question.
    fn check(&self, asked: &[&QaRecord]) -> Result<(), String> {
        let _ = asked;
        Ok(())
    }

    /// Answer every question of `scenes` (files relative to `dataset`). Questions it cannot answer
    /// get [`Answer::failed`] with the reason; an `Err` stops the run.
    ///
    /// # Errors
    /// When the model cannot go on at all.
    fn predict(&self, dataset: &Path, scenes: &[SceneQuestions<'_>], cancel: &AtomicBool)
    -> Result<Vec<Answer>, Fatal>;
}

/// The prior baseline: the train split's most frequent answer per question kind.
pub struct PriorPredictor {
    answers: HashMap<String, Prediction>,
}

impl PriorPredictor {
    /// Fit on the train questions of `records`.
    ///
    /// # Errors
    /// When there are no train questions.
    pub fn new(records: &[QaRecord]) -> Result<Self, super::baselines::BaselineError> {
        let answers = prior_predictions(records)?.into_iter().map(|p| (p.id.clone(), p)).collect();
        Ok(Self { answers })
    }
}

impl Predictor for PriorPredictor {
    fn identity(&self) -> ModelIdentity {
        ModelIdentity {
            kind: "prior".into(),
            name: "train-split majority answers".into(),
            checksum: None,
            trained_on: None,
        }
    }

    fn asks(&self, _: &QaRecord) -> bool {
        true
    }

    fn batch(&self) -> usize {
        64
    }

    fn predict(&self, _: &Path, scenes: &[SceneQuestions<'_>], _: &AtomicBool) -> Result<Vec<Answer>, Fatal> {
        let all = scenes.iter().flat_map(|s| s.questions.iter());
        Ok(all
            .map(|r| match self.answers.get(&r.id) {
                Some(p) => Answer::ok(p.clone(), p.answer.clone(), 0.0),
                None => Answer::failed(r, "the prior was fitted on another manifest"),
            })
            .collect())
    }
}

/// The rule baseline with given parameters (tuned on val by `baselines::tune_rule`): it reads each
/// scene's observed grid itself.
pub struct RulePredictor {
    pub params: RuleParams,
}

impl RulePredictor {
    /// The rule tuned on the val split of `records` (its grids read from `dataset`), with the tuning's
    /// val score (mean of L1 accuracy and L3 IoU).
    ///
    /// # Errors
    /// When the dataset has no val scenes or their grids cannot be read.
    pub fn tuned(dataset: &Path, records: &[QaRecord]) -> Result<(Self, f64), super::baselines::BaselineError> {
        let val: Vec<QaRecord> = records.iter().filter(|r| r.split == crate::types::Split::Val).cloned().collect();
        let grids = super::baselines::Grids::load(dataset, &val)?;
        let (params, score) = super::baselines::tune_rule(records, &grids)?;
        Ok((Self { params }, score))
    }
}

impl Predictor for RulePredictor {
    fn identity(&self) -> ModelIdentity {
        let p = self.params;
        ModelIdentity {
            kind: "rule".into(),
            name: format!("rule baseline: threshold {} dB, smoothing {} px", p.threshold_db, p.smooth_px),
            checksum: None,
            trained_on: None,
        }
    }

    fn asks(&self, r: &QaRecord) -> bool {
        // It reads a spectrum map: RadioQA-sim questions are not answered.
        !r.kind.is_radio()
    }

    fn predict(&self, dataset: &Path, scenes: &[SceneQuestions<'_>], _: &AtomicBool) -> Result<Vec<Answer>, Fatal> {
        let mut out = Vec::new();
        for scene in scenes {
            let Some(first) = scene.questions.first() else { continue };
            let start = Instant::now();
            let path = dataset.join(&first.images.observed);
            let grid = crate::io::load(&path, &crate::io::LoadOptions::default());
            let grid = grid.map_err(|e| e.to_string()).and_then(|r| {
                let n = r.width;
                (r.height == n && r.bands.len() == 1)
                    .then(|| (n, r.bands.into_iter().next().unwrap_or_default()))
                    .ok_or_else(|| format!("{} is not one square band", path.display()))
            });
            let (n, values) = match grid {
                Ok(g) => g,
                Err(why) => {
                    out.extend(scene.questions.iter().map(|r| Answer::failed(r, why.clone())));
                    continue;
                }
            };
            let estimate = rule_estimate(&values, n, &first.scenario, &self.params);
            #[allow(clippy::cast_precision_loss)]
            let ms = start.elapsed().as_secs_f64() * 1000.0 / scene.questions.len().max(1) as f64;
            for r in &scene.questions {
                match answer(r, &estimate) {
                    Some(p) => out.push(Answer::ok(p.clone(), p.answer, ms)),
                    None if r.kind == QuestionKind::Explain => out.push(Answer::failed(r, "no explanation")),
                    None => out.push(Answer::failed(r, "no answer")),
                }
            }
        }
        Ok(out)
    }
}
