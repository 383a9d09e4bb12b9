//! Statistics of one band of a [`Raster`]: nodata tallies, moments, exact quantiles, the full-range
//! histogram and ZScale limits. Computed by [`band_stats`] on a worker thread, which polls a cancel
//! closure every 64 Ki pixels; the result is immutable and can be shared with the UI.
//!
//! Cost: one pass over the band, a three-pass radix sort of the valid values and one pass over the
//! sorted values (linear in the pixel count, ~1 s for 16 Mpx in a debug build). Memory: see
//! [`sorted`](super::sorted) (4 bytes per valid pixel kept, 8 at peak, less for low-cardinality
//! bands). A band of more than [`STORE_LIMIT`] valid values keeps no copy: four passes over the band
//! (tallies, spread, histogram, the ranks of the range presets) and 512 KiB, quantiles answered
//! from the band later ([`FromBand`]).

use std::sync::Arc;

use super::from_band::FromBand;
use super::histogram::{HISTOGRAM_BINS, Histogram};
use super::range::{RangeMode, widen};
use super::sort::{self, CHUNK, DigitCounts};
use super::sorted::{SortedValues, quantile_ranks};
use super::zscale::{ZScaleParams, zscale_of_samples};
use crate::types::Raster;

/// Most valid values a band's statistics keep a sorted copy of (64 MiB); larger bands are answered
/// from the band itself.
pub const STORE_LIMIT: usize = 1 << 24;

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
    pub(super) sorted: SortedValues,
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
        match &self.sorted {
            SortedValues::Band(b) => b.histogram(lo, hi, bins),
            sorted => Histogram::from_sorted(sorted, lo, hi, bins),
        }
    }

    /// [`Self::histogram_between`] when it is cheap: always for a band with a sorted store; for a band
    /// answered from itself (a pass over it, tenths of a second for tens of megapixels) only when it
    /// is the range asked last, otherwise the last histogram asked (of its own range; None before
    /// the first). For the UI while a range limit is being dragged.
    pub fn histogram_between_now(&self, lo: f32, hi: f32, bins: usize) -> Option<Histogram> {
        match &self.sorted {
            SortedValues::Band(b) => b.last_histogram(),
            _ => Some(self.histogram_between(lo, hi, bins)),
        }
    }

    /// Heap bytes held: the quantile store plus the histogram (a large band's store holds none of
    /// its values: see [`STORE_LIMIT`]).
    pub fn memory_bytes(&self) -> usize {
        self.sorted.memory_bytes() + self.histogram.counts.len() * size_of::<u64>()
    }
}

/// Statistics of `band`, or None when `cancel` returns true (polled every 64 Ki pixels) or the
/// band does not exist. Never panics on empty or all-nodata bands. A `valid` mask whose length
/// differs from the band's (a loader bug) is ignored.
pub fn band_stats(raster: &Arc<Raster>, band: usize, cancel: &dyn Fn() -> bool) -> Option<BandStats> {
    band_stats_with(raster, band, cancel, STORE_LIMIT)
}

/// [`band_stats`] keeping a sorted copy only up to `store_limit` valid values.
pub(crate) fn band_stats_with(
    raster: &Arc<Raster>,
    band: usize,
    cancel: &dyn Fn() -> bool,
    store_limit: usize,
) -> Option<BandStats> {
    let data: &[f32] = raster.bands.get(band)?;
    let mask = raster.valid.as_deref().filter(|m| m.len() == data.len());
    if data.len() > store_limit {
        let tally = tally(data, mask, cancel, false)?;
        if tally.count > store_limit {
            return large_band_stats(raster, band, tally, cancel);
        }
    }
    let scan = tally(data, mask, cancel, true)?;
    let count = scan.keys.len();

    let params = ZScaleParams::default();
    let stride = params.stride(count);
    let samples: Vec<f32> = scan.keys.iter().step_by(stride).take(params.n_samples).map(|&k| sort::value(k)).collect();
    let zscale = zscale_of_samples(samples, &params).unwrap_or((0.0, 1.0));

    let mean = if count > 0 { scan.sum / count as f64 } else { f64::NAN };
    let (min, max) = scan.min_max();
    let min_positive = scan.min_positive();
    let sorted = sort::sort_values(scan.keys, &scan.digits, cancel)?;
    let std = if count > 0 { (sum_sq_dev(&sorted, mean) / count as f64).sqrt() } else { f64::NAN };

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

/// What the pass over a band gathers: pixel tallies, and either the valid values as sort keys (raster
/// order, with their digit counts) or, for a band too large to keep them, their 16-bit key prefixes.
struct Tally {
    count: usize,
    masked: usize,
    nan: usize,
    pos_inf: usize,
    neg_inf: usize,
    sum: f64,
    keys: Vec<u32>,
    digits: DigitCounts,
    /// Valid values per 16-bit key prefix (when the keys are not kept).
    prefixes: Vec<u64>,
    /// Smallest and largest key, smallest positive value.
    min_key: u32,
    max_key: u32,
    min_positive: f32,
}

impl Tally {
    /// Smallest and largest valid value; NaN when there is none.
    fn min_max(&self) -> (f32, f32) {
        if self.count == 0 { (f32::NAN, f32::NAN) } else { (sort::value(self.min_key), sort::value(self.max_key)) }
    }

    fn min_positive(&self) -> Option<f32> {
        self.min_positive.is_finite().then_some(self.min_positive)
    }
}

/// The single pass over the pixels: tallies nodata, sums valid values and collects their sort keys
/// (`keep_keys`) or counts their prefixes. Written as plain index loops without method calls so it
/// stays fast without optimisation.
#[allow(clippy::manual_range_contains)] // `RangeInclusive::contains` is a call in debug builds
fn tally(data: &[f32], mask: Option<&[bool]>, cancel: &dyn Fn() -> bool, keep_keys: bool) -> Option<Tally> {
    let n = data.len();
    let mut t = Tally {
        count: 0,
        masked: 0,
        nan: 0,
        pos_inf: 0,
        neg_inf: 0,
        sum: 0.0,
        keys: if keep_keys { vec![0u32; n] } else { Vec::new() },
        digits: DigitCounts::new(),
        prefixes: if keep_keys { Vec::new() } else { vec![0; 1 << 16] },
        min_key: u32::MAX,
        max_key: 0,
        min_positive: f32::INFINITY,
    };
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
                t.masked += 1;
                continue;
            }
            // Finite test by comparison: `is_finite` is a function call in debug builds.
            if !(v >= f32::MIN && v <= f32::MAX) {
                if v.is_nan() {
                    t.nan += 1;
                } else if v > 0.0 {
                    t.pos_inf += 1;
                } else {
                    t.neg_inf += 1;
                }
                continue;
            }
            t.sum += v as f64;
            let k = sort::key(v);
            if keep_keys {
                t.digits.add(k);
                t.keys[t.count] = k;
            } else {
                t.prefixes[(k >> 16) as usize] += 1;
            }
            t.count += 1;
            if k < t.min_key {
                t.min_key = k;
            }
            if k > t.max_key {
                t.max_key = k;
            }
            if v > 0.0 && v < t.min_positive {
                t.min_positive = v;
            }
        }
        start = end;
    }
    t.keys.truncate(t.count);
    t.keys.shrink_to_fit();
    Some(t)
}

/// Statistics of a band with more than [`STORE_LIMIT`] valid values, which keep no copy of them.
fn large_band_stats(raster: &Arc<Raster>, band: usize, t: Tally, cancel: &dyn Fn() -> bool) -> Option<BandStats> {
    let data: &[f32] = &raster.bands[band];
    let mask = raster.valid.as_deref().filter(|m| m.len() == data.len());
    let count = t.count;
    let mean = t.sum / count as f64;
    // Second pass: the spread about the mean and ZScale's samples (every stride-th valid value).
    let params = ZScaleParams::default();
    let stride = params.stride(count);
    let mut samples = Vec::with_capacity(params.n_samples);
    let mut sum_sq = 0.0;
    let mut seen = 0usize;
    let mut start = 0;
    while start < data.len() {
        if cancel() {
            return None;
        }
        let end = data.len().min(start + CHUNK);
        for i in start..end {
            let v = data[i];
            if mask.is_some_and(|m| !m[i]) || !v.is_finite() {
                continue;
            }
            let d = v as f64 - mean;
            sum_sq += d * d;
            if seen.is_multiple_of(stride) && samples.len() < params.n_samples {
                samples.push(v);
            }
            seen += 1;
        }
        start = end;
    }
    let zscale = zscale_of_samples(samples, &params).unwrap_or((0.0, 1.0));
    let (min, max) = t.min_max();
    let store = FromBand::new(Arc::clone(raster), band, &t.prefixes);
    if cancel() {
        return None;
    }
    let histogram = match widen(min, max) {
        Some((lo, hi)) => store.histogram(lo, hi, HISTOGRAM_BINS),
        None => Histogram::empty(0.0, 1.0, HISTOGRAM_BINS),
    };
    if cancel() {
        return None;
    }
    // The ranks the range presets and the median read, found now so the UI only looks them up.
    let mut ranks = quantile_ranks(count, 0.5);
    for mode in RangeMode::PRESETS {
        if let Some((lo, hi)) = mode.percentiles() {
            ranks.extend(quantile_ranks(count, f64::from(lo) / 100.0));
            ranks.extend(quantile_ranks(count, f64::from(hi) / 100.0));
        }
    }
    store.select(&ranks);
    Some(BandStats {
        band,
        total: data.len(),
        count,
        masked: t.masked,
        nan: t.nan,
        pos_inf: t.pos_inf,
        neg_inf: t.neg_inf,
        min,
        max,
        min_positive: t.min_positive(),
        mean,
        std: (sum_sq / count as f64).sqrt(),
        histogram,
        zscale,
        sorted: SortedValues::Band(store),
    })
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
