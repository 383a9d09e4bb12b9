//! Ring artefacts: the concentric ripple rings (and spokes) that imperfect deconvolution leaves
//! around a bright compact source, their rendering and the count of ridges bright enough to see.
//! Runs on the `heatscope-sim-N` threads.

use serde::Serialize;

use super::measure;
use super::sources::{Ctx, log_uniform};
use crate::sim::rng::Rng;

/// Concentric ripple rings around a bright compact source: imperfect deconvolution's sidelobe
/// pattern. Brightness `amplitude` x (r_in / r)^0.8 x cos(2 pi (r - r_in) / wavelength), faded in
/// over half a wavelength inside `r_in` and out over the last wavelength before `r_out`, times the
/// spoke modulation 1 - depth x sin^2(spokes (phi - phase) / 2).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RingArtefact {
    pub x: f64,
    pub y: f64,
    pub amplitude: f64,
    pub wavelength: f64,
    pub r_in: f64,
    pub r_out: f64,
    pub spokes: u32,
    pub depth: f64,
    pub phase_deg: f64,
    /// Ridges (radii r_in + k x wavelength) above 5 sigma over at least half their circle.
    pub ridges_detected: usize,
}

impl RingArtefact {
    pub fn render(&self, n: usize) -> Vec<f32> {
        let tau = std::f64::consts::TAU;
        (0..n * n)
            .map(|i| {
                let (dx, dy) = ((i % n) as f64 - self.x, (i / n) as f64 - self.y);
                let r = dx.hypot(dy);
                let start = self.r_in - 0.5 * self.wavelength;
                if r <= start || r >= self.r_out {
                    return 0.0;
                }
                let fade_in =
                    if r < self.r_in { ((r - start) / (0.5 * self.wavelength) * tau / 4.0).sin().powi(2) } else { 1.0 };
                let fade_out = ((self.r_out - r) / self.wavelength).clamp(0.0, 1.0);
                let spokes = 1.0
                    - self.depth
                        * (f64::from(self.spokes) * (dy.atan2(dx) - self.phase_deg.to_radians()) / 2.0).sin().powi(2);
                let radial = (self.r_in / r.max(self.r_in)).powf(0.8) * (tau * (r - self.r_in) / self.wavelength).cos();
                (self.amplitude * radial * fade_in * fade_out * spokes) as f32
            })
            .collect()
    }

    /// Ridges whose circle is above `threshold` over at least half its length, in `img` (the pattern).
    pub fn count_ridges(&self, img: &[f32], n: usize, threshold: f64) -> usize {
        (0..)
            .map(|k| self.r_in + f64::from(k) * self.wavelength)
            .take_while(|&r| r < self.r_out)
            .filter(|&r| measure::circle_share_above(img, n, self.x, self.y, r, threshold) >= 0.5)
            .count()
    }
}

/// Ring artefacts around the bright source at (`x`, `y`) of peak `peak` Jy/beam: amplitude 0.5-4 %
/// of the peak, wavelength 1.5-3 beams, first ridge 1.5-2.5 beams out, 3-6 ridges, 0/3/4/6 spokes.
pub fn ring_artefact(ctx: &Ctx, x: f64, y: f64, peak: f64, rng: &mut Rng) -> RingArtefact {
    let b = ctx.beam.major;
    let wavelength = b * rng.range(1.5, 3.0);
    let r_in = b * rng.range(1.5, 2.5);
    let ridges = rng.range(3.0, 6.0);
    let spokes = *rng.pick(&[0u32, 3, 4, 6]).unwrap_or(&0);
    RingArtefact {
        x,
        y,
        amplitude: peak * log_uniform(0.005, 0.04, rng),
        wavelength,
        r_in,
        r_out: (r_in + ridges * wavelength).min(0.6 * ctx.n as f64),
        spokes,
        depth: if spokes == 0 { 0.0 } else { rng.range(0.2, 0.6) },
        phase_deg: rng.range(0.0, 360.0),
        ridges_detected: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::radio::beam::BeamPx;

    #[test]
    fn artefact_ridges_are_counted_where_they_are_bright() {
        let ctx = Ctx { n: 96, beam: BeamPx { major: 4.0, minor: 4.0, pa_deg: 0.0 }, rms: 1.0, nan: None };
        let mut a = ring_artefact(&ctx, 48.0, 48.0, 2000.0, &mut Rng::new(1));
        a.amplitude = 40.0;
        a.depth = 0.0;
        let img = a.render(96);
        // The first ridge is at r_in with the full amplitude; the pattern is zero at the centre.
        assert!((measure::circle_share_above(&img, 96, 48.0, 48.0, a.r_in, 30.0) - 1.0).abs() < 0.05);
        assert_eq!(img[48 * 96 + 48], 0.0);
        assert!(a.count_ridges(&img, 96, 5.0) >= 2);
        a.amplitude = 4.0;
        assert_eq!(a.count_ridges(&a.render(96), 96, 5.0), 0);
    }
}
