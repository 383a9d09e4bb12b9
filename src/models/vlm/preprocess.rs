//! Image preprocessing of the Qwen-VL processors, pixel for pixel: "smart resize" onto the patch grid
//! within min/max pixels, Pillow's bicubic resampling (a port of its two-pass fixed-point algorithm, so
//! the uint8 image is the one the reference's PIL backend makes), rescale and normalize, and patchify
//! into `[patches, C*T*P*P]` rows in block-major order with the image's grid. Settings come from the
//! folder's `preprocessor_config.json` (or the `image_processor` part of `processor_config.json`).
//! Pure functions; run on the model's thread.

use std::path::Path;

use image::RgbImage;
use serde_json::Value;

use super::VlmError;
use super::vision::Grid;

/// The processor settings that change pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct PreprocessConfig {
    pub min_pixels: usize,
    pub max_pixels: usize,
    pub patch_size: usize,
    pub temporal_patch_size: usize,
    pub merge_size: usize,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    pub rescale: f64,
    pub do_resize: bool,
    pub do_normalize: bool,
}

impl Default for PreprocessConfig {
    /// Qwen2-VL-7B-Instruct's published settings.
    fn default() -> Self {
        Self {
            min_pixels: 56 * 56,
            max_pixels: 28 * 28 * 1280,
            patch_size: 14,
            temporal_patch_size: 2,
            merge_size: 2,
            mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
            std: [0.268_629_54, 0.261_302_58, 0.275_777_11],
            rescale: 1.0 / 255.0,
            do_resize: true,
            do_normalize: true,
        }
    }
}

impl PreprocessConfig {
    /// Read `preprocessor_config.json`, else `processor_config.json`, else the defaults.
    pub fn from_dir(dir: &Path) -> Result<Self, VlmError> {
        for (file, section) in [("preprocessor_config.json", None), ("processor_config.json", Some("image_processor"))]
        {
            let path = dir.join(file);
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| VlmError::io(&path, e))?;
            let root: Value =
                serde_json::from_str(&text).map_err(|e| VlmError::file(&path, format!("is not valid JSON: {e}")))?;
            let obj = match section {
                Some(key) => match root.get(key) {
                    Some(v) => v.clone(),
                    None => continue,
                },
                None => root,
            };
            return Self::from_value(&obj).map_err(|reason| VlmError::file(&path, reason));
        }
        Ok(Self::default())
    }

    fn from_value(v: &Value) -> Result<Self, String> {
        let d = Self::default();
        let num = |key: &str| v.get(key).and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
        let size = v.get("size");
        let size_num =
            |key: &str| size.and_then(|s| s.get(key)).and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
        let triple = |key: &str, default: [f64; 3]| -> Result<[f64; 3], String> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Array(a)) if a.len() == 3 => {
                    let mut out = [0.0; 3];
                    for (o, x) in out.iter_mut().zip(a) {
                        *o = x.as_f64().ok_or(format!("\"{key}\" must hold three numbers"))?;
                    }
                    Ok(out)
                }
                Some(other) => Err(format!("\"{key}\" must hold three numbers, found {other}")),
            }
        };
        let cfg = Self {
            min_pixels: num("min_pixels").or_else(|| size_num("shortest_edge")).unwrap_or(d.min_pixels),
            max_pixels: num("max_pixels").or_else(|| size_num("longest_edge")).unwrap_or(d.max_pixels),
            patch_size: num("patch_size").unwrap_or(d.patch_size),
            temporal_patch_size: num("temporal_patch_size").unwrap_or(d.temporal_patch_size),
            merge_size: num("merge_size").unwrap_or(d.merge_size),
            mean: triple("image_mean", d.mean)?,
            std: triple("image_std", d.std)?,
            rescale: v.get("rescale_factor").and_then(Value::as_f64).unwrap_or(d.rescale),
            do_resize: v.get("do_resize").and_then(Value::as_bool).unwrap_or(true),
            do_normalize: v.get("do_normalize").and_then(Value::as_bool).unwrap_or(true),
        };
        if let Some(r) = v.get("resample").and_then(Value::as_u64)
            && r != 3
        {
            return Err(format!("asks for resample filter {r}; only bicubic (3), the Qwen-VL default, is implemented"));
        }
        if cfg.patch_size == 0 || cfg.merge_size == 0 || cfg.temporal_patch_size == 0 {
            return Err("patch_size, merge_size and temporal_patch_size must be at least 1".into());
        }
        if cfg.min_pixels > cfg.max_pixels {
            return Err(format!("min_pixels {} exceeds max_pixels {}", cfg.min_pixels, cfg.max_pixels));
        }
        if cfg.std.contains(&0.0) {
            return Err("image_std has a zero".into());
        }
        Ok(cfg)
    }

    /// Side of the square each merged token covers, in pixels.
    pub fn factor(&self) -> usize {
        self.patch_size * self.merge_size
    }
}

/// Height and width on the patch grid closest to the image's, within `[min_pixels, max_pixels]`
/// (the reference's `smart_resize`, including Python's round-half-to-even).
pub fn smart_resize(height: usize, width: usize, cfg: &PreprocessConfig) -> Result<(usize, usize), VlmError> {
    if height == 0 || width == 0 {
        return Err(VlmError::Image(format!("the image is empty ({width}x{height})")));
    }
    #[allow(clippy::cast_precision_loss)]
    let (h, w, f) = (height as f64, width as f64, cfg.factor() as f64);
    if h.max(w) / h.min(w) > 200.0 {
        return Err(VlmError::Image(format!(
            "the image is {width}x{height}: an aspect ratio over 200 cannot be put on the patch grid"
        )));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let to = |x: f64| x as usize;
    let factor = cfg.factor();
    let mut hb = to((h / f).round_ties_even()) * factor;
    let mut wb = to((w / f).round_ties_even()) * factor;
    #[allow(clippy::cast_precision_loss)]
    if hb * wb > cfg.max_pixels {
        let beta = (h * w / cfg.max_pixels as f64).sqrt();
        hb = factor.max(to((h / beta / f).floor()) * factor);
        wb = factor.max(to((w / beta / f).floor()) * factor);
    } else if hb * wb < cfg.min_pixels {
        let beta = (cfg.min_pixels as f64 / (h * w)).sqrt();
        hb = to((h * beta / f).ceil()) * factor;
        wb = to((w * beta / f).ceil()) * factor;
    }
    Ok((hb.max(factor), wb.max(factor)))
}

/// One image ready for the vision tower.
#[derive(Clone, Debug)]
pub struct Pixels {
    /// `[patches * C*T*P*P]`, row-major.
    pub values: Vec<f32>,
    pub grid: Grid,
    pub row_len: usize,
}

/// Resize, normalize and patchify an RGB image.
pub fn preprocess(image: &RgbImage, cfg: &PreprocessConfig) -> Result<Pixels, VlmError> {
    let (w0, h0) = (image.width() as usize, image.height() as usize);
    let (h, w) = if cfg.do_resize { smart_resize(h0, w0, cfg)? } else { (h0, w0) };
    if h % cfg.factor() != 0 || w % cfg.factor() != 0 {
        return Err(VlmError::Image(format!(
            "{w0}x{h0} is not a multiple of {} and the processor does not resize",
            cfg.factor()
        )));
    }
    let resized;
    let img = if (h, w) == (h0, w0) {
        image
    } else {
        resized = resize_bicubic(image, w, h);
        &resized
    };
    let (p, t, m) = (cfg.patch_size, cfg.temporal_patch_size, cfg.merge_size);
    let (gh, gw) = (h / p, w / p);
    let row_len = 3 * t * p * p;
    let mut values = Vec::with_capacity(gh * gw * row_len);
    let mut lut = [[0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        for (v, slot) in table.iter_mut().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let x = v as f64 * cfg.rescale;
            #[allow(clippy::cast_possible_truncation)]
            {
                *slot = if cfg.do_normalize { ((x - cfg.mean[c]) / cfg.std[c]) as f32 } else { x as f32 };
            }
        }
    }
    let raw = img.as_raw();
    for (row, col) in super::vision::block_major_positions(gh, gw, m) {
        for (c, table) in lut.iter().enumerate() {
            for _ in 0..t {
                for y in 0..p {
                    let base = ((row * p + y) * w + col * p) * 3 + c;
                    values.extend((0..p).map(|x| table[raw[base + 3 * x] as usize]));
                }
            }
        }
    }
    Ok(Pixels { values, grid: Grid { t: 1, h: gh, w: gw }, row_len })
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output pixel: first input index and fixed-point weights (Pillow's `precompute_coeffs` and
/// `normalize_coeffs_8bpc`).
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    #[allow(clippy::cast_precision_loss)]
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    (0..out_size)
        .map(|xx| {
            #[allow(clippy::cast_precision_loss)]
            let center = (xx as f64 + 0.5) * scale;
            // C's (int) cast truncates toward zero.
            #[allow(clippy::cast_possible_truncation)]
            let xmin = ((center - support + 0.5) as i64).max(0);
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) - xmin;
            #[allow(clippy::cast_precision_loss)]
            // Pillow multiplies by the reciprocal (the last bit matters for exactness).
            let ss = 1.0 / filter_scale;
            #[allow(clippy::cast_precision_loss)]
            let weights: Vec<f64> =
                (0..xmax.max(0)).map(|x| bicubic(((x + xmin) as f64 - center + 0.5) * ss)).collect();
            let total: f64 = weights.iter().sum();
            let fixed = weights
                .iter()
                .map(|w| {
                    let w = if total == 0.0 { *w } else { w / total };
                    let scaled = w * f64::from(1u32 << PRECISION_BITS);
                    #[allow(clippy::cast_possible_truncation)]
                    if w < 0.0 { (scaled - 0.5) as i32 } else { (scaled + 0.5) as i32 }
                })
                .collect();
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            (xmin as usize, fixed)
        })
        .collect()
}

fn clip8(acc: i32) -> u8 {
    let v = acc >> PRECISION_BITS;
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
    {
        v.clamp(0, 255) as u8
    }
}

/// Pillow's `Image.resize(size, Image.BICUBIC)` for RGB: two separable passes, each rounding to uint8
/// through 22-bit fixed-point weights. Pillow 13 (the reference's) runs the vertical pass first when the
/// height shrinks by more than twice as many pixels as the width; otherwise horizontal first, reading
/// only the rows the vertical pass needs.
pub fn resize_bicubic(image: &RgbImage, out_w: usize, out_h: usize) -> RgbImage {
    let (in_w, in_h) = (image.width() as usize, image.height() as usize);
    #[allow(clippy::cast_possible_wrap)]
    let (dh, dw) = (in_h as i64 - out_h as i64, in_w as i64 - out_w as i64);
    let vertical_first = dh > 0 && dh > dw * 2;
    let mut buf = image.as_raw().clone();
    let (mut w, mut h) = (in_w, in_h);
    let horizontal = |buf: &[u8], w: usize, rows: std::ops::Range<usize>| {
        let k = coefficients(w, out_w);
        let mut out = vec![0u8; rows.len() * out_w * 3];
        for (y, src_y) in rows.enumerate() {
            let line = &buf[src_y * w * 3..(src_y + 1) * w * 3];
            for (xx, (start, weights)) in k.iter().enumerate() {
                for c in 0..3 {
                    let taps = weights.iter().enumerate().map(|(i, wt)| (line[(start + i) * 3 + c], *wt));
                    out[(y * out_w + xx) * 3 + c] = convolve(taps);
                }
            }
        }
        out
    };
    let vertical = |buf: &[u8], w: usize, k: &[(usize, Vec<i32>)], row0: usize| {
        let mut out = vec![0u8; out_h * w * 3];
        for (yy, (start, weights)) in k.iter().enumerate() {
            for xx in 0..w {
                for c in 0..3 {
                    let taps =
                        weights.iter().enumerate().map(|(i, wt)| (buf[((start - row0 + i) * w + xx) * 3 + c], *wt));
                    out[(yy * w + xx) * 3 + c] = convolve(taps);
                }
            }
        }
        out
    };
    let vk = coefficients(in_h, out_h);
    if vertical_first {
        if out_h != in_h {
            buf = vertical(&buf, w, &vk, 0);
            h = out_h;
        }
        if out_w != in_w {
            buf = horizontal(&buf, w, 0..h);
            w = out_w;
        }
    } else {
        let mut row0 = 0;
        if out_w != in_w {
            // Only the rows the vertical pass reads are resampled horizontally.
            let first = vk.first().map_or(0, |(s, _)| *s);
            let last = vk.last().map_or(in_h, |(s, k)| s + k.len());
            buf = horizontal(&buf, w, first..last);
            w = out_w;
            h = last - first;
            row0 = first;
        }
        if out_h != in_h {
            buf = vertical(&buf, w, &vk, row0);
            h = out_h;
        }
    }
    #[allow(clippy::cast_possible_truncation)]
    RgbImage::from_raw(w as u32, h as u32, buf).unwrap_or_else(|| RgbImage::new(out_w as u32, out_h as u32))
}

/// One fixed-point tap sum, rounded and clipped to uint8.
fn convolve(taps: impl Iterator<Item = (u8, i32)>) -> u8 {
    let mut acc: i32 = 1 << (PRECISION_BITS - 1);
    for (px, w) in taps {
        acc = acc.wrapping_add(i32::from(px).wrapping_mul(w));
    }
    clip8(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(min: usize, max: usize) -> PreprocessConfig {
        PreprocessConfig { min_pixels: min, max_pixels: max, ..PreprocessConfig::default() }
    }

    #[test]
    fn smart_resize_follows_the_reference() {
        // Values from transformers' smart_resize (factor 28).
        let c = cfg(3136, 12544);
        assert_eq!(smart_resize(64, 64, &c).expect("ok"), (56, 56));
        assert_eq!(smart_resize(50, 120, &c).expect("ok"), (56, 112));
        assert_eq!(smart_resize(90, 40, &c).expect("ok"), (84, 56));
        // Python rounds halves to even: 42/28 = 1.5 -> 2, 126/28 = 4.5 -> 4, 70/28 = 2.5 -> 2, 98/28 = 3.5 -> 4.
        assert_eq!(smart_resize(42, 126, &cfg(0, 1 << 30)).expect("ok"), (56, 112));
        assert_eq!(smart_resize(70, 98, &cfg(0, 1 << 30)).expect("ok"), (56, 112));
        // Too small: scaled up to min_pixels.
        assert_eq!(smart_resize(10, 10, &c).expect("ok"), (56, 56));
        // Oversized: scaled down within max_pixels.
        let (h, w) = smart_resize(30_000, 40_000, &c).expect("ok");
        assert!(h * w <= 12544 && h % 28 == 0 && w % 28 == 0, "{h}x{w}");
        assert!(smart_resize(10, 3000, &c).is_err(), "aspect ratio over 200");
        assert!(smart_resize(0, 10, &c).is_err());
    }

    #[test]
    fn identity_resize_keeps_pixels() {
        let img = RgbImage::from_fn(5, 4, |x, y| image::Rgb([(x * 40) as u8, (y * 50) as u8, 7]));
        assert_eq!(resize_bicubic(&img, 5, 4), img);
    }

    #[test]
    fn bicubic_weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(100, 56), (40, 56), (7, 3)] {
            for (_, k) in coefficients(i, o) {
                let s: i64 = k.iter().map(|w| i64::from(*w)).sum();
                assert!((s - (1 << PRECISION_BITS)).abs() <= k.len() as i64, "{i}->{o}: {s}");
            }
        }
    }

    #[test]
    fn bad_processor_settings_are_reported() {
        let v = serde_json::json!({"resample": 2});
        assert!(PreprocessConfig::from_value(&v).expect_err("bilinear").contains("resample"));
        let v = serde_json::json!({"min_pixels": 100, "max_pixels": 10});
        assert!(PreprocessConfig::from_value(&v).expect_err("range").contains("min_pixels"));
        let v = serde_json::json!({"image_std": [0.2, 0.0, 0.2]});
        assert!(PreprocessConfig::from_value(&v).is_err());
    }
}
