//! The scorer's result: per-group metrics with bootstrap intervals, and its renderings as a
//! fixed-width text table, pretty JSON and long-format CSV. The RadioQA-sim tasks' part is in
//! `radio_report.rs`. Plain data; any thread.

use std::fmt::Write as _;

use serde::Serialize;

use super::radio_report::{RadioScores, radio_text};
use super::score::Weights;
use crate::types::{SEVERITY_CLASSES, Split};

/// One headline number with its bootstrap 95 % interval. `n` is the number of questions it counts;
/// with `n == 0` every field is 0 (never NaN).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metric {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
}

/// A count per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LevelCounts {
    pub l1: usize,
    pub l2: usize,
    pub l3: usize,
    pub l4: usize,
}

impl LevelCounts {
    pub fn total(&self) -> usize {
        self.l1 + self.l2 + self.l3 + self.l4
    }
}

/// L2 accuracy of one question kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindMetric {
    pub kind: String,
    pub metric: Metric,
}

/// All metrics of one group of questions: `overall`, one scenario or one SNR bin (`snr 5-10`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupScore {
    pub name: String,
    /// Scenes in the group: the bootstrap's resampling unit.
    pub scenes: usize,
    /// Questions per level.
    pub questions: LevelCounts,
    pub l1: Metric,
    pub l1_macro_f1: Metric,
    /// Rows = true class, columns = predicted class, both in [`SEVERITY_CLASSES`] order.
    pub l1_confusion: [[usize; 4]; 4],
    /// Per true class: L1 questions whose prediction was missing or unparseable.
    pub l1_unanswered: [usize; 4],
    pub l2: Metric,
    pub l2_by_kind: Vec<KindMetric>,
    /// Mean IoU over L3 questions whose reference has a box.
    pub l3_iou: Metric,
    /// Accuracy of the region-or-none decision over all L3 questions.
    pub l3_none_acc: Metric,
    /// Scenes with at least one boxed L3 reference: the effective sample size of `l3_iou`.
    pub l3_scenes_with_region: usize,
    pub l4_token_f1: Metric,
    pub l4_concept_f1: Metric,
    pub composite: Metric,
    /// Predictions present but unparseable, per level.
    pub unparsed: LevelCounts,
    /// Questions with no prediction, per level.
    pub missing: LevelCounts,
    /// The RadioQA-sim tasks of the report (none for SpectrumQA-sim), as fields of the group.
    #[serde(flatten)]
    pub radio: RadioScores,
}

impl GroupScore {
    /// Every metric with its CSV name, in table order: the SpectrumQA ones, then the radio tasks'.
    pub fn metrics(&self) -> Vec<(String, Metric)> {
        let mut out = self.spectrum_metrics();
        out.extend(self.radio.metrics());
        out
    }

    /// The SpectrumQA metrics with their CSV names, in table order.
    pub fn spectrum_metrics(&self) -> Vec<(String, Metric)> {
        let mut out = vec![
            ("l1_acc".to_string(), self.l1),
            ("l1_macro_f1".to_string(), self.l1_macro_f1),
            ("l2_acc".to_string(), self.l2),
        ];
        out.extend(self.l2_by_kind.iter().map(|k| (format!("l2_acc_{}", k.kind), k.metric)));
        out.extend([
            ("l3_iou".to_string(), self.l3_iou),
            ("l3_none_acc".to_string(), self.l3_none_acc),
            ("l4_token_f1".to_string(), self.l4_token_f1),
            ("l4_concept_f1".to_string(), self.l4_concept_f1),
            ("composite".to_string(), self.composite),
        ]);
        out
    }
}

/// How many scored answers came with a domain verdict, and how many of those said out of domain.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutOfDomain {
    pub judged: usize,
    pub flagged: usize,
    pub rate: f64,
}

/// The whole scoring result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `overall` first, then one group per scenario, sorted by name, then one per SNR bin of the
    /// RadioQA-sim records that have one (`snr 5-10`), in the bins' numeric order.
    pub groups: Vec<GroupScore>,
    /// Scored questions with no prediction, and the first few of their ids.
    pub missing: usize,
    pub missing_ids: Vec<String>,
    /// Predictions whose id is not in the manifest, and the first few of those ids.
    pub unknown: usize,
    pub unknown_ids: Vec<String>,
    /// Scored answers the model judged out of its domain, of those it judged (absent when the model
    /// has no domain check). The answers are scored either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_domain: Option<OutOfDomain>,
    /// Composite weights, normalized to sum 1.
    pub weights: Weights,
    pub split: Option<Split>,
    pub bootstrap: usize,
    pub seed: u64,
}

fn cell(m: &Metric) -> String {
    if m.n == 0 { "-".to_string() } else { format!("{:.3} [{:.2},{:.2}]", m.value, m.lo, m.hi) }
}

/// One CSV field, quoted (quotes doubled) when it holds a comma, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

impl Report {
    /// The `overall` group.
    pub fn overall(&self) -> Option<&GroupScore> {
        self.groups.first()
    }

    /// A group by name (`overall`, a scenario or `snr BIN`).
    pub fn group(&self, name: &str) -> Option<&GroupScore> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Whether the SpectrumQA part is shown: the report has SpectrumQA questions, or no radio ones
    /// (an empty report still shows its zeros). A RadioQA-only report leaves out the empty table.
    pub fn shows_spectrum(&self) -> bool {
        self.overall().is_none_or(|o| o.questions.total() > 0 || o.radio.is_empty())
    }

    /// A readable fixed-width summary: the SpectrumQA part (one row per group, the overall L1
    /// confusion matrix, L2 by kind, the unparsed tally) unless the report is RadioQA-only, the
    /// RadioQA part when it has radio tasks, then the missing / out-of-domain / unknown tallies.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if self.shows_spectrum() {
            self.spectrum_text(&mut s);
        }
        let radio = radio_text(self);
        if !radio.is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            s.push_str(&radio);
        }
        let _ = write!(s, "missing predictions (counted wrong): {}", self.missing);
        if self.missing > 0 {
            let more = if self.missing > self.missing_ids.len() { ", ..." } else { "" };
            let _ = write!(s, " (ids: {}{more})", self.missing_ids.join(", "));
        }
        if let Some(o) = self.out_of_domain {
            let _ = write!(
                s,
                "\nanswers the model judged out of its domain (scored anyway): {} of {} ({:.1} %)",
                o.flagged,
                o.judged,
                100.0 * o.rate
            );
        }
        let _ = write!(s, "\npredictions for ids not in the manifest (ignored): {}", self.unknown);
        if self.unknown > 0 {
            let more = if self.unknown > self.unknown_ids.len() { ", ..." } else { "" };
            let _ = write!(s, " (ids: {}{more})", self.unknown_ids.join(", "));
        }
        s.push('\n');
        s
    }

    /// The SpectrumQA part of [`Self::to_text`].
    fn spectrum_text(&self, s: &mut String) {
        let split = self.split.map_or("all splits", Split::name);
        let w = &self.weights;
        let _ = writeln!(
            s,
            "SpectrumQA-sim scores ({split}; composite weights L1 {:.3} L2 {:.3} L3 {:.3} L4 {:.3}; \
             95% bootstrap over scenes, {} resamples, seed {})",
            w.l1, w.l2, w.l3, w.l4, self.bootstrap, self.seed
        );
        // Overall always; other groups when they hold SpectrumQA questions (not the SNR groups).
        let shown: Vec<&GroupScore> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(i, g)| *i == 0 || g.questions.total() > 0)
            .map(|(_, g)| g)
            .collect();
        let name_w = shown.iter().map(|g| g.name.len()).max().unwrap_or(5).max(7);
        let heads = ["L1 acc", "L1 mF1", "L2 acc", "L3 IoU", "L3 none-acc", "L4 tokF1", "L4 conF1", "composite"];
        let _ = write!(s, "{:<name_w$} {:>6} {:>6}", "group", "scenes", "qs");
        for h in heads {
            let _ = write!(s, "  {h:<18}");
        }
        let trimmed = s.trim_end().len();
        s.truncate(trimmed);
        s.push('\n');
        for g in shown {
            let _ = write!(s, "{:<name_w$} {:>6} {:>6}", g.name, g.scenes, g.questions.total());
            for m in [
                &g.l1,
                &g.l1_macro_f1,
                &g.l2,
                &g.l3_iou,
                &g.l3_none_acc,
                &g.l4_token_f1,
                &g.l4_concept_f1,
                &g.composite,
            ] {
                let _ = write!(s, "  {:<18}", cell(m));
            }
            let trimmed = s.trim_end().len();
            s.truncate(trimmed);
            s.push('\n');
        }
        if let Some(o) = self.overall() {
            let _ = writeln!(s, "\nL1 confusion (overall; rows = truth, columns = prediction):");
            let _ = write!(s, "{:<10}", "");
            for c in SEVERITY_CLASSES {
                let _ = write!(s, "{c:>10}");
            }
            let _ = writeln!(s, "{:>18}", "unparsed/missing");
            for (i, c) in SEVERITY_CLASSES.iter().enumerate() {
                let _ = write!(s, "{c:<10}");
                for v in o.l1_confusion[i] {
                    let _ = write!(s, "{v:>10}");
                }
                let _ = writeln!(s, "{:>18}", o.l1_unanswered[i]);
            }
            let _ = writeln!(s, "\nL2 accuracy by kind (overall):");
            for k in &o.l2_by_kind {
                let _ = writeln!(s, "  {:<16} {} (n {})", k.kind, cell(&k.metric), k.metric.n);
            }
            let _ = writeln!(
                s,
                "L3: {} boxed references in {} scenes (IoU), {} questions (none-acc)",
                o.l3_iou.n, o.l3_scenes_with_region, o.l3_none_acc.n
            );
            let u = o.unparsed;
            let _ = writeln!(
                s,
                "\nunparsed predictions (counted wrong): {} (L1 {}, L2 {}, L3 {}, L4 {})",
                u.total(),
                u.l1,
                u.l2,
                u.l3,
                u.l4
            );
        }
    }

    /// The whole report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain numbers, strings and vectors cannot fail; fall back to an error object anyway.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }

    /// Long-format CSV: `group,metric,value,lo,hi,n`, one row per group and metric (the SpectrumQA
    /// metrics left out of a RadioQA-only report).
    pub fn to_csv(&self) -> String {
        let mut s = String::from("group,metric,value,lo,hi,n\n");
        let spectrum = self.shows_spectrum();
        for g in &self.groups {
            let mut metrics = if spectrum { g.spectrum_metrics() } else { Vec::new() };
            metrics.extend(g.radio.metrics());
            for (name, m) in metrics {
                let _ = writeln!(s, "{},{name},{:.6},{:.6},{:.6},{}", csv_field(&g.name), m.value, m.lo, m.hi, m.n);
            }
        }
        s
    }
}
