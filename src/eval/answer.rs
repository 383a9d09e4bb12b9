//! Turning what a model measured about one scene into answers to its SpectrumQA questions, shared by
//! the rule baseline and the CNN so both answer a question the same way. Pure; any thread.

use crate::sim::labels::highest_region;
use crate::types::{NO_REGION, Prediction, QaRecord, QuestionKind, REGIONS, SEVERITY_CLASSES, box_answer};

/// A model's reading of one scene.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneEstimate {
    /// L1 class index into [`SEVERITY_CLASSES`].
    pub severity: usize,
    /// Confidence in `severity` (0-1), when the model has one.
    pub severity_confidence: Option<f32>,
    /// L2: is each of [`REGIONS`] affected.
    pub region_affected: [bool; 5],
    /// The model's probability that each of those answers is right, when it has one.
    pub region_confidence: Option<[f32; 5]>,
    /// L2: 95th-percentile I/N per region (dB), for "which is worse" and "worst region".
    pub region_p95_db: [f64; 5],
    /// L3 box, `None` for "no region".
    pub bbox: Option<[f32; 4]>,
    /// Confidence that there is a region, when the model has one.
    pub box_confidence: Option<f32>,
    /// L4 text, when the model writes one.
    pub explanation: Option<String>,
}

/// The answer to `r` from `e`, or `None` for a question the model does not answer (L4 without text).
pub fn answer(r: &QaRecord, e: &SceneEstimate) -> Option<Prediction> {
    let region = |name: &str| REGIONS.iter().position(|&x| x == name);
    let mut confidence = None;
    let text = match r.kind {
        QuestionKind::Severity => {
            confidence = e.severity_confidence;
            SEVERITY_CLASSES[e.severity.min(SEVERITY_CLASSES.len() - 1)].to_string()
        }
        QuestionKind::RegionAffected => {
            let k = REGIONS.iter().position(|x| r.question.contains(&format!(" {x} "))).unwrap_or(4);
            confidence = e.region_confidence.map(|c| c[k]);
            if e.region_affected[k] { "yes" } else { "no" }.to_string()
        }
        QuestionKind::WhichWorse => {
            let a = r.choices.first().and_then(|c| region(c)).unwrap_or(0);
            let b = r.choices.get(1).and_then(|c| region(c)).unwrap_or(1);
            REGIONS[if e.region_p95_db[a] >= e.region_p95_db[b] { a } else { b }].to_string()
        }
        QuestionKind::WorstRegion => REGIONS[highest_region(&e.region_p95_db)].to_string(),
        QuestionKind::Localize => {
            confidence = e.box_confidence;
            e.bbox.map_or_else(|| NO_REGION.to_string(), box_answer)
        }
        QuestionKind::Explain => e.explanation.clone()?,
        // RadioQA-sim kinds: a spectrum map's reading says nothing about them.
        QuestionKind::Morphology
        | QuestionKind::Extended
        | QuestionKind::Fr
        | QuestionKind::Galaxy
        | QuestionKind::Artefact
        | QuestionKind::Anomaly => return None,
    };
    Some(Prediction { id: r.id.clone(), answer: text, bbox: None, confidence, out_of_domain: None })
}
