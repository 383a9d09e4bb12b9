//! heatscope's one quantile convention: **linear interpolation between order statistics** (Hyndman
//! and Fan's type 7, numpy's and R's default). The `q` quantile of n sorted values is the value at
//! fractional rank `h = q (n - 1)`: `x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])`.
//! Display ranges, ZScale's and sigma clipping's medians, bootstrap intervals, the benchmark's
//! per-region 95th percentile, the GSD estimator's render stretch and the image a VLM is shown all
//! use it; nothing else in heatscope computes a quantile its own way.

/// The `q` quantile (0-1, clamped) of `sorted` (ascending, no NaN) by the convention above. `None`
/// when empty or `q` is NaN.
pub fn of_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    of_ranked(sorted.len(), q, |i| sorted[i])
}

/// [`of_sorted`] for f32 values (computed in f64).
pub fn of_sorted_f32(sorted: &[f32], q: f64) -> Option<f64> {
    of_ranked(sorted.len(), q, |i| f64::from(sorted[i]))
}

/// The `q` quantile of `n` values known by rank (`get(i)` is the i-th smallest).
pub fn of_ranked(n: usize, q: f64, get: impl Fn(usize) -> f64) -> Option<f64> {
    if n == 0 || q.is_nan() {
        return None;
    }
    let h = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let i = (h.floor() as usize).min(n - 1);
    Some(interpolate(get(i), (i + 1 < n).then(|| get(i + 1)), h - i as f64))
}

/// The value a fraction `t` (0-1) of the way from `a` to `b` (`a` itself when there is no `b`).
/// Interpolates from the nearer end, so the result is exact at both neighbours and monotonic in `t`.
pub fn interpolate(a: f64, b: Option<f64>, t: f64) -> f64 {
    match b {
        None => a,
        Some(_) if t <= 0.0 => a,
        Some(b) if t >= 0.5 => b - (b - a) * (1.0 - t),
        Some(b) => a + (b - a) * t,
    }
}

/// The `q` quantile of the finite values of `values` (any order; they are copied and sorted).
pub fn of_finite(values: &[f32], q: f64) -> Option<f32> {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_unstable_by(f32::total_cmp);
    of_sorted_f32(&v, q).map(|x| x as f32)
}

/// The median of `sorted` by the convention (the mean of the middle two for even counts).
pub fn median_of_sorted(sorted: &[f64]) -> Option<f64> {
    of_sorted(sorted, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_convention_is_numpys_linear() {
        // numpy.quantile([1, 2, 4, 8, 16], q) for these q.
        let v = [1.0, 2.0, 4.0, 8.0, 16.0];
        for (q, want) in [(0.0, 1.0), (0.1, 1.4), (0.25, 2.0), (0.5, 4.0), (0.6, 5.6), (0.95, 14.4), (1.0, 16.0)] {
            let got = of_sorted(&v, q).expect("a value");
            assert!((got - want).abs() < 1e-12, "q {q}: {got} vs {want}");
        }
        assert_eq!(of_sorted(&v, -1.0), Some(1.0));
        assert_eq!(of_sorted(&v, 2.0), Some(16.0));
        assert_eq!(of_sorted(&[], 0.5), None);
        assert_eq!(of_sorted(&v, f64::NAN), None);
        assert_eq!(median_of_sorted(&[1.0, 2.0, 3.0, 10.0]), Some(2.5));
        // Unsorted input with NaN and infinities: only the finite values count.
        assert_eq!(of_finite(&[f32::NAN, 3.0, f32::INFINITY, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(of_finite(&[f32::NAN], 0.5), None);
        // numpy.percentile(range(1, 1025), 95) = 972.85 (the benchmark's regions hold 1024 cells).
        let cells: Vec<f64> = (1..=1024).map(f64::from).collect();
        assert!((of_sorted(&cells, 0.95).unwrap() - 972.85).abs() < 1e-9);
    }
}
