//! Sigma-clipped statistics (as astropy's `sigma_clipped_stats` with median centre and standard
//! deviation): the noise level of radio images, whose few bright sources would dominate a plain
//! standard deviation. Runs on worker threads.

use super::sort::sorted_finite;

/// Mean, median and population standard deviation of the finite `values` after iteratively
/// discarding values outside `median ± nsigma * std` (bounds inclusive), for at most `iterations`
/// rounds or until nothing more is discarded. Returns NaNs when no finite value exists.
///
/// The values are sorted once; every round only narrows a window of the sorted values, so the
/// cost is one sort plus `O(iterations * n)`.
pub fn sigma_clip(values: &[f32], nsigma: f32, iterations: usize) -> (f32, f32, f32) {
    let sorted = sorted_finite(values);
    let (mut a, mut b) = (0, sorted.len());
    for _ in 0..iterations {
        let Some((_, median, std)) = window_stats(&sorted[a..b]) else {
            break;
        };
        let lo = median - f64::from(nsigma) * std;
        let hi = median + f64::from(nsigma) * std;
        let new_a = a + sorted[a..b].partition_point(|&v| f64::from(v) < lo);
        let new_b = a + sorted[a..b].partition_point(|&v| f64::from(v) <= hi);
        if (new_a, new_b) == (a, b) {
            break;
        }
        (a, b) = (new_a, new_b.max(new_a));
    }
    match window_stats(&sorted[a..b]) {
        Some((mean, median, std)) => (mean as f32, median as f32, std as f32),
        None => (f32::NAN, f32::NAN, f32::NAN),
    }
}

/// (mean, median, std) of sorted values, None when empty.
fn window_stats(sorted: &[f32]) -> Option<(f64, f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let mean = sorted.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let var = sorted.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n as f64;
    let median = super::quantile::of_sorted_f32(sorted, 0.5)?;
    Some((mean, median, var.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlier_is_clipped() {
        // 20 values alternating 9 and 11 plus one 1000: the first round (median 11, std ~216)
        // keeps everything but 1000; the second (median 10, std 1) keeps all 20 -> stable.
        let mut v: Vec<f32> = (0..20).map(|i| if i % 2 == 0 { 9.0 } else { 11.0 }).collect();
        v.push(1000.0);
        v.push(f32::NAN);
        assert_eq!(sigma_clip(&v, 3.0, 5), (10.0, 10.0, 1.0));
        // Zero iterations: plain statistics of the 21 finite values.
        let (mean, median, _) = sigma_clip(&v, 3.0, 0);
        assert_eq!(median, 11.0);
        assert!((mean - 1200.0 / 21.0).abs() < 1e-4);
    }

    #[test]
    fn empty_input_gives_nan() {
        let (mean, median, std) = sigma_clip(&[f32::NAN], 3.0, 5);
        assert!(mean.is_nan() && median.is_nan() && std.is_nan());
    }
}
