//! The one dataset runner: any [`Predictor`] over the questions of a dataset, scene by scene (in the
//! model's batches, with its number of calls in flight), answers streamed to the caller as they come
//! with progress, stoppable at any time. `heatscope eval` and the app both use it; a run folder
//! (`eval::runs`) records what it streams. Runs on the caller's thread plus scoped `run-N` threads.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use super::predictor::{Answer, Fatal, Predictor, SceneQuestions};
use crate::types::{Level, QaRecord, Split};

/// Which questions a run asks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    pub split: Option<Split>,
    pub levels: Vec<Level>,
    /// Only the first N questions left after the filters.
    pub limit: Option<usize>,
}

impl Default for Selection {
    fn default() -> Self {
        Self { split: None, levels: Level::ALL.to_vec(), limit: None }
    }
}

/// The questions of `records` the run asks `predictor`, in manifest order.
pub fn select<'a>(records: &'a [QaRecord], predictor: &dyn Predictor, s: &Selection) -> Vec<&'a QaRecord> {
    let picked = records
        .iter()
        .filter(|r| s.split.is_none_or(|split| r.split == split) && s.levels.contains(&r.level) && predictor.asks(r));
    picked.take(s.limit.unwrap_or(usize::MAX)).collect()
}

/// A batch of answers as the runner hands it over.
pub struct Step<'a> {
    pub answers: Vec<(&'a QaRecord, Answer)>,
    /// Questions answered so far in this call, and how many it has to answer.
    pub done: usize,
    pub total: usize,
    pub elapsed_s: f64,
}

impl Step<'_> {
    /// Questions a second so far.
    pub fn rate(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let done = self.done as f64;
        if self.elapsed_s > 0.0 { done / self.elapsed_s } else { 0.0 }
    }

    /// Seconds left at the rate so far.
    pub fn eta_s(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let left = (self.total - self.done) as f64;
        if self.rate() > 0.0 { left / self.rate() } else { f64::INFINITY }
    }
}

/// How a run ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    Finished,
    Cancelled,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The model cannot go on (a server gone): nothing of the scenes in hand was recorded.
    #[error("the model stopped the run: {0}")]
    Model(String),
    /// The caller could not take a step (a full disk).
    #[error("{0}")]
    Sink(String),
}

/// Ask `predictor` every question of `questions` not in `skip`, calling `on_step` with each batch
/// in the order batches finish.
///
/// # Errors
/// When the model stops the run or `on_step` fails; steps taken before stay taken.
pub fn run<'a>(
    dataset: &Path,
    questions: &[&'a QaRecord],
    skip: &HashSet<String>,
    predictor: &dyn Predictor,
    cancel: &AtomicBool,
    on_step: &mut dyn FnMut(Step<'a>) -> Result<(), String>,
) -> Result<RunEnd, RunError> {
    // Scenes in order of first appearance, each with its questions still to ask.
    let mut order: Vec<&str> = Vec::new();
    let mut by_scene: HashMap<&str, Vec<&'a QaRecord>> = HashMap::new();
    for &r in questions.iter().filter(|r| !skip.contains(&r.id)) {
        let list = by_scene.entry(r.scene.as_str()).or_insert_with(|| {
            order.push(r.scene.as_str());
            Vec::new()
        });
        list.push(r);
    }
    let scenes: Vec<SceneQuestions<'a>> =
        order.iter().map(|s| SceneQuestions { scene: s, questions: by_scene.remove(s).unwrap_or_default() }).collect();
    let batches: Vec<&[SceneQuestions<'a>]> = scenes.chunks(predictor.batch().max(1)).collect();
    let total: usize = scenes.iter().map(|s| s.questions.len()).sum();
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<Vec<Answer>, Fatal>)>();
    let mut done = 0;
    let mut failure: Option<RunError> = None;
    std::thread::scope(|scope| {
        for t in 0..predictor.in_flight().clamp(1, batches.len().max(1)) {
            let (tx, next, stop, batches) = (tx.clone(), &next, &stop, &batches);
            let spawned = std::thread::Builder::new().name(format!("run-{t}")).spawn_scoped(scope, move || {
                loop {
                    if stop.load(Ordering::Relaxed) || cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(batch) = batches.get(i) else { break };
                    let result = predictor.predict(dataset, batch, cancel);
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                }
            });
            if let Err(e) = spawned {
                failure = Some(RunError::Model(format!("cannot start a run thread: {e}")));
                stop.store(true, Ordering::Relaxed);
            }
        }
        drop(tx);
        for (i, result) in rx {
            if failure.is_some() {
                continue;
            }
            let answers = match result {
                // A cancelled batch may come back short: only what it answered is taken.
                Ok(a) if cancel.load(Ordering::Relaxed) => take_answered(batches[i], a),
                Ok(a) => match_answers(batches[i], a),
                Err(fatal) => {
                    failure = Some(RunError::Model(fatal.reason));
                    stop.store(true, Ordering::Relaxed);
                    take_answered(batches[i], fatal.answered)
                }
            };
            if answers.is_empty() {
                continue;
            }
            done += answers.len();
            let step = Step { answers, done, total, elapsed_s: start.elapsed().as_secs_f64() };
            if let Err(why) = on_step(step) {
                failure = Some(RunError::Sink(why));
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None if cancel.load(Ordering::Relaxed) && done < total => Ok(RunEnd::Cancelled),
        None => Ok(RunEnd::Finished),
    }
}

/// The questions of `batch` that `answers` answer, with their answers (the rest left for later).
fn take_answered<'a>(batch: &[SceneQuestions<'a>], answers: Vec<Answer>) -> Vec<(&'a QaRecord, Answer)> {
    let mut by_id: HashMap<String, Answer> = answers.into_iter().map(|a| (a.prediction.id.clone(), a)).collect();
    batch.iter().flat_map(|s| s.questions.iter()).filter_map(|&r| by_id.remove(&r.id).map(|a| (r, a))).collect()
}

/// Each question of `batch` with its answer (a question the model left out is a failed answer).
fn match_answers<'a>(batch: &[SceneQuestions<'a>], answers: Vec<Answer>) -> Vec<(&'a QaRecord, Answer)> {
    let mut by_id: HashMap<String, Answer> = answers.into_iter().map(|a| (a.prediction.id.clone(), a)).collect();
    batch
        .iter()
        .flat_map(|s| s.questions.iter())
        .map(|&r| {
            let a = by_id.remove(&r.id).unwrap_or_else(|| Answer::failed(r, "the model gave no answer"));
            (r, a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::predictor::ModelIdentity;
    use crate::types::{Prediction, QuestionKind, ScenePaths};

    fn record(id: usize, scene: usize, kind: QuestionKind) -> QaRecord {
        QaRecord {
            id: format!("q{id}"),
            scene: format!("s{scene}"),
            scenario: "leo-urban".into(),
            split: if scene.is_multiple_of(2) { Split::Test } else { Split::Val },
            level: kind.level(),
            kind,
            question: "?".into(),
            answer: "high".into(),
            choices: Vec::new(),
            bbox: None,
            concepts: Vec::new(),
            examples: Vec::new(),
            images: ScenePaths::default(),
            snr_bin: None,
        }
    }

    /// Answers "high" to everything but L4; fails scene `fatal_at` as a whole.
    struct Echo {
        fatal_at: Option<String>,
        in_flight: usize,
    }

    impl Predictor for Echo {
        fn identity(&self) -> ModelIdentity {
            ModelIdentity { kind: "test".into(), name: "echo".into(), checksum: None, trained_on: None }
        }
        fn asks(&self, r: &QaRecord) -> bool {
            r.kind != QuestionKind::Explain
        }
        fn batch(&self) -> usize {
            2
        }
        fn in_flight(&self) -> usize {
            self.in_flight
        }
        fn predict(&self, _: &Path, scenes: &[SceneQuestions<'_>], _: &AtomicBool) -> Result<Vec<Answer>, Fatal> {
            if scenes.iter().any(|s| Some(s.scene.to_string()) == self.fatal_at) {
                return Err(Fatal::new("the server is gone"));
            }
            let qs = scenes.iter().flat_map(|s| s.questions.iter());
            // The first question of every batch is left out: the runner must notice.
            Ok(qs
                .skip(1)
                .map(|r| {
                    let p = Prediction {
                        id: r.id.clone(),
                        answer: "high".into(),
                        bbox: None,
                        confidence: None,
                        out_of_domain: None,
                    };
                    Answer::ok(p, "high".into(), 1.0)
                })
                .collect())
        }
    }

    fn records() -> Vec<QaRecord> {
        (0..30)
            .map(|i| record(i, i / 3, if i % 3 == 2 { QuestionKind::Explain } else { QuestionKind::Severity }))
            .collect()
    }

    #[test]
    fn every_selected_question_is_answered_once_and_skips_are_kept() {
        let records = records();
        let echo = Echo { fatal_at: None, in_flight: 3 };
        let s = Selection { split: Some(Split::Test), ..Selection::default() };
        let asked = select(&records, &echo, &s);
        assert_eq!(asked.len(), 10, "5 test scenes x 2 questions the model answers");
        let skip: HashSet<String> = ["q0".to_string()].into();
        let mut seen = Vec::new();
        let end = run(Path::new("."), &asked, &skip, &echo, &AtomicBool::new(false), &mut |step| {
            assert!(step.done <= step.total && step.total == 9);
            seen.extend(step.answers.into_iter().map(|(r, a)| (r.id.clone(), a.error.is_some())));
            Ok(())
        })
        .unwrap();
        assert_eq!(end, RunEnd::Finished);
        seen.sort();
        let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
        let mut want: Vec<&str> = asked.iter().map(|r| r.id.as_str()).filter(|id| *id != "q0").collect();
        want.sort_unstable();
        assert_eq!(ids, want, "each question once, the skipped one not at all");
        assert_eq!(seen.iter().filter(|(_, failed)| *failed).count(), 3, "the left-out first questions are failures");
        let limited = select(&records, &echo, &Selection { limit: Some(4), ..Selection::default() });
        assert_eq!(limited.len(), 4);
    }

    #[test]
    fn a_fatal_error_stops_the_run_and_a_sink_error_too() {
        let records = records();
        let echo = Echo { fatal_at: Some("s4".into()), in_flight: 1 };
        let asked = select(&records, &echo, &Selection::default());
        let mut recorded = 0;
        let e = run(Path::new("."), &asked, &HashSet::new(), &echo, &AtomicBool::new(false), &mut |step| {
            recorded += step.answers.len();
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(&e, RunError::Model(m) if m.contains("server is gone")), "{e}");
        assert_eq!(recorded, 8, "the batches before scene 4 (scenes 0-3) are recorded, nothing after");
        let echo = Echo { fatal_at: None, in_flight: 2 };
        let e = run(Path::new("."), &asked, &HashSet::new(), &echo, &AtomicBool::new(false), &mut |_| {
            Err("disk full".into())
        })
        .unwrap_err();
        assert!(matches!(e, RunError::Sink(m) if m == "disk full"));
        let cancelled = AtomicBool::new(true);
        let end = run(Path::new("."), &asked, &HashSet::new(), &echo, &cancelled, &mut |_| Ok(())).unwrap();
        assert_eq!(end, RunEnd::Cancelled);
    }
}
