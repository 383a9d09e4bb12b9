//! Crops for the GSD estimator: a luminance plane per image, a 2x area pyramid, anti-aliased area
//! resampling to any coarser ground sampling distance, the degradations a real sensor and a real
//! render add (blur standing for the MTF, noise, 8-bit stretch, JPEG), and the per-crop
//! standardization the network sees. Pure Rust (no candle); any thread.

use crate::sim::rng::Rng;
use crate::types::Raster;

/// A single-channel image; NaN marks no data.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Plane {
        assert_eq!(data.len(), width * height, "plane data must be width * height");
        Plane { width, height, data }
    }

    /// The luminance of a raster: Rec. 601 weights over the first three bands of a colour image, the
    /// mean of the bands otherwise; no-data pixels (masked or non-finite in any band used) are NaN.
    pub fn luminance(raster: &Raster) -> Plane {
        Self::luminance_window(raster, 0, 0, raster.width, raster.height)
    }

    /// [`Plane::luminance`] of the `w` x `h` window at (`x0`, `y0`) (inside the raster), without
    /// the plane of the whole image.
    pub fn luminance_window(raster: &Raster, x0: usize, y0: usize, w: usize, h: usize) -> Plane {
        let bands = &raster.bands;
        let weights: Vec<f32> = match bands.len() {
            3 | 4 => vec![0.299, 0.587, 0.114],
            k => vec![1.0 / k.max(1) as f32; k],
        };
        let mut data = Vec::with_capacity(w * h);
        for y in y0..y0 + h {
            for i in y * raster.width + x0..y * raster.width + x0 + w {
                let masked = raster.valid.as_ref().is_some_and(|m| !m[i]);
                let s: f32 = weights.iter().zip(bands).map(|(w, b)| w * b[i]).sum();
                data.push(if masked || !s.is_finite() { f32::NAN } else { s });
            }
        }
        Plane::new(w, h, data)
    }

    /// The two opponent-colour planes of a colour raster (3 or 4 bands, the first three taken as red,
    /// green, blue): red - green and (red + green) / 2 - blue, NaN where masked; None for other rasters.
    /// Area resampling is linear, so a crop of these is the opponent colour of the crop.
    pub fn chroma(raster: &Raster) -> Option<(Plane, Plane)> {
        Self::chroma_window(raster, 0, 0, raster.width, raster.height)
    }

    /// [`Plane::chroma`] of the `w` x `h` window at (`x0`, `y0`) (inside the raster).
    pub fn chroma_window(raster: &Raster, x0: usize, y0: usize, w: usize, h: usize) -> Option<(Plane, Plane)> {
        if !matches!(raster.bands.len(), 3 | 4) {
            return None;
        }
        let (r, g, b) = (&raster.bands[0], &raster.bands[1], &raster.bands[2]);
        let (mut rg, mut yb) = (Vec::with_capacity(w * h), Vec::with_capacity(w * h));
        for y in y0..y0 + h {
            for i in y * raster.width + x0..y * raster.width + x0 + w {
                let masked = raster.valid.as_ref().is_some_and(|m| !m[i]);
                let ok = !masked && r[i].is_finite() && g[i].is_finite() && b[i].is_finite();
                rg.push(if ok { r[i] - g[i] } else { f32::NAN });
                yb.push(if ok { 0.5 * (r[i] + g[i]) - b[i] } else { f32::NAN });
            }
        }
        Some((Plane::new(w, h, rg), Plane::new(w, h, yb)))
    }

    /// Half the size by 2x2 means of the valid samples (NaN where all four are missing).
    pub fn halve(&self) -> Plane {
        let (w, h) = (self.width / 2, self.height / 2);
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0f32;
                let mut count = 0u32;
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let v = self.data[(2 * y + dy) * self.width + 2 * x + dx];
                    if v.is_finite() {
                        sum += v;
                        count += 1;
                    }
                }
                data.push(if count == 0 { f32::NAN } else { sum / count as f32 });
            }
        }
        Plane::new(w, h, data)
    }

    /// Share of samples that hold data.
    pub fn valid_share(&self) -> f64 {
        if self.data.is_empty() {
            return 0.0;
        }
        self.data.iter().filter(|v| v.is_finite()).count() as f64 / self.data.len() as f64
    }
}

/// An image at its native GSD and its 2x area pyramid (level k is 2^k times coarser).
#[derive(Debug, Clone)]
pub struct Pyramid {
    pub levels: Vec<Plane>,
}

impl Pyramid {
    /// Levels down to the first one smaller than `min_side` a side.
    pub fn new(base: Plane, min_side: usize) -> Pyramid {
        let mut levels = vec![base];
        loop {
            let last = &levels[levels.len() - 1];
            if last.width / 2 < min_side || last.height / 2 < min_side {
                break;
            }
            let next = last.halve();
            levels.push(next);
        }
        Pyramid { levels }
    }

    /// The largest downsampling factor (relative to native) at which a `side` x `side` crop fits.
    pub fn max_factor(&self, side: usize) -> f64 {
        let base = &self.levels[0];
        base.width.min(base.height) as f64 / side as f64
    }

    /// A `side` x `side` crop at `factor` times the native GSD (>= 1), its top-left corner at
    /// fractions (`fx`, `fy`) of the free room, resampled by exact area integration from the pyramid
    /// level just finer than the factor (so every output sample averages all the ground it covers).
    /// None when the crop does not fit.
    pub fn crop(&self, factor: f64, side: usize, fx: f64, fy: f64) -> Option<Plane> {
        if factor.is_nan() || factor < 1.0 || factor > self.max_factor(side) + 1e-9 {
            return None;
        }
        let mut level = (factor.log2().floor().max(0.0) as usize).min(self.levels.len() - 1);
        // The window must fit in the level's (truncated) size; step down a level when it does not.
        loop {
            let plane = &self.levels[level];
            let r = factor / (1u64 << level) as f64;
            let span = side as f64 * r;
            if span <= plane.width as f64 && span <= plane.height as f64 {
                let x0 = fx.clamp(0.0, 1.0) * (plane.width as f64 - span);
                let y0 = fy.clamp(0.0, 1.0) * (plane.height as f64 - span);
                return Some(area_resample(plane, x0, y0, r, side));
            }
            if level == 0 {
                return None;
            }
            level -= 1;
        }
    }
}

/// Weights of the source samples one output sample covers: [start, start + step) in source
/// coordinates, as (index, overlap) pairs.
fn spans(start: f64, step: f64, n: usize, limit: usize) -> Vec<Vec<(usize, f32)>> {
    (0..n)
        .map(|j| {
            let a = start + j as f64 * step;
            let b = a + step;
            let mut out = Vec::new();
            let mut i = a.floor() as usize;
            while (i as f64) < b && i < limit {
                let overlap = (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0);
                if overlap > 1e-9 {
                    out.push((i, overlap as f32));
                }
                i += 1;
            }
            out
        })
        .collect()
}

/// `side` x `side` samples, each the mean of the `r` x `r` source area it covers (NaN sources skipped).
fn area_resample(plane: &Plane, x0: f64, y0: f64, r: f64, side: usize) -> Plane {
    let cols = spans(x0, r, side, plane.width);
    let rows = spans(y0, r, side, plane.height);
    let mut data = Vec::with_capacity(side * side);
    for row in &rows {
        for col in &cols {
            let (mut sum, mut weight) = (0f32, 0f32);
            for &(y, wy) in row {
                let line = &plane.data[y * plane.width..(y + 1) * plane.width];
                for &(x, wx) in col {
                    let v = line[x];
                    if v.is_finite() {
                        sum += v * wx * wy;
                        weight += wx * wy;
                    }
                }
            }
            data.push(if weight > 0.0 { sum / weight } else { f32::NAN });
        }
    }
    Plane::new(side, side, data)
}

/// Separable Gaussian blur (edges clamped): the sensor's modulation transfer stand-in.
pub fn gaussian_blur(p: &Plane, sigma: f64) -> Plane {
    if sigma < 0.05 {
        return p.clone();
    }
    let radius = (3.0 * sigma).ceil() as i64;
    let kernel: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32).collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let (w, h) = (p.width as i64, p.height as i64);
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0f32; src.len()];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0f32;
                for (k, kv) in kernel.iter().enumerate() {
                    let d = k as i64 - radius;
                    let (sx, sy) = if horizontal { ((x + d).clamp(0, w - 1), y) } else { (x, (y + d).clamp(0, h - 1)) };
                    acc += kv * src[(sy * w + sx) as usize];
                }
                out[(y * w + x) as usize] = acc;
            }
        }
        out
    };
    let data = pass(&pass(&p.data, true), false);
    Plane::new(p.width, p.height, data)
}

/// Value at quantile `q` (0-1) of the finite samples (`stats::quantile`'s convention).
pub fn quantile(values: &[f32], q: f64) -> Option<f32> {
    crate::stats::quantile::of_finite(values, q)
}

/// An 8-bit render as a viewer or an exporter makes it: a linear stretch between two percentiles,
/// an optional gamma, clipping and rounding to 0-255.
pub fn render_8bit(p: &Plane, lo_q: f64, hi_q: f64, gamma: f64) -> Plane {
    let lo = quantile(&p.data, lo_q).unwrap_or(0.0);
    let hi = quantile(&p.data, hi_q).unwrap_or(1.0);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let data = p
        .data
        .iter()
        .map(|&v| {
            let t = ((v - lo) / span).clamp(0.0, 1.0) as f64;
            (255.0 * t.powf(gamma)).round() as f32
        })
        .collect();
    Plane::new(p.width, p.height, data)
}

/// Round trip through a JPEG of the given quality (1-100) as 8-bit grey; values must be 0-255.
pub fn jpeg_round_trip(p: &Plane, quality: u8) -> Plane {
    let bytes: Vec<u8> = p.data.iter().map(|v| v.clamp(0.0, 255.0).round() as u8).collect();
    let mut encoded = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, quality.clamp(1, 100));
    let ok = image::ImageEncoder::write_image(
        encoder,
        &bytes,
        p.width as u32,
        p.height as u32,
        image::ExtendedColorType::L8,
    )
    .is_ok();
    let decoded = ok.then(|| image::load_from_memory_with_format(&encoded, image::ImageFormat::Jpeg).ok()).flatten();
    match decoded {
        Some(img) => {
            let grey = img.to_luma8();
            Plane::new(p.width, p.height, grey.as_raw().iter().map(|&b| b as f32).collect())
        }
        // Encoding an in-memory 8-bit grey image cannot fail for a valid size; keep the input if it does.
        None => p.clone(),
    }
}

/// Why a crop is not shown to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// More than 2 % of the crop has no data.
    NoData,
    /// No texture: the crop is (nearly) constant, so it says nothing about scale.
    Flat,
}

/// What the network sees: the crop minus its mean over its standard deviation, clipped to +-5,
/// no-data samples filled with the mean first. A crop with more than 2 % no data or no texture is
/// rejected.
pub fn standardize(p: &Plane) -> Result<Vec<f32>, Reject> {
    if p.valid_share() < 0.98 {
        return Err(Reject::NoData);
    }
    let finite: Vec<f64> = p.data.iter().filter(|v| v.is_finite()).map(|&v| v as f64).collect();
    let n = finite.len() as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let var = finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let sd = var.sqrt();
    let scale = mean.abs().max(sd).max(f64::MIN_POSITIVE);
    if sd.is_nan() || sd <= 1e-4 * scale || !sd.is_finite() {
        return Err(Reject::Flat);
    }
    Ok(p.data
        .iter()
        .map(|&v| if v.is_finite() { (((v as f64 - mean) / sd) as f32).clamp(-5.0, 5.0) } else { 0.0 })
        .collect())
}

/// Random flips and transposes (the scale does not depend on orientation).
pub fn symmetry(p: &Plane, k: u8) -> Plane {
    let n = p.width;
    debug_assert_eq!(p.width, p.height);
    let mut data = vec![0f32; n * n];
    for y in 0..n {
        for x in 0..n {
            let (mut sx, mut sy) = (x, y);
            if k & 1 != 0 {
                sx = n - 1 - sx;
            }
            if k & 2 != 0 {
                sy = n - 1 - sy;
            }
            if k & 4 != 0 {
                std::mem::swap(&mut sx, &mut sy);
            }
            data[y * n + x] = p.data[sy * n + sx];
        }
    }
    Plane::new(n, n, data)
}

/// How a training crop is degraded (drawn at random per crop).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Degradation {
    /// Gaussian blur sigma in output pixels (0 = none).
    pub blur: f64,
    /// Additive Gaussian noise, as a share of the crop's standard deviation.
    pub noise: f64,
    /// 8-bit render: (low percentile, high percentile, gamma); None keeps raw values.
    pub render: Option<(f64, f64, f64)>,
    /// JPEG quality after the render (only with a render).
    pub jpeg: Option<u8>,
    /// Flip/transpose code (0-7).
    pub symmetry: u8,
}

impl Degradation {
    /// None: the crop as resampled, rendered to 8 bits with a 1-99 % stretch (how scores are taken).
    pub const EVAL: Degradation =
        Degradation { blur: 0.0, noise: 0.0, render: Some((0.01, 0.99, 1.0)), jpeg: None, symmetry: 0 };

    pub fn random(rng: &mut Rng) -> Degradation {
        let blur = if rng.chance(0.7) { rng.range(0.2, 1.2) } else { 0.0 };
        let noise = if rng.chance(0.5) { rng.range(0.0, 0.08) } else { 0.0 };
        let render = rng.chance(0.7).then(|| {
            let gamma = if rng.chance(0.3) { rng.range(0.6, 1.6) } else { 1.0 };
            (rng.range(0.0, 0.03), rng.range(0.97, 1.0), gamma)
        });
        let jpeg = (render.is_some() && rng.chance(0.5)).then(|| rng.int_in(35, 95) as u8);
        Degradation { blur, noise, render, jpeg, symmetry: rng.below(8) as u8 }
    }

    /// Apply to a resampled crop; `rng` draws the noise.
    pub fn apply(&self, crop: &Plane, rng: &mut Rng) -> Plane {
        let mut p = gaussian_blur(crop, self.blur);
        if self.noise > 0.0 {
            let finite: Vec<f32> = p.data.iter().copied().filter(|v| v.is_finite()).collect();
            let n = finite.len().max(1) as f64;
            let mean = finite.iter().map(|&v| v as f64).sum::<f64>() / n;
            let sd = (finite.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
            for v in &mut p.data {
                *v += (rng.normal() * self.noise * sd) as f32;
            }
        }
        if let Some((lo, hi, gamma)) = self.render {
            p = render_8bit(&p, lo, hi, gamma);
            if let Some(q) = self.jpeg {
                p = jpeg_round_trip(&p, q);
            }
        }
        symmetry(&p, self.symmetry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Plane {
        Plane::new(w, h, (0..w * h).map(|i| (i % w) as f32).collect())
    }

    #[test]
    fn area_resampling_averages_the_ground_it_covers() {
        // A checkerboard of 1-pixel squares averages to exactly 0.5 at factor 2, 4 and 2.5 (where
        // each output covers 6.25 source pixels, fractionally).
        let n = 80;
        let board = Plane::new(n, n, (0..n * n).map(|i| ((i % n + i / n) % 2) as f32).collect());
        let pyr = Pyramid::new(board, 8);
        for f in [2.0, 4.0] {
            let c = pyr.crop(f, 16, 0.0, 0.0).expect("fits");
            assert!(c.data.iter().all(|v| (v - 0.5).abs() < 1e-5), "factor {f}: {:?}", &c.data[..4]);
        }
        let c = pyr.crop(2.5, 16, 0.0, 0.0).expect("fits");
        assert!(c.data.iter().all(|v| (v - 0.5).abs() < 0.07), "{:?}", &c.data[..4]);
        // A ramp keeps its slope: factor 3 -> outputs 3 apart on average (integrating the 2x level
        // shifts single samples by at most half a level pixel, not the slope).
        let c = Pyramid::new(ramp(96, 96), 8).crop(3.0, 16, 0.0, 0.0).expect("fits");
        assert!(((c.data[15] - c.data[0]) / 15.0 - 3.0).abs() < 0.05, "{} {}", c.data[0], c.data[15]);
        assert!((c.data[0] - 1.0).abs() < 0.25, "{}", c.data[0]);
        // At factor 1 the crop is the image itself.
        let c = Pyramid::new(ramp(96, 96), 8).crop(1.0, 16, 0.0, 0.0).expect("fits");
        assert_eq!(&c.data[..3], &[0.0, 1.0, 2.0]);
    }

    #[test]
    fn crops_that_do_not_fit_are_refused() {
        let pyr = Pyramid::new(ramp(100, 60), 8);
        assert!((pyr.max_factor(20) - 3.0).abs() < 1e-12);
        assert!(pyr.crop(3.0, 20, 1.0, 1.0).is_some());
        assert!(pyr.crop(3.1, 20, 0.5, 0.5).is_none());
        assert!(pyr.crop(0.5, 20, 0.5, 0.5).is_none());
        assert!(pyr.crop(f64::NAN, 20, 0.5, 0.5).is_none());
    }

    #[test]
    fn no_data_and_flat_crops_are_rejected() {
        let mut p = ramp(10, 10);
        assert!(standardize(&p).is_ok());
        p.data[0] = f32::NAN;
        p.data[1] = f32::NAN;
        p.data[2] = f32::NAN;
        assert_eq!(standardize(&p), Err(Reject::NoData));
        let flat = Plane::new(10, 10, vec![7.0; 100]);
        assert_eq!(standardize(&flat), Err(Reject::Flat));
        let s = standardize(&ramp(10, 10)).expect("texture");
        let mean: f32 = s.iter().sum::<f32>() / 100.0;
        assert!(mean.abs() < 1e-5);
    }

    #[test]
    fn renders_are_8_bit_and_jpeg_keeps_the_picture() {
        let p = Plane::new(32, 32, (0..1024).map(|i| ((i % 32) as f32 * 0.3).sin() * 1000.0).collect());
        let r = render_8bit(&p, 0.01, 0.99, 1.0);
        assert!(r.data.iter().all(|v| *v >= 0.0 && *v <= 255.0 && v.fract() == 0.0));
        let j = jpeg_round_trip(&r, 90);
        let err: f32 = r.data.iter().zip(&j.data).map(|(a, b)| (a - b).abs()).sum::<f32>() / 1024.0;
        assert!(err < 6.0, "mean abs JPEG error {err}");
        assert!(err > 0.0, "JPEG must change something");
    }

    #[test]
    fn symmetries_are_permutations() {
        let p = ramp(8, 8);
        for k in 0..8 {
            let mut a = symmetry(&p, k).data;
            let mut b = p.data.clone();
            a.sort_by(f32::total_cmp);
            b.sort_by(f32::total_cmp);
            assert_eq!(a, b);
        }
        assert_eq!(symmetry(&p, 4).data[1], p.data[8]);
    }
}
