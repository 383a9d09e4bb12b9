//! IRAF's ZScale display limits, with the same sampling and parameters as astropy's
//! `ZScaleInterval` (the reference this is checked against). Runs on worker threads.
//!
//! Outline: take about `n_samples` valid values at a regular stride through the image (raster
//! order), sort them, and fit a straight line to value-versus-index by least squares. Iteratively
//! reject samples further than `krej` standard deviations from the line, growing every rejected
//! region by `npix / 100` neighbours, until nothing new is rejected, too few samples remain or
//! `max_iterations` is reached. With enough survivors, the slope divided by `contrast` spans the
//! limits around the sample median, clipped to the sample range; otherwise the sample min and
//! max are the limits.

/// Tunables of the algorithm; the defaults are IRAF's and astropy's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZScaleParams {
    pub n_samples: usize,
    pub contrast: f64,
    pub max_reject: f64,
    pub min_npixels: usize,
    pub krej: f64,
    pub max_iterations: usize,
}

impl Default for ZScaleParams {
    fn default() -> Self {
        Self { n_samples: 1000, contrast: 0.25, max_reject: 0.5, min_npixels: 5, krej: 2.5, max_iterations: 5 }
    }
}

impl ZScaleParams {
    /// Sampling stride through `count` valid values: every `stride`-th value, at most `n_samples`.
    pub(crate) fn stride(&self, count: usize) -> usize {
        (count / self.n_samples.max(1)).max(1)
    }
}

/// ZScale limits of the finite values in `values` (raster order), or None when there are none.
pub fn zscale(values: &[f32], params: &ZScaleParams) -> Option<(f32, f32)> {
    let finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let stride = params.stride(finite.len());
    let samples: Vec<f32> = finite.iter().step_by(stride).take(params.n_samples).copied().collect();
    zscale_of_samples(samples, params)
}

/// ZScale limits of already drawn samples (any order, all finite), or None when empty.
pub(crate) fn zscale_of_samples(mut samples: Vec<f32>, params: &ZScaleParams) -> Option<(f32, f32)> {
    samples.sort_unstable_by(f32::total_cmp);
    let s: Vec<f64> = samples.iter().map(|&v| f64::from(v)).collect();
    let npix = s.len();
    let (vmin, vmax) = (*s.first()?, *s.last()?);

    let min_good = params.min_npixels.max((npix as f64 * params.max_reject) as usize).max(1);
    let grow = ((npix as f64 * 0.01) as usize).max(1);
    let mut bad = vec![false; npix];
    let mut n_good = npix;
    let mut last_n_good = npix + 1;
    let mut slope = None;

    for _ in 0..params.max_iterations {
        if n_good >= last_n_good || n_good < min_good {
            break;
        }
        let (m, c) = fit_line(&s, &bad);
        slope = Some(m);
        let residual = |i: usize| s[i] - (m * i as f64 + c);
        let threshold = params.krej * good_std(npix, &bad, residual);
        for (i, b) in bad.iter_mut().enumerate() {
            let r = residual(i);
            if r < -threshold || r > threshold {
                *b = true;
            }
        }
        bad = dilate(&bad, grow);
        last_n_good = n_good;
        n_good = bad.iter().filter(|&&b| !b).count();
    }

    let (mut zmin, mut zmax) = (vmin, vmax);
    if let Some(mut slope) = slope.filter(|_| n_good >= min_good) {
        if params.contrast > 0.0 {
            slope /= params.contrast;
        }
        let center = (npix - 1) / 2;
        let median = super::quantile::median_of_sorted(&s).unwrap_or(vmin);
        zmin = vmin.max(median - (center as f64 - 1.0) * slope);
        zmax = vmax.min(median + (npix - center) as f64 * slope);
    }
    Some((zmin as f32, zmax as f32))
}

/// Least-squares line `y = m * index + c` through the samples not flagged bad.
fn fit_line(s: &[f64], bad: &[bool]) -> (f64, f64) {
    let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (i, (&y, &b)) in s.iter().zip(bad).enumerate() {
        if !b {
            n += 1.0;
            sx += i as f64;
            sy += y;
        }
    }
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (i, (&y, &b)) in s.iter().zip(bad).enumerate() {
        if !b {
            let dx = i as f64 - mx;
            sxx += dx * dx;
            sxy += dx * (y - my);
        }
    }
    let m = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (m, my - m * mx)
}

/// Population standard deviation of `residual(i)` over the good samples.
fn good_std(npix: usize, bad: &[bool], residual: impl Fn(usize) -> f64) -> f64 {
    let good = || (0..npix).filter(|&i| !bad[i]).map(&residual);
    let n = good().count() as f64;
    if n == 0.0 {
        return 0.0;
    }
    let mean = good().sum::<f64>() / n;
    (good().map(|r| (r - mean) * (r - mean)).sum::<f64>() / n).sqrt()
}

/// Grows flagged regions: sample `i` becomes bad when any of
/// `i - width / 2 ..= i - width / 2 + width - 1` is bad (a centred box of `width`, as numpy's
/// `convolve(mask, ones(width), mode="same")` aligns it for even widths).
fn dilate(bad: &[bool], width: usize) -> Vec<bool> {
    let n = bad.len();
    // prefix[i] = number of bad samples before index i.
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0usize);
    for &b in bad {
        let last = prefix.last().copied().unwrap_or(0);
        prefix.push(last + usize::from(b));
    }
    let half = width / 2;
    (0..n)
        .map(|i| {
            let start = i.saturating_sub(half);
            let end = (i + width - half).min(n);
            prefix[end] > prefix[start]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dilation_matches_numpy_same_convolution() {
        // np.convolve([0,0,0,1,0,0,0,0], np.ones(4, bool), mode="same") -> [0,0,1,1,1,1,0,0]
        let bad = [false, false, false, true, false, false, false, false];
        let grown: Vec<u8> = dilate(&bad, 4).into_iter().map(u8::from).collect();
        assert_eq!(grown, vec![0, 0, 1, 1, 1, 1, 0, 0]);
        // Edges: bad at 0 and 19 of 20, width 4 -> numpy flags 0..=2 and 18..=19.
        let mut edges = [false; 20];
        (edges[0], edges[19]) = (true, true);
        let flagged: Vec<usize> = (0..20).filter(|&i| dilate(&edges, 4)[i]).collect();
        assert_eq!(flagged, vec![0, 1, 2, 18, 19]);
        // Odd width is symmetric: ones(3) -> [0,0,1,1,1,0,0,0]
        let grown: Vec<u8> = dilate(&bad, 3).into_iter().map(u8::from).collect();
        assert_eq!(grown, vec![0, 0, 1, 1, 1, 0, 0, 0]);
        assert_eq!(dilate(&bad, 1), bad.to_vec());
    }

    #[test]
    fn linear_ramp_gives_sample_extremes() {
        // 10_000 values 0..9999: stride 10, samples 0, 10, ..., 9990. The fitted slope is 10 per
        // sample, so slope / contrast spans far beyond the data and both limits clip to the
        // sample extremes (astropy agrees: (0.0, 9990.0)).
        let ramp: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        assert_eq!(zscale(&ramp, &ZScaleParams::default()), Some((0.0, 9990.0)));
    }

    #[test]
    fn degenerate_inputs() {
        let p = ZScaleParams::default();
        assert_eq!(zscale(&[], &p), None);
        assert_eq!(zscale(&[f32::NAN, f32::INFINITY], &p), None);
        assert_eq!(zscale(&[3.0], &p), Some((3.0, 3.0)));
        // Fewer than min_npixels samples: no fit, the sample range.
        assert_eq!(zscale(&[4.0, 1.0, f32::NAN, 2.0], &p), Some((1.0, 4.0)));
        assert_eq!(zscale(&[7.0; 50], &p), Some((7.0, 7.0)));
    }
}
