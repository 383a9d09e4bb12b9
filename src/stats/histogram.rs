//! Fixed-width histograms of a band's valid values, drawn under the display-range handles.
//!
//! Built on worker threads from the exact quantile store by binary search on the bin edges, so a
//! histogram costs O(bins * log n) and can be rebuilt exactly for any zoomed sub-range (for a band
//! too large for the store, by one pass over the band).

use super::sorted::SortedValues;

/// Number of bins of the histogram every [`BandStats`](super::BandStats) carries.
pub const HISTOGRAM_BINS: usize = 256;

/// Counts of values in `bins` equal-width bins from `lo` to `hi`.
///
/// Bin `i` counts values `v` with `edge(i) <= v < edge(i + 1)`; the last bin also counts `v == hi`.
/// Values outside `[lo, hi]` are not counted (see [`Histogram::below`] and [`Histogram::above`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub lo: f32,
    pub hi: f32,
    pub counts: Vec<u64>,
    /// Values below `lo` (zero for the full-range histogram).
    pub below: u64,
    /// Values above `hi` (zero for the full-range histogram).
    pub above: u64,
}

impl Histogram {
    /// An empty histogram over `[lo, hi]`.
    pub fn empty(lo: f32, hi: f32, bins: usize) -> Self {
        Self { lo, hi, counts: vec![0; bins], below: 0, above: 0 }
    }

    /// Histogram of sorted values between `lo` and `hi` (`lo < hi`, both finite, `bins >= 1`).
    pub(crate) fn from_sorted(values: &SortedValues, lo: f32, hi: f32, bins: usize) -> Self {
        let mut h = Self::empty(lo, hi, bins.max(1));
        let n = values.len();
        let mut prev = values.count_below(f64::from(lo));
        h.below = prev as u64;
        let last = h.counts.len() - 1;
        for i in 0..h.counts.len() {
            let next = if i == last { values.count_at_most(f64::from(hi)) } else { values.count_below(h.edge(i + 1)) };
            h.counts[i] = next.saturating_sub(prev) as u64;
            prev = next;
        }
        h.above = n.saturating_sub(prev) as u64;
        h
    }

    pub fn bins(&self) -> usize {
        self.counts.len()
    }

    /// Width of one bin.
    pub fn bin_width(&self) -> f64 {
        (f64::from(self.hi) - f64::from(self.lo)) / self.bins().max(1) as f64
    }

    /// Left edge of bin `i`; `edge(bins())` is `hi`.
    pub fn edge(&self, i: usize) -> f64 {
        let bins = self.bins().max(1);
        if i >= bins {
            return f64::from(self.hi);
        }
        let (lo, hi) = (f64::from(self.lo), f64::from(self.hi));
        lo + (hi - lo) * (i as f64 / bins as f64)
    }

    /// Bin holding `v`, or None outside `[lo, hi]` or for NaN.
    pub fn bin_of(&self, v: f32) -> Option<usize> {
        if !(v >= self.lo && v <= self.hi) || self.counts.is_empty() {
            return None;
        }
        let x = f64::from(v);
        // Estimate, then settle against the exact edges used for counting.
        let mut i = (((x - f64::from(self.lo)) / self.bin_width()) as usize).min(self.bins() - 1);
        while i > 0 && x < self.edge(i) {
            i -= 1;
        }
        while i + 1 < self.bins() && x >= self.edge(i + 1) {
            i += 1;
        }
        Some(i)
    }

    /// Largest bin count (for scaling the plot).
    pub fn max_count(&self) -> u64 {
        self.counts.iter().copied().max().unwrap_or(0)
    }

    /// Sum of all bin counts (values inside `[lo, hi]`).
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_bin_rule() {
        let vals = vec![0.0, 0.0, 0.9, 1.0, 2.5, 3.99, 4.0];
        let s = SortedValues::Plain(vals.clone());
        let h = Histogram::from_sorted(&s, 0.0, 4.0, 4);
        // [0,1): 0,0,0.9  [1,2): 1  [2,3): 2.5  [3,4]: 3.99, 4 (hi lands in the last bin)
        assert_eq!(h.counts, vec![3, 1, 1, 2]);
        assert_eq!((h.below, h.above, h.total()), (0, 0, 7));
        for v in vals {
            let b = h.bin_of(v).unwrap_or(usize::MAX);
            assert!(h.edge(b) <= f64::from(v) && f64::from(v) <= h.edge(b + 1));
        }
        assert_eq!(h.bin_of(4.0), Some(3));
        assert_eq!(h.bin_of(4.5), None);
        assert_eq!(h.bin_of(f32::NAN), None);
    }

    #[test]
    fn sub_range_counts_outside_values() {
        let s = SortedValues::Plain((0..10).map(|i| i as f32).collect());
        let h = Histogram::from_sorted(&s, 2.0, 6.0, 2);
        assert_eq!(h.counts, vec![2, 3]);
        assert_eq!((h.below, h.above), (2, 3));
        assert_eq!(h.max_count(), 3);
    }
}
