//! Other wordings of a generated question, for training only (the benchmark's text never changes):
//! the scene's context line said in other words or left out, and questions typed the way people type
//! them (short, lower case, no definitions, the odd typo, other names for the regions). A model trained
//! on these learns that the answer's form depends on what is asked, not on one fixed sentence.
//! `train vlm --varied-context P --typed-questions P` uses them. Any thread.

use super::questions::{context, pick};
use super::rng::Rng;
use super::scenario::Scenario;
use crate::types::{QuestionKind, REGIONS};

/// Ways to say what the map shows; `{d}` is the scene's description.
const LEADS: [&str; 7] = [
    "The heatmap shows the interference-to-noise ratio I/N (dB) at a victim receiver across the scene: {d}.",
    "I/N map in dB for {d}.",
    "This is an interference-to-noise ratio map (I/N, dB) of {d}.",
    "Simulated interference map: {d}.",
    "Coexistence study of {d}; the map gives I/N in dB at the victim receiver.",
    "Scene: {d}. The values are I/N in dB.",
    "Interference heatmap ({d}).",
];

/// How the colour scale and the criterion may be stated after the lead (or not at all).
const SCALES: [&str; 6] = [
    "North is up; colours run from -20 dB (dark blue) to +20 dB (dark red); a pixel is affected when I/N > -6 dB.",
    "Colour scale from -20 dB (blue) to +20 dB (red).",
    "The protection criterion is I/N = -6 dB.",
    "Affected means I/N above -6 dB.",
    "Blue is quiet, red is strong interference.",
    "",
];

/// Descriptions that fit every scenario (they name no system).
const GENERIC: [&str; 4] = [
    "a non-terrestrial system sharing its channel with terrestrial cells",
    "a spectrum-sharing scenario between an airborne or space system and ground networks",
    "co-channel interference between two radio systems",
    "the study area",
];

/// The scene's systems in other words than the generator's context line.
fn descriptions(s: Scenario) -> &'static [&'static str] {
    match s {
        Scenario::LeoUrban => &[
            "a LEO satellite's multi-beam downlink and co-channel urban macro cells over a 40 km city area",
            "a low-Earth-orbit constellation downlink sharing a channel with city macro base stations",
            "LEO multi-beam coverage over a city with terrestrial macro cells on the same frequency",
            "a 40 km urban area served by a LEO downlink and co-channel macro cells",
            "a LEO satellite system over a city",
        ],
        Scenario::GeoRural => &[
            "a GEO satellite spot beam and co-channel rural macro cells over a 100 km rural area",
            "a geostationary spot-beam downlink and rural base stations on the same channel",
            "a 100 km countryside area under a GEO spot beam with co-channel macro cells",
            "GEO satellite coverage of a rural region shared with terrestrial cells",
            "a geostationary satellite over farmland",
        ],
        Scenario::HapsCoastal => &[
            "HAPS cells and co-channel small cells over a 30 km coastal area with open sea",
            "a high-altitude platform's cells and small cells on the same frequency along a coast",
            "a 30 km stretch of coast and sea served by HAPS with co-channel small cells",
            "stratospheric platform coverage of a coastline shared with terrestrial small cells",
            "a HAPS deployment near the sea",
        ],
    }
}

/// The scene's context line in other words: a lead, a description of its systems (sometimes one that
/// names none) and a colour-scale sentence, any of them varied; now and then nothing at all.
pub fn varied_context(s: Scenario, rng: &mut Rng) -> String {
    if rng.chance(0.15) {
        return String::new();
    }
    let d = if rng.chance(0.2) { pick(rng, &GENERIC) } else { pick(rng, descriptions(s)) };
    let lead = pick(rng, &LEADS).replace("{d}", d);
    let scale = pick(rng, &SCALES);
    if scale.is_empty() { lead } else { format!("{lead} {scale}") }
}

/// Typed forms per kind: `{r}` one region, `{a}` and `{b}` two.
fn typed_forms(kind: QuestionKind) -> &'static [&'static str] {
    match kind {
        QuestionKind::Severity => &[
            "how bad is it",
            "severity?",
            "overall severity of this map",
            "is the interference severe",
            "how much of the area is hit",
            "rate the interference",
        ],
        QuestionKind::RegionAffected => &[
            "is {r} affected?",
            "{r} region affected",
            "any interference in the {r}",
            "is the {r} ok?",
            "does the {r} exceed the criterion",
            "{r}: harmful interference or not",
            "would a receiver in the {r} be fine",
        ],
        QuestionKind::WhichWorse => &[
            "{a} or {b}?",
            "which is worse {a} vs {b}",
            "worse: {a} or {b}",
            "compare {a} and {b}",
            "{a} vs {b}, which one has more interference",
            "more interference in {a} or in {b}?",
        ],
        QuestionKind::WorstRegion => &[
            "worst region?",
            "where is it worst",
            "which area is hit hardest",
            "where's the strongest interference",
            "most affected part of the map",
            "which region suffers most",
        ],
        QuestionKind::Localize => &[
            "where is the affected area",
            "box around the hot area",
            "bounding box of the interference",
            "show me where it's affected",
        ],
        QuestionKind::Explain => &[
            "what's causing this?",
            "explain the interference",
            "why is this map red and what can we do",
            "main interferer + fix?",
            "what is the source and how do we mitigate it",
            "diagnose this",
            "who is interfering here",
        ],
        _ => &["what class is this"],
    }
}

/// Other names people use for each region, in [`REGIONS`] order (the first is the canonical one).
const REGION_NAMES: [&[&str]; 5] = [
    &["top-left", "top left", "upper left", "north-west", "NW", "top left corner"],
    &["top-right", "top right", "upper right", "north-east", "NE", "top right corner"],
    &["bottom-left", "bottom left", "lower left", "south-west", "SW", "bottom left corner"],
    &["bottom-right", "bottom right", "lower right", "south-east", "SE", "bottom right corner"],
    &["centre", "center", "middle", "central region", "centre of the map"],
];

/// A question of `kind` about `regions` (indices into [`REGIONS`]) as a user might type it: no context
/// line and no definitions, one of the kind's short forms, the regions by one of their names, often in
/// lower case, sometimes with one typo.
pub fn typed_question(kind: QuestionKind, regions: &[usize], rng: &mut Rng) -> String {
    let mut name = |i: usize| {
        let k = regions.get(i).copied().unwrap_or(4).min(4);
        pick(rng, REGION_NAMES[k]).to_string()
    };
    let (a, b) = (name(0), name(1));
    let form = pick(rng, typed_forms(kind));
    let mut q = form.replace("{r}", &a).replace("{a}", &a).replace("{b}", &b);
    if rng.chance(0.3) {
        q = with_typo(&q, rng);
    }
    if rng.chance(0.3) {
        let mut c = q.chars();
        q = c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default();
    }
    q
}

/// `text` with one letter of one word of four or more letters swapped with the next, dropped or doubled.
fn with_typo(text: &str, rng: &mut Rng) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let long: Vec<usize> =
        (0..words.len()).filter(|&i| words[i].chars().filter(char::is_ascii_alphabetic).count() >= 4).collect();
    let Some(&w) = rng.pick(&long) else { return text.to_string() };
    let mut chars: Vec<char> = words[w].chars().collect();
    let i = 1 + rng.below(chars.len() - 2);
    match rng.below(3) {
        0 => chars.swap(i, i + 1),
        1 => {
            chars.remove(i);
        }
        _ => chars.insert(i, chars[i]),
    }
    let typo: String = chars.into_iter().collect();
    words.iter().enumerate().map(|(k, &s)| if k == w { typo.as_str() } else { s }).collect::<Vec<_>>().join(" ")
}

/// The regions a generated question names, in the order it names them (the context line and the
/// definitions after the question are not read: the question is the first sentence after `ctx`).
pub fn regions_named(text: &str, ctx: &str) -> Vec<usize> {
    let rest = text.strip_prefix(ctx).unwrap_or(text).trim_start();
    let end = rest.find(['?', '.']).map_or(rest.len(), |i| i + 1);
    let question = &rest[..end];
    let mut found: Vec<(usize, usize)> =
        REGIONS.iter().enumerate().filter_map(|(k, name)| question.find(name).map(|at| (at, k))).collect();
    found.sort_unstable();
    found.into_iter().map(|(_, k)| k).collect()
}

/// How often `train vlm` words a question otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rewording {
    /// Share of questions whose context line is said in other words (or left out).
    pub context: f64,
    /// Share of questions replaced by a typed form (no context, no definitions).
    pub typed: f64,
}

impl Rewording {
    /// Whether this rewords anything.
    pub fn any(self) -> bool {
        self.context > 0.0 || self.typed > 0.0
    }

    /// `text`, a generated question of `kind` about a `scenario` scene, reworded or left as it is: typed
    /// with probability `typed`, else its context line varied with probability `context`. A text that
    /// does not open with the scenario's context line (another generator's) is only ever typed.
    pub fn apply(self, text: &str, scenario: Scenario, kind: QuestionKind, rng: &mut Rng) -> String {
        let ctx = context(scenario);
        if rng.chance(self.typed) {
            return typed_question(kind, &regions_named(text, &ctx), rng);
        }
        match text.strip_prefix(ctx.as_str()) {
            Some(rest) if rng.chance(self.context) => {
                let new = varied_context(scenario, rng);
                format!("{new} {}", rest.trim_start()).trim_start().to_string()
            }
            _ => text.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::questions::{ask, fill};

    #[test]
    fn regions_are_read_from_the_question_in_the_order_it_names_them() {
        let ctx = context(Scenario::LeoUrban);
        let text =
            ask(QuestionKind::WhichWorse, &ctx, &fill("Which region has worse interference: {a} or {b}?", &[4, 1]));
        assert_eq!(regions_named(&text, &ctx), vec![4, 1]);
        // The worst-region definitions list all five names after the question: none of them is read.
        let text = ask(QuestionKind::WorstRegion, &ctx, "Which region has the worst interference?");
        assert!(regions_named(&text, &ctx).is_empty());
    }

    #[test]
    fn a_typed_question_names_its_regions_and_drops_context_and_definitions() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let q = typed_question(QuestionKind::WhichWorse, &[0, 3], &mut rng);
            assert!(!q.contains("dB") && !q.contains("Answer"), "{q}");
            assert!(q.len() < 80, "{q}");
        }
        // Without typos every form names both regions by one of their names.
        let named = |q: &str, k: usize| REGION_NAMES[k].iter().any(|n| q.to_lowercase().contains(&n.to_lowercase()));
        let mut hits = 0;
        for _ in 0..200 {
            let q = typed_question(QuestionKind::RegionAffected, &[2], &mut rng);
            hits += usize::from(named(&q, 2));
        }
        assert!(hits > 150, "{hits} of 200 name bottom-left (typos may hit the name)");
    }

    #[test]
    fn a_typo_changes_one_long_word_by_one_letter() {
        let mut rng = Rng::new(9);
        for _ in 0..100 {
            let t = with_typo("is the centre ok", &mut rng);
            assert_ne!(t, "is the centre ok");
            assert!(t.starts_with("is the ") && t.ends_with(" ok"), "{t}");
            assert!((t.len() as i64 - 16).abs() <= 1, "{t}");
        }
        assert_eq!(with_typo("a b c", &mut rng), "a b c", "no word long enough");
    }

    #[test]
    fn rewording_keeps_the_question_and_its_format_when_only_the_context_varies() {
        let ctx = context(Scenario::GeoRural);
        let text = ask(QuestionKind::RegionAffected, &ctx, &fill("Is the {r} region affected by interference?", &[1]));
        let tail = text.strip_prefix(ctx.as_str()).unwrap().trim_start().to_string();
        let mut rng = Rng::new(1);
        let r = Rewording { context: 1.0, typed: 0.0 };
        let mut other = 0;
        for _ in 0..100 {
            let t = r.apply(&text, Scenario::GeoRural, QuestionKind::RegionAffected, &mut rng);
            assert!(t.ends_with(&tail), "{t}");
            other += usize::from(t != text);
        }
        assert!(other > 70, "{other} of 100 reworded");
        assert_eq!(Rewording::default().apply(&text, Scenario::GeoRural, QuestionKind::RegionAffected, &mut rng), text);
        assert!(!Rewording::default().any());
        // Another generator's text (no known context line) is left alone unless typed.
        assert_eq!(
            r.apply("Is the centre affected?", Scenario::GeoRural, QuestionKind::RegionAffected, &mut rng),
            "Is the centre affected?"
        );
        let typed = Rewording { context: 0.0, typed: 1.0 }.apply(
            &text,
            Scenario::GeoRural,
            QuestionKind::RegionAffected,
            &mut rng,
        );
        assert!(!typed.contains("dB") && typed.len() < 60, "{typed}");
    }

    #[test]
    fn varied_contexts_never_name_another_scenarios_system() {
        let mut rng = Rng::new(2);
        for _ in 0..300 {
            let c = varied_context(Scenario::HapsCoastal, &mut rng).to_lowercase();
            assert!(!c.contains("leo") && !c.contains("geo") && !c.contains("satellite"), "{c}");
        }
    }
}
