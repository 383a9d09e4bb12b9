//! The best-on-val table of the router: from runs of the single models on a dataset's val split, which
//! model scored best on the questions the router puts in each (predicted) level and kind. The
//! dataset's own level, kind and scenario are never read: the questions are grouped by what the router
//! makes of their text, as they will be at inference. Main thread (`heatscope train router --runs`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::runs::RunLine;
use crate::models::router::{BestCell, Router};
use crate::types::{QaRecord, Split};

/// Cheapest first: among models scoring the same, the cheaper one is chosen.
const BY_COST: [&str; 3] = ["rule", "cnn", "vlm"];

/// One single-model run: its lines by question id.
#[derive(Clone, Debug)]
pub struct ModelRun {
    pub model: String,
    pub dir: PathBuf,
    pub lines: HashMap<String, RunLine>,
}

impl ModelRun {
    /// The level's number for question `id` (L1/L2 right or wrong, L3 IoU, L4 token F1; 0 for a
    /// failed answer), when the run answered it.
    pub fn score(&self, id: &str) -> Option<f64> {
        self.lines.get(id).map(|l| if l.error.is_some() { 0.0 } else { l.score })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Run(#[from] super::runs::RunFolderError),
    #[error("{dir}: a run of {kind}; the table compares the single models (cnn, vlm, rule)")]
    NotSingle { dir: PathBuf, kind: String },
    #[error("{dir} and {other} are both runs of {model}; give one run per model")]
    Twice { dir: PathBuf, other: PathBuf, model: String },
    #[error("{dir} is a run of another dataset (manifest {theirs}, the first run's is {ours})")]
    OtherDataset { dir: PathBuf, theirs: String, ours: String },
    #[error("the runs answer no {split} question")]
    NoQuestions { split: &'static str },
}

/// The run in `dir`, with its dataset's manifest checksum and folder.
///
/// # Errors
/// An unreadable run, or a run of something other than a single model.
pub fn read_run(dir: &Path) -> Result<(ModelRun, String, PathBuf), TableError> {
    let (summary, lines) = super::runs::open(dir)?;
    let kind = summary.settings.model.kind.clone();
    if !BY_COST.contains(&kind.as_str()) {
        return Err(TableError::NotSingle { dir: dir.to_path_buf(), kind });
    }
    let lines = lines.into_iter().map(|l| (l.id.clone(), l)).collect();
    Ok((
        ModelRun { model: kind, dir: dir.to_path_buf(), lines },
        summary.settings.manifest_checksum,
        summary.settings.dataset,
    ))
}

/// Check the runs: one per model, all of one dataset.
///
/// # Errors
/// Two runs of one model, or runs of different datasets.
pub fn check_runs(runs: &[(ModelRun, String, PathBuf)]) -> Result<(), TableError> {
    for (i, (a, sum_a, _)) in runs.iter().enumerate() {
        for (b, sum_b, _) in &runs[..i] {
            if a.model == b.model {
                return Err(TableError::Twice { dir: a.dir.clone(), other: b.dir.clone(), model: a.model.clone() });
            }
            if sum_a != sum_b {
                return Err(TableError::OtherDataset {
                    dir: a.dir.clone(),
                    theirs: sum_a.clone(),
                    ours: sum_b.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The table: every `split` question any run answered, grouped by the router's (level, kind) of its
/// text (abstentions left out: they go where the abstention setting says), each model's mean score per
/// group (a question a run did not answer scores 0 for it, as in the composite), the best model per
/// group (the cheaper on a tie).
///
/// # Errors
/// When no run answered a question of `split`.
pub fn fit_table(
    router: &Router,
    records: &[QaRecord],
    runs: &[ModelRun],
    split: Split,
) -> Result<Vec<BestCell>, TableError> {
    let mut groups: BTreeMap<(String, String), Vec<&QaRecord>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.split == split) {
        if !runs.iter().any(|m| m.lines.contains_key(&r.id)) {
            continue;
        }
        let route = router.route(&r.question);
        if let (Some(level), Some(kind)) = (route.level, route.kind) {
            groups.entry((level, kind)).or_default().push(r);
        }
    }
    if groups.is_empty() {
        return Err(TableError::NoQuestions { split: split.name() });
    }
    let mut out = Vec::new();
    for ((level, kind), qs) in groups {
        #[allow(clippy::cast_precision_loss)]
        let n = qs.len() as f64;
        let scores: BTreeMap<String, f64> = runs
            .iter()
            .map(|m| (m.model.clone(), qs.iter().map(|r| m.score(&r.id).unwrap_or(0.0)).sum::<f64>() / n))
            .collect();
        let cost = |m: &str| BY_COST.iter().position(|x| *x == m).unwrap_or(BY_COST.len());
        let best = scores
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| cost(b.0).cmp(&cost(a.0))))
            .map(|(m, _)| m.clone())
            .unwrap_or_default();
        out.push(BestCell { level, kind, model: best, scores, n: qs.len() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::router::train::{
        BUNDLED_PHRASINGS, TrainOptions, fit, labels, phrasing_examples, template_examples,
    };
    use crate::types::{QuestionKind, ScenePaths};

    fn record(id: &str, kind: QuestionKind, question: &str, split: Split) -> QaRecord {
        QaRecord {
            id: id.into(),
            scene: "s".into(),
            scenario: "leo-urban".into(),
            split,
            level: kind.level(),
            kind,
            question: question.into(),
            answer: String::new(),
            choices: vec![],
            bbox: None,
            concepts: vec![],
            images: ScenePaths::default(),
            examples: vec![],
            snr_bin: None,
        }
    }

    #[test]
    fn the_table_groups_by_the_routed_kind_and_picks_the_best_model_cheaper_on_ties() {
        let labels = labels();
        let mut ex = template_examples(0);
        ex.extend(phrasing_examples("b", BUNDLED_PHRASINGS, &labels, 0).unwrap());
        let router = fit(&ex, &labels, &TrainOptions { bits: 12, epochs: 6, ..TrainOptions::default() }).unwrap();
        let records = vec![
            record("a", QuestionKind::Severity, "How severe is the interference overall?", Split::Val),
            record("b", QuestionKind::Severity, "Rate the severity of this map.", Split::Val),
            record("c", QuestionKind::Explain, "Why is there interference here and how do we fix it?", Split::Val),
            record("d", QuestionKind::Severity, "How severe is it overall?", Split::Test),
        ];
        let line = |id: &str, score: f64| RunLine {
            id: id.into(),
            answer: String::new(),
            bbox: None,
            confidence: None,
            out_of_domain: None,
            parsed: true,
            score,
            latency_ms: 0.0,
            raw: String::new(),
            error: None,
        };
        let scores = |m: &str, s: &[(&str, f64)]| ModelRun {
            model: m.into(),
            dir: PathBuf::from(m),
            lines: s.iter().map(|(i, v)| (i.to_string(), line(i, *v))).collect(),
        };
        let runs = [
            scores("cnn", &[("a", 1.0), ("b", 0.0), ("d", 1.0)]),
            scores("vlm", &[("a", 1.0), ("b", 0.0), ("c", 0.8), ("d", 0.0)]),
        ];
        let table = fit_table(&router, &records, &runs, Split::Val).unwrap();
        let l1 = table.iter().find(|c| c.kind == "severity").unwrap();
        // Tied at 0.5: the cheaper CNN; the test question is not counted.
        assert_eq!((l1.level.as_str(), l1.model.as_str(), l1.n), ("L1", "cnn", 2));
        assert_eq!(l1.scores["vlm"], 0.5);
        let l4 = table.iter().find(|c| c.kind == "explain").unwrap();
        // The CNN did not answer it: 0 for it.
        assert_eq!((l4.model.as_str(), l4.scores["cnn"]), ("vlm", 0.0));
        assert!(matches!(fit_table(&router, &records, &runs[..0], Split::Val), Err(TableError::NoQuestions { .. })));
    }
}
