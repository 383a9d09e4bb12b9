//! The exact quantile store: every valid value of a band in ascending order, so that any quantile
//! and any re-binned histogram can be answered exactly, long after the pass over the image.
//!
//! Memory: a plain store keeps 4 bytes per valid pixel (64 MiB for a full 4096 x 4096 band).
//! Bands with few distinct values (8/16-bit integer images, masks, classified maps) are stored as
//! runs instead, 12 bytes per distinct value, whenever that is at most a third of the plain size:
//! a uint8 band of any size then takes about 3 KiB. Building the store peaks at 8 bytes per valid
//! pixel (the radix sort's two buffers). No cheaper representation answers arbitrary quantiles
//! exactly from the store alone, which is why the values are kept at all — except for bands so large
//! that the copy would cost as much as the image: those are answered from the band ([`FromBand`]).
//! Built on worker threads, read from anywhere.

use super::from_band::FromBand;

/// Sorted finite values, plain or run-length encoded, or (for large bands) not stored but
/// answered from the band itself.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SortedValues {
    Plain(Vec<f32>),
    /// Distinct values ascending; `ends[i]` is how many values are `<= values[i]`.
    Runs {
        values: Vec<f32>,
        ends: Vec<usize>,
    },
    /// No copy: ranks and counts found by passes over the band ([`FromBand`]).
    Band(FromBand),
}

impl SortedValues {
    /// Wraps values that are already sorted ascending, run-length encoding them when that is
    /// at most a third of the size.
    pub(crate) fn from_sorted(sorted: Vec<f32>) -> Self {
        let n = sorted.len();
        // A run costs 12 bytes (value + end) against 4 per value: worth it below n / 9 runs.
        let limit = n / 9;
        let mut runs = 0usize;
        let mut i = 0;
        while i < n && runs <= limit {
            if i == 0 || sorted[i] != sorted[i - 1] {
                runs += 1;
            }
            i += 1;
        }
        if n == 0 || runs > limit {
            return Self::Plain(sorted);
        }
        let mut values = Vec::with_capacity(runs);
        let mut ends = Vec::with_capacity(runs);
        for (i, &v) in sorted.iter().enumerate() {
            if values.last() == Some(&v) {
                if let Some(end) = ends.last_mut() {
                    *end = i + 1;
                }
            } else {
                values.push(v);
                ends.push(i + 1);
            }
        }
        Self::Runs { values, ends }
    }

    /// Number of values stored.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Plain(v) => v.len(),
            Self::Runs { ends, .. } => ends.last().copied().unwrap_or(0),
            Self::Band(b) => b.len(),
        }
    }

    /// The value at `rank` (0-based) in ascending order; NaN past the end.
    pub(crate) fn get(&self, rank: usize) -> f32 {
        match self {
            Self::Plain(v) => v.get(rank).copied().unwrap_or(f32::NAN),
            Self::Runs { values, ends } => {
                let run = ends.partition_point(|&end| end <= rank);
                values.get(run).copied().unwrap_or(f32::NAN)
            }
            Self::Band(b) => b.get(rank),
        }
    }

    /// How many values are strictly below `x`.
    pub(crate) fn count_below(&self, x: f64) -> usize {
        match self {
            Self::Plain(v) => v.partition_point(|&s| f64::from(s) < x),
            Self::Runs { values, ends } => {
                let run = values.partition_point(|&s| f64::from(s) < x);
                if run == 0 { 0 } else { ends[run - 1] }
            }
            Self::Band(b) => b.count_below(x),
        }
    }

    /// How many values are `<= x`.
    pub(crate) fn count_at_most(&self, x: f64) -> usize {
        match self {
            Self::Plain(v) => v.partition_point(|&s| f64::from(s) <= x),
            Self::Runs { values, ends } => {
                let run = values.partition_point(|&s| f64::from(s) <= x);
                if run == 0 { 0 } else { ends[run - 1] }
            }
            Self::Band(b) => b.count_at_most(x),
        }
    }

    /// Exact quantile by heatscope's one convention ([`super::quantile`]: linear between order
    /// statistics, numpy's default). NaN when empty or `q` is NaN; `q` is clamped to [0, 1].
    pub(crate) fn quantile(&self, q: f64) -> f32 {
        if let Self::Band(b) = self {
            // Both neighbours in the same two passes.
            b.select(&quantile_ranks(self.len(), q));
        }
        super::quantile::of_ranked(self.len(), q, |i| f64::from(self.get(i))).map_or(f32::NAN, |v| v as f32)
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        match self {
            Self::Plain(v) => v.capacity() * size_of::<f32>(),
            Self::Runs { values, ends } => values.capacity() * size_of::<f32>() + ends.capacity() * size_of::<usize>(),
            Self::Band(b) => b.memory_bytes(),
        }
    }
}

/// The ranks [`SortedValues::quantile`] reads for `q` out of `n` values (see
/// [`super::quantile::of_ranked`]).
pub(crate) fn quantile_ranks(n: usize, q: f64) -> Vec<usize> {
    if n == 0 || q.is_nan() {
        return Vec::new();
    }
    let i = ((q.clamp(0.0, 1.0) * (n - 1) as f64).floor() as usize).min(n - 1);
    if i + 1 < n { vec![i, i + 1] } else { vec![i] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_length_encoding_answers_like_plain() {
        let sorted: Vec<f32> = (0..1000).map(|i| (i / 100) as f32).collect();
        let runs = SortedValues::from_sorted(sorted.clone());
        assert!(matches!(runs, SortedValues::Runs { .. }));
        let plain = SortedValues::Plain(sorted);
        assert_eq!(runs.len(), 1000);
        for rank in [0, 1, 99, 100, 101, 555, 999] {
            assert_eq!(runs.get(rank), plain.get(rank), "rank {rank}");
        }
        assert!(runs.get(1000).is_nan());
        for x in [-1.0, 0.0, 0.5, 3.0, 9.0, 9.5, 10.0] {
            assert_eq!(runs.count_below(x), plain.count_below(x), "below {x}");
            assert_eq!(runs.count_at_most(x), plain.count_at_most(x), "at most {x}");
        }
        for q in [0.0, 0.1234, 0.5, 0.75, 0.999, 1.0] {
            assert_eq!(runs.quantile(q), plain.quantile(q), "q {q}");
        }
        assert!(runs.memory_bytes() < plain.memory_bytes() / 10);
    }

    #[test]
    fn distinct_values_stay_plain() {
        let s = SortedValues::from_sorted((0..100).map(|i| i as f32).collect());
        assert!(matches!(s, SortedValues::Plain(_)));
        assert!(SortedValues::from_sorted(Vec::new()).quantile(0.5).is_nan());
    }

    #[test]
    fn quantile_interpolates_linearly() {
        // numpy: np.quantile([1, 2, 4, 8, 16], q) for q = 0, .1, .25, .5, .9, 1
        // -> 1.0, 1.4, 2.0, 4.0, 12.8, 16.0
        let s = SortedValues::Plain(vec![1.0, 2.0, 4.0, 8.0, 16.0]);
        let expected = [(0.0, 1.0), (0.1, 1.4), (0.25, 2.0), (0.5, 4.0), (0.9, 12.8), (1.0, 16.0)];
        for (q, want) in expected {
            assert_eq!(s.quantile(q), want, "q {q}");
        }
        assert_eq!(s.quantile(-3.0), 1.0);
        assert_eq!(s.quantile(7.0), 16.0);
        assert!(s.quantile(f64::NAN).is_nan());
    }
}
