//! Training Qwen-VL models in candle: a sample (a user turn with images, and the answer) becomes one
//! sequence whose loss counts only the answer tokens and the end-of-turn token (the prompt is masked);
//! the forward pass is the inference one without a cache, with composed ops that have a backward pass
//! (the model is loaded with [`QwenVl::load_trainable`] or [`QwenVl::new_random`]); AdamW with global
//! gradient-norm clipping; checkpoints written atomically in the published layout, loadable by
//! [`QwenVl::load`]. Runs on a worker or the CLI.

use std::collections::HashMap;
use std::path::Path;

use crate::models::optim::{AdamParams, AdamW};
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use image::RgbImage;

use super::VlmError;
use super::chat::{Message, Part};
use super::model::{Prepared, QwenVl};
use super::text::KvCache;

/// One training sample: the user's turn (text and image parts, images in order) and the answer.
#[derive(Clone, Debug)]
pub struct Sample {
    pub parts: Vec<Part>,
    pub images: Vec<RgbImage>,
    pub answer: String,
}

/// A sample tokenized: the whole sequence and where the answer starts.
#[derive(Clone, Debug)]
pub struct Example {
    pub prepared: Prepared,
    /// Index of the first answer token in `prepared.input_ids`.
    pub answer_start: usize,
}

impl Example {
    /// Prompt, answer tokens, then the end-of-turn token the model must learn to stop with.
    pub fn new(model: &QwenVl, sample: &Sample) -> Result<Self, VlmError> {
        let prompt = model.prepare(&[Message::user(sample.parts.clone())], &sample.images)?;
        let end =
            model.tokenizer.token_id("<|im_end|>").or_else(|| model.stop_tokens.first().copied()).ok_or_else(|| {
                VlmError::Prompt("the tokenizer has no <|im_end|> and the model no stop token".into())
            })?;
        let mut ids = prompt.input_ids.clone();
        let answer_start = ids.len();
        ids.extend(model.tokenizer.encode(&sample.answer)?);
        ids.push(end);
        let prepared = model.prepare_ids(ids, prompt.pixels, prompt.grids)?;
        Ok(Self { prepared, answer_start })
    }

    /// Target tokens of the loss (answer + end of turn).
    pub fn targets(&self) -> &[u32] {
        &self.prepared.input_ids[self.answer_start..]
    }
}

/// Mean cross-entropy over the answer tokens (each predicted from everything before it).
pub fn loss(model: &QwenVl, ex: &Example) -> Result<Tensor, VlmError> {
    let mut cache = KvCache::default();
    let logits = model.prefill(&ex.prepared, &mut cache, false)?;
    let n = ex.prepared.input_ids.len();
    let first = ex.answer_start - 1;
    let predicting = logits.narrow(0, first, n - 1 - first)?.to_dtype(logits.dtype())?;
    let targets = Tensor::from_slice(ex.targets(), ex.targets().len(), logits.device())?;
    Ok(candle_nn::loss::cross_entropy(&predicting, &targets)?)
}

/// Mean loss over a batch and its gradients.
pub fn gradients(model: &QwenVl, batch: &[Example]) -> Result<(f64, GradStore), VlmError> {
    if batch.is_empty() {
        return Err(VlmError::Prompt("an empty batch has no loss".into()));
    }
    let mut total: Option<Tensor> = None;
    for ex in batch {
        let l = loss(model, ex)?;
        total = Some(match total {
            None => l,
            Some(t) => (t + l)?,
        });
    }
    #[allow(clippy::cast_precision_loss)]
    let mean = (total.ok_or_else(|| VlmError::Prompt("empty batch".into()))? / batch.len() as f64)?;
    let value = mean.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok((value, mean.backward()?))
}

/// Optimizer settings.
#[derive(Clone, Copy, Debug)]
pub struct TrainSettings {
    pub lr: f64,
    pub weight_decay: f64,
    /// Gradients are scaled down when their global L2 norm exceeds this.
    pub clip_norm: f64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self { lr: 1e-3, weight_decay: 0.01, clip_norm: 1.0 }
    }
}

/// What one optimizer step saw.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

/// AdamW over the model's variables with gradient clipping.
pub struct Trainer {
    opt: AdamW,
    settings: TrainSettings,
}

impl Trainer {
    pub fn new(vars: Vec<(String, Var)>, settings: TrainSettings) -> Result<Self, VlmError> {
        let params = AdamParams { lr: settings.lr, weight_decay: settings.weight_decay, ..AdamParams::default() };
        Ok(Self { opt: AdamW::new(vars, params)?, settings })
    }

    pub fn vars(&self) -> &[(String, Var)] {
        self.opt.vars()
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.opt.set_lr(lr);
    }

    /// Save the optimizer's moments (to resume the same run).
    pub fn save_state(&self, path: &Path) -> Result<(), VlmError> {
        Ok(self.opt.save(path)?)
    }

    /// Load moments saved by [`Trainer::save_state`] for the same model.
    pub fn load_state(&mut self, path: &Path) -> Result<(), VlmError> {
        Ok(self.opt.load(path)?)
    }

    /// One step on a batch: mean loss, backward, clip, AdamW update.
    pub fn step(&mut self, model: &QwenVl, batch: &[Example]) -> Result<StepReport, VlmError> {
        let (loss, mut grads) = gradients(model, batch)?;
        if !loss.is_finite() {
            return Err(VlmError::Prompt(format!("the loss is {loss}; lower the learning rate")));
        }
        let grad_norm = global_norm(self.opt.vars(), &grads)?;
        if grad_norm > self.settings.clip_norm {
            let scale = self.settings.clip_norm / grad_norm;
            for (_, var) in self.opt.vars() {
                if let Some(g) = grads.get(var.as_tensor()) {
                    let scaled = (g * scale)?;
                    grads.insert(var.as_tensor(), scaled);
                }
            }
        }
        self.opt.step(&grads)?;
        Ok(StepReport { loss, grad_norm })
    }
}

/// L2 norm of all gradients together.
pub fn global_norm(vars: &[(String, Var)], grads: &GradStore) -> Result<f64, VlmError> {
    let mut sum = 0.0;
    for (_, var) in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            sum += g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
        }
    }
    Ok(sum.sqrt())
}

/// The files of a model folder besides its weights: configuration, tokenizer, processor, template.
pub const FOLDER_FILES: [&str; 8] = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
];

/// Write the variables to `dest` (safetensors, through a temporary file, so a crash never leaves a
/// half-written checkpoint).
pub fn save_weights(vars: &[(String, Var)], dest: &Path) -> Result<(), VlmError> {
    let tensors: HashMap<String, Tensor> = vars.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect();
    crate::io::atomic::replace(dest, |tmp| candle_core::safetensors::save(&tensors, tmp).map_err(std::io::Error::other))
        .map_err(|e| VlmError::io(dest, e))
}

/// Write the variables as `out/model.safetensors` ([`save_weights`]) and copy the folder's config,
/// tokenizer and processor files beside it: a model folder.
pub fn save_checkpoint(vars: &[(String, Var)], source_dir: &Path, out: &Path) -> Result<(), VlmError> {
    std::fs::create_dir_all(out).map_err(|e| VlmError::io(out, e))?;
    save_weights(vars, &out.join("model.safetensors"))?;
    if source_dir != out {
        copy_folder_files(source_dir, out)?;
    }
    Ok(())
}

/// Copy the [`FOLDER_FILES`] that `from` has into `to` (an existing folder).
pub fn copy_folder_files(from: &Path, to: &Path) -> Result<(), VlmError> {
    for name in FOLDER_FILES {
        let src = from.join(name);
        if src.is_file() {
            std::fs::copy(&src, to.join(name)).map_err(|e| VlmError::io(&src, e))?;
        }
    }
    Ok(())
}
