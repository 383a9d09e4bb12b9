//! `heatscope train cnn-radio --dataset DIR --out DIR`: the radio morphology CNN trained on a
//! RadioQA-sim dataset's train split, validated on its val split each epoch, then calibrated (one
//! temperature per task on val) and scored on the test split per task and per SNR bin. Main thread.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::models::cnn::{ECE_BINS, TrainOptions, confidences};
use crate::models::cnn_radio::{
    RadioConfig, RadioEvent, TASKS, accuracy, calibrate, load_net, load_radio_examples, logits_of, task_span, train,
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
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub no_augment: bool,
    /// Continue the run in --out.
    #[arg(long)]
    pub resume: bool,
}

pub fn run(a: &RadioTrainArgs) -> anyhow::Result<()> {
    let config = RadioConfig {
        width: a.width,
        input: a.input,
        stem_stride: a.stem_stride,
        channels: a.channels,
        ..RadioConfig::default()
    };
    config.validate().map_err(|e| anyhow::anyhow!("invalid network: {e}"))?;
    if a.out.join("state.json").is_file() && !a.resume {
        bail!("{} already holds a training run; pass --resume to continue it or choose another --out", a.out.display());
    }
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let (mut train_set, mut val_set, mut test_set) = (Vec::new(), Vec::new(), Vec::new());
    for d in &a.dataset {
        eprintln!("reading {} ...", d.display());
        for e in load_radio_examples(d, a.input, a.channels, &Split::ALL, threads)? {
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
    // Calibrate the best checkpoint on val.
    let net = load_net(&a.out, &device.device)?;
    let cal = calibrate(&net, &val_set, &device.device)?;
    let path = a.out.join("calibration.json");
    super::write_output(&path, serde_json::to_vec_pretty(&cal)?, "the calibration")?;
    for ((name, t), ((_, before), (_, after))) in cal.temperature.iter().zip(cal.ece_before.iter().zip(&cal.ece_after))
    {
        println!("calibrated {name}: temperature {t:.3}, val ECE {before:.3} -> {after:.3}");
    }
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
