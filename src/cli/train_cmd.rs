//! `heatscope train cnn --dataset DIR --out DIR`: train the SpectrumQA CNN with progress and ETA,
//! validation each epoch and resumable checkpoints. Runs on the main thread.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::models::cnn::{
    CnnConfig, CnnModel, TrainEvent, TrainOptions, evaluate, fit_calibration, load_examples, load_model, load_weights,
    train, write_f16,
};
use crate::types::Split;

#[derive(Debug, clap::Subcommand)]
pub enum TrainCommand {
    /// Train the CNN (L1 severity, L3 box, L2 regions) on a SpectrumQA-sim dataset's train split,
    /// validating on its val split each epoch.
    Cnn(CnnArgs),
    /// Train a small VLM of the engine's architecture from scratch (own tokenizer) on a dataset's L2
    /// and L4 questions; writes a model folder `heatscope ask --model` and `eval --model vlm` read.
    Vlm(super::train_vlm::VlmTrainArgs),
    /// Train the GSD estimator on real remote-sensing images (scale augmentation and degradation),
    /// optionally scored leave-one-scene-out, its sigma calibrated on those held-out scores.
    Gsd(super::train_gsd::GsdTrainArgs),
    /// Train the question router (kind, level, regions from the text alone) on the generator's
    /// question families and hand-written phrasings; validate on held-out families and free-form text.
    Router(super::train_router::RouterTrainArgs),
    /// Fit a CNN folder's domain check (domain.json) on datasets' train and val maps: what counts as
    /// the kind of input it was trained on (`train cnn` does this itself).
    Domain(super::cnn_cmd::DomainArgs),
    /// Fit a VLM folder's image domain check (domain.json) on datasets' rendered maps: the local
    /// engine then says whether an image is the kind the model was trained on.
    VlmDomain(super::vlm_domain::VlmDomainArgs),
    /// Train the radio morphology CNN (the six RadioQA tasks) on a RadioQA-sim dataset (`data radio`),
    /// calibrate it on val and score it on test.
    CnnRadio(super::train_radio::RadioTrainArgs),
}

#[derive(Debug, clap::Args)]
pub struct CnnArgs {
    /// Dataset folder (heatscope data spectrum); repeat it to train on several (e.g. the benchmark's
    /// and one made with --observation varied --physics varied): train and val splits of all of them.
    #[arg(long, required = true)]
    pub dataset: Vec<PathBuf>,
    /// Output folder: model.safetensors + config.json (best on val), last.safetensors + state.json.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Peak learning rate (AdamW; linear warm-up, cosine decay).
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Channels of the first stage (ResNet-18 uses 64).
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Network input side (a multiple of 8 x stem stride); grids are resized to it.
    #[arg(long, default_value_t = 128)]
    pub input: usize,
    /// Downsampling of the first convolution (1, 2 or 4); the exceedance mask is input / stride a side.
    #[arg(long, default_value_t = 4)]
    pub stem_stride: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Turn off the flip/transpose augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Train and validate on this scenario only (leo-urban, geo-rural, haps-coastal): the
    /// cross-scenario experiments.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
}

fn scenario_names() -> String {
    crate::sim::Scenario::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

pub fn run(cmd: &TrainCommand) -> anyhow::Result<()> {
    let a = match cmd {
        TrainCommand::Cnn(a) => a,
        TrainCommand::Vlm(a) => return super::train_vlm::run(a),
        TrainCommand::Gsd(a) => return super::train_gsd::run(a),
        TrainCommand::Router(a) => return super::train_router::run(a),
        TrainCommand::Domain(a) => return super::cnn_cmd::run_domain(a),
        TrainCommand::VlmDomain(a) => return super::vlm_domain::run(a),
        TrainCommand::CnnRadio(a) => return super::train_radio::run(a),
    };
    let config = CnnConfig {
        width: a.width,
        input: a.input,
        stem_stride: a.stem_stride,
        trained_on: a.scenario.clone(),
        ..CnnConfig::default()
    };
    config.validate().map_err(|e| anyhow::anyhow!("invalid network: {e}"))?;
    if a.out.join("state.json").is_file() && !a.resume {
        bail!("{} already holds a training run; pass --resume to continue it or choose another --out", a.out.display());
    }
    if let Some(s) = &a.scenario
        && crate::sim::Scenario::parse(s).is_none()
    {
        bail!("unknown scenario {s:?}; expected one of {}", scenario_names());
    }
    let mut examples = Vec::new();
    for d in &a.dataset {
        eprintln!("reading {} ...", d.display());
        examples.extend(load_examples(d, a.input)?);
    }
    let (train_set, val_set): (Vec<_>, Vec<_>) = examples
        .into_iter()
        .filter(|e| e.split != Split::Test && a.scenario.as_ref().is_none_or(|s| &e.scenario == s))
        .partition(|e| e.split == Split::Train);
    let opts = TrainOptions {
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        weight_decay: a.weight_decay,
        seed: a.seed,
        augment: !a.no_augment,
        resume: a.resume,
    };
    let device = crate::models::compute_device();
    eprintln!(
        "training on {} scenes, validating on {}, {} ({} epochs, batch {}, input {} px, width {})",
        train_set.len(),
        val_set.len(),
        device.label,
        a.epochs,
        a.batch,
        a.input,
        a.width
    );
    let start = Instant::now();
    let mut last_print = 0.0f64;
    let state = train(&train_set, &val_set, &config, &opts, &a.out, &device.device, &mut |event| {
        match event {
            TrainEvent::Step { epoch, step, steps, loss, eta_s } => {
                let el = start.elapsed().as_secs_f64();
                if el - last_print >= 1.0 || step == steps {
                    last_print = el;
                    eprint!("\repoch {epoch} step {step}/{steps}  loss {:.3}  ETA {:.0} s   ", loss.total, eta_s);
                    let _ = std::io::stderr().flush();
                }
            }
            TrainEvent::Epoch(r) => {
                eprintln!(
                    "\repoch {:3}  train loss {:.3}  val L1 acc {:.3}  val L3 IoU {:.3} (box head) {:.3} (mask)  {:.0} s{}",
                    r.epoch,
                    r.train_loss,
                    r.val_l1,
                    r.val_iou,
                    r.val_iou_mask,
                    r.seconds,
                    if r.best { "  (best, saved)" } else { "" }
                );
            }
        }
        true
    })
    .with_context(|| format!("training into {}", a.out.display()))?;
    println!(
        "done: best val score {:.3} at epoch {} -> {}",
        state.best_score,
        state.best_epoch,
        a.out.join("model.safetensors").display()
    );
    // Calibrate the best checkpoint on val: temperature, L3 source and mask threshold.
    let net = load_model(&a.out, &device.device)?;
    let cal = fit_calibration(&net, &val_set, &device.device)?;
    let path = a.out.join("calibration.json");
    super::write_output(&path, serde_json::to_vec_pretty(&cal)?, "the calibration")?;
    println!(
        "calibrated on {} val scenes: temperature {:.3} (NLL {:.3} -> {:.3}, ECE {:.3} -> {:.3}); L3 from {:?} at {:.2} (upsampled to {}), val IoU {:.3}; val L1 head {:.3}, mask share {:.3}, pooled (weight {:.1}, spread {:.2}) {:.3}; val L2 affected head {:.3}, mask {:.3} -> {}",
        cal.val_scenes,
        cal.temperature,
        cal.val_nll_before,
        cal.val_nll_after,
        cal.val_ece_before,
        cal.val_ece_after,
        cal.l3_source,
        cal.mask_threshold,
        cal.mask_upsample,
        cal.val_iou,
        cal.val_l1_head,
        cal.val_l1_mask,
        cal.share_weight,
        cal.share_spread,
        cal.val_l1,
        cal.val_regions_head,
        cal.val_regions_mask,
        path.display()
    );
    // What counts as in domain: the maps of every dataset trained on (covariance on train, limit on val).
    let model = CnnModel::load_without_domain(&a.out, &device.device)?;
    super::cnn_cmd::write_domain(&a.out, &super::cnn_cmd::fit_domain(&model, &train_set, &val_set, 0.995)?)?;
    // A half-precision copy, and whether accuracy holds with it.
    let half = a.out.join("model.f16.safetensors");
    write_f16(&a.out.join("model.safetensors"), &half)?;
    // The best epoch's report holds the f32 checkpoint's val scores (the reloaded model scores the same).
    let full = state.history.iter().find(|r| r.epoch == state.best_epoch);
    let h = evaluate(&load_weights(&config, &half, &device.device)?, &val_set, &device.device)?;
    println!(
        "f16 copy -> {}: val L1 {:.3} (f32 {:.3}), L3 IoU from the mask {:.3} (f32 {:.3})",
        half.display(),
        h.l1,
        full.map_or(f64::NAN, |r| r.val_l1),
        h.iou_mask,
        full.map_or(f64::NAN, |r| r.val_iou_mask)
    );
    Ok(())
}
