//! `heatscope bench sim`: how fast scenes are generated (truth, observation, labels, questions; no
//! disk), per scenario and grid size, on one thread. `heatscope bench cnn`: the CNN's latency at
//! batch 1 and throughput at batch 16. `bench vlm` lives in vlm_cmd.rs. Runs on the main thread.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::models::cnn::CnnModel;

use crate::sim::{Scenario, generate_scene};

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Scene generation speed on one thread.
    Sim(SimBenchArgs),
    /// CNN latency (batch 1) and throughput (batch 16) on generated 128-pixel scenes.
    Cnn(CnnBenchArgs),
    /// VLM time to first token, prefill and decode tokens/s, peak memory.
    Vlm(super::vlm_cmd::VlmBenchArgs),
    /// GSD estimate of a whole tile (a grid of up to 16 crops) and of single crops.
    Gsd(GsdBenchArgs),
    /// Peak memory of `info` and `render` on large generated files against 3x the raster + 200 MB.
    Memory(super::bench_memory::MemoryBenchArgs),
    /// The error analysis with a 100,000-question run in the real app window: open, idle, scroll and
    /// filter times, and frame times while a CNN run streams in.
    EvalView(super::bench_view::EvalViewBenchArgs),
    /// One large image in the real app window: read time, first frame, frame times while panning and
    /// zooming against the same app with no image, resident memory against the raw data.
    View(super::bench_image_view::ImageViewBenchArgs),
    /// The router: microseconds per question (typed questions and whole dataset questions) and the
    /// time to train it.
    Router(RouterBenchArgs),
    /// The reference fixtures run by this binary on the device it picks: VLM logits and greedy tokens
    /// against transformers (f32, and f16/bf16 on a GPU), imported CNNs against PyTorch, the bundled
    /// CNN on the GPU against the CPU. Non-zero exit when any fails.
    Parity(super::bench_parity::ParityArgs),
}

#[derive(Debug, clap::Args)]
pub struct RouterBenchArgs {
    /// Router folder; default: the bundled router.
    #[arg(long, value_name = "DIR")]
    pub router: Option<PathBuf>,
    /// Times each question set is routed.
    #[arg(long, default_value_t = 200)]
    pub rounds: usize,
}

fn bench_router(a: &RouterBenchArgs) -> anyhow::Result<()> {
    use crate::models::router::train::{
        BUNDLED_PHRASINGS, TrainOptions, fit, labels, phrasing_examples, template_examples,
    };
    let router = match &a.router {
        Some(d) => crate::models::router::Router::load(d)?,
        None => crate::models::router::Router::bundled()?,
    };
    let labels = labels();
    let templates = template_examples(0);
    let phrasings = phrasing_examples("bundled", BUNDLED_PHRASINGS, &labels, 0)?;
    let typed: Vec<&str> = phrasings.iter().map(|e| e.text.as_str()).collect();
    let asked: Vec<&str> = templates.iter().filter(|e| e.wrapped).map(|e| e.text.as_str()).collect();
    for (what, set) in [("typed questions", &typed), ("dataset questions (context and format lines)", &asked)] {
        let start = std::time::Instant::now();
        let mut abstained = 0usize;
        for _ in 0..a.rounds.max(1) {
            for q in set.iter() {
                abstained += usize::from(std::hint::black_box(router.route(q)).abstained);
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let us = start.elapsed().as_secs_f64() * 1e6 / (a.rounds.max(1) * set.len().max(1)) as f64;
        let chars = set.iter().map(|q| q.chars().count()).sum::<usize>() / set.len().max(1);
        println!(
            "route: {what}: {us:.1} us/question (mean {chars} characters, {} questions x {} rounds, {abstained} abstentions)",
            set.len(),
            a.rounds.max(1)
        );
    }
    let all: Vec<_> = templates.into_iter().chain(phrasings).collect();
    let start = std::time::Instant::now();
    let trained = fit(&all, &labels, &TrainOptions::default())?;
    println!(
        "train: {:.2} s for {} questions and their typo'd copies ({} labels x 2^{} buckets)",
        start.elapsed().as_secs_f64(),
        all.len(),
        trained.config.labels.len(),
        trained.config.bits
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct GsdBenchArgs {
    /// Model folder; default: the bundled model.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Timed repetitions (after 3 warm-up runs).
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// Side of the synthetic tile in pixels.
    #[arg(long, default_value_t = 1024)]
    pub tile: usize,
}

fn bench_gsd(a: &GsdBenchArgs) -> anyhow::Result<()> {
    use crate::models::gsd::{GsdModel, crops::Plane};
    anyhow::ensure!(a.runs > 0, "--runs must be at least 1");
    let model = match &a.model_dir {
        Some(d) => GsdModel::load(d).with_context(|| format!("loading {}", d.display()))?,
        None => GsdModel::bundled()?,
    };
    let side = model.config().input;
    anyhow::ensure!(a.tile >= side, "--tile must be at least the crop side ({side})");
    // A textured tile (sums of sines at several scales) so no crop is skipped as flat.
    let n = a.tile;
    let data: Vec<f32> = (0..n * n)
        .map(|i| {
            let (x, y) = ((i % n) as f32, (i / n) as f32);
            (x * 0.21).sin() * (y * 0.17).cos() + 0.5 * ((x + 2.0 * y) * 0.05).sin() + 0.3 * (x * 1.3 - y * 0.7).sin()
        })
        .collect();
    let plane = Plane::new(n, n, data);
    println!("GSD estimator: {side} px crops, {} features, boosted trees, CPU", model.config().features.len());
    let mut times = Vec::with_capacity(a.runs);
    let mut crops = 0;
    for i in 0..a.runs + 3 {
        let t = Instant::now();
        let e = model.estimate_plane(&plane)?;
        if i >= 3 {
            times.push(t.elapsed().as_secs_f64());
        }
        crops = e.crops.len();
    }
    report(&format!("{n} x {n} tile, {crops} crops (crop, render, features, trees)"), &mut times, 1);
    let first =
        Plane::new(side, side, (0..side).flat_map(|r| plane.data[r * n..r * n + side].iter().copied()).collect());
    let mut times = Vec::with_capacity(a.runs);
    for i in 0..a.runs + 3 {
        let t = Instant::now();
        let f = crate::models::gsd::estimate::crop_features(&first, None)
            .map_err(|e| anyhow::anyhow!("bench crop rejected: {e:?}"))?;
        std::hint::black_box(model.predict(&f));
        if i >= 3 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    report("single crop (render, features, trees)", &mut times, 1);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct CnnBenchArgs {
    /// Model folder; default: the bundled model.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Timed repetitions per batch size (after 3 warm-up runs).
    #[arg(long, default_value_t = 50)]
    pub runs: usize,
    /// Batch sizes, comma-separated.
    #[arg(long, default_value = "1,16")]
    pub batches: String,
}

#[derive(Debug, clap::Args)]
pub struct SimBenchArgs {
    /// Grid sizes to time, comma-separated.
    #[arg(long, default_value = "128,256")]
    pub sizes: String,
    /// Scenes per scenario and size.
    #[arg(long, default_value_t = 20)]
    pub scenes: usize,
}

fn report(label: &str, times: &mut [f64], b: usize) {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| crate::stats::quantile::of_sorted(times, q).unwrap_or(f64::NAN);
    let median = at(0.5);
    println!(
        "  {label}: median {:7.2} ms  (p10 {:.2}, p90 {:.2})  {:7.1} images/s",
        median * 1e3,
        at(0.1) * 1e3,
        at(0.9) * 1e3,
        b as f64 / median
    );
}

fn bench_cnn(a: &CnnBenchArgs) -> anyhow::Result<()> {
    let batches: Vec<usize> = a
        .batches
        .split(',')
        .map(|s| s.trim().parse::<usize>().map_err(|e| anyhow::anyhow!("--batches: {s:?}: {e}")))
        .collect::<anyhow::Result<_>>()?;
    if a.runs == 0 || batches.iter().any(|&b| b == 0 || b > 1024) {
        anyhow::bail!("--runs must be at least 1 and batch sizes 1-1024");
    }
    let device = crate::models::compute_device();
    let model = match &a.model_dir {
        Some(d) => CnnModel::load(d, &device.device).with_context(|| format!("loading {}", d.display()))?,
        None => CnnModel::bundled(&device.device).context("loading the bundled CNN")?,
    };
    if let Some(why) = model.uncalibrated() {
        eprintln!("heatscope: WARNING: {why}");
    }
    let max = batches.iter().copied().max().unwrap_or(1);
    let scenes: Vec<Vec<f32>> =
        (0..max).map(|i| generate_scene(Scenario::ALL[i % 3], i, 77, 128).observation.in_db).collect();
    let (side, channels) = (model.net.input_side(), model.net.input_channels());
    println!(
        "CNN: {}, {} parameters; {}, {} threads",
        model.net.describe(),
        model.parameter_count(),
        device.label,
        candle_core::utils::get_num_threads()
    );
    println!("  end to end: 128-px dB grid -> resize, forward, softmax, box, regions, mask, saliency");
    for &b in &batches {
        let grids: Vec<&[f32]> = scenes[..b].iter().map(|g| g.as_slice()).collect();
        for _ in 0..3 {
            std::hint::black_box(model.read_grids(&grids, 128)?);
        }
        let mut times = Vec::with_capacity(a.runs);
        for _ in 0..a.runs {
            let t = Instant::now();
            std::hint::black_box(model.read_grids(&grids, 128)?);
            times.push(t.elapsed().as_secs_f64());
        }
        report(&format!("batch {b:3}"), &mut times, b);
        // The network alone (what tools/bench_cnn_torch.py times in PyTorch).
        let x = candle_core::Tensor::zeros((b, channels, side, side), candle_core::DType::F32, &device.device)?;
        let mut times = Vec::with_capacity(a.runs);
        for _ in 0..a.runs {
            let t = Instant::now();
            std::hint::black_box(model.net.forward(&x)?);
            times.push(t.elapsed().as_secs_f64());
        }
        report("  forward only", &mut times, b);
    }
    Ok(())
}

pub fn run(cmd: &BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Cnn(a) => bench_cnn(a),
        BenchCommand::Gsd(a) => bench_gsd(a),
        BenchCommand::Vlm(a) => super::vlm_cmd::run_bench(a),
        BenchCommand::Memory(a) => super::bench_memory::run(a),
        BenchCommand::EvalView(a) => super::bench_view::run(a),
        BenchCommand::View(a) => super::bench_image_view::run(a),
        BenchCommand::Router(a) => bench_router(a),
        BenchCommand::Parity(a) => super::bench_parity::run(a),
        BenchCommand::Sim(a) => {
            let sizes: Vec<usize> = a
                .sizes
                .split(',')
                .map(|s| s.trim().parse::<usize>().map_err(|e| anyhow::anyhow!("--sizes: {s:?}: {e}")))
                .collect::<anyhow::Result<_>>()?;
            if a.scenes == 0 {
                anyhow::bail!("--scenes must be at least 1");
            }
            println!("scene generation, 1 thread, {} scenes per scenario and size", a.scenes);
            for &size in &sizes {
                if !(16..=2048).contains(&size) {
                    anyhow::bail!("size {size} is outside 16-2048");
                }
                let mut all = 0.0;
                for s in Scenario::ALL {
                    let t = Instant::now();
                    for i in 0..a.scenes {
                        std::hint::black_box(generate_scene(s, i, 0, size));
                    }
                    let el = t.elapsed().as_secs_f64();
                    all += el;
                    println!(
                        "  {size:4} px  {:13} {:7.1} ms/scene  {:6.1} scenes/s",
                        s.name(),
                        el * 1e3 / a.scenes as f64,
                        a.scenes as f64 / el
                    );
                }
                let n = (a.scenes * Scenario::ALL.len()) as f64;
                println!("  {size:4} px  {:13} {:7.1} ms/scene  {:6.1} scenes/s", "all", all * 1e3 / n, n / all);
            }
            Ok(())
        }
    }
}
