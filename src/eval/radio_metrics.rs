//! RadioQA-sim scoring as radio-llava scores it, per task (morphology, extended, fr, galaxy,
//! artefact, anomaly): accuracy, support-weighted precision, recall and F1, and the confusion matrix
//! with a "no answer" column. Owns the per-question outcome, the additive tally a group's scenes sum
//! into, the numbers of a tally, the bootstrap over scenes that `score.rs` drives (it draws the
//! scenes, so spectrum and radio metrics of a group share one resampling), and the natural order of
//! SNR bins. Pure computation; any thread.
//!
//! An answer [`radio_answer`] cannot read (and a missing one) is no answer: wrong for accuracy, and
//! a prediction of no class for precision, recall and F1 (it lowers the recall of its true class and
//! adds no false positive). Weighted means weight each class by its support (reference answers of
//! that class); classes with no support weigh nothing, and a class never predicted has precision 0.
//! Weighted recall therefore equals accuracy.

use std::cmp::Ordering;

use super::metrics::percentile_interval;
use super::radio_report::{Confusion, RadioScores, TaskScore};
use super::report::Metric;
use crate::types::{Prediction, QaRecord, QuestionKind, radio_answer};

/// The tasks, in report order.
pub const TASKS: [QuestionKind; 6] = QuestionKind::RADIO;

/// The most labels a task has (morphology's six).
const MAX_CLASSES: usize = 6;

/// The confusion's last column: questions with no readable answer.
const NO_ANSWER_COL: usize = MAX_CLASSES;

/// The heading of the "no answer" column.
pub const NO_ANSWER: &str = "no answer";

/// Numbers per task: accuracy, weighted precision, weighted recall, weighted F1.
const N_VALUES: usize = 4;

/// Where `kind` is in [`TASKS`]; `None` for the SpectrumQA kinds.
pub fn task_index(kind: QuestionKind) -> Option<usize> {
    TASKS.iter().position(|&k| k == kind)
}

/// One RadioQA question as scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RadioOutcome {
    /// Index into [`TASKS`].
    pub task: usize,
    /// The reference label's index in the task's classes; `None` when the reference is no label
    /// (never in a manifest `read_manifest` accepted): such a question counts, always wrong, and is
    /// in no confusion row.
    pub truth: Option<usize>,
    /// The label answered; `None` when there is no answer or radio-llava's reading finds no label.
    pub guess: Option<usize>,
    /// No prediction at all (else `guess == None` means unparseable).
    pub missing: bool,
}

/// `pred` on `r` when `r` is a RadioQA question; `None` for the SpectrumQA kinds.
pub fn radio_outcome(r: &QaRecord, pred: Option<&Prediction>) -> Option<RadioOutcome> {
    let task = task_index(r.kind)?;
    let classes = r.kind.radio_classes();
    let truth = classes.iter().position(|&c| c == r.answer);
    let label = pred.and_then(|p| radio_answer(r.kind, &p.answer));
    let guess = label.and_then(|l| classes.iter().position(|&c| c == l));
    Some(RadioOutcome { task, truth, guess, missing: pred.is_none() })
}

/// One task's additive counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskTally {
    /// Questions.
    pub n: usize,
    /// `counts[truth][guess]`; column [`NO_ANSWER_COL`] holds the questions with no answer.
    counts: [[usize; MAX_CLASSES + 1]; MAX_CLASSES],
    pub unparsed: usize,
    pub missing: usize,
}

impl TaskTally {
    fn add(&mut self, o: &RadioOutcome) {
        self.n += 1;
        if o.guess.is_none() {
            if o.missing {
                self.missing += 1;
            } else {
                self.unparsed += 1;
            }
        }
        if let Some(t) = o.truth {
            self.counts[t][o.guess.unwrap_or(NO_ANSWER_COL)] += 1;
        }
    }

    /// Accuracy, weighted precision, weighted recall and weighted F1 over `k` classes; `None` with no
    /// question.
    pub fn values(&self, k: usize) -> Option<[f64; N_VALUES]> {
        if self.n == 0 {
            return None;
        }
        let k = k.min(MAX_CLASSES);
        let correct: usize = (0..k).map(|c| self.counts[c][c]).sum();
        let (p, r, f) = weighted_prf(&self.counts, k);
        Some([correct as f64 / self.n as f64, p, r, f])
    }

    /// The confusion over the first `k` classes, in counts: rows = reference class, columns = the
    /// classes then no answer.
    fn count_rows(&self, k: usize) -> Vec<Vec<usize>> {
        let k = k.min(MAX_CLASSES);
        self.counts[..k]
            .iter()
            .map(|row| row[..k].iter().copied().chain(std::iter::once(row[NO_ANSWER_COL])).collect())
            .collect()
    }
}

/// Support-weighted precision, recall and F1 of a confusion over `k` classes (rows = truth; column
/// [`NO_ANSWER_COL`] = no answer, a false negative of its row and a false positive of nothing).
fn weighted_prf(counts: &[[usize; MAX_CLASSES + 1]; MAX_CLASSES], k: usize) -> (f64, f64, f64) {
    let (mut p, mut r, mut f, mut total) = (0.0, 0.0, 0.0, 0usize);
    for c in 0..k {
        let support: usize = counts[c].iter().sum();
        if support == 0 {
            continue;
        }
        let tp = counts[c][c] as f64;
        let predicted: usize = counts[..k].iter().map(|row| row[c]).sum();
        let precision = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
        let recall = tp / support as f64;
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        let w = support as f64;
        p += w * precision;
        r += w * recall;
        f += w * f1;
        total += support;
    }
    if total == 0 {
        return (0.0, 0.0, 0.0);
    }
    let t = total as f64;
    (p / t, r / t, f / t)
}

/// Every task's tally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RadioTally {
    pub tasks: [TaskTally; 6],
}

impl RadioTally {
    pub fn add(&mut self, o: &RadioOutcome) {
        if let Some(t) = self.tasks.get_mut(o.task) {
            t.add(o);
        }
    }

    pub fn add_all(&mut self, outcomes: &[RadioOutcome]) {
        for o in outcomes {
            self.add(o);
        }
    }
}

/// The bootstrap of one group's radio numbers, fed the scenes `score.rs` draws: [`Self::start`] a
/// resample, [`Self::add`] each drawn scene's outcomes, [`Self::finish`] it. Only the tasks in
/// `present` are computed; with none present every call returns at once.
pub struct RadioBootstrap {
    present: [bool; 6],
    any: bool,
    current: RadioTally,
    /// `samples[task][value]`: the value in each resample that had a question of the task.
    samples: Vec<[Vec<f64>; N_VALUES]>,
}

impl RadioBootstrap {
    pub fn new(present: [bool; 6], resamples: usize) -> Self {
        let any = present.iter().any(|&p| p);
        let cap = if any { resamples } else { 0 };
        let samples = TASKS.iter().map(|_| std::array::from_fn(|_| Vec::with_capacity(cap))).collect();
        RadioBootstrap { present, any, current: RadioTally::default(), samples }
    }

    pub fn start(&mut self) {
        if self.any {
            self.current = RadioTally::default();
        }
    }

    pub fn add(&mut self, outcomes: &[RadioOutcome]) {
        if self.any {
            self.current.add_all(outcomes);
        }
    }

    pub fn finish(&mut self) {
        if !self.any {
            return;
        }
        for (i, kind) in TASKS.iter().enumerate() {
            if !self.present[i] {
                continue;
            }
            if let Some(values) = self.current.tasks[i].values(kind.radio_classes().len()) {
                for (s, v) in self.samples[i].iter_mut().zip(values) {
                    s.push(v);
                }
            }
        }
    }

    /// The present tasks' scores from the group's `total` tally and the resamples taken.
    pub fn scores(mut self, total: &RadioTally) -> RadioScores {
        let mut out = Vec::new();
        for (i, kind) in TASKS.iter().enumerate() {
            if !self.present[i] {
                continue;
            }
            let classes = kind.radio_classes();
            let tally = &total.tasks[i];
            let point = tally.values(classes.len());
            let samples = &mut self.samples[i];
            let mut metric = |j: usize| interval_metric(point.map(|v| v[j]), tally.n, &mut samples[j]);
            let (accuracy, weighted_precision, weighted_recall, weighted_f1) =
                (metric(0), metric(1), metric(2), metric(3));
            out.push(TaskScore {
                task: kind.name().to_string(),
                accuracy,
                weighted_precision,
                weighted_recall,
                weighted_f1,
                confusion: confusion(classes, tally),
            });
        }
        RadioScores(out)
    }
}

/// A point value with its percentile interval from `samples`, widened to include the value; all
/// zero with `n == 0` or no value (the report's convention for absent metrics).
pub fn interval_metric(point: Option<f64>, n: usize, samples: &mut [f64]) -> Metric {
    match point {
        Some(value) if n > 0 => {
            let (lo, hi) = if samples.is_empty() { (value, value) } else { percentile_interval(samples, 0.95) };
            Metric { value, lo: lo.min(value), hi: hi.max(value), n }
        }
        _ => Metric { value: 0.0, lo: 0.0, hi: 0.0, n: 0 },
    }
}

/// The report's confusion of one task: counts and row shares (a row with no reference answer is all
/// zeros, never NaN).
fn confusion(classes: &[&str], t: &TaskTally) -> Confusion {
    let counts = t.count_rows(classes.len());
    let normalized = counts
        .iter()
        .map(|row| {
            let sum: usize = row.iter().sum();
            row.iter().map(|&c| if sum > 0 { c as f64 / sum as f64 } else { 0.0 }).collect()
        })
        .collect();
    Confusion {
        rows: classes.iter().map(|c| (*c).to_string()).collect(),
        columns: classes.iter().map(|c| (*c).to_string()).chain(std::iter::once(NO_ANSWER.to_string())).collect(),
        counts,
        normalized,
        unparsed: t.unparsed,
        missing: t.missing,
    }
}

/// The numeric range an SNR bin names, for ordering: `a-b` -> (a, b), `>a` / `>=a` / `a+` -> (a, inf),
/// `<b` / `<=b` -> (-inf, b); `None` for anything else.
fn bin_range(bin: &str) -> Option<(f64, f64)> {
    let b = bin.trim();
    let num = |s: &str| s.trim().parse::<f64>().ok().filter(|v| !v.is_nan());
    if let Some(rest) = b.strip_prefix(">=").or_else(|| b.strip_prefix('>')).or_else(|| b.strip_prefix('≥')) {
        return num(rest).map(|a| (a, f64::INFINITY));
    }
    if let Some(rest) = b.strip_prefix("<=").or_else(|| b.strip_prefix('<')).or_else(|| b.strip_prefix('≤')) {
        return num(rest).map(|hi| (f64::NEG_INFINITY, hi));
    }
    if let Some(rest) = b.strip_suffix('+') {
        return num(rest).map(|a| (a, f64::INFINITY));
    }
    // The separator is the first '-' after the first character (a leading '-' is a sign).
    let cut = b.char_indices().skip(1).find(|&(_, c)| c == '-').map(|(i, _)| i)?;
    Some((num(&b[..cut])?, num(&b[cut + 1..])?))
}

/// The natural order of SNR bins: by lower then upper bound (`<5`, `5-10`, `10-30`, `>100`); bins
/// that name no range come after, by name.
pub fn snr_bin_order(a: &str, b: &str) -> Ordering {
    match (bin_range(a), bin_range(b)) {
        (Some(x), Some(y)) => x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn o(task: usize, truth: usize, guess: Option<usize>) -> RadioOutcome {
        RadioOutcome { task, truth: Some(truth), guess, missing: false }
    }

    #[test]
    fn weighted_scores_on_a_hand_computed_confusion() {
        // FR (two classes). Truth FR-I (0) x3: answered 0, 0, 1. Truth FR-II (1) x2: answered 1, none.
        let mut t = RadioTally::default();
        t.add_all(&[o(2, 0, Some(0)), o(2, 0, Some(0)), o(2, 0, Some(1)), o(2, 1, Some(1)), o(2, 1, None)]);
        let [acc, p, r, f] = t.tasks[2].values(2).expect("questions");
        assert!(close(acc, 3.0 / 5.0));
        // FR-I: P 2/2, R 2/3, F1 0.8. FR-II: P 1/2, R 1/2, F1 1/2. Supports 3 and 2.
        assert!(close(p, (3.0 * 1.0 + 2.0 * 0.5) / 5.0), "{p}");
        assert!(close(r, (3.0 * 2.0 / 3.0 + 2.0 * 0.5) / 5.0), "{r}");
        assert!(close(r, acc), "weighted recall is accuracy");
        assert!(close(f, (3.0 * 0.8 + 2.0 * 0.5) / 5.0), "{f}");
        assert_eq!(t.tasks[2].unparsed, 1);
        assert_eq!(t.tasks[2].count_rows(2), [vec![2, 1, 0], vec![0, 1, 1]]);
        // Other tasks are untouched.
        assert_eq!(t.tasks[0].values(6), None);
    }

    #[test]
    fn a_class_never_predicted_and_a_prediction_with_no_support() {
        // Anomaly: truth ORDINARY x2 both answered COMPLEX; truth COMPLEX x1 answered COMPLEX.
        let mut t = RadioTally::default();
        t.add_all(&[o(5, 0, Some(1)), o(5, 0, Some(1)), o(5, 1, Some(1))]);
        let [acc, p, r, f] = t.tasks[5].values(3).expect("questions");
        assert!(close(acc, 1.0 / 3.0));
        // ORDINARY: P 0 (never predicted), R 0, F1 0. COMPLEX: P 1/3, R 1, F1 0.5. PECULIAR: no support.
        assert!(close(p, 1.0 / 9.0) && close(r, 1.0 / 3.0) && close(f, 0.5 / 3.0), "{p} {r} {f}");
        // Only unanswered questions: everything 0, nothing NaN.
        let mut t = RadioTally::default();
        t.add(&RadioOutcome { task: 0, truth: Some(3), guess: None, missing: true });
        assert_eq!(t.tasks[0].values(6), Some([0.0; 4]));
        assert_eq!(t.tasks[0].missing, 1);
    }

    #[test]
    fn snr_bins_sort_naturally() {
        let mut bins = vec![">100", "30-100", "10-30", "5-10", "<5", "faint"];
        bins.sort_by(|a, b| snr_bin_order(a, b));
        assert_eq!(bins, ["<5", "5-10", "10-30", "30-100", ">100", "faint"]);
        let mut bins = vec!["100+", "2.5-5", "0-2.5"];
        bins.sort_by(|a, b| snr_bin_order(a, b));
        assert_eq!(bins, ["0-2.5", "2.5-5", "100+"]);
    }
}
