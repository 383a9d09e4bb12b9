//! Scoring a run's answers into the list's rows: at once for small runs and for the answers of a run
//! that grew, on other threads (every core) for a large run while the list says so. Any thread for the
//! pure functions; the list's state on the UI thread.

use std::collections::HashMap;

use super::{Built, FailureList, Lines, Other, Row, RunRef, SampleSet, Scoring, Tallies, classes_of};
use crate::eval::runs::RunLine;
use crate::types::QaRecord;

impl FailureList {
    /// Score every answer of a large run on another thread; until the rows arrive the list is empty
    /// and says so.
    pub(super) fn score_apart(&mut self, built: Built, set: &SampleSet, lines: &Lines, others: &[RunRef]) {
        use std::sync::Arc;
        let (tx, rx) = std::sync::mpsc::channel();
        let (records, a) = (Arc::clone(&set.records), Arc::clone(lines));
        let b: Vec<Lines> = others.iter().map(|(_, l)| Arc::clone(l)).collect();
        let spawned = std::thread::Builder::new().name("score-run".into()).spawn(move || {
            let b: Vec<&HashMap<String, RunLine>> = b.iter().map(AsRef::as_ref).collect();
            let all: Vec<usize> = (0..records.len()).collect();
            let scenes = super::super::samples::scene_order(&records);
            // On every core, in record order.
            let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(8);
            let rows: Vec<Row> = std::thread::scope(|s| {
                let parts: Vec<_> = all
                    .chunks(all.len().div_ceil(threads).max(1))
                    .map(|part| s.spawn(|| score_records(&records, &scenes, &a, &b, part)))
                    .collect();
                parts.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
            });
            let _ = tx.send(rows);
        });
        (self.rows, self.shown, self.tallies) = (Vec::new(), Vec::new(), Tallies::default());
        (self.selected, self.chosen, self.built) = (None, None, None);
        match spawned {
            Ok(_) => self.scoring = Some(Scoring { built, rows: rx }),
            // No thread to be had: score here, late rather than never.
            Err(_) => {
                let b: Vec<&HashMap<String, RunLine>> = others.iter().map(|(_, l)| l.as_ref()).collect();
                let all: Vec<usize> = (0..set.records.len()).collect();
                let (tx, rx) = std::sync::mpsc::channel();
                let _ = tx.send(score_rows(set, lines, &b, &all));
                self.scoring = Some(Scoring { built, rows: rx });
            }
        }
    }

    /// Whether rows are being scored on another thread.
    pub fn scoring(&self) -> bool {
        self.scoring.is_some()
    }

    /// Take the rows scored apart once they have arrived (true while still waiting for them). Rows
    /// of other runs or another dataset than those now shown are dropped.
    pub(super) fn collect_scored(&mut self, now: &Built, set: &SampleSet) -> bool {
        let Some(scoring) = &self.scoring else { return false };
        let b = &scoring.built;
        let same = b.0.0 == now.0.0 && b.2 == now.2 && b.1.iter().map(|o| &o.0).eq(now.1.iter().map(|o| &o.0));
        if !same {
            self.scoring = None;
            return false;
        }
        match scoring.rows.try_recv() {
            Ok(rows) => {
                let built = self.scoring.take().map(|s| s.built);
                self.rows = rows;
                self.scored = vec![false; set.records.len()];
                for r in &self.rows {
                    self.scored[r.record] = true;
                }
                // As scored; answers that came in meanwhile are then scored as a run that grew.
                self.built = built.map(|b| (b, self.filter.clone()));
                self.arrived = true;
                false
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => true,
            // The scoring thread died (a bug): list nothing rather than score again and again.
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.built = self.scoring.take().map(|s| (s.built, self.filter.clone()));
                true
            }
        }
    }
}

/// The records of `which` (indices) that the run answered, scored, with each compared run's answer
/// where it has one.
pub(super) fn score_rows(
    set: &SampleSet,
    lines: &HashMap<String, RunLine>,
    others: &[&HashMap<String, RunLine>],
    which: &[usize],
) -> Vec<Row> {
    let scene_of: HashMap<&str, usize> = set.scenes.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    score_records(&set.records, &scene_of, lines, others, which)
}

/// [`score_rows`] on the records themselves, scenes numbered by `scene_of` (any thread).
fn score_records(
    records: &[QaRecord],
    scene_of: &HashMap<&str, usize>,
    lines: &HashMap<String, RunLine>,
    others: &[&HashMap<String, RunLine>],
    which: &[usize],
) -> Vec<Row> {
    // A line's verdict: right or not, and what to say.
    use crate::eval::question::{Outcome, outcome, score_outcome};
    // A line's verdict (right or not, its score, what to say) and, for a box against a box, their IoU;
    // the outcome worked out once (an explanation's F1s are the dear part).
    let judge = |r: &QaRecord, line: &RunLine| {
        let o = outcome(r, Some(&line.prediction()));
        let iou = match &o {
            Outcome::Region { truth: Some(t), guess: Some(g) } if line.error.is_none() => {
                Some(crate::eval::metrics::iou(*t, *g))
            }
            _ => None,
        };
        let s = score_outcome(r, o);
        match &line.error {
            Some(e) => (false, s.score, format!("failed: {e}"), None),
            None => (s.correct, s.score, s.verdict, iou),
        }
    };
    which
        .iter()
        .filter_map(|&i| {
            let r = records.get(i)?;
            let line = lines.get(&r.id)?;
            let scene = *scene_of.get(r.scene.as_str())?;
            let (correct, score, verdict, iou) = judge(r, line);
            let (truth_class, guess_class) = classes_of(r, &line.answer);
            let others = others
                .iter()
                .map(|o| {
                    o.get(&r.id).map(|l| {
                        let (correct, score, verdict, _) = judge(r, l);
                        Other { correct, score, answer: l.answer.clone(), verdict, confidence: l.confidence }
                    })
                })
                .collect();
            Some(Row {
                record: i,
                scene,
                correct,
                score,
                verdict,
                answer: line.answer.clone(),
                confidence: line.confidence,
                out_of_domain: line.out_of_domain,
                truth_class,
                guess_class,
                others,
                iou,
            })
        })
        .collect()
}
