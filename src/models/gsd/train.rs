//! Training the GSD estimator on crops drawn on the fly (scale augmentation from each image's native
//! GSD plus degradation), leave-one-scene-out scoring, and the sigma calibration. Runs on the caller's
//! thread (the CLI's), reporting progress through a callback that can cancel.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::crops::{Degradation, standardize};
use super::data::{GSD_RANGE_M, SourceImage};
use super::net::{GsdConfig, GsdNet, nll_loss};
use crate::io::atomic;
use crate::models::optim::{AdamParams, AdamW};
use crate::sim::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Weight of the extra squared error on mu (see [`nll_loss`]).
    pub mse_weight: f64,
    /// Share of crops taken at the image's native GSD (the rest are downsampled).
    pub native_share: f64,
    /// Draw the downsampled crops' GSD uniformly in log over the whole range first (then a scene that
    /// allows it), so coarse and fine scales weigh the same; otherwise scene first, then GSD.
    #[serde(default)]
    pub balance: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            steps: 1500,
            batch: 32,
            lr: 3e-3,
            weight_decay: 1e-4,
            seed: 0,
            mse_weight: 0.1,
            native_share: 0.2,
            balance: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GsdTrainError {
    #[error("model error: {0}")]
    Model(#[from] candle_core::Error),
    #[error("cannot {what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("cancelled")]
    Cancelled,
}

/// A crop ready for the network with its truth.
#[derive(Debug, Clone)]
pub struct Crop {
    pub pixels: Vec<f32>,
    /// log10 of the crop's GSD in metres.
    pub log_gsd: f64,
    pub image: usize,
}

/// The range of log10 GSD a `side`-pixel crop of `img` can be made at (native up to where the
/// crop still fits, within [`GSD_RANGE_M`]).
pub fn log_range(img: &SourceImage, side: usize) -> (f64, f64) {
    let lo = img.log_gsd();
    let hi = (lo + img.pyramid.max_factor(side).log10() - 1e-6).min(GSD_RANGE_M.1.log10());
    (lo, hi.max(lo))
}

/// One crop of `img` at `log_gsd` (clamped to what the image allows), degraded, standardized; a few
/// positions are tried before giving up on flat or no-data ground.
pub fn make_crop(img: &SourceImage, log_gsd: f64, side: usize, deg: &Degradation, rng: &mut Rng) -> Option<Vec<f32>> {
    let (lo, hi) = log_range(img, side);
    let t = log_gsd.clamp(lo, hi);
    let factor = 10f64.powf(t - lo).max(1.0);
    for _ in 0..24 {
        let raw = img.pyramid.crop(factor, side, rng.uniform(), rng.uniform())?;
        if standardize(&raw).is_err() {
            continue;
        }
        if let Ok(px) = standardize(&deg.apply(&raw, rng)) {
            return Some(px);
        }
    }
    None
}

/// Draws training crops from a fixed set of images: the scene groups and each image's log-GSD range are
/// worked out once, not per crop.
struct Sampler<'a> {
    images: &'a [&'a SourceImage],
    /// Image indices per scene, scenes in first-seen order.
    groups: Vec<Vec<usize>>,
    /// Each image's (lowest, highest) log10 GSD for the crop side.
    ranges: Vec<(f64, f64)>,
    lowest: f64,
    highest: f64,
}

impl<'a> Sampler<'a> {
    fn new(images: &'a [&'a SourceImage], side: usize) -> Self {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for (i, img) in images.iter().enumerate() {
            match names.iter().position(|n| *n == img.scene) {
                Some(g) => groups[g].push(i),
                None => {
                    names.push(&img.scene);
                    groups.push(vec![i]);
                }
            }
        }
        let ranges: Vec<(f64, f64)> = images.iter().map(|img| log_range(img, side)).collect();
        let lowest = ranges.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
        let highest = ranges.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
        Sampler { images, groups, ranges, lowest, highest }
    }

    /// A random training crop: at the native GSD (`native_share` of the time, scene then image), else
    /// with `balance` the GSD first and then a scene and image that allow it, without it scene, image,
    /// then GSD (so scenes with several images are not favoured either way).
    fn crop(&self, opts: &TrainOptions, side: usize, rng: &mut Rng) -> Crop {
        let (groups, ranges) = (&self.groups, &self.ranges);
        loop {
            let native = rng.chance(opts.native_share);
            let (i, t) = if native || !opts.balance {
                let members = &groups[rng.below(groups.len())];
                let i = members[rng.below(members.len())];
                let (lo, hi) = ranges[i];
                (i, if native { lo } else { rng.range(lo, hi) })
            } else {
                let t = rng.range(self.lowest, self.highest);
                let allows = |i: usize| ranges[i].0 <= t && t <= ranges[i].1;
                let able: Vec<&Vec<usize>> = groups.iter().filter(|g| g.iter().any(|&i| allows(i))).collect();
                let Some(group) = rng.pick(&able) else { continue };
                let members: Vec<usize> = group.iter().copied().filter(|&i| allows(i)).collect();
                (members[rng.below(members.len())], t)
            };
            let deg = Degradation::random(rng);
            if let Some(pixels) = make_crop(self.images[i], t, side, &deg, rng) {
                return Crop { pixels, log_gsd: t, image: i };
            }
        }
    }
}

/// Progress of training.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub step: usize,
    pub steps: usize,
    pub loss: f32,
    pub eta_s: f64,
}

/// Train a fresh network on `images`; `progress` returns false to cancel.
pub fn train(
    images: &[&SourceImage],
    config: &GsdConfig,
    opts: &TrainOptions,
    device: &Device,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<(VarMap, GsdNet), GsdTrainError> {
    config.validate().map_err(GsdTrainError::Invalid)?;
    if images.is_empty() {
        return Err(GsdTrainError::Invalid("no training images".into()));
    }
    let vm = VarMap::new();
    let net = GsdNet::new(config, VarBuilder::from_varmap(&vm, DType::F32, device))?;
    let mut opt = AdamW::new(
        AdamW::named(&vm),
        AdamParams { lr: opts.lr, weight_decay: opts.weight_decay, ..AdamParams::default() },
    )?;
    let mut rng = Rng::new(opts.seed);
    let side = config.input;
    let warm = (opts.steps / 20).max(1);
    let start = Instant::now();
    let mut smoothed = None::<f32>;
    let sampler = Sampler::new(images, side);
    for step in 0..opts.steps {
        let lr = if step < warm {
            opts.lr * (step + 1) as f64 / warm as f64
        } else {
            let t = (step - warm) as f64 / (opts.steps - warm).max(1) as f64;
            opts.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        };
        opt.set_lr(lr);
        let crops: Vec<Crop> = (0..opts.batch).map(|_| sampler.crop(opts, side, &mut rng)).collect();
        let (x, y) = batch(&crops, side, device)?;
        let out = net.forward_t(&x, true)?;
        let loss = nll_loss(&out, &y, opts.mse_weight)?;
        opt.backward_step(&loss)?;
        let l = loss.to_scalar::<f32>()?;
        let s = smoothed.map_or(l, |s| 0.95 * s + 0.05 * l);
        smoothed = Some(s);
        let per_step = start.elapsed().as_secs_f64() / (step + 1) as f64;
        let p =
            Progress { step: step + 1, steps: opts.steps, loss: s, eta_s: per_step * (opts.steps - step - 1) as f64 };
        if !progress(p) {
            return Err(GsdTrainError::Cancelled);
        }
    }
    Ok((vm, net))
}

fn batch(crops: &[Crop], side: usize, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let flat: Vec<f32> = crops.iter().flat_map(|c| c.pixels.iter().copied()).collect();
    let x = Tensor::from_vec(flat, (crops.len(), 1, side, side), device)?;
    let y = Tensor::from_vec(crops.iter().map(|c| c.log_gsd as f32).collect::<Vec<_>>(), crops.len(), device)?;
    Ok((x, y))
}

/// (mu, raw sigma) in log10 m for each crop, in batches of 64 (eval mode).
pub fn predict(net: &GsdNet, pixels: &[Vec<f32>], device: &Device) -> candle_core::Result<Vec<(f64, f64)>> {
    let side = net.config().input;
    let mut out = Vec::with_capacity(pixels.len());
    for chunk in pixels.chunks(64) {
        let flat: Vec<f32> = chunk.iter().flat_map(|p| p.iter().copied()).collect();
        let x = Tensor::from_vec(flat, (chunk.len(), 1, side, side), device)?;
        let y = net.forward_t(&x, false)?.to_vec2::<f32>()?;
        out.extend(y.iter().map(|r| (r[0] as f64, (0.5 * r[1] as f64).exp())));
    }
    Ok(out)
}

/// The fixed scoring crops of one scene: `per_scene` crops at evenly spaced GSDs across what its images
/// allow, rendered to 8 bits with a 1-99 % stretch, no added blur, noise or JPEG; seeded by `seed`.
pub fn eval_crops(images: &[SourceImage], scene: &str, per_scene: usize, side: usize, seed: u64) -> Vec<Crop> {
    let members: Vec<usize> = (0..images.len()).filter(|&i| images[i].scene == scene).collect();
    let mut rng = Rng::derive(seed, &[scene.len() as u64, scene.bytes().map(u64::from).sum()]);
    let mut out = Vec::new();
    for k in 0..per_scene {
        let i = members[k % members.len()];
        let (lo, hi) = log_range(&images[i], side);
        let t = lo + (hi - lo) * (k as f64 + 0.5) / per_scene as f64;
        if let Some(pixels) = make_crop(&images[i], t, side, &Degradation::EVAL, &mut rng) {
            out.push(Crop { pixels, log_gsd: t, image: i });
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
    /// The network's sigma before calibration (log10 units).
    pub sigma_raw: f64,
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
    let mut scaled_z = Vec::with_capacity(records.len());
    let mut per_scene = Vec::new();
    for scene in &scenes {
        let others: Vec<&LosoRecord> = records.iter().filter(|r| &r.scene != scene).collect();
        let s = fit_sigma_scale(&others);
        let mine: Vec<&LosoRecord> = records.iter().filter(|r| &r.scene == scene).collect();
        scaled_z.extend(mine.iter().map(|r| (r.true_log_gsd - r.mu).abs() / (s * r.sigma_raw)));
        per_scene.push((
            scene.clone(),
            mine.len(),
            median(mine.iter().map(|r| (r.true_log_gsd - r.mu).abs()).collect()),
        ));
    }
    let all: Vec<&LosoRecord> = records.iter().collect();
    let abs: Vec<f64> = records.iter().map(|r| (r.true_log_gsd - r.mu).abs()).collect();
    let frac = |k: f64| scaled_z.iter().filter(|z| **z <= k).count() as f64 / scaled_z.len().max(1) as f64;
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
    }
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

/// Save weights + config atomically into `dir`.
pub fn save(vm: &VarMap, config: &GsdConfig, dir: &Path) -> Result<(), GsdTrainError> {
    std::fs::create_dir_all(dir).map_err(|source| GsdTrainError::Io { what: "create", path: dir.into(), source })?;
    let dst = dir.join("model.safetensors");
    atomic::replace(&dst, |tmp| vm.save(tmp).map_err(std::io::Error::other)).map_err(|source| GsdTrainError::Io {
        what: "write",
        path: dst,
        source,
    })?;
    write_json(&dir.join("config.json"), config)
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), GsdTrainError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| GsdTrainError::Invalid(e.to_string()))?;
    atomic::write(path, bytes).map_err(|source| GsdTrainError::Io { what: "write", path: path.into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(scene: &str, err: f64, sigma: f64) -> LosoRecord {
        LosoRecord { scene: scene.into(), image: scene.into(), true_log_gsd: err, mu: 0.0, sigma_raw: sigma }
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
    }
}
