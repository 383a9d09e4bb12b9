//! Elliptical Gaussians in pixel space: the restoring beam (FWHM major and minor axes in pixels,
//! position angle east of north), Gaussian components seen through it (a Gaussian convolved with a
//! Gaussian is a Gaussian whose covariance is the sum of the two), their rendering into an image,
//! and the kernel that gives white noise the beam's correlation. Pure math; runs on the generator's
//! `heatscope-sim-N` threads.
//!
//! Pixel coordinates: x is the column (to the right), y the row (downwards), pixel centres at
//! integers. The images are written with north up and east to the left (CDELT1 < 0), so a position
//! angle `pa` (from north through east) points along (-sin pa, -cos pa).

use serde::Serialize;

/// FWHM of a Gaussian in units of its standard deviation: 2 sqrt(2 ln 2).
pub const FWHM_PER_SIGMA: f64 = 2.354_820_045_030_949_3;

/// A symmetric 2x2 covariance (pixels squared).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cov {
    pub xx: f64,
    pub xy: f64,
    pub yy: f64,
}

impl Cov {
    /// The covariance of a Gaussian with FWHM `major` x `minor` pixels at position angle `pa_deg`.
    pub fn from_axes(major: f64, minor: f64, pa_deg: f64) -> Cov {
        let (sa, sb) = (major / FWHM_PER_SIGMA, minor / FWHM_PER_SIGMA);
        let pa = pa_deg.to_radians();
        let (ux, uy) = (-pa.sin(), -pa.cos());
        let (vx, vy) = (-uy, ux);
        Cov {
            xx: sa * sa * ux * ux + sb * sb * vx * vx,
            xy: sa * sa * ux * uy + sb * sb * vx * vy,
            yy: sa * sa * uy * uy + sb * sb * vy * vy,
        }
    }

    pub fn scale(self, k: f64) -> Cov {
        Cov { xx: self.xx * k, xy: self.xy * k, yy: self.yy * k }
    }

    pub fn det(self) -> f64 {
        self.xx * self.yy - self.xy * self.xy
    }

    /// The larger eigenvalue's square root: the widest standard deviation.
    pub fn max_sigma(self) -> f64 {
        let half_trace = 0.5 * (self.xx + self.yy);
        let d = (0.25 * (self.xx - self.yy).powi(2) + self.xy * self.xy).sqrt();
        (half_trace + d).max(0.0).sqrt()
    }

    /// exp(-q/2) of the offset (dx, dy): the Gaussian's shape, 1 at its centre.
    fn shape(self) -> impl Fn(f64, f64) -> f64 {
        let det = self.det().max(1e-12);
        let (a, b, c) = (self.yy / det, -self.xy / det, self.xx / det);
        move |dx: f64, dy: f64| (-0.5 * (a * dx * dx + 2.0 * b * dx * dy + c * dy * dy)).exp()
    }
}

impl std::ops::Add for Cov {
    type Output = Cov;

    fn add(self, o: Cov) -> Cov {
        Cov { xx: self.xx + o.xx, xy: self.xy + o.xy, yy: self.yy + o.yy }
    }
}

/// The restoring beam in pixels: FWHM of the major and minor axes and the position angle.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BeamPx {
    pub major: f64,
    pub minor: f64,
    pub pa_deg: f64,
}

impl BeamPx {
    pub fn cov(self) -> Cov {
        Cov::from_axes(self.major, self.minor, self.pa_deg)
    }

    /// The beam's solid angle in pixels, pi / (4 ln 2) x major x minor: the flux (Jy) of one
    /// beam-shaped source of peak 1 Jy/beam is 1 Jy, and of a pixel of 1 Jy/beam 1 / area Jy.
    pub fn area(self) -> f64 {
        std::f64::consts::PI / (4.0 * std::f64::consts::LN_2) * self.major * self.minor
    }
}

/// One Gaussian component of the sky as the image shows it: its centre, its intrinsic (before
/// the beam) FWHM axes and position angle (0 x 0 for a point source), and its peak brightness after
/// convolution with the beam (Jy/beam).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Gaussian {
    pub x: f64,
    pub y: f64,
    pub major: f64,
    pub minor: f64,
    pub pa_deg: f64,
    pub peak: f64,
}

impl Gaussian {
    pub fn point(x: f64, y: f64, peak: f64) -> Gaussian {
        Gaussian { x, y, major: 0.0, minor: 0.0, pa_deg: 0.0, peak }
    }

    /// Its covariance in the image: intrinsic plus beam.
    pub fn observed_cov(&self, beam: BeamPx) -> Cov {
        Cov::from_axes(self.major, self.minor, self.pa_deg) + beam.cov()
    }

    /// Integrated flux density (Jy): peak x sqrt(det(C + B) / det(B)), the volume of the convolved
    /// Gaussian in units of the beam's.
    pub fn flux(&self, beam: BeamPx) -> f64 {
        self.peak * (self.observed_cov(beam).det() / beam.cov().det()).sqrt()
    }

    /// Add this component, convolved with `beam`, to the `n` x `n` image `img` (out to 5.5 standard
    /// deviations of its widest axis, where it has fallen below 3e-7 of its peak).
    pub fn render(&self, beam: BeamPx, img: &mut [f32], n: usize) {
        let cov = self.observed_cov(beam);
        let shape = cov.shape();
        let reach = 5.5 * cov.max_sigma();
        let lo = |c: f64| ((c - reach).floor().max(0.0)) as usize;
        let hi = |c: f64| ((c + reach).ceil().max(0.0) as usize).min(n.saturating_sub(1));
        if self.x + reach < 0.0 || self.y + reach < 0.0 || n == 0 {
            return;
        }
        for row in lo(self.y)..=hi(self.y) {
            let dy = row as f64 - self.y;
            for col in lo(self.x)..=hi(self.x) {
                let dx = col as f64 - self.x;
                img[row * n + col] += (self.peak * shape(dx, dy)) as f32;
            }
        }
    }
}

/// Render `components` through `beam` into a new `n` x `n` image.
pub fn render_all<'a>(components: impl IntoIterator<Item = &'a Gaussian>, beam: BeamPx, n: usize) -> Vec<f32> {
    let mut img = vec![0f32; n * n];
    for g in components {
        g.render(beam, &mut img, n);
    }
    img
}

/// The kernel that turns white noise into noise correlated like the beam: a Gaussian with half the
/// beam's covariance (so the noise's autocorrelation is beam-shaped), sampled out to 4 standard
/// deviations and scaled to unit sum of squares (unit-variance noise stays unit-variance). Returns
/// the kernel and its radius; the kernel is (2 radius + 1)^2 values, row-major.
pub fn noise_kernel(beam: BeamPx) -> (Vec<f64>, usize) {
    let cov = beam.cov().scale(0.5);
    let shape = cov.shape();
    let radius = (4.0 * cov.max_sigma()).ceil().max(1.0) as usize;
    let side = 2 * radius + 1;
    let r = radius as f64;
    let mut k: Vec<f64> = (0..side * side).map(|i| shape((i % side) as f64 - r, (i / side) as f64 - r)).collect();
    let norm = k.iter().map(|v| v * v).sum::<f64>().sqrt();
    for v in &mut k {
        *v /= norm;
    }
    (k, radius)
}

/// Correlate `n` x `n` noise through `kernel` of `radius`: `white` is the padded field, (n + 2
/// radius)^2 values, row-major.
pub fn correlate(white: &[f64], n: usize, kernel: &[f64], radius: usize) -> Vec<f64> {
    let side = 2 * radius + 1;
    let padded = n + 2 * radius;
    let mut out = vec![0f64; n * n];
    for row in 0..n {
        for col in 0..n {
            let mut acc = 0.0;
            for kr in 0..side {
                let src = &white[(row + kr) * padded + col..(row + kr) * padded + col + side];
                let ker = &kernel[kr * side..(kr + 1) * side];
                acc += src.iter().zip(ker).map(|(a, b)| a * b).sum::<f64>();
            }
            out[row * n + col] = acc;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_source_is_the_beam_and_its_flux_is_its_peak() {
        let beam = BeamPx { major: 5.0, minor: 3.0, pa_deg: 30.0 };
        let g = Gaussian::point(20.0, 20.0, 2.0);
        assert!((g.flux(beam) - 2.0).abs() < 1e-12);
        let img = render_all([&g], beam, 41);
        assert!((img[20 * 41 + 20] - 2.0).abs() < 1e-6);
        // The pixel sum of a beam-shaped source is its flux times the beam area in pixels.
        let sum: f64 = img.iter().map(|&v| f64::from(v)).sum();
        assert!((sum / beam.area() - 2.0).abs() < 1e-3, "{}", sum / beam.area());
        // Half maximum at half the FWHM along the major axis (PA 30 deg: up and to the left).
        let pa = 30f64.to_radians();
        let (x, y) = (20.0 - 2.5 * pa.sin(), 20.0 - 2.5 * pa.cos());
        let shape = g.observed_cov(beam).shape();
        assert!((shape(x - 20.0, y - 20.0) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn resolved_components_add_their_covariance_and_keep_their_flux() {
        let beam = BeamPx { major: 4.0, minor: 4.0, pa_deg: 0.0 };
        let g = Gaussian { x: 30.0, y: 30.0, major: 3.0, minor: 3.0, pa_deg: 0.0, peak: 1.0 };
        let c = g.observed_cov(beam);
        let fwhm = (c.xx.sqrt()) * FWHM_PER_SIGMA;
        assert!((fwhm - 5.0).abs() < 1e-9, "3 and 4 add in quadrature: {fwhm}");
        let sum: f64 = render_all([&g], beam, 61).iter().map(|&v| f64::from(v)).sum();
        assert!((sum / beam.area() - g.flux(beam)).abs() < 1e-3);
        assert!((g.flux(beam) - 25.0 / 16.0).abs() < 1e-12);
    }

    #[test]
    fn the_noise_kernel_keeps_unit_variance_and_beam_correlation() {
        let beam = BeamPx { major: 4.0, minor: 4.0, pa_deg: 0.0 };
        let (k, r) = noise_kernel(beam);
        assert!((k.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12);
        // The autocorrelation of the kernel at lag d is the beam shape at d (to sampling accuracy).
        let side = 2 * r + 1;
        let lag = 2usize;
        let auto: f64 = (0..side * side).filter(|i| i % side + lag < side).map(|i| k[i] * k[i + lag]).sum();
        let beam_shape = beam.cov().shape()(lag as f64, 0.0);
        assert!((auto - beam_shape).abs() < 0.02, "{auto} vs {beam_shape}");
    }
}
