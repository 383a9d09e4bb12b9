//! The GSD estimate of a whole image: features of a grid of crops at the image's own resolution
//! ([`super::features`]) through the boosted trees ([`super::boost`]), combined into one mu and sigma,
//! with the spread of the crops and a flag when they disagree. Loading checks the feature list, the
//! crop side and every tree, and says what does not fit. Any thread that owns the model (a worker or
//! the CLI).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::boost::Forest;
use super::crops::{Plane, Reject, standardize};
use super::data::GSD_RANGE_M;
use super::features::{FEATURE_NAMES, MIN_SIDE, N_FEATURES, colour_features, features, render};
use crate::types::Raster;

/// The shipped estimator, compiled into the binary.
const BUNDLED: &[u8] = include_bytes!("../../../models/gsd/model.json");

/// What a model needs besides its trees (saved with them in `model.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GsdConfig {
    /// Crop side in pixels (a multiple of 64).
    pub input: usize,
    /// The calibrated 1-sigma of one crop's log10 GSD, fitted on held-out scenes.
    pub sigma: f64,
    /// The features the trees were fitted on, in order.
    pub features: Vec<String>,
}

impl Default for GsdConfig {
    fn default() -> Self {
        GsdConfig { input: 128, sigma: 1.0, features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect() }
    }
}

impl GsdConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.input < MIN_SIDE || self.input > 512 || !self.input.is_multiple_of(MIN_SIDE) {
            return Err(format!("input {} must be a multiple of {MIN_SIDE} in {MIN_SIDE}-512", self.input));
        }
        if !(self.sigma > 0.0 && self.sigma.is_finite()) {
            return Err(format!("sigma {} must be positive", self.sigma));
        }
        let ours: Vec<&str> = FEATURE_NAMES.to_vec();
        if self.features.iter().map(String::as_str).ne(ours.iter().copied()) {
            return Err(format!(
                "the model was fitted on {} features ({}...), this heatscope computes {N_FEATURES} ({}...)",
                self.features.len(),
                self.features.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                ours[..3].join(", ")
            ));
        }
        Ok(())
    }
}

/// A saved model: `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    pub config: GsdConfig,
    pub forest: Forest,
}

/// Crops a side of the estimation grid (at most this squared, fewer on small images).
pub const GRID: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum GsdError {
    #[error("cannot read {path}: {source}")]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("the GSD model is not valid: {0}")]
    Config(String),
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
#[derive(Debug, Clone, PartialEq)]
pub struct GsdModel {
    config: GsdConfig,
    forest: Forest,
}

impl GsdModel {
    /// `model.json` from a folder.
    pub fn load(dir: &Path) -> Result<GsdModel, GsdError> {
        let path = dir.join("model.json");
        let bytes = std::fs::read(&path).map_err(|source| GsdError::Read { path, source })?;
        GsdModel::from_bytes(&bytes)
    }

    /// The model compiled into heatscope (models/gsd).
    pub fn bundled() -> Result<GsdModel, GsdError> {
        GsdModel::from_bytes(BUNDLED)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<GsdModel, GsdError> {
        let saved: SavedModel = serde_json::from_slice(bytes)
            .map_err(|e| GsdError::Config(format!("model.json is not a GSD model heatscope wrote: {e}")))?;
        GsdModel::new(saved.config, saved.forest)
    }

    pub fn new(config: GsdConfig, forest: Forest) -> Result<GsdModel, GsdError> {
        config.validate().map_err(GsdError::Config)?;
        forest.check(N_FEATURES).map_err(GsdError::Config)?;
        Ok(GsdModel { config, forest })
    }

    pub fn config(&self) -> &GsdConfig {
        &self.config
    }

    pub fn saved(&self) -> SavedModel {
        SavedModel { config: self.config.clone(), forest: self.forest.clone() }
    }

    /// log10 GSD of one crop's features, kept inside the range the model knows.
    pub fn predict(&self, f: &[f32; N_FEATURES]) -> f64 {
        self.forest.predict(f).clamp(GSD_RANGE_M.0.log10(), GSD_RANGE_M.1.log10())
    }

    /// Estimate for a raster (its luminance and, for a colour image, its opponent colours, at native
    /// resolution), on up to [`GRID`] x [`GRID`] crops.
    /// Crops are cut from the raster as they are needed: no plane of the whole image is made (a
    /// 20000 x 20000 image would need 1.5 GiB for it).
    pub fn estimate_raster(&self, raster: &Raster) -> Result<TileEstimate, GsdError> {
        let side = self.config().input;
        self.estimate_crops(raster.width, raster.height, |x0, y0| {
            (Plane::luminance_window(raster, x0, y0, side, side), Plane::chroma_window(raster, x0, y0, side, side))
        })
    }

    /// Estimate for a grey image.
    pub fn estimate_plane(&self, plane: &Plane) -> Result<TileEstimate, GsdError> {
        self.estimate_planes(plane, None)
    }

    /// Estimate from a luminance plane and, for a colour image, its two opponent-colour planes (same size).
    pub fn estimate_planes(&self, plane: &Plane, chroma: Option<(&Plane, &Plane)>) -> Result<TileEstimate, GsdError> {
        let side = self.config().input;
        let w = plane.width;
        let cut = |p: &Plane, x0: usize, y0: usize| {
            let data = (0..side).flat_map(|r| p.data[(y0 + r) * w + x0..(y0 + r) * w + x0 + side].iter().copied());
            Plane::new(side, side, data.collect())
        };
        self.estimate_crops(plane.width, plane.height, |x0, y0| {
            (cut(plane, x0, y0), chroma.map(|(a, b)| (cut(a, x0, y0), cut(b, x0, y0))))
        })
    }

    /// The estimate of a `w` x `h` image from its `side` x `side` crops: `crop(x0, y0)` gives the
    /// luminance and, for a colour image, the opponent-colour planes of the crop at (`x0`, `y0`).
    fn estimate_crops(
        &self,
        w: usize,
        h: usize,
        crop: impl Fn(usize, usize) -> (Plane, Option<(Plane, Plane)>),
    ) -> Result<TileEstimate, GsdError> {
        let side = self.config().input;
        if w < side || h < side {
            return Err(GsdError::TooSmall { w, h, side });
        }
        let (nx, ny) = ((w / side).clamp(1, GRID), (h / side).clamp(1, GRID));
        let mut feats = Vec::new();
        let mut centres = Vec::new();
        let mut skipped = 0;
        let (cx, cy) = ((w - side) / 2, (h - side) / 2);
        let mut used: Vec<(usize, usize)> = Vec::new();
        for j in 0..ny {
            for i in 0..nx {
                // Crops evenly spread: the first at the top-left corner, the last at the far corner.
                let gx = if nx == 1 { cx } else { i * (w - side) / (nx - 1) };
                let gy = if ny == 1 { cy } else { j * (h - side) / (ny - 1) };
                // A crop that falls on no data (a rotated scene's collar, a mask) moves a quarter of the
                // way toward the centre at a time, to a place no other crop took.
                let found = (0..4).find_map(|step| {
                    let toward = |g: usize, c: usize| (g * (4 - step) + c * step) / 4;
                    let (x0, y0) = (toward(gx, cx), toward(gy, cy));
                    if used.contains(&(x0, y0)) {
                        return None;
                    }
                    let (lum, colour) = crop(x0, y0);
                    let f = crop_features(&lum, colour.as_ref().map(|(a, b)| (a, b))).ok()?;
                    Some((f, x0, y0))
                });
                match found {
                    Some((f, x0, y0)) => {
                        used.push((x0, y0));
                        feats.push(f);
                        centres.push(((x0 + side / 2) as f64, (y0 + side / 2) as f64));
                    }
                    None => skipped += 1,
                }
            }
        }
        if feats.is_empty() {
            return Err(GsdError::NoTexture(skipped));
        }
        let sigma = self.config.sigma;
        let crops =
            centres.iter().zip(&feats).map(|(&(x, y), f)| CropEstimate { x, y, mu: self.predict(f), sigma }).collect();
        TileEstimate::combine(crops, skipped).ok_or(GsdError::NoTexture(skipped))
    }
}

/// The features of one crop as the estimator sees it: refused when more than 2 % of it has no data or
/// it has no texture.
pub fn crop_features(crop: &Plane, chroma: Option<(&Plane, &Plane)>) -> Result<[f32; N_FEATURES], Reject> {
    standardize(crop)?;
    features(&render(crop), colour_features(crop, chroma)).ok_or(Reject::Flat)
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

    /// Crops cut from the raster as needed give the estimate of crops cut from whole-image planes.
    #[test]
    fn crops_from_the_raster_equal_crops_from_whole_planes() {
        let m = GsdModel::bundled().expect("bundled GSD model");
        let (w, h) = (700, 530);
        let texture = |i: usize, k: usize| {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            ((x * 0.37 + k as f32).sin() * (y * 0.21).cos() * 60.0 + ((i * 2_654_435_761) % 97) as f32) + 80.0
        };
        for bands in [1, 3, 4] {
            let data: Vec<Vec<f32>> = (0..bands).map(|k| (0..w * h).map(|i| texture(i, k)).collect()).collect();
            let mut raster = Raster::new(w, h, data, crate::types::RasterMeta::default());
            // A no-data corner moves the first crop toward the centre.
            raster.valid = Some((0..w * h).map(|i| i % w > 40 || i / w > 40).collect());
            raster.bands[0][w * 300 + 350] = f32::NAN;
            let whole = Plane::luminance(&raster);
            let chroma = Plane::chroma(&raster);
            let from_planes = m.estimate_planes(&whole, chroma.as_ref().map(|(a, b)| (a, b))).expect("textured");
            assert_eq!(m.estimate_raster(&raster).expect("textured"), from_planes, "{bands} band(s)");
        }
    }

    #[test]
    fn bundled_model_loads_and_bad_models_say_why() {
        let m = GsdModel::bundled().expect("bundled GSD model");
        assert!(m.config().sigma > 0.0 && m.config().input == 128);
        let mut saved = m.saved();
        saved.config.features.pop();
        let err = GsdModel::new(saved.config.clone(), saved.forest.clone()).expect_err("feature mismatch");
        assert!(err.to_string().contains("fitted on 24 features"), "{err}");
        let mut saved = m.saved();
        saved.forest.trees[0].nodes[0].feature = Some(99);
        let err = GsdModel::new(saved.config, saved.forest).expect_err("bad tree");
        assert!(err.to_string().contains("feature 99"), "{err}");
        let err = GsdModel::from_bytes(&BUNDLED[..100]).expect_err("truncated");
        assert!(err.to_string().contains("not a GSD model"), "{err}");
        let err = GsdModel::from_bytes(b"{").expect_err("bad json");
        assert!(err.to_string().contains("model.json"), "{err}");
    }

    #[test]
    fn crops_on_a_no_data_collar_move_inward() {
        // A 512 px image whose data is a disc of radius 200 px (a rotated scene's footprint): the
        // corner crops fall on no data and move toward the centre; no two crops share a place.
        let n = 512;
        let data: Vec<f32> = (0..n * n)
            .map(|k| {
                let (x, y) = ((k % n) as f32 - 256.0, (k / n) as f32 - 256.0);
                if x.hypot(y) > 200.0 {
                    f32::NAN
                } else {
                    100.0 + 40.0 * (x * 0.3).sin() * (y * 0.23).cos() + (x * 1.7).sin() * 9.0
                }
            })
            .collect();
        let m = GsdModel::bundled().expect("bundled");
        let e = m.estimate_plane(&Plane::new(n, n, data)).expect("an estimate from the disc");
        assert!(e.crops.len() >= 8, "{} crops, {} skipped", e.crops.len(), e.skipped);
        assert_eq!(e.crops.len() + e.skipped, 16);
        let mut places: Vec<(u64, u64)> = e.crops.iter().map(|c| (c.x as u64, c.y as u64)).collect();
        places.sort_unstable();
        places.dedup();
        assert_eq!(places.len(), e.crops.len());
    }

    #[test]
    fn small_and_flat_images_give_reasons() {
        let m = GsdModel::bundled().expect("bundled");
        let err = m.estimate_plane(&Plane::new(100, 300, vec![1.0; 30000])).expect_err("small");
        assert!(matches!(err, GsdError::TooSmall { .. }));
        let err = m.estimate_plane(&Plane::new(256, 256, vec![3.0; 256 * 256])).expect_err("flat");
        assert!(matches!(err, GsdError::NoTexture(4)), "{err}");
        let nan = m.estimate_plane(&Plane::new(128, 128, vec![f32::NAN; 128 * 128])).expect_err("no data");
        assert!(matches!(nan, GsdError::NoTexture(1)));
    }
}
