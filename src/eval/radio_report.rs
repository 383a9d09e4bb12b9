//! The RadioQA-sim part of a report: per task its accuracy and weighted precision / recall / F1 with
//! bootstrap intervals and its confusion matrix, as plain data; in the JSON each task's numbers sit
//! in the group beside the SpectrumQA ones (`morphology`, `morphology_weighted_f1`,
//! `morphology_weighted_precision`, `morphology_weighted_recall`, `morphology_confusion`); the text
//! section (a table of tasks x groups, then every task's row-normalized confusion over all groups).
//! Plain data; any thread.

use std::fmt::Write as _;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::report::{Metric, Report};
use crate::types::Split;

/// One task's confusion matrix: rows = reference class, columns = the answered class, then
/// [`NO_ANSWER`](super::radio_metrics::NO_ANSWER) (missing or unreadable answers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// The task's classes: the row labels.
    pub rows: Vec<String>,
    /// The task's classes and "no answer": the column labels.
    pub columns: Vec<String>,
    pub counts: Vec<Vec<usize>>,
    /// `counts` with each row divided by its sum (a row with no reference answer is all zeros).
    pub normalized: Vec<Vec<f64>>,
    /// Of the "no answer" column: answers radio-llava's reading finds no label in, and questions
    /// with no prediction.
    pub unparsed: usize,
    pub missing: usize,
}

/// One task's scores in one group. `n` of every metric is the task's questions in the group.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskScore {
    /// The task's kind name (`morphology`, ...).
    pub task: String,
    pub accuracy: Metric,
    pub weighted_precision: Metric,
    pub weighted_recall: Metric,
    pub weighted_f1: Metric,
    pub confusion: Confusion,
}

/// The radio tasks scored in a report (those with a question in it, in `QuestionKind::RADIO`
/// order); every group carries all of them, with `n == 0` where the group has none. Serialized as
/// the group's `<task>`, `<task>_weighted_f1`, `<task>_weighted_precision`, `<task>_weighted_recall`
/// and `<task>_confusion` fields; empty for a SpectrumQA-only report, which so keeps its fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RadioScores(pub Vec<TaskScore>);

impl Serialize for RadioScores {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len() * 5))?;
        for t in &self.0 {
            map.serialize_entry(&t.task, &t.accuracy)?;
            map.serialize_entry(&format!("{}_weighted_f1", t.task), &t.weighted_f1)?;
            map.serialize_entry(&format!("{}_weighted_precision", t.task), &t.weighted_precision)?;
            map.serialize_entry(&format!("{}_weighted_recall", t.task), &t.weighted_recall)?;
            map.serialize_entry(&format!("{}_confusion", t.task), &t.confusion)?;
        }
        map.end()
    }
}

impl RadioScores {
    /// A task's scores by kind name.
    pub fn task(&self, name: &str) -> Option<&TaskScore> {
        self.0.iter().find(|t| t.task == name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every metric with its CSV name (the JSON field's), task by task.
    pub fn metrics(&self) -> Vec<(String, Metric)> {
        let mut out = Vec::with_capacity(self.0.len() * 4);
        for t in &self.0 {
            out.extend([
                (t.task.clone(), t.accuracy),
                (format!("{}_weighted_precision", t.task), t.weighted_precision),
                (format!("{}_weighted_recall", t.task), t.weighted_recall),
                (format!("{}_weighted_f1", t.task), t.weighted_f1),
            ]);
        }
        out
    }
}

fn cell(m: &Metric) -> String {
    if m.n == 0 { "-".to_string() } else { format!("{:.3} [{:.2},{:.2}]", m.value, m.lo, m.hi) }
}

/// The text report's RadioQA-sim section: one row per task and group with questions, then each
/// task's overall confusion in row shares with the row counts, then the unanswered tallies. Empty
/// when the report has no radio task.
pub fn radio_text(report: &Report) -> String {
    let mut s = String::new();
    let Some(overall) = report.overall().filter(|o| !o.radio.is_empty()) else { return s };
    let split = report.split.map_or("all splits", Split::name);
    let _ = writeln!(
        s,
        "RadioQA-sim scores ({split}; accuracy and support-weighted precision, recall and F1, an \
         unreadable answer counted as no class; 95% bootstrap over scenes, {} resamples, seed {})",
        report.bootstrap, report.seed
    );
    let task_w = overall.radio.0.iter().map(|t| t.task.len()).max().unwrap_or(4).max(4);
    let group_w = report.groups.iter().map(|g| g.name.len()).max().unwrap_or(5).max(7);
    let _ = write!(s, "{:<task_w$}  {:<group_w$} {:>6}", "task", "group", "qs");
    for h in ["accuracy", "weighted P", "weighted R", "weighted F1"] {
        let _ = write!(s, "  {h:<18}");
    }
    trim_line(&mut s);
    for (i, t) in overall.radio.0.iter().enumerate() {
        let mut first = true;
        for g in &report.groups {
            let Some(gt) = g.radio.0.get(i).filter(|gt| gt.accuracy.n > 0) else { continue };
            let label = if first { t.task.as_str() } else { "" };
            first = false;
            let _ = write!(s, "{label:<task_w$}  {:<group_w$} {:>6}", g.name, gt.accuracy.n);
            for m in [&gt.accuracy, &gt.weighted_precision, &gt.weighted_recall, &gt.weighted_f1] {
                let _ = write!(s, "  {:<18}", cell(m));
            }
            trim_line(&mut s);
        }
    }
    for t in &overall.radio.0 {
        let c = &t.confusion;
        let _ = writeln!(s, "\n{} confusion (overall; rows = reference, columns = answer, row shares):", t.task);
        let row_w = c.rows.iter().map(String::len).max().unwrap_or(0).max(5);
        let col_w = c.columns.iter().map(String::len).max().unwrap_or(0).max(5) + 2;
        let _ = write!(s, "{:<row_w$}", "");
        for col in &c.columns {
            let _ = write!(s, "{col:>col_w$}");
        }
        let _ = writeln!(s, "{:>8}", "n");
        for ((label, shares), counts) in c.rows.iter().zip(&c.normalized).zip(&c.counts) {
            let _ = write!(s, "{label:<row_w$}");
            for v in shares {
                let _ = write!(s, "{v:>col_w$.2}");
            }
            let _ = writeln!(s, "{:>8}", counts.iter().sum::<usize>());
        }
    }
    let (unparsed, missing): (Vec<String>, Vec<String>) = overall
        .radio
        .0
        .iter()
        .map(|t| (format!("{} {}", t.task, t.confusion.unparsed), format!("{} {}", t.task, t.confusion.missing)))
        .unzip();
    let total = |f: fn(&Confusion) -> usize| overall.radio.0.iter().map(|t| f(&t.confusion)).sum::<usize>();
    let _ = writeln!(
        s,
        "\nradio answers with no label (counted wrong, no class): {} ({})",
        total(|c| c.unparsed),
        unparsed.join(", ")
    );
    let _ = writeln!(s, "radio questions with no prediction: {} ({})", total(|c| c.missing), missing.join(", "));
    s
}

/// End the line being written without trailing spaces.
fn trim_line(s: &mut String) {
    let trimmed = s.trim_end().len();
    s.truncate(trimmed);
    s.push('\n');
}
