//! `heatscope ask`: one question to a Qwen2-VL or Qwen3-VL model folder, the answer streamed to stdout with how sure
//! the model was. `heatscope bench vlm`: time to first token, prefill and decode tokens/s and peak
//! memory on a fixed prompt (tools/bench_vlm_torch.py times the reference on the same prompt).
//! `ask --tell-gsd M` and `ask --gsd-sweep` are in `ask_sweep.rs`. Runs on the main thread.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use candle_core::DType;
use image::RgbImage;

use crate::backend::{ChatBackend, ChatRequest, LocalBackend, VlmSource};
use crate::models::vlm::{GenerateOptions, Message, Part, QwenVl, generate};

/// Weight precision to run in.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Precision {
    F32,
    F16,
    Bf16,
}

impl Precision {
    fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::Bf16 => DType::BF16,
        }
    }
}

/// Which VLM answers: an OpenAI-compatible server (`--url`), else a model folder, else the bundled one.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Ask an OpenAI-compatible server (vLLM, Ollama, llama.cpp server, heatscope serve), e.g.
    /// http://gpu-box:8000/v1.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The model name the server serves (with --url).
    #[arg(long, default_value = "default")]
    pub remote_model: String,
    /// Environment variable that holds the server's API key (with --url; never written anywhere).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// Longest one request to the server may take, in seconds: every retry and the streamed answer
    /// included (with --url). Writes that stall for 60 s, 120 s without response headers and 60 s
    /// without a token also end a request.
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub deadline: u64,
}

impl ServerArgs {
    /// The source: the server when `--url` is given, else `folder`, else the bundled model.
    pub fn source(&self, folder: Option<&PathBuf>) -> anyhow::Result<VlmSource> {
        Ok(match (folder, &self.url) {
            (Some(_), Some(_)) => {
                anyhow::bail!("give a model folder (--model-dir or --model DIR) or --url URL, not both")
            }
            (Some(dir), None) => VlmSource::Folder(dir.clone()),
            (None, Some(url)) => VlmSource::Server {
                url: url.clone(),
                model: self.remote_model.clone(),
                api_key_env: self.api_key_env.clone(),
                deadline: std::time::Duration::from_secs(self.deadline),
            },
            (None, None) => VlmSource::Bundled,
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// Model folder as published (config.json, model.safetensors or shards, tokenizer.json,
    /// preprocessor_config.json), e.g. a local copy of Qwen/Qwen2-VL-2B-Instruct. Default: the
    /// bundled vlm-spectrum-tiny (a small stand-in trained on SpectrumQA-sim, not a foundation model).
    #[arg(long, value_name = "DIR", conflicts_with = "url")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Images to show the model, in order, before the question (PNG, JPEG, TIFF).
    #[arg(long = "image", value_name = "FILE")]
    pub images: Vec<PathBuf>,
    /// The question.
    pub prompt: String,
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub dtype: Precision,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Constrained decoding: the answer is exactly one of these (repeat the flag per option).
    #[arg(long = "choice", value_name = "OPTION")]
    pub choices: Vec<String>,
    /// Constrain a closed question's answer to its options, read from the question by the bundled
    /// router (a severity class, yes/no, the regions); open questions are answered freely.
    #[arg(long, conflicts_with = "choices")]
    pub constrain: bool,
    /// Tell the model the GSD: put "The ground sampling distance of this image is M m per pixel."
    /// before the question (the README's "Telling a VLM the GSD" has the template).
    #[arg(long, value_name = "M", allow_negative_numbers = true, conflicts_with = "gsd_sweep")]
    pub tell_gsd: Option<f64>,
    #[command(flatten)]
    pub sweep: super::ask_sweep::SweepArgs,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Model folder to serve (Qwen2-VL or Qwen3-VL, as published).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on; 0.0.0.0 to accept other machines.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Model name clients ask for (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub dtype: Precision,
    /// Largest request body in MiB (JSON with base64 images); larger ones get HTTP 413.
    #[arg(long, value_name = "MIB", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_body_mib: u64,
    /// Largest image, in pixels, a request may carry; larger ones get HTTP 413 before they are decoded.
    #[arg(long, value_name = "PIXELS", default_value_t = 1 << 24, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_image_pixels: u64,
}

#[derive(Debug, clap::Args)]
pub struct VlmBenchArgs {
    /// Model folder (`tools/make_vlm_fixtures.py --medium DIR` writes a random 42M-parameter one), or
    /// `bundled` for the embedded vlm-spectrum-tiny.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub dtype: Precision,
    /// Tokens to generate per run (no stop token).
    #[arg(long, default_value_t = 64)]
    pub tokens: usize,
    /// Timed runs (after one warm-up).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

fn load(dir: &std::path::Path, dtype: DType) -> anyhow::Result<QwenVl> {
    load_on(dir, dtype, &crate::models::compute_device().device)
}

fn load_on(dir: &std::path::Path, dtype: DType, device: &candle_core::Device) -> anyhow::Result<QwenVl> {
    QwenVl::load(dir, dtype, device).with_context(|| format!("loading the model in {}", dir.display()))
}

fn check_sampling(temperature: f32, top_p: f32) -> anyhow::Result<()> {
    if !temperature.is_finite() || temperature < 0.0 {
        anyhow::bail!("--temperature must be 0 (greedy) or positive, not {temperature}");
    }
    if !(top_p > 0.0 && top_p <= 1.0) {
        anyhow::bail!("--top-p must be in (0, 1], not {top_p}");
    }
    Ok(())
}

pub fn run_ask(a: &AskArgs) -> anyhow::Result<()> {
    check_sampling(a.temperature, a.top_p)?;
    // A sweep that cannot run says so before any model loads.
    let sweep = a.sweep.gsd_sweep.then(|| super::ask_sweep::plan(&a.sweep, &a.images)).transpose()?;
    let told = a.tell_gsd.map(super::ask_sweep::told).transpose()?;
    let images: Vec<RgbImage> = a
        .images
        .iter()
        .map(|p| crate::io::read_rgb(p, &crate::io::LoadOptions::default()).context("reading an --image"))
        .collect::<anyhow::Result<_>>()?;
    let source = a.server.source(a.model.as_ref())?;
    let backend = if let Some(dir) = &a.model {
        // A folder may run in f16 / bf16.
        let model = load(dir, a.dtype.dtype())?;
        std::sync::Arc::new(LocalBackend::new(std::sync::Arc::new(model))) as std::sync::Arc<dyn ChatBackend>
    } else {
        crate::backend::open(&source).with_context(|| format!("opening {}", source.describe()))?
    };
    let mut parts: Vec<Part> = images.iter().map(|_| Part::Image).collect();
    parts.push(Part::Text(a.prompt.clone()));
    let mut messages = vec![Message::user(parts)];
    if let Some(sentence) = &told {
        crate::backend::gsd_prompt::prepend(&mut messages, sentence);
        eprintln!("GSD in the prompt: {sentence}");
    }
    let format = if a.constrain {
        let router = crate::models::router::Router::bundled().context("loading the bundled router")?;
        crate::models::router::answer_format(&router.route(&a.prompt))
    } else {
        crate::backend::AnswerFormat { choices: a.choices.clone(), pattern: None }
    };
    if !format.is_free() {
        eprintln!("{}", format.describe());
    }
    let request = ChatRequest {
        messages,
        images,
        max_tokens: a.max_tokens,
        temperature: a.temperature,
        top_p: a.top_p,
        seed: a.seed,
        choices: format.choices,
        pattern: format.pattern,
        ..ChatRequest::default()
    };
    if let Some(plan) = sweep {
        let bundled = source == VlmSource::Bundled;
        return super::ask_sweep::run(&plan, &a.prompt, backend.as_ref(), bundled, &request);
    }
    let mut out = std::io::stdout().lock();
    let reply = backend.chat(&request, &AtomicBool::new(false), &mut |t| {
        let _ = out.write_all(t.text.as_bytes());
        let _ = out.flush();
    })?;
    drop(out);
    println!();
    if let Some(d) = &reply.domain {
        match (&d.reason, d.out_of_domain) {
            (Some(why), true) => eprintln!("out of domain: {why}: do not trust this answer"),
            _ => eprintln!("in domain (score {:.2}, limit 1)", d.score),
        }
    }
    let mut weakest = reply.logprobs.clone();
    weakest.sort_by(|x, y| x.1.total_cmp(&y.1));
    let weak: Vec<String> = weakest.iter().take(3).map(|(t, l)| format!("{t:?} p={:.2}", l.exp())).collect();
    eprintln!(
        "{}: {} prompt tokens, {} answer tokens ({:?}); mean log-prob {}; least sure: {}; first token {}, {}",
        backend.describe(),
        reply.prompt_tokens.map_or_else(|| "?".into(), |n| n.to_string()),
        reply.logprobs.len(),
        reply.finish,
        reply.mean_logprob().map_or_else(|| "not reported".into(), |m| format!("{m:.3}")),
        if weak.is_empty() { "-".to_string() } else { weak.join(", ") },
        reply.first_token_secs.map_or_else(|| "-".into(), |s| format!("{:.0} ms", s * 1e3)),
        reply.tokens_per_second().map_or_else(|| "-".into(), |r| format!("{r:.1} tokens/s")),
    );
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
fn decode_rate(tokens: usize, secs: f64) -> f64 {
    if tokens > 1 && secs > 0.0 { (tokens - 1) as f64 / secs } else { 0.0 }
}

pub fn run_serve(a: &ServeArgs) -> anyhow::Result<()> {
    let model = load(&a.model, a.dtype.dtype())?;
    let name = a.name.clone().unwrap_or_else(|| {
        a.model.file_name().map_or_else(|| "heatscope".to_string(), |n| n.to_string_lossy().into_owned())
    });
    let backend = std::sync::Arc::new(crate::backend::LocalBackend::new(std::sync::Arc::new(model)));
    let limits = crate::backend::server::ServeLimits {
        max_body_bytes: a.max_body_mib << 20,
        max_image_pixels: a.max_image_pixels,
    };
    let server = crate::backend::server::serve_with(backend, &name, &format!("{}:{}", a.host, a.port), limits)?;
    eprintln!(
        "serving {} as model {name:?} at {} (POST /chat/completions, GET /models); Ctrl+C stops",
        a.model.display(),
        server.url()
    );
    server.wait();
    Ok(())
}

/// The bench prompt: a 224x224 gradient image (64 tokens at the Qwen2-VL defaults) and a fixed question.
/// tools/bench_vlm_torch.py builds the same one.
pub fn bench_prompt() -> (RgbImage, String) {
    #[allow(clippy::cast_possible_truncation)]
    let img = RgbImage::from_fn(224, 224, |x, y| image::Rgb([x as u8, y as u8, ((x + y) / 2) as u8]));
    let text = "Describe the interference in this spectrum heatmap: which region is affected, how severe \
                is it, and where is the strongest carrier?";
    (img, text.to_string())
}

pub fn run_bench(a: &VlmBenchArgs) -> anyhow::Result<()> {
    if a.runs == 0 || a.tokens < 2 {
        anyhow::bail!("--runs must be at least 1 and --tokens at least 2");
    }
    let rss_before = super::bench_memory::peak_rss_mib();
    let dir = if a.model.as_os_str() == "bundled" { crate::models::vlm::bundled::folder()? } else { a.model.clone() };
    let device = crate::models::compute_device();
    let model = load_on(&dir, a.dtype.dtype(), &device.device)?;
    let rss_loaded = super::bench_memory::peak_rss_mib();
    let (img, text) = bench_prompt();
    let prompt = model.prepare(&[Message::user(vec![Part::Image, Part::Text(text)])], &[img])?;
    let image_tokens = prompt.image_tokens(model.config.image_token_id);
    println!(
        "{}: {} parameters, {:?} on {}, {} CPU threads; prompt {} tokens ({} image tokens), {} generated tokens per run",
        a.model.display(),
        model.parameter_count(),
        model.dtype(),
        device.label,
        candle_core::utils::get_num_threads(),
        prompt.input_ids.len(),
        image_tokens,
        a.tokens
    );
    let opts = GenerateOptions { max_tokens: a.tokens, stop_tokens: Some(Vec::new()), ..GenerateOptions::default() };
    let cancel = AtomicBool::new(false);
    generate(&model, &prompt, &opts, &cancel, &mut |_| {})?;
    let (mut ttft, mut decode) = (Vec::new(), Vec::new());
    for _ in 0..a.runs {
        let g = generate(&model, &prompt, &opts, &cancel, &mut |_| {})?;
        ttft.push(g.prefill_secs);
        decode.push(decode_rate(g.tokens.len(), g.decode_secs));
    }
    ttft.sort_by(f64::total_cmp);
    decode.sort_by(f64::total_cmp);
    let median = |v: &[f64]| crate::stats::quantile::of_sorted(v, 0.5).unwrap_or(f64::NAN);
    let (t, d) = (median(&ttft), median(&decode));
    #[allow(clippy::cast_precision_loss)]
    let prefill_rate = prompt.input_ids.len() as f64 / t;
    println!("  time to first token  {:8.1} ms   (median of {}; vision tower + prefill)", t * 1e3, a.runs);
    println!("  prefill              {prefill_rate:8.0} tokens/s");
    println!("  decode               {d:8.1} tokens/s (median)");
    if let (Some(before), Some(loaded), Some(peak)) = (rss_before, rss_loaded, super::bench_memory::peak_rss_mib()) {
        println!(
            "  peak memory          {peak:8.0} MiB resident ({:.0} MiB after loading, {before:.0} MiB at start)",
            loaded
        );
    }
    Ok(())
}
