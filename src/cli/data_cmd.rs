//! `heatscope data ...`: generate SpectrumQA-sim and RadioQA-sim datasets, render a true-vs-observed
//! contact sheet, and refit/report the L1 class thresholds. Runs on the main thread; generation uses
//! the writers' worker threads (`sim::write_dataset`, `sim::radio::write_radio_dataset`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::render::Colormap;
use crate::sim::labels::{PROTECTION_DB, SEVERITY_THRESHOLDS, severity_class};
use crate::sim::{
    DatasetOptions, ObservationVariant, PhysicsVariant, Scenario, Variants, generate_scene, split_of, write_dataset,
};
use crate::types::Split;

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Generate a SpectrumQA-sim dataset folder (grids, PNGs, metadata, manifest, LLaVA JSON).
    Spectrum(SpectrumArgs),
    /// Generate a RadioQA-sim dataset folder: simulated radio-continuum cutouts (FITS in Jy/beam, the
    /// noiseless model, a display PNG, metadata) with questions in radio-llava's six task formats.
    Radio(RadioArgs),
    /// Render a contact sheet: per scene the true I/N (left) and the observed map (right), the
    /// ground-truth box in white and the -6 dB contour of the truth in black; one row per scenario.
    Sheet(SheetArgs),
    /// Fit the L1 thresholds (quartiles of the affected share, pooled train split) on fresh scenes and
    /// report each class's share per scenario under the frozen thresholds.
    Thresholds(ThresholdArgs),
}

#[derive(Debug, clap::Args)]
pub struct SpectrumArgs {
    /// leo-urban, geo-rural, haps-coastal, or all.
    #[arg(long, default_value = "all")]
    pub scenario: String,
    /// Scenes per scenario (splits: 14 of every 20 train, 3 val, 3 test).
    #[arg(long, default_value_t = 100)]
    pub scenes: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Grid side in pixels.
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Output folder (created; an existing dataset there is only replaced with --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing dataset in --out.
    #[arg(long)]
    pub force: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Observation campaign family, a training and stress aid (frozen = the benchmark): frozen,
    /// varied, dense, sparse, many, roads, biased, noisy, shadowed, nearest, linear, smooth, idw,
    /// coarse, clipped. See docs/spectrumqa-sim.md section 7.
    #[arg(long, default_value = "frozen")]
    pub observation: String,
    /// Physics family, a training and stress aid (frozen = the benchmark): frozen, varied,
    /// terrain-swap, clutter, shadowing, obstruction, sidelobes.
    #[arg(long, default_value = "frozen")]
    pub physics: String,
}

#[derive(Debug, clap::Args)]
pub struct RadioArgs {
    /// Scenes (split by scene, about 70/15/15 train/val/test, fixed by the scene's index).
    #[arg(long, default_value_t = 600)]
    pub scenes: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Cutout side in pixels (96-1024).
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Output folder (created; an existing dataset there is only replaced with --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing dataset in --out.
    #[arg(long)]
    pub force: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Folder of real radio FITS images (Jy/beam, with BMAJ/BMIN): half the scenes take a
    /// source-free window of one as their noise. A MANIFEST.tsv there or in its parent (column 3 the
    /// licence) must list each file; GPL-licensed files are skipped. Default: simulated noise only.
    #[arg(long)]
    pub backgrounds: Option<PathBuf>,
    /// Use GPL-licensed background files too (test data only: never for a model that ships).
    #[arg(long)]
    pub allow_gpl_backgrounds: bool,
}

/// Parse `--observation` and `--physics`.
pub fn variants(observation: &str, physics: &str) -> anyhow::Result<Variants> {
    let names = |all: &mut dyn Iterator<Item = &'static str>| all.collect::<Vec<_>>().join(", ");
    Ok(Variants {
        observation: ObservationVariant::parse(observation).with_context(|| {
            format!(
                "unknown observation family {observation:?}; expected one of {}",
                names(&mut ObservationVariant::ALL.iter().map(|v| v.name()))
            )
        })?,
        physics: PhysicsVariant::parse(physics).with_context(|| {
            format!(
                "unknown physics family {physics:?}; expected one of {}",
                names(&mut PhysicsVariant::ALL.iter().map(|v| v.name()))
            )
        })?,
    })
}

#[derive(Debug, clap::Args)]
pub struct SheetArgs {
    /// Scenes per scenario (one row each).
    #[arg(long, default_value_t = 4)]
    pub scenes: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Output PNG.
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ThresholdArgs {
    /// Scenes per scenario.
    #[arg(long, default_value_t = 300)]
    pub scenes: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 128)]
    pub size: usize,
}

pub fn run(cmd: &DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Spectrum(a) => spectrum(a),
        DataCommand::Radio(a) => radio(a),
        DataCommand::Sheet(a) => sheet(a),
        DataCommand::Thresholds(a) => thresholds(a),
    }
}

/// Parse `--scenario`: one name or `all`.
pub fn scenarios(arg: &str) -> anyhow::Result<Vec<Scenario>> {
    if arg == "all" {
        return Ok(Scenario::ALL.to_vec());
    }
    arg.split(',')
        .map(|s| {
            Scenario::parse(s).with_context(|| {
                format!("unknown scenario {s:?}; expected all, {}", Scenario::ALL.map(|x| x.name()).join(", "))
            })
        })
        .collect()
}

fn threads(arg: Option<usize>) -> usize {
    arg.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1)
}

/// Refuse an existing dataset in `out`, or with `force` remove only what a dataset consists of.
fn clear_old_dataset(out: &std::path::Path, force: bool) -> anyhow::Result<()> {
    if !out.join("dataset.json").exists() {
        return Ok(());
    }
    if !force {
        bail!("a dataset already exists in {} (use --force to replace it)", out.display());
    }
    for entry in ["scenes", "manifest.jsonl", "llava.json", "dataset.json"] {
        let p = out.join(entry);
        let r = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        if p.exists() {
            r.with_context(|| format!("cannot remove the old {entry}: {}", p.display()))?;
        }
    }
    Ok(())
}

/// A progress line on stderr, at most five times a second and always at the end.
fn progress_printer(start: Instant) -> impl Fn(usize, usize) -> bool + Sync {
    let last = std::sync::Mutex::new(0.0f64);
    move |done: usize, total: usize| {
        let el = start.elapsed().as_secs_f64();
        if let Ok(mut last) = last.lock()
            && (el - *last >= 0.2 || done == total)
        {
            *last = el;
            let eta = el / done as f64 * (total - done) as f64;
            eprint!("\rgenerating scenes: {done}/{total}  {el:.1} s elapsed, ~{eta:.0} s left   ");
            let _ = std::io::stderr().flush();
        }
        true
    }
}

fn spectrum(a: &SpectrumArgs) -> anyhow::Result<()> {
    let variants = variants(&a.observation, &a.physics)?;
    clear_old_dataset(&a.out, a.force)?;
    let opts = DatasetOptions {
        scenarios: scenarios(&a.scenario)?,
        scenes: a.scenes,
        seed: a.seed,
        size: a.size,
        variants,
        threads: threads(a.threads),
    };
    let lut = Colormap::Turbo.table();
    let start = Instant::now();
    let progress = progress_printer(start);
    let summary = write_dataset(&a.out, &opts, &lut, &progress)?;
    eprintln!();
    let el = start.elapsed().as_secs_f64();
    println!(
        "wrote {} scenes and {} questions to {} in {el:.1} s ({:.1} scenes/s)",
        summary.scenes,
        summary.questions,
        a.out.display(),
        summary.scenes as f64 / el
    );
    for (name, c) in &summary.severity_counts {
        println!("  {name}: L1 classes low/moderate/high/severe = {c:?}");
    }
    println!("  L3 scenes without a region: {}", summary.l3_none);
    Ok(())
}

fn radio(a: &RadioArgs) -> anyhow::Result<()> {
    let (lo, hi) = crate::sim::radio::SIZES;
    if !(lo..=hi).contains(&a.size) {
        bail!("--size {} is outside {lo}-{hi} pixels", a.size);
    }
    if a.scenes == 0 {
        bail!("--scenes must be at least 1");
    }
    clear_old_dataset(&a.out, a.force)?;
    let backgrounds = match &a.backgrounds {
        Some(dir) => {
            let b = crate::sim::radio::Backgrounds::load(dir, a.size, a.allow_gpl_backgrounds)?;
            match &b.manifest {
                Some(m) => println!("backgrounds: licences from {}", m.display()),
                None => {
                    println!("backgrounds: no MANIFEST.tsv in {} or its parent: licences not checked", dir.display())
                }
            }
            for f in b.report() {
                match (&f.skipped, f.windows) {
                    (Some(why), _) => println!("  skipped {}: {why}", f.file),
                    (None, w) => println!(
                        "  using {} ({}): {} source-free windows",
                        f.file,
                        f.licence.as_deref().unwrap_or("licence not listed"),
                        w.unwrap_or(0)
                    ),
                }
            }
            if b.files.is_empty() {
                eprintln!("warning: no usable background in {}: every scene gets simulated noise", dir.display());
            }
            Some(b)
        }
        None => None,
    };
    let opts = crate::sim::radio::RadioOptions {
        scenes: a.scenes,
        seed: a.seed,
        size: a.size,
        backgrounds: a.backgrounds.clone(),
        allow_gpl_backgrounds: a.allow_gpl_backgrounds,
        threads: threads(a.threads),
    };
    let start = Instant::now();
    let progress = progress_printer(start);
    let summary = crate::sim::radio::write_radio_dataset(&a.out, &opts, backgrounds.as_ref(), &progress)?;
    eprintln!();
    let el = start.elapsed().as_secs_f64();
    println!(
        "wrote {} scenes and {} questions to {} in {el:.1} s ({:.1} scenes/s); {} on real noise, {} with NaN borders",
        summary.scenes,
        summary.questions,
        a.out.display(),
        summary.scenes as f64 / el,
        summary.real_background_scenes,
        summary.nan_border_scenes,
    );
    for kind in crate::types::QuestionKind::RADIO {
        let per_split = summary.counts.get(kind.name());
        let line: Vec<String> = Split::ALL
            .iter()
            .map(|s| {
                let n = per_split.and_then(|m| m.get(s.name())).and_then(|c| c.values().next()).copied().unwrap_or(0);
                format!("{} {n}", s.name())
            })
            .collect();
        println!("  {:10} {} classes, per class: {}", kind.name(), kind.radio_classes().len(), line.join(", "));
    }
    Ok(())
}

/// Draw a 1-pixel rectangle outline into an RGB image.
fn outline(img: &mut image::RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, c: [u8; 3]) {
    let (w, h) = img.dimensions();
    let (x1, y1) = (x1.min(w - 1), y1.min(h - 1));
    for x in x0..=x1 {
        img.put_pixel(x, y0, image::Rgb(c));
        img.put_pixel(x, y1, image::Rgb(c));
    }
    for y in y0..=y1 {
        img.put_pixel(x0, y, image::Rgb(c));
        img.put_pixel(x1, y, image::Rgb(c));
    }
}

fn sheet(a: &SheetArgs) -> anyhow::Result<()> {
    if a.scenes == 0 || !(16..=1024).contains(&a.size) {
        bail!("need at least one scene and a size of 16-1024 pixels");
    }
    let n = a.size as u32;
    let gap = 6u32;
    let cell = 2 * n + gap;
    let (w, h) = (a.scenes as u32 * (cell + 2 * gap), Scenario::ALL.len() as u32 * (n + 2 * gap));
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    let lut = Colormap::Turbo.table();
    for (row, &scenario) in Scenario::ALL.iter().enumerate() {
        for k in 0..a.scenes {
            let scene = generate_scene(scenario, k, a.seed, a.size);
            let ox = k as u32 * (cell + 2 * gap) + gap;
            let oy = row as u32 * (n + 2 * gap) + gap;
            let t = &scene.truth.in_db;
            for (panel, grid) in [t, &scene.observation.in_db].into_iter().enumerate() {
                let px = ox + panel as u32 * (n + gap);
                for r in 0..a.size {
                    for c in 0..a.size {
                        let v = grid[r * a.size + c];
                        // The dataset's own colours (`observed.png`).
                        let mut rgb = crate::sim::map_colour(v, &lut);
                        // The truth's -6 dB contour, in black.
                        if panel == 0 && v > PROTECTION_DB {
                            let edge = [(0isize, 1isize), (1, 0), (0, -1), (-1, 0)].iter().any(|&(dr, dc)| {
                                let (rr, cc) = (r as isize + dr, c as isize + dc);
                                rr >= 0
                                    && cc >= 0
                                    && (rr as usize) < a.size
                                    && (cc as usize) < a.size
                                    && t[rr as usize * a.size + cc as usize] <= PROTECTION_DB
                            });
                            if edge {
                                rgb = [0, 0, 0];
                            }
                        }
                        img.put_pixel(px + c as u32, oy + r as u32, image::Rgb(rgb));
                    }
                }
                if let Some(b) = scene.labels.region_box {
                    let f = |v: f32| (v * n as f32).round() as u32;
                    let x1 = f(b[2]).saturating_sub(1).max(f(b[0]));
                    let y1 = f(b[3]).saturating_sub(1).max(f(b[1]));
                    outline(&mut img, px + f(b[0]), oy + f(b[1]), px + x1, oy + y1, [255, 255, 255]);
                }
            }
        }
    }
    super::write_image(&a.output, &img.into(), "the contact sheet")?;
    println!(
        "wrote {} ({} x {}): rows {}; each scene: truth | observed, -6 dB contour black, L3 box white",
        a.output.display(),
        w,
        h,
        Scenario::ALL.map(|s| s.name()).join(", ")
    );
    Ok(())
}

fn thresholds(a: &ThresholdArgs) -> anyhow::Result<()> {
    let mut pooled = Vec::new();
    let mut per: Vec<(Scenario, Vec<f64>)> = Vec::new();
    let start = Instant::now();
    for s in Scenario::ALL {
        let mut shares = Vec::new();
        for i in 0..a.scenes {
            let scene = generate_scene(s, i, a.seed, a.size);
            if split_of(i) == Split::Train {
                pooled.push(scene.labels.affected_share);
            }
            shares.push(scene.labels.affected_share);
            if (i + 1) % 10 == 0 || i + 1 == a.scenes {
                eprint!("\r{}: {}/{}   ", s.name(), i + 1, a.scenes);
            }
        }
        per.push((s, shares));
    }
    eprintln!();
    if pooled.len() < 4 {
        bail!("too few train scenes to fit quartiles; use --scenes 20 or more");
    }
    pooled.sort_by(f64::total_cmp);
    let q = |p: f64| crate::stats::quantile::of_sorted(&pooled, p).unwrap_or(f64::NAN);
    println!(
        "fitted on {} pooled train scenes ({:.0} s): quartiles {:.4} {:.4} {:.4}; frozen thresholds {:?}",
        pooled.len(),
        start.elapsed().as_secs_f64(),
        q(0.25),
        q(0.5),
        q(0.75),
        SEVERITY_THRESHOLDS
    );
    let mut overall = [0usize; 4];
    let mut total = 0usize;
    for (s, shares) in &per {
        let mut c = [0usize; 4];
        for &x in shares {
            c[severity_class(x)] += 1;
        }
        for k in 0..4 {
            overall[k] += c[k];
        }
        total += shares.len();
        let pct = c.map(|v| format!("{:.1} %", 100.0 * v as f64 / shares.len() as f64));
        println!("  {:13} low {}  moderate {}  high {}  severe {}", s.name(), pct[0], pct[1], pct[2], pct[3]);
    }
    let pct = overall.map(|v| format!("{:.1} %", 100.0 * v as f64 / total as f64));
    println!("  {:13} low {}  moderate {}  high {}  severe {}", "overall", pct[0], pct[1], pct[2], pct[3]);
    Ok(())
}
