//! `heatscope train gsd --data DIR --out DIR [--loso]`: fit the GSD estimator on real imagery, score
//! it leave-one-scene-out (per decade of GSD, against constant guesses), calibrate its sigma on those
//! held-out scores and save it. Runs on the main thread; the training crops are drawn once and every
//! fold refits the trees without its scene (a second or two each); the records are written after
//! every fold, so `--resume` skips the folds already done.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::models::gsd::boost::BoostOptions;
use crate::models::gsd::train::{
    LosoRecord, LosoSummary, Progress, Sample, TrainOptions, eval_samples, fit_forest, model, reliability_svg, save,
    summarize, training_samples, write_json,
};
use crate::models::gsd::{Excluded, GsdConfig, SourceImage, discover, scenes};

#[derive(Debug, clap::Args)]
pub struct GsdTrainArgs {
    /// Folder of remote-sensing images (GeoTIFF, PNG, JPEG, JPEG 2000); GSDs come from georeferencing
    /// or a MANIFEST.tsv (columns path, licence, gsd_m) in the folder or beside it.
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: model.json, training.json, loso.json, reliability.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Boosting rounds (trees).
    #[arg(long, default_value_t = 150)]
    pub steps: usize,
    /// Learning rate (shrinkage of each tree).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Depth of each tree.
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Training crops drawn per scene.
    #[arg(long, default_value_t = 160)]
    pub crops_per_scene: usize,
    /// Share of training crops given a random blur, noise, stretch, gamma and JPEG (the rest are
    /// plain 8-bit renders, like the scoring crops). Off by default: it cost 0.06-0.11 in
    /// leave-one-scene-out median error at 0.25-1.0 (models/gsd/README.md).
    #[arg(long, default_value_t = 0.0)]
    pub degrade: f64,
    /// Crop side in pixels (a multiple of 64).
    #[arg(long, default_value_t = 128)]
    pub input: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// First fit one model per scene on all the other scenes and score it on that scene's crops
    /// (leave-one-scene-out); the sigma of the final model is calibrated on those scores.
    #[arg(long)]
    pub loso: bool,
    /// Scoring crops per held-out scene (8-bit renders at 1x, 2x, 4x and 8x the native GSD).
    #[arg(long, default_value_t = 16)]
    pub per_scene: usize,
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

fn print_progress(start: &Instant, last: &mut f64, p: Progress) -> bool {
    let el = start.elapsed().as_secs_f64();
    if el - *last >= 1.0 || p.done == p.total {
        *last = el;
        eprint!("\rdrawing training crops {}/{}  ETA {:.0} s   ", p.done, p.total, p.eta_s);
        let _ = std::io::stderr().flush();
    }
    true
}

pub fn run(a: &GsdTrainArgs) -> anyhow::Result<()> {
    let probe = GsdConfig { input: a.input, ..GsdConfig::default() };
    probe.validate().map_err(|e| anyhow::anyhow!("invalid --input: {e}"))?;
    if a.steps == 0 || a.crops_per_scene == 0 || a.depth == 0 || a.depth > 8 {
        bail!("--steps and --crops-per-scene must be positive and --depth 1-8");
    }
    if !(a.lr > 0.0 && a.lr <= 1.0) {
        bail!("--lr must be in (0, 1], got {}", a.lr);
    }
    let opts = TrainOptions {
        crops_per_scene: a.crops_per_scene,
        degrade_share: a.degrade.clamp(0.0, 1.0),
        boost: BoostOptions {
            rounds: a.steps,
            learning_rate: a.lr,
            max_depth: a.depth,
            seed: a.seed,
            ..BoostOptions::default()
        },
        seed: a.seed,
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
    eprintln!(
        "{} images in {} scenes; {} crops of {} px per scene, {} trees of depth {}",
        images.len(),
        scene_names.len(),
        a.crops_per_scene,
        a.input,
        a.steps,
        a.depth
    );
    let mut last = 0.0;
    let samples = training_samples(&images, a.input, &opts, &mut |p| print_progress(&start, &mut last, p))?;
    eprintln!();

    let mut sigma = 1.0;
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
            let forest = fit_forest(&images, &samples, Some(scene), &opts);
            let constant = fold_constant(&images, &samples, scene);
            let fold = model(forest, a.input, 1.0)?;
            let crops = eval_samples(&images, scene, a.per_scene, a.input, a.seed + 1000);
            let mut errs = Vec::new();
            for c in &crops {
                let mu = fold.predict(&c.features);
                errs.push((c.log_gsd - mu).abs());
                file.records.push(LosoRecord {
                    scene: scene.clone(),
                    image: images[c.image].name.clone(),
                    true_log_gsd: c.log_gsd,
                    mu,
                    sigma_raw: 1.0,
                    constant,
                });
            }
            file.scenes_done.push(scene.clone());
            write_json(&loso_path, &file)?;
            errs.sort_by(f64::total_cmp);
            eprintln!(
                "fold {}/{} (without {scene}): {} crops, median |log10 error| {:.3}  ({:.0} s so far)",
                k + 1,
                scene_names.len(),
                errs.len(),
                crate::stats::quantile::of_sorted(&errs, 0.5).unwrap_or(f64::NAN),
                start.elapsed().as_secs_f64()
            );
        }
        let s = summarize(&file.records);
        let svg = reliability_svg(&s.reliability, "GSD: leave-one-scene-out coverage");
        super::write_output(&a.out.join("reliability.svg"), svg, "the reliability diagram")?;
        print_summary(&s);
        sigma = s.sigma_scale;
        summary = Some(s);
    } else {
        eprintln!("no --loso: sigma is 1 decade, not calibrated on held-out scenes");
    }

    let forest = fit_forest(&images, &samples, None, &opts);
    let final_model = model(forest, a.input, sigma)?;
    save(&final_model, &a.out)?;
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
        config: final_model.config().clone(),
        loso: summary,
        seconds: start.elapsed().as_secs_f64(),
    };
    write_json(&a.out.join("training.json"), &record)?;
    println!(
        "saved {} (sigma {:.3} decades per crop) in {:.0} s",
        a.out.join("model.json").display(),
        sigma,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_summary(s: &LosoSummary) {
    println!(
        "leave-one-scene-out: {} crops, {} scenes: median |log10 error| {:.3} (mean {:.3}); constant guess {:.3}, best constant {:.3} ({}); coverage 1 sigma {:.1} %, 2 sigma {:.1} % (sigma calibrated on the other scenes); sigma {:.3}",
        s.crops,
        s.scenes,
        s.median_abs_log_error,
        s.mean_abs_log_error,
        s.median_abs_log_error_constant,
        s.median_abs_log_error_best_constant,
        crate::models::gsd::format_metres(10f64.powf(s.best_constant)),
        100.0 * s.coverage_1sigma,
        100.0 * s.coverage_2sigma,
        s.sigma_scale
    );
    println!(
        "  within one image the estimate moves {:.2} decades per decade of true GSD (median slope over images)",
        s.within_image_slope
    );
    println!("  decade            crops scenes  median |err|  constant  cover 1s  cover 2s");
    for d in &s.per_decade {
        println!(
            "  {:>6} - {:<7} {:5} {:6}  {:12.3}  {:8.3}  {:7.1} %  {:7.1} %",
            crate::models::gsd::format_metres(10f64.powi(d.decade)),
            crate::models::gsd::format_metres(10f64.powi(d.decade + 1)),
            d.crops,
            d.scenes,
            d.median_abs_log_error,
            d.median_abs_log_error_constant,
            100.0 * d.coverage_1sigma,
            100.0 * d.coverage_2sigma
        );
    }
    for (scene, n, med) in &s.per_scene {
        println!("  {scene:<52} {n:3} crops  median |log10 error| {med:.3}");
    }
}

/// The constant guess of a fold: the median log10 GSD of the training crops of the other scenes.
fn fold_constant(images: &[SourceImage], samples: &[Sample], scene: &str) -> f64 {
    let mut v: Vec<f64> = samples.iter().filter(|s| images[s.image].scene != scene).map(|s| s.log_gsd).collect();
    v.sort_by(f64::total_cmp);
    crate::stats::quantile::of_sorted(&v, 0.5).unwrap_or(f64::NAN)
}

fn print_images(images: &[SourceImage], excluded: &[Excluded]) {
    for i in images {
        eprintln!("  use   {:<52} {:>9.4} m  scene {}  ({})", i.name, i.gsd_m, i.scene, i.gsd_source);
    }
    for e in excluded {
        eprintln!("  leave {:<52} {}", e.name, e.reason);
    }
}
