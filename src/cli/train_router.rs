//! `heatscope train router --out DIR`: train the question router on the generator's question families
//! and the hand-written phrasings (bundled, plus any `--phrasings FILE`), validate it on held-out
//! template families and on a labelled free-form file, and write the model folder with
//! `validation.json` (scores, confusion matrices, mistakes). Seconds on one core. Main thread.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::models::router::train::{
    BUNDLED_PHRASINGS, RouteScores, TrainOptions, fit, held_out_families, held_out_phrasings, labels,
    phrasing_examples, read_labelled, score, template_examples,
};

#[derive(Debug, clap::Args)]
pub struct RouterTrainArgs {
    /// Output folder: config.json, model.safetensors, validation.json.
    #[arg(long)]
    pub out: PathBuf,
    /// More phrasings to train on (`kind<TAB>question` per line, `{r}`, `{a}`, `{b}` for regions),
    /// besides the bundled models/router/phrasings.tsv. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub phrasings: Vec<PathBuf>,
    /// Labelled free-form questions to score the router on (`level<TAB>kind<TAB>regions<TAB>question`),
    /// never trained on, e.g. tests/data/router_freeform.tsv. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub freeform: Vec<PathBuf>,
    /// Runs of the single models (cnn, vlm, rule; one each) on a dataset's val split: the best-on-val
    /// table (which model scored best for each predicted level and kind) is fitted from them and
    /// shipped in config.json.
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// The runs' dataset folder (default: the one their summary names).
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,
    /// Features are hashed into 2^bits buckets.
    /// Keep the best-on-val table of this router folder (its config.json) instead of fitting one
    /// from --runs: the table is keyed by level and kind, so a retrained classifier can reuse it.
    #[arg(long, value_name = "DIR", conflicts_with = "runs")]
    pub table_from: Option<PathBuf>,
    #[arg(long, default_value_t = 15)]
    pub bits: u32,
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
    /// Below this probability of its best class the router abstains (0.35: best level accuracy on
    /// held-out phrasings).
    #[arg(long, default_value_t = 0.35)]
    pub threshold: f32,
    /// SGD learning rate (decays each epoch).
    #[arg(long, default_value_t = 0.4)]
    pub lr: f32,
    /// L2 weight decay.
    #[arg(long, default_value_t = 1e-6)]
    pub l2: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Skip the held-out-family validation (six extra fits).
    #[arg(long)]
    pub no_validate: bool,
}

fn print_scores(what: &str, s: &RouteScores) {
    println!(
        "{what}: {} questions, level accuracy {:.4}, kind accuracy {:.4}, coverage {:.4}{}",
        s.n,
        s.level_accuracy,
        s.kind_accuracy,
        s.coverage,
        if s.n > s.in_scope {
            format!(
                ", in-scope level accuracy {:.4}, out-of-scope recall {:.4}{}",
                s.in_scope_level_accuracy,
                s.out_of_scope_recall,
                if s.with_regions > 0 {
                    format!(", regions read {:.4} of {}", s.region_accuracy, s.with_regions)
                } else {
                    String::new()
                }
            )
        } else {
            String::new()
        }
    );
}

fn print_confusion(title: &str, m: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>>) {
    let mut cols: Vec<&String> = m.values().flat_map(|r| r.keys()).collect();
    cols.sort();
    cols.dedup();
    println!("{title} (rows: truth, columns: routed)");
    print!("{:>16}", "");
    for c in &cols {
        print!(" {:>15}", c);
    }
    println!();
    for (t, row) in m {
        print!("{t:>16}");
        for c in &cols {
            print!(" {:>15}", row.get(*c).copied().unwrap_or(0));
        }
        println!();
    }
}

pub fn run(a: &RouterTrainArgs) -> anyhow::Result<()> {
    if !(4..=22).contains(&a.bits) {
        anyhow::bail!("--bits must be 4-22 (2^bits buckets per label)");
    }
    if !(0.0..=1.0).contains(&a.threshold) {
        anyhow::bail!("--threshold must be between 0 and 1");
    }
    let labels = labels();
    let opts =
        TrainOptions { bits: a.bits, epochs: a.epochs, threshold: a.threshold, seed: a.seed, lr: a.lr, l2: a.l2 };
    let templates = template_examples(a.seed);
    let mut phrasings = phrasing_examples("models/router/phrasings.tsv (bundled)", BUNDLED_PHRASINGS, &labels, a.seed)?;
    for p in &a.phrasings {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        phrasings.extend(phrasing_examples(&p.display().to_string(), &text, &labels, a.seed)?);
    }
    let mut freeform = Vec::new();
    for p in &a.freeform {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let name = p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned());
        freeform.push((name, read_labelled(&p.display().to_string(), &text)?));
    }
    println!(
        "{} labels; {} template questions ({} families a kind), {} phrasing questions",
        labels.len(),
        templates.len(),
        templates.iter().filter_map(|e| e.family).max().map_or(0, |m| m + 1),
        phrasings.len()
    );
    let mut validation = serde_json::Map::new();
    if !a.no_validate {
        let start = Instant::now();
        let (bare, wrapped) = held_out_families(&templates, &phrasings, &labels, &opts)?;
        print_scores("held-out families, as typed", &bare);
        print_scores("held-out families, as the dataset asks", &wrapped);
        print_confusion("held-out families (as typed), level", &bare.level_confusion);
        print_confusion("held-out families (as typed), kind", &bare.kind_confusion);
        let phr = held_out_phrasings(&templates, &phrasings, &labels, &opts, 5)?;
        print_scores("held-out phrasings (5 folds)", &phr);
        validation.insert("held_out_phrasings".into(), serde_json::to_value(&phr)?);
        println!("validation took {:.1} s", start.elapsed().as_secs_f64());
        validation.insert("held_out_families_bare".into(), serde_json::to_value(&bare)?);
        validation.insert("held_out_families_wrapped".into(), serde_json::to_value(&wrapped)?);
    }
    let start = Instant::now();
    let all: Vec<_> = templates.iter().chain(&phrasings).cloned().collect();
    let router = fit(&all, &labels, &opts)?;
    let train_s = start.elapsed().as_secs_f64();
    println!("trained on {} questions (and a typo'd copy of each) in {train_s:.2} s", all.len());
    for (name, items) in &freeform {
        let s = score(&router, items);
        print_scores(&format!("free-form {name}"), &s);
        print_confusion(&format!("free-form {name}, level"), &s.level_confusion);
        print_confusion(&format!("free-form {name}, kind"), &s.kind_confusion);
        for m in &s.mistakes {
            println!("  {m}");
        }
        validation.insert(format!("freeform {name}"), serde_json::to_value(&s)?);
    }
    validation.insert("train_seconds".into(), train_s.into());
    let mut router = router;
    if !a.runs.is_empty() {
        best_on_val(&mut router, a)?;
    } else if let Some(dir) = &a.table_from {
        let old = crate::models::router::Router::load(dir)
            .with_context(|| format!("reading the best-on-val table of {}", dir.display()))?;
        println!("best-on-val table kept from {} ({} cells)", dir.display(), old.config.best_on_val.len());
        router.config.best_on_val = old.config.best_on_val;
        router.config.best_on_val_from = old.config.best_on_val_from;
    }
    router.save(&a.out).with_context(|| format!("writing {}", a.out.display()))?;
    let json = serde_json::to_string_pretty(&serde_json::Value::Object(validation))? + "\n";
    crate::io::atomic::write(&a.out.join("validation.json"), json.as_bytes())?;
    println!("wrote {}", a.out.display());
    Ok(())
}

/// Fit the best-on-val table from `--runs` and print it.
fn best_on_val(router: &mut crate::models::router::Router, a: &RouterTrainArgs) -> anyhow::Result<()> {
    use crate::eval::route_table::{check_runs, fit_table, read_run};
    let runs = a.runs.iter().map(|d| read_run(d)).collect::<Result<Vec<_>, _>>()?;
    check_runs(&runs)?;
    let dataset = a.dataset.clone().unwrap_or_else(|| runs[0].2.clone());
    let manifest = dataset.join("manifest.jsonl");
    let records = crate::eval::read_manifest(&manifest)
        .with_context(|| format!("reading the runs' dataset {} (pass --dataset DIR if it moved)", dataset.display()))?;
    let sum = crate::io::checksum::of_file(&manifest, None).map(|(_, h)| h).unwrap_or_default();
    if sum != runs[0].1 {
        anyhow::bail!(
            "{} is not the runs' dataset (its manifest's checksum differs); pass --dataset DIR",
            dataset.display()
        );
    }
    let scores: Vec<_> = runs.into_iter().map(|r| r.0).collect();
    let table = fit_table(router, &records, &scores, crate::types::Split::Val)?;
    println!("best on val (the router's level and kind of each val question; mean score per model):");
    for c in &table {
        let s: Vec<String> = c.scores.iter().map(|(m, v)| format!("{m} {v:.3}")).collect();
        println!("  {} {:<16} n={:<5} -> {:<4} ({})", c.level, c.kind, c.n, c.model, s.join(", "));
    }
    let from: Vec<String> = scores.iter().map(|m| format!("{}={}", m.model, m.dir.display())).collect();
    router.config.best_on_val = table;
    router.config.best_on_val_from = Some(format!("val split of {}; runs {}", dataset.display(), from.join(", ")));
    Ok(())
}
