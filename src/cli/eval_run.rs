//! `heatscope eval --model prior|rule|cnn|vlm [--run DIR [--resume]]`: the model named, through the
//! library's runner (`eval::runner`), over the selected questions, with progress on stderr; with
//! `--run` every answer also goes to a run folder (`eval::runs`) as it comes, so a killed run is
//! continued with the same flags and `--resume`. Returns the questions asked and the predictions to
//! score. Runs on the main thread plus the runner's threads.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};

use super::eval_cmd::EvalArgs;
use crate::eval::execute::{ExecuteError, Keep, Plan, execute};
use crate::eval::predictor::{Predictor, PriorPredictor, RulePredictor};
use crate::eval::routed::{Models, RouteSettings, RoutedPredictor, needed};
use crate::eval::runner::{RunEnd, Selection, Step};
use crate::eval::runs::{RunFolder, RunLine};
use crate::models::cnn::{CnnModel, CnnPredictor};
use crate::models::router::policy::{OnAbstain, Policy};
use crate::types::{Prediction, QaRecord, Split};

/// What `--model router` needs beyond the dataset and the VLM's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct RouterEvalArgs {
    /// The routing policy: oracle, learned, best-on-val, cascade, cnn-only, vlm-only or rule-only.
    #[arg(long, default_value = "best-on-val")]
    pub policy: String,
    /// The router folder (default the bundled models/router).
    #[arg(long, value_name = "DIR")]
    pub router: Option<PathBuf>,
    /// The CNN the router sends questions to (default the bundled one).
    #[arg(long, value_name = "DIR")]
    pub cnn_dir: Option<PathBuf>,
    /// The radio CNN the router sends RadioQA questions to (default the bundled one; loaded when the
    /// dataset has radio questions and the policy routes).
    #[arg(long, value_name = "DIR")]
    pub radio_dir: Option<PathBuf>,
    /// What a question the router abstains on gets: vlm (the VLM answers) or ask (no answer).
    #[arg(long, default_value = "vlm")]
    pub on_abstain: String,
    /// The cascade hands a question to the VLM when the CNN's confidence is below this.
    #[arg(long, default_value_t = 0.5)]
    pub cascade_threshold: f64,
}

/// The CNN in `dir` (default the bundled one), with its warnings on stderr.
fn load_cnn(dir: Option<&std::path::Path>) -> anyhow::Result<CnnPredictor> {
    let device = crate::models::compute_device();
    let model = match dir {
        Some(dir) => {
            CnnModel::load(dir, &device.device).with_context(|| format!("loading the CNN from {}", dir.display()))?
        }
        None => CnnModel::bundled(&device.device).context("loading the bundled CNN")?,
    };
    if let Some(why) = model.uncalibrated() {
        eprintln!("heatscope: WARNING: {why}");
    }
    eprintln!("CNN on {}", device.label);
    Ok(CnnPredictor::of(Arc::new(model), dir))
}

/// The router and the models its policy needs.
fn routed(a: &EvalArgs, records: &[QaRecord]) -> anyhow::Result<RoutedPredictor> {
    let r = &a.router;
    let policy = Policy::parse(&r.policy).map_err(|e| anyhow::anyhow!("--policy: {e}"))?;
    let on_abstain = OnAbstain::parse(&r.on_abstain).map_err(|e| anyhow::anyhow!("--on-abstain: {e}"))?;
    if !(0.0..=1.0).contains(&r.cascade_threshold) {
        bail!("--cascade-threshold must be between 0 and 1");
    }
    let router = Arc::new(super::route_cmd::load_router(r.router.as_ref())?);
    let need = needed(policy, &router, on_abstain);
    let mut models = Models::default();
    if need.contains(&"cnn") {
        models.cnn = Some(Box::new(load_cnn(r.cnn_dir.as_deref())?));
    }
    if need.contains(&"rule") {
        models.rule = Some(predictor("rule", a, records)?);
    }
    if need.contains(&"vlm") {
        models.vlm = Some(Box::new(a.vlm.predictor(a.model_dir.as_ref(), records)?));
    }
    let routes = matches!(policy, Policy::Learned | Policy::BestOnVal | Policy::Cascade);
    if routes && records.iter().any(|q| q.kind.is_radio()) {
        models.radio = Some(Box::new(super::cnn_cmd::load_radio(r.radio_dir.as_deref())?));
    }
    let settings = RouteSettings { policy, on_abstain, cascade_threshold: r.cascade_threshold };
    RoutedPredictor::new(router, settings, models).map_err(anyhow::Error::msg)
}

/// The model `kind` names, built from the flags.
fn predictor(kind: &str, a: &EvalArgs, records: &[QaRecord]) -> anyhow::Result<Box<dyn Predictor>> {
    Ok(match kind {
        "prior" => Box::new(PriorPredictor::new(records)?),
        "rule" => {
            let (rule, score) = RulePredictor::tuned(&a.dataset, records)?;
            let p = rule.params;
            eprintln!(
                "rule tuned on val: threshold {} dB, smoothing {} px (per 128 px); val mean of L1 acc and L3 IoU {score:.3}",
                p.threshold_db, p.smooth_px
            );
            Box::new(rule)
        }
        "cnn" => Box::new(load_cnn(a.model_dir.as_deref())?),
        "cnn-radio" => Box::new(super::cnn_cmd::load_radio(a.model_dir.as_deref())?),
        "vlm" => Box::new(a.vlm.predictor(a.model_dir.as_ref(), records)?),
        "router" => Box::new(routed(a, records)?),
        other => bail!("unknown model {other:?}; expected prior, rule, cnn, cnn-radio, vlm or router"),
    })
}

/// The options of `kind` that change its answers (recorded in a run and checked on resume).
fn options(kind: &str, a: &EvalArgs) -> serde_json::Value {
    match kind {
        "vlm" => serde_json::json!({"shots": a.vlm.shots, "cot": a.vlm.cot, "max_tokens": a.vlm.max_tokens}),
        "router" => serde_json::json!({
            "policy": a.router.policy, "on_abstain": a.router.on_abstain,
            "cascade_threshold": a.router.cascade_threshold,
            "shots": a.vlm.shots, "cot": a.vlm.cot, "max_tokens": a.vlm.max_tokens,
        }),
        _ => serde_json::json!({}),
    }
}

/// What a model run gives back: the questions asked, the predictions (with `--run`, every answer in
/// the run folder, those of earlier runs included) and the run folder, whose summary the caller
/// writes with the report.
pub struct ModelRun {
    pub asked: Vec<QaRecord>,
    pub predictions: Vec<Prediction>,
    pub folder: Option<RunFolder>,
}

/// Run `kind` over the selected records.
pub fn model_run(kind: &str, a: &EvalArgs, records: &[QaRecord], split: Option<Split>) -> anyhow::Result<ModelRun> {
    let model = predictor(kind, a, records)?;
    let selection = Selection { split, levels: a.vlm.levels()?, limit: a.vlm.limit };
    let keep = match &a.run {
        Some(dir) if a.resume => Keep::Resume(dir.clone()),
        Some(dir) => Keep::New(dir.clone()),
        None => Keep::Nothing,
    };
    let how = match kind {
        "vlm" => format!(
            ", {} shots{}, {} in flight",
            a.vlm.shots,
            if a.vlm.cot { ", chain of thought" } else { "" },
            a.vlm.parallel
        ),
        _ => String::new(),
    };
    let name = model.identity().name;
    let mut on_start = |left: usize, before: usize, _: &[RunLine]| {
        let before = if before == 0 { String::new() } else { format!(" ({before} answered before)") };
        eprintln!("{name} answers {left} questions{how}{before}");
    };
    let mut on_step = |step: &Step<'_>, _: &[RunLine]| {
        eprint!(
            "\r{}/{} questions, {:.1}/s, about {:.0} s left   ",
            step.done,
            step.total,
            step.rate(),
            step.eta_s().min(1e9)
        );
        let _ = std::io::stderr().flush();
    };
    let plan = Plan { dataset: a.dataset.clone(), selection, options: options(kind, a), keep };
    let run =
        execute(&plan, records, model.as_ref(), &AtomicBool::new(false), &mut on_start, &mut on_step).map_err(|e| {
            match e {
                ExecuteError::NothingToAsk => {
                    anyhow::anyhow!("no questions match the split, --levels and what the {kind} model answers")
                }
                other => anyhow::Error::new(other),
            }
        })?;
    eprintln!();
    let failed = run.failed();
    if failed > 0 {
        eprintln!(
            "{failed} questions got no answer and count as wrong (their reasons are in the predictions' \"error\")"
        );
    }
    match run.end {
        Ok(RunEnd::Finished) => {}
        Ok(RunEnd::Cancelled) => bail!("the run was cancelled"),
        Err(e) => {
            let keep = match &run.folder {
                Some(f) => format!(
                    "; {} keeps {} answers: run the same command with --resume to continue",
                    f.dir().display(),
                    run.lines.len()
                ),
                None => String::new(),
            };
            return Err(anyhow::Error::new(e)).with_context(|| format!("the run stopped{keep}"));
        }
    }
    let asked: Vec<QaRecord> = run.asked.into_iter().cloned().collect();
    let predictions: Vec<Prediction> = run.lines.iter().map(RunLine::prediction).collect();
    if let Some(p) = &a.save_predictions {
        super::eval_cmd::write_predictions(p, &predictions)?;
    }
    Ok(ModelRun { asked, predictions, folder: run.folder })
}
