//! ScaleEarth's spoofing test for any VLM behind a [`ChatBackend`]: the same question asked at a range
//! of stated GSDs (log-spaced, the true one marked), each time with the sentence of
//! [`super::gsd_prompt`] for that GSD before the question, recording the answer and its mean token
//! log-probability. A model that reads the sentence answers differently or less surely as the stated
//! GSD moves away from the truth; a model that ignores it draws a flat curve. Shared by
//! `heatscope ask --gsd-sweep` and the app's GSD panel; runs on the caller's thread (a worker in the
//! app, the main thread in the CLI).

use std::sync::atomic::{AtomicBool, Ordering};

use super::gsd_prompt::{GsdStatement, format_gsd, prepend};
use super::{BackendError, ChatBackend, ChatRequest, Finish};

/// The default sweep: 0.01 m to 1 km, every half decade.
pub const DEFAULT_MIN_M: f64 = 0.01;
pub const DEFAULT_MAX_M: f64 = 1000.0;
pub const DEFAULT_POINTS: usize = 11;
/// The most points one sweep may ask.
pub const MAX_POINTS: usize = 200;
/// Below this spread of the mean log-prob (nats), with one answer everywhere, the curve is flat.
pub const FLAT_NATS: f64 = 0.05;
/// Said beside a sweep of the bundled model, whose curve is no evidence either way.
pub const BUNDLED_NOTE: &str = "the bundled vlm-spectrum-tiny was trained on spectrum heatmaps only, never on ground \
                                images or GSD sentences: whatever its curve does, it is not reading the scale";
/// A question whose answer depends on the scale of any ground image.
pub const DEFAULT_QUESTION: &str = "About how many metres across is the area this image shows?";

/// A sweep that cannot be asked.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum SweepError {
    #[error("the smallest GSD must be a positive number of metres, not {0}")]
    Min(f64),
    #[error("the largest GSD must be a finite number of metres above the smallest ({min} m), not {max}")]
    Max { min: f64, max: f64 },
    #[error("a sweep has 2 to {MAX_POINTS} points, not {0}")]
    Points(usize),
    #[error("the true GSD must be a positive number of metres, not {0}")]
    Truth(f64),
}

/// `points` GSDs from `min` to `max` metres, evenly spaced in log10 (both ends exact).
pub fn log_grid(min: f64, max: f64, points: usize) -> Result<Vec<f64>, SweepError> {
    if !(min.is_finite() && min > 0.0) {
        return Err(SweepError::Min(min));
    }
    if !(max.is_finite() && max > min) {
        return Err(SweepError::Max { min, max });
    }
    if !(2..=MAX_POINTS).contains(&points) {
        return Err(SweepError::Points(points));
    }
    let (lo, hi) = (min.log10(), max.log10());
    #[allow(clippy::cast_precision_loss)]
    let step = (hi - lo) / (points - 1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let mut grid: Vec<f64> = (0..points).map(|i| 10f64.powf(lo + step * i as f64)).collect();
    grid[0] = min;
    grid[points - 1] = max;
    Ok(grid)
}

/// A point of a sweep whose question failed (the rows before it are lost with it: a sweep with a hole
/// would draw a curve that is not the model's).
#[derive(Debug, thiserror::Error)]
#[error("the sweep stopped at {} (point {point} of {of}): {error}", format_gsd(*.gsd_m))]
pub struct SweepFailed {
    pub gsd_m: f64,
    pub point: usize,
    pub of: usize,
    /// Said in the message, not chained: the app shows the message alone.
    pub error: BackendError,
}

/// One GSD the question is asked at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepPoint {
    pub gsd_m: f64,
    /// The image's own GSD (its georeferencing, or the one the user gave).
    pub is_true: bool,
}

/// The grid with the true GSD marked: the grid point it equals (to 1 part in 10^6), else its own
/// point in order. So a sweep has the grid's points, or one more.
pub fn with_truth(grid: &[f64], truth: Option<f64>) -> Result<Vec<SweepPoint>, SweepError> {
    let mut points: Vec<SweepPoint> = grid.iter().map(|&gsd_m| SweepPoint { gsd_m, is_true: false }).collect();
    let Some(t) = truth else { return Ok(points) };
    if !(t.is_finite() && t > 0.0) {
        return Err(SweepError::Truth(t));
    }
    match points.iter_mut().find(|p| (p.gsd_m - t).abs() <= 1e-6 * t) {
        Some(p) => p.is_true = true,
        None => {
            let at = points.partition_point(|p| p.gsd_m < t);
            points.insert(at, SweepPoint { gsd_m: t, is_true: true });
        }
    }
    Ok(points)
}

/// What the model said at one GSD.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepRow {
    pub gsd_m: f64,
    pub is_true: bool,
    pub answer: String,
    /// Mean natural-log probability of the answer's tokens; `None` when the backend reported none
    /// (a server that ignores `logprobs`): never a made-up number.
    pub mean_logprob: Option<f64>,
    /// Answer tokens, when the backend reported them with their log-probabilities.
    pub tokens: Option<usize>,
}

/// `base` with the sentence for `gsd_m` before its question.
pub fn request_at(base: &ChatRequest, gsd_m: f64) -> ChatRequest {
    let mut request = base.clone();
    prepend(&mut request.messages, &GsdStatement::stated(gsd_m).sentence());
    request
}

/// Ask `base` at every point, in order, calling `on_row` after each. Stops at the first failure (the
/// error says which GSD), and when `cancel` is set: then the rows so far come back (the caller knows
/// it cancelled). Sampling is the request's own (greedy by default), the same at every point.
pub fn run(
    backend: &dyn ChatBackend,
    base: &ChatRequest,
    points: &[SweepPoint],
    cancel: &AtomicBool,
    on_row: &mut dyn FnMut(usize, &SweepRow),
) -> Result<Vec<SweepRow>, SweepFailed> {
    let mut rows = Vec::with_capacity(points.len());
    for (k, p) in points.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let reply = backend.chat(&request_at(base, p.gsd_m), cancel, &mut |_| {}).map_err(|error| SweepFailed {
            gsd_m: p.gsd_m,
            point: k + 1,
            of: points.len(),
            error,
        })?;
        if reply.finish == Finish::Cancelled {
            break;
        }
        let mean = reply.mean_logprob().map(f64::from);
        let row = SweepRow {
            gsd_m: p.gsd_m,
            is_true: p.is_true,
            answer: reply.text.trim().to_string(),
            mean_logprob: mean,
            tokens: mean.map(|_| reply.logprobs.len()),
        };
        on_row(k, &row);
        rows.push(row);
    }
    Ok(rows)
}

/// How the answers move along the sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Different answers (trimmed, case-insensitive).
    pub distinct_answers: usize,
    /// Largest minus smallest mean log-prob, nats; `None` when any row has none.
    pub spread: Option<f64>,
}

impl Shape {
    pub fn of(rows: &[SweepRow]) -> Self {
        let mut answers: Vec<String> = rows.iter().map(|r| r.answer.trim().to_lowercase()).collect();
        answers.sort();
        answers.dedup();
        let logprobs: Option<Vec<f64>> = rows.iter().map(|r| r.mean_logprob).collect();
        let spread = logprobs.filter(|l| !l.is_empty()).map(|l| {
            let (lo, hi) = l.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            hi - lo
        });
        Self { distinct_answers: answers.len(), spread }
    }

    /// One answer everywhere and a mean log-prob that moves by less than [`FLAT_NATS`].
    pub fn is_flat(&self) -> bool {
        self.distinct_answers <= 1 && self.spread.is_some_and(|s| s < FLAT_NATS)
    }

    /// The verdict in words, for the panel and the CLI.
    pub fn describe(&self) -> String {
        let answers = match self.distinct_answers {
            1 => "the same answer at every GSD".to_string(),
            n => format!("{n} different answers"),
        };
        match self.spread {
            _ if self.is_flat() => format!(
                "flat: {answers}, mean log-prob within {:.3} nats (< {FLAT_NATS}): the model does not use the GSD sentence",
                self.spread.unwrap_or(0.0)
            ),
            Some(s) => {
                let what = if self.distinct_answers <= 1 { "how sure the model is" } else { "what the model says" };
                format!("{answers}, mean log-prob spread {s:.3} nats: not flat, the stated GSD changes {what}")
            }
            None => format!("{answers}; mean log-prob n/a: the backend returned no token log-probabilities"),
        }
    }
}

/// The rows as CSV: `gsd_m,is_true,answer,mean_logprob,tokens`; a missing log-prob is `NaN`, missing
/// tokens empty; the answer quoted when it holds a comma, quote or line break.
pub fn to_csv(rows: &[SweepRow]) -> String {
    let mut out = String::from("gsd_m,is_true,answer,mean_logprob,tokens\n");
    for r in rows {
        out += &format!(
            "{},{},{},{},{}\n",
            r.gsd_m,
            r.is_true,
            crate::eval::csv_field(&r.answer),
            r.mean_logprob.map_or_else(|| "NaN".to_string(), |l| format!("{l:.6}")),
            r.tokens.map_or_else(String::new, |t| t.to_string())
        );
    }
    out
}

/// A whole sweep as JSON: the question, the model, the true GSD, the verdict and the rows (a missing
/// log-prob or token count is `null`).
pub fn to_json(question: &str, model: &str, truth: Option<f64>, rows: &[SweepRow]) -> serde_json::Value {
    let shape = Shape::of(rows);
    serde_json::json!({
        "question": question,
        "model": model,
        "sentence_template": "The ground sampling distance of this image is {GSD} per pixel.",
        "true_gsd_m": truth,
        "flat": shape.is_flat(),
        "verdict": shape.describe(),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(gsd_m: f64, answer: &str, mean_logprob: Option<f64>) -> SweepRow {
        SweepRow { gsd_m, is_true: false, answer: answer.into(), mean_logprob, tokens: mean_logprob.map(|_| 3) }
    }

    #[test]
    fn the_grid_is_log_spaced_with_exact_ends() {
        let g = log_grid(0.01, 1000.0, 11).unwrap();
        assert_eq!(g.len(), 11);
        assert_eq!((g[0], g[10]), (0.01, 1000.0));
        for (i, w) in g.windows(2).enumerate() {
            assert!((w[1] / w[0] - 10f64.sqrt()).abs() < 1e-9, "step {i}: {w:?}");
        }
        assert!((g[4] - 1.0).abs() < 1e-12, "{}", g[4]);
        assert_eq!(log_grid(1.0, 2.0, 2).unwrap(), vec![1.0, 2.0]);
    }

    #[test]
    fn bad_ranges_are_refused_with_the_reason() {
        assert_eq!(log_grid(0.0, 1.0, 5), Err(SweepError::Min(0.0)));
        assert_eq!(log_grid(-1.0, 1.0, 5), Err(SweepError::Min(-1.0)));
        assert!(matches!(log_grid(f64::NAN, 1.0, 5), Err(SweepError::Min(_))));
        assert_eq!(log_grid(10.0, 10.0, 5), Err(SweepError::Max { min: 10.0, max: 10.0 }));
        assert_eq!(log_grid(10.0, 1.0, 5), Err(SweepError::Max { min: 10.0, max: 1.0 }));
        assert!(matches!(log_grid(1.0, f64::INFINITY, 5), Err(SweepError::Max { .. })));
        assert_eq!(log_grid(1.0, 10.0, 1), Err(SweepError::Points(1)));
        assert_eq!(log_grid(1.0, 10.0, 201), Err(SweepError::Points(201)));
        assert_eq!(log_grid(1.0, 10.0, 200).unwrap().len(), 200);
        assert!(log_grid(0.0, 1.0, 5).unwrap_err().to_string().contains("positive"));
    }

    #[test]
    fn the_truth_is_marked_once_on_the_grid_or_beside_it() {
        let g = log_grid(0.01, 1000.0, 11).unwrap();
        let off = with_truth(&g, Some(0.6)).unwrap();
        assert_eq!(off.len(), 12);
        assert_eq!(off.iter().filter(|p| p.is_true).count(), 1);
        assert!(off.windows(2).all(|w| w[0].gsd_m < w[1].gsd_m), "in order");
        let t = off.iter().position(|p| p.is_true).unwrap();
        assert_eq!((off[t].gsd_m, off[t - 1].gsd_m, off[t + 1].gsd_m), (0.6, g[3], g[4]));
        let on = with_truth(&g, Some(1.000_000_1)).unwrap();
        assert_eq!((on.len(), on.iter().filter(|p| p.is_true).count()), (11, 1));
        assert!(on[4].is_true);
        assert_eq!(with_truth(&g, None).unwrap().iter().filter(|p| p.is_true).count(), 0);
        assert_eq!(with_truth(&g, Some(0.0)), Err(SweepError::Truth(0.0)));
        // Outside the grid: still marked, at its end.
        assert!(with_truth(&g, Some(5000.0)).unwrap().last().unwrap().is_true);
    }

    #[test]
    fn each_request_carries_its_own_sentence() {
        use crate::models::vlm::{Message, Part};
        let base = ChatRequest {
            messages: vec![Message::user(vec![Part::Image, Part::Text("How wide?".into())])],
            ..ChatRequest::default()
        };
        let r = request_at(&base, 0.031_622_776);
        assert_eq!(
            r.messages[0].parts[1],
            Part::Text("The ground sampling distance of this image is 0.0316 m per pixel. How wide?".into())
        );
        assert_eq!(base.messages[0].parts[1], Part::Text("How wide?".into()), "the base is unchanged");
    }

    #[test]
    fn a_flat_curve_needs_one_answer_and_a_tiny_spread() {
        let flat = [row(0.1, "ten", Some(-0.20)), row(1.0, "Ten ", Some(-0.23)), row(10.0, "ten", Some(-0.21))];
        let s = Shape::of(&flat);
        assert!(s.is_flat(), "{s:?}");
        assert!(s.describe().starts_with("flat: the same answer at every GSD"), "{}", s.describe());
        let sure = [row(0.1, "ten", Some(-0.2)), row(10.0, "ten", Some(-0.9))];
        assert!(!Shape::of(&sure).is_flat());
        assert!(Shape::of(&sure).describe().contains("spread 0.700 nats: not flat, the stated GSD changes how sure"));
        let answers = [row(0.1, "ten", Some(-0.2)), row(10.0, "a thousand", Some(-0.2))];
        assert!(!Shape::of(&answers).is_flat());
        assert!(Shape::of(&answers).describe().starts_with("2 different answers"));
        // A server without log-probs: nothing is called flat, and it says why.
        let blind = [row(0.1, "ten", None), row(10.0, "ten", None)];
        let s = Shape::of(&blind);
        assert!(!s.is_flat() && s.spread.is_none());
        assert!(s.describe().contains("n/a"), "{}", s.describe());
    }

    #[test]
    fn csv_and_json_hold_every_row_and_never_invent_a_log_prob() {
        let mut rows = vec![row(0.01, "about 2.6 m, I think", Some(-0.5)), row(0.6, "say \"60\"\nmetres", None)];
        rows[1].is_true = true;
        let csv = to_csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "gsd_m,is_true,answer,mean_logprob,tokens");
        assert_eq!(lines[1], "0.01,false,\"about 2.6 m, I think\",-0.500000,3");
        assert_eq!(&lines[2..], ["0.6,true,\"say \"\"60\"\"", "metres\",NaN,"]);
        let json = to_json("How wide?", "bundled", Some(0.6), &rows);
        assert_eq!(json["rows"].as_array().unwrap().len(), 2);
        assert_eq!(json["rows"][1]["mean_logprob"], serde_json::Value::Null);
        assert_eq!(json["rows"][1]["tokens"], serde_json::Value::Null);
        assert_eq!(json["rows"][1]["answer"], "say \"60\"\nmetres");
        assert_eq!(json["rows"][0]["mean_logprob"], -0.5);
        assert_eq!((json["true_gsd_m"].as_f64(), json["flat"].as_bool()), (Some(0.6), Some(false)));
        let back: Vec<SweepRow> = serde_json::from_value(json["rows"].clone()).unwrap();
        assert_eq!(back, rows);
    }
}
