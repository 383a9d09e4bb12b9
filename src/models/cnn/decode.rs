//! From the network's raw outputs to what a user sees and what the benchmark scores: calibrated class
//! probabilities, the L3 box (from the exceedance mask or the box head, as [`Calibration`] says),
//! per-region answers, the exceedance mask and a class-activation saliency map; loading a model with
//! errors that name the file and tensor. Any thread that owns the model (a worker in the app, the
//! caller in the CLI).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::calibrate::{Calibration, L3Source, pooled_probs, share_probs};
use super::data::{normalize_db, resize};
use super::domain::{DomainModel, DomainVerdict, grid_stats, value_reason};
use super::loss::{LEVEL_UNIT_DB, corners};
use super::network::{CnnNet, Heads, RawOutput};
use super::resnet::{CnnConfig, CnnOutput, SpectrumResNet};
use super::torchvision::{IMPORT_FILE, ImportSpec, TorchOutput, TorchResNet};
use super::train::{TrainError, argmax, mask_box};
use crate::eval::answer::SceneEstimate;
use crate::types::{Prediction, QaRecord};

/// The L3 box of a mask, after bilinear upsampling to `up` cells a side when that is larger.
pub fn upsampled_box(mask: &[f32], m: usize, up: usize, threshold: f32) -> Option<[f32; 4]> {
    if up > m { mask_box(&resize(mask, m, up), up, threshold) } else { mask_box(mask, m, threshold) }
}

/// Everything the CNN says about one heatmap.
#[derive(Debug, Clone, PartialEq)]
pub struct CnnReading {
    /// Calibrated L1 class probabilities, [`crate::types::SEVERITY_CLASSES`] order.
    pub probs: Vec<f32>,
    pub severity: usize,
    /// L3 box [x0, y0, x1, y1] in [0, 1] of the image, `None` for "no region".
    pub bbox: Option<[f32; 4]>,
    /// Probability that the scene has a region at all (objectness).
    pub region_prob: f32,
    /// Whether each region is affected (>= 10 % of it above the criterion), and the number it was
    /// decided from: the head's probability, or the region's share of mask cells above the mask
    /// threshold (see [`Calibration::regions_from_mask`]).
    pub region_affected: [bool; 5],
    pub region_score: [f32; 5],
    pub regions_from_mask: bool,
    /// Estimated 95th-percentile I/N per region, dB.
    pub region_p95_db: [f32; 5],
    /// Probability that each cell exceeds the criterion, `mask_side` a side.
    pub mask: Vec<f32>,
    pub mask_side: usize,
    /// Class activation of the predicted class on the last feature map, scaled to [0, 1].
    pub saliency: Vec<f32>,
    pub saliency_side: usize,
    /// Whether the map is the kind the model was trained on ([`super::domain`]).
    pub domain: DomainVerdict,
    /// The vector the domain check reads: pooled features, then the map's statistics.
    pub domain_features: Vec<f32>,
    /// What the network has heads for: an imported CNN without a region head leaves the region
    /// fields at zero and answers no L2 question; without a box head, no L3.
    pub heads: Heads,
}

impl CnnReading {
    /// The reading as answers to SpectrumQA questions.
    pub fn estimate(&self) -> SceneEstimate {
        SceneEstimate {
            severity: self.severity,
            severity_confidence: self.probs.get(self.severity).copied(),
            region_affected: self.region_affected,
            // The region head's probability (a mask share is not one).
            region_confidence: (!self.regions_from_mask).then(|| self.region_score.map(|p| p.max(1.0 - p))),
            region_p95_db: self.region_p95_db.map(f64::from),
            bbox: self.bbox,
            box_confidence: Some(if self.bbox.is_some() { self.region_prob } else { 1.0 - self.region_prob }),
            explanation: None,
        }
    }

    /// The answer to `r`, or `None` when the network has no head for its kind.
    pub fn answer(&self, r: &QaRecord) -> Option<Prediction> {
        if self.heads.answer(r.kind) { crate::eval::answer::answer(r, &self.estimate()) } else { None }
    }
}

/// A loaded CNN with its calibration.
#[derive(Debug, Clone)]
pub struct CnnModel {
    pub net: CnnNet,
    pub calibration: Calibration,
    pub device: Device,
    parameters: usize,
    /// The in-domain distribution (`domain.json`); without it only the rules on the values apply.
    pub domain: Option<DomainModel>,
    /// Set when the folder had no calibration.json: what every place that uses the model says.
    uncalibrated: Option<String>,
}

impl CnnModel {
    /// Load `config.json`, `model.safetensors`, `calibration.json` (identity when absent) and
    /// `domain.json` (rules only when absent) from `dir`; or, when `dir` holds `heatscope.json`, the
    /// torchvision ResNet it describes (see [`super::torchvision`]).
    pub fn load(dir: &Path, device: &Device) -> Result<CnnModel, TrainError> {
        let model = CnnModel::load_without_domain(dir, device)?;
        if !dir.join("domain.json").is_file() {
            return Ok(model);
        }
        let path = dir.join("domain.json");
        let bytes = std::fs::read(&path).map_err(|source| TrainError::Io { what: "read", path, source })?;
        model.with_domain(&bytes).map_err(|e| match e {
            TrainError::Invalid(m) => TrainError::Invalid(format!("{}: {m}", dir.display())),
            other => other,
        })
    }

    /// [`CnnModel::load`] without `domain.json` (to fit a new one).
    pub fn load_without_domain(dir: &Path, device: &Device) -> Result<CnnModel, TrainError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| TrainError::Io { what: "read", path, source })
        };
        let calibration = if dir.join("calibration.json").is_file() { Some(read("calibration.json")?) } else { None };
        let in_dir = |e| match e {
            TrainError::Invalid(m) => TrainError::Invalid(format!("{}: {m}", dir.display())),
            other => other,
        };
        if dir.join(IMPORT_FILE).is_file() {
            let spec = read(IMPORT_FILE)?;
            let weights = ImportSpec::parse(&spec).map(|s| s.weights).map_err(TrainError::Invalid).map_err(in_dir)?;
            let mut model =
                CnnModel::import(&spec, &read(&weights)?, calibration.as_deref(), device).map_err(in_dir)?;
            if calibration.is_none() {
                model.uncalibrated = Some(format!(
                    "{} is an imported model without calibration.json, so its confidences are its own softmax \
                     (uncalibrated); a calibration.json with a \"temperature\" beside it divides the logits by it",
                    dir.display()
                ));
            }
            return Ok(model);
        }
        let mut model =
            CnnModel::from_bytes(&read("config.json")?, &read("model.safetensors")?, calibration.as_deref(), device)
                .map_err(in_dir)?;
        if calibration.is_none() {
            model.uncalibrated = Some(format!(
                "{} has no calibration.json, so its confidences are the raw softmax (uncalibrated: expect a \
                 higher ECE) and its L3 and L2 answers use the default sources; `heatscope train cnn --resume` \
                 with the run's --dataset and --out writes it",
                dir.display()
            ));
        }
        Ok(model)
    }

    /// Why this model's confidences are not calibrated, when they are not (say it wherever it is used).
    pub fn uncalibrated(&self) -> Option<&str> {
        self.uncalibrated.as_deref()
    }

    /// Build from the three files' contents (`calibration` `None`: identity calibration). Errors name
    /// the file and, for weights, the tensor and the shape the configuration expects.
    pub fn from_bytes(
        config: &[u8],
        weights: &[u8],
        calibration: Option<&[u8]>,
        device: &Device,
    ) -> Result<CnnModel, TrainError> {
        let config: CnnConfig =
            serde_json::from_slice(config).map_err(|e| TrainError::Invalid(format!("config.json: {e}")))?;
        config.validate().map_err(|e| TrainError::Invalid(format!("config.json: {e}")))?;
        let (tensors, parameters) = float_tensors(weights, "model.safetensors")?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let net = SpectrumResNet::new(&config, vb)
            .and_then(|n| n.fold_batch_norm())
            .map_err(|e| TrainError::Invalid(format!("model.safetensors does not fit config.json: {e}")))?;
        let calibration = parse_calibration(calibration)?;
        let net = CnnNet::Spectrum(net);
        Ok(CnnModel { net, calibration, device: device.clone(), parameters, domain: None, uncalibrated: None })
    }

    /// Build a user's torchvision ResNet from `heatscope.json`'s and the weights' contents. Errors
    /// name the file and, for weights, the tensor.
    pub fn import(
        spec: &[u8],
        weights: &[u8],
        calibration: Option<&[u8]>,
        device: &Device,
    ) -> Result<CnnModel, TrainError> {
        let spec = ImportSpec::parse(spec).map_err(TrainError::Invalid)?;
        let file = &spec.weights;
        let (tensors, parameters) = float_tensors(weights, file)?;
        let net = TorchResNet::new(&spec, tensors, device)
            .map_err(|e| TrainError::Invalid(format!("{file} does not fit {IMPORT_FILE}: {e}")))?;
        let calibration = parse_calibration(calibration)?;
        let net = CnnNet::Torchvision(net);
        Ok(CnnModel { net, calibration, device: device.clone(), parameters, domain: None, uncalibrated: None })
    }

    /// Attach the in-domain distribution from `domain.json`'s bytes; it must match the network's
    /// pooled features plus the map statistics.
    pub fn with_domain(mut self, bytes: &[u8]) -> Result<CnnModel, TrainError> {
        let d: DomainModel =
            serde_json::from_slice(bytes).map_err(|e| TrainError::Invalid(format!("domain.json: {e}")))?;
        let want = self.net.feature_dims() + super::domain::STAT_NAMES.len();
        if d.dims != want || d.mean.len() != want || d.precision.len() != want * want || d.sd.len() != want {
            return Err(TrainError::Invalid(format!(
                "domain.json: fitted on {} features, this network gives {want} (it belongs to another model)",
                d.dims
            )));
        }
        if !(d.threshold.is_finite() && d.threshold > 0.0) {
            return Err(TrainError::Invalid(format!("domain.json: threshold {} must be positive", d.threshold)));
        }
        self.domain = Some(d);
        Ok(self)
    }

    /// The model shipped in `models/cnn-spectrum`, embedded in the binary (no file or download needed).
    pub fn bundled(device: &Device) -> Result<CnnModel, TrainError> {
        CnnModel::from_bytes(
            include_bytes!("../../../models/cnn-spectrum/config.json"),
            include_bytes!("../../../models/cnn-spectrum/model.safetensors"),
            Some(include_bytes!("../../../models/cnn-spectrum/calibration.json")),
            device,
        )?
        .with_domain(include_bytes!("../../../models/cnn-spectrum/domain.json"))
    }

    /// `io::checksum` of the bundled model's weights.
    pub fn bundled_checksum() -> String {
        crate::io::checksum::of_bytes(include_bytes!("../../../models/cnn-spectrum/model.safetensors"))
    }

    /// Number of weights (batch-norm running statistics excluded).
    pub fn parameter_count(&self) -> usize {
        self.parameters
    }

    /// Read square dB grids of side `n` (NaN/Inf read as the -20 dB floor), a batch at a time. Each
    /// reading says whether its map is in the model's domain (rules on the values, then `domain`).
    pub fn read_grids(&self, grids: &[&[f32]], n: usize) -> Result<Vec<CnnReading>, TrainError> {
        let m = self.net.input_side();
        let mut inputs = Vec::with_capacity(grids.len());
        let mut rules = Vec::with_capacity(grids.len());
        for g in grids {
            if g.len() != n * n {
                return Err(TrainError::Invalid(format!("a grid of side {n} needs {} values, got {}", n * n, g.len())));
            }
            let norm: Vec<f32> = g.iter().map(|&v| normalize_db(v)).collect();
            inputs.push(resize(&norm, n, m));
            rules.push(value_reason(g));
        }
        let inputs: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
        let mut out = Vec::with_capacity(grids.len());
        for (chunk, normalized) in grids.chunks(16).zip(inputs.chunks(16)) {
            let x = match &self.net {
                CnnNet::Spectrum(_) => stack(normalized, m, &self.device)?,
                CnnNet::Torchvision(t) => t.spec.input_tensor(chunk, n, &self.device)?,
            };
            out.extend(self.read_batch(&x, normalized)?);
        }
        for (reading, rule) in out.iter_mut().zip(rules) {
            if let Some(reason) = rule {
                reading.domain = DomainVerdict::ruled_out(reason);
            }
        }
        Ok(out)
    }

    /// Read grids already normalized ([`normalize_db`]) and resized to the network's input side
    /// (training examples). An imported network gets them back in dB (heatscope's normalization
    /// clamps at -20 and +20 dB, so that is the range it sees).
    pub fn read_inputs(&self, inputs: &[&[f32]]) -> Result<Vec<CnnReading>, TrainError> {
        let m = self.net.input_side();
        let mut out = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(16) {
            if let Some(g) = chunk.iter().find(|g| g.len() != m * m) {
                return Err(TrainError::Invalid(format!(
                    "an input of side {m} needs {} values, got {}",
                    m * m,
                    g.len()
                )));
            }
            let x = match &self.net {
                CnnNet::Spectrum(_) => stack(chunk, m, &self.device)?,
                CnnNet::Torchvision(t) => {
                    let db: Vec<Vec<f32>> =
                        chunk.iter().map(|g| g.iter().map(|v| (v + 1.0) * 20.0 - 20.0).collect()).collect();
                    let db: Vec<&[f32]> = db.iter().map(Vec::as_slice).collect();
                    t.spec.input_tensor(&db, m, &self.device)?
                }
            };
            out.extend(self.read_batch(&x, chunk)?);
        }
        Ok(out)
    }

    /// Forward one batch `x` and decode it; `normalized` (the maps as [`normalize_db`] gives them, at
    /// the input side) feed the domain check's statistics.
    fn read_batch(&self, x: &Tensor, normalized: &[&[f32]]) -> Result<Vec<CnnReading>, TrainError> {
        let m = self.net.input_side();
        let raw = self.net.forward(x)?;
        let pooled = raw.features().mean(D::Minus1)?.mean(D::Minus1)?.to_vec2::<f32>()?;
        let decoded = match (&self.net, &raw) {
            (CnnNet::Spectrum(net), RawOutput::Spectrum(o)) => self.decode_spectrum(net, o)?,
            (CnnNet::Torchvision(net), RawOutput::Torchvision(o)) => self.decode_torchvision(net, o)?,
            _ => return Err(TrainError::Invalid("a network gave another network's outputs".into())),
        };
        let mut out = Vec::with_capacity(normalized.len());
        for ((mut reading, mut v), g) in decoded.into_iter().zip(pooled).zip(normalized) {
            v.extend(grid_stats(g, m));
            reading.domain = match &self.domain {
                Some(d) => d.verdict(&v),
                None => DomainVerdict::unchecked(),
            };
            reading.domain_features = v;
            out.push(reading);
        }
        Ok(out)
    }

    /// Decode a batch of the SpectrumQA network's raw outputs.
    fn decode_spectrum(&self, net: &SpectrumResNet, raw: &CnnOutput) -> Result<Vec<CnnReading>, TrainError> {
        let cal = &self.calibration;
        let logits = raw.severity.to_vec2::<f32>()?;
        let region_prob = candle_nn::ops::sigmoid(&raw.objectness)?.to_vec1::<f32>()?;
        let head = corners(&raw.bbox)?.clamp(0f32, 1f32)?.to_vec2::<f32>()?;
        let affected = candle_nn::ops::sigmoid(&raw.region_affected)?.to_vec2::<f32>()?;
        let level = (&raw.region_level * f64::from(LEVEL_UNIT_DB))?.to_vec2::<f32>()?;
        let m = raw.mask.dim(1)?;
        let masks = candle_nn::ops::sigmoid(&raw.mask)?.flatten_from(1)?.to_vec2::<f32>()?;
        let f = &raw.features;
        let s = f.dim(3)?;
        let mut out = Vec::with_capacity(logits.len());
        for (k, z) in logits.iter().enumerate() {
            let p = pooled_probs(z, cal.temperature, &share_probs(&masks[k], cal.share_spread), cal.share_weight);
            let severity = argmax(&p);
            // The number each region's L2 answer is read from: its mask share or the head's probability.
            let region_score: [f32; 5] = if cal.regions_from_mask {
                crate::sim::labels::region_stats(&masks[k], m, cal.mask_threshold).0.map(|v| v as f32)
            } else {
                std::array::from_fn(|i| affected[k][i])
            };
            let bbox = match cal.l3_source {
                L3Source::Mask => upsampled_box(&masks[k], m, cal.mask_upsample, cal.mask_threshold),
                L3Source::Head => (region_prob[k] > 0.5).then(|| [head[k][0], head[k][1], head[k][2], head[k][3]]),
            };
            let saliency = unit_saliency(&net.class_activation(&f.narrow(0, k, 1)?, severity)?)?;
            out.push(CnnReading {
                probs: p,
                severity,
                bbox,
                region_prob: region_prob[k],
                region_affected: region_score.map(|v| {
                    if cal.regions_from_mask {
                        f64::from(v) >= crate::sim::labels::REGION_AFFECTED_SHARE
                    } else {
                        v >= 0.5
                    }
                }),
                region_score,
                regions_from_mask: cal.regions_from_mask,
                region_p95_db: std::array::from_fn(|i| level[k][i]),
                mask: masks[k].clone(),
                mask_side: m,
                saliency,
                saliency_side: s,
                domain: DomainVerdict::unchecked(),
                domain_features: Vec::new(),
                heads: self.net.heads(),
            });
        }
        Ok(out)
    }

    /// Decode a batch of an imported network's outputs: its classes' tempered softmax placed at
    /// heatscope's L1 classes (a class it lacks reads 0), the box head's box when its objectness says
    /// there is a region; no regions, no mask.
    fn decode_torchvision(&self, net: &TorchResNet, raw: &TorchOutput) -> Result<Vec<CnnReading>, TrainError> {
        let logits = raw.logits.to_vec2::<f32>()?;
        let region_prob = match &raw.objectness {
            Some(o) => Some(candle_nn::ops::sigmoid(o)?.to_vec1::<f32>()?),
            None => None,
        };
        let boxes = raw.bbox.as_ref().map(Tensor::to_vec2::<f32>).transpose()?;
        let outputs = net.class_outputs();
        let f = &raw.features;
        let s = f.dim(3)?;
        let mut out = Vec::with_capacity(logits.len());
        for (k, z) in logits.iter().enumerate() {
            let own = softmax(z, self.calibration.temperature);
            let probs: Vec<f32> = outputs.iter().map(|o| o.map_or(0.0, |i| own[i])).collect();
            let severity = argmax(&probs);
            let class = outputs[severity].unwrap_or(0);
            let saliency = unit_saliency(&net.class_activation(&f.narrow(0, k, 1)?, class)?)?;
            let p = region_prob.as_ref().map_or(0.0, |r| r[k]);
            let bbox = boxes.as_ref().filter(|_| p > 0.5).map(|b| [b[k][0], b[k][1], b[k][2], b[k][3]]);
            out.push(CnnReading {
                probs,
                severity,
                bbox,
                region_prob: p,
                region_affected: [false; 5],
                region_score: [0.0; 5],
                regions_from_mask: false,
                region_p95_db: [0.0; 5],
                mask: Vec::new(),
                mask_side: 0,
                saliency,
                saliency_side: s,
                domain: DomainVerdict::unchecked(),
                domain_features: Vec::new(),
                heads: self.net.heads(),
            });
        }
        Ok(out)
    }
}

/// softmax(z / t).
fn softmax(z: &[f32], t: f64) -> Vec<f32> {
    let z: Vec<f64> = z.iter().map(|&v| f64::from(v) / t).collect();
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| (v / sum) as f32).collect()
}

/// A class activation map scaled to [0, 1] (negative evidence at 0).
fn unit_saliency(cam: &Tensor) -> candle_core::Result<Vec<f32>> {
    let mut saliency = cam.flatten_all()?.to_vec1::<f32>()?;
    let peak = saliency.iter().copied().fold(0f32, f32::max);
    saliency.iter_mut().for_each(|v| *v = if peak > 0.0 { v.max(0.0) / peak } else { 0.0 });
    Ok(saliency)
}

/// Single-channel inputs of side `m` as one (batch, 1, m, m) tensor.
fn stack(inputs: &[&[f32]], m: usize, device: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_vec(inputs.concat(), (inputs.len(), 1, m, m), device)
}

/// The weights in `bytes` (named `file` in errors) and their number of parameters (batch-norm
/// statistics not counted); PyTorch's batch-norm step counters (int64, not weights) are dropped, any
/// other tensor must be a float one.
pub(crate) fn float_tensors(bytes: &[u8], file: &str) -> Result<(HashMap<String, Tensor>, usize), TrainError> {
    let mut tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| TrainError::Invalid(format!("{file} is not a readable safetensors file: {e}")))?;
    tensors.retain(|k, _| !k.ends_with("num_batches_tracked"));
    if let Some((name, _)) = tensors.iter().find(|(_, t)| !matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16)) {
        return Err(TrainError::Invalid(format!("{file}: tensor {name} is not a float tensor")));
    }
    let parameters = tensors
        .iter()
        .filter(|(k, _)| !k.ends_with("running_mean") && !k.ends_with("running_var"))
        .map(|(_, t)| t.elem_count())
        .sum();
    Ok((tensors, parameters))
}

/// `calibration.json`'s contents (identity when absent), its temperature checked.
fn parse_calibration(bytes: Option<&[u8]>) -> Result<Calibration, TrainError> {
    let calibration: Calibration = match bytes {
        Some(bytes) => {
            serde_json::from_slice(bytes).map_err(|e| TrainError::Invalid(format!("calibration.json: {e}")))?
        }
        None => Calibration::default(),
    };
    if !(calibration.temperature.is_finite() && calibration.temperature > 0.0) {
        return Err(TrainError::Invalid(format!(
            "calibration.json: temperature {} must be positive",
            calibration.temperature
        )));
    }
    Ok(calibration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    /// A small random model written as the three files' bytes.
    fn small_model_bytes() -> (Vec<u8>, Vec<u8>, CnnConfig) {
        let cfg = CnnConfig { width: 8, blocks: [1, 1, 1, 1], input: 32, stem_stride: 2, ..CnnConfig::default() };
        let vm = VarMap::new();
        SpectrumResNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        vm.save(&path).unwrap();
        (serde_json::to_vec(&cfg).unwrap(), std::fs::read(&path).unwrap(), cfg)
    }

    fn tensors_to_bytes(t: &std::collections::HashMap<String, Tensor>) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        candle_core::safetensors::save(t, &path).unwrap();
        std::fs::read(path).unwrap()
    }

    #[test]
    fn a_model_reads_grids_of_any_side_and_nan_is_the_floor() {
        let (cfg, weights, _) = small_model_bytes();
        let m = CnnModel::from_bytes(&cfg, &weights, None, &Device::Cpu).unwrap();
        assert!(m.parameter_count() > 10_000);
        let mut g: Vec<f32> = (0..48 * 48).map(|i| (i % 48) as f32 - 24.0).collect();
        g[5] = f32::NAN;
        g[6] = f32::INFINITY;
        let r = m.read_grids(&[&g, &g], 48).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((&r[0].probs, &r[0].mask, &r[0].domain_features), (&r[1].probs, &r[1].mask, &r[1].domain_features));
        assert!(!r[0].domain.out_of_domain && r[0].domain.score.is_nan(), "no domain.json: unchecked");
        assert_eq!(r[0].domain_features.len(), 64 + super::super::domain::STAT_NAMES.len());
        // A domain model of another network is refused by name.
        let other = serde_json::json!({"dims": 3, "mean": [0, 0, 0], "precision": [1, 0, 0, 0, 1, 0, 0, 0, 1],
            "threshold": 1.0, "quantile": 0.99, "sd": [1, 1, 1], "val_maps": 10, "shrinkage": 0.1});
        let err = m.clone().with_domain(other.to_string().as_bytes()).unwrap_err().to_string();
        assert!(err.contains("domain.json") && err.contains("another model"), "{err}");
        let sum: f32 = r[0].probs.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5 && r[0].probs.iter().all(|p| p.is_finite()));
        assert_eq!((r[0].mask_side, r[0].mask.len()), (16, 256));
        assert_eq!((r[0].saliency_side, r[0].saliency.len()), (2, 4));
        assert!(r[0].saliency.iter().all(|v| (0.0..=1.0).contains(v)));
        let wrong = m.read_grids(&[&g[..100]], 48).unwrap_err().to_string();
        assert!(wrong.contains("2304"), "{wrong}");
    }

    #[test]
    fn bad_weights_name_the_tensor_and_the_expected_shape() {
        let (cfg, weights, _) = small_model_bytes();
        let all = candle_core::safetensors::load_buffer(&weights, &Device::Cpu).unwrap();

        let mut missing = all.clone();
        missing.remove("head.severity.weight");
        let e = CnnModel::from_bytes(&cfg, &tensors_to_bytes(&missing), None, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("head.severity.weight"), "{e}");

        let mut reshaped = all.clone();
        reshaped.insert("stem.conv.weight".into(), Tensor::zeros((8, 1, 5, 5), DType::F32, &Device::Cpu).unwrap());
        let e = CnnModel::from_bytes(&cfg, &tensors_to_bytes(&reshaped), None, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("stem.conv.weight") && e.contains("[8, 1, 3, 3]"), "{e}");

        let mut ints = all.clone();
        ints.insert("head.box.bias".into(), Tensor::zeros(5, DType::U32, &Device::Cpu).unwrap());
        let e = CnnModel::from_bytes(&cfg, &tensors_to_bytes(&ints), None, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("head.box.bias") && e.contains("float"), "{e}");

        let e = CnnModel::from_bytes(&cfg, &weights[..weights.len() / 2], None, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("not a readable safetensors"), "{e}");

        // A config the weights were not trained with.
        let wider = br#"{"width":16,"blocks":[1,1,1,1],"input":32,"in_channels":1,"classes":4,"regions":5}"#;
        let e = CnnModel::from_bytes(wider, &weights, None, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("does not fit config.json"), "{e}");
        let e = CnnModel::from_bytes(b"{", &weights, None, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("config.json"), "{e}");
        let e = CnnModel::from_bytes(&cfg, &weights, Some(br#"{"temperature": -1}"#), &Device::Cpu).unwrap_err();
        assert!(e.to_string().contains("calibration.json"), "{e}");

        // Missing files name the file.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), &cfg).unwrap();
        let e = CnnModel::load(dir.path(), &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("model.safetensors"), "{e}");
    }

    #[test]
    fn a_folder_without_its_calibration_says_so() {
        let (cfg, weights, _) = small_model_bytes();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), &cfg).unwrap();
        std::fs::write(dir.path().join("model.safetensors"), &weights).unwrap();
        let m = CnnModel::load(dir.path(), &Device::Cpu).unwrap();
        let why = m.uncalibrated().expect("a warning");
        assert!(why.contains("no calibration.json") && why.contains(&dir.path().display().to_string()), "{why}");
        let cal = crate::models::cnn::Calibration { temperature: 1.5, ..Default::default() };
        std::fs::write(dir.path().join("calibration.json"), serde_json::to_vec(&cal).unwrap()).unwrap();
        let m = CnnModel::load(dir.path(), &Device::Cpu).unwrap();
        assert_eq!((m.uncalibrated(), m.calibration.temperature), (None, 1.5));
        assert_eq!(CnnModel::bundled(&Device::Cpu).unwrap().uncalibrated(), None);
    }
}
