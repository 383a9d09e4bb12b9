//! `heatscope train cnn-radio --dataset DIR --out DIR`: the radio morphology CNN trained on a
//! RadioQA-sim dataset's train split, validated on its val split each epoch, then calibrated (one
//! temperature per task on val), given its domain check (`domain.json`: pooled features and input
//! statistics of the train cutouts, the limit on val) and scored on the test split per task. With
//! `--refit`, the model already in --out is only calibrated and given its domain check. Main thread.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::models::cnn::{ECE_BINS, TrainOptions, confidences};
use crate::models::cnn_radio::{
    RadioConfig, RadioEvent, RadioExample, RadioLoad, TASKS, accuracy, calibrate, load_net, load_radio_examples,
    logits_of, task_span, train,
};
use crate::types::Split;

#[derive(Debug, clap::Args)]
pub struct RadioTrainArgs {
    /// RadioQA-sim dataset folder (`heatscope data radio`); repeat for several.
    #[arg(long, required = true)]
    pub dataset: Vec<PathBuf>,
    /// Output folder: model.safetensors, config.json, calibration.json (and last.safetensors,
    /// optimizer.safetensors, state.json to resume).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Channels of the first stage.
    #[arg(long, default_value_t = 16)]
    pub width: usize,
    /// Input side in pixels.
    #[arg(long, default_value_t = 96)]
    pub input: usize,
    #[arg(long, default_value_t = 2)]
    pub stem_stride: usize,
    /// Input channels: 4 (display stretch, significance, the source finder's islands and peaks) or 2
    /// (the first two).
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    /// Symmetries of the square each cutout is read in at inference, averaged: 1 or 8 (default 8 for
    /// a new model; with --refit, the folder's config keeps its own unless this is given).
    #[arg(long)]
    pub symmetries: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub no_augment: bool,
    /// Start from the weights of the model in this folder (e.g. models/cnn-radio) instead of random
    /// ones: fine-tuning on more data. Its architecture must match the one asked for.
    #[arg(long, conflicts_with = "refit")]
    pub init: Option<PathBuf>,
    /// Continue the run in --out.
    #[arg(long)]
    pub resume: bool,
    /// Do not train: calibrate the model already in --out and fit its domain check (domain.json).
    #[arg(long, conflicts_with = "resume")]
    pub refit: bool,
    /// Share of in-domain val cutouts inside the domain check's limit.
    #[arg(long, default_value_t = 0.995)]
    pub quantile: f64,
    /// Which labels the train split's scenes carry: `scene` (every label in the scene's metadata
    /// file) or `asked` (only the manifest's class-balanced questions). Val and test always use the
    /// manifest's.
    #[arg(long, value_enum, default_value_t = TrainLabels::Scene)]
    pub labels: TrainLabels,
    /// Share of training steps that read a scene's 8-bit PNG rendering instead of its FITS cutout,
    /// so the model also reads PNG cutouts (0 = FITS only).
    #[arg(long, default_value_t = 0.25)]
    pub rendering_share: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainLabels {
    Scene,
    Asked,
}

pub fn run(a: &RadioTrainArgs) -> anyhow::Result<()> {
    let config = RadioConfig {
        width: a.width,
        input: a.input,
        stem_stride: a.stem_stride,
        channels: a.channels,
        symmetries: a.symmetries.unwrap_or(RadioConfig::default().symmetries),
        ..RadioConfig::default()
    };
    config.validate().map_err(|e| anyhow::anyhow!("invalid network: {e}"))?;
    if a.out.join("state.json").is_file() && !a.resume && !a.refit {
        bail!(
            "{} already holds a training run; pass --resume to continue it, --refit to recalibrate it, or choose another --out",
            a.out.display()
        );
    }
    if a.refit && !a.out.join("model.safetensors").is_file() {
        bail!("--refit: {} holds no model.safetensors to calibrate", a.out.display());
    }
    if !(0.5..1.0).contains(&a.quantile) {
        bail!("--quantile {} must be in [0.5, 1)", a.quantile);
    }
    if !(0.0..=1.0).contains(&a.rendering_share) {
        bail!("--rendering-share {} is not in [0, 1]", a.rendering_share);
    }
    // A refit reads the cutouts as the model in --out was trained to.
    let config = if a.refit {
        let path = a.out.join("config.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let saved = serde_json::from_str::<RadioConfig>(&text)
            .with_context(|| format!("{} is not a radio CNN config", path.display()))?;
        match a.symmetries {
            Some(symmetries) if symmetries != saved.symmetries => {
                let config = RadioConfig { symmetries, ..saved };
                config.validate().map_err(|e| anyhow::anyhow!("--symmetries: {e}"))?;
                super::write_output(&path, serde_json::to_vec_pretty(&config)?, "the model config")?;
                println!("{}: inference now averages {symmetries} symmetries of each cutout", path.display());
                config
            }
            _ => saved,
        }
    } else {
        config
    };
    let load = RadioLoad {
        side: config.input,
        channels: config.channels,
        splits: Split::ALL.to_vec(),
        threads: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        scene_labels: a.labels == TrainLabels::Scene,
        renderings: a.rendering_share > 0.0,
    };
    let (mut train_set, mut val_set, mut test_set) = (Vec::new(), Vec::new(), Vec::new());
    for d in &a.dataset {
        eprintln!("reading {} ...", d.display());
        for e in load_radio_examples(d, &load)? {
            match e.split {
                Split::Train => train_set.push(e),
                Split::Val => val_set.push(e),
                Split::Test => test_set.push(e),
            }
        }
    }
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
    let labelled: Vec<String> = TASKS
        .iter()
        .enumerate()
        .map(|(t, k)| format!("{} {}", k.name(), train_set.iter().filter(|e| e.labels[t].is_some()).count()))
        .collect();
    eprintln!("train labels ({:?}): {}", a.labels, labelled.join(", "));
    if a.refit {
        println!("refitting the calibration and domain check of {}", a.out.display());
    } else {
        eprintln!(
            "training on {} scenes ({:.0} % of steps on PNG renderings), validating on {}, {} ({} epochs, batch {}, input {} px, width {})",
            train_set.len(),
            100.0 * if load.renderings { a.rendering_share } else { 0.0 },
            val_set.len(),
            device.label,
            a.epochs,
            a.batch,
            a.input,
            a.width
        );
        train_epochs(a, &config, &opts, &train_set, &val_set, &device.device)?;
    }
    // Calibrate the best checkpoint on val.
    let net = load_net(&a.out, &device.device)?;
    let cal = calibrate(&net, &val_set, &device.device)?;
    let path = a.out.join("calibration.json");
    super::write_output(&path, serde_json::to_vec_pretty(&cal)?, "the calibration")?;
    for ((name, t), ((_, before), (_, after))) in cal.temperature.iter().zip(cal.ece_before.iter().zip(&cal.ece_after))
    {
        println!("calibrated {name}: temperature {t:.3}, val ECE {before:.3} -> {after:.3}");
    }
    fit_domain(a, &train_set, &val_set, &device.device)?;
    if !test_set.is_empty() {
        let logits = logits_of(&net, &test_set, &device.device)?;
        let acc = accuracy(&logits, &test_set);
        println!("test split ({} scenes), calibrated:", test_set.len());
        for (task, kind) in TASKS.iter().enumerate() {
            let (start, len) = task_span(task);
            let (rows, labels): (Vec<Vec<f32>>, Vec<usize>) = logits
                .iter()
                .zip(&test_set)
                .filter_map(|(row, e)| e.labels[task].map(|c| (row[start..start + len].to_vec(), c)))
                .unzip();
            let (conf, right) = confidences(&rows, &labels, cal.temperature_of(task));
            let ece = crate::models::cnn::ece(&conf, &right, ECE_BINS).0;
            println!("  {:<10} accuracy {:.3}  ECE {ece:.3}  ({} scenes)", kind.name(), acc[task], rows.len());
        }
    }
    Ok(())
}

/// Train (or resume) into `a.out`, printing progress.
fn train_epochs(
    a: &RadioTrainArgs,
    config: &RadioConfig,
    opts: &TrainOptions,
    train_set: &[RadioExample],
    val_set: &[RadioExample],
    device: &candle_core::Device,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut last_print = 0.0f64;
    let state =
        train(train_set, val_set, config, opts, a.rendering_share, a.init.as_deref(), &a.out, device, &mut |event| {
            match event {
                RadioEvent::Step { epoch, step, steps, loss, eta_s } => {
                    let el = start.elapsed().as_secs_f64();
                    if el - last_print >= 1.0 || step == steps {
                        last_print = el;
                        eprint!("\repoch {epoch} step {step}/{steps}  loss {loss:.3}  ETA {eta_s:.0} s   ");
                        let _ = std::io::stderr().flush();
                    }
                }
                RadioEvent::Epoch(r) => {
                    let per_task: Vec<String> =
                        TASKS.iter().zip(r.val_accuracy).map(|(k, acc)| format!("{} {acc:.3}", k.name())).collect();
                    eprintln!(
                        "\repoch {:3}  train loss {:.3}  val mean acc {:.3} ({})  {:.0} s{}",
                        r.epoch,
                        r.train_loss,
                        r.val_score,
                        per_task.join(", "),
                        r.seconds,
                        if r.best { "  (best, saved)" } else { "" }
                    );
                }
            }
            true
        })
        .with_context(|| format!("training into {}", a.out.display()))?;
    println!("done: best val mean accuracy {:.3} at epoch {}", state.best_score, state.best_epoch);
    Ok(())
}

/// Fit the domain check of the model in `a.out` (observed cutouts and, where read, their PNG
/// renderings: mean and covariance on train, the limit on val) and write `domain.json`.
fn fit_domain(
    a: &RadioTrainArgs,
    train_set: &[RadioExample],
    val_set: &[RadioExample],
    device: &candle_core::Device,
) -> anyhow::Result<()> {
    let model = crate::models::cnn_radio::RadioCnn::load(&a.out, device)?;
    fn both(set: &[RadioExample]) -> Vec<&[f32]> {
        set.iter().flat_map(|e| std::iter::once(e.x.as_slice()).chain(e.rendering.as_deref())).collect()
    }
    let (train, val) = (both(train_set), both(val_set));
    let vectors = |xs: &[&[f32]]| model.domain_vectors(xs);
    let domain = crate::models::cnn::domain::DomainModel::fit(
        &vectors(&train)?,
        &vectors(&val)?,
        a.quantile,
        super::cnn_cmd::DOMAIN_SHRINKAGE,
    )
    .map_err(|e| anyhow::anyhow!("fitting the domain check: {e}"))?;
    super::write_output(&a.out.join("domain.json"), serde_json::to_vec_pretty(&domain)?, "the domain check")?;
    println!(
        "domain check: {} features, fitted on {} train cutouts, limit at the {:.1} % quantile of {} val cutouts",
        domain.dims,
        train.len(),
        100.0 * a.quantile,
        val.len()
    );
    Ok(())
}
