//! Statistics of one band of a [`Raster`]: nodata tallies, moments, exact quantiles, the full-range
//! histogram and ZScale limits. Computed by [`band_stats`] on a worker thread, which polls a cancel
//! closure every 64 Ki pixels; the result is immutable and can be shared with the UI.
//!
//! Cost: one pass over the band, a three-pass radix sort of the valid values and one pass over the
//! sorted values (linear in the pixel count, ~1 s for 16 Mpx in a debug build). Memory: see
//! [`sorted`](super::sorted) (4 bytes per valid pixel kept, 8 at peak, less for low-cardinality
//! bands).

use super::histogram::{HISTOGRAM_BINS, Histogram};
use super::range::widen;
use super::sort::{self, CHUNK, DigitCounts};
use super::sorted::SortedValues;
use super::zscale::{ZScaleParams, zscale_of_samples};
use crate::types::Raster;

/// Statistics of one band. Pixel categories are disjoint:
/// `count + masked + nan + pos_inf + neg_inf == total`.
#[derive(Clone, Debug, PartialEq)]
pub struct BandStats {
    /// Band index in the raster.
    pub band: usize,
    /// Pixels in the band.
    pub total: usize,
    /// Valid pixels: finite and not masked.
    pub count: usize,
    /// Pixels the `valid` mask marks as nodata (whatever their value).
    pub masked: usize,
    /// Unmasked NaN pixels.
    pub nan: usize,
    /// Unmasked +Inf pixels.
    pub pos_inf: usize,
    /// Unmasked -Inf pixels.
    pub neg_inf: usize,
    /// Smallest and largest valid value; NaN when `count == 0`.
    pub min: f32,
    pub max: f32,
    /// Smallest valid value > 0, for log and dB scales; None when no value is positive.
    pub min_positive: Option<f32>,
    /// Mean and population standard deviation (f64 accumulation, two-pass); NaN when `count == 0`.
    pub mean: f64,
    pub std: f64,
    /// [`HISTOGRAM_BINS`] bins from `min` to `max` (a constant band: `v ± 0.5`, see
    /// [`widen`]); all zero when `count == 0`.
    pub histogram: Histogram,
    /// ZScale limits (astropy defaults); (0, 1) when `count == 0`. May be equal for a constant band:
    /// use [`BandStats::range`] for a display range.
    pub zscale: (f32, f32),
    sorted: SortedValues,
}

impl BandStats {
    /// Pixels without data: masked, NaN or infinite.
    pub fn nodata(&self) -> usize {
        self.masked + self.nan + self.pos_inf + self.neg_inf
    }

    /// Exact quantile of the valid values (`q` in [0, 1], clamped), numpy's default 'linear'
    /// method: the value at fractional rank `q * (count - 1)`, interpolated between neighbours.
    /// NaN when `count == 0` or `q` is NaN.
    /// How many valid values are at most `x`.
    pub fn count_at_most(&self, x: f64) -> usize {
        self.sorted.count_at_most(x)
    }

    pub fn quantile(&self, q: f64) -> f32 {
        self.sorted.quantile(q)
    }

    /// Median of the valid values (NaN when `count == 0`).
    pub fn median(&self) -> f32 {
        self.quantile(0.5)
    }

    /// Exact histogram of the valid values in `[lo, hi]` with `bins` bins, e.g. to re-bin the
    /// current display range. An unusable range is widened like a display range.
    pub fn histogram_between(&self, lo: f32, hi: f32, bins: usize) -> Histogram {
        let (lo, hi) = widen(lo, hi).unwrap_or((0.0, 1.0));
        Histogram::from_sorted(&self.sorted, lo, hi, bins)
    }

    /// Heap bytes held: the quantile store plus the histogram.
    pub fn memory_bytes(&self) -> usize {
        self.sorted.memory_bytes() + self.histogram.counts.len() * size_of::<u64>()
    }
}

/// Pixel tallies and the valid values (as sort keys, raster order) from the pass over a band.
struct Scan {
    masked: usize,
    nan: usize,
    pos_inf: usize,
    neg_inf: usize,
    sum: f64,
    keys: Vec<u32>,
    digits: DigitCounts,
}

/// Statistics of `band`, or None when `cancel` returns true (polled every 64 Ki pixels) or the
/// band does not exist. Never panics on empty or all-nodata bands. A `valid` mask whose length
/// differs from the band's (a loader bug) is ignored.
pub fn band_stats(raster: &Raster, band: usize, cancel: &dyn Fn() -> bool) -> Option<BandStats> {
    let data: &[f32] = raster.bands.get(band)?;
    let mask = raster.valid.as_deref().filter(|m| m.len() == data.len());
    let scan = scan(data, mask, cancel)?;
    let count = scan.keys.len();

    let params = ZScaleParams::default();
    let stride = params.stride(count);
    let samples: Vec<f32> = scan.keys.iter().step_by(stride).take(params.n_samples).map(|&k| sort::value(k)).collect();
    let zscale = zscale_of_samples(samples, &params).unwrap_or((0.0, 1.0));

    let mean = if count > 0 { scan.sum / count as f64 } else { f64::NAN };
    let sorted = sort::sort_values(scan.keys, &scan.digits, cancel)?;
    let std = if count > 0 { (sum_sq_dev(&sorted, mean) / count as f64).sqrt() } else { f64::NAN };

    let (min, max) = match (sorted.first(), sorted.last()) {
        (Some(&lo), Some(&hi)) => (lo, hi),
        _ => (f32::NAN, f32::NAN),
    };
    let first_positive = sorted.partition_point(|&v| v <= 0.0);
    let min_positive = sorted.get(first_positive).copied();
    let sorted = SortedValues::from_sorted(sorted);
    let histogram = match widen(min, max) {
        Some((lo, hi)) => Histogram::from_sorted(&sorted, lo, hi, HISTOGRAM_BINS),
        None => Histogram::empty(0.0, 1.0, HISTOGRAM_BINS),
    };

    Some(BandStats {
        band,
        total: data.len(),
        count,
        masked: scan.masked,
        nan: scan.nan,
        pos_inf: scan.pos_inf,
        neg_inf: scan.neg_inf,
        min,
        max,
        min_positive,
        mean,
        std,
        histogram,
        zscale,
        sorted,
    })
}

/// The single pass over the pixels: tallies nodata, sums valid values and collects their sort keys.
/// Written as plain index loops without method calls so it stays fast without optimisation.
#[allow(clippy::manual_range_contains)] // `RangeInclusive::contains` is a call in debug builds
fn scan(data: &[f32], mask: Option<&[bool]>, cancel: &dyn Fn() -> bool) -> Option<Scan> {
    let n = data.len();
    let mut s =
        Scan { masked: 0, nan: 0, pos_inf: 0, neg_inf: 0, sum: 0.0, keys: Vec::new(), digits: DigitCounts::new() };
    let mut keys = vec![0u32; n];
    let mut count = 0usize;
    let mut start = 0;
    while start < n {
        if cancel() {
            return None;
        }
        let end = n.min(start + CHUNK);
        let mut i = start;
        while i < end {
            let v = data[i];
            i += 1;
            if let Some(m) = mask
                && !m[i - 1]
            {
                s.masked += 1;
                continue;
            }
            // Finite test by comparison: `is_finite` is a function call in debug builds.
            if !(v >= f32::MIN && v <= f32::MAX) {
                if v.is_nan() {
                    s.nan += 1;
                } else if v > 0.0 {
                    s.pos_inf += 1;
                } else {
                    s.neg_inf += 1;
                }
                continue;
            }
            s.sum += v as f64;
            let k = sort::key(v);
            s.digits.add(k);
            keys[count] = k;
            count += 1;
        }
        start = end;
    }
    keys.truncate(count);
    keys.shrink_to_fit();
    s.keys = keys;
    Some(s)
}

/// Sum of squared deviations from `mean`: the second pass of the two-pass variance.
fn sum_sq_dev(values: &[f32], mean: f64) -> f64 {
    let mut sum = 0.0;
    let mut i = 0;
    while i < values.len() {
        let d = values[i] as f64 - mean;
        sum += d * d;
        i += 1;
    }
    sum
}
