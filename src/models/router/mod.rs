//! The router: from a question's text alone, which kind of question it is (and so its level), the
//! regions it names, how sure it is, or that it abstains (out of scope, or not sure enough). A linear
//! softmax over hashed word and character n-grams (`text`), a few hundred kB, microseconds a question;
//! trained by `heatscope train router` (`train`) and shipped in `models/router/`, embedded like the
//! other models. Which model answers a routed question is the policy's business (`policy`). Pure
//! computation after loading; any thread.

pub mod policy;
pub mod text;
pub mod train;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The label of questions about something else.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

const FORMAT: &str = "heatscope-router";
const CONFIG: &str = "config.json";
const WEIGHTS: &str = "model.safetensors";

/// One class the router tells apart: a question kind with its level and the regions its structured
/// query needs, or [`OUT_OF_SCOPE`] (no level).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub kind: String,
    pub level: Option<String>,
    pub regions: usize,
}

/// One cell of the best-on-val table: on the val split, the questions the router put in this level
/// and kind were answered best by `model` (mean of the level's score; `scores` per model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestCell {
    pub level: String,
    pub kind: String,
    pub model: String,
    pub scores: BTreeMap<String, f64>,
    pub n: usize,
}

/// `config.json` of a router folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouterConfig {
    pub format: String,
    /// Features are hashed into `1 << bits` buckets.
    pub bits: u32,
    pub labels: Vec<Label>,
    /// Below this probability of its best class the router abstains.
    pub threshold: f32,
    /// Fitted from val runs by `heatscope train router --runs`; empty until then.
    #[serde(default)]
    pub best_on_val: Vec<BestCell>,
    /// Where the runs the table was fitted on came from (dataset, run folders), for the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_on_val_from: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("{path}: {why}")]
    File { path: String, why: String },
}

fn file_error(path: impl Into<String>, why: impl std::fmt::Display) -> RouterError {
    RouterError::File { path: path.into(), why: why.to_string() }
}

/// What the router made of one question.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// The predicted level; `None` when it abstains.
    pub level: Option<String>,
    /// The predicted kind; `None` when it abstains.
    pub kind: Option<String>,
    /// The regions named, canonical, in the order named.
    pub regions: Vec<String>,
    /// The probability of the best class.
    pub confidence: f32,
    pub abstained: bool,
    /// The best class and why it abstained (or the class it chose).
    pub best: String,
    pub why: String,
    /// Whether the question names the regions its kind needs (a CNN or rule can answer it as asked).
    pub complete: bool,
}

/// A trained router.
#[derive(Clone, Debug)]
pub struct Router {
    pub config: RouterConfig,
    /// Row-major `labels x (1 << bits)`.
    weights: Vec<f32>,
    bias: Vec<f32>,
    checksum: String,
}

/// The answer format of the question the router read (free for abstentions and unknown kinds): a
/// VLM's answer is constrained to it (the app's chat, `ask --constrain`).
pub fn answer_format(route: &Route) -> crate::backend::AnswerFormat {
    let kind = route.kind.as_deref().and_then(crate::types::QuestionKind::parse);
    match kind {
        Some(kind) if !route.abstained => crate::backend::AnswerFormat::for_kind(kind, &route.regions),
        _ => crate::backend::AnswerFormat::default(),
    }
}

impl Router {
    /// A router from its parts (training builds one).
    ///
    /// # Errors
    /// When the shapes disagree with the config.
    pub fn new(config: RouterConfig, weights: Vec<f32>, bias: Vec<f32>) -> Result<Self, RouterError> {
        let classes = config.labels.len();
        if config.format != FORMAT {
            return Err(file_error(CONFIG, format!("format is {:?}, not {FORMAT:?}", config.format)));
        }
        if !(4..=24).contains(&config.bits) {
            return Err(file_error(CONFIG, format!("bits {} is outside 4-24", config.bits)));
        }
        if classes < 2 {
            return Err(file_error(CONFIG, "fewer than two labels"));
        }
        if !(0.0..=1.0).contains(&config.threshold) {
            return Err(file_error(CONFIG, format!("threshold {} is outside 0-1", config.threshold)));
        }
        let want = classes << config.bits;
        if weights.len() != want || bias.len() != classes {
            return Err(file_error(
                WEIGHTS,
                format!(
                    "holds {} weights and {} biases; config.json's {} labels x 2^{} buckets need {want} and {classes}",
                    weights.len(),
                    bias.len(),
                    classes,
                    config.bits
                ),
            ));
        }
        if weights.iter().chain(&bias).any(|v| !v.is_finite()) {
            return Err(file_error(WEIGHTS, "holds a NaN or infinite weight"));
        }
        let mut bytes = serde_json::to_vec(&config).unwrap_or_default();
        bytes.extend(weights.iter().flat_map(|v| v.to_le_bytes()));
        let checksum = crate::io::checksum::of_bytes(&bytes);
        Ok(Self { config, weights, bias, checksum })
    }

    /// The router in `dir` (config.json, model.safetensors).
    ///
    /// # Errors
    /// A missing, unreadable or misshapen file, named.
    pub fn load(dir: &Path) -> Result<Self, RouterError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| file_error(path.display().to_string(), e))
        };
        Self::from_bytes(&read(CONFIG)?, &read(WEIGHTS)?)
            .map_err(|RouterError::File { path, why }| file_error(dir.join(path).display().to_string(), why))
    }

    /// The router shipped in `models/router`, embedded in the binary.
    ///
    /// # Errors
    /// Only if the build embedded a broken model.
    pub fn bundled() -> Result<Self, RouterError> {
        Self::from_bytes(
            include_bytes!("../../../models/router/config.json"),
            include_bytes!("../../../models/router/model.safetensors"),
        )
    }

    /// A router from the bytes of its two files.
    ///
    /// # Errors
    /// Misshapen JSON or weights, named by file.
    pub fn from_bytes(config: &[u8], weights: &[u8]) -> Result<Self, RouterError> {
        let config: RouterConfig = serde_json::from_slice(config).map_err(|e| file_error(CONFIG, e))?;
        let tensors = candle_core::safetensors::load_buffer(weights, &candle_core::Device::Cpu)
            .map_err(|e| file_error(WEIGHTS, e))?;
        let take = |name: &str| -> Result<Vec<f32>, RouterError> {
            let t = tensors.get(name).ok_or_else(|| file_error(WEIGHTS, format!("has no tensor {name:?}")))?;
            t.flatten_all()
                .and_then(|t| t.to_dtype(candle_core::DType::F32))
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| file_error(WEIGHTS, format!("tensor {name:?}: {e}")))
        };
        Self::new(config, take("weight")?, take("bias")?)
    }

    /// Write config.json and model.safetensors (weights as f16) into `dir`, each atomically.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        use candle_core::{DType, Device, Tensor};
        std::fs::create_dir_all(dir)?;
        let classes = self.config.labels.len();
        let w = Tensor::from_slice(&self.weights, (classes, 1usize << self.config.bits), &Device::Cpu)?
            .to_dtype(DType::F16)?;
        let b = Tensor::from_slice(&self.bias, classes, &Device::Cpu)?;
        let tmp = dir.join(".model.safetensors.tmp");
        candle_core::safetensors::save(&std::collections::HashMap::from([("weight", w), ("bias", b)]), &tmp)?;
        std::fs::rename(&tmp, dir.join(WEIGHTS))?;
        let json = serde_json::to_string_pretty(&self.config)? + "\n";
        crate::io::atomic::write(&dir.join(CONFIG), json.as_bytes())?;
        Ok(())
    }

    /// A checksum of what the router computes (its config and weights).
    pub fn checksum(&self) -> &str {
        &self.checksum
    }

    /// Probabilities of every label for `question`.
    pub fn probabilities(&self, question: &str) -> Vec<f32> {
        let dim = 1usize << self.config.bits;
        let features = text::features(question, self.config.bits);
        let mut logits = self.bias.clone();
        for (c, logit) in logits.iter_mut().enumerate() {
            let row = &self.weights[c * dim..(c + 1) * dim];
            *logit += features.iter().map(|&(i, v)| row[i as usize] * v).sum::<f32>();
        }
        softmax(&mut logits);
        logits
    }

    /// Route `question`: its kind, level, regions and confidence, or an abstention with the reason.
    pub fn route(&self, question: &str) -> Route {
        let regions = text::region_names(&text::regions(question));
        if question.trim().is_empty() {
            return abstain(regions, 1.0, "-", "the question is empty");
        }
        let p = self.probabilities(question);
        let (best, &confidence) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap_or((0, &0.0));
        let label = &self.config.labels[best];
        if label.kind == OUT_OF_SCOPE || label.level.is_none() {
            return abstain(regions, confidence, &label.kind, "not a question about the interference map");
        }
        if confidence < self.config.threshold {
            let why = format!(
                "not sure enough: {} at {confidence:.2}, below the threshold {:.2}",
                label.kind, self.config.threshold
            );
            return abstain(regions, confidence, &label.kind, &why);
        }
        let complete = regions.len() >= label.regions;
        Route {
            level: label.level.clone(),
            kind: Some(label.kind.clone()),
            regions,
            confidence,
            abstained: false,
            best: label.kind.clone(),
            why: format!("{} {} question ({confidence:.2})", label.level.as_deref().unwrap_or("?"), label.kind),
            complete,
        }
    }
}

fn abstain(regions: Vec<String>, confidence: f32, best: &str, why: &str) -> Route {
    Route {
        level: None,
        kind: None,
        regions,
        confidence,
        abstained: true,
        best: best.to_string(),
        why: why.to_string(),
        complete: false,
    }
}

/// In-place softmax.
pub(crate) fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum.max(f32::MIN_POSITIVE);
    }
}
