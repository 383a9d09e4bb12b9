//! Spatially correlated Gaussian random fields (white noise blurred by a separable Gaussian kernel,
//! rescaled to unit variance): the shadow-fading and unmodelled-shadowing maps. Any thread.

use super::rng::Rng;

/// A `size` x `size` field, zero mean and unit variance at every pixel, with a Gaussian correlation
/// whose 1/e distance is about `corr_px` pixels (`corr_px` <= 0.3 gives white noise).
pub fn correlated_field(size: usize, corr_px: f64, rng: &mut Rng) -> Vec<f32> {
    let n = size * size;
    let mut white: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    if corr_px <= 0.3 {
        return white;
    }
    // A blur with kernel sigma s gives correlation exp(-d^2 / (4 s^2)): 1/e at d = 2 s.
    let sigma = corr_px / 2.0;
    let radius = (3.0 * sigma).ceil().max(1.0) as isize;
    let mut kernel: Vec<f64> = (-radius..=radius).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    // Normalize so that the 2-D blur of unit white noise has unit variance: sum(k)^2 over both axes.
    let sq: f64 = kernel.iter().map(|k| k * k).sum();
    for k in &mut kernel {
        *k /= sq.sqrt();
    }
    let mut tmp = vec![0f32; n];
    blur_axis(&white, &mut tmp, size, &kernel, radius, true);
    blur_axis(&tmp, &mut white, size, &kernel, radius, false);
    white
}

/// One pass of the separable blur with reflecting edges (keeps the variance near the borders close).
fn blur_axis(src: &[f32], dst: &mut [f32], size: usize, kernel: &[f64], radius: isize, horizontal: bool) {
    let last = size as isize - 1;
    for r in 0..size {
        for c in 0..size {
            let mut acc = 0f64;
            for (j, k) in kernel.iter().enumerate() {
                let off = j as isize - radius;
                let (rr, cc) = if horizontal { (r as isize, c as isize + off) } else { (r as isize + off, c as isize) };
                let rr = reflect(rr, last);
                let cc = reflect(cc, last);
                acc += k * f64::from(src[rr * size + cc]);
            }
            dst[r * size + c] = acc as f32;
        }
    }
}

fn reflect(i: isize, last: isize) -> usize {
    let mut i = i;
    if last == 0 {
        return 0;
    }
    while i < 0 || i > last {
        i = if i < 0 { -i } else { 2 * last - i };
    }
    i as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / n;
        (m, var)
    }

    #[test]
    fn fields_have_unit_variance_and_the_requested_correlation() {
        let size = 192;
        let mut rng = Rng::new(9);
        let f = correlated_field(size, 6.0, &mut rng);
        let (m, var) = moments(&f);
        assert!(m.abs() < 0.15, "mean {m}");
        assert!((var - 1.0).abs() < 0.25, "variance {var}");
        // Correlation at lag 6 px should be about 1/e.
        let mut acc = 0.0;
        let mut count = 0.0;
        for r in 0..size {
            for c in 0..size - 6 {
                acc += f64::from(f[r * size + c]) * f64::from(f[r * size + c + 6]);
                count += 1.0;
            }
        }
        let rho = acc / count / var;
        assert!((rho - (-1f64).exp()).abs() < 0.1, "lag-6 correlation {rho}");
        let w = correlated_field(64, 0.0, &mut rng);
        assert!((moments(&w).1 - 1.0).abs() < 0.1);
    }
}
