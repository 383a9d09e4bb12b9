//! Training the CNN: AdamW with linear warm-up and cosine decay, label-consistent symmetry
//! augmentation, validation every epoch, the best checkpoint kept, the last one for resuming (each
//! written to a temporary file and renamed, so a crash never leaves a half-written checkpoint).
//! Runs on the caller's thread (the CLI's), reporting progress through a callback that can cancel.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

use crate::models::checkpoint::{self, CheckpointError};
use crate::models::optim::{AdamParams, AdamW};
use serde::{Deserialize, Serialize};

use super::data::Example;
use super::loss::{LossParts, corners, loss, make_batch};
use super::resnet::{CnnConfig, SpectrumResNet};
use crate::io::atomic;
use crate::sim::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub epochs: usize,
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Random flips/transposes of each example each epoch.
    pub augment: bool,
    /// Continue from `last.safetensors` + `state.json` in the output folder when they exist.
    #[serde(skip)]
    pub resume: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { epochs: 20, batch: 32, lr: 2e-3, weight_decay: 1e-4, seed: 0, augment: true, resume: false }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("model error: {0}")]
    Model(#[from] candle_core::Error),
    #[error("cannot {what}: {source}: {path}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("cancelled after epoch {0}; resume with --resume")]
    Cancelled(usize),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Validation numbers of one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f32,
    /// L1 accuracy on val.
    pub val_l1: f64,
    /// Mean IoU on val scenes with a region (a "none" prediction scores 0), box head.
    pub val_iou: f64,
    /// The same with the box read off the exceedance mask (largest component above 0.5).
    #[serde(default)]
    pub val_iou_mask: f64,
    /// Mean of L1 and the better IoU: what "best" means.
    pub val_score: f64,
    pub best: bool,
    pub seconds: f64,
}

/// What the trainer reports as it goes.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    Step { epoch: usize, step: usize, steps: usize, loss: LossParts, eta_s: f64 },
    Epoch(EpochReport),
}

/// Saved beside the checkpoints: where training stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    pub epochs_done: usize,
    pub best_score: f64,
    pub best_epoch: usize,
    pub history: Vec<EpochReport>,
    pub options: TrainOptions,
    pub config: CnnConfig,
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, TrainError> {
    serde_json::to_vec_pretty(v).map_err(|e| TrainError::Invalid(e.to_string()))
}

/// Validation numbers of a network on a set of examples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// L1 accuracy.
    pub l1: f64,
    /// Mean IoU over scenes with a region, box head (a "none" prediction scores 0).
    pub iou_head: f64,
    /// The same, box of the largest component of the exceedance mask above 0.5.
    pub iou_mask: f64,
}

/// The box of the largest component of `probs > threshold` on an `m x m` mask, or `None` when it
/// is under [`crate::sim::labels::MIN_REGION_SHARE`] (the labels' own rule).
pub fn mask_box(probs: &[f32], m: usize, threshold: f32) -> Option<[f32; 4]> {
    let mask: Vec<bool> = probs.iter().map(|&p| p > threshold).collect();
    crate::sim::labels::region_box(&mask, m)
}

/// Raw outputs on `examples` (eval mode): class logits, objectness, head boxes and mask probabilities.
pub(super) struct Raw {
    pub logits: Vec<Vec<f32>>,
    pub affected: Vec<Vec<f32>>,
    pub masks: Vec<Vec<f32>>,
    pub objectness: Vec<f32>,
    pub head: Vec<Vec<f32>>,
}

pub(super) fn raw_outputs(net: &SpectrumResNet, examples: &[Example], device: &Device) -> Result<Raw, TrainError> {
    let mut r = Raw { logits: vec![], affected: vec![], masks: vec![], objectness: vec![], head: vec![] };
    for chunk in examples.chunks(64) {
        let refs: Vec<&Example> = chunk.iter().collect();
        let batch = make_batch(&refs, net.config.mask_side(), device)?;
        let out = net.forward_t(&batch.x, false)?;
        r.logits.extend(out.severity.to_dtype(DType::F32)?.to_vec2::<f32>()?);
        r.affected.extend(candle_nn::ops::sigmoid(&out.region_affected)?.to_vec2::<f32>()?);
        r.masks.extend(candle_nn::ops::sigmoid(&out.mask)?.flatten_from(1)?.to_vec2::<f32>()?);
        r.objectness.extend(out.objectness.to_vec1::<f32>()?);
        r.head.extend(corners(&out.bbox)?.clamp(0f32, 1f32)?.to_vec2::<f32>()?);
    }
    Ok(r)
}

/// Index of the largest value (the first one on ties).
pub(super) fn argmax(v: &[f32]) -> usize {
    (1..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// L1 accuracy and mean IoUs (scenes with a region) of the network on `examples`, eval mode.
pub fn evaluate(net: &SpectrumResNet, examples: &[Example], device: &Device) -> Result<Scores, TrainError> {
    let m = net.config.mask_side();
    let raw = raw_outputs(net, examples, device)?;
    let (mut correct, mut iou_head, mut iou_mask, mut boxed) = (0usize, 0f64, 0f64, 0usize);
    for (k, e) in examples.iter().enumerate() {
        correct += usize::from(argmax(&raw.logits[k]) == e.severity);
        if let Some(truth) = e.bbox {
            boxed += 1;
            if raw.objectness[k] > 0.0 {
                let h = &raw.head[k];
                iou_head += crate::eval::metrics::iou([h[0], h[1], h[2], h[3]], truth);
            }
            if let Some(b) = mask_box(&raw.masks[k], m, 0.5) {
                iou_mask += crate::eval::metrics::iou(b, truth);
            }
        }
    }
    let n = examples.len().max(1) as f64;
    let per_box = |s: f64| if boxed == 0 { 0.0 } else { s / boxed as f64 };
    Ok(Scores { l1: correct as f64 / n, iou_head: per_box(iou_head), iou_mask: per_box(iou_mask) })
}

/// A run's saved `state.json`.
pub(crate) fn read_state<S: serde::de::DeserializeOwned>(path: &Path) -> Result<S, TrainError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| TrainError::Io { what: "read", path: path.into(), source })?;
    serde_json::from_str(&text).map_err(|e| TrainError::Invalid(format!("{}: {e}", path.display())))
}

/// AdamW over `vm` with the run's rate and decay; its moments from `out` when a run resumes (a state
/// written before the optimizer's was saved resumes with fresh moments). Both CNN trainers use it.
pub(crate) fn optimizer(vm: &VarMap, opts: &TrainOptions, out: &Path, epochs_done: usize) -> Result<AdamW, TrainError> {
    let params = AdamParams { lr: opts.lr, weight_decay: opts.weight_decay, ..AdamParams::default() };
    let mut opt = AdamW::new(AdamW::named(vm), params)?;
    let opt_path = out.join("optimizer.safetensors");
    if epochs_done > 0 && opt_path.is_file() {
        opt.load(&opt_path)?;
    }
    Ok(opt)
}

/// Train on `train`, validate on `val`, write checkpoints into `out`:
/// `model.safetensors` + `config.json` (best on val), `last.safetensors` + `optimizer.safetensors` +
/// `state.json` (resume).
pub fn train(
    train: &[Example],
    val: &[Example],
    config: &CnnConfig,
    opts: &TrainOptions,
    out: &Path,
    device: &Device,
    progress: &mut dyn FnMut(&TrainEvent) -> bool,
) -> Result<TrainState, TrainError> {
    config.validate().map_err(TrainError::Invalid)?;
    if train.is_empty() || val.is_empty() {
        return Err(TrainError::Invalid(format!(
            "need train and val scenes, got {} and {} (generate more scenes: every 20 give 14 train, 3 val)",
            train.len(),
            val.len()
        )));
    }
    if let Some(e) = train.iter().chain(val).find(|e| e.input != config.input) {
        return Err(TrainError::Invalid(format!(
            "scene {} has input {} but the model wants {}",
            e.scene, e.input, config.input
        )));
    }
    if opts.batch == 0 || opts.epochs == 0 || opts.lr.is_nan() || opts.lr <= 0.0 {
        return Err(TrainError::Invalid("batch, epochs and lr must be positive".into()));
    }
    std::fs::create_dir_all(out).map_err(|source| TrainError::Io { what: "create", path: out.into(), source })?;
    let mut vm = VarMap::new();
    let net = SpectrumResNet::new(config, VarBuilder::from_varmap(&vm, DType::F32, device))?;
    let mut state = TrainState {
        epochs_done: 0,
        best_score: f64::MIN,
        best_epoch: 0,
        history: Vec::new(),
        options: opts.clone(),
        config: config.clone(),
    };
    let last_path = out.join("last.safetensors");
    let state_path = out.join("state.json");
    if opts.resume {
        // Finish or discard a checkpoint a kill interrupted, and check the set is whole.
        checkpoint::recover(out)?;
    }
    if opts.resume && last_path.is_file() && state_path.is_file() {
        let saved: TrainState = read_state(&state_path)?;
        if saved.config != *config {
            return Err(TrainError::Invalid(format!(
                "{} was trained with {:?}; resume with the same architecture",
                state_path.display(),
                saved.config
            )));
        }
        vm.load(&last_path)?;
        state = TrainState { options: opts.clone(), ..saved };
    }
    let mut opt = optimizer(&vm, opts, out, state.epochs_done)?;
    let steps_per_epoch = train.len().div_ceil(opts.batch);
    let total_steps = steps_per_epoch * opts.epochs;
    let started = Instant::now();
    let first_epoch = state.epochs_done;
    for epoch in first_epoch..opts.epochs {
        let t0 = Instant::now();
        let mut rng = Rng::derive(opts.seed, &[epoch as u64]);
        let mut order: Vec<usize> = (0..train.len()).collect();
        rng.shuffle(&mut order);
        let mut loss_sum = 0f32;
        for (step, idx) in order.chunks(opts.batch).enumerate() {
            let global = epoch * steps_per_epoch + step;
            opt.set_lr(crate::models::optim::warmup_cosine(opts.lr, global, total_steps));
            let owned: Vec<Example> = idx
                .iter()
                .map(|&i| if opts.augment { train[i].symmetry((rng.next_u64() % 8) as u8) } else { train[i].clone() })
                .collect();
            let refs: Vec<&Example> = owned.iter().collect();
            let batch = make_batch(&refs, config.mask_side(), device)?;
            let (l, parts) = loss(&net.forward_t(&batch.x, true)?, &batch)?;
            opt.backward_step(&l)?;
            loss_sum += parts.total;
            let done = (epoch - first_epoch) * steps_per_epoch + step + 1;
            let remaining = (opts.epochs - first_epoch) * steps_per_epoch - done;
            let eta_s = started.elapsed().as_secs_f64() / done as f64 * remaining as f64;
            let event =
                TrainEvent::Step { epoch: epoch + 1, step: step + 1, steps: steps_per_epoch, loss: parts, eta_s };
            if !progress(&event) {
                return Err(TrainError::Cancelled(state.epochs_done));
            }
        }
        let v = evaluate(&net, val, device)?;
        let val_score = (v.l1 + v.iou_head.max(v.iou_mask)) / 2.0;
        let best = val_score > state.best_score;
        let report = EpochReport {
            epoch: epoch + 1,
            train_loss: loss_sum / steps_per_epoch as f32,
            val_l1: v.l1,
            val_iou: v.iou_head,
            val_iou_mask: v.iou_mask,
            val_score,
            best,
            seconds: t0.elapsed().as_secs_f64(),
        };
        if best {
            state.best_score = val_score;
            state.best_epoch = epoch + 1;
        }
        state.epochs_done = epoch + 1;
        state.history.push(report);
        // One set: the weights, moments and state of this epoch (and the best model when it is).
        let (state_json, config_json) = (json(&state)?, json(config)?);
        let best_files = [("config.json", config_json.as_slice())];
        checkpoint::commit_training(
            out,
            &|p| vm.save(p).map_err(std::io::Error::other),
            &|p| opt.write(p),
            &state_json,
            best.then_some(&best_files[..]),
        )?;
        if !progress(&TrainEvent::Epoch(report)) {
            return Err(TrainError::Cancelled(state.epochs_done));
        }
    }
    Ok(state)
}

/// Load a trained network: `config.json` and `model.safetensors` from `dir`.
pub fn load_model(dir: &Path, device: &Device) -> Result<SpectrumResNet, TrainError> {
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|source| TrainError::Io {
        what: "read",
        path: cfg_path.clone(),
        source,
    })?;
    let config: CnnConfig =
        serde_json::from_str(&text).map_err(|e| TrainError::Invalid(format!("{}: {e}", cfg_path.display())))?;
    let weights = dir.join("model.safetensors");
    let data =
        std::fs::read(&weights).map_err(|source| TrainError::Io { what: "read", path: weights.clone(), source })?;
    let vb = VarBuilder::from_buffered_safetensors(data, DType::F32, device)?;
    Ok(SpectrumResNet::new(&config, vb)?)
}

/// Write a half-precision copy of the weights in `src` to `dst` (temporary file, then rename).
pub fn write_f16(src: &Path, dst: &Path) -> Result<(), TrainError> {
    let tensors = candle_core::safetensors::load(src, &Device::Cpu)?;
    let mut half = std::collections::HashMap::with_capacity(tensors.len());
    for (name, t) in tensors {
        half.insert(name, t.to_dtype(DType::F16)?);
    }
    atomic::replace(dst, |tmp| candle_core::safetensors::save(&half, tmp).map_err(std::io::Error::other))
        .map_err(|source| TrainError::Io { what: "save weights", path: dst.into(), source })
}

/// A network from a config and a weights file of any float type (computed in f32).
pub fn load_weights(config: &CnnConfig, weights: &Path, device: &Device) -> Result<SpectrumResNet, TrainError> {
    let tensors = candle_core::safetensors::load(weights, device)?;
    Ok(SpectrumResNet::new(config, VarBuilder::from_tensors(tensors, DType::F32, device))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::cnn::data::observed_examples;

    #[test]
    fn trains_checkpoints_resumes_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = CnnConfig { width: 8, blocks: [1, 1, 1, 1], input: 32, stem_stride: 2, ..CnnConfig::default() };
        let (tr, va) = (observed_examples(0..16), observed_examples(16..22));
        let opts = TrainOptions { epochs: 2, batch: 8, ..TrainOptions::default() };
        let mut events = 0;
        let s = train(&tr, &va, &cfg, &opts, dir.path(), &Device::Cpu, &mut |_| {
            events += 1;
            true
        })
        .unwrap();
        assert_eq!(s.epochs_done, 2);
        assert_eq!(events, 2 * 2 + 2);
        for f in ["model.safetensors", "config.json", "last.safetensors", "optimizer.safetensors", "state.json"] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        // Two copies of the run: one keeps its optimizer state, one loses it.
        let (kept, lost) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for copy in [kept.path(), lost.path()] {
            for f in ["last.safetensors", "optimizer.safetensors", "state.json"] {
                std::fs::copy(dir.path().join(f), copy.join(f)).unwrap();
            }
        }
        std::fs::remove_file(lost.path().join("optimizer.safetensors")).unwrap();
        // Resume to 3 epochs: only the third runs.
        let more = TrainOptions { epochs: 3, resume: true, ..opts.clone() };
        let s = train(&tr, &va, &cfg, &more, dir.path(), &Device::Cpu, &mut |_| true).unwrap();
        // Resuming is deterministic and uses the saved moments: without them the third epoch differs.
        let weights = |d: &Path| std::fs::read(d.join("last.safetensors")).unwrap();
        for copy in [kept.path(), lost.path()] {
            train(&tr, &va, &cfg, &more, copy, &Device::Cpu, &mut |_| true).unwrap();
        }
        assert!(weights(kept.path()) == weights(dir.path()), "the same resumed run gives the same weights");
        assert!(weights(lost.path()) != weights(dir.path()), "restarted moments would give the same weights");
        assert_eq!(s.history.len(), 3);
        assert_eq!(s.history[2].epoch, 3);
        // The best checkpoint reloads and scores what training said it scored.
        let net = load_model(dir.path(), &Device::Cpu).unwrap();
        let v = evaluate(&net, &va, &Device::Cpu).unwrap();
        let best = s.history.iter().find(|r| r.epoch == s.best_epoch).unwrap();
        assert!((v.l1 - best.val_l1).abs() < 1e-9, "{v:?} vs {best:?}");
        assert!((v.iou_head - best.val_iou).abs() < 1e-6 && (v.iou_mask - best.val_iou_mask).abs() < 1e-6, "{v:?}");
        // A half-precision copy loads and scores like the original.
        let half = dir.path().join("half.safetensors");
        write_f16(&dir.path().join("model.safetensors"), &half).unwrap();
        let h = evaluate(&load_weights(&cfg, &half, &Device::Cpu).unwrap(), &va, &Device::Cpu).unwrap();
        assert!((h.l1 - v.l1).abs() <= 1.0 / 6.0 + 1e-9 && (h.iou_mask - v.iou_mask).abs() < 0.1, "{h:?} vs {v:?}");
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        assert!(size(&half) < size(&dir.path().join("model.safetensors")) * 6 / 10);
        // Cancelling stops at once.
        let r = train(&tr, &va, &cfg, &opts, dir.path(), &Device::Cpu, &mut |_| false);
        assert!(matches!(r, Err(TrainError::Cancelled(0))));
    }

    #[test]
    fn wrong_inputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = CnnConfig { width: 8, blocks: [1, 1, 1, 1], input: 64, stem_stride: 2, ..CnnConfig::default() };
        let ex = observed_examples(0..4);
        let r = train(&ex, &ex, &cfg, &TrainOptions::default(), dir.path(), &Device::Cpu, &mut |_| true);
        assert!(r.unwrap_err().to_string().contains("input 32"));
        let r = train(&ex, &[], &cfg, &TrainOptions::default(), dir.path(), &Device::Cpu, &mut |_| true);
        assert!(r.unwrap_err().to_string().contains("val"));
        assert!(load_model(dir.path(), &Device::Cpu).unwrap_err().to_string().contains("config.json"));
    }
}
