//! The local background and noise of a radio image: the sigma-clipped median and the spread of the
//! values below it in boxes on a coarse grid (half-overlapping), interpolated bilinearly to every
//! pixel, as BANE and PyBDSF's rms maps are. Runs on the finder's worker thread.

use std::sync::atomic::{AtomicBool, Ordering};

use super::SourceError;
use crate::stats::sigma_clip;
use crate::types::Raster;

/// A box needs at least this share of valid pixels for its own estimate; emptier boxes take the
/// nearest good box's values.
const MIN_VALID_SHARE: f64 = 0.25;

/// Background and noise per pixel (data units), `width * height`, row-major.
#[derive(Clone, Debug)]
pub struct BackgroundMap {
    pub width: usize,
    pub height: usize,
    pub background: Vec<f32>,
    pub rms: Vec<f32>,
    /// The box side and grid step used (pixels).
    pub box_px: usize,
    pub step_px: usize,
}

impl BackgroundMap {
    /// Median of the per-pixel noise over the valid pixels: the one number a catalogue quotes.
    pub fn median_rms(&self) -> f32 {
        let mut v: Vec<f32> = self.rms.iter().copied().filter(|r| r.is_finite()).collect();
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
    }
}

/// The background map of `band` with boxes of `box_px` (clamped to the image) on a grid of half
/// the box. Fails when no box has enough valid pixels or the noise is zero everywhere.
pub fn background_map(
    raster: &Raster,
    band: usize,
    box_px: usize,
    cancel: &AtomicBool,
) -> Result<BackgroundMap, SourceError> {
    let (w, h) = (raster.width, raster.height);
    let box_px = box_px.clamp(8, w.max(h).max(8));
    let step = (box_px / 2).max(1);
    // Grid centres from the first half box to the last, at least one per axis.
    let centres = |n: usize| -> Vec<usize> {
        if n <= box_px {
            return vec![n / 2];
        }
        let count = (n - box_px).div_ceil(step) + 1;
        (0..count).map(|k| (box_px / 2 + k * step).min(n - box_px + box_px / 2)).collect()
    };
    let (cx, cy) = (centres(w), centres(h));
    let data = &raster.bands[band];
    let mut grid: Vec<Option<(f32, f32)>> = Vec::with_capacity(cx.len() * cy.len());
    let mut values = Vec::with_capacity(box_px * box_px);
    for &y in &cy {
        if cancel.load(Ordering::Relaxed) {
            return Err(SourceError::Cancelled);
        }
        let (y0, y1) = span(y, box_px, h);
        for &x in &cx {
            let (x0, x1) = span(x, box_px, w);
            values.clear();
            for r in y0..y1 {
                for c in x0..x1 {
                    let i = r * w + c;
                    if raster.is_valid(band, i) && data[i].is_finite() {
                        values.push(data[i]);
                    }
                }
            }
            let enough = values.len() as f64 >= MIN_VALID_SHARE * ((x1 - x0) * (y1 - y0)) as f64;
            let estimate = enough.then(|| {
                let (_, median, std) = sigma_clip(&values, 3.0, 10);
                (median, lower_rms(&values, median, std))
            });
            grid.push(estimate.filter(|&(m, s)| m.is_finite() && s.is_finite() && s > 0.0));
        }
    }
    if grid.iter().all(Option::is_none) {
        return Err(SourceError::NoNoise);
    }
    let filled = fill_nearest(&grid, cx.len(), cy.len());
    let mut background = vec![f32::NAN; w * h];
    let mut rms = vec![f32::NAN; w * h];
    for r in 0..h {
        let (j0, j1, ty) = bracket(&cy, r);
        for c in 0..w {
            let i = r * w + c;
            if !raster.is_valid(band, i) {
                continue;
            }
            let (i0, i1, tx) = bracket(&cx, c);
            let at = |gx: usize, gy: usize| filled[gy * cx.len() + gx];
            let mix = |f: fn((f32, f32)) -> f32| {
                let top = f(at(i0, j0)) * (1.0 - tx) + f(at(i1, j0)) * tx;
                let bottom = f(at(i0, j1)) * (1.0 - tx) + f(at(i1, j1)) * tx;
                top * (1.0 - ty) + bottom * ty
            };
            background[i] = mix(|p| p.0);
            rms[i] = mix(|p| p.1);
        }
    }
    Ok(BackgroundMap { width: w, height: h, background, rms, box_px, step_px: step })
}

/// The noise from the values at or below the median (down to 5 clipped sigma): emission only adds
/// to an image, so the lower half stays pure noise where a box is full of diffuse emission, which
/// inflates the clipped standard deviation several times. For Gaussian noise it is the standard
/// deviation itself.
pub fn lower_rms(values: &[f32], median: f32, std: f32) -> f32 {
    let floor = median - 5.0 * std;
    let (sum, n) = values
        .iter()
        .filter(|&&v| v <= median && v >= floor)
        .fold((0.0f64, 0usize), |(s, n), &v| (s + f64::from(v - median).powi(2), n + 1));
    if n == 0 { std } else { (sum / n as f64).sqrt() as f32 }
}

/// The pixel range of a box of side `size` centred on `centre`, inside `0..n`.
fn span(centre: usize, size: usize, n: usize) -> (usize, usize) {
    let lo = centre.saturating_sub(size / 2);
    let hi = (lo + size).min(n);
    (hi.saturating_sub(size), hi)
}

/// The two grid nodes around pixel `p` and the weight of the second.
fn bracket(centres: &[usize], p: usize) -> (usize, usize, f32) {
    let k = centres.partition_point(|&c| c <= p);
    if k == 0 {
        return (0, 0, 0.0);
    }
    if k >= centres.len() {
        let last = centres.len() - 1;
        return (last, last, 0.0);
    }
    let (a, b) = (centres[k - 1], centres[k]);
    (k - 1, k, (p - a) as f32 / (b - a) as f32)
}

/// Every empty grid node takes the value of the nearest node that has one.
fn fill_nearest(grid: &[Option<(f32, f32)>], nx: usize, ny: usize) -> Vec<(f32, f32)> {
    let good: Vec<(usize, usize, (f32, f32))> = (0..ny)
        .flat_map(|y| (0..nx).map(move |x| (x, y)))
        .filter_map(|(x, y)| grid[y * nx + x].map(|v| (x, y, v)))
        .collect();
    (0..ny)
        .flat_map(|y| (0..nx).map(move |x| (x, y)))
        .map(|(x, y)| {
            grid[y * nx + x].unwrap_or_else(|| {
                let d = |gx: usize, gy: usize| gx.abs_diff(x).pow(2) + gy.abs_diff(y).pow(2);
                good.iter().min_by_key(|g| d(g.0, g.1)).map_or((f32::NAN, f32::NAN), |g| g.2)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;
    use crate::types::RasterMeta;

    #[test]
    fn flat_noise_gives_its_level_and_a_gradient_is_followed() {
        let (w, h) = (200, 120);
        let mut rng = Rng::new(3);
        let data: Vec<f32> = (0..w * h).map(|i| 5.0 + 0.01 * (i % w) as f32 + 2.0 * rng.normal() as f32).collect();
        let raster = Raster::new(w, h, vec![data], RasterMeta::default());
        let map = background_map(&raster, 0, 40, &AtomicBool::new(false)).unwrap();
        assert!((map.median_rms() - 2.0).abs() < 0.15, "rms {}", map.median_rms());
        // The background follows the 0.01 per column slope within the noise of a 40x40 box.
        for c in [30, 100, 170] {
            let b = map.background[60 * w + c];
            assert!((b - (5.0 + 0.01 * c as f32)).abs() < 0.25, "column {c}: {b}");
        }
    }

    #[test]
    fn empty_boxes_borrow_and_an_all_nan_image_is_an_error() {
        let (w, h) = (100, 100);
        let mut rng = Rng::new(4);
        let data: Vec<f32> = (0..w * h).map(|i| if i % w < 50 { f32::NAN } else { rng.normal() as f32 }).collect();
        let raster = Raster::new(w, h, vec![data], RasterMeta::default());
        let map = background_map(&raster, 0, 20, &AtomicBool::new(false)).unwrap();
        assert!(map.rms[10 * w + 10].is_nan(), "nodata pixels get no noise");
        assert!((map.rms[10 * w + 90] - 1.0).abs() < 0.2);
        let empty = Raster::new(10, 10, vec![vec![f32::NAN; 100]], RasterMeta::default());
        assert!(matches!(background_map(&empty, 0, 20, &AtomicBool::new(false)), Err(SourceError::NoNoise)));
    }
}
