//! The simulated background of a RadioQA-sim scene: white Gaussian noise given the beam's
//! correlation ([`super::beam::noise_kernel`]) and rescaled so its rms is exactly the scene's,
//! optional faint confusion (many point sources, each below 2.5 sigma, counted as background and not
//! as part of the model the labels come from), and the NaN masks real survey cutouts carry (a strip
//! along an edge, or everything beyond a straight cut). Runs on the `heatscope-sim-N` threads.

use serde::Serialize;

use super::beam::{BeamPx, Gaussian, correlate, noise_kernel};
use crate::sim::rng::Rng;

/// Confusion sources per beam area, when a scene has confusion: uniform in this range.
pub const CONFUSION_PER_BEAM: (f64, f64) = (0.05, 0.2);
/// Peak of each confusion source in units of the noise rms: uniform in this range.
pub const CONFUSION_PEAK_SIGMA: (f64, f64) = (0.3, 2.5);

/// Beam-correlated Gaussian noise of rms `rms` (the sample rms of the `n` x `n` field, exactly),
/// plus `confusion` faint point sources when asked; returns the field and how many were added.
pub fn simulated(n: usize, beam: BeamPx, rms: f64, confusion: bool, rng: &mut Rng) -> (Vec<f32>, usize) {
    let (kernel, radius) = noise_kernel(beam);
    let padded = n + 2 * radius;
    let white: Vec<f64> = (0..padded * padded).map(|_| rng.normal()).collect();
    let field = correlate(&white, n, &kernel, radius);
    let mean = field.iter().sum::<f64>() / field.len() as f64;
    let sd = (field.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / field.len() as f64).sqrt().max(1e-12);
    let mut out: Vec<f32> = field.iter().map(|v| ((v - mean) / sd * rms) as f32).collect();
    let mut added = 0;
    if confusion {
        let beams = (n * n) as f64 / beam.area();
        let count = (beams * rng.range(CONFUSION_PER_BEAM.0, CONFUSION_PER_BEAM.1)).round() as usize;
        for _ in 0..count {
            let (x, y) = (rng.range(-0.5, n as f64 - 0.5), rng.range(-0.5, n as f64 - 0.5));
            let peak = rms * rng.range(CONFUSION_PEAK_SIGMA.0, CONFUSION_PEAK_SIGMA.1);
            Gaussian::point(x, y, peak).render(beam, &mut out, n);
        }
        added = count;
    }
    (out, added)
}

/// A NaN mask: where a survey cutout has no data.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NanMask {
    /// A strip `width` pixels wide along one edge (0 top, 1 right, 2 bottom, 3 left).
    Edge { side: u8, width: usize },
    /// Everything on the far side of a straight line through (`x`, `y`) with normal angle `angle_deg`
    /// (0 = to the right, 90 = down).
    Cut { x: f64, y: f64, angle_deg: f64 },
}

impl NanMask {
    /// The masked pixels (true = no data).
    pub fn pixels(self, n: usize) -> Vec<bool> {
        (0..n * n)
            .map(|i| {
                let (x, y) = (i % n, i / n);
                match self {
                    NanMask::Edge { side, width } => match side {
                        0 => y < width,
                        1 => x + width >= n,
                        2 => y + width >= n,
                        _ => x < width,
                    },
                    NanMask::Cut { x: px, y: py, angle_deg } => {
                        let t = angle_deg.to_radians();
                        (x as f64 - px) * t.cos() + (y as f64 - py) * t.sin() > 0.0
                    }
                }
            })
            .collect()
    }
}

/// A random mask covering 5-35 % of an `n` x `n` cutout: an edge strip or a straight cut, half each.
pub fn draw_mask(n: usize, rng: &mut Rng) -> NanMask {
    if rng.chance(0.5) {
        let width = ((n as f64) * rng.range(0.05, 0.3)).round().max(1.0) as usize;
        return NanMask::Edge { side: rng.below(4) as u8, width };
    }
    loop {
        let angle_deg = rng.range(0.0, 360.0);
        let t = angle_deg.to_radians();
        // The line's distance from the centre, along its normal, sets the masked share.
        let d = rng.range(0.15, 0.5) * n as f64;
        let c = (n as f64 - 1.0) / 2.0;
        let mask = NanMask::Cut { x: c + d * t.cos(), y: c + d * t.sin(), angle_deg };
        let share = mask.pixels(n).iter().filter(|&&b| b).count() as f64 / (n * n) as f64;
        if (0.05..=0.35).contains(&share) {
            return mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_noise_has_the_asked_rms_and_the_beam_correlation() {
        let beam = BeamPx { major: 5.0, minor: 5.0, pa_deg: 0.0 };
        let n = 96;
        let (noise, added) = simulated(n, beam, 2.0e-5, false, &mut Rng::new(3));
        assert_eq!(added, 0);
        let rms = (noise.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / (n * n) as f64).sqrt();
        assert!((rms - 2.0e-5).abs() < 1e-9, "{rms}");
        // Neighbours correlate as the beam says (shape at 1 px of a 5 px FWHM beam: 0.895).
        let lag1: f64 =
            (0..n * n).filter(|i| i % n + 1 < n).map(|i| f64::from(noise[i]) * f64::from(noise[i + 1])).sum();
        let corr = lag1 / ((n - 1) * n) as f64 / (rms * rms);
        assert!((corr - 0.895).abs() < 0.05, "{corr}");
        let (with, added) = simulated(n, beam, 2.0e-5, true, &mut Rng::new(3));
        assert!(added > 0 && with != noise);
    }

    #[test]
    fn masks_cover_a_share_of_the_cutout() {
        let mut rng = Rng::new(9);
        for _ in 0..50 {
            let m = draw_mask(64, &mut rng);
            let share = m.pixels(64).iter().filter(|&&b| b).count() as f64 / 4096.0;
            assert!((0.01..=0.36).contains(&share), "{m:?}: {share}");
        }
    }
}
