//! `heatscope train cnn --dataset DIR --out DIR`: train the SpectrumQA CNN with progress and ETA,
//! validation each epoch and resumable checkpoints. Runs on the main thread.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::models::cnn::{CnnConfig, TrainEvent, TrainOptions, load_examples, train};
use crate::types::Split;

#[derive(Debug, clap::Subcommand)]
pub enum TrainCommand {
    /// Train the CNN (L1 severity, L3 box, L2 regions) on a SpectrumQA-sim dataset's train split,
    /// validating on its val split each epoch.
    Cnn(CnnArgs),
}

#[derive(Debug, clap::Args)]
pub struct CnnArgs {
    /// Dataset folder (heatscope data spectrum).
    #[arg(long)]
    pub dataset: PathBuf,
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
    /// Network input side (a multiple of 32); grids are resized to it.
    #[arg(long, default_value_t = 128)]
    pub input: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Turn off the flip/transpose augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
}

pub fn run(cmd: &TrainCommand) -> anyhow::Result<()> {
    let TrainCommand::Cnn(a) = cmd;
    let config = CnnConfig { width: a.width, input: a.input, ..CnnConfig::default() };
    config.validate().map_err(|e| anyhow::anyhow!("invalid network: {e}"))?;
    if a.out.join("state.json").is_file() && !a.resume {
        bail!("{} already holds a training run; pass --resume to continue it or choose another --out", a.out.display());
    }
    eprintln!("reading {} ...", a.dataset.display());
    let examples = load_examples(&a.dataset, a.input)?;
    let (train_set, val_set): (Vec<_>, Vec<_>) =
        examples.into_iter().filter(|e| e.split != Split::Test).partition(|e| e.split == Split::Train);
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
                    "\repoch {:3}  train loss {:.3}  val L1 acc {:.3}  val L3 IoU {:.3}  {:.0} s{}",
                    r.epoch,
                    r.train_loss,
                    r.val_l1,
                    r.val_iou,
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
    Ok(())
}
