//! Celestial coordinates of radio images: the FITS world coordinate system for the projections
//! radio surveys use (TAN, SIN and the older NCP), following Calabretta & Greisen (2002) and, for
//! NCP, Greisen's AIPS memo 27. Pure math; any thread.

/// Sky projections heatscope converts; other CTYPEs get no coordinates (never wrong ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projection {
    Tan,
    Sin,
    /// North-celestial-pole projection: SIN with xi = 0, eta = cot(dec0).
    Ncp,
}

/// A linear pixel -> intermediate map (CRPIX and the CD matrix in degrees per pixel) plus the
/// projection about CRVAL (RA, Dec in degrees).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CelestialWcs {
    pub crpix: [f64; 2],
    pub crval: [f64; 2],
    /// [CD1_1, CD1_2, CD2_1, CD2_2].
    pub cd: [f64; 4],
    pub projection: Projection,
    /// Image height in pixels: the raster's row 0 is FITS row `height` (FITS rows count upwards).
    pub height: usize,
}

impl CelestialWcs {
    /// (RA, Dec) in degrees of the FITS pixel position (1-based `p1`, `p2`), or None off the sphere.
    pub fn world_fits(&self, p1: f64, p2: f64) -> Option<(f64, f64)> {
        let (u, v) = (p1 - self.crpix[0], p2 - self.crpix[1]);
        let c = &self.cd;
        let x = (c[0] * u + c[1] * v).to_radians();
        let y = (c[2] * u + c[3] * v).to_radians();
        let (a0, d0) = (self.crval[0].to_radians(), self.crval[1].to_radians());
        let (ra, dec) = match self.projection {
            Projection::Ncp => {
                let dect = d0.cos() - y * d0.sin();
                let ra = a0 + x.atan2(dect);
                let arg = (dect / (ra - a0).cos()).clamp(-1.0, 1.0);
                (ra, d0.signum() * arg.acos())
            }
            Projection::Tan | Projection::Sin => {
                let r = x.hypot(y);
                let theta = match self.projection {
                    Projection::Tan => (1.0 / r).atan(),
                    _ if r > 1.0 => return None,
                    _ => r.acos(),
                };
                let phi = x.atan2(-y);
                // Native pole at (phi_p = 180 deg); rotate native (phi, theta) to (ra, dec).
                let dphi = phi - std::f64::consts::PI;
                let dec = (theta.sin() * d0.sin() + theta.cos() * d0.cos() * dphi.cos()).clamp(-1.0, 1.0).asin();
                let ra = a0
                    + (-theta.cos() * dphi.sin()).atan2(theta.sin() * d0.cos() - theta.cos() * d0.sin() * dphi.cos());
                (ra, dec)
            }
        };
        let ra = ra.to_degrees().rem_euclid(360.0);
        let dec = dec.to_degrees();
        (ra.is_finite() && dec.is_finite()).then_some((ra, dec))
    }

    /// (RA, Dec) in degrees of the centre of raster pixel (`col`, `row`), row 0 at the top.
    pub fn world(&self, col: f64, row: f64) -> Option<(f64, f64)> {
        self.world_fits(col + 1.0, self.height as f64 - row)
    }
}

/// "17:09:39.04 -43:05:10.3": RA in hours, Dec in degrees, sexagesimal.
pub fn sexagesimal(ra_deg: f64, dec_deg: f64) -> String {
    let split = |v: f64, decimals: usize| {
        let total = v.abs();
        let d = total.trunc();
        let m = ((total - d) * 60.0).trunc();
        let s = (total - d - m / 60.0) * 3600.0;
        // Round the seconds first so 59.999 never prints as 60.00.
        let s = format!("{s:0w$.decimals$}", w = decimals + 3);
        (d, m, s)
    };
    let (h, m, s) = split(ra_deg / 15.0, 2);
    let (d, dm, ds) = split(dec_deg, 1);
    let sign = if dec_deg < 0.0 { '-' } else { '+' };
    format!("{h:02}:{m:02}:{s} {sign}{d:02}:{dm:02}:{ds}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of the real ATCA Scorpio files (NCP about RA 255.45, Dec -41.86).
    fn scorpio() -> CelestialWcs {
        CelestialWcs {
            crpix: [3428.0, 3847.0],
            crval: [255.449637133, -41.8624876175],
            cd: [-0.000416666682546, 0.0, 0.0, 0.000416666682546],
            projection: Projection::Ncp,
            height: 1000,
        }
    }

    #[test]
    fn ncp_matches_astropy() {
        // astropy 8.0.2: WCS(header, naxis=2).all_pix2world([p], 1) on caesar_ScorpioS17Field.fits.
        let cases = [
            ((1.0, 1.0), (257.41546605, -43.40528462)),
            ((500.0, 500.0), (257.12382213, -43.21273035)),
            ((1000.0, 1000.0), (256.83344586, -43.01751625)),
            ((1.0, 1000.0), (257.40243698, -42.99974993)),
            ((250.5, 800.0), (257.26276938, -43.08618795)),
        ];
        for ((p1, p2), (ra, dec)) in cases {
            let (r, d) = scorpio().world_fits(p1, p2).expect("on the sphere");
            assert!((r - ra).abs() < 1e-7 && (d - dec).abs() < 1e-7, "({p1}, {p2}): {r} {d} vs {ra} {dec}");
        }
        // Raster row 0 is the top: FITS (1, 1000).
        let (r, d) = scorpio().world(0.0, 0.0).expect("on the sphere");
        assert!((r - 257.40243698).abs() < 1e-7 && (d + 42.99974993).abs() < 1e-7);
    }

    #[test]
    fn tan_and_sin_give_crval_at_the_reference_pixel_and_agree_near_it() {
        for projection in [Projection::Tan, Projection::Sin, Projection::Ncp] {
            let w = CelestialWcs { projection, ..scorpio() };
            let (r, d) = w.world_fits(3428.0, 3847.0).expect("reference pixel");
            assert!((r - 255.449637133).abs() < 1e-9 && (d + 41.8624876175).abs() < 1e-9, "{projection:?}");
        }
        // A few pixels from the reference the projections differ by far less than a pixel.
        let tan = CelestialWcs { projection: Projection::Tan, ..scorpio() }.world_fits(3438.0, 3857.0).expect("tan");
        let sin = CelestialWcs { projection: Projection::Sin, ..scorpio() }.world_fits(3438.0, 3857.0).expect("sin");
        assert!((tan.0 - sin.0).abs() < 1e-8 && (tan.1 - sin.1).abs() < 1e-8);
    }

    #[test]
    fn sexagesimal_text() {
        assert_eq!(sexagesimal(257.41546605, -43.40528462), "17:09:39.71 -43:24:19.0");
        assert_eq!(sexagesimal(0.0, 5.5), "00:00:00.00 +05:30:00.0");
    }
}
