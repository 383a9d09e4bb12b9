//! A cutout as the network sees it: the band's noise from a sigma-clipped estimate, the centre
//! square cropped, two channels (the ZScale display stretch radio astronomers look at, clipped to
//! [0, 1], and asinh of the significance, which keeps the structure of bright sources the stretch
//! saturates) and, for four-channel models, two from the source finder run on the square (its
//! islands, 5 sigma seed / 3 sigma flood, as a mask, and its flux peaks as small marks), all resized
//! bilinearly to the input side. FITS cutouts (rows already north-up as heatscope
//! loads them, any size, NaN borders) and 8-bit PNG renderings both work. Any thread.

use std::sync::atomic::AtomicBool;

use crate::stats::sources::{FinderOptions, find_sources};
use crate::stats::{ZScaleParams, sigma_clip, zscale};
use crate::types::Raster;

/// Significance at which the second channel reaches 1.
const SNR_FULL: f32 = 1000.0;
/// asinh softening: linear below about this significance.
const SNR_SOFT: f32 = 3.0;

/// The two input channels, each `side * side`, channel-major; an error when the cutout has no noise
/// to measure (blank, constant or all NaN).
pub fn radio_input(raster: &Raster, side: usize, channels: usize) -> Result<Vec<f32>, String> {
    let (w, h) = (raster.width, raster.height);
    let Some(band) = raster.bands.first() else { return Err("the image has no band".into()) };
    let value = |i: usize| if raster.is_valid(0, i) && band[i].is_finite() { band[i] } else { f32::NAN };
    let n = w.min(h);
    if n < 4 {
        return Err(format!("a {w} x {h} cutout is too small (at least 4 x 4)"));
    }
    let (x0, y0) = ((w - n) / 2, (h - n) / 2);
    let square: Vec<f32> = (0..n * n).map(|k| value((y0 + k / n) * w + x0 + k % n)).collect();
    let (_, median, std) = sigma_clip(&square, 3.0, 5);
    if !(std.is_finite() && std > 0.0) {
        return Err("the cutout is blank or constant: no noise to measure".into());
    }
    let (z1, z2) = zscale(&square, &ZScaleParams::default()).unwrap_or((median - std, median + 10.0 * std));
    let span = if z2 > z1 { z2 - z1 } else { std };
    let norm = (SNR_FULL / SNR_SOFT).asinh();
    let stretch: Vec<f32> =
        square.iter().map(|&v| if v.is_finite() { ((v - z1) / span).clamp(0.0, 1.0) } else { 0.0 }).collect();
    let signif: Vec<f32> = square
        .iter()
        .map(|&v| if v.is_finite() { (((v - median) / std) / SNR_SOFT).asinh() / norm } else { 0.0 })
        .map(|v| v.clamp(-0.25, 1.0))
        .collect();
    let mut out = crate::models::cnn::data::resize(&stretch, n, side);
    out.extend(crate::models::cnn::data::resize(&signif, n, side));
    if channels == 4 {
        let (islands, peaks) = finder_maps(raster, &square, n);
        out.extend(crate::models::cnn::data::resize(&islands, n, side));
        out.extend(crate::models::cnn::data::resize(&peaks, n, side));
    }
    Ok(out)
}

/// The source finder's islands (1 inside) and peaks (a 3 x 3 mark at each) on the `n` x `n` square;
/// empty maps when the finder finds nothing or cannot run (no noise).
fn finder_maps(raster: &Raster, square: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
    let mut cut = Raster::new(n, n, vec![square.to_vec()], raster.meta.clone());
    cut.valid = Some(square.iter().map(|v| v.is_finite()).collect());
    let (mut islands, mut peaks) = (vec![0f32; n * n], vec![0f32; n * n]);
    let opts = FinderOptions::default();
    let Ok(cat) = find_sources(&cut, 0, &opts, &AtomicBool::new(false)) else { return (islands, peaks) };
    for island in &cat.islands {
        for &p in &island.members {
            islands[p] = 1.0;
        }
        for peak in &island.peaks {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let (c, r) = (peak.x as usize, peak.y as usize);
            for rr in r.saturating_sub(1)..=(r + 1).min(n - 1) {
                for cc in c.saturating_sub(1)..=(c + 1).min(n - 1) {
                    peaks[rr * n + cc] = 1.0;
                }
            }
        }
    }
    (islands, peaks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;
    use crate::types::RasterMeta;

    #[test]
    fn channels_are_in_range_and_scale_free() {
        let (w, h) = (50, 40);
        let mut rng = Rng::new(1);
        let mut data: Vec<f32> = (0..w * h).map(|_| rng.normal() as f32).collect();
        data[20 * w + 25] = 500.0;
        data[0] = f32::NAN;
        let a = radio_input(&Raster::new(w, h, vec![data.clone()], RasterMeta::default()), 32, 4).unwrap();
        assert_eq!(a.len(), 4 * 32 * 32);
        // The 500-sigma pixel is an island with a peak.
        assert!(a[2 * 32 * 32..].iter().any(|&v| v > 0.5));
        assert!(a.iter().all(|v| v.is_finite() && (-0.25..=1.0).contains(v)));
        // Jy/beam or mJy/beam, any offset: the same input.
        let scaled: Vec<f32> = data.iter().map(|v| v * 1e-3 + 0.2).collect();
        let b = radio_input(&Raster::new(w, h, vec![scaled], RasterMeta::default()), 32, 4).unwrap();
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3));
        let blank = Raster::new(8, 8, vec![vec![1.0; 64]], RasterMeta::default());
        assert!(radio_input(&blank, 32, 2).unwrap_err().contains("blank"));
    }
}
