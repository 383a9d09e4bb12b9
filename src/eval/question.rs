//! One question scored against one answer, as the report counts it: [`outcome`] says what happened
//! (no answer, an answer naming no option, the class or box or text given), [`score_question`] turns
//! it into the level's own number with a verdict. The scorer sums outcomes into its tallies, a run
//! records each answer's score, and the chat panel shows the verdict, so all three agree. Pure
//! functions; any thread.

use super::metrics::{iou, match_option, set_f1, token_f1};
use crate::types::{
    NO_REGION, Prediction, QaRecord, QuestionKind, REGIONS, SEVERITY_CLASSES, concepts_in, parse_box_answer,
    radio_answer,
};

/// An L3 IoU and an L4 concept F1 at or above this count as right in a verdict.
pub const RIGHT_AT: f64 = 0.5;

/// What one answer did on its question.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// No answer.
    Missing,
    /// An answer that names no option the question offers, or no readable box.
    Unparsed,
    /// L1: the true class (`None` when the reference is no class) and the class answered.
    Severity { truth: Option<usize>, guess: usize },
    /// L2: whether the option named is the reference's.
    Choice { correct: bool },
    /// L3: the reference box and the box answered (`None`: no region).
    Region { truth: Option<[f32; 4]>, guess: Option<[f32; 4]> },
    /// L4: token F1 and concept F1 against the reference.
    Explain { token_f1: f64, concept_f1: f64 },
}

/// The options of a closed question, as the scorer matches answers against them.
pub fn options(r: &QaRecord) -> Vec<&str> {
    match r.kind {
        QuestionKind::Severity => SEVERITY_CLASSES.to_vec(),
        QuestionKind::RegionAffected => vec!["yes", "no"],
        QuestionKind::WhichWorse => r.choices.iter().map(String::as_str).collect(),
        QuestionKind::WorstRegion => REGIONS.to_vec(),
        QuestionKind::Localize | QuestionKind::Explain => Vec::new(),
        QuestionKind::Morphology
        | QuestionKind::Extended
        | QuestionKind::Fr
        | QuestionKind::Galaxy
        | QuestionKind::Artefact
        | QuestionKind::Anomaly => r.kind.radio_classes().to_vec(),
    }
}

/// What `pred` did on `r`.
pub fn outcome(r: &QaRecord, pred: Option<&Prediction>) -> Outcome {
    let Some(p) = pred else { return Outcome::Missing };
    match r.kind {
        QuestionKind::Severity => match match_option(&p.answer, &SEVERITY_CLASSES) {
            Some(guess) => Outcome::Severity { truth: match_option(&r.answer, &SEVERITY_CLASSES), guess },
            None => Outcome::Unparsed,
        },
        QuestionKind::RegionAffected | QuestionKind::WhichWorse | QuestionKind::WorstRegion => {
            let options = options(r);
            match match_option(&p.answer, &options) {
                Some(guess) => Outcome::Choice { correct: match_option(&r.answer, &options) == Some(guess) },
                None => Outcome::Unparsed,
            }
        }
        QuestionKind::Localize => match predicted_box(p) {
            Ok(guess) => Outcome::Region { truth: r.bbox, guess },
            Err(()) => Outcome::Unparsed,
        },
        QuestionKind::Explain => Outcome::Explain {
            token_f1: token_f1(&p.answer, &r.answer),
            concept_f1: set_f1(&concepts_in(&p.answer), &r.concepts),
        },
        // RadioQA-sim: the bare label as radio-llava reads it; anything else names no option.
        QuestionKind::Morphology
        | QuestionKind::Extended
        | QuestionKind::Fr
        | QuestionKind::Galaxy
        | QuestionKind::Artefact
        | QuestionKind::Anomaly => match radio_answer(r.kind, &p.answer) {
            Some(label) => Outcome::Choice { correct: label == r.answer },
            None => Outcome::Unparsed,
        },
    }
}

/// A prediction's L3 answer: its `box` field when given, else the answer text. The text may be a
/// bare box or `none`, or a sentence holding exactly one bracketed box, or a sentence whose only
/// option-like word is `none`. Anything else (or a box outside [0, 1] or inverted) is unparseable.
fn predicted_box(p: &Prediction) -> Result<Option<[f32; 4]>, ()> {
    if let Some(b) = p.bbox {
        let valid = b.iter().all(|v| (0.0..=1.0).contains(v)) && b[0] <= b[2] && b[1] <= b[3];
        return if valid { Ok(Some(b)) } else { Err(()) };
    }
    if let Ok(b) = parse_box_answer(&p.answer) {
        return Ok(b);
    }
    let text = p.answer.as_str();
    let opens: Vec<usize> = text.match_indices('[').map(|(i, _)| i).collect();
    let closes: Vec<usize> = text.match_indices(']').map(|(i, _)| i).collect();
    match (opens.as_slice(), closes.as_slice()) {
        ([o], [c]) if o < c => match parse_box_answer(&text[*o..=*c]) {
            Ok(Some(b)) => Ok(Some(b)),
            _ => Err(()),
        },
        ([], []) => match match_option(text, &[NO_REGION]) {
            Some(_) => Ok(None),
            None => Err(()),
        },
        _ => Err(()),
    }
}

/// One question's score: the level's number for it (L1 and L2: 1 or 0; L3: the IoU where the scene
/// has a region, else 1 for answering "none"; L4: token F1), whether it counts as right, whether the
/// answer was read at all, and a short verdict for people.
#[derive(Clone, Debug, PartialEq)]
pub struct QuestionScore {
    pub score: f64,
    pub correct: bool,
    pub parsed: bool,
    pub verdict: String,
}

/// [`outcome`] as a [`QuestionScore`].
pub fn score_question(r: &QaRecord, pred: Option<&Prediction>) -> QuestionScore {
    score_outcome(r, outcome(r, pred))
}

/// [`score_question`] from the answer's [`outcome`], for callers that need the outcome too.
pub fn score_outcome(r: &QaRecord, outcome: Outcome) -> QuestionScore {
    let make = |score: f64, correct: bool, verdict: String| QuestionScore { score, correct, parsed: true, verdict };
    match outcome {
        Outcome::Missing => QuestionScore { score: 0.0, correct: false, parsed: false, verdict: "no answer".into() },
        Outcome::Unparsed => {
            let what = if r.kind == QuestionKind::Localize { "no box or none" } else { "no option" };
            QuestionScore { score: 0.0, correct: false, parsed: false, verdict: format!("unparsed ({what} named)") }
        }
        Outcome::Severity { truth, guess } if truth == Some(guess) => make(1.0, true, "correct".into()),
        Outcome::Severity { .. } | Outcome::Choice { correct: false } => make(0.0, false, "wrong".into()),
        Outcome::Choice { correct: true } => make(1.0, true, "correct".into()),
        Outcome::Region { truth: Some(t), guess: Some(g) } => {
            let v = iou(t, g);
            make(v, v >= RIGHT_AT, format!("IoU {v:.2}"))
        }
        Outcome::Region { truth: None, guess: None } => make(1.0, true, "correctly none".into()),
        Outcome::Region { .. } => make(0.0, false, "wrong about whether a region exists".into()),
        Outcome::Explain { token_f1, concept_f1 } => {
            make(token_f1, concept_f1 >= RIGHT_AT, format!("token F1 {token_f1:.2}, concept F1 {concept_f1:.2}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Level, ScenePaths, Split};

    fn record(kind: QuestionKind, answer: &str, choices: &[&str], bbox: Option<[f32; 4]>) -> QaRecord {
        QaRecord {
            id: "q".into(),
            scene: "s".into(),
            scenario: "leo-urban".into(),
            split: Split::Test,
            level: kind.level(),
            kind,
            question: "?".into(),
            answer: answer.into(),
            choices: choices.iter().map(|c| (*c).to_string()).collect(),
            bbox,
            concepts: vec!["source:satellite main beam".into()],
            examples: Vec::new(),
            images: ScenePaths::default(),
            snr_bin: None,
        }
    }

    fn said(text: &str) -> Prediction {
        Prediction { id: "q".into(), answer: text.into(), bbox: None, confidence: None, out_of_domain: None }
    }

    #[test]
    fn each_level_scores_on_its_own_metric() {
        let l1 = record(QuestionKind::Severity, "high", &[], None);
        assert_eq!(l1.level, Level::L1);
        let s = score_question(&l1, Some(&said("High.")));
        assert!(s.correct && s.parsed && s.score == 1.0, "{s:?}");
        assert_eq!(score_question(&l1, Some(&said("low"))).verdict, "wrong");
        let s = score_question(&l1, Some(&said("it is bad")));
        assert!(!s.parsed && s.verdict.contains("unparsed"), "{s:?}");
        assert_eq!(score_question(&l1, None).verdict, "no answer");

        let l2 = record(QuestionKind::WhichWorse, "top-left", &["top-left", "centre"], None);
        assert!(score_question(&l2, Some(&said("The top-left one"))).correct);
        assert!(!score_question(&l2, Some(&said("bottom-right"))).parsed, "not an offered option");

        let l3 = record(QuestionKind::Localize, "[0.1, 0.1, 0.5, 0.5]", &[], Some([0.1, 0.1, 0.5, 0.5]));
        let s = score_question(&l3, Some(&said("The box is [0.1, 0.1, 0.5, 0.3].")));
        assert!((s.score - 0.5).abs() < 1e-6 && s.correct && s.verdict == "IoU 0.50", "{s:?}");
        let none = record(QuestionKind::Localize, "none", &[], None);
        assert!(score_question(&none, Some(&said("none"))).correct);
        assert!(!score_question(&none, Some(&said("[0, 0, 1, 1]"))).correct);

        let l4 = record(QuestionKind::Explain, "satellite main beam; use beam steering", &[], None);
        let s = score_question(&l4, Some(&said("the satellite main beam")));
        assert!(s.score > 0.0 && s.correct && s.verdict.starts_with("token F1"), "{s:?}");
    }
}
