//! What engineers measure on a drawn shape, from the full-resolution data: statistics of a box or
//! polygon (mean, median, 95th percentile, max, the share above a level, the area) and the values
//! along a line between two points. Runs on worker threads (the app sends the shape; a region the
//! size of the whole image reads every pixel).
//!
//! Shapes are in image pixel coordinates with (0, 0) the top-left corner of the image; a pixel is in
//! a region when its centre is (even-odd rule for polygons). Quantiles follow [`super::quantile`]'s
//! one convention and are exact: values are narrowed by histogram passes, never sampled, so a region
//! of 400 million pixels needs no copy of them.

use std::sync::atomic::{AtomicBool, Ordering};

use super::quantile::interpolate;
use crate::types::Raster;

/// A drawn region.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Region {
    /// Corners in any order.
    Rect { x0: f64, y0: f64, x1: f64, y1: f64 },
    /// At least three vertices; closed implicitly.
    Polygon(Vec<[f64; 2]>),
}

impl Region {
    /// Bounding box `[x0, y0, x1, y1]`.
    pub fn bounds(&self) -> [f64; 4] {
        match self {
            Self::Rect { x0, y0, x1, y1 } => [x0.min(*x1), y0.min(*y1), x0.max(*x1), y0.max(*y1)],
            Self::Polygon(v) => {
                v.iter().fold([f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY], |b, p| {
                    [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
                })
            }
        }
    }

    /// The columns `[c0, c1)` of row `row` whose centres lie inside, clipped to `width`, in order.
    fn spans(&self, row: usize, width: usize, out: &mut Vec<[usize; 2]>) {
        out.clear();
        let y = row as f64 + 0.5;
        let mut xs: Vec<f64> = Vec::new();
        match self {
            Self::Rect { .. } => {
                let b = self.bounds();
                if y >= b[1] && y < b[3] {
                    xs.extend([b[0], b[2]]);
                }
            }
            Self::Polygon(v) => {
                for (i, a) in v.iter().enumerate() {
                    let b = v[(i + 1) % v.len()];
                    // Half-open in y so a vertex on the scan line counts once.
                    if (a[1] <= y) != (b[1] <= y) {
                        xs.push(a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]));
                    }
                }
                xs.sort_by(f64::total_cmp);
            }
        }
        for pair in xs.chunks_exact(2) {
            // Centre c + 0.5 in [xa, xb).
            let c0 = (pair[0] - 0.5).ceil().clamp(0.0, width as f64) as usize;
            let c1 = (pair[1] - 0.5).ceil().clamp(0.0, width as f64) as usize;
            if c1 > c0 {
                out.push([c0, c1]);
            }
        }
    }

    /// Call `f(linear index)` for every pixel of `raster` inside; false when cancelled.
    fn for_each_pixel(&self, raster: &Raster, cancel: &AtomicBool, mut f: impl FnMut(usize)) -> bool {
        let b = self.bounds();
        if !b.iter().all(|v| v.is_finite()) {
            return true;
        }
        let r0 = (b[1] - 0.5).ceil().clamp(0.0, raster.height as f64) as usize;
        let r1 = (b[3] - 0.5).ceil().clamp(0.0, raster.height as f64) as usize;
        let mut spans = Vec::new();
        for row in r0..r1 {
            if row % 64 == 0 && cancel.load(Ordering::Relaxed) {
                return false;
            }
            self.spans(row, raster.width, &mut spans);
            for &[c0, c1] in &spans {
                (row * raster.width + c0..row * raster.width + c1).for_each(&mut f);
            }
        }
        true
    }
}

/// Statistics of one band inside a region.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionStats {
    /// Pixels whose centre is inside.
    pub pixels: usize,
    /// Of those, the ones holding data.
    pub valid: usize,
    pub mean: f64,
    pub median: f64,
    pub p95: f64,
    pub min: f64,
    pub max: f64,
    /// The level and the share (0-1) of valid pixels strictly above it.
    pub above: Option<(f64, f64)>,
}

/// Statistics of `band` inside `region`; None when no pixel with data is inside, Err("cancelled")
/// when `cancel` is set.
pub fn region_stats(
    raster: &Raster,
    band: usize,
    region: &Region,
    level: Option<f64>,
    cancel: &AtomicBool,
) -> Result<Option<RegionStats>, String> {
    if band >= raster.band_count() {
        return Err(format!("band {} does not exist (the image has {})", band + 1, raster.band_count()));
    }
    let data = &raster.bands[band];
    let (mut pixels, mut valid, mut sum, mut above) = (0usize, 0usize, 0.0f64, 0usize);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let done = region.for_each_pixel(raster, cancel, |i| {
        pixels += 1;
        if raster.is_valid(band, i) {
            let v = f64::from(data[i]);
            valid += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
            if level.is_some_and(|l| v > l) {
                above += 1;
            }
        }
    });
    if !done {
        return Err("cancelled".into());
    }
    if valid == 0 {
        return Ok(None);
    }
    let each = |f: &mut dyn FnMut(f32)| {
        region.for_each_pixel(raster, cancel, |i| {
            if raster.is_valid(band, i) {
                f(data[i]);
            }
        })
    };
    let quantile = |q: f64| -> Result<f64, String> {
        let h = q * (valid - 1) as f64;
        let k = h.floor() as usize;
        let a = ranked(&each, valid, k, min, max)?;
        let b = if k + 1 < valid { Some(ranked(&each, valid, k + 1, min, max)?) } else { None };
        Ok(interpolate(a, b, h - k as f64))
    };
    Ok(Some(RegionStats {
        pixels,
        valid,
        mean: sum / valid as f64,
        median: quantile(0.5)?,
        p95: quantile(0.95)?,
        min,
        max,
        above: level.map(|l| (l, above as f64 / valid as f64)),
    }))
}

/// Visits every valid value of a region once; false when cancelled.
type Visit<'a> = dyn Fn(&mut dyn FnMut(f32)) -> bool + 'a;

/// The `k`-th smallest (0-based) of `n` values that `each` visits, all within `[min, max]`: histogram
/// passes narrow the range to the values of the bin holding rank `k` (bins are contiguous in value,
/// so a bin's own smallest and largest value bound exactly its members) until they fit in memory,
/// then those are sorted.
fn ranked(each: &Visit<'_>, n: usize, k: usize, min: f64, max: f64) -> Result<f64, String> {
    const BINS: usize = 4096;
    const GATHER: usize = 1 << 22;
    let cancelled = || "cancelled".to_string();
    let (mut lo, mut hi, mut below, mut total) = (min, max, 0usize, n);
    for _ in 0..64 {
        if lo == hi {
            return Ok(lo);
        }
        if total <= GATHER {
            let mut values = Vec::with_capacity(total);
            if !each(&mut |v| {
                if (lo..=hi).contains(&f64::from(v)) {
                    values.push(v);
                }
            }) {
                return Err(cancelled());
            }
            values.sort_unstable_by(f32::total_cmp);
            return values.get(k - below).map(|&v| f64::from(v)).ok_or_else(|| format!("rank {k} of {n} not found"));
        }
        let width = (hi - lo) / BINS as f64;
        let mut counts = vec![0usize; BINS];
        let mut lows = vec![f64::INFINITY; BINS];
        let mut highs = vec![f64::NEG_INFINITY; BINS];
        if !each(&mut |v| {
            let v = f64::from(v);
            if (lo..=hi).contains(&v) {
                let i = (((v - lo) / width) as usize).min(BINS - 1);
                counts[i] += 1;
                lows[i] = lows[i].min(v);
                highs[i] = highs[i].max(v);
            }
        }) {
            return Err(cancelled());
        }
        let mut seen = below;
        let Some(chosen) = counts.iter().position(|&c| {
            seen += c;
            seen > k
        }) else {
            return Err(format!("rank {k} of {n} not found"));
        };
        (lo, hi, below, total) = (lows[chosen], highs[chosen], seen - counts[chosen], counts[chosen]);
    }
    Err(format!("rank {k} of {n}: the values did not narrow"))
}

/// The band's values along a line, one sample per pixel step.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// Distance from the start of each sample, in pixels.
    pub distance: Vec<f64>,
    /// The pixel each sample reads.
    pub pixels: Vec<[i64; 2]>,
    /// Its value; None outside the image or on nodata.
    pub values: Vec<Option<f32>>,
    /// Length of the line in pixels.
    pub length: f64,
}

/// Most samples a profile takes (a line across a 20000-pixel image takes 28 285).
pub const MAX_PROFILE_SAMPLES: usize = 200_000;

/// The values of `band` along the line from `a` to `b` (pixel coordinates): `ceil(length) + 1`
/// evenly spaced samples (at most [`MAX_PROFILE_SAMPLES`]), each reading the pixel it falls in.
pub fn line_profile(raster: &Raster, band: usize, a: [f64; 2], b: [f64; 2]) -> Profile {
    let length = (b[0] - a[0]).hypot(b[1] - a[1]);
    let n = if length.is_finite() { (length.ceil() as usize + 1).clamp(2, MAX_PROFILE_SAMPLES) } else { 2 };
    let mut out = Profile {
        distance: Vec::with_capacity(n),
        pixels: Vec::with_capacity(n),
        values: Vec::with_capacity(n),
        length,
    };
    for i in 0..n {
        let t = i as f64 / (n - 1) as f64;
        let (x, y) = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t);
        let pixel = [x.floor() as i64, y.floor() as i64];
        out.distance.push(length * t);
        out.pixels.push(pixel);
        out.values.push(if band < raster.band_count() { raster.value(band, pixel[0], pixel[1]) } else { None });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RasterMeta;

    fn ramp(w: usize, h: usize) -> Raster {
        Raster::new(w, h, vec![(0..w * h).map(|i| i as f32).collect()], RasterMeta::default())
    }

    fn brute(r: &Raster, inside: impl Fn(f64, f64) -> bool, level: f64) -> (usize, Vec<f64>, usize) {
        let mut v = Vec::new();
        let mut pixels = 0;
        for row in 0..r.height {
            for col in 0..r.width {
                if inside(col as f64 + 0.5, row as f64 + 0.5) {
                    pixels += 1;
                    if let Some(x) = r.value(0, col as i64, row as i64) {
                        v.push(f64::from(x));
                    }
                }
            }
        }
        v.sort_by(f64::total_cmp);
        let above = v.iter().filter(|&&x| x > level).count();
        (pixels, v, above)
    }

    #[test]
    fn box_statistics_match_a_brute_force_count() {
        let mut r = ramp(30, 20);
        r.bands[0][5 * 30 + 5] = f32::NAN;
        let region = Region::Rect { x0: 12.3, y0: 15.0, x1: 2.0, y1: 3.6 };
        let s = region_stats(&r, 0, &region, Some(200.0), &AtomicBool::new(false)).unwrap().unwrap();
        let (pixels, v, above) = brute(&r, |x, y| (2.0..12.3).contains(&x) && (3.6..15.0).contains(&y), 200.0);
        assert_eq!((s.pixels, s.valid), (pixels, v.len()));
        assert_eq!(s.median, super::super::quantile::of_sorted(&v, 0.5).unwrap());
        assert_eq!(s.p95, super::super::quantile::of_sorted(&v, 0.95).unwrap());
        assert_eq!((s.min, s.max), (v[0], v[v.len() - 1]));
        assert!((s.mean - v.iter().sum::<f64>() / v.len() as f64).abs() < 1e-9);
        assert_eq!(s.above, Some((200.0, above as f64 / v.len() as f64)));
    }

    #[test]
    fn polygon_uses_pixel_centres_by_the_even_odd_rule() {
        let r = ramp(40, 40);
        let tri = vec![[2.0, 2.0], [35.0, 5.0], [10.0, 37.0]];
        let s = region_stats(&r, 0, &Region::Polygon(tri.clone()), None, &AtomicBool::new(false)).unwrap().unwrap();
        let inside = |x: f64, y: f64| {
            let mut c = false;
            for i in 0..3 {
                let (a, b) = (tri[i], tri[(i + 1) % 3]);
                if (a[1] <= y) != (b[1] <= y) && x < a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]) {
                    c = !c;
                }
            }
            c
        };
        let (pixels, v, _) = brute(&r, inside, 0.0);
        assert_eq!(s.pixels, pixels);
        assert_eq!(s.median, super::super::quantile::of_sorted(&v, 0.5).unwrap());
        assert!(s.above.is_none());
        // Area of the triangle, in pixels, is close to the count.
        let area: f64 = 0.5 * ((35.0 - 2.0) * (37.0 - 2.0) - (10.0 - 2.0) * (5.0 - 2.0));
        assert!((pixels as f64 - area).abs() < area * 0.05, "{pixels} vs {area}");
    }

    #[test]
    fn quantiles_stay_exact_when_values_must_be_narrowed() {
        // More values than one gathering holds, many of them equal: the histogram passes narrow.
        let n: usize = (1 << 22) + 1000;
        let w = 2048;
        let h = n.div_ceil(w);
        let data: Vec<f32> =
            (0..w * h).map(|i| if i % 3 == 0 { 7.0 } else { ((i * 7919) % 100_003) as f32 * 0.5 }).collect();
        let r = Raster::new(w, h, vec![data.clone()], RasterMeta::default());
        let region = Region::Rect { x0: 0.0, y0: 0.0, x1: w as f64, y1: h as f64 };
        let s = region_stats(&r, 0, &region, None, &AtomicBool::new(false)).unwrap().unwrap();
        let mut v: Vec<f64> = data.iter().map(|&x| f64::from(x)).collect();
        v.sort_by(f64::total_cmp);
        assert_eq!(s.median, super::super::quantile::of_sorted(&v, 0.5).unwrap());
        assert_eq!(s.p95, super::super::quantile::of_sorted(&v, 0.95).unwrap());
    }

    #[test]
    fn empty_outside_and_cancelled_regions() {
        let r = ramp(10, 10);
        let off = Region::Rect { x0: 20.0, y0: 20.0, x1: 30.0, y1: 30.0 };
        assert_eq!(region_stats(&r, 0, &off, None, &AtomicBool::new(false)), Ok(None));
        let nan = Region::Polygon(vec![[f64::NAN, 0.0], [1.0, 1.0], [2.0, 0.0]]);
        assert_eq!(region_stats(&r, 0, &nan, None, &AtomicBool::new(false)), Ok(None));
        let all = Region::Rect { x0: -5.0, y0: -5.0, x1: 50.0, y1: 50.0 };
        assert_eq!(region_stats(&r, 0, &all, None, &AtomicBool::new(false)).unwrap().unwrap().pixels, 100);
        assert!(region_stats(&r, 0, &all, None, &AtomicBool::new(true)).is_err());
        assert!(region_stats(&r, 2, &all, None, &AtomicBool::new(false)).is_err());
        // A constant region: every quantile is the constant.
        let flat = Raster::new(4, 4, vec![vec![3.0; 16]], RasterMeta::default());
        let s = region_stats(&flat, 0, &all, Some(3.0), &AtomicBool::new(false)).unwrap().unwrap();
        assert_eq!((s.median, s.p95, s.above), (3.0, 3.0, Some((3.0, 0.0))));
    }

    #[test]
    fn profile_reads_each_pixel_along_the_line() {
        let r = ramp(10, 10);
        let p = line_profile(&r, 0, [0.5, 0.5], [9.5, 0.5]);
        assert_eq!(p.values.len(), 10);
        assert_eq!(p.values, (0..10).map(|i| Some(i as f32)).collect::<Vec<_>>());
        assert!((p.length - 9.0).abs() < 1e-12);
        let diag = line_profile(&r, 0, [0.5, 0.5], [9.5, 9.5]);
        assert_eq!(diag.values.first(), Some(&Some(0.0)));
        assert_eq!(diag.values.last(), Some(&Some(99.0)));
        // Off the image: None, never a panic.
        let off = line_profile(&r, 0, [-5.0, 2.0], [3.0, 2.0]);
        assert_eq!(off.values[0], None);
        assert_eq!(off.values.last(), Some(&Some(23.0)));
        assert_eq!(line_profile(&r, 0, [f64::NAN, 0.0], [1.0, 1.0]).values.len(), 2);
    }
}
