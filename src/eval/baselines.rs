//! Baselines that need no model: the prior (majority answers of the train split) and the rule
//! baseline, which answers from the same observed grid the models get (box smoothing, a threshold,
//! connected components) and fills the L4 template from what it measured. The rule's two parameters
//! are tuned on the val split. Runs on the calling thread (the CLI's).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::sim::SourcePart;
use crate::sim::labels::{
    REGION_AFFECTED_SHARE, explanation_text, highest_region, mitigation, region_box, region_stats, severity_class,
};
use crate::types::{NO_REGION, Prediction, QaRecord, QuestionKind, Split, box_answer};

use super::answer::{SceneEstimate, answer};
use super::{ScoreOptions, score};

/// The rule baseline's parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RuleParams {
    /// A pixel of the smoothed observed map counts as affected above this I/N (dB).
    pub threshold_db: f32,
    /// Box-filter radius in pixels of a 128-pixel grid (scaled with the grid).
    pub smooth_px: usize,
}

impl Default for RuleParams {
    fn default() -> Self {
        RuleParams { threshold_db: -6.0, smooth_px: 0 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read the observed grid of scene {scene}: {message}: {path}")]
    Grid { scene: String, path: PathBuf, message: String },
    #[error("the manifest has no {0} questions to tune or fit on")]
    NoSplit(&'static str),
}

/// Observed grids by scene id, loaded once.
pub struct Grids {
    grids: BTreeMap<String, (usize, Vec<f32>)>,
}

impl Grids {
    /// Load the observed grid of every scene the records mention (paths relative to `dataset`).
    pub fn load(dataset: &Path, records: &[QaRecord]) -> Result<Grids, BaselineError> {
        let mut grids = BTreeMap::new();
        for r in records {
            if grids.contains_key(&r.scene) {
                continue;
            }
            let path = dataset.join(&r.images.observed);
            let err = |message: String| BaselineError::Grid { scene: r.scene.clone(), path: path.clone(), message };
            let raster = crate::io::load(&path, &crate::io::LoadOptions::default()).map_err(|e| err(e.to_string()))?;
            if raster.width != raster.height || raster.bands.len() != 1 {
                return Err(err(format!(
                    "expected one square band, found {} x {} with {} bands",
                    raster.width,
                    raster.height,
                    raster.bands.len()
                )));
            }
            let n = raster.width;
            let band = raster.bands.into_iter().next().unwrap_or_default();
            grids.insert(r.scene.clone(), (n, band));
        }
        Ok(Grids { grids })
    }

    /// The observed grid of `scene` (side, values in dB).
    pub fn get(&self, scene: &str) -> Option<(usize, &[f32])> {
        self.grids.get(scene).map(|(n, g)| (*n, g.as_slice()))
    }
}

/// What the rule measures on one observed grid.
struct RuleScene {
    share: f64,
    region_share: [f64; 5],
    region_p95: [f64; 5],
    bbox: Option<[f32; 4]>,
    max_db: f32,
    largest_share: f64,
}

fn box_smooth(grid: &[f32], n: usize, radius: usize) -> Vec<f32> {
    if radius == 0 {
        return grid.to_vec();
    }
    let mut tmp = vec![0f32; n * n];
    let mut out = vec![0f32; n * n];
    box_pass(grid, &mut tmp, n, radius as isize, true);
    box_pass(&tmp, &mut out, n, radius as isize, false);
    out
}

/// Mean over a window of 2r + 1 pixels along one axis (shorter at the edges).
fn box_pass(src: &[f32], dst: &mut [f32], n: usize, r: isize, horizontal: bool) {
    for row in 0..n {
        for col in 0..n {
            let (mut acc, mut count) = (0f32, 0f32);
            for o in -r..=r {
                let (rr, cc) =
                    if horizontal { (row as isize, col as isize + o) } else { (row as isize + o, col as isize) };
                if rr < 0 || cc < 0 || rr >= n as isize || cc >= n as isize {
                    continue;
                }
                acc += src[rr as usize * n + cc as usize];
                count += 1.0;
            }
            dst[row * n + col] = acc / count;
        }
    }
}

fn analyse(grid: &[f32], n: usize, p: &RuleParams) -> RuleScene {
    let radius = (p.smooth_px * n).div_ceil(128);
    let g = box_smooth(grid, n, radius);
    let mask: Vec<bool> = g.iter().map(|&v| v > p.threshold_db).collect();
    let share = mask.iter().filter(|&&m| m).count() as f64 / (n * n) as f64;
    let (region_share, region_p95) = region_stats(&g, n, p.threshold_db);
    let bbox = region_box(&mask, n);
    let largest_share = bbox.map_or(0.0, |b| f64::from((b[2] - b[0]) * (b[3] - b[1])));
    RuleScene {
        share,
        region_share,
        region_p95,
        bbox,
        max_db: g.iter().copied().fold(f32::MIN, f32::max),
        largest_share,
    }
}

/// The rule's L4 answer: guess the source from the map's shape, then the template.
fn rule_explanation(scenario: &str, s: &RuleScene) -> String {
    let word = if scenario.starts_with("haps") { "haps" } else { "satellite" };
    let severity = severity_class(s.share);
    let (source, evidence, part) = if s.largest_share > 0.25 {
        (format!("{word} main beam"), "wide smooth footprint", SourcePart::MainLobe)
    } else if s.max_db < 0.0 && s.share > 0.02 {
        (format!("{word} side lobe"), "weak widespread floor", SourcePart::SideLobe)
    } else {
        ("terrestrial co-channel cell".to_string(), "localized hotspots", SourcePart::Terrestrial)
    };
    explanation_text(&source, evidence, severity, highest_region(&s.region_p95), mitigation(part, severity))
}

impl RuleScene {
    fn estimate(&self, scenario: &str) -> SceneEstimate {
        SceneEstimate {
            severity: severity_class(self.share),
            severity_confidence: None,
            region_affected: self.region_share.map(|s| s >= REGION_AFFECTED_SHARE),
            region_confidence: None,
            region_p95_db: self.region_p95,
            bbox: self.bbox,
            box_confidence: None,
            explanation: Some(rule_explanation(scenario, self)),
        }
    }
}

/// What the rule reads from one observed grid (side `n`, dB) of a scene of `scenario`.
pub fn rule_estimate(grid: &[f32], n: usize, scenario: &str, p: &RuleParams) -> SceneEstimate {
    analyse(grid, n, p).estimate(scenario)
}

/// Rule-baseline predictions for `records` with parameters `p`.
pub fn rule_predictions(records: &[QaRecord], grids: &Grids, p: &RuleParams) -> Vec<Prediction> {
    let mut cache: BTreeMap<&str, RuleScene> = BTreeMap::new();
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let Some((n, g)) = grids.grids.get(&r.scene) else { continue };
        let s = cache.entry(&r.scene).or_insert_with(|| analyse(g, *n, p));
        out.extend(answer(r, &s.estimate(&r.scenario)));
    }
    out
}

/// Tune the rule on the val split: the threshold (-10 to -2 dB) and smoothing (0-3 px) that give the
/// best mean of L1 accuracy and L3 IoU. Returns the parameters and that val score.
pub fn tune_rule(records: &[QaRecord], grids: &Grids) -> Result<(RuleParams, f64), BaselineError> {
    let val: Vec<QaRecord> = records
        .iter()
        .filter(|r| r.split == Split::Val && matches!(r.kind, QuestionKind::Severity | QuestionKind::Localize))
        .cloned()
        .collect();
    if val.is_empty() {
        return Err(BaselineError::NoSplit("val"));
    }
    let opts = ScoreOptions { bootstrap: 0, ..ScoreOptions::default() };
    let mut best = (RuleParams::default(), f64::MIN);
    for smooth_px in 0..=3 {
        for t in -10..=-2 {
            let p = RuleParams { threshold_db: t as f32, smooth_px };
            let report = score(&val, &rule_predictions(&val, grids, &p), &opts);
            let Some(o) = report.overall() else { continue };
            let objective = (o.l1.value + o.l3_iou.value) / 2.0;
            if objective > best.1 + 1e-12 {
                best = (p, objective);
            }
        }
    }
    Ok(best)
}

/// The prior baseline: for each question kind, the answer most frequent in the train split (L3: the
/// mean train box, or `none` if most train scenes have none; L4: the most frequent reference text).
pub fn prior_predictions(records: &[QaRecord]) -> Result<Vec<Prediction>, BaselineError> {
    let train: Vec<&QaRecord> = records.iter().filter(|r| r.split == Split::Train).collect();
    if train.is_empty() {
        return Err(BaselineError::NoSplit("train"));
    }
    let mut counts: BTreeMap<(QuestionKind, &str), usize> = BTreeMap::new();
    let (mut boxes, mut nones) = (Vec::new(), 0usize);
    for r in &train {
        *counts.entry((r.kind, r.answer.as_str())).or_default() += 1;
        if r.kind == QuestionKind::Localize {
            match r.bbox {
                Some(b) => boxes.push(b),
                None => nones += 1,
            }
        }
    }
    let majority = |kind: QuestionKind| {
        counts
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .max_by_key(|(_, c)| **c)
            .map(|((_, a), _)| a.to_string())
            .unwrap_or_default()
    };
    let mean_box = if boxes.len() > nones {
        let n = boxes.len() as f32;
        let mut m = [0f32; 4];
        for b in &boxes {
            for (mi, bi) in m.iter_mut().zip(b) {
                *mi += bi / n;
            }
        }
        box_answer(m)
    } else {
        NO_REGION.to_string()
    };
    Ok(records
        .iter()
        .map(|r| {
            let answer = match r.kind {
                QuestionKind::Localize => mean_box.clone(),
                // The more often worse of the two offered regions, by train frequency.
                QuestionKind::WhichWorse => r
                    .choices
                    .iter()
                    .max_by_key(|c| counts.get(&(QuestionKind::WhichWorse, c.as_str())).copied().unwrap_or(0))
                    .cloned()
                    .unwrap_or_default(),
                kind => majority(kind),
            };
            Prediction { id: r.id.clone(), answer, bbox: None, confidence: None, out_of_domain: None }
        })
        .collect())
}
