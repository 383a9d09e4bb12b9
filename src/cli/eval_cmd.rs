//! `heatscope eval` scores a predictions file against a SpectrumQA-sim or RadioQA-sim manifest (or a
//! mixed one) and prints the tables (text; JSON and CSV on request); `heatscope baseline prior|rule`
//! writes the baselines' predictions. Runs on the main thread.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::eval::baselines::{Grids, prior_predictions, rule_predictions, tune_rule};
use crate::eval::{ScoreOptions, Weights, check_images, read_manifest, read_predictions, score};
use crate::models::cnn::{ECE_BINS, ece, reliability_svg};
use crate::types::{Prediction, QaRecord, QuestionKind, Split};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Dataset folder (with manifest.jsonl).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Predictions JSONL: one {"id", "answer", optional "box", "confidence"} per line.
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    pub predictions: Option<PathBuf>,
    /// Run a model on the dataset and score its answers instead: `prior` or `rule` (the baselines),
    /// `cnn` (L1-L3), `vlm` (any level, a local Qwen-VL folder via --model-dir or a server via --url),
    /// or `router` (each question routed by --policy to the CNN, the VLM or the rule).
    #[arg(long)]
    pub model: Option<String>,
    /// Keep the run in this folder: predictions.jsonl (one line per question, written as answers
    /// come) and summary.json (settings, model, the report). `eval --predictions DIR/predictions.jsonl`
    /// scores it again.
    #[arg(long, value_name = "DIR", requires = "model")]
    pub run: Option<PathBuf>,
    /// Continue the run in --run (after a crash or a stop) without asking its answered questions
    /// again; the dataset, model and options must be the run's.
    #[arg(long, requires = "run")]
    pub resume: bool,
    /// The model's folder (CNN: config.json, model.safetensors, calibration.json, default the bundled
    /// one, or a torchvision ResNet with heatscope.json; VLM and router: a Qwen-VL folder as published).
    #[arg(long, requires = "model")]
    pub model_dir: Option<PathBuf>,
    #[command(flatten)]
    pub vlm: super::eval_vlm::VlmEvalArgs,
    #[command(flatten)]
    pub router: super::eval_run::RouterEvalArgs,
    /// Also write the model's predictions (JSONL) here.
    #[arg(long, requires = "model")]
    pub save_predictions: Option<PathBuf>,
    /// Write the reliability diagram of the L1 confidences (SVG) here.
    #[arg(long)]
    pub reliability: Option<PathBuf>,
    /// Score only this split (train, val, test); default: every question in the manifest.
    #[arg(long)]
    pub split: Option<String>,
    /// Composite weights of L1 acc, L2 acc, L3 IoU, L4 token F1, e.g. 0.25,0.25,0.25,0.25.
    #[arg(long)]
    pub weights: Option<String>,
    /// Bootstrap resamples for the 95 % intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also write the report as CSV here.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    /// prior (train-split majority answers) or rule (threshold + components on the observed grid,
    /// tuned on val).
    pub kind: String,
    /// Dataset folder (with manifest.jsonl).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Where to write the predictions JSONL.
    #[arg(short, long)]
    pub output: PathBuf,
}

fn parse_split(s: &Option<String>) -> anyhow::Result<Option<Split>> {
    s.as_deref()
        .map(|x| Split::parse(x).with_context(|| format!("unknown split {x:?}; expected train, val or test")))
        .transpose()
}

pub fn run_eval(a: &EvalArgs) -> anyhow::Result<()> {
    // Options first: a typo should not wait for a large manifest.
    let weights = match &a.weights {
        Some(w) => Weights::parse(w).map_err(|e| anyhow::anyhow!("--weights: {e}"))?,
        None => Weights::default(),
    };
    let split = parse_split(&a.split)?;
    let manifest = a.dataset.join("manifest.jsonl");
    let records = read_manifest(&manifest)?;
    // A dataset with missing files is broken; say which before scoring anything. A model run goes on:
    // the questions of scenes whose files are missing are recorded as failed, with the reason.
    if let Err(e) = check_images(&manifest, &a.dataset) {
        if a.model.is_none() {
            return Err(e.into());
        }
        let mut scenes: Vec<&str> = records
            .iter()
            .filter(|r| !a.dataset.join(&r.images.observed).is_file() || !a.dataset.join(&r.images.png).is_file())
            .map(|r| r.scene.as_str())
            .collect();
        scenes.dedup();
        eprintln!(
            "heatscope: WARNING: {e}; {} scenes lack files and their questions will be recorded as failed, with the reason",
            scenes.len()
        );
    }
    let (records, predictions, folder) = match (&a.model, &a.predictions) {
        (Some(kind), _) => {
            let run = super::eval_run::model_run(kind, a, &records, split)?;
            (run.asked, run.predictions, run.folder)
        }
        (None, Some(p)) => (records, read_predictions(p)?, None),
        (None, None) => bail!("pass --predictions FILE or --model prior|rule|cnn|vlm|router"),
    };
    let opts = ScoreOptions { weights, bootstrap: a.bootstrap, seed: a.seed, split };
    let report = score(&records, &predictions, &opts);
    print!("{}", report.to_text());
    if let Some(f) = &folder {
        let json = serde_json::from_str(&report.to_json()).context("the report as JSON")?;
        f.write_summary(records.len(), Some(json))?;
        eprintln!("run kept in {}", f.dir().display());
    }
    calibration_report(a, &records, &predictions, split)?;
    if let Some(p) = &a.json {
        super::write_output(p, report.to_json(), "the JSON report")?;
    }
    if let Some(p) = &a.csv {
        super::write_output(p, report.to_csv(), "the CSV report")?;
    }
    Ok(())
}

/// Expected calibration error of the L1 answers that carry a confidence (the predicted class's
/// probability), and the reliability diagram when asked for.
fn calibration_report(
    a: &EvalArgs,
    records: &[QaRecord],
    predictions: &[Prediction],
    split: Option<Split>,
) -> anyhow::Result<()> {
    let by_id: std::collections::HashMap<&str, &Prediction> = predictions.iter().map(|p| (p.id.as_str(), p)).collect();
    let (mut conf, mut correct) = (Vec::new(), Vec::new());
    for r in records.iter().filter(|r| r.kind == QuestionKind::Severity && split.is_none_or(|s| r.split == s)) {
        if let Some(c) = by_id.get(r.id.as_str()).and_then(|p| p.confidence.map(|c| (c, p))) {
            conf.push(c.0);
            let classes = crate::types::SEVERITY_CLASSES;
            let truth = classes.iter().position(|&x| x == r.answer);
            correct.push(truth.is_some() && crate::eval::metrics::match_option(&c.1.answer, &classes) == truth);
        }
    }
    if conf.is_empty() {
        if a.reliability.is_some() {
            bail!("--reliability needs L1 predictions with a confidence");
        }
        return Ok(());
    }
    let (e, bins) = ece(&conf, &correct, ECE_BINS);
    println!("L1 calibration: ECE {e:.3} ({ECE_BINS} bins) over {} questions with a confidence", conf.len());
    if let Some(p) = &a.reliability {
        let accuracy = correct.iter().filter(|&&c| c).count() as f64 / correct.len() as f64;
        let title = format!("L1 reliability: ECE {e:.3}, accuracy {accuracy:.3}, n = {}", conf.len());
        super::write_output(p, reliability_svg(&bins, &title), "the reliability diagram")?;
    }
    Ok(())
}

pub(super) fn write_predictions(path: &Path, preds: &[Prediction]) -> anyhow::Result<()> {
    let mut out = Vec::new();
    for p in preds {
        serde_json::to_writer(&mut out, p)?;
        out.push(b'\n');
    }
    super::write_output(path, out, "the predictions")
}

pub fn run_baseline(a: &BaselineArgs) -> anyhow::Result<()> {
    let records = read_manifest(&a.dataset.join("manifest.jsonl"))?;
    let preds = match a.kind.as_str() {
        "prior" => prior_predictions(&records)?,
        "rule" => {
            let grids = Grids::load(&a.dataset, &records)?;
            let (params, val) = tune_rule(&records, &grids)?;
            eprintln!(
                "rule tuned on val: threshold {} dB, smoothing {} px (per 128 px); val mean of L1 acc and L3 IoU {val:.3}",
                params.threshold_db, params.smooth_px
            );
            rule_predictions(&records, &grids, &params)
        }
        other => bail!("unknown baseline {other:?}; expected prior or rule"),
    };
    write_predictions(&a.output, &preds)?;
    println!("wrote {} predictions to {}", preds.len(), a.output.display());
    Ok(())
}
