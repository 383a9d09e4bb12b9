//! Question templates: at least five paraphrases per question kind, a context line describing the
//! map, and the answer-format line. Which questions a scene gets and their reference answers come
//! from its [`Labels`]. Any thread.

use super::labels::{Labels, REGION_AFFECTED_SHARE, SEVERITY_THRESHOLDS, WORSE_MARGIN_DB};
use super::rng::Rng;
use super::scenario::Scenario;
use crate::types::{NO_REGION, QuestionKind, REGIONS, SEVERITY_CLASSES, box_answer, parse_box_answer};

const SEVERITY_Q: [&str; 6] = [
    "How severe is the interference in this scene overall?",
    "Classify the overall interference severity of this map.",
    "What severity class does this interference map belong to?",
    "Taken as a whole, how badly is this area affected by interference?",
    "Rate the scene's interference severity.",
    "Which severity level best describes the interference shown?",
];

const AFFECTED_Q: [&str; 6] = [
    "Is the {r} region affected by interference?",
    "Does interference affect the {r} region?",
    "Is the protection criterion violated in the {r} region?",
    "Would a receiver in the {r} region suffer harmful interference?",
    "Is there significant interference in the {r} part of the map?",
    "Looking at the {r} region, is it affected?",
];

const WORSE_Q: [&str; 6] = [
    "Which region has worse interference: {a} or {b}?",
    "Compare the {a} and {b} regions: where is the interference stronger?",
    "Between {a} and {b}, which region is more affected?",
    "Is the interference worse in the {a} region or the {b} region?",
    "Which of the two regions, {a} or {b}, sees the higher interference?",
    "Where would a receiver suffer more, {a} or {b}?",
];

const WORST_Q: [&str; 6] = [
    "Which region has the worst interference?",
    "Where in the map is the interference strongest?",
    "Name the most affected region of the map.",
    "Which part of the scene suffers the most interference?",
    "Identify the region with the highest interference levels.",
    "In which region would a receiver see the strongest interference?",
];

const LOCALIZE_Q: [&str; 6] = [
    "Locate the largest connected area affected by interference.",
    "Where is the biggest affected region? Give its bounding box.",
    "Draw a bounding box around the largest interference-affected area.",
    "Find the largest contiguous region above the protection criterion.",
    "Give the bounding box of the main affected area.",
    "Which area is most extensively affected? Answer with its bounding box.",
];

const EXPLAIN_Q: [&str; 6] = [
    "What is the dominant interference source here, what in the map shows it, and how could it be mitigated?",
    "Explain the interference in this scene: its dominant source, the evidence, and a mitigation.",
    "Diagnose this interference map: name the main source, the visual evidence and a remedy.",
    "Which source dominates the interference, how can you tell, and what would you do about it?",
    "Describe the cause of the interference, the evidence for it, and a suitable mitigation.",
    "As a spectrum engineer, identify the dominant interferer, justify it from the map, and propose a mitigation.",
];

fn scenario_context(s: Scenario) -> &'static str {
    match s {
        Scenario::LeoUrban => {
            "a LEO satellite's multi-beam downlink and co-channel urban macro cells over a 40 km city area"
        }
        Scenario::GeoRural => "a GEO satellite spot beam and co-channel rural macro cells over a 100 km rural area",
        Scenario::HapsCoastal => "HAPS cells and co-channel small cells over a 30 km coastal area with open sea",
    }
}

/// The line that opens every question: what the map shows and how to read it.
pub fn context(s: Scenario) -> String {
    format!(
        "The heatmap shows the interference-to-noise ratio I/N (dB) at a victim receiver across the scene: {}. \
         North is up; colours run from -20 dB (dark blue) to +20 dB (dark red); a pixel is affected when I/N > -6 dB.",
        scenario_context(s)
    )
}

fn severity_format() -> String {
    let t = SEVERITY_THRESHOLDS.map(|x| format!("{:.1} %", x * 100.0));
    format!(
        "Answer with one word: low (under {} of the area affected), moderate ({} to {}), high ({} to {}) or severe ({} or more).",
        t[0], t[0], t[1], t[1], t[2], t[2]
    )
}

/// A question family: one kind's paraphrases. `{r}` stands for the one region asked about, `{a}` and
/// `{b}` for the two compared. The router (`models::router`) trains on these, so a kind added here
/// with its paraphrases and wrapper ([`ask`]) is routed without other code changes.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    pub kind: QuestionKind,
    pub paraphrases: &'static [&'static str],
    /// Regions the question names (and a structured query of it needs): 0, 1 or 2.
    pub regions: usize,
    /// Whether the CNN and the rule answer it from their reading of the map (else only the VLM does).
    pub structured: bool,
}

/// Every question family the generator asks, in [`QuestionKind::ALL`] order.
pub fn families() -> [Family; 6] {
    let family = |kind, paraphrases: &'static [&'static str], regions, structured| Family {
        kind,
        paraphrases,
        regions,
        structured,
    };
    [
        family(QuestionKind::Severity, &SEVERITY_Q, 0, true),
        family(QuestionKind::RegionAffected, &AFFECTED_Q, 1, true),
        family(QuestionKind::WhichWorse, &WORSE_Q, 2, true),
        family(QuestionKind::WorstRegion, &WORST_Q, 0, true),
        family(QuestionKind::Localize, &LOCALIZE_Q, 0, true),
        family(QuestionKind::Explain, &EXPLAIN_Q, 0, false),
    ]
}

/// `paraphrase` with its region placeholders filled from `regions` (indices into [`REGIONS`]).
pub fn fill(paraphrase: &str, regions: &[usize]) -> String {
    let name = |i: usize| regions.get(i).map_or("centre", |&k| REGIONS[k]);
    paraphrase.replace("{r}", name(0)).replace("{a}", name(0)).replace("{b}", name(1))
}

/// The whole question text the generator writes for a filled paraphrase `q` of `kind`: the context
/// line `ctx` ([`context`]), the question, then the kind's definitions and answer format.
pub fn ask(kind: QuestionKind, ctx: &str, q: &str) -> String {
    match kind {
        QuestionKind::Severity => format!("{ctx} {q} {}", severity_format()),
        QuestionKind::RegionAffected => format!(
            "{ctx} {q} A region is affected when at least {:.0} % of its pixels exceed -6 dB. Answer yes or no.",
            REGION_AFFECTED_SHARE * 100.0
        ),
        QuestionKind::WhichWorse => {
            format!("{ctx} {q} Compare the 95th-percentile I/N of the two regions. Answer with the region's name.")
        }
        QuestionKind::WorstRegion => format!(
            "{ctx} {q} Regions: top-left, top-right, bottom-left, bottom-right quadrants and the centre (the middle half \
             of the map in each direction); compare their 95th-percentile I/N. Answer with one region name."
        ),
        QuestionKind::Localize => format!(
            "{ctx} {q} Answer with [x0, y0, x1, y1] as fractions of the width and height (x to the right, y down), \
             or none if no area is affected."
        ),
        QuestionKind::Explain => format!("{ctx} {q}"),
        // RadioQA-sim writes its own prompts (`sim::radio::questions`); this is the bare form.
        QuestionKind::Morphology
        | QuestionKind::Extended
        | QuestionKind::Fr
        | QuestionKind::Galaxy
        | QuestionKind::Artefact
        | QuestionKind::Anomaly => {
            format!("{ctx} {q} Choose one of: {}. Report only the class label.", kind.radio_classes().join(", "))
        }
    }
}

/// One generated question before it gets its id and paths.
#[derive(Debug, Clone)]
pub struct Question {
    pub kind: QuestionKind,
    pub text: String,
    pub answer: String,
    pub choices: Vec<String>,
    pub bbox: Option<[f32; 4]>,
    pub concepts: Vec<String>,
}

/// One of `v`'s strings at random (empty when `v` is).
pub(super) fn pick<'a>(rng: &mut Rng, v: &'a [&'a str]) -> &'a str {
    rng.pick(v).copied().unwrap_or("")
}

/// The L2 questions about one map's five regions, from their affected shares and 95th percentiles:
/// two "affected" questions, one "worse" (the first random pair further apart than the margin) and one
/// "worst" when `worst_region` is defined. `ctx` opens each question ([`context`]).
pub fn region_questions(
    ctx: &str,
    region_share: &[f64; 5],
    region_p95_db: &[f64; 5],
    worst_region: Option<usize>,
    rng: &mut Rng,
) -> Vec<Question> {
    let mut out = Vec::new();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut regions: Vec<usize> = (0..5).collect();
    rng.shuffle(&mut regions);
    for &k in &regions[..2] {
        out.push(affected_question(ctx, region_share, k, rng));
    }

    // "Which is worse": the first random pair whose 95th percentiles differ by more than the margin.
    let mut pairs = all_pairs();
    rng.shuffle(&mut pairs);
    if let Some(&(a, b)) = pairs.iter().find(|&&(a, b)| far_apart(region_p95_db, a, b)) {
        out.push(which_worse_question(ctx, region_p95_db, a, b, rng));
    }

    if let Some(k) = worst_region {
        out.push(Question {
            kind: QuestionKind::WorstRegion,
            text: ask(QuestionKind::WorstRegion, ctx, pick(rng, &WORST_Q)),
            answer: REGIONS[k].to_string(),
            choices: strings(&REGIONS),
            bbox: None,
            concepts: vec![],
        });
    }
    out
}

/// "Is region `k` affected" in a random paraphrase.
fn affected_question(ctx: &str, region_share: &[f64; 5], k: usize, rng: &mut Rng) -> Question {
    let q = fill(pick(rng, &AFFECTED_Q), &[k]);
    Question {
        kind: QuestionKind::RegionAffected,
        text: ask(QuestionKind::RegionAffected, ctx, &q),
        answer: if region_share[k] >= REGION_AFFECTED_SHARE { "yes" } else { "no" }.to_string(),
        choices: vec!["yes".to_string(), "no".to_string()],
        bbox: None,
        concepts: vec![],
    }
}

/// The ten pairs of regions, in a fixed order.
fn all_pairs() -> Vec<(usize, usize)> {
    (0..5).flat_map(|a| (a + 1..5).map(move |b| (a, b))).collect()
}

/// Whether "which is worse" is asked of regions `a` and `b`: their 95th percentiles differ by more than the margin.
fn far_apart(region_p95_db: &[f64; 5], a: usize, b: usize) -> bool {
    (region_p95_db[a] - region_p95_db[b]).abs() > WORSE_MARGIN_DB
}

/// "Which is worse" for regions `a` and `b`, named in a random order in a random paraphrase.
fn which_worse_question(ctx: &str, region_p95_db: &[f64; 5], a: usize, b: usize, rng: &mut Rng) -> Question {
    let (a, b) = if rng.chance(0.5) { (a, b) } else { (b, a) };
    let worse = if region_p95_db[a] > region_p95_db[b] { a } else { b };
    let q = fill(pick(rng, &WORSE_Q), &[a, b]);
    Question {
        kind: QuestionKind::WhichWorse,
        text: ask(QuestionKind::WhichWorse, ctx, &q),
        answer: REGIONS[worse].to_string(),
        choices: vec![REGIONS[a].to_string(), REGIONS[b].to_string()],
        bbox: None,
        concepts: vec![],
    }
}

/// The questions of one scene, in a fixed order: L1, L2 (two "affected", one "worse" and one
/// "worst" when they are well defined), L3, L4.
pub fn questions(scenario: Scenario, labels: &Labels, rng: &mut Rng) -> Vec<Question> {
    let ctx = context(scenario);
    let mut out = Vec::new();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    out.push(Question {
        kind: QuestionKind::Severity,
        text: ask(QuestionKind::Severity, &ctx, pick(rng, &SEVERITY_Q)),
        answer: SEVERITY_CLASSES[labels.severity].to_string(),
        choices: strings(&SEVERITY_CLASSES),
        bbox: None,
        concepts: vec![],
    });

    out.extend(region_questions(&ctx, &labels.region_share, &labels.region_p95_db, labels.worst_region, rng));

    out.push(Question {
        kind: QuestionKind::Localize,
        text: ask(QuestionKind::Localize, &ctx, pick(rng, &LOCALIZE_Q)),
        answer: labels.region_box.map_or_else(|| NO_REGION.to_string(), box_answer),
        choices: vec![],
        // The reference box is exactly the one its answer text states (three decimals).
        bbox: labels.region_box.and_then(|b| parse_box_answer(&box_answer(b)).ok().flatten()),
        concepts: vec![],
    });

    let answer = labels.explanation();
    out.push(Question {
        kind: QuestionKind::Explain,
        text: ask(QuestionKind::Explain, &ctx, pick(rng, &EXPLAIN_Q)),
        concepts: crate::types::concepts_in(&answer),
        answer,
        choices: vec![],
        bbox: None,
    });
    out
}

/// A training-only question (never in a dataset's manifest): the five regions ranked by their
/// 95th-percentile I/N, highest first. `train vlm --rank-questions` adds one per train scene so a small
/// model gets a dense signal for the comparisons behind "which is worse" and "worst region".
pub fn ranking_question(scenario: Scenario, region_p95_db: &[f64; 5]) -> (String, String) {
    let mut order: Vec<usize> = (0..5).collect();
    order.sort_by(|&a, &b| region_p95_db[b].total_cmp(&region_p95_db[a]));
    let text = format!(
        "{} Rank the five regions (top-left, top-right, bottom-left, bottom-right quadrants and the centre, the \
         middle half of the map in each direction) from the highest to the lowest 95th-percentile I/N. Answer with \
         the region names separated by commas.",
        context(scenario)
    );
    let answer = order.iter().map(|&k| REGIONS[k]).collect::<Vec<_>>().join(", ");
    (text, answer)
}

/// A training-only question (never in a dataset's manifest): every region's 95th-percentile I/N, in
/// [`REGIONS`] order, each rounded to a whole dB and written right after the region's name. Reading one
/// region's value is the step that "which is worse" and "worst region" build on; here each value is
/// asked for next to the name it belongs to, five times per image, so a small model gets a dense
/// signal for looking up a region's image tokens. `train vlm --region-values` adds one per train scene.
pub fn region_values_question(scenario: Scenario, region_p95_db: &[f64; 5]) -> (String, String) {
    let text = format!(
        "{} Give the 95th-percentile I/N of each region (top-left, top-right, bottom-left, bottom-right quadrants \
         and the centre, the middle half of the map in each direction), rounded to whole dB.",
        context(scenario)
    );
    let answer = REGIONS
        .iter()
        .zip(region_p95_db)
        .map(|(name, v)| format!("{name} {} dB", v.round() as i64))
        .collect::<Vec<_>>()
        .join(", ");
    (text, answer)
}

/// Training-only questions (never in a dataset's manifest): "is this region affected" for up to `n` of
/// a scene's five regions, in the dataset's paraphrases. A scene's manifest asks about two;
/// `train vlm --affected-questions N` adds these for a denser signal on reading one region.
pub fn affected_questions(
    scenario: Scenario,
    region_share: &[f64; 5],
    n: usize,
    rng: &mut Rng,
) -> Vec<(String, String)> {
    let ctx = context(scenario);
    let regions: Vec<usize> = (0..5).collect();
    ask_some(regions, n, rng, |k, rng| affected_question(&ctx, region_share, k, rng))
}

/// Training-only questions (never in a dataset's manifest): "which is worse" over up to `n` of a
/// scene's region pairs further apart than the margin, in the dataset's paraphrases. A scene's
/// manifest asks about one pair; `train vlm --pair-questions N` adds these so a small model sees the
/// two named regions decide the answer more often than the map's worst region does.
pub fn pair_questions(scenario: Scenario, region_p95_db: &[f64; 5], n: usize, rng: &mut Rng) -> Vec<(String, String)> {
    let ctx = context(scenario);
    let mut pairs = all_pairs();
    pairs.retain(|&(a, b)| far_apart(region_p95_db, a, b));
    ask_some(pairs, n, rng, |(a, b), rng| which_worse_question(&ctx, region_p95_db, a, b, rng))
}

/// Up to `n` of `subjects` in a random order, each asked by `ask`, as (question, answer) pairs.
fn ask_some<T>(
    mut subjects: Vec<T>,
    n: usize,
    rng: &mut Rng,
    mut ask: impl FnMut(T, &mut Rng) -> Question,
) -> Vec<(String, String)> {
    rng.shuffle(&mut subjects);
    subjects
        .into_iter()
        .take(n)
        .map(|t| {
            let q = ask(t, rng);
            (q.text, q.answer)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affected_questions_ask_distinct_regions_against_the_share_threshold() {
        let share = [0.0, 0.5, 0.099, 0.1, 1.0];
        let mut rng = Rng::new(5);
        let qs = affected_questions(Scenario::GeoRural, &share, 9, &mut rng);
        assert_eq!(qs.len(), 5);
        let mut seen = std::collections::HashSet::new();
        for (text, answer) in &qs {
            assert!(text.starts_with(&context(Scenario::GeoRural)) && text.ends_with("Answer yes or no."));
            let k = (0..5).find(|&k| text.contains(&format!(" {} ", REGIONS[k]))).expect(text);
            assert_eq!(answer, if share[k] >= REGION_AFFECTED_SHARE { "yes" } else { "no" }, "{text}");
            assert!(seen.insert(k), "a region asked twice: {text}");
        }
        assert_eq!(affected_questions(Scenario::GeoRural, &share, 2, &mut rng).len(), 2);
    }

    #[test]
    fn pair_questions_ask_only_pairs_apart_by_the_margin_and_name_the_hotter_region() {
        let p95 = [5.0, 4.5, -10.0, 0.0, 12.0];
        let mut rng = Rng::new(3);
        let qs = pair_questions(Scenario::LeoUrban, &p95, 20, &mut rng);
        // Of the ten pairs only top-left / top-right are within 1 dB.
        assert_eq!(qs.len(), 9);
        let mut seen = std::collections::HashSet::new();
        for (text, answer) in &qs {
            assert!(text.starts_with(&context(Scenario::LeoUrban)) && text.ends_with("Answer with the region's name."));
            let named: Vec<usize> = (0..5).filter(|&k| text.contains(&format!(" {}", REGIONS[k]))).collect();
            assert_eq!(named.len(), 2, "{text}");
            assert!(!(named.contains(&0) && named.contains(&1)), "{text}");
            let hotter = if p95[named[0]] > p95[named[1]] { named[0] } else { named[1] };
            assert_eq!(answer, REGIONS[hotter], "{text}");
            assert!(seen.insert(named), "a pair asked twice: {text}");
        }
        assert_eq!(pair_questions(Scenario::LeoUrban, &p95, 2, &mut rng).len(), 2);
        assert!(pair_questions(Scenario::LeoUrban, &[1.0; 5], 4, &mut rng).is_empty());
    }

    #[test]
    fn the_ranking_question_orders_regions_by_their_95th_percentile() {
        let (text, answer) = ranking_question(Scenario::GeoRural, &[1.0, -3.0, 7.5, 0.5, 2.0]);
        assert!(text.starts_with(&context(Scenario::GeoRural)) && text.contains("Rank the five regions"));
        assert_eq!(answer, "bottom-left, centre, top-left, bottom-right, top-right");
    }

    #[test]
    fn the_region_values_question_lists_every_region_in_order_rounded() {
        let (text, answer) = region_values_question(Scenario::HapsCoastal, &[1.4, -3.6, -20.0, 0.5, 12.49]);
        assert!(text.starts_with(&context(Scenario::HapsCoastal)) && text.contains("rounded to whole dB"));
        assert_eq!(answer, "top-left 1 dB, top-right -4 dB, bottom-left -20 dB, bottom-right 1 dB, centre 12 dB");
    }

    #[test]
    fn every_kind_has_at_least_five_distinct_paraphrases() {
        for set in [&SEVERITY_Q, &AFFECTED_Q, &WORSE_Q, &WORST_Q, &LOCALIZE_Q, &EXPLAIN_Q] {
            let mut v = set.to_vec();
            v.sort_unstable();
            v.dedup();
            assert!(v.len() >= 5);
        }
    }
}
