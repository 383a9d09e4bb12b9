//! Exact ascending sort of f32 values, used to build the quantile store and by sigma clipping.
//!
//! An LSD radix sort on order-preserving `u32` keys: three scatter passes on digits of 11, 11 and
//! 10 bits, whose counts the caller gathers while producing the keys. It is linear in the number
//! of values and stays fast in unoptimised debug builds, where a comparison sort of tens of
//! millions of values takes several seconds. Runs on worker threads; the cancel closure is polled
//! every [`CHUNK`] values.

/// How many values are processed between two polls of the cancel closure.
pub(crate) const CHUNK: usize = 1 << 16;

const SIGN: u32 = 0x8000_0000;
const DIGIT_BITS: u32 = 11;
const RADIX: usize = 1 << DIGIT_BITS;
const DIGIT_MASK: u32 = (RADIX - 1) as u32;
const PASSES: usize = 3;

/// Maps a finite f32 to a `u32` whose unsigned order is the float order (-0.0 sorts just before 0.0).
#[inline(always)]
pub(crate) fn key(v: f32) -> u32 {
    let bits = v.to_bits();
    if bits & SIGN != 0 { !bits } else { bits | SIGN }
}

/// Inverse of [`key`].
#[inline(always)]
pub(crate) fn value(k: u32) -> f32 {
    f32::from_bits(if k & SIGN != 0 { k & !SIGN } else { !k })
}

/// Histograms of the three key digits, gathered by the caller while it produces the keys (saving
/// a pass over them).
pub(crate) struct DigitCounts([[usize; RADIX]; PASSES]);

impl DigitCounts {
    pub(crate) fn new() -> Self {
        Self([[0; RADIX]; PASSES])
    }

    #[inline(always)]
    pub(crate) fn add(&mut self, k: u32) {
        self.0[0][(k & DIGIT_MASK) as usize] += 1;
        self.0[1][((k >> DIGIT_BITS) & DIGIT_MASK) as usize] += 1;
        self.0[2][(k >> (2 * DIGIT_BITS)) as usize] += 1;
    }
}

/// Sorts the values behind `keys` ascending; `counts` must hold exactly these keys. Peak memory is
/// twice the input. Returns None when `cancel` answers true.
pub(crate) fn sort_values(keys: Vec<u32>, counts: &DigitCounts, cancel: &dyn Fn() -> bool) -> Option<Vec<f32>> {
    let n = keys.len();
    // A digit every key shares does not change the order: skip its pass.
    let needed: Vec<usize> =
        (0..PASSES).filter(|&p| keys.first().is_some_and(|&k| counts.0[p][digit(k, p)] != n)).collect();
    let mut src = keys;
    let mut dst = Vec::new();
    for (j, &pass) in needed.iter().enumerate() {
        let mut offsets = [0usize; RADIX];
        let mut running = 0;
        for (offset, &c) in offsets.iter_mut().zip(counts.0[pass].iter()) {
            *offset = running;
            running += c;
        }
        let shift = pass as u32 * DIGIT_BITS;
        if j + 1 == needed.len() {
            // The last pass writes the values themselves.
            drop(std::mem::take(&mut dst));
            let mut out = vec![0f32; n];
            scatter_values(&src, &mut out, &mut offsets, shift, cancel)?;
            return Some(out);
        }
        if dst.len() != n {
            dst = vec![0u32; n];
        }
        scatter_keys(&src, &mut dst, &mut offsets, shift, cancel)?;
        std::mem::swap(&mut src, &mut dst);
    }
    // No pass needed: fewer than two keys, or all equal.
    Some(src.into_iter().map(value).collect())
}

#[inline(always)]
fn digit(k: u32, pass: usize) -> usize {
    ((k >> (pass as u32 * DIGIT_BITS)) & DIGIT_MASK) as usize
}

/// One stable counting-sort pass on the digit at `shift`. (Written twice, for keys and values,
/// because a mapping closure would cost a call per value in unoptimised builds.)
fn scatter_keys(
    src: &[u32],
    dst: &mut [u32],
    offsets: &mut [usize; RADIX],
    shift: u32,
    cancel: &dyn Fn() -> bool,
) -> Option<()> {
    let n = src.len();
    let mut start = 0;
    while start < n {
        if cancel() {
            return None;
        }
        let end = n.min(start + CHUNK);
        let mut i = start;
        while i < end {
            let k = src[i];
            let d = ((k >> shift) & DIGIT_MASK) as usize;
            let o = offsets[d];
            dst[o] = k;
            offsets[d] = o + 1;
            i += 1;
        }
        start = end;
    }
    Some(())
}

/// As [`scatter_keys`], writing the decoded values.
fn scatter_values(
    src: &[u32],
    dst: &mut [f32],
    offsets: &mut [usize; RADIX],
    shift: u32,
    cancel: &dyn Fn() -> bool,
) -> Option<()> {
    let n = src.len();
    let mut start = 0;
    while start < n {
        if cancel() {
            return None;
        }
        let end = n.min(start + CHUNK);
        let mut i = start;
        while i < end {
            let k = src[i];
            let d = ((k >> shift) & DIGIT_MASK) as usize;
            let o = offsets[d];
            dst[o] = value(k);
            offsets[d] = o + 1;
            i += 1;
        }
        start = end;
    }
    Some(())
}

/// The finite values of `values`, sorted ascending (not cancellable: meant for modest inputs).
pub(crate) fn sorted_finite(values: &[f32]) -> Vec<f32> {
    let mut counts = DigitCounts::new();
    let keys: Vec<u32> = values.iter().filter(|v| v.is_finite()).map(|&v| key(v)).collect();
    keys.iter().for_each(|&k| counts.add(k));
    sort_values(keys, &counts, &|| false).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_preserve_float_order() {
        let vals = [f32::MIN, -1e30, -2.5, -1e-40, -0.0, 0.0, 1e-45, 0.5, 3.0, 1e30, f32::MAX];
        for w in vals.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} vs {}", w[0], w[1]);
        }
        for &v in &vals {
            assert_eq!(value(key(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn sorts_like_a_comparison_sort() {
        // Deterministic values spanning signs, magnitudes, ties and subnormals.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut vals = Vec::new();
        for i in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = match i % 4 {
                0 => (x >> 40) as f32 - 8_000_000.0,
                1 => f32::from_bits((x >> 32) as u32),
                2 => (i % 17) as f32,
                _ => ((x >> 11) as f64 / (1u64 << 53) as f64) as f32 * 1e-3,
            };
            vals.push(v);
        }
        let mut expected: Vec<f32> = vals.iter().copied().filter(|v| v.is_finite()).collect();
        expected.sort_by(f32::total_cmp);
        let got = sorted_finite(&vals);
        assert_eq!(got.len(), expected.len());
        assert!(got.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn cancelled_sort_returns_none() {
        let keys: Vec<u32> = (0..10u32).rev().map(|i| key(i as f32)).collect();
        let mut counts = DigitCounts::new();
        keys.iter().for_each(|&k| counts.add(k));
        assert!(sort_values(keys, &counts, &|| true).is_none());
        let mut counts = DigitCounts::new();
        counts.add(key(7.0));
        assert_eq!(sort_values(vec![key(7.0)], &counts, &|| true), Some(vec![7.0]));
    }

    #[test]
    fn equal_values_and_empty_input() {
        assert_eq!(sorted_finite(&[2.5; 5]), vec![2.5; 5]);
        assert_eq!(sorted_finite(&[f32::NAN]), Vec::<f32>::new());
        assert_eq!(sorted_finite(&[3.0, -1.0]), vec![-1.0, 3.0]);
    }
}
