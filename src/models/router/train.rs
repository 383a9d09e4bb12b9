//! Training and validating the router: examples from the generator's question families (each
//! paraphrase bare, as a user types it, and wrapped as the dataset asks it, in every scenario) plus
//! hand-written phrasings (`models/router/phrasings.tsv`, and any the user adds), region names filled
//! in the ways people write them, and a typo'd copy of each; a class-balanced linear softmax fitted by
//! SGD. Validation holds out whole template families (one paraphrase of every kind at a time) and
//! scores labelled free-form questions. Pure computation; any thread.

use std::collections::BTreeMap;

use super::{FORMAT, Label, OUT_OF_SCOPE, Route, Router, RouterConfig, RouterError, softmax, text};
use crate::sim::Scenario;
use crate::sim::questions::{ask, context, families, fill};
use crate::sim::rng::Rng;
use crate::types::{QuestionKind, REGIONS};

/// The hand-written phrasings shipped with the router (`kind<TAB>question`).
pub const BUNDLED_PHRASINGS: &str = include_str!("../../../models/router/phrasings.tsv");

/// One training or test question: its text, label index and, for a template, its family
/// (paraphrase index) and whether it is wrapped as the dataset asks it.
#[derive(Clone, Debug)]
pub struct Example {
    pub text: String,
    pub label: usize,
    pub family: Option<usize>,
    pub wrapped: bool,
    /// A phrasing's line in its file (its region fills share it).
    pub line: Option<usize>,
}

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub bits: u32,
    pub epochs: usize,
    pub lr: f32,
    pub l2: f32,
    pub threshold: f32,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { bits: 15, epochs: 12, lr: 0.4, l2: 1e-6, threshold: 0.35, seed: 0 }
    }
}

/// The labels: every SpectrumQA-sim family's kind with its level and regions, the six RadioQA-sim
/// tasks (L1, no regions), then [`OUT_OF_SCOPE`].
pub fn labels() -> Vec<Label> {
    let mut out: Vec<Label> = families()
        .iter()
        .map(|f| Label { kind: f.kind.name().into(), level: Some(f.kind.level().name().into()), regions: f.regions })
        .collect();
    out.extend(QuestionKind::RADIO.iter().map(|k| Label {
        kind: k.name().into(),
        level: Some(k.level().name().into()),
        regions: 0,
    }));
    out.push(Label { kind: OUT_OF_SCOPE.into(), level: None, regions: 0 });
    out
}

/// Ways people write each region, beside its canonical name.
const SURFACES: [&[&str]; 5] = [
    &["top-left", "top left", "upper left", "upper-left", "north-west", "NW", "top left corner", "northwest"],
    &["top-right", "top right", "upper right", "upper-right", "north-east", "NE", "top right corner", "northeast"],
    &["bottom-left", "bottom left", "lower left", "lower-left", "south-west", "SW", "bottom left corner", "southwest"],
    &[
        "bottom-right",
        "bottom right",
        "lower right",
        "lower-right",
        "south-east",
        "SE",
        "bottom right corner",
        "southeast",
    ],
    &[
        "centre",
        "center",
        "middle",
        "central part",
        "centre of the map",
        "middle of the map",
        "central region",
        "center",
    ],
];

/// `q` with `{r}` and `{a}` (the first of `ks`) and `{b}` (the second) filled, each region written
/// one of the ways people write it.
fn fill_surface(q: &str, ks: &[usize], rng: &mut Rng) -> String {
    let mut out = q.to_string();
    for (slot, i) in [("{r}", 0), ("{a}", 0), ("{b}", 1)] {
        if let (true, Some(&k)) = (out.contains(slot), ks.get(i)) {
            let name = rng.pick(SURFACES[k]).copied().unwrap_or(REGIONS[k]);
            out = out.replace(slot, name);
        }
    }
    out
}

/// A few region fills for a question naming `n` regions: every region (one), or random distinct pairs.
fn region_fills(n: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    match n {
        0 => vec![vec![]],
        1 => (0..5).map(|k| vec![k]).collect(),
        _ => (0..5)
            .map(|_| {
                let a = rng.below(5);
                let b = (a + 1 + rng.below(4)) % 5;
                vec![a, b]
            })
            .collect(),
    }
}

/// The generator's families as examples: each paraphrase (family) with its region fills, bare (the
/// canonical names and the ways people write them) and wrapped in each scenario's context.
pub fn template_examples(seed: u64) -> Vec<Example> {
    let mut rng = Rng::derive(seed, &[1]);
    let mut out = Vec::new();
    for (label, f) in families().iter().enumerate() {
        for (family, p) in f.paraphrases.iter().enumerate() {
            for ks in region_fills(f.regions, &mut rng) {
                let canonical = fill(p, &ks);
                let example =
                    |text: String, wrapped| Example { text, label, family: Some(family), wrapped, line: None };
                out.push(example(fill_surface(p, &ks, &mut rng), false));
                for s in Scenario::ALL {
                    out.push(example(ask(f.kind, &context(s), &canonical), true));
                }
                out.push(example(canonical, false));
            }
        }
    }
    // RadioQA-sim's tasks: each paraphrase bare and as the dataset asks it.
    for kind in QuestionKind::RADIO {
        let Some(label) = labels().iter().position(|l| l.kind == kind.name()) else { continue };
        for (family, p) in crate::sim::radio::questions::paraphrases(kind).iter().enumerate() {
            let example = |text: String, wrapped| Example { text, label, family: Some(family), wrapped, line: None };
            out.push(example((*p).to_string(), false));
            out.push(example(crate::sim::radio::questions::ask(kind, p), true));
        }
    }
    out
}

/// Reasons a phrasings file cannot be read, with the line.
#[derive(Debug, thiserror::Error)]
#[error("{source_name} line {line}: {why}")]
pub struct PhrasingError {
    pub source_name: String,
    pub line: usize,
    pub why: String,
}

/// The lines of a tab-separated data file that hold data (not empty, not a `#` comment), with their
/// index, a Windows line end dropped.
fn data_lines(tsv: &str) -> impl Iterator<Item = (usize, &str)> {
    tsv.lines()
        .map(|l| l.trim_end_matches('\r'))
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
}

/// Examples from a phrasings file (`kind<TAB>question`, `#` comments): placeholders filled with a few
/// regions written the ways people write them.
///
/// # Errors
/// A line without a tab, with an unknown kind or an empty question.
pub fn phrasing_examples(
    source_name: &str,
    tsv: &str,
    labels: &[Label],
    seed: u64,
) -> Result<Vec<Example>, PhrasingError> {
    let mut rng = Rng::derive(seed, &[2]);
    let mut out = Vec::new();
    for (i, line) in data_lines(tsv) {
        let err = |why: String| PhrasingError { source_name: source_name.into(), line: i + 1, why };
        let (kind, question) =
            line.split_once('\t').ok_or_else(|| err("no tab between the kind and the question".into()))?;
        let label =
            labels.iter().position(|l| l.kind == kind.trim()).ok_or_else(|| err(format!("unknown kind {kind:?}")))?;
        if question.trim().is_empty() {
            return Err(err("empty question".into()));
        }
        let slots =
            usize::from(question.contains("{r}") || question.contains("{a}")) + usize::from(question.contains("{b}"));
        let fills = if slots == 0 { vec![vec![]] } else { region_fills(slots, &mut rng).into_iter().take(3).collect() };
        for ks in fills {
            out.push(Example {
                text: fill_surface(question, &ks, &mut rng),
                label,
                family: None,
                wrapped: false,
                line: Some(i),
            });
        }
    }
    Ok(out)
}

/// `text` with one letter of a longer word dropped, doubled or swapped with the next.
fn typo(text: &str, rng: &mut Rng) -> String {
    let mut words: Vec<String> = text.split(' ').map(str::to_string).collect();
    let long: Vec<usize> = (0..words.len()).filter(|&i| words[i].chars().count() >= 5).collect();
    let Some(&i) = rng.pick(&long) else { return text.to_string() };
    let mut chars: Vec<char> = words[i].chars().collect();
    let at = 1 + rng.below(chars.len() - 2);
    match rng.below(3) {
        0 => {
            chars.remove(at);
        }
        1 => chars.insert(at, chars[at]),
        _ => chars.swap(at, at + 1),
    }
    words[i] = chars.into_iter().collect();
    words.join(" ")
}

/// A router trained on `examples` (a typo'd copy of each is added).
///
/// # Errors
/// Only when the options make no router (bits out of range).
pub fn fit(examples: &[Example], labels: &[Label], opts: &TrainOptions) -> Result<Router, RouterError> {
    let mut rng = Rng::derive(opts.seed, &[3]);
    let mut data: Vec<(Vec<(u32, f32)>, usize)> = Vec::with_capacity(examples.len() * 2);
    for e in examples {
        data.push((text::features(&e.text, opts.bits), e.label));
        data.push((text::features(&typo(&e.text.to_lowercase(), &mut rng), opts.bits), e.label));
    }
    let classes = labels.len();
    let mut count = vec![0usize; classes];
    for (_, y) in &data {
        count[*y] += 1;
    }
    #[allow(clippy::cast_precision_loss)]
    let class_weight: Vec<f32> =
        count.iter().map(|&n| if n == 0 { 0.0 } else { data.len() as f32 / (classes * n) as f32 }).collect();
    let dim = 1usize << opts.bits;
    let mut w = vec![0.0f32; classes * dim];
    let mut b = vec![0.0f32; classes];
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut p = vec![0.0f32; classes];
    for epoch in 0..opts.epochs {
        rng.shuffle(&mut order);
        #[allow(clippy::cast_precision_loss)]
        let lr = opts.lr / (1.0 + epoch as f32 * 0.5);
        for &i in &order {
            let (x, y) = &data[i];
            for (c, pc) in p.iter_mut().enumerate() {
                let row = &w[c * dim..(c + 1) * dim];
                *pc = b[c] + x.iter().map(|&(j, v)| row[j as usize] * v).sum::<f32>();
            }
            softmax(&mut p);
            let cw = class_weight[*y];
            for c in 0..classes {
                let g = (p[c] - f32::from(u8::from(c == *y))) * cw * lr;
                b[c] -= g * 0.1;
                let row = &mut w[c * dim..(c + 1) * dim];
                for &(j, v) in x {
                    let wj = &mut row[j as usize];
                    *wj -= g * v + lr * opts.l2 * *wj;
                }
            }
        }
    }
    let config = RouterConfig {
        format: FORMAT.into(),
        bits: opts.bits,
        labels: labels.to_vec(),
        threshold: opts.threshold,
        best_on_val: Vec::new(),
        best_on_val_from: None,
    };
    Router::new(config, w, b)
}

/// One labelled test question: the level (`None`: out of scope), the kind and regions named.
#[derive(Clone, Debug)]
pub struct Labelled {
    pub level: Option<String>,
    pub kind: String,
    pub regions: Vec<String>,
    pub question: String,
}

/// A labelled free-form file: `level<TAB>kind<TAB>regions<TAB>question` (level `-` when out of scope,
/// regions comma-separated or `-`), `#` comments.
///
/// # Errors
/// A line without four fields or with an unknown level.
pub fn read_labelled(source_name: &str, tsv: &str) -> Result<Vec<Labelled>, PhrasingError> {
    let mut out = Vec::new();
    for (i, line) in data_lines(tsv) {
        let err = |why: String| PhrasingError { source_name: source_name.into(), line: i + 1, why };
        let f: Vec<&str> = line.splitn(4, '\t').collect();
        let [level, kind, regions, question] = f.as_slice() else {
            return Err(err("expected level, kind, regions and question separated by tabs".into()));
        };
        let level = match *level {
            "-" => None,
            l if crate::types::Level::parse(l).is_some() => Some(l.to_string()),
            other => return Err(err(format!("unknown level {other:?}"))),
        };
        let regions =
            if *regions == "-" { Vec::new() } else { regions.split(',').map(|r| r.trim().to_string()).collect() };
        out.push(Labelled { level, kind: kind.to_string(), regions, question: question.to_string() });
    }
    Ok(out)
}

/// Scores of a router on labelled questions: level accuracy (an abstention on an in-scope question is
/// wrong; on an out-of-scope one right), coverage, kind accuracy, region accuracy (in-scope questions
/// whose regions were all found, in order), and the confusion matrices (rows truth, columns routed).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RouteScores {
    pub n: usize,
    pub in_scope: usize,
    pub level_accuracy: f64,
    /// Level accuracy over the in-scope questions only.
    pub in_scope_level_accuracy: f64,
    pub kind_accuracy: f64,
    pub coverage: f64,
    pub out_of_scope_recall: f64,
    pub region_accuracy: f64,
    /// In-scope questions that name regions (what `region_accuracy` is over).
    pub with_regions: usize,
    pub level_confusion: BTreeMap<String, BTreeMap<String, usize>>,
    pub kind_confusion: BTreeMap<String, BTreeMap<String, usize>>,
    pub mistakes: Vec<String>,
}

/// `level` or `abstain`.
fn level_name(level: Option<&str>) -> String {
    level.map_or_else(|| "abstain".to_string(), str::to_string)
}

/// Score `router` on `items`.
pub fn score(router: &Router, items: &[Labelled]) -> RouteScores {
    let mut s = RouteScores { n: items.len(), ..RouteScores::default() };
    let (mut level_ok, mut in_ok, mut kind_ok, mut covered, mut oos, mut oos_ok, mut reg_n, mut reg_ok) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    for it in items {
        let r: Route = router.route(&it.question);
        let routed_kind = r.kind.clone().unwrap_or_else(|| "abstain".into());
        let truth_kind = if it.level.is_none() { "abstain".to_string() } else { it.kind.clone() };
        *s.level_confusion
            .entry(level_name(it.level.as_deref()))
            .or_default()
            .entry(level_name(r.level.as_deref()))
            .or_default() += 1;
        *s.kind_confusion.entry(truth_kind.clone()).or_default().entry(routed_kind.clone()).or_default() += 1;
        let right = r.level == it.level;
        level_ok += usize::from(right);
        kind_ok += usize::from(routed_kind == truth_kind);
        if it.level.is_some() {
            s.in_scope += 1;
            in_ok += usize::from(right);
            covered += usize::from(!r.abstained);
            if !it.regions.is_empty() {
                reg_n += 1;
                reg_ok += usize::from(r.regions == it.regions);
            }
        } else {
            oos += 1;
            oos_ok += usize::from(r.abstained);
        }
        if !right || routed_kind != truth_kind {
            s.mistakes.push(format!("{truth_kind} -> {routed_kind} ({:.2}): {}", r.confidence, it.question));
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    s.level_accuracy = share(level_ok, items.len());
    s.in_scope_level_accuracy = share(in_ok, s.in_scope);
    s.kind_accuracy = share(kind_ok, items.len());
    s.coverage = share(covered, s.in_scope);
    s.out_of_scope_recall = share(oos_ok, oos);
    s.region_accuracy = share(reg_ok, reg_n);
    s.with_regions = reg_n;
    s
}

/// Template examples as labelled questions (their canonical regions from the text).
pub fn as_labelled(examples: &[&Example], labels: &[Label]) -> Vec<Labelled> {
    examples
        .iter()
        .map(|e| Labelled {
            level: labels[e.label].level.clone(),
            kind: labels[e.label].kind.clone(),
            regions: Vec::new(),
            question: e.text.clone(),
        })
        .collect()
}

/// Held-out-family validation: for each paraphrase index, train on every other family (and the
/// phrasings) and score the held-out family's questions, bare and wrapped. Returns the pooled scores
/// (bare, wrapped).
///
/// # Errors
/// As [`fit`].
pub fn held_out_families(
    templates: &[Example],
    phrasings: &[Example],
    labels: &[Label],
    opts: &TrainOptions,
) -> Result<(RouteScores, RouteScores), RouterError> {
    let folds = templates.iter().filter_map(|e| e.family).max().map_or(0, |m| m + 1);
    let (mut bare, mut wrapped) = (Vec::new(), Vec::new());
    let mut routers = Vec::new();
    for fold in 0..folds {
        let train: Vec<Example> =
            templates.iter().filter(|e| e.family != Some(fold)).chain(phrasings).cloned().collect();
        let router = fit(&train, labels, opts)?;
        let held: Vec<&Example> = templates.iter().filter(|e| e.family == Some(fold)).collect();
        let (w, b): (Vec<&Example>, Vec<&Example>) = held.into_iter().partition(|e| e.wrapped);
        bare.push((routers.len(), as_labelled(&b, labels)));
        wrapped.push((routers.len(), as_labelled(&w, labels)));
        routers.push(router);
    }
    let pooled = |sets: &[(usize, Vec<Labelled>)]| {
        let mut all = RouteScores::default();
        let mut parts = Vec::new();
        for (i, items) in sets {
            parts.push((score(&routers[*i], items), items.len()));
        }
        merge(&mut all, &parts);
        all
    };
    Ok((pooled(&bare), pooled(&wrapped)))
}

/// Held-out phrasings: the phrasing lines split into `folds` groups (a line's region fills stay
/// together); each group scored by a router trained on the templates and the other groups. A proxy
/// for questions typed by people, used to choose the training settings (the free-form set is kept
/// for the final score only).
///
/// # Errors
/// As [`fit`].
pub fn held_out_phrasings(
    templates: &[Example],
    phrasings: &[Example],
    labels: &[Label],
    opts: &TrainOptions,
    folds: usize,
) -> Result<RouteScores, RouterError> {
    let fold_of = |e: &Example| e.line.unwrap_or(0).wrapping_mul(7919) % folds.max(1);
    let mut parts = Vec::new();
    for fold in 0..folds.max(1) {
        let train: Vec<Example> =
            templates.iter().chain(phrasings.iter().filter(|e| fold_of(e) != fold)).cloned().collect();
        let router = fit(&train, labels, opts)?;
        let held: Vec<&Example> = phrasings.iter().filter(|e| fold_of(e) == fold).collect();
        let items = as_labelled(&held, labels);
        parts.push((score(&router, &items), items.len()));
    }
    let mut all = RouteScores::default();
    merge(&mut all, &parts);
    Ok(all)
}

/// Pool fold scores weighted by their sizes.
fn merge(all: &mut RouteScores, parts: &[(RouteScores, usize)]) {
    let n: usize = parts.iter().map(|p| p.1).sum();
    #[allow(clippy::cast_precision_loss)]
    let w = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    all.n = n;
    for (s, k) in parts {
        all.in_scope += s.in_scope;
        all.level_accuracy += s.level_accuracy * w(*k);
        all.in_scope_level_accuracy += s.in_scope_level_accuracy * w(*k);
        all.kind_accuracy += s.kind_accuracy * w(*k);
        all.coverage += s.coverage * w(*k);
        all.out_of_scope_recall += s.out_of_scope_recall * w(*k);
        for (t, row) in &s.level_confusion {
            for (p, c) in row {
                *all.level_confusion.entry(t.clone()).or_default().entry(p.clone()).or_default() += c;
            }
        }
        for (t, row) in &s.kind_confusion {
            for (p, c) in row {
                *all.kind_confusion.entry(t.clone()).or_default().entry(p.clone()).or_default() += c;
            }
        }
        all.mistakes.extend(s.mistakes.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> TrainOptions {
        TrainOptions { bits: 12, epochs: 6, ..TrainOptions::default() }
    }

    #[test]
    fn templates_cover_every_family_bare_and_wrapped() {
        let t = template_examples(0);
        let labels = labels();
        for (label, _) in labels.iter().enumerate().take(labels.len() - 1) {
            for wrapped in [false, true] {
                assert!(t.iter().any(|e| e.label == label && e.wrapped == wrapped));
            }
        }
        assert!(t.iter().all(|e| !e.text.contains('{')));
    }

    #[test]
    fn phrasing_files_are_checked_line_by_line() {
        let labels = labels();
        let ok =
            phrasing_examples("x", "# c\nseverity\thow bad is it\nwhich_worse\t{a} or {b}?\n", &labels, 0).unwrap();
        assert_eq!(ok.len(), 4);
        assert!(ok[1..].iter().all(|e| e.text.ends_with('?') && !e.text.contains('{')));
        let e = phrasing_examples("x", "severity how bad\n", &labels, 0).unwrap_err();
        assert_eq!((e.line, e.why.as_str()), (1, "no tab between the kind and the question"));
        let e = phrasing_examples("x", "\n\nweather\twhat is it\n", &labels, 0).unwrap_err();
        assert!(e.to_string().contains("line 3") && e.to_string().contains("unknown kind"));
        assert!(phrasing_examples("x", "severity\t  \n", &labels, 0).is_err());
        assert!(phrasing_examples("bundled", BUNDLED_PHRASINGS, &labels, 0).unwrap().len() > 300);
    }

    #[test]
    fn a_trained_router_tells_the_kinds_apart_and_abstains_off_topic() {
        let labels = labels();
        let mut ex = template_examples(0);
        ex.extend(phrasing_examples("bundled", BUNDLED_PHRASINGS, &labels, 0).unwrap());
        let router = fit(&ex, &labels, &small()).unwrap();
        let r = router.route("which is worse, the upper left or the centre?");
        assert_eq!((r.level.as_deref(), r.kind.as_deref()), (Some("L2"), Some("which_worse")));
        assert_eq!(r.regions, ["top-left", "centre"]);
        assert!(r.complete);
        assert_eq!(router.route("how bad is the interference overall").level.as_deref(), Some("L1"));
        assert!(router.route("what is the weather in Paris tomorrow").abstained);
        let empty = router.route("   ");
        assert!(empty.abstained && empty.why.contains("empty"));
        // A region question naming no region cannot be put to the CNN as asked.
        let r = router.route("is that region affected by interference?");
        if r.kind.as_deref() == Some("region_affected") {
            assert!(!r.complete);
        }
    }

    #[test]
    fn labelled_files_read_their_four_columns() {
        let items = read_labelled("f", "# x\nL2\twhich_worse\ttop-left,centre\tq?\n-\tout_of_scope\t-\thi\n").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].regions, ["top-left", "centre"]);
        assert!(items[1].level.is_none());
        assert!(read_labelled("f", "L9\tx\t-\tq\n").is_err());
        assert!(read_labelled("f", "L1\tseverity\tq\n").is_err());
    }
}
