//! Fitting the GSD estimator: crops drawn from every training image at random coarser GSDs (area
//! resampling from the native one) with random sensor and render degradation, their features, the
//! boosted trees fitted with every scene weighing the same, the fixed scoring crops of a held-out
//! scene (1x, 2x, 4x and 8x the native GSD, 8-bit renders), leave-one-scene-out scoring and the sigma
//! calibration. Runs on the caller's thread (the CLI's), reporting progress through a callback that
//! can cancel.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::boost::{BoostOptions, Forest, fit};
use super::crops::{Degradation, Plane, standardize};
use super::data::{GSD_RANGE_M, SourceImage};
use super::estimate::{GsdConfig, GsdModel};
use super::features::{N_FEATURES, colour_features, features, render};
use crate::io::atomic;
use crate::sim::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Training crops drawn per scene (each scene weighs the same whatever its number of images).
    pub crops_per_scene: usize,
    /// Share of crops taken at the image's native GSD (the rest at random coarser GSDs).
    pub native_share: f64,
    /// Share of crops given a random sensor/render degradation (the rest: the plain 8-bit render).
    #[serde(default = "one")]
    pub degrade_share: f64,
    pub boost: BoostOptions,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            crops_per_scene: 160,
            native_share: 0.25,
            degrade_share: 0.0,
            boost: BoostOptions::default(),
            seed: 0,
        }
    }
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, thiserror::Error)]
pub enum GsdTrainError {
    #[error("cannot {what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("cancelled")]
    Cancelled,
}

/// A crop's features with its truth.
#[derive(Debug, Clone)]
pub struct Sample {
    pub features: [f32; N_FEATURES],
    /// log10 of the crop's GSD in metres.
    pub log_gsd: f64,
    /// Index of the source image.
    pub image: usize,
}

/// The range of log10 GSD a `side`-pixel crop of `img` can be made at (native up to where the
/// crop still fits, within [`GSD_RANGE_M`]).
pub fn log_range(img: &SourceImage, side: usize) -> (f64, f64) {
    let lo = img.log_gsd();
    let hi = (lo + img.pyramid.max_factor(side).log10() - 1e-6).min(GSD_RANGE_M.1.log10());
    (lo, hi.max(lo))
}

/// One crop of `img` at `log_gsd` (clamped to what the image allows), degraded, as features; a few
/// positions are tried before giving up on flat or no-data ground.
pub fn make_sample(
    img: &SourceImage,
    log_gsd: f64,
    side: usize,
    deg: &Degradation,
    rng: &mut Rng,
) -> Option<[f32; N_FEATURES]> {
    let (lo, hi) = log_range(img, side);
    let t = log_gsd.clamp(lo, hi);
    let factor = 10f64.powf(t - lo).max(1.0);
    for _ in 0..24 {
        let (fx, fy) = (rng.uniform(), rng.uniform());
        let raw: Plane = img.pyramid.crop(factor, side, fx, fy)?;
        if standardize(&raw).is_err() {
            continue;
        }
        // The colour features are taken on the undegraded crop (degradation acts on the luminance).
        let chroma =
            img.chroma.as_ref().and_then(|(a, b)| Some((a.crop(factor, side, fx, fy)?, b.crop(factor, side, fx, fy)?)));
        let colour = colour_features(&raw, chroma.as_ref().map(|(a, b)| (a, b)));
        let grey = deg.apply(&raw, rng);
        if standardize(&grey).is_ok()
            && let Some(f) = features(&render(&grey), colour)
        {
            return Some(f);
        }
    }
    None
}

/// Progress of drawing crops.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub eta_s: f64,
}

/// Indices of `images` per scene, scenes in first-seen order.
fn groups(images: &[SourceImage]) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, img) in images.iter().enumerate() {
        match out.iter_mut().find(|(s, _)| *s == img.scene) {
            Some((_, members)) => members.push(i),
            None => out.push((img.scene.clone(), vec![i])),
        }
    }
    out
}

/// Training crops of every scene: `crops_per_scene` each, the image drawn at random within the
/// scene, the GSD native (`native_share`) or uniform in log up to what the image allows, a random
/// degradation. `progress` returns false to cancel.
pub fn training_samples(
    images: &[SourceImage],
    side: usize,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<Vec<Sample>, GsdTrainError> {
    let groups = groups(images);
    let total = groups.len() * opts.crops_per_scene;
    let start = Instant::now();
    let mut out = Vec::with_capacity(total);
    for (g, (scene, members)) in groups.iter().enumerate() {
        let mut rng = Rng::derive(opts.seed, &[g as u64, scene.bytes().map(u64::from).sum()]);
        let mut misses = 0;
        let mut made = 0;
        while made < opts.crops_per_scene && misses < 4 * opts.crops_per_scene {
            let i = members[rng.below(members.len())];
            let (lo, hi) = log_range(&images[i], side);
            let t = if rng.chance(opts.native_share) { lo } else { rng.range(lo, hi) };
            let deg = if rng.chance(opts.degrade_share) {
                Degradation::random(&mut rng)
            } else {
                Degradation { symmetry: rng.below(8) as u8, ..Degradation::EVAL }
            };
            match make_sample(&images[i], t, side, &deg, &mut rng) {
                Some(features) => {
                    out.push(Sample { features, log_gsd: t, image: i });
                    made += 1;
                }
                None => misses += 1,
            }
        }
        let done = (g + 1) * opts.crops_per_scene;
        let eta_s = start.elapsed().as_secs_f64() / done as f64 * (total - done) as f64;
        if !progress(Progress { done, total, eta_s }) {
            return Err(GsdTrainError::Cancelled);
        }
    }
    Ok(out)
}

/// Fit the trees on `samples` (of `images`), leaving out the scene `without` if given; every scene
/// weighs the same.
pub fn fit_forest(images: &[SourceImage], samples: &[Sample], without: Option<&str>, opts: &TrainOptions) -> Forest {
    let used: Vec<&Sample> = samples.iter().filter(|s| Some(images[s.image].scene.as_str()) != without).collect();
    let mut per_scene: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for s in &used {
        *per_scene.entry(images[s.image].scene.as_str()).or_default() += 1;
    }
    let x: Vec<Vec<f32>> = used.iter().map(|s| s.features.to_vec()).collect();
    let y: Vec<f64> = used.iter().map(|s| s.log_gsd).collect();
    let w: Vec<f64> = used.iter().map(|s| 1.0 / per_scene[images[s.image].scene.as_str()] as f64).collect();
    fit(&x, &y, &w, &opts.boost)
}

/// The fixed scoring crops of one scene, as a user's tiles come: each image at 1x, 2x, 4x and 8x its
/// native GSD (those that fit and stay within range), `per_scene` crops spread over images and
/// factors, 8-bit renders with a 1-99 % stretch and no added blur, noise or JPEG; seeded by `seed`.
pub fn eval_samples(images: &[SourceImage], scene: &str, per_scene: usize, side: usize, seed: u64) -> Vec<Sample> {
    let members: Vec<usize> = (0..images.len()).filter(|&i| images[i].scene == scene).collect();
    let mut rng = Rng::derive(seed, &[scene.len() as u64, scene.bytes().map(u64::from).sum()]);
    let mut slots: Vec<(usize, f64)> = Vec::new();
    for &i in &members {
        let (lo, hi) = log_range(&images[i], side);
        for k in 0..4 {
            let t = lo + k as f64 * 2f64.log10();
            if t <= hi + 1e-9 {
                slots.push((i, t));
            }
        }
    }
    let mut out = Vec::new();
    for k in 0..per_scene.min(slots.len() * 8) {
        let (i, t) = slots[k % slots.len()];
        if let Some(features) = make_sample(&images[i], t, side, &Degradation::EVAL, &mut rng) {
            out.push(Sample { features, log_gsd: t, image: i });
        }
    }
    out
}

/// One scored crop of the leave-one-scene-out run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LosoRecord {
    pub scene: String,
    pub image: String,
    pub true_log_gsd: f64,
    pub mu: f64,
    /// The model's sigma before calibration (log10 units; 1 for a model with one sigma for all).
    pub sigma_raw: f64,
    /// The constant guess of this fold: the median log10 GSD of its training crops.
    #[serde(default = "nan")]
    pub constant: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// Scores of the crops whose true GSD lies in one decade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecadeRow {
    /// floor(log10 GSD): -1 is 0.1-1 m.
    pub decade: i32,
    pub crops: usize,
    pub scenes: usize,
    pub median_abs_log_error: f64,
    /// The same for each fold's constant guess.
    pub median_abs_log_error_constant: f64,
    pub coverage_1sigma: f64,
    pub coverage_2sigma: f64,
}

/// Coverage of the central +-k sigma interval for sigmas scaled by `s`.
pub fn coverage(records: &[&LosoRecord], s: f64, k: f64) -> f64 {
    if records.is_empty() {
        return f64::NAN;
    }
    let inside = records.iter().filter(|r| (r.true_log_gsd - r.mu).abs() <= k * s * r.sigma_raw).count();
    inside as f64 / records.len() as f64
}

/// The sigma scale that brings the 1- and 2-sigma coverage of `records` closest to 68.3 % and 95.4 %
/// (least squares over a log grid from 0.05 to 50).
pub fn fit_sigma_scale(records: &[&LosoRecord]) -> f64 {
    if records.is_empty() {
        return 1.0;
    }
    let mut best = (f64::INFINITY, 1.0);
    for i in 0..=400 {
        let s = 10f64.powf(-1.3 + 3.0 * i as f64 / 400.0);
        let e = (coverage(records, s, 1.0) - 0.6827).powi(2) + (coverage(records, s, 2.0) - 0.9545).powi(2);
        if e < best.0 - 1e-12 {
            best = (e, s);
        }
    }
    best.1
}

/// Scores of a leave-one-scene-out run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LosoSummary {
    pub crops: usize,
    pub scenes: usize,
    pub median_abs_log_error: f64,
    pub mean_abs_log_error: f64,
    /// Coverage with each scene's sigma scaled by the factor fitted on the other scenes' records.
    pub coverage_1sigma: f64,
    pub coverage_2sigma: f64,
    /// Coverage with the raw network sigma.
    pub coverage_1sigma_raw: f64,
    pub coverage_2sigma_raw: f64,
    /// The factor fitted on all records (what the shipped model uses).
    pub sigma_scale: f64,
    /// Observed coverage of central intervals at 10 %, 20 %, ..., 90 %, 95 % nominal (calibrated).
    pub reliability: Vec<(f64, f64)>,
    /// Per scene: (scene, crops, median |error|).
    pub per_scene: Vec<(String, usize, f64)>,
    /// Each fold's constant guess (the median of its training crops) on the same crops.
    pub median_abs_log_error_constant: f64,
    /// The single constant with the lowest median |error| on these crops (chosen looking at them: a
    /// bound no constant guess can beat) and that error.
    pub best_constant: f64,
    pub median_abs_log_error_best_constant: f64,
    pub per_decade: Vec<DecadeRow>,
    /// How the estimate follows the GSD within one image: the median over images scored at more than one
    /// GSD of the least-squares slope of mu on the true log10 GSD (1 = follows it exactly, 0 = ignores it).
    #[serde(default = "nan")]
    pub within_image_slope: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    crate::stats::quantile::of_sorted(&v, 0.5).unwrap_or(f64::NAN)
}

/// Inverse of the standard normal CDF's central interval: k such that P(|Z| <= k) = p.
pub fn central_k(p: f64) -> f64 {
    // Bisection on erf(k / sqrt 2) = p.
    let (mut lo, mut hi) = (0.0f64, 8.0f64);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if erf(mid / std::f64::consts::SQRT_2) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
pub fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592)
            * t
            * (-x * x).exp();
    if x >= 0.0 { y } else { -y }
}

/// Summarize records: each scene's coverage uses the scale fitted on the other scenes only.
pub fn summarize(records: &[LosoRecord]) -> LosoSummary {
    let scenes: Vec<String> = {
        let mut s: Vec<String> = Vec::new();
        for r in records {
            if !s.contains(&r.scene) {
                s.push(r.scene.clone());
            }
        }
        s
    };
    let mut scaled_z = vec![f64::NAN; records.len()];
    let mut per_scene = Vec::new();
    for scene in &scenes {
        let others: Vec<&LosoRecord> = records.iter().filter(|r| &r.scene != scene).collect();
        let s = fit_sigma_scale(&others);
        let mine: Vec<&LosoRecord> = records.iter().filter(|r| &r.scene == scene).collect();
        for (z, r) in scaled_z.iter_mut().zip(records).filter(|(_, r)| &r.scene == scene) {
            *z = (r.true_log_gsd - r.mu).abs() / (s * r.sigma_raw);
        }
        per_scene.push((
            scene.clone(),
            mine.len(),
            median(mine.iter().map(|r| (r.true_log_gsd - r.mu).abs()).collect()),
        ));
    }
    let all: Vec<&LosoRecord> = records.iter().collect();
    let abs: Vec<f64> = records.iter().map(|r| (r.true_log_gsd - r.mu).abs()).collect();
    let frac = |k: f64| scaled_z.iter().filter(|z| **z <= k).count() as f64 / scaled_z.len().max(1) as f64;
    let truths: Vec<f64> = records.iter().map(|r| r.true_log_gsd).collect();
    let (best_constant, best_err) = best_constant(&truths);
    let mut decades: Vec<i32> = truths.iter().map(|t| t.floor() as i32).collect();
    decades.sort_unstable();
    decades.dedup();
    let per_decade = decades
        .iter()
        .map(|&d| {
            let idx: Vec<usize> = (0..records.len()).filter(|&i| truths[i].floor() as i32 == d).collect();
            let mut scenes_in: Vec<&str> = idx.iter().map(|&i| records[i].scene.as_str()).collect();
            scenes_in.sort_unstable();
            scenes_in.dedup();
            let within = |k: f64| idx.iter().filter(|&&i| scaled_z[i] <= k).count() as f64 / idx.len() as f64;
            DecadeRow {
                decade: d,
                crops: idx.len(),
                scenes: scenes_in.len(),
                median_abs_log_error: median(idx.iter().map(|&i| abs[i]).collect()),
                median_abs_log_error_constant: median(
                    idx.iter().map(|&i| (records[i].constant - truths[i]).abs()).collect(),
                ),
                coverage_1sigma: within(1.0),
                coverage_2sigma: within(2.0),
            }
        })
        .collect();
    let reliability =
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95].iter().map(|&p| (p, frac(central_k(p)))).collect();
    LosoSummary {
        crops: records.len(),
        scenes: scenes.len(),
        median_abs_log_error: median(abs.clone()),
        mean_abs_log_error: abs.iter().sum::<f64>() / abs.len().max(1) as f64,
        coverage_1sigma: frac(1.0),
        coverage_2sigma: frac(2.0),
        coverage_1sigma_raw: coverage(&all, 1.0, 1.0),
        coverage_2sigma_raw: coverage(&all, 1.0, 2.0),
        sigma_scale: fit_sigma_scale(&all),
        reliability,
        per_scene,
        median_abs_log_error_constant: median(records.iter().map(|r| (r.constant - r.true_log_gsd).abs()).collect()),
        best_constant,
        median_abs_log_error_best_constant: best_err,
        per_decade,
        within_image_slope: within_image_slope(records),
    }
}

/// See [`LosoSummary::within_image_slope`]; images whose crops span less than 0.25 decades are skipped.
fn within_image_slope(records: &[LosoRecord]) -> f64 {
    let mut names: Vec<&str> = records.iter().map(|r| r.image.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let slopes = names
        .iter()
        .filter_map(|name| {
            let mine: Vec<&LosoRecord> = records.iter().filter(|r| r.image == *name).collect();
            let n = mine.len() as f64;
            let mx = mine.iter().map(|r| r.true_log_gsd).sum::<f64>() / n;
            let my = mine.iter().map(|r| r.mu).sum::<f64>() / n;
            let sxx: f64 = mine.iter().map(|r| (r.true_log_gsd - mx).powi(2)).sum();
            let sxy: f64 = mine.iter().map(|r| (r.true_log_gsd - mx) * (r.mu - my)).sum();
            let span = mine.iter().map(|r| r.true_log_gsd).fold(f64::NEG_INFINITY, f64::max)
                - mine.iter().map(|r| r.true_log_gsd).fold(f64::INFINITY, f64::min);
            (span >= 0.25 && sxx > 0.0).then(|| sxy / sxx)
        })
        .collect();
    median(slopes)
}

/// The constant (on a 0.01-decade grid over the range of `truths`) with the lowest median |error|.
fn best_constant(truths: &[f64]) -> (f64, f64) {
    let lo = truths.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = truths.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return (f64::NAN, f64::NAN);
    }
    let steps = ((hi - lo) / 0.01).ceil() as usize;
    (0..=steps)
        .map(|k| {
            let c = lo + k as f64 * 0.01;
            (c, median(truths.iter().map(|t| (t - c).abs()).collect()))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((f64::NAN, f64::NAN))
}

/// A reliability diagram (nominal vs observed central-interval coverage) as a small SVG.
pub fn reliability_svg(points: &[(f64, f64)], title: &str) -> String {
    let (w, h, m) = (320.0, 320.0, 40.0);
    let x = |p: f64| m + p * (w - 2.0 * m);
    let y = |p: f64| h - m - p * (h - 2.0 * m);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{m}\" y=\"20\">{title}</text>\n\
         <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n",
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0)
    );
    s += &format!(
        "<rect x=\"{m}\" y=\"{m}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n",
        w - 2.0 * m,
        h - 2.0 * m
    );
    let path: Vec<String> = points.iter().map(|&(p, o)| format!("{:.1},{:.1}", x(p), y(o))).collect();
    s += &format!("<polyline points=\"{}\" fill=\"none\" stroke=\"#c33\" stroke-width=\"2\"/>\n", path.join(" "));
    for &(p, o) in points {
        s += &format!("<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#c33\"/>\n", x(p), y(o));
    }
    for t in [0.0, 0.5, 1.0] {
        s += &format!("<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t}</text>\n", x(t), h - m + 15.0);
        s += &format!("<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{t}</text>\n", m - 5.0, y(t) + 4.0);
    }
    s += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">nominal coverage of the central interval</text>\n",
        w / 2.0,
        h - 8.0
    );
    s += &format!(
        "<text x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">observed</text>\n</svg>\n",
        h / 2.0,
        h / 2.0
    );
    s
}

/// Save `model.json` atomically into `dir`.
pub fn save(model: &GsdModel, dir: &Path) -> Result<(), GsdTrainError> {
    std::fs::create_dir_all(dir).map_err(|source| GsdTrainError::Io { what: "create", path: dir.into(), source })?;
    write_json(&dir.join("model.json"), &model.saved())
}

/// A model from a fitted forest and its calibrated sigma.
pub fn model(forest: Forest, side: usize, sigma: f64) -> Result<GsdModel, GsdTrainError> {
    let config = GsdConfig { input: side, sigma, ..GsdConfig::default() };
    GsdModel::new(config, forest).map_err(|e| GsdTrainError::Invalid(e.to_string()))
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), GsdTrainError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| GsdTrainError::Invalid(e.to_string()))?;
    atomic::write(path, bytes).map_err(|source| GsdTrainError::Io { what: "write", path: path.into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(scene: &str, err: f64, sigma: f64) -> LosoRecord {
        LosoRecord {
            scene: scene.into(),
            image: scene.into(),
            true_log_gsd: err,
            mu: 0.0,
            sigma_raw: sigma,
            constant: 0.0,
        }
    }

    #[test]
    fn normal_quantiles() {
        assert!((central_k(0.6827) - 1.0).abs() < 1e-3);
        assert!((central_k(0.9545) - 2.0).abs() < 2e-3);
        assert!((erf(1.0) - 0.842_700_79).abs() < 1e-6);
    }

    #[test]
    fn sigma_scale_restores_coverage() {
        // Errors drawn from N(0, 0.3^2) with a stated sigma of 0.1: the scale must come out near 3.
        let mut rng = Rng::new(5);
        let records: Vec<LosoRecord> =
            (0..2000).map(|i| rec(["a", "b", "c", "d"][i % 4], 0.3 * rng.normal(), 0.1)).collect();
        let all: Vec<&LosoRecord> = records.iter().collect();
        let s = fit_sigma_scale(&all);
        assert!((s - 3.0).abs() < 0.25, "scale {s}");
        let sum = summarize(&records);
        assert!((sum.coverage_1sigma - 0.683).abs() < 0.04, "{sum:?}");
        assert!((sum.coverage_2sigma - 0.954).abs() < 0.03, "{sum:?}");
        assert!(sum.coverage_1sigma_raw < 0.35);
        assert!((sum.median_abs_log_error - 0.3 * 0.6745).abs() < 0.02);
        // An estimate that ignores the GSD within an image has slope 0; one that follows half of it 0.5.
        let image = |name: &str, k: f64| -> Vec<LosoRecord> {
            (0..4)
                .map(|j| LosoRecord {
                    image: name.into(),
                    true_log_gsd: 0.3 * j as f64,
                    mu: 1.0 + k * 0.3 * j as f64,
                    ..rec("s", 0.0, 1.0)
                })
                .collect()
        };
        let flat = [image("a", 0.0), image("b", 0.0), image("c", 0.5)].concat();
        assert!(within_image_slope(&flat).abs() < 1e-12);
        assert!((within_image_slope(&[image("a", 0.5), image("b", 0.5)].concat()) - 0.5).abs() < 1e-12);
    }
}
