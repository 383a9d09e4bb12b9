//! `heatscope train gsd --data DIR --out DIR [--loso]`: train the GSD estimator on real imagery,
//! score it leave-one-scene-out, calibrate its sigma on those held-out scores and save it. Runs on the
//! main thread; the leave-one-scene-out records are written after every fold, so a crash loses at
//! most one fold and `--resume` skips the folds already done.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::models::gsd::train::{
    LosoRecord, LosoSummary, Progress, TrainOptions, eval_crops, predict, reliability_svg, save, summarize, train,
    write_json,
};
use crate::models::gsd::{Excluded, GsdConfig, SourceImage, discover, scenes};

#[derive(Debug, clap::Args)]
pub struct GsdTrainArgs {
    /// Folder of remote-sensing images (GeoTIFF, PNG, JPEG); GSDs come from georeferencing or a
    /// MANIFEST.tsv (columns path, licence, gsd_m) in the folder or beside it.
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: model.safetensors, config.json, training.json, loso.json, reliability.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Optimizer steps per model.
    #[arg(long, default_value_t = 1500)]
    pub steps: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Peak learning rate (AdamW; linear warm-up, cosine decay).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Channels of the first stride-2 stage.
    #[arg(long, default_value_t = 16)]
    pub width: usize,
    /// Crop side in pixels.
    #[arg(long, default_value_t = 64)]
    pub input: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// First train one model per scene on all the other scenes and score it on that scene's crops
    /// (leave-one-scene-out); the sigma scale of the final model is fitted on those scores.
    #[arg(long)]
    pub loso: bool,
    /// Scoring crops per held-out scene (8-bit renders across the GSDs the scene allows).
    #[arg(long, default_value_t = 8)]
    pub per_scene: usize,
    /// Draw training crops scene first, then GSD (the default draws the GSD first, uniformly in log
    /// over the whole range, so coarse and fine scales weigh the same).
    #[arg(long)]
    pub by_scene: bool,
    /// Keep the folds already in --out/loso.json.
    #[arg(long)]
    pub resume: bool,
}

/// What `train gsd` writes to training.json.
#[derive(Debug, Serialize, Deserialize)]
struct TrainingRecord {
    images: Vec<ImageRow>,
    excluded: Vec<(String, String)>,
    options: TrainOptions,
    config: GsdConfig,
    loso: Option<LosoSummary>,
    seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct ImageRow {
    name: String,
    scene: String,
    gsd_m: f64,
    gsd_source: String,
    licence: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LosoFile {
    scenes_done: Vec<String>,
    records: Vec<LosoRecord>,
}

fn print_progress(label: &str, start: &Instant, last: &mut f64, p: Progress) {
    let el = start.elapsed().as_secs_f64();
    if el - *last >= 1.0 || p.step == p.steps {
        *last = el;
        eprint!("\r{label} step {}/{}  loss {:.3}  ETA {:.0} s   ", p.step, p.steps, p.loss, p.eta_s);
        let _ = std::io::stderr().flush();
    }
}

pub fn run(a: &GsdTrainArgs) -> anyhow::Result<()> {
    let mut config = GsdConfig { input: a.input, width: a.width, ..GsdConfig::default() };
    config.validate().map_err(|e| anyhow::anyhow!("invalid network: {e}"))?;
    if a.steps == 0 || a.batch == 0 {
        bail!("--steps and --batch must be positive");
    }
    let opts = TrainOptions {
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        balance: !a.by_scene,
        ..TrainOptions::default()
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let loso_path = a.out.join("loso.json");
    if loso_path.is_file() && !a.resume {
        bail!("{} already holds a run; pass --resume to keep its folds or choose another --out", a.out.display());
    }
    let start = Instant::now();
    eprintln!("reading {} ...", a.data.display());
    let (images, excluded) = discover(&a.data, a.input)?;
    print_images(&images, &excluded);
    let scene_names = scenes(&images);
    let device = crate::models::compute_device();
    eprintln!(
        "{} images in {} scenes; {} ({} steps, batch {}, crops {} px, width {})",
        images.len(),
        scene_names.len(),
        device.label,
        a.steps,
        a.batch,
        a.input,
        a.width
    );

    let mut summary = None;
    if a.loso {
        let mut file: LosoFile = if a.resume && loso_path.is_file() {
            serde_json::from_slice(&std::fs::read(&loso_path)?)
                .with_context(|| format!("{} is not a loso.json heatscope wrote", loso_path.display()))?
        } else {
            LosoFile::default()
        };
        for (k, scene) in scene_names.iter().enumerate() {
            if file.scenes_done.contains(scene) {
                eprintln!("fold {}/{} {scene}: done earlier", k + 1, scene_names.len());
                continue;
            }
            let train_set: Vec<&SourceImage> = images.iter().filter(|i| &i.scene != scene).collect();
            let config = GsdConfig { mu_offset: mu_offset(&train_set, a.input), ..config.clone() };
            let label = format!("fold {}/{} (without {scene})", k + 1, scene_names.len());
            let mut last = 0.0;
            let (_, net) = train(&train_set, &config, &opts, &device.device, &mut |p| {
                print_progress(&label, &start, &mut last, p);
                true
            })?;
            let crops = eval_crops(&images, scene, a.per_scene, a.input, a.seed + 1000);
            let pixels: Vec<Vec<f32>> = crops.iter().map(|c| c.pixels.clone()).collect();
            let pred = predict(&net, &pixels, &device.device)?;
            let mut errs = Vec::new();
            for (c, (mu, sigma)) in crops.iter().zip(pred) {
                errs.push((c.log_gsd - mu).abs());
                file.records.push(LosoRecord {
                    scene: scene.clone(),
                    image: images[c.image].name.clone(),
                    true_log_gsd: c.log_gsd,
                    mu,
                    sigma_raw: sigma,
                });
            }
            file.scenes_done.push(scene.clone());
            write_json(&loso_path, &file)?;
            errs.sort_by(f64::total_cmp);
            eprintln!(
                "\r{label}: {} crops, median |log10 error| {:.3}  ({:.0} s so far)          ",
                errs.len(),
                crate::stats::quantile::of_sorted(&errs, 0.5).unwrap_or(f64::NAN),
                start.elapsed().as_secs_f64()
            );
        }
        let s = summarize(&file.records);
        let svg = reliability_svg(&s.reliability, "GSD: leave-one-scene-out coverage");
        super::write_output(&a.out.join("reliability.svg"), svg, "the reliability diagram")?;
        println!(
            "leave-one-scene-out: {} crops, {} scenes: median |log10 error| {:.3} (mean {:.3}); coverage 1 sigma {:.1} %, 2 sigma {:.1} % (calibrated on the other scenes; raw {:.1} % / {:.1} %); sigma scale {:.2}",
            s.crops,
            s.scenes,
            s.median_abs_log_error,
            s.mean_abs_log_error,
            100.0 * s.coverage_1sigma,
            100.0 * s.coverage_2sigma,
            100.0 * s.coverage_1sigma_raw,
            100.0 * s.coverage_2sigma_raw,
            s.sigma_scale
        );
        for (scene, n, med) in &s.per_scene {
            println!("  {scene:<48} {n:3} crops  median |log10 error| {med:.3}");
        }
        config.sigma_scale = s.sigma_scale;
        summary = Some(s);
    } else {
        eprintln!("no --loso: the sigma is the network's own, not calibrated on held-out scenes");
    }

    let all: Vec<&SourceImage> = images.iter().collect();
    config.mu_offset = mu_offset(&all, a.input);
    let mut last = 0.0;
    let (vm, _) = train(&all, &config, &opts, &device.device, &mut |p| {
        print_progress("final model (all scenes)", &start, &mut last, p);
        true
    })?;
    save(&vm, &config, &a.out)?;
    let record = TrainingRecord {
        images: images
            .iter()
            .map(|i| ImageRow {
                name: i.name.clone(),
                scene: i.scene.clone(),
                gsd_m: i.gsd_m,
                gsd_source: i.gsd_source.clone(),
                licence: i.licence.clone(),
            })
            .collect(),
        excluded: excluded.iter().map(|e| (e.name.clone(), e.reason.clone())).collect(),
        options: opts,
        config: config.clone(),
        loso: summary,
        seconds: start.elapsed().as_secs_f64(),
    };
    write_json(&a.out.join("training.json"), &record)?;
    eprintln!();
    println!(
        "saved {} (sigma scale {:.2}) in {:.0} s",
        a.out.join("model.safetensors").display(),
        config.sigma_scale,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Where mu starts: the mean over images of the middle of the log10 GSD range their crops span (only
/// the training images of a fold count, so a held-out scene never shapes its own prior).
fn mu_offset(images: &[&SourceImage], side: usize) -> f64 {
    let mids: Vec<f64> = images
        .iter()
        .map(|i| {
            let (lo, hi) = crate::models::gsd::train::log_range(i, side);
            0.5 * (lo + hi)
        })
        .collect();
    (mids.iter().sum::<f64>() / mids.len().max(1) as f64).clamp(-2.0, 3.0)
}

fn print_images(images: &[SourceImage], excluded: &[Excluded]) {
    for i in images {
        eprintln!("  use   {:<52} {:>9.4} m  scene {}  ({})", i.name, i.gsd_m, i.scene, i.gsd_source);
    }
    for e in excluded {
        eprintln!("  leave {:<52} {}", e.name, e.reason);
    }
}
