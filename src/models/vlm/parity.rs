//! The Qwen-VL engine checked against the reference implementation's outputs on the committed
//! fixtures (`tests/fixtures/vlm`, made by `tools/make_vlm_fixtures.py`): for one case, the chat
//! template, token ids and pixels, the logits over the whole prompt from the reference's own inputs,
//! and the greedy tokens through the KV cache. The parity tests and `heatscope bench parity` (which
//! runs it on whatever device the binary picks, with no Rust toolchain) share it. The caller's thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor};

use super::vision::Grid;
use super::{GenerateOptions, Message, Part, QwenVl, VlmError, generate};

/// The fixture folders and the cases each holds.
pub const FIXTURES: [(&str, &[&str]); 4] = [
    ("qwen2vl-untied", &["text_only", "square_image", "wide_image", "two_images", "text_after_images"]),
    ("qwen2vl-tied", &["text_only", "two_images"]),
    ("qwen3vl-untied", &["text_only", "square_image", "wide_image", "two_images", "text_after_images"]),
    ("qwen3vl-tied", &["text_only", "two_images"]),
];

/// Greedy tokens each case compares.
pub const GREEDY_TOKENS: usize = 32;

/// One case of a fixture folder: the messages and images, the reference's rendered prompt and its
/// tensors (`input_ids`, `logits`, `greedy`).
pub struct Case {
    pub messages: Vec<Message>,
    pub images: Vec<String>,
    pub prompt: String,
    pub tensors: HashMap<String, Tensor>,
}

/// What one case gave.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    pub folder: String,
    pub case: String,
    pub prompt_tokens: usize,
    /// The chat template rendered the reference's text.
    pub template_ok: bool,
    /// Our tokenizer and processor gave the reference's token ids.
    pub ids_ok: bool,
    /// max |ours - reference| / max |reference| of the pixels and of the logits over the prompt.
    pub pixel_error: Option<f32>,
    pub logit_error: f32,
    /// Whether the argmax agrees with the reference's at every prompt position, and at how many.
    pub top_agree: (usize, usize),
    /// The greedy tokens equal the reference's (`None` when not generated).
    pub greedy_ok: Option<bool>,
}

fn tensors(path: &Path) -> Result<HashMap<String, Tensor>, VlmError> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| VlmError::File { path: path.into(), reason: format!("cannot be read: {e}") })
}

fn field<'a>(v: &'a serde_json::Value, key: &str, path: &Path) -> Result<&'a serde_json::Value, VlmError> {
    v.get(key).ok_or_else(|| VlmError::File { path: path.into(), reason: format!("has no {key:?}") })
}

/// Read case `name` of fixture folder `folder` under `fixtures`.
pub fn read_case(fixtures: &Path, folder: &str, name: &str) -> Result<Case, VlmError> {
    let dir = fixtures.join(folder).join("cases");
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(|source| VlmError::Io { path: path.clone(), source })?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| VlmError::File { path: path.clone(), reason: format!("is not JSON: {e}") })?;
    let str_of = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut messages = Vec::new();
    for m in field(&json, "messages", &path)?.as_array().into_iter().flatten() {
        let parts = field(m, "content", &path)?
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| match c["type"].as_str() {
                Some("image") => Part::Image,
                _ => Part::Text(str_of(&c["text"])),
            })
            .collect();
        messages.push(Message { role: str_of(&m["role"]), parts });
    }
    let images = field(&json, "images", &path)?.as_array().into_iter().flatten().map(str_of).collect();
    let prompt = str_of(field(&json, "prompt", &path)?);
    let tensors = tensors(&dir.join(format!("{name}.safetensors")))?;
    Ok(Case { messages, images, prompt, tensors })
}

/// A fixture image.
pub fn image(fixtures: &Path, name: &str) -> Result<image::RgbImage, VlmError> {
    let path = fixtures.join("images").join(name);
    Ok(image::open(&path).map_err(|e| VlmError::File { path: path.clone(), reason: e.to_string() })?.to_rgb8())
}

/// The reference processor's pixels and grids for `names`, with the folder's family settings.
pub fn reference_pixels(
    fixtures: &Path,
    folder: &str,
    names: &[String],
) -> Result<Option<(Tensor, Vec<Grid>)>, VlmError> {
    if names.is_empty() {
        return Ok(None);
    }
    let family = folder.split('-').next().unwrap_or(folder);
    let path = fixtures.join(format!("images/pixels_{family}.safetensors"));
    let all = tensors(&path)?;
    let get = |key: String| {
        all.get(&key).cloned().ok_or_else(|| VlmError::File { path: path.clone(), reason: format!("has no {key}") })
    };
    let mut rows = Vec::new();
    let mut grids = Vec::new();
    for n in names {
        let stem = n.trim_end_matches(".png");
        rows.push(get(format!("{stem}.pixel_values"))?);
        let g: Vec<i64> = get(format!("{stem}.grid_thw"))?.to_vec1()?;
        let u = |i: usize| g.get(i).and_then(|&v| usize::try_from(v).ok()).unwrap_or(0);
        grids.push(Grid { t: u(0), h: u(1), w: u(2) });
    }
    Ok(Some((Tensor::cat(&rows, 0)?, grids)))
}

/// max |a - b| / max |b|, both taken to f32 on the CPU.
pub fn relative_error(a: &Tensor, b: &Tensor) -> Result<f32, VlmError> {
    let (a, b) = (a.to_device(&Device::Cpu)?.to_dtype(DType::F32)?, b.to_device(&Device::Cpu)?.to_dtype(DType::F32)?);
    let diff = (&a - &b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
    let scale = b.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
    Ok(diff / scale)
}

fn ids(t: &Tensor) -> Result<Vec<u32>, VlmError> {
    Ok(t.to_vec1::<i64>()?.into_iter().map(|v| u32::try_from(v).unwrap_or(u32::MAX)).collect())
}

/// Run case `name` of `folder` on `model` (any device and dtype); `greedy` also generates
/// [`GREEDY_TOKENS`] tokens and compares them.
pub fn check_case(
    model: &QwenVl,
    fixtures: &Path,
    folder: &str,
    name: &str,
    greedy: bool,
) -> Result<CaseReport, VlmError> {
    let case = read_case(fixtures, folder, name)?;
    let template_ok = super::chat::render(&case.messages, true, model.config.family) == case.prompt;
    let images = case.images.iter().map(|n| image(fixtures, n)).collect::<Result<Vec<_>, _>>()?;
    let ours = model.prepare(&case.messages, &images)?;
    let want_ids = ids(&case.tensors["input_ids"])?;
    let reference = reference_pixels(fixtures, folder, &case.images)?;
    let pixel_error = match (&reference, &ours.pixels) {
        (Some((pixels, grids)), Some(mine)) if *grids == ours.grids => Some(relative_error(mine, pixels)?),
        (Some(_), _) => Some(f32::INFINITY),
        (None, _) => None,
    };
    let ids_ok = ours.input_ids == want_ids;
    // The logits from the reference's own inputs, so a tokenizer or pixel difference does not hide
    // a difference in the network.
    let (pixels, grids) = match reference {
        Some((p, g)) => (Some(p.to_device(model.device())?), g),
        None => (None, Vec::new()),
    };
    let prepared = model.prepare_ids(want_ids, pixels, grids)?;
    let mut cache = super::text::KvCache::default();
    let logits = model.prefill(&prepared, &mut cache, false)?;
    let want = case.tensors.get("logits").ok_or_else(|| VlmError::File {
        path: fixtures.join(folder).join("cases"),
        reason: format!("{name} has no logits"),
    })?;
    let logit_error = relative_error(&logits, want)?;
    let ours_top: Vec<u32> = logits.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.argmax(1)?.to_vec1()?;
    let want_top: Vec<u32> = want.argmax(1)?.to_vec1()?;
    let agree = ours_top.iter().zip(&want_top).filter(|(a, b)| a == b).count();
    let greedy_ok = if greedy {
        let opts =
            GenerateOptions { max_tokens: GREEDY_TOKENS, stop_tokens: Some(Vec::new()), ..GenerateOptions::default() };
        let generation = generate(model, &ours, &opts, &AtomicBool::new(false), &mut |_| {})?;
        Some(generation.tokens == ids(&case.tensors["greedy"])?)
    } else {
        None
    };
    Ok(CaseReport {
        folder: folder.into(),
        case: name.into(),
        prompt_tokens: prepared.input_ids.len(),
        template_ok,
        ids_ok,
        pixel_error,
        logit_error,
        top_agree: (agree, want_top.len()),
        greedy_ok,
    })
}

/// The bounds a case must meet in `dtype`: the relative logit error (f32 1e-4; half precision keeps
/// about three (f16) or two (bf16) significant digits per operation, and the random fixture weights
/// are large, so errors compound more than in a trained model) and the share of prompt positions
/// whose top token must agree.
pub fn bounds(dtype: DType) -> (f32, f64) {
    match dtype {
        DType::F16 => (0.02, 0.9),
        DType::BF16 => (0.1, 0.9),
        _ => (1e-4, 1.0),
    }
}

impl CaseReport {
    /// Whether the case passes in `dtype` ([`bounds`]; template, ids and greedy tokens in f32 only).
    pub fn passes(&self, dtype: DType) -> bool {
        let (max_err, agree) = bounds(dtype);
        #[allow(clippy::cast_precision_loss)]
        let agreed = self.top_agree.0 as f64 >= agree * self.top_agree.1 as f64;
        let exact = dtype != DType::F32
            || (self.template_ok
                && self.ids_ok
                && self.pixel_error.is_none_or(|e| e < 1e-6)
                && self.greedy_ok != Some(false));
        self.logit_error <= max_err && agreed && exact
    }
}

/// The fixture folder under a repository checkout (`tests/fixtures/vlm`).
pub fn default_fixtures() -> PathBuf {
    PathBuf::from("tests/fixtures/vlm")
}
