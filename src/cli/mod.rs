//! Command line: `heatscope [FILES]` opens the GUI; subcommands run headless. Never imports the
//! GUI's panels: `render` uses the same shader through `render::Headless`. Runs on the main thread.

mod annotations_cmd;
mod ask_sweep;
mod bench_cmd;
pub mod bench_image_fixtures;
mod bench_image_view;
mod bench_memory;
mod bench_parity;
mod bench_view;
mod cnn_cmd;
mod data_cmd;
mod eval_cmd;
mod eval_run;
mod eval_vlm;
mod fuzz_cmd;
mod gsd_cmd;
mod info;
mod ood_report;
mod render_cmd;
mod route_cmd;
mod route_report;
mod sources_cmd;
mod train_cmd;
mod train_gsd;
mod train_radio;
mod train_router;
mod train_vlm;
mod vlm_cmd;
mod vlm_domain;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// heatscope: see, measure and question spectrum heatmaps, remote-sensing tiles and radio images.
#[derive(Debug, Parser)]
#[command(name = "heatscope", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Files to open in the viewer.
    pub files: Vec<PathBuf>,
    /// The viewer's CNN: a folder with config.json, model.safetensors and calibration.json, or your
    /// own torchvision ResNet (model.safetensors + heatscope.json) (default: the bundled model).
    #[arg(long, value_name = "DIR")]
    pub cnn_model: Option<PathBuf>,
    /// The router that picks the model for a typed question: a folder with config.json and
    /// model.safetensors (default: the bundled models/router).
    #[arg(long, value_name = "DIR")]
    pub router_model: Option<PathBuf>,
    /// The viewer's VLM: a Qwen2-VL / Qwen3-VL folder (default: the bundled vlm-spectrum-tiny).
    #[arg(long, value_name = "DIR", conflicts_with = "vlm_url")]
    pub vlm_model: Option<PathBuf>,
    /// Ask an OpenAI-compatible server instead (vLLM, Ollama, llama.cpp, heatscope serve).
    #[arg(long, value_name = "URL")]
    pub vlm_url: Option<String>,
    /// The model name the server serves (with --vlm-url).
    #[arg(long, default_value = "default")]
    pub vlm_remote_model: String,
    /// Environment variable with the server's API key (with --vlm-url).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub vlm_api_key_env: String,
    /// Start a tour: a JSON list of steps (a file or a dataset scene, a question, the overlays),
    /// walked with Right / Left in presentation mode. The README shows how to write one.
    #[arg(long, value_name = "FILE")]
    pub tour: Option<PathBuf>,
    /// Most memory one file may take to open (every copy a load makes counted), e.g. 8G or 512M;
    /// larger files are refused with a message. Default: a quarter of this machine's memory.
    #[arg(long, value_name = "SIZE", global = true, value_parser = crate::io::parse_size)]
    pub memory_budget: Option<u64>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once at start-up: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render an image to PNG with the viewer's GPU shader (no window needed).
    Render(render_cmd::RenderArgs),
    /// Print what heatscope reads from files: size, type, bands, pixel size and its source.
    Info(info::InfoArgs),
    /// Generate and inspect SpectrumQA-sim data.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Score a predictions file against a dataset's manifest: the table as text, JSON, CSV.
    Eval(eval_cmd::EvalArgs),
    /// Write the predictions of a baseline (prior or rule) for a dataset.
    Baseline(eval_cmd::BaselineArgs),
    /// Train a model.
    #[command(subcommand)]
    Train(train_cmd::TrainCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
    /// Ask a Qwen2-VL or Qwen3-VL model folder a question about images; the answer streams to stdout.
    Ask(vlm_cmd::AskArgs),
    /// Serve a model folder over the OpenAI-compatible chat-completions API.
    Serve(vlm_cmd::ServeArgs),
    /// Ground sampling distance of remote-sensing images: metadata, or the estimate with its
    /// uncertainty (the bundled models/gsd), and any disagreement.
    Gsd(gsd_cmd::GsdArgs),
    /// Which model answers each question, from its text alone: level, kind, regions, confidence,
    /// abstention and the model the policy picks, one JSON object per question.
    Route(route_cmd::RouteArgs),
    /// What routing is worth, from single-model runs of one split: each policy's composite and cost,
    /// the composite as routing errors grow, the cascade's cost-quality curve.
    RouteReport(route_report::RouteReportArgs),
    /// Run a CNN headless on files: severity, box, regions and whether each file is the kind of input
    /// it was trained on (out_of_domain, ood_score, reason); one JSON object per file with --json.
    Cnn(cnn_cmd::CnnArgs),
    /// How well the CNN's domain check separates its own kind of input from others: AUROC per
    /// out-of-domain set (real and synthetic, also rescaled into the I/N range), false abstention in
    /// domain and on variant datasets.
    OodReport(ood_report::OodReportArgs),
    /// Fuzz the file loaders with mutants of real and built-in files; exits non-zero on a panic, a
    /// hang or a load over the memory budget.
    Fuzz(fuzz_cmd::FuzzArgs),
    /// Annotations other tools drew on an image (COCO, YOLO, Pascal VOC, GeoJSON, DeepForest CSV):
    /// counts by label and notes, one JSON object per file with --json; --to/--out exports them.
    Annotations(annotations_cmd::AnnotationsArgs),
    /// Radio sources on images: local noise, islands above --seed sigma grown to --flood sigma,
    /// their peaks, integrated fluxes, sizes and sky positions, and the false-island estimate from
    /// the negated image; one JSON catalogue per file with --json, all islands as CSV with --csv.
    Sources(sources_cmd::SourcesArgs),
}

/// Parse arguments and run; errors are printed with their causes and give exit status 1
/// (clap's own usage errors give 2).
pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        // OpenJPEG's own complaints about a damaged file arrive as our error message instead.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,jpeg2k=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Some(bytes) = cli.memory_budget {
        crate::io::set_memory_budget(bytes);
    }
    let result = match cli.command {
        Some(Command::Render(args)) => render_cmd::run(&args),
        Some(Command::Info(args)) => info::run(&args),
        Some(Command::Data(cmd)) => data_cmd::run(&cmd),
        Some(Command::Eval(args)) => eval_cmd::run_eval(&args),
        Some(Command::Baseline(args)) => eval_cmd::run_baseline(&args),
        Some(Command::Bench(cmd)) => bench_cmd::run(&cmd),
        Some(Command::Train(cmd)) => train_cmd::run(&cmd),
        Some(Command::Ask(args)) => vlm_cmd::run_ask(&args),
        Some(Command::Serve(args)) => vlm_cmd::run_serve(&args),
        Some(Command::Gsd(args)) => gsd_cmd::run(&args),
        Some(Command::Fuzz(args)) => fuzz_cmd::run(&args),
        Some(Command::Route(args)) => route_cmd::run(&args),
        Some(Command::Cnn(args)) => cnn_cmd::run(&args),
        Some(Command::OodReport(args)) => ood_report::run(&args),
        Some(Command::RouteReport(args)) => route_report::run(&args),
        Some(Command::Annotations(args)) => annotations_cmd::run(&args),
        Some(Command::Sources(args)) => sources_cmd::run(&args),
        None => {
            let vlm = match (cli.vlm_model, cli.vlm_url) {
                (Some(dir), _) => crate::backend::VlmSource::Folder(dir),
                (None, Some(url)) => crate::backend::VlmSource::Server {
                    url,
                    model: cli.vlm_remote_model,
                    api_key_env: cli.vlm_api_key_env,
                    deadline: crate::backend::RemoteOptions::default().deadline,
                },
                (None, None) => crate::backend::VlmSource::Bundled,
            };
            // A broken tour is a start-up error with its reason, before any window opens.
            match cli.tour.as_deref().map(crate::app::tour::read) {
                Some(Err(why)) => Err(anyhow::Error::msg(why)),
                _ => {
                    let options = crate::app::AppOptions {
                        cnn_dir: cli.cnn_model,
                        router_dir: cli.router_model,
                        vlm,
                        tour: cli.tour,
                        ..Default::default()
                    };
                    crate::app::run(cli.files, options)
                }
            }
        }
    };
    if std::env::var_os(bench_memory::REPORT_PEAK_ENV).is_some()
        && let Some(peak) = bench_memory::peak_rss_mib()
    {
        eprintln!("peak_rss_mib={peak:.1}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("heatscope: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Write an output a user would miss (report, predictions, image, calibration) so that a kill or a
/// full disk leaves the old file or the new one, never half of one.
pub(crate) fn write_output(path: &std::path::Path, bytes: impl AsRef<[u8]>, what: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    crate::io::atomic::write(path, bytes).with_context(|| format!("cannot write {what}: {}", path.display()))
}

/// Encode `img` in the format its path names (PNG, JPEG, TIFF) and write it as [`write_output`] does.
pub(crate) fn write_image(path: &std::path::Path, img: &image::DynamicImage, what: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let format = image::ImageFormat::from_path(path)
        .with_context(|| format!("cannot tell an image format from the name {}: use .png", path.display()))?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, format).with_context(|| format!("cannot encode {what} as {format:?}"))?;
    write_output(path, bytes.into_inner(), what)
}
