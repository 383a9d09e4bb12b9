//! The GSD estimate of a whole image: the trained network on a grid of crops at the image's own
//! resolution, combined into one mu and sigma, with the spread of the crops and a flag when they
//! disagree. Loading checks every tensor's name and shape and names the first that does not fit. Any
//! thread that owns the model (a worker or the CLI).

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use super::crops::{Plane, standardize};
use super::net::{GsdConfig, GsdNet};
use crate::types::Raster;

/// The shipped estimator, compiled into the binary.
const BUNDLED_CONFIG: &[u8] = include_bytes!("../../../models/gsd/config.json");
const BUNDLED_WEIGHTS: &[u8] = include_bytes!("../../../models/gsd/model.safetensors");

/// Crops a side of the estimation grid (at most this squared, fewer on small images).
pub const GRID: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum GsdError {
    #[error("cannot read {path}: {source}")]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("config.json of the GSD model is not valid: {0}")]
    Config(String),
    #[error("GSD weights do not fit the network: {0}")]
    Weights(String),
    #[error("model error: {0}")]
    Model(#[from] candle_core::Error),
    #[error("the image is {w} x {h}; the GSD estimator needs at least {side} x {side} pixels")]
    TooSmall { w: usize, h: usize, side: usize },
    #[error("no crop of the image has texture and data (all {0} crops were flat or had more than 2 % no data)")]
    NoTexture(usize),
}

/// One crop's estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropEstimate {
    /// Crop centre in image pixels.
    pub x: f64,
    pub y: f64,
    /// log10(GSD in m) and its calibrated sigma.
    pub mu: f64,
    pub sigma: f64,
}

/// The estimate for an image.
#[derive(Debug, Clone, PartialEq)]
pub struct TileEstimate {
    /// log10(GSD in m): the mean of the crops.
    pub mu: f64,
    /// Calibrated sigma of one crop's estimate (root mean square over crops) combined with the spread
    /// of the crops, in log10 units.
    pub sigma: f64,
    /// Standard deviation of the crops' mu (log10 units).
    pub spread: f64,
    /// The crops disagree: their spread is larger than their own stated sigma.
    pub disagree: bool,
    pub crops: Vec<CropEstimate>,
    /// Crops skipped as flat or without data.
    pub skipped: usize,
}

impl TileEstimate {
    pub fn metres(&self) -> f64 {
        10f64.powf(self.mu)
    }

    /// The multiplicative 1-sigma factor ("x/÷ 1.3").
    pub fn factor(&self) -> f64 {
        10f64.powf(self.sigma)
    }

    /// Combine crop estimates; None when there are none.
    pub fn combine(crops: Vec<CropEstimate>, skipped: usize) -> Option<TileEstimate> {
        if crops.is_empty() {
            return None;
        }
        let n = crops.len() as f64;
        let mu = crops.iter().map(|c| c.mu).sum::<f64>() / n;
        let spread = (crops.iter().map(|c| (c.mu - mu).powi(2)).sum::<f64>() / n).sqrt();
        let rms_sigma = (crops.iter().map(|c| c.sigma * c.sigma).sum::<f64>() / n).sqrt();
        let sigma = (rms_sigma * rms_sigma + spread * spread).sqrt();
        let disagree = crops.len() >= 3 && spread > rms_sigma;
        Some(TileEstimate { mu, sigma, spread, disagree, crops, skipped })
    }
}

/// Metres as a user reads them: "0.52 m", "30 m", "1.2 km", "4 cm".
pub fn format_metres(m: f64) -> String {
    if !m.is_finite() {
        return "?".into();
    }
    let (v, unit) = if m >= 1000.0 {
        (m / 1000.0, "km")
    } else if m < 0.1 {
        (m * 100.0, "cm")
    } else {
        (m, "m")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

/// The trained estimator.
#[derive(Debug, Clone)]
pub struct GsdModel {
    pub net: GsdNet,
    device: Device,
}

impl GsdModel {
    /// `config.json` + `model.safetensors` from a folder.
    pub fn load(dir: &Path, device: &Device) -> Result<GsdModel, GsdError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| GsdError::Read { path, source })
        };
        GsdModel::from_bytes(&read("config.json")?, &read("model.safetensors")?, device)
    }

    /// The model compiled into heatscope (models/gsd).
    pub fn bundled(device: &Device) -> Result<GsdModel, GsdError> {
        GsdModel::from_bytes(BUNDLED_CONFIG, BUNDLED_WEIGHTS, device)
    }

    pub fn from_bytes(config: &[u8], weights: &[u8], device: &Device) -> Result<GsdModel, GsdError> {
        let config: GsdConfig = serde_json::from_slice(config).map_err(|e| GsdError::Config(e.to_string()))?;
        config.validate().map_err(GsdError::Config)?;
        let tensors = candle_core::safetensors::load_buffer(weights, device)
            .map_err(|e| GsdError::Weights(format!("not a safetensors file: {e}")))?;
        // Build once on a recording builder to learn every expected name and shape, then compare.
        let expected = candle_nn::VarMap::new();
        GsdNet::new(&config, VarBuilder::from_varmap(&expected, DType::F32, &Device::Cpu))?;
        let mut names: Vec<(String, Vec<usize>)> = expected
            .data()
            .lock()
            .map_err(|_| GsdError::Weights("internal lock poisoned".into()))?
            .iter()
            .map(|(k, v)| (k.clone(), v.dims().to_vec()))
            .collect();
        names.sort();
        for (name, shape) in &names {
            match tensors.get(name) {
                None => return Err(GsdError::Weights(format!("tensor {name} is missing (expected shape {shape:?})"))),
                Some(t) if t.dims() != shape.as_slice() => {
                    return Err(GsdError::Weights(format!(
                        "tensor {name} has shape {:?}, the config needs {shape:?}",
                        t.dims()
                    )));
                }
                Some(_) => {}
            }
        }
        let tensors = tensors
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_dtype(DType::F32)?)))
            .collect::<candle_core::Result<std::collections::HashMap<_, _>>>()?;
        let net = GsdNet::new(&config, VarBuilder::from_tensors(tensors, DType::F32, device))?;
        Ok(GsdModel { net, device: device.clone() })
    }

    pub fn config(&self) -> &GsdConfig {
        self.net.config()
    }

    /// Calibrated (mu, sigma) of standardized crops.
    pub fn predict(&self, crops: &[Vec<f32>]) -> Result<Vec<(f64, f64)>, GsdError> {
        let raw = super::train::predict(&self.net, crops, &self.device)?;
        let s = self.config().sigma_scale;
        Ok(raw.into_iter().map(|(mu, sigma)| (mu, sigma * s)).collect())
    }

    /// Estimate for a raster (its luminance at native resolution), on up to [`GRID`] x [`GRID`] crops.
    pub fn estimate_raster(&self, raster: &Raster) -> Result<TileEstimate, GsdError> {
        self.estimate_plane(&Plane::luminance(raster))
    }

    pub fn estimate_plane(&self, plane: &Plane) -> Result<TileEstimate, GsdError> {
        let side = self.config().input;
        let (w, h) = (plane.width, plane.height);
        if w < side || h < side {
            return Err(GsdError::TooSmall { w, h, side });
        }
        let (nx, ny) = ((w / side).clamp(1, GRID), (h / side).clamp(1, GRID));
        let mut pixels = Vec::new();
        let mut centres = Vec::new();
        let mut skipped = 0;
        for j in 0..ny {
            for i in 0..nx {
                // Crops evenly spread: the first at the top-left corner, the last at the far corner.
                let x0 = if nx == 1 { (w - side) / 2 } else { i * (w - side) / (nx - 1) };
                let y0 = if ny == 1 { (h - side) / 2 } else { j * (h - side) / (ny - 1) };
                let data: Vec<f32> = (0..side)
                    .flat_map(|r| plane.data[(y0 + r) * w + x0..(y0 + r) * w + x0 + side].iter().copied())
                    .collect();
                match standardize(&Plane::new(side, side, data)) {
                    Ok(px) => {
                        pixels.push(px);
                        centres.push(((x0 + side / 2) as f64, (y0 + side / 2) as f64));
                    }
                    Err(_) => skipped += 1,
                }
            }
        }
        if pixels.is_empty() {
            return Err(GsdError::NoTexture(skipped));
        }
        let pred = self.predict(&pixels)?;
        let crops = centres.iter().zip(pred).map(|(&(x, y), (mu, sigma))| CropEstimate { x, y, mu, sigma }).collect();
        TileEstimate::combine(crops, skipped).ok_or(GsdError::NoTexture(skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metres_read_naturally() {
        assert_eq!(format_metres(0.523), "0.52 m");
        assert_eq!(format_metres(30.04), "30.0 m");
        assert_eq!(format_metres(300.0), "300 m");
        assert_eq!(format_metres(1234.0), "1.23 km");
        assert_eq!(format_metres(0.0167), "1.67 cm");
        assert_eq!(format_metres(f64::NAN), "?");
    }

    #[test]
    fn crops_combine_and_disagreement_is_flagged() {
        let c = |mu: f64| CropEstimate { x: 0.0, y: 0.0, mu, sigma: 0.1 };
        let agree = TileEstimate::combine(vec![c(1.0), c(1.02), c(0.98)], 1).expect("some");
        assert!((agree.mu - 1.0).abs() < 1e-12 && !agree.disagree && agree.skipped == 1);
        assert!(agree.sigma >= 0.1 && agree.sigma < 0.11);
        let split = TileEstimate::combine(vec![c(0.0), c(1.0), c(2.0)], 0).expect("some");
        assert!(split.disagree && split.sigma > split.spread);
        assert!(TileEstimate::combine(vec![], 3).is_none());
    }

    #[test]
    fn bundled_model_loads_and_bad_weights_name_the_tensor() {
        let dev = Device::Cpu;
        let m = GsdModel::bundled(&dev).expect("bundled GSD model");
        assert!(m.config().sigma_scale > 0.0);
        // A config with another width: the first conv no longer fits, and the error says which.
        let mut cfg = m.config().clone();
        cfg.width = 8;
        let err = GsdModel::from_bytes(&serde_json::to_vec(&cfg).expect("json"), BUNDLED_WEIGHTS, &dev)
            .expect_err("shape mismatch");
        let msg = err.to_string();
        assert!(msg.contains("tensor ") && msg.contains("the config needs"), "{msg}");
        let err = GsdModel::from_bytes(BUNDLED_CONFIG, &BUNDLED_WEIGHTS[..100], &dev).expect_err("truncated");
        assert!(err.to_string().contains("safetensors"), "{err}");
        let err = GsdModel::from_bytes(b"{", BUNDLED_WEIGHTS, &dev).expect_err("bad json");
        assert!(err.to_string().contains("config.json"), "{err}");
    }

    #[test]
    fn small_and_flat_images_give_reasons() {
        let m = GsdModel::bundled(&Device::Cpu).expect("bundled");
        let err = m.estimate_plane(&Plane::new(10, 10, vec![1.0; 100])).expect_err("small");
        assert!(matches!(err, GsdError::TooSmall { .. }));
        let err = m.estimate_plane(&Plane::new(128, 128, vec![3.0; 128 * 128])).expect_err("flat");
        assert!(matches!(err, GsdError::NoTexture(4)), "{err}");
        let nan = m.estimate_plane(&Plane::new(64, 64, vec![f32::NAN; 64 * 64])).expect_err("no data");
        assert!(matches!(nan, GsdError::NoTexture(1)));
    }
}
