//! What the GSD estimator measures on one crop: 23 numbers about how texture and edges behave across
//! scales, taken on the crop as the app renders it (an 8-bit linear stretch between the 1st and 99th
//! percentiles), so raw floats, 16-bit data and 8-bit renders of the same ground give the same numbers.
//! Gradient statistics (how sharp and how sparse edges are), the variance left after averaging
//! 2x2 ... 32x32 blocks (how fast detail fades with scale), the autocorrelation at lags 1 ... 32 and
//! the grey-level histogram; and, for colour images, how much the two opponent colours vary against the
//! brightness (2 more, 0 for grey images). Pure Rust; any thread.

use super::crops::{Plane, render_8bit};

/// Block sides and autocorrelation lags (pixels); a crop side must be a multiple of the largest.
const SCALES: [usize; 6] = [1, 2, 4, 8, 16, 32];

/// Names of the features, in order (saved with a model so a mismatched model is refused).
pub const FEATURE_NAMES: [&str; 25] = [
    "grad_mean",
    "grad_q50",
    "grad_q90",
    "grad_q99",
    "grad_over_1",
    "grad_over_0.3",
    "laplacian_log_kurtosis",
    "block2_log_var",
    "block4_log_var",
    "block8_log_var",
    "block16_log_var",
    "block32_log_var",
    "acf1",
    "acf2",
    "acf4",
    "acf8",
    "acf16",
    "acf32",
    "hist_entropy_bits",
    "skewness",
    "log_kurtosis",
    "saturated_share",
    "log2_levels",
    "red_green_sd_ratio",
    "yellow_blue_sd_ratio",
];

/// How many of the features come from the grey render (the rest are colour).
pub const N_GREY: usize = 23;

pub const N_FEATURES: usize = FEATURE_NAMES.len();

/// The smallest crop side the features are defined on (and every side must be a multiple of it).
pub const MIN_SIDE: usize = 64;

/// The 8-bit render the features are taken on: no-data samples filled with the crop's median first.
pub fn render(crop: &Plane) -> Plane {
    let fill = super::crops::quantile(&crop.data, 0.5).unwrap_or(0.0);
    let filled =
        Plane::new(crop.width, crop.height, crop.data.iter().map(|&v| if v.is_finite() { v } else { fill }).collect());
    render_8bit(&filled, 0.01, 0.99, 1.0)
}

/// The colour features of a crop: the standard deviation of each opponent-colour crop over that of
/// the luminance crop (all at the same place and scale, raw values); zeros for a grey image.
pub fn colour_features(luminance: &Plane, chroma: Option<(&Plane, &Plane)>) -> [f32; N_FEATURES - N_GREY] {
    let Some((rg, yb)) = chroma else { return [0.0; N_FEATURES - N_GREY] };
    let sd = |p: &Plane| {
        let v: Vec<f64> = p.data.iter().filter(|x| x.is_finite()).map(|&x| f64::from(x)).collect();
        moments(&v).1.sqrt()
    };
    let base = sd(luminance);
    if base.is_nan() || base <= 0.0 {
        return [0.0; N_FEATURES - N_GREY];
    }
    [(sd(rg) / base) as f32, (sd(yb) / base) as f32]
}

/// The features of a crop: the grey ones of its 8-bit render `r` (values 0-255, side a multiple of
/// [`MIN_SIDE`]) and the `colour` ones. None for a crop with no texture (every sample equal).
pub fn features(r: &Plane, colour: [f32; N_FEATURES - N_GREY]) -> Option<[f32; N_FEATURES]> {
    let n = r.width;
    debug_assert!(r.height == n && n.is_multiple_of(MIN_SIDE));
    let count = (n * n) as f64;
    let mean = r.data.iter().map(|&v| v as f64).sum::<f64>() / count;
    let var = r.data.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / count;
    if var.is_nan() || var <= 1e-9 {
        return None;
    }
    let sd = var.sqrt();
    let z: Vec<f64> = r.data.iter().map(|&v| (v as f64 - mean) / sd).collect();
    let at = |x: usize, y: usize| z[y * n + x];
    let mut f = Vec::with_capacity(N_FEATURES);

    // Forward-difference gradient magnitude over the (n-1) x (n-1) interior.
    let mut g: Vec<f64> = Vec::with_capacity((n - 1) * (n - 1));
    for y in 0..n - 1 {
        for x in 0..n - 1 {
            g.push((at(x + 1, y) - at(x, y)).hypot(at(x, y + 1) - at(x, y)));
        }
    }
    let gn = g.len() as f64;
    f.push(g.iter().sum::<f64>() / gn);
    g.sort_by(f64::total_cmp);
    for q in [0.5, 0.9, 0.99] {
        f.push(crate::stats::quantile::of_sorted(&g, q).unwrap_or(0.0));
    }
    f.push(g.iter().filter(|&&v| v > 1.0).count() as f64 / gn);
    f.push(g.iter().filter(|&&v| v > 0.3).count() as f64 / gn);

    // Kurtosis of the 4-neighbour Laplacian: high where edges are sparse and strong.
    let mut lap = Vec::with_capacity((n - 2) * (n - 2));
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            lap.push(4.0 * at(x, y) - at(x - 1, y) - at(x + 1, y) - at(x, y - 1) - at(x, y + 1));
        }
    }
    let (lm, lv) = moments(&lap);
    let l4 = lap.iter().map(|v| (v - lm).powi(4)).sum::<f64>() / lap.len() as f64;
    f.push((l4 / (lv * lv + 1e-9)).max(1e-9).ln());

    // Variance of block means: how much of the texture survives averaging over b x b pixels.
    for &b in &SCALES[1..] {
        let m = n / b;
        let mut means = Vec::with_capacity(m * m);
        for by in 0..m {
            for bx in 0..m {
                let mut s = 0.0;
                for y in by * b..(by + 1) * b {
                    s += z[y * n + bx * b..y * n + (bx + 1) * b].iter().sum::<f64>();
                }
                means.push(s / (b * b) as f64);
            }
        }
        f.push((moments(&means).1 + 1e-6).log10());
    }

    // Autocorrelation along rows and columns.
    for &lag in &SCALES {
        let (mut sx, mut sy) = (0.0, 0.0);
        for y in 0..n {
            for x in 0..n - lag {
                sx += at(x, y) * at(x + lag, y);
                sy += at(y, x) * at(y, x + lag);
            }
        }
        f.push(0.5 * (sx + sy) / (n * (n - lag)) as f64);
    }

    // The grey levels: entropy, shape, clipping, how many levels are used.
    let mut hist = [0usize; 256];
    for &v in &r.data {
        hist[v.clamp(0.0, 255.0) as usize] += 1;
    }
    let entropy: f64 = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / count;
            -p * p.log2()
        })
        .sum();
    f.push(entropy);
    f.push(z.iter().map(|v| v.powi(3)).sum::<f64>() / count);
    f.push((z.iter().map(|v| v.powi(4)).sum::<f64>() / count).max(1e-9).ln());
    f.push((hist[0] + hist[255]) as f64 / count);
    f.push((hist.iter().filter(|&&c| c > 0).count() as f64).log2());
    f.extend(colour.iter().map(|&c| f64::from(c)));

    let mut out = [0f32; N_FEATURES];
    for (o, v) in out.iter_mut().zip(&f) {
        *o = *v as f32;
    }
    debug_assert_eq!(f.len(), N_FEATURES);
    out.iter().all(|v| v.is_finite()).then_some(out)
}

/// Mean and (population) variance.
fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(n: usize, cell: usize) -> Plane {
        Plane::new(
            n,
            n,
            (0..n * n)
                .map(|i| if ((i % n) / cell + (i / n) / cell).is_multiple_of(2) { 40.0 } else { 200.0 })
                .collect(),
        )
    }

    #[test]
    fn features_follow_the_size_of_the_texture() {
        // Cells 2 px wide vs 16 px wide: the fine one has more edges and less variance after 8x8 block
        // averaging; its autocorrelation flips sign every 2 px, the coarse one's fades over 16 (0.6 at
        // lag 4 on a 64 px crop: 12 of 60 shifted pairs cross a cell edge).
        let fine = features(&checker(64, 2), [0.0; 2]).expect("texture");
        let coarse = features(&checker(64, 16), [0.0; 2]).expect("texture");
        let idx = |name: &str| FEATURE_NAMES.iter().position(|n| *n == name).expect(name);
        assert!(fine[idx("grad_mean")] > 4.0 * coarse[idx("grad_mean")]);
        assert!(fine[idx("block8_log_var")] < coarse[idx("block8_log_var")] - 3.0);
        assert!(fine[idx("acf4")] > 0.9 && (coarse[idx("acf4")] - 0.6).abs() < 0.02, "{coarse:?}");
        assert!(fine[idx("acf2")] < -0.9 && fine[idx("acf1")].abs() < 0.1, "{fine:?}");
        // Two levels, none clipped to 0 or 255: one bit of entropy, log2(2) = 1 level bit.
        assert!((fine[idx("hist_entropy_bits")] - 1.0).abs() < 1e-6);
        assert!((fine[idx("log2_levels")] - 1.0).abs() < 1e-6);
        assert_eq!(fine[idx("saturated_share")], 0.0);
    }

    #[test]
    fn flat_crops_have_no_features_and_no_data_is_filled() {
        assert!(features(&Plane::new(64, 64, vec![9.0; 64 * 64]), [0.0; 2]).is_none());
        let mut p = checker(64, 4);
        p.data[5] = f32::NAN;
        let r = render(&p);
        assert!(r.data.iter().all(|v| v.is_finite() && (0.0..=255.0).contains(v)));
        // An affine change of the values (16-bit vs 8-bit) gives the same render and features.
        let scaled = Plane::new(64, 64, checker(64, 4).data.iter().map(|v| v * 300.0 + 1000.0).collect());
        assert_eq!(features(&render(&scaled), [0.0; 2]), features(&render(&checker(64, 4)), [0.0; 2]));
    }

    #[test]
    fn colour_features_measure_chroma_against_brightness() {
        let lum = checker(64, 4);
        // Chroma varying with half the luminance's spread on one axis, none on the other.
        let rg = Plane::new(64, 64, lum.data.iter().map(|v| 0.5 * v).collect());
        let yb = Plane::new(64, 64, vec![3.0; 64 * 64]);
        let c = colour_features(&lum, Some((&rg, &yb)));
        assert!((c[0] - 0.5).abs() < 1e-6 && c[1].abs() < 1e-6, "{c:?}");
        assert_eq!(colour_features(&lum, None), [0.0, 0.0]);
        let f = features(&render(&lum), c).expect("texture");
        assert_eq!(&f[N_GREY..], &c);
    }
}
