//! Scoring predictions against a manifest: per-question outcomes summed per scene, groups (overall,
//! per scenario, and per SNR bin of the RadioQA-sim records that have one), and bootstrap intervals
//! that resample scenes within each group (one resampling for a group's SpectrumQA and RadioQA
//! numbers; the radio numbers themselves are `radio_metrics.rs`'s). Pure computation on slices; any
//! thread.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::metrics::{iou, macro_f1_with_unanswered, match_option};
use super::question::{Outcome, outcome};
use super::radio_metrics::{
    RadioBootstrap, RadioOutcome, RadioTally, TASKS, interval_metric, radio_outcome, snr_bin_order,
};
use super::report::{GroupScore, KindMetric, LevelCounts, Metric, Report};
use crate::sim::rng::Rng;
use crate::types::{Prediction, QaRecord, QuestionKind, SEVERITY_CLASSES, Split};

/// How many missing or unknown ids a report lists by name.
const LISTED_IDS: usize = 10;

/// The L2 kinds, in the order of [`Tally::l2_n`].
const L2_KINDS: [QuestionKind; 3] = [QuestionKind::RegionAffected, QuestionKind::WhichWorse, QuestionKind::WorstRegion];

/// Composite weights of L1 accuracy, L2 accuracy, L3 mean IoU and L4 token F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weights {
    pub l1: f64,
    pub l2: f64,
    pub l3: f64,
    pub l4: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { l1: 0.25, l2: 0.25, l3: 0.25, l4: 0.25 }
    }
}

impl Weights {
    /// Four comma-separated non-negative numbers with a positive sum, e.g. `"1,1,2,0"`; normalized so
    /// they sum to 1.
    pub fn parse(s: &str) -> Result<Weights, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() != 4 {
            return Err(format!("expected four comma-separated weights (L1,L2,L3,L4), got {s:?}"));
        }
        let mut w = [0.0f64; 4];
        for (slot, p) in w.iter_mut().zip(&parts) {
            let v: f64 = p.parse().map_err(|_| format!("weight {p:?} is not a number"))?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!("weight {p:?} must be a finite number >= 0"));
            }
            *slot = v;
        }
        let sum: f64 = w.iter().sum();
        if sum <= 0.0 || !sum.is_finite() {
            return Err(format!("weights {s:?} must have a positive sum"));
        }
        Ok(Weights { l1: w[0] / sum, l2: w[1] / sum, l3: w[2] / sum, l4: w[3] / sum })
    }

    fn as_array(self) -> [f64; 4] {
        [self.l1, self.l2, self.l3, self.l4]
    }
}

/// What [`score`] does beyond the definitions: weights, bootstrap size and seed, split filter.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreOptions {
    pub weights: Weights,
    /// Bootstrap resamples per group; 0 gives zero-width intervals.
    pub bootstrap: usize,
    pub seed: u64,
    /// Score only the records of this split.
    pub split: Option<Split>,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions { weights: Weights::default(), bootstrap: 1000, seed: 0, split: None }
    }
}

/// Additive per-question outcomes; one scene's (or a group's) tally is the sum of its questions'.
#[derive(Debug, Clone, Default)]
struct Tally {
    l1_n: usize,
    l1_correct: usize,
    confusion: [[usize; 4]; 4],
    /// Per true class: L1 questions with a missing or unparseable prediction.
    l1_unanswered: [usize; 4],
    l2_n: [usize; 3],
    l2_correct: [usize; 3],
    l3_n: usize,
    l3_none_correct: usize,
    l3_box_n: usize,
    l3_iou_sum: f64,
    l4_n: usize,
    l4_token_sum: f64,
    l4_concept_sum: f64,
    unparsed: [usize; 4],
    missing: [usize; 4],
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.l1_n += o.l1_n;
        self.l1_correct += o.l1_correct;
        for (row, orow) in self.confusion.iter_mut().zip(&o.confusion) {
            add_counts(row, orow);
        }
        add_counts(&mut self.l1_unanswered, &o.l1_unanswered);
        add_counts(&mut self.l2_n, &o.l2_n);
        add_counts(&mut self.l2_correct, &o.l2_correct);
        self.l3_n += o.l3_n;
        self.l3_none_correct += o.l3_none_correct;
        self.l3_box_n += o.l3_box_n;
        self.l3_iou_sum += o.l3_iou_sum;
        self.l4_n += o.l4_n;
        self.l4_token_sum += o.l4_token_sum;
        self.l4_concept_sum += o.l4_concept_sum;
        add_counts(&mut self.unparsed, &o.unparsed);
        add_counts(&mut self.missing, &o.missing);
    }

    /// Every headline number of this tally; `None` where no question counts.
    fn values(&self, w: &Weights) -> Values {
        let ratio = |num: f64, n: usize| if n == 0 { None } else { Some(num / n as f64) };
        let l2_n: usize = self.l2_n.iter().sum();
        let l2_correct: usize = self.l2_correct.iter().sum();
        let mut v = Values {
            l1: ratio(self.l1_correct as f64, self.l1_n),
            l1_macro_f1: (self.l1_n > 0).then(|| macro_f1_with_unanswered(&self.confusion, &self.l1_unanswered)),
            l2: ratio(l2_correct as f64, l2_n),
            l2_by_kind: [0, 1, 2].map(|k| ratio(self.l2_correct[k] as f64, self.l2_n[k])),
            l3_iou: ratio(self.l3_iou_sum, self.l3_box_n),
            l3_none_acc: ratio(self.l3_none_correct as f64, self.l3_n),
            l4_token_f1: ratio(self.l4_token_sum, self.l4_n),
            l4_concept_f1: ratio(self.l4_concept_sum, self.l4_n),
            composite: None,
        };
        // Weighted mean over the levels that have questions here.
        let parts = [v.l1, v.l2, v.l3_iou, v.l4_token_f1];
        let (mut num, mut den) = (0.0, 0.0);
        for (value, weight) in parts.iter().zip(w.as_array()) {
            if let Some(x) = value {
                num += weight * x;
                den += weight;
            }
        }
        v.composite = (den > 0.0).then(|| num / den);
        v
    }

    fn composite_n(&self) -> usize {
        self.l1_n + self.l2_n.iter().sum::<usize>() + self.l3_box_n + self.l4_n
    }
}

/// One scene's questions in a group: the SpectrumQA tally and the RadioQA outcomes.
#[derive(Debug, Clone, Default)]
struct Scene {
    spectrum: Tally,
    radio: Vec<RadioOutcome>,
}

impl Scene {
    fn add(&mut self, t: &Tally, radio: Option<RadioOutcome>) {
        self.spectrum.add(t);
        self.radio.extend(radio);
    }
}

fn add_counts<const N: usize>(a: &mut [usize; N], b: &[usize; N]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// The headline numbers of one tally, in a fixed order for the bootstrap.
#[derive(Debug, Clone, Copy)]
struct Values {
    l1: Option<f64>,
    l1_macro_f1: Option<f64>,
    l2: Option<f64>,
    l2_by_kind: [Option<f64>; 3],
    l3_iou: Option<f64>,
    l3_none_acc: Option<f64>,
    l4_token_f1: Option<f64>,
    l4_concept_f1: Option<f64>,
    composite: Option<f64>,
}

const N_VALUES: usize = 11;

impl Values {
    fn to_array(self) -> [Option<f64>; N_VALUES] {
        let [k0, k1, k2] = self.l2_by_kind;
        [
            self.l1,
            self.l1_macro_f1,
            self.l2,
            k0,
            k1,
            k2,
            self.l3_iou,
            self.l3_none_acc,
            self.l4_token_f1,
            self.l4_concept_f1,
            self.composite,
        ]
    }
}

/// One question's contribution to the tallies, from its [`Outcome`].
fn tally(r: &QaRecord, pred: Option<&Prediction>) -> Tally {
    let mut t = Tally::default();
    if r.kind.is_radio() {
        // RadioQA-sim questions are no part of the SpectrumQA levels and composite.
        return t;
    }
    let level = r.kind.level() as usize;
    let outcome = outcome(r, pred);
    match outcome {
        Outcome::Missing => t.missing[level] += 1,
        Outcome::Unparsed => t.unparsed[level] += 1,
        _ => {}
    }
    match r.kind {
        QuestionKind::Severity => {
            t.l1_n = 1;
            let Some(truth) = match_option(&r.answer, &SEVERITY_CLASSES) else {
                t.unparsed[level] = 0;
                return t;
            };
            match outcome {
                Outcome::Severity { guess, .. } => {
                    t.confusion[truth][guess] = 1;
                    t.l1_correct = usize::from(guess == truth);
                }
                _ => t.l1_unanswered[truth] = 1,
            }
        }
        QuestionKind::RegionAffected | QuestionKind::WhichWorse | QuestionKind::WorstRegion => {
            let k = L2_KINDS.iter().position(|&x| x == r.kind).unwrap_or(0);
            t.l2_n[k] = 1;
            if let Outcome::Choice { correct } = outcome {
                t.l2_correct[k] = usize::from(correct);
            }
        }
        QuestionKind::Localize => {
            t.l3_n = 1;
            t.l3_box_n = usize::from(r.bbox.is_some());
            if let Outcome::Region { truth, guess } = outcome {
                t.l3_none_correct = usize::from(guess.is_none() == truth.is_none());
                if let (Some(a), Some(b)) = (truth, guess) {
                    t.l3_iou_sum = iou(a, b);
                }
            }
        }
        QuestionKind::Morphology
        | QuestionKind::Extended
        | QuestionKind::Fr
        | QuestionKind::Galaxy
        | QuestionKind::Artefact
        | QuestionKind::Anomaly => {}
        QuestionKind::Explain => {
            t.l4_n = 1;
            if let Outcome::Explain { token_f1, concept_f1 } = outcome {
                t.l4_token_sum = token_f1;
                t.l4_concept_sum = concept_f1;
            }
        }
    }
    t
}

/// Score `predictions` against `records` (see the module docs for the definitions).
pub fn score(records: &[QaRecord], predictions: &[Prediction], opts: &ScoreOptions) -> Report {
    let weights = normalized(opts.weights);
    let by_id: HashMap<&str, &Prediction> = predictions.iter().map(|p| (p.id.as_str(), p)).collect();
    let known: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let unknown_ids: Vec<String> =
        predictions.iter().filter(|p| !known.contains(p.id.as_str())).map(|p| p.id.clone()).collect();

    // group name -> scene -> tally; "overall" is kept apart so a scenario of that name cannot merge.
    let mut overall: BTreeMap<&str, Scene> = BTreeMap::new();
    let mut scenarios: BTreeMap<&str, BTreeMap<&str, Scene>> = BTreeMap::new();
    let mut snr_bins: BTreeMap<&str, BTreeMap<&str, Scene>> = BTreeMap::new();
    // The radio tasks with a question: every group reports these.
    let mut present = [false; TASKS.len()];
    let mut missing_ids = Vec::new();
    let mut missing = 0usize;
    for r in records.iter().filter(|r| opts.split.is_none_or(|s| r.split == s)) {
        let pred = by_id.get(r.id.as_str()).copied();
        if pred.is_none() {
            missing += 1;
            if missing_ids.len() < LISTED_IDS {
                missing_ids.push(r.id.clone());
            }
        }
        let t = tally(r, pred);
        let radio = radio_outcome(r, pred);
        if let Some(o) = radio {
            present[o.task] = true;
        }
        overall.entry(r.scene.as_str()).or_default().add(&t, radio);
        scenarios.entry(r.scenario.as_str()).or_default().entry(r.scene.as_str()).or_default().add(&t, radio);
        if let Some(bin) = r.snr_bin.as_deref() {
            snr_bins.entry(bin).or_default().entry(r.scene.as_str()).or_default().add(&t, radio);
        }
    }

    let mut groups = vec![group_score("overall", &overall, &weights, opts, present)];
    for (name, scenes) in &scenarios {
        groups.push(group_score(name, scenes, &weights, opts, present));
    }
    let mut bins: Vec<(&str, BTreeMap<&str, Scene>)> = snr_bins.into_iter().collect();
    bins.sort_by(|a, b| snr_bin_order(a.0, b.0));
    for (bin, scenes) in &bins {
        groups.push(group_score(&format!("snr {bin}"), scenes, &weights, opts, present));
    }
    let verdicts: Vec<bool> = records
        .iter()
        .filter(|r| opts.split.is_none_or(|s| r.split == s))
        .filter_map(|r| by_id.get(r.id.as_str()).and_then(|p| p.out_of_domain))
        .collect();
    let flagged = verdicts.iter().filter(|&&b| b).count();
    let out_of_domain = (!verdicts.is_empty()).then(|| super::report::OutOfDomain {
        judged: verdicts.len(),
        flagged,
        rate: flagged as f64 / verdicts.len() as f64,
    });
    Report {
        groups,
        missing,
        missing_ids,
        out_of_domain,
        unknown: unknown_ids.len(),
        unknown_ids: unknown_ids.into_iter().take(LISTED_IDS).collect(),
        weights,
        split: opts.split,
        bootstrap: opts.bootstrap,
        seed: opts.seed,
    }
}

fn normalized(w: Weights) -> Weights {
    let a = w.as_array().map(|x| if x.is_finite() && x > 0.0 { x } else { 0.0 });
    let sum: f64 = a.iter().sum();
    if sum > 0.0 {
        Weights { l1: a[0] / sum, l2: a[1] / sum, l3: a[2] / sum, l4: a[3] / sum }
    } else {
        Weights::default()
    }
}

/// FNV-1a, so each group's bootstrap stream depends on its name only, not on which other groups exist.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn group_score(
    name: &str,
    scenes: &BTreeMap<&str, Scene>,
    w: &Weights,
    opts: &ScoreOptions,
    present: [bool; TASKS.len()],
) -> GroupScore {
    let scene_list: Vec<&Scene> = scenes.values().collect();
    let scene_tallies: Vec<&Tally> = scene_list.iter().map(|s| &s.spectrum).collect();
    let mut total = Tally::default();
    let mut radio_total = RadioTally::default();
    for s in &scene_list {
        total.add(&s.spectrum);
        radio_total.add_all(&s.radio);
    }
    let point = total.values(w).to_array();
    let mut radio = RadioBootstrap::new(present, opts.bootstrap);

    // Bootstrap over scenes; a resample in which a metric has no question gives no sample for it.
    let mut samples: Vec<Vec<f64>> = (0..N_VALUES).map(|_| Vec::with_capacity(opts.bootstrap)).collect();
    if !scene_list.is_empty() {
        let mut rng = Rng::derive(opts.seed, &[name_hash(name)]);
        for _ in 0..opts.bootstrap {
            let mut t = Tally::default();
            radio.start();
            for _ in 0..scene_list.len() {
                let scene = scene_list[rng.below(scene_list.len())];
                t.add(&scene.spectrum);
                radio.add(&scene.radio);
            }
            radio.finish();
            for (s, v) in samples.iter_mut().zip(t.values(w).to_array()) {
                if let Some(x) = v {
                    s.push(x);
                }
            }
        }
    }
    let mut metric = |i: usize, n: usize| -> Metric { interval_metric(point[i], n, &mut samples[i]) };
    let l2_total: usize = total.l2_n.iter().sum();
    GroupScore {
        name: name.to_string(),
        scenes: scene_tallies.len(),
        questions: LevelCounts { l1: total.l1_n, l2: l2_total, l3: total.l3_n, l4: total.l4_n },
        l1: metric(0, total.l1_n),
        l1_macro_f1: metric(1, total.l1_n),
        l1_confusion: total.confusion,
        l1_unanswered: total.l1_unanswered,
        l2: metric(2, l2_total),
        l2_by_kind: (0..3)
            .map(|k| KindMetric { kind: L2_KINDS[k].name().to_string(), metric: metric(3 + k, total.l2_n[k]) })
            .collect(),
        l3_iou: metric(6, total.l3_box_n),
        l3_none_acc: metric(7, total.l3_n),
        l3_scenes_with_region: scene_tallies.iter().filter(|t| t.l3_box_n > 0).count(),
        l4_token_f1: metric(8, total.l4_n),
        l4_concept_f1: metric(9, total.l4_n),
        composite: metric(10, total.composite_n()),
        unparsed: counts(total.unparsed),
        missing: counts(total.missing),
        radio: radio.scores(&radio_total),
    }
}

fn counts(a: [usize; 4]) -> LevelCounts {
    LevelCounts { l1: a[0], l2: a[1], l3: a[2], l4: a[3] }
}
