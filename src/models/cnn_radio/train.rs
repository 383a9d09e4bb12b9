//! Training the radio CNN: the sum over tasks of each task's cross-entropy on the scenes that ask it,
//! AdamW with warm-up and cosine decay, the eight symmetries as augmentation, validation every epoch
//! (the mean of the six task accuracies), checkpoints through `models::checkpoint` (best, last,
//! optimizer moments; resumable). Calibration: one temperature per task fitted on val. Runs on the
//! caller's thread.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::data::RadioExample;
use super::net::{RadioConfig, RadioNet, TASKS, task_span};
use crate::models::checkpoint;
use crate::models::cnn::train::{optimizer, read_state};
use crate::models::cnn::{TrainError, TrainOptions, ece, fit_temperature};
use crate::sim::rng::Rng;

/// One epoch's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RadioEpoch {
    pub epoch: usize,
    pub train_loss: f32,
    /// Val accuracy per task of [`TASKS`] (NaN where val has no scene asking it).
    pub val_accuracy: [f64; 6],
    /// Mean of the finite accuracies: what "best" means.
    pub val_score: f64,
    pub best: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone)]
pub enum RadioEvent {
    Step { epoch: usize, step: usize, steps: usize, loss: f32, eta_s: f64 },
    Epoch(RadioEpoch),
}

/// Saved beside the checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RadioTrainState {
    pub epochs_done: usize,
    pub best_score: f64,
    pub best_epoch: usize,
    pub history: Vec<RadioEpoch>,
    pub options: TrainOptions,
    pub config: RadioConfig,
}

/// Temperatures per task (`calibration.json`), fitted on val, with the ECE before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RadioCalibration {
    /// Task name -> temperature.
    pub temperature: Vec<(String, f64)>,
    pub ece_before: Vec<(String, f64)>,
    pub ece_after: Vec<(String, f64)>,
    pub fitted_on: usize,
}

impl RadioCalibration {
    /// The temperature of task `task` (1 when absent).
    pub fn temperature_of(&self, task: usize) -> f64 {
        let name = TASKS[task].name();
        self.temperature.iter().find(|(n, _)| n == name).map_or(1.0, |t| t.1)
    }
}

/// A batch's inputs, (batch, channels, side, side).
pub fn inputs(examples: &[&RadioExample], device: &Device) -> candle_core::Result<Tensor> {
    let side = examples.first().map_or(0, |e| e.side);
    if let Some(e) = examples.iter().find(|e| e.side != side) {
        candle_core::bail!("examples of one batch must share the input size ({} vs {side})", e.side);
    }
    input_tensor(&examples.iter().map(|e| e.x.as_slice()).collect::<Vec<_>>(), side, device)
}

/// Network inputs of `side` pixels (channel-major, every channel `side * side`) as one batch.
pub fn input_tensor(xs: &[&[f32]], side: usize, device: &Device) -> candle_core::Result<Tensor> {
    let channels = xs.first().map_or(0, |x| x.len() / (side * side).max(1));
    let mut batch = Vec::with_capacity(xs.len() * channels * side * side);
    for x in xs {
        if x.len() != channels * side * side {
            candle_core::bail!(
                "inputs of one batch must share the input size ({} vs {} values)",
                x.len(),
                channels * side * side
            );
        }
        batch.extend_from_slice(x);
    }
    Tensor::from_vec(batch, (xs.len(), channels, side, side), device)
}

/// Per task of [`TASKS`], a weight per class that makes every class weigh the same in the loss
/// whatever its share of `train` (`n / (k * n_c)`; 1 for a class no example carries): the
/// benchmark's val and test splits are balanced, a training set with every scene's labels is not.
pub fn class_weights(train: &[RadioExample]) -> Vec<Vec<f32>> {
    (0..TASKS.len())
        .map(|task| {
            let (_, k) = task_span(task);
            let mut counts = vec![0usize; k];
            for c in train.iter().filter_map(|e| e.labels[task]) {
                if c < k {
                    counts[c] += 1;
                }
            }
            let n: usize = counts.iter().sum();
            counts.iter().map(|&c| if c == 0 { 1.0 } else { n as f32 / (k * c) as f32 }).collect()
        })
        .collect()
}

/// Sum over tasks of the class-weighted mean cross-entropy over the examples that carry the task.
fn loss(
    logits: &Tensor,
    examples: &[&RadioExample],
    weights: &[Vec<f32>],
    device: &Device,
) -> candle_core::Result<Tensor> {
    let mut total = Tensor::zeros((), DType::F32, device)?;
    for (task, class_weight) in weights.iter().enumerate().take(TASKS.len()) {
        let labelled: Vec<(usize, u32)> =
            examples.iter().enumerate().filter_map(|(i, e)| e.labels[task].map(|c| (i, c as u32))).collect();
        if labelled.is_empty() {
            continue;
        }
        let (start, len) = task_span(task);
        let n = labelled.len();
        let rows = Tensor::from_vec(labelled.iter().map(|p| p.0 as u32).collect::<Vec<_>>(), n, device)?;
        let targets = Tensor::from_vec(labelled.iter().map(|p| p.1).collect::<Vec<_>>(), (n, 1), device)?;
        let w: Vec<f32> = labelled.iter().map(|p| class_weight.get(p.1 as usize).copied().unwrap_or(1.0)).collect();
        let w_sum: f32 = w.iter().sum();
        let w = Tensor::from_vec(w, n, device)?;
        let part = logits.narrow(1, start, len)?.contiguous()?.index_select(&rows, 0)?;
        let nll = candle_nn::ops::log_softmax(&part, 1)?.gather(&targets, 1)?.squeeze(1)?.neg()?;
        total = (total + ((nll * w)?.sum_all()? / f64::from(w_sum))?)?;
    }
    Ok(total)
}

/// Raw logits of `net` on `examples` (eval mode, averaged over the config's symmetries), one row per
/// example.
pub fn logits_of(net: &RadioNet, examples: &[RadioExample], device: &Device) -> Result<Vec<Vec<f32>>, TrainError> {
    let xs: Vec<&[f32]> = examples.iter().map(|e| e.x.as_slice()).collect();
    Ok(net.infer(&xs, device)?.into_iter().map(|(logits, _)| logits).collect())
}

/// Accuracy per task (NaN where no example carries it).
pub fn accuracy(logits: &[Vec<f32>], examples: &[RadioExample]) -> [f64; 6] {
    let mut acc = [f64::NAN; 6];
    for (task, slot) in acc.iter_mut().enumerate() {
        let (start, len) = task_span(task);
        let (mut right, mut n) = (0usize, 0usize);
        for (row, e) in logits.iter().zip(examples) {
            if let Some(c) = e.labels[task] {
                n += 1;
                right += usize::from(argmax(&row[start..start + len]) == c);
            }
        }
        if n > 0 {
            *slot = right as f64 / n as f64;
        }
    }
    acc
}

pub fn argmax(v: &[f32]) -> usize {
    (1..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

fn mean_finite(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() { 0.0 } else { f.iter().sum::<f64>() / f.len() as f64 }
}

/// Train on `train`, validate on `val`, checkpoints into `out` (as `train cnn` does), from seeded
/// random weights or, with `init`, from the weights of the model in that folder (fine-tuning). A step draws
/// an example's PNG rendering instead of its observed cutout with probability `rendering_share`
/// (where the example carries one), so the network reads 8-bit renderings too.
#[allow(clippy::too_many_arguments)]
pub fn train(
    train: &[RadioExample],
    val: &[RadioExample],
    config: &RadioConfig,
    opts: &TrainOptions,
    rendering_share: f64,
    init: Option<&Path>,
    out: &Path,
    device: &Device,
    progress: &mut dyn FnMut(&RadioEvent) -> bool,
) -> Result<RadioTrainState, TrainError> {
    config.validate().map_err(TrainError::Invalid)?;
    if train.is_empty() || val.is_empty() {
        return Err(TrainError::Invalid(format!("need train and val scenes, got {} and {}", train.len(), val.len())));
    }
    let wrong = |e: &&RadioExample| e.side != config.input || e.x.len() != config.channels * e.side * e.side;
    if let Some(e) = train.iter().chain(val).find(wrong) {
        return Err(TrainError::Invalid(format!(
            "scene {} has input {} px x {} channels but the model wants {} x {}",
            e.scene,
            e.side,
            e.x.len() / (e.side * e.side).max(1),
            config.input,
            config.channels
        )));
    }
    if opts.batch == 0 || opts.epochs == 0 || opts.lr.is_nan() || opts.lr <= 0.0 {
        return Err(TrainError::Invalid("batch, epochs and lr must be positive".into()));
    }
    if !(0.0..=1.0).contains(&rendering_share) {
        return Err(TrainError::Invalid(format!("the rendering share {rendering_share} is not in [0, 1]")));
    }
    let weights = class_weights(train);
    std::fs::create_dir_all(out).map_err(|source| TrainError::Io { what: "create", path: out.into(), source })?;
    let mut vm = VarMap::new();
    let net = RadioNet::new(config, VarBuilder::from_varmap(&vm, DType::F32, device))?;
    seeded_init(&vm, opts.seed)?;
    if let Some(dir) = init {
        // Fine-tuning starts from another model's weights (a resumed run then loads its own below).
        let path = dir.join("model.safetensors");
        vm.load(&path).map_err(|e| {
            TrainError::Invalid(format!("{} does not fit this network ({config:?}): {e}", path.display()))
        })?;
    }
    let mut state = RadioTrainState {
        epochs_done: 0,
        best_score: f64::MIN,
        best_epoch: 0,
        history: Vec::new(),
        options: opts.clone(),
        config: config.clone(),
    };
    let (last_path, state_path) = (out.join("last.safetensors"), out.join("state.json"));
    if opts.resume {
        checkpoint::recover(out)?;
        if last_path.is_file() && state_path.is_file() {
            let saved: RadioTrainState = read_state(&state_path)?;
            // How many orientations inference reads is not the architecture: a run started before
            // it was a setting (read as 1) resumes under today's default.
            if (RadioConfig { symmetries: config.symmetries, ..saved.config.clone() }) != *config {
                return Err(TrainError::Invalid(format!(
                    "{} was trained with {:?}; resume with the same architecture",
                    state_path.display(),
                    saved.config
                )));
            }
            vm.load(&last_path)?;
            state = RadioTrainState { options: opts.clone(), config: config.clone(), ..saved };
        }
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
            let owned: Vec<RadioExample> = idx
                .iter()
                .map(|&i| {
                    let k = if opts.augment { (rng.next_u64() % 8) as u8 } else { 0 };
                    let rendered = train[i].rendering.is_some() && rng.uniform() < rendering_share;
                    if rendered { train[i].rendering_symmetry(k) } else { train[i].symmetry(k) }
                })
                .collect();
            let refs: Vec<&RadioExample> = owned.iter().collect();
            let l = loss(&net.forward_t(&inputs(&refs, device)?, true)?, &refs, &weights, device)?;
            opt.backward_step(&l)?;
            let value = l.to_scalar::<f32>()?;
            loss_sum += value;
            let done = (epoch - first_epoch) * steps_per_epoch + step + 1;
            let remaining = (opts.epochs - first_epoch) * steps_per_epoch - done;
            let eta_s = started.elapsed().as_secs_f64() / done as f64 * remaining as f64;
            let event =
                RadioEvent::Step { epoch: epoch + 1, step: step + 1, steps: steps_per_epoch, loss: value, eta_s };
            if !progress(&event) {
                return Err(TrainError::Cancelled(state.epochs_done));
            }
        }
        let val_accuracy = accuracy(&logits_of(&net, val, device)?, val);
        let val_score = mean_finite(&val_accuracy);
        let best = val_score > state.best_score;
        let report = RadioEpoch {
            epoch: epoch + 1,
            train_loss: loss_sum / steps_per_epoch as f32,
            val_accuracy,
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
        let (state_json, config_json) = (json(&state)?, json(config)?);
        let best_files = [("config.json", config_json.as_slice())];
        checkpoint::commit_training(
            out,
            &|p| vm.save(p).map_err(std::io::Error::other),
            &|p| opt.write(p),
            &state_json,
            best.then_some(&best_files[..]),
        )?;
        if !progress(&RadioEvent::Epoch(report)) {
            return Err(TrainError::Cancelled(state.epochs_done));
        }
    }
    Ok(state)
}

/// Replace candle's unseeded initial weights with the same distributions drawn from `seed`, so a run
/// is reproducible: convolution and linear weights He-normal (std sqrt(2 / fan-in)), the head's bias
/// uniform in +-1/sqrt(fan-in); batch-norm scales and shifts keep their constant 1 and 0.
fn seeded_init(vm: &VarMap, seed: u64) -> candle_core::Result<()> {
    let data = vm.data().lock().map_err(|_| candle_core::Error::msg("the variable map's lock is poisoned"))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = Rng::derive(seed, &[0x1417]);
    let fan_in_of_head = data.get("head.weight").map(|w| w.dims().get(1).copied().unwrap_or(1));
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let values: Vec<f32> = if dims.len() >= 2 {
            let fan_in: usize = dims[1..].iter().product();
            let std = (2.0 / fan_in.max(1) as f64).sqrt();
            (0..var.elem_count()).map(|_| (std * rng.normal()) as f32).collect()
        } else if name == "head.bias" {
            let bound = 1.0 / (fan_in_of_head.unwrap_or(1).max(1) as f64).sqrt();
            (0..var.elem_count()).map(|_| rng.range(-bound, bound) as f32).collect()
        } else {
            continue;
        };
        var.set(&Tensor::from_vec(values, dims, var.device())?)?;
    }
    Ok(())
}

/// Pretty JSON of a checkpoint file.
fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, TrainError> {
    serde_json::to_vec_pretty(v).map_err(|e| TrainError::Invalid(e.to_string()))
}

/// The trained network in `dir` (`config.json`, `model.safetensors`), batch norm not folded.
pub fn load_net(dir: &Path, device: &Device) -> Result<RadioNet, TrainError> {
    let path = dir.join("config.json");
    let text =
        std::fs::read_to_string(&path).map_err(|source| TrainError::Io { what: "read", path: path.clone(), source })?;
    let config: RadioConfig =
        serde_json::from_str(&text).map_err(|e| TrainError::Invalid(format!("{}: {e}", path.display())))?;
    let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), device)?;
    Ok(RadioNet::new(&config, VarBuilder::from_tensors(tensors, DType::F32, device))?)
}

/// The lowest temperature a task's calibration may set.
pub const MIN_TEMPERATURE: f64 = 0.5;

/// One temperature per task fitted on `val`, with each task's ECE (`ECE_BINS` bins) before and after.
pub fn calibrate(net: &RadioNet, val: &[RadioExample], device: &Device) -> Result<RadioCalibration, TrainError> {
    let logits = logits_of(net, val, device)?;
    let mut cal = RadioCalibration { temperature: vec![], ece_before: vec![], ece_after: vec![], fitted_on: val.len() };
    for (task, kind) in TASKS.iter().enumerate() {
        let (start, len) = task_span(task);
        let (rows, labels): (Vec<Vec<f32>>, Vec<usize>) = logits
            .iter()
            .zip(val)
            .filter_map(|(row, e)| e.labels[task].map(|c| (row[start..start + len].to_vec(), c)))
            .unzip();
        if rows.is_empty() {
            continue;
        }
        // A val split the model makes no mistake on only says "sharper": the fit runs to its lower
        // bound. Such a temperature is not evidence, and would make every answer certain on images
        // unlike the training set; it is held at MIN_TEMPERATURE.
        let t = fit_temperature(&rows, &labels).max(MIN_TEMPERATURE);
        let ece_at = |t: f64| {
            let (conf, right) = crate::models::cnn::confidences(&rows, &labels, t);
            ece(&conf, &right, crate::models::cnn::ECE_BINS).0
        };
        let name = kind.name().to_string();
        cal.ece_before.push((name.clone(), ece_at(1.0)));
        cal.ece_after.push((name.clone(), ece_at(t)));
        cal.temperature.push((name, t));
    }
    Ok(cal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Split;

    /// Cutouts with one (class 0) or two (class 1) bright blobs on noise, labelled for morphology
    /// only (1C-1P or 2C-2P), as network inputs of side 32.
    fn examples(n: usize, seed: u64) -> Vec<RadioExample> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|k| {
                let two = k % 2 == 1;
                let side = 32;
                let mut img = vec![0f32; side * side];
                let blobs: Vec<(f64, f64)> = if two { vec![(9.0, 16.0), (23.0, 16.0)] } else { vec![(16.0, 16.0)] };
                for (i, v) in img.iter_mut().enumerate() {
                    let (x, y) = ((i % side) as f64, (i / side) as f64);
                    let s: f64 =
                        blobs.iter().map(|(bx, by)| (-((x - bx).powi(2) + (y - by).powi(2)) / 8.0).exp()).sum();
                    *v = (s + 0.05 * rng.normal()) as f32;
                }
                let mut x = img.clone();
                x.extend(img);
                let mut labels = [None; 6];
                labels[0] = Some(if two { 3 } else { 0 });
                RadioExample {
                    scene: format!("s{k}"),
                    split: Split::Train,
                    observed: String::new(),
                    side,
                    x,
                    labels,
                    rendering: None,
                }
            })
            .collect()
    }

    #[test]
    fn class_weights_even_out_the_classes_and_the_weighted_loss_is_cross_entropy_when_balanced() {
        let mut ex = examples(6, 3);
        // Morphology: four of class 0 (1C-1P), two of class 3 (2C-2P); no other task labelled.
        ex[1].labels[0] = Some(0);
        let w = class_weights(&ex);
        // n / (k * n_c) with n = 6, k = 6 classes: 6 / 24 and 6 / 12.
        assert!((w[0][0] - 0.25).abs() < 1e-6 && (w[0][3] - 0.5).abs() < 1e-6, "{:?}", w[0]);
        assert!(w[1].iter().all(|&v| (v - 1.0).abs() < 1e-6), "an unlabelled task weighs 1");
        // With equal weights the loss is candle's mean cross-entropy.
        let refs: Vec<&RadioExample> = ex.iter().collect();
        let outputs = task_span(TASKS.len() - 1).0 + task_span(TASKS.len() - 1).1;
        let logits = Tensor::from_vec(
            (0..6 * outputs).map(|i| ((i * 7 % 11) as f32) / 5.0).collect::<Vec<_>>(),
            (6, outputs),
            &Device::Cpu,
        )
        .unwrap();
        let ones: Vec<Vec<f32>> = (0..TASKS.len()).map(|t| vec![1.0; task_span(t).1]).collect();
        let ours = loss(&logits, &refs, &ones, &Device::Cpu).unwrap().to_scalar::<f32>().unwrap();
        let (start, len) = task_span(0);
        let targets =
            Tensor::new(ex.iter().map(|e| e.labels[0].unwrap() as u32).collect::<Vec<_>>(), &Device::Cpu).unwrap();
        let part = logits.narrow(1, start, len).unwrap().contiguous().unwrap();
        let theirs = candle_nn::loss::cross_entropy(&part, &targets).unwrap().to_scalar::<f32>().unwrap();
        assert!((ours - theirs).abs() < 1e-5, "{ours} vs {theirs}");
    }

    #[test]
    fn learns_a_separable_task_checkpoints_and_calibrates() {
        let dir = tempfile::tempdir().unwrap();
        let config =
            RadioConfig { width: 4, blocks: [1, 1, 1, 1], input: 32, stem_stride: 1, channels: 2, symmetries: 8 };
        let (tr, va) = (examples(32, 1), examples(12, 2));
        let opts = TrainOptions { epochs: 8, batch: 8, lr: 1e-2, ..TrainOptions::default() };
        let state = train(&tr, &va, &config, &opts, 0.0, None, dir.path(), &Device::Cpu, &mut |_| true).unwrap();
        assert_eq!(state.epochs_done, 8);
        let best = state.history.iter().find(|r| r.epoch == state.best_epoch).unwrap();
        assert!(best.val_accuracy[0] >= 0.9, "{best:?}");
        assert!(best.val_accuracy[1].is_nan(), "no scene asks the second task");
        for f in ["model.safetensors", "config.json", "last.safetensors", "optimizer.safetensors", "state.json"] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        // The same seed gives the same weights.
        let again = tempfile::tempdir().unwrap();
        train(&tr, &va, &config, &opts, 0.0, None, again.path(), &Device::Cpu, &mut |_| true).unwrap();
        let bytes = |d: &Path| std::fs::read(d.join("last.safetensors")).unwrap();
        assert!(bytes(dir.path()) == bytes(again.path()), "a run is reproducible from its seed");
        // The saved best model scores what training said; its calibration covers the one task asked.
        let model = super::super::RadioCnn::load(dir.path(), &Device::Cpu).unwrap();
        let cal = calibrate(&load_net(dir.path(), &Device::Cpu).unwrap(), &va, &Device::Cpu).unwrap();
        assert_eq!(cal.temperature.len(), 1);
        assert!(cal.temperature[0].1 > 0.0);
        assert_eq!(model.config(), &config);
        // Mismatched weights are refused with the reason.
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"width": 8, "blocks": [1,1,1,1], "input": 32, "stem_stride": 1, "channels": 2}"#,
        )
        .unwrap();
        let err = super::super::RadioCnn::load(dir.path(), &Device::Cpu).err().unwrap().to_string();
        assert!(err.contains("does not fit config.json"), "{err}");
    }
}
