//! SpectrumQA-sim and RadioQA-sim question records, predictions and the controlled vocabularies both
//! the generators (`sim`, `sim::radio`) and the scorer (`eval`) speak. Plain serde data; any thread.
//!
//! One manifest line is one [`QaRecord`]; one predictions line is one [`Prediction`]. SpectrumQA
//! answers are canonical lowercase strings: an L1 class name, `yes`/`no` or a region name for L2, a
//! box `[x0, y0, x1, y1]` (normalized, x to the right, y down) or `none` for L3, free text for L4.
//! RadioQA answers are radio-llava's bare upper-case labels ([`MORPHOLOGY_CLASSES`] and the other
//! radio vocabularies), read from a model's text by [`radio_answer`].

use serde::{Deserialize, Serialize};

/// Question level, from scene classification (L1) to semantic reasoning (L4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    L1,
    L2,
    L3,
    L4,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::L1, Level::L2, Level::L3, Level::L4];

    pub fn name(self) -> &'static str {
        match self {
            Level::L1 => "L1",
            Level::L2 => "L2",
            Level::L3 => "L3",
            Level::L4 => "L4",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// Dataset split; assigned per scenario so every scenario has all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Split> {
        Split::ALL.into_iter().find(|x| x.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// What a question asks; each kind has its own paraphrase set and answer form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// L1: one of [`SEVERITY_CLASSES`].
    Severity,
    /// L2: `yes` / `no`.
    RegionAffected,
    /// L2: one of the two regions named in `choices`.
    WhichWorse,
    /// L2: one of [`REGIONS`].
    WorstRegion,
    /// L3: a box or `none`.
    Localize,
    /// L4: free text naming source, evidence and mitigation.
    Explain,
    /// RadioQA-sim, L1: one of [`MORPHOLOGY_CLASSES`] (islands and flux peaks).
    Morphology,
    /// RadioQA-sim, L1: one of [`EXTENDED_CLASSES`].
    Extended,
    /// RadioQA-sim, L1: one of [`FR_CLASSES`] (scenes with a radio galaxy only).
    Fr,
    /// RadioQA-sim, L1: [`YES_NO`], "is an extended radio galaxy present".
    Galaxy,
    /// RadioQA-sim, L1: [`YES_NO`], "are there ring artefacts around a bright source".
    Artefact,
    /// RadioQA-sim, L1: one of [`ANOMALY_CLASSES`].
    Anomaly,
}

impl QuestionKind {
    /// The SpectrumQA-sim kinds (the router, the CNN and the spectrum report speak these).
    pub const ALL: [QuestionKind; 6] = [
        QuestionKind::Severity,
        QuestionKind::RegionAffected,
        QuestionKind::WhichWorse,
        QuestionKind::WorstRegion,
        QuestionKind::Localize,
        QuestionKind::Explain,
    ];

    /// The RadioQA-sim kinds: classification tasks in radio-llava's formats, all L1.
    pub const RADIO: [QuestionKind; 6] = [
        QuestionKind::Morphology,
        QuestionKind::Extended,
        QuestionKind::Fr,
        QuestionKind::Galaxy,
        QuestionKind::Artefact,
        QuestionKind::Anomaly,
    ];

    pub fn level(self) -> Level {
        match self {
            QuestionKind::Severity
            | QuestionKind::Morphology
            | QuestionKind::Extended
            | QuestionKind::Fr
            | QuestionKind::Galaxy
            | QuestionKind::Artefact
            | QuestionKind::Anomaly => Level::L1,
            QuestionKind::RegionAffected | QuestionKind::WhichWorse | QuestionKind::WorstRegion => Level::L2,
            QuestionKind::Localize => Level::L3,
            QuestionKind::Explain => Level::L4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            QuestionKind::Severity => "severity",
            QuestionKind::RegionAffected => "region_affected",
            QuestionKind::WhichWorse => "which_worse",
            QuestionKind::WorstRegion => "worst_region",
            QuestionKind::Localize => "localize",
            QuestionKind::Explain => "explain",
            QuestionKind::Morphology => "morphology",
            QuestionKind::Extended => "extended",
            QuestionKind::Fr => "fr",
            QuestionKind::Galaxy => "galaxy",
            QuestionKind::Artefact => "artefact",
            QuestionKind::Anomaly => "anomaly",
        }
    }

    /// Whether this is a RadioQA-sim kind ([`QuestionKind::RADIO`]).
    pub fn is_radio(self) -> bool {
        !self.radio_classes().is_empty()
    }

    /// A RadioQA-sim kind's labels, in their documented order; empty for the SpectrumQA kinds.
    pub fn radio_classes(self) -> &'static [&'static str] {
        match self {
            QuestionKind::Morphology => &MORPHOLOGY_CLASSES,
            QuestionKind::Extended => &EXTENDED_CLASSES,
            QuestionKind::Fr => &FR_CLASSES,
            QuestionKind::Galaxy | QuestionKind::Artefact => &YES_NO,
            QuestionKind::Anomaly => &ANOMALY_CLASSES,
            QuestionKind::Severity
            | QuestionKind::RegionAffected
            | QuestionKind::WhichWorse
            | QuestionKind::WorstRegion
            | QuestionKind::Localize
            | QuestionKind::Explain => &[],
        }
    }

    /// Any kind, SpectrumQA or RadioQA, by its name (case-insensitive, surrounding spaces ignored).
    pub fn parse(name: &str) -> Option<QuestionKind> {
        QuestionKind::ALL.into_iter().chain(QuestionKind::RADIO).find(|k| k.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// RadioQA-sim source morphology: `nC-mP` = n islands (connected emission above 3 sigma) holding m
/// flux peaks in all. The exact definitions are in docs/radioqa-sim.md.
pub const MORPHOLOGY_CLASSES: [&str; 6] = ["1C-1P", "1C-2P", "1C-3P", "2C-2P", "2C-3P", "3C-3P"];

/// RadioQA-sim extended-source classes.
pub const EXTENDED_CLASSES: [&str; 4] = ["COMPACT", "EXTENDED", "DIFFUSE", "DIFFUSE-LARGE"];

/// Fanaroff-Riley classes of a radio galaxy.
pub const FR_CLASSES: [&str; 2] = ["FR-I", "FR-II"];

/// The two answers of RadioQA-sim's yes/no tasks.
pub const YES_NO: [&str; 2] = ["YES", "NO"];

/// RadioQA-sim anomaly classes.
pub const ANOMALY_CLASSES: [&str; 3] = ["ORDINARY", "COMPLEX", "PECULIAR"];

/// A model's answer to a RadioQA-sim question read as radio-llava reads it: upper-cased, the
/// characters `,` `!` `.` `;` removed and surrounding whitespace trimmed; the label when that is one
/// of `kind`'s labels, else `None` (no answer). `None` also for SpectrumQA kinds.
pub fn radio_answer(kind: QuestionKind, text: &str) -> Option<String> {
    let cleaned: String = text.to_uppercase().chars().filter(|c| !matches!(c, ',' | '!' | '.' | ';')).collect();
    let label = cleaned.trim();
    kind.radio_classes().iter().find(|&&c| c == label).map(|c| (*c).to_string())
}

/// L1 classes, in order of increasing affected share.
pub const SEVERITY_CLASSES: [&str; 4] = ["low", "moderate", "high", "severe"];

/// L2 regions: four quadrants and the centre square (the middle half in each axis).
pub const REGIONS: [&str; 5] = ["top-left", "top-right", "bottom-left", "bottom-right", "centre"];

/// The answer text of an L3 question whose scene has no affected region.
pub const NO_REGION: &str = "none";

/// Controlled vocabulary for L4: what can be the dominant source, what evidence shows it and what
/// mitigates it. Concept labels are `category:term`; [`concepts_in`] finds them in free text.
pub const SOURCES: [&str; 5] =
    ["satellite main beam", "satellite side lobe", "haps main beam", "haps side lobe", "terrestrial co-channel cell"];
pub const EVIDENCE: [&str; 5] =
    ["wide smooth footprint", "beam edge gradient", "weak widespread floor", "localized hotspots", "coastal spillover"];
pub const MITIGATIONS: [&str; 6] = [
    "beam steering",
    "power control",
    "exclusion zone",
    "channel reassignment",
    "antenna downtilt",
    "sidelobe suppression",
];

/// Relative paths (from the dataset folder) of one scene's files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenePaths {
    /// Observed I/N grid (dB, f32 .npy): what models see.
    pub observed: String,
    /// True I/N grid (dB, f32 .npy): where the labels come from.
    pub truth: String,
    /// The observed grid, colormapped: what a VLM sees.
    pub png: String,
    /// Scene metadata JSON (scenario parameters, interferers, label statistics).
    pub meta: String,
}

/// One manifest line: one question about one scene, with its reference answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QaRecord {
    pub id: String,
    pub scene: String,
    pub scenario: String,
    pub split: Split,
    pub level: Level,
    pub kind: QuestionKind,
    pub question: String,
    pub answer: String,
    /// The options offered (L1 classes, two regions, the five regions), empty for open questions.
    #[serde(default)]
    pub choices: Vec<String>,
    /// L3 reference box, normalized [x0, y0, x1, y1]; absent when the answer is `none` or not L3.
    #[serde(rename = "box", default)]
    pub bbox: Option<[f32; 4]>,
    /// L4 concept labels contained in the reference answer.
    #[serde(default)]
    pub concepts: Vec<String>,
    /// Ids of three in-context examples for this question: same kind, other scenes, train split.
    #[serde(default)]
    pub examples: Vec<String>,
    pub images: ScenePaths,
    /// RadioQA-sim: the scene's peak-significance bin (e.g. `5-10`, `>100`), an extra group of the
    /// report; absent in SpectrumQA-sim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snr_bin: Option<String>,
}

/// One predictions line, from any model or baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub id: String,
    pub answer: String,
    /// For L3: the predicted box; when absent the box is parsed from `answer`.
    #[serde(rename = "box", default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f32; 4]>,
    /// The model's confidence in its answer (0-1), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Whether the model judged the input out of its domain (models with a domain check only); the
    /// answer is scored either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_domain: Option<bool>,
}

/// Every concept label (`source:...`, `evidence:...`, `mitigation:...`) whose term occurs in `text`
/// (case-insensitive, hyphens and underscores read as spaces), in vocabulary order.
pub fn concepts_in(text: &str) -> Vec<String> {
    let norm = format!(" {} ", normalize_words(text));
    let mut out = Vec::new();
    for (category, terms) in [("source", &SOURCES[..]), ("evidence", &EVIDENCE[..]), ("mitigation", &MITIGATIONS[..])] {
        for term in terms {
            if norm.contains(&format!(" {} ", normalize_words(term))) {
                out.push(format!("{category}:{term}"));
            }
        }
    }
    out
}

/// Lowercase words separated by single spaces; hyphens, underscores and punctuation separate words.
fn normalize_words(text: &str) -> String {
    let spaced: String = text.to_lowercase().chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical text of an L3 box answer: four numbers with three decimals.
pub fn box_answer(b: [f32; 4]) -> String {
    format!("[{:.3}, {:.3}, {:.3}, {:.3}]", b[0], b[1], b[2], b[3])
}

/// Parse an L3 answer: `none` (any case) -> `Ok(None)`; four numbers in [0, 1] with x0 <= x1 and
/// y0 <= y1, in brackets or not, separated by commas or spaces -> the box.
pub fn parse_box_answer(text: &str) -> Result<Option<[f32; 4]>, String> {
    let t = text.trim().trim_end_matches('.').trim();
    if t.eq_ignore_ascii_case(NO_REGION) {
        return Ok(None);
    }
    let inner = t.trim_start_matches(['[', '(']).trim_end_matches([']', ')']);
    let nums: Vec<&str> = inner.split([',', ' ', ';']).filter(|s| !s.is_empty()).collect();
    if nums.len() != 4 {
        return Err(format!("expected `none` or four numbers [x0, y0, x1, y1], got {text:?}"));
    }
    let mut b = [0f32; 4];
    for (slot, s) in b.iter_mut().zip(&nums) {
        let v: f32 = s.parse().map_err(|_| format!("{s:?} is not a number in box {text:?}"))?;
        if !v.is_finite() || !(0.0..=1.0).contains(&v) {
            return Err(format!("box coordinate {v} is outside [0, 1] in {text:?}"));
        }
        *slot = v;
    }
    if b[0] > b[2] || b[1] > b[3] {
        return Err(format!("box {text:?} has x0 > x1 or y0 > y1"));
    }
    Ok(Some(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concepts_are_found_on_word_boundaries() {
        let c = concepts_in("The Satellite main-beam dominates; apply power control, not beam steering.");
        assert_eq!(c, ["source:satellite main beam", "mitigation:beam steering", "mitigation:power control"]);
        assert!(concepts_in("superpower controls").is_empty());
        assert_eq!(concepts_in("a Terrestrial co-channel cell."), ["source:terrestrial co-channel cell"]);
    }

    #[test]
    fn box_answers_round_trip_and_reject_nonsense() {
        let b = [0.1, 0.25, 0.5, 0.75];
        assert_eq!(parse_box_answer(&box_answer(b)), Ok(Some(b)));
        assert_eq!(parse_box_answer(" None. "), Ok(None));
        assert_eq!(parse_box_answer("0.1 0.2 0.3 0.4"), Ok(Some([0.1, 0.2, 0.3, 0.4])));
        assert!(parse_box_answer("[0.5, 0.2, 0.3, 0.4]").is_err());
        assert!(parse_box_answer("[0.1, 0.2, 1.3]").is_err());
        assert!(parse_box_answer("[0.1, 0.2, nan, 0.4]").is_err());
    }

    #[test]
    fn radio_answers_are_read_as_radio_llava_reads_them() {
        assert_eq!(radio_answer(QuestionKind::Fr, " fr-ii. "), Some("FR-II".into()));
        assert_eq!(radio_answer(QuestionKind::Morphology, "1c-3p!"), Some("1C-3P".into()));
        assert_eq!(radio_answer(QuestionKind::Galaxy, "Yes;"), Some("YES".into()));
        assert_eq!(radio_answer(QuestionKind::Extended, "diffuse-large,"), Some("DIFFUSE-LARGE".into()));
        // An unknown label, a label of another task, a sentence: no answer.
        assert_eq!(radio_answer(QuestionKind::Anomaly, "WEIRD"), None);
        assert_eq!(radio_answer(QuestionKind::Fr, "YES"), None);
        assert_eq!(radio_answer(QuestionKind::Galaxy, "Yes, there is one"), None);
        assert_eq!(radio_answer(QuestionKind::Severity, "low"), None);
        for kind in QuestionKind::RADIO {
            assert!(kind.is_radio() && kind.level() == Level::L1);
            assert_eq!(QuestionKind::parse(&kind.name().to_uppercase()), Some(kind));
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.name());
            for c in kind.radio_classes() {
                assert_eq!(radio_answer(kind, &c.to_lowercase()).as_deref(), Some(*c));
            }
        }
        assert!(QuestionKind::ALL.iter().all(|k| !k.is_radio()));
    }

    #[test]
    fn records_use_the_documented_field_names() {
        let r = QaRecord {
            id: "q".into(),
            scene: "s".into(),
            scenario: "leo-urban".into(),
            split: Split::Val,
            level: Level::L3,
            kind: QuestionKind::Localize,
            question: "where?".into(),
            answer: box_answer([0.0, 0.0, 1.0, 1.0]),
            choices: vec![],
            bbox: Some([0.0, 0.0, 1.0, 1.0]),
            concepts: vec![],
            examples: vec!["e1".into()],
            images: ScenePaths { observed: "a".into(), truth: "b".into(), png: "c".into(), meta: "d".into() },
            snr_bin: None,
        };
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["box"], serde_json::json!([0.0, 0.0, 1.0, 1.0]));
        assert_eq!(j["split"], "val");
        assert_eq!(j["level"], "L3");
        assert_eq!(j["kind"], "localize");
        assert_eq!(serde_json::from_value::<QaRecord>(j).unwrap(), r);
    }
}
