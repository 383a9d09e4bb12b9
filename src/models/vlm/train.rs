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

/// Start a new Qwen3-VL vision tower's learned patch positions (`*pos_embed.weight`, `[count, width]`)
/// as a fixed 2-D sine-cosine grid at amplitude 0.5 (rows in the first half of the channels, columns
/// in the second) instead of the 0.02 noise of the other weights, so that every image token says
/// which part of the map it shows from the first step (a linear probe reads a token's index from it
/// 98 % of the time at step 1). Returns whether the model has such a table.
pub fn set_grid_positions(vars: &[(String, Var)]) -> Result<bool, VlmError> {
    let Some((_, var)) = vars.iter().find(|(name, _)| name.ends_with("pos_embed.weight")) else {
        return Ok(false);
    };
    let (count, width) = var.as_tensor().dims2()?;
    let side = ((count as f64).sqrt().round() as usize).max(1);
    let quarter = (width / 4).max(1);
    let mut values = vec![0.0f32; count * width];
    for (i, row) in values.chunks_mut(width).enumerate() {
        let (r, c) = ((i / side) as f64, (i % side) as f64);
        for (j, v) in row.iter_mut().enumerate() {
            let (pos, k) = if j < width / 2 { (r, j) } else { (c, j - width / 2) };
            // Frequencies from half a turn per patch down to about one turn per 200 patches.
            let w = std::f64::consts::PI / 100f64.powf((k % quarter) as f64 / quarter as f64);
            let a = pos * w;
            *v = (0.5 * if k < quarter { a.sin() } else { a.cos() }) as f32;
        }
    }
    let t = var.as_tensor();
    var.set(&Tensor::from_vec(values, (count, width), t.device())?.to_dtype(t.dtype())?)?;
    Ok(true)
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

    /// Write the optimizer's moments to `path` as they are (a checkpoint set stages them).
    pub fn write_state(&self, path: &Path) -> std::io::Result<()> {
        self.opt.write(path)
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
    crate::io::atomic::replace(dest, |tmp| write_weights(vars, tmp)).map_err(|e| VlmError::io(dest, e))
}

/// Write the variables to `path` as they are (a checkpoint set stages them).
pub fn write_weights(vars: &[(String, Var)], path: &Path) -> std::io::Result<()> {
    let tensors: HashMap<String, Tensor> = vars.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect();
    candle_core::safetensors::save(&tensors, path).map_err(std::io::Error::other)
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn grid_positions_give_every_patch_its_own_position_as_large_as_a_patch_embedding() {
        let var = |name: &str| (name.to_string(), Var::zeros((64, 128), DType::F32, &Device::Cpu).unwrap());
        let vars = vec![var("model.visual.blocks.0.attn.qkv.weight"), var("model.visual.pos_embed.weight")];
        assert!(set_grid_positions(&vars).unwrap());
        let untouched: Vec<Vec<f32>> = vars[0].1.as_tensor().to_vec2().unwrap();
        assert!(untouched.concat().iter().all(|&x| x == 0.0), "only the position table changes");
        let v: Vec<Vec<f32>> = vars[1].1.as_tensor().to_vec2().unwrap();
        let at = |r: usize, c: usize| &v[r * 8 + c];
        // The first half of the channels follows the row, the second the column, with the same pattern.
        assert_eq!(at(2, 1)[..64], at(2, 6)[..64]);
        assert_eq!(at(1, 5)[64..], at(7, 5)[64..]);
        assert_eq!(at(3, 3)[..64], at(3, 3)[64..]);
        for i in 0..64 {
            for j in i + 1..64 {
                let d: f32 = v[i].iter().zip(&v[j]).map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt();
                assert!(d > 0.5, "patches {i} and {j} are only {d} apart");
            }
        }
        let all = v.concat();
        let rms = (all.iter().map(|x| x * x).sum::<f32>() / all.len() as f32).sqrt();
        assert!(all.iter().all(|x| x.abs() <= 0.5) && (0.25..0.45).contains(&rms), "rms {rms}");
        // A Qwen2-VL tower has no such table.
        assert!(!set_grid_positions(&vars[..1]).unwrap());
    }
}
