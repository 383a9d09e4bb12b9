//! A trained radio CNN ready to answer: loaded from a folder (`config.json`, `model.safetensors`,
//! `calibration.json`) or the bundled `models/cnn-radio`, batch norm folded, each task's
//! probabilities through its calibrated temperature; a reading per cutout with every task's label and
//! probabilities, and what says a cutout is not what it knows: two rules (nothing 5 sigma above the
//! noise: no source to classify; a crowded field) and, with `domain.json`, a Mahalanobis distance of
//! the network's pooled features and a few input statistics from the training cutouts'. As an
//! `eval::Predictor` it answers the RadioQA questions of a dataset in batches. Any thread that owns it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::Serialize;

use super::input::radio_input;
use super::net::{RadioConfig, RadioNet, TASKS, task_span};
use super::train::RadioCalibration;
use crate::eval::predictor::{Answer, Fatal, ModelIdentity, Predictor, SceneQuestions};
use crate::models::cnn::TrainError;
use crate::models::cnn::domain::DomainModel;
use crate::types::{Prediction, QaRecord, Raster};

/// Significance a cutout's brightest pixel needs for the model to classify it.
pub const MIN_PEAK_SIGMA: f32 = 5.0;

/// Most islands (the source finder's, 5 sigma seed / 3 sigma flood) a cutout may hold: the training
/// cutouts hold 0-10 (99 % at most 6, on 1500 train scenes of RadioQA-sim seed 1). A field with more
/// is not one source's cutout.
pub const MAX_ISLANDS: usize = 10;

/// Statistics of the network's input appended to its pooled features in the domain check.
pub const INPUT_STAT_NAMES: [&str; 6] = [
    "mean display level",
    "share of black pixels",
    "share of saturated pixels",
    "mean significance",
    "share of island pixels",
    "share of peak marks",
];

pub struct RadioCnn {
    net: RadioNet,
    pub calibration: RadioCalibration,
    /// The in-domain distribution of [`RadioCnn::domain_vectors`] (`domain.json`), when fitted.
    pub domain: Option<DomainModel>,
    pub name: String,
    pub checksum: String,
    device: Device,
}

/// One task's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskReading {
    pub task: &'static str,
    pub label: &'static str,
    /// Calibrated probabilities in the task's class order.
    pub probs: Vec<(&'static str, f32)>,
}

impl TaskReading {
    pub fn confidence(&self) -> f32 {
        self.probs.iter().map(|p| p.1).fold(0.0, f32::max)
    }
}

/// What the model says about one cutout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RadioReading {
    pub tasks: Vec<TaskReading>,
    /// Why the cutout is not the kind of input the model knows (then `tasks` still holds its numbers,
    /// not to be shown as answers).
    pub out_of_domain: Option<String>,
}

impl RadioReading {
    pub fn task(&self, name: &str) -> Option<&TaskReading> {
        self.tasks.iter().find(|t| t.task == name)
    }
}

impl RadioCnn {
    /// From a model folder.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, TrainError> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|source| TrainError::Io { what: "read", path: p, source })
        };
        let calibration = match read("calibration.json") {
            Ok(bytes) => Some(bytes),
            Err(TrainError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let name = dir.file_name().map_or_else(|| "cnn-radio".into(), |n| n.to_string_lossy().into_owned());
        let mut model =
            Self::from_bytes(&name, &read("config.json")?, read("model.safetensors")?, calibration.as_deref(), device)?;
        match read("domain.json") {
            Ok(bytes) => model.set_domain(&bytes)?,
            Err(TrainError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(model)
    }

    /// Use the domain check in `bytes` (`domain.json`); refused when it does not fit this network.
    pub fn set_domain(&mut self, bytes: &[u8]) -> Result<(), TrainError> {
        let domain: DomainModel =
            serde_json::from_slice(bytes).map_err(|e| TrainError::Invalid(format!("domain.json: {e}")))?;
        let dims = self.feature_dims();
        if domain.dims != dims || domain.mean.len() != dims || domain.precision.len() != dims * dims {
            return Err(TrainError::Invalid(format!(
                "domain.json holds {} features but this network gives {dims}: it belongs to another model",
                domain.dims
            )));
        }
        self.domain = Some(domain);
        Ok(())
    }

    /// Length of a domain feature vector: the last stage's channels, then [`INPUT_STAT_NAMES`].
    pub fn feature_dims(&self) -> usize {
        let c = &self.net.config;
        (c.width << (c.blocks.len() - 1)) + INPUT_STAT_NAMES.len()
    }

    /// The domain check's feature vector of each network input (`radio_input`'s layout at this model's
    /// side and channels): the pooled features the head reads, then the input's statistics.
    pub fn domain_vectors(&self, xs: &[&[f32]]) -> Result<Vec<Vec<f32>>, TrainError> {
        Ok(self.forward(xs)?.into_iter().map(|(_, v)| v).collect())
    }

    /// Per network input, the output row (every task's logits) and the domain feature vector.
    fn forward(&self, xs: &[&[f32]]) -> Result<Vec<Outputs>, TrainError> {
        let side = self.net.config.input;
        Ok(self
            .net
            .infer(xs, &self.device)?
            .into_iter()
            .zip(xs)
            .map(|((row, pooled), x)| (row, pooled.into_iter().chain(input_stats(x, side)).collect()))
            .collect())
    }

    /// The model shipped in `models/cnn-radio`, embedded in the binary.
    pub fn bundled(device: &Device) -> Result<Self, TrainError> {
        let mut model = Self::from_bytes(
            "cnn-radio",
            include_bytes!("../../../models/cnn-radio/config.json"),
            include_bytes!("../../../models/cnn-radio/model.safetensors").to_vec(),
            Some(include_bytes!("../../../models/cnn-radio/calibration.json")),
            device,
        )?;
        model.set_domain(include_bytes!("../../../models/cnn-radio/domain.json"))?;
        Ok(model)
    }

    fn from_bytes(
        name: &str,
        config: &[u8],
        weights: Vec<u8>,
        calibration: Option<&[u8]>,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let config: RadioConfig =
            serde_json::from_slice(config).map_err(|e| TrainError::Invalid(format!("config.json: {e}")))?;
        config.validate().map_err(|e| TrainError::Invalid(format!("config.json: {e}")))?;
        let checksum = crate::io::checksum::of_bytes(&weights);
        let tensors = candle_core::safetensors::load_buffer(&weights, device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let net = RadioNet::new(&config, vb)
            .map_err(|e| TrainError::Invalid(format!("model.safetensors does not fit config.json: {e}")))?
            .folded()?;
        let calibration = match calibration {
            Some(bytes) => {
                serde_json::from_slice(bytes).map_err(|e| TrainError::Invalid(format!("calibration.json: {e}")))?
            }
            None => RadioCalibration { temperature: vec![], ece_before: vec![], ece_after: vec![], fitted_on: 0 },
        };
        Ok(Self { net, calibration, domain: None, name: name.into(), checksum, device: device.clone() })
    }

    pub fn config(&self) -> &RadioConfig {
        &self.net.config
    }

    /// Readings of `cutouts` (each any size: the centre square is read), or per cutout why not.
    pub fn read(&self, cutouts: &[&Raster]) -> Result<Vec<Result<RadioReading, String>>, TrainError> {
        let side = self.net.config.input;
        // A cutout with no noise to measure (blank, constant, all NaN, a few pixels) has no source
        // either: out of domain, with no task read.
        let blank: Vec<Option<String>> =
            cutouts.iter().map(|r| radio_input(r, 8, 2).err().map(|why| format!("no source: {why}"))).collect();
        // Each readable cutout's network input, and why it holds no single source if it does not.
        let prepared: Vec<Result<Prepared, String>> = cutouts
            .iter()
            .zip(&blank)
            .filter(|(_, b)| b.is_none())
            .map(|(r, _)| Ok((radio_input(r, side, self.net.config.channels)?, no_source(r))))
            .collect();
        let ok: Vec<&[f32]> = prepared.iter().filter_map(|p| p.as_ref().ok().map(|p| p.0.as_slice())).collect();
        let mut outputs = self.forward(&ok)?.into_iter();
        let mut prepared = prepared.into_iter();
        Ok(blank
            .into_iter()
            .map(|b| {
                if let Some(why) = b {
                    return Ok(RadioReading { tasks: Vec::new(), out_of_domain: Some(why) });
                }
                let (_, ood) = prepared.next().ok_or_else(|| "internal: missing input".to_string())??;
                let (row, features) = outputs.next().ok_or_else(|| "internal: missing model output".to_string())?;
                let unlike = self.domain.as_ref().and_then(|d| {
                    let verdict = d.verdict_named(&features, &INPUT_STAT_NAMES, UNLIKE);
                    verdict.out_of_domain.then(|| verdict.reason.unwrap_or_else(|| UNLIKE.to_string()))
                });
                Ok(RadioReading { tasks: self.decode(&row), out_of_domain: ood.or(unlike) })
            })
            .collect())
    }

    /// Each task's calibrated probabilities and label from one output row.
    fn decode(&self, row: &[f32]) -> Vec<TaskReading> {
        TASKS
            .iter()
            .enumerate()
            .map(|(task, kind)| {
                let (start, len) = task_span(task);
                let t = self.calibration.temperature_of(task);
                let logits: Vec<f64> = row[start..start + len].iter().map(|&v| f64::from(v) / t).collect();
                let max = logits.iter().copied().fold(f64::MIN, f64::max);
                let exp: Vec<f64> = logits.iter().map(|v| (v - max).exp()).collect();
                let sum: f64 = exp.iter().sum();
                let classes = kind.radio_classes();
                #[allow(clippy::cast_possible_truncation)]
                let probs: Vec<(&'static str, f32)> =
                    classes.iter().zip(&exp).map(|(c, e)| (*c, (e / sum) as f32)).collect();
                let best = super::train::argmax(&probs.iter().map(|p| p.1).collect::<Vec<_>>());
                TaskReading { task: kind.name(), label: classes[best], probs }
            })
            .collect()
    }
}

/// One input's output row (every task's logits) and domain feature vector.
type Outputs = (Vec<f32>, Vec<f32>);

/// A cutout's network input, and why it holds no single source if it does not.
type Prepared = (Vec<f32>, Option<String>);

/// How the domain check's reason opens.
const UNLIKE: &str =
    "the cutout and the radio CNN's reading of it are unlike the RadioQA-sim cutouts it was trained on";

/// [`INPUT_STAT_NAMES`] of a network input (`side` x `side` per channel; two or four channels).
pub fn input_stats(x: &[f32], side: usize) -> [f32; 6] {
    let n = side * side;
    let channel = |k: usize| x.get(k * n..(k + 1) * n).unwrap_or(&[]);
    #[allow(clippy::cast_precision_loss)]
    let mean = |v: &[f32]| if v.is_empty() { 0.0 } else { v.iter().sum::<f32>() / v.len() as f32 };
    #[allow(clippy::cast_precision_loss)]
    let share = |v: &[f32], f: &dyn Fn(f32) -> bool| {
        if v.is_empty() { 0.0 } else { v.iter().filter(|&&p| f(p)).count() as f32 / v.len() as f32 }
    };
    let stretch = channel(0);
    [
        mean(stretch),
        share(stretch, &|p| p <= 0.0),
        share(stretch, &|p| p >= 1.0),
        mean(channel(1)),
        mean(channel(2)),
        mean(channel(3)),
    ]
}

/// "no source": the brightest pixel of the cutout is under [`MIN_PEAK_SIGMA`] of its noise; or a
/// crowded field: over [`MAX_ISLANDS`] islands. Not judged on 8-bit renderings: their display stretch saturates sources and spreads the noise over
/// the grey levels, so their significance says nothing.
fn no_source(r: &Raster) -> Option<String> {
    if matches!(r.meta.dtype, Some(crate::types::SampleType::U8)) {
        return None;
    }
    let band = r.bands.first()?;
    let values: Vec<f32> = (0..band.len()).filter(|&i| r.is_valid(0, i)).map(|i| band[i]).collect();
    let (_, median, std) = crate::stats::sigma_clip(&values, 3.0, 5);
    // The noise from the values below the median: a source filling much of the cutout inflates the
    // clipped spread, and would read as no source at all.
    let rms = crate::stats::sources::lower_rms(&values, median, std);
    let peak = values.iter().copied().filter(|v| v.is_finite()).fold(f32::MIN, f32::max);
    let snr = (peak - median) / rms;
    if snr < MIN_PEAK_SIGMA {
        return Some(format!(
            "no source: the brightest pixel is {snr:.1} sigma above the noise (the model classifies sources of at least {MIN_PEAK_SIGMA} sigma)"
        ));
    }
    let opts = crate::stats::sources::FinderOptions::default();
    let islands =
        crate::stats::sources::find_sources(r, 0, &opts, &AtomicBool::new(false)).map_or(0, |c| c.islands.len());
    (islands > MAX_ISLANDS).then(|| {
        format!(
            "{islands} islands in the cutout: the model was trained on cutouts around one source, holding at most {MAX_ISLANDS} islands (a wide-field map's cutout holds many)"
        )
    })
}

impl Predictor for RadioCnn {
    fn identity(&self) -> ModelIdentity {
        ModelIdentity {
            kind: "cnn-radio".into(),
            name: self.name.clone(),
            checksum: Some(self.checksum.clone()),
            trained_on: None,
        }
    }

    fn asks(&self, r: &QaRecord) -> bool {
        r.kind.is_radio()
    }

    fn batch(&self) -> usize {
        32
    }

    fn predict(
        &self,
        dataset: &Path,
        scenes: &[SceneQuestions<'_>],
        cancel: &AtomicBool,
    ) -> Result<Vec<Answer>, Fatal> {
        let start = Instant::now();
        let mut out = Vec::new();
        let mut loaded: Vec<(&SceneQuestions<'_>, Raster)> = Vec::new();
        for scene in scenes {
            if cancel.load(Ordering::Relaxed) {
                return Ok(out);
            }
            let Some(first) = scene.questions.first() else { continue };
            match crate::io::load(&dataset.join(&first.images.observed), &crate::io::LoadOptions::default()) {
                Ok(r) => loaded.push((scene, r)),
                Err(e) => out.extend(scene.questions.iter().map(|q| Answer::failed(q, e.to_string()))),
            }
        }
        let rasters: Vec<&Raster> = loaded.iter().map(|l| &l.1).collect();
        let readings = self.read(&rasters).map_err(|e| Fatal::new(format!("the radio CNN failed: {e}")))?;
        let questions: usize = loaded.iter().map(|l| l.0.questions.len()).sum();
        #[allow(clippy::cast_precision_loss)]
        let ms = start.elapsed().as_secs_f64() * 1000.0 / questions.max(1) as f64;
        for ((scene, _), reading) in loaded.iter().zip(readings) {
            for q in &scene.questions {
                let answer = match &reading {
                    Ok(RadioReading { tasks, out_of_domain: Some(why) }) if tasks.is_empty() => {
                        Answer::failed(q, why.clone())
                    }
                    Ok(r) => match r.task(q.kind.name()) {
                        Some(t) => {
                            let p = Prediction {
                                id: q.id.clone(),
                                answer: t.label.to_string(),
                                bbox: None,
                                confidence: Some(t.confidence()),
                                out_of_domain: Some(r.out_of_domain.is_some()),
                            };
                            Answer::ok(p, describe(r), ms)
                        }
                        None => Answer::failed(q, "the radio CNN does not answer this kind of question"),
                    },
                    Err(why) => Answer::failed(q, why.clone()),
                };
                out.push(answer);
            }
        }
        Ok(out)
    }
}

/// A reading in words: each task's label and probability, or why the cutout is out of domain.
pub fn describe(r: &RadioReading) -> String {
    let tasks: Vec<String> =
        r.tasks.iter().map(|t| format!("{} {} ({:.0} %)", t.task, t.label, 100.0 * t.confidence())).collect();
    match &r.out_of_domain {
        Some(why) => format!("out of domain: {why}"),
        None => tasks.join(", "),
    }
}
