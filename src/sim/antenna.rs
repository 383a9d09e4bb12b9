//! Antenna gain patterns: the ITU-R S.1528 (recommends 1.1) non-GSO satellite pattern we also use for
//! GEO and HAPS spot beams, the 3GPP macro sector pattern (TR 36.814 Table A.2.1.1-2, the form TR
//! 38.901 7.3 uses), and the victim receivers' patterns. Pure functions; any thread. Angles in degrees.

use serde::Serialize;

/// ITU-R S.1528 recommends 1.1 for a circular beam (z = 1), near-in side lobes `ls_db` below the peak,
/// far side-lobe level 0 dBi, main-lobe exponent 2 (continuous with the side-lobe floor for Ls = -20).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpotBeam {
    /// Peak gain, dBi.
    pub peak_dbi: f64,
    /// Half the 3 dB beamwidth, degrees.
    pub half_3db_deg: f64,
    /// Near-in side-lobe level relative to the peak, dB (-20 for S.1528's usual case).
    pub ls_db: f64,
}

impl SpotBeam {
    const A: f64 = 2.58;
    const B: f64 = 6.32;
    const FAR_DBI: f64 = 0.0;

    /// Off-axis angle (deg) where the main lobe ends and the side lobes begin.
    pub fn main_lobe_edge_deg(&self) -> f64 {
        Self::A * self.half_3db_deg
    }

    /// Gain (dBi) at off-axis angle `psi_deg` (0-180).
    pub fn gain_dbi(&self, psi_deg: f64) -> f64 {
        let psi = psi_deg.abs();
        let (gm, ls, pb) = (self.peak_dbi, self.ls_db, self.half_3db_deg);
        let y = Self::B * pb * 10f64.powf(0.04 * (gm + ls - Self::FAR_DBI));
        if psi <= Self::A * pb {
            gm - 3.0 * (psi / pb).powi(2)
        } else if psi <= Self::B * pb {
            gm + ls
        } else if psi <= y {
            gm + ls + 25.0 * (Self::B * pb).log10() - 25.0 * psi.log10()
        } else if psi <= 90.0 {
            Self::FAR_DBI
        } else {
            (15.0 + ls + 0.25 * gm).max(0.0)
        }
    }
}

/// 3GPP macro sector antenna: 3 dB widths 70 deg horizontal, 10 deg vertical, front-to-back 25 dB,
/// vertical side-lobe floor 20 dB, electrical downtilt `tilt_deg`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sector {
    pub peak_dbi: f64,
    /// Boresight azimuth, degrees (0 = +x / east, counter-clockwise).
    pub azimuth_deg: f64,
    pub tilt_deg: f64,
}

impl Sector {
    const H_3DB: f64 = 70.0;
    const V_3DB: f64 = 10.0;
    const AM: f64 = 25.0;
    const SLA_V: f64 = 20.0;

    /// Gain (dBi) toward a point at azimuth `az_deg` seen `below_horizon_deg` below the horizon.
    pub fn gain_dbi(&self, az_deg: f64, below_horizon_deg: f64) -> f64 {
        let phi = wrap_deg(az_deg - self.azimuth_deg);
        let a_h = -(12.0 * (phi / Self::H_3DB).powi(2)).min(Self::AM);
        let a_v = -(12.0 * ((below_horizon_deg - self.tilt_deg) / Self::V_3DB).powi(2)).min(Self::SLA_V);
        self.peak_dbi - (-(a_h + a_v)).min(Self::AM)
    }
}

/// Wrap an angle difference into (-180, 180].
pub fn wrap_deg(a: f64) -> f64 {
    let mut x = a % 360.0;
    if x > 180.0 {
        x -= 360.0;
    } else if x <= -180.0 {
        x += 360.0;
    }
    x
}

/// The victim receiver's antenna, assumed omnidirectional in azimuth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum VictimAntenna {
    /// Isotropic-like handset or vehicle antenna.
    Omni { gain_dbi: f64 },
    /// Rooftop terminal pointing at the horizon with a TR 38.901 element-style vertical pattern:
    /// G(e) = peak - min(12 (e / width)^2, floor), e = elevation of the arriving signal.
    Horizon { peak_dbi: f64, v_3db_deg: f64, floor_db: f64 },
}

impl VictimAntenna {
    /// Gain (dBi) toward a signal arriving at elevation `elev_deg` (negative: from below).
    pub fn gain_dbi(&self, elev_deg: f64) -> f64 {
        match *self {
            VictimAntenna::Omni { gain_dbi } => gain_dbi,
            VictimAntenna::Horizon { peak_dbi, v_3db_deg, floor_db } => {
                peak_dbi - (12.0 * (elev_deg / v_3db_deg).powi(2)).min(floor_db)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spot_beam_is_3_db_down_at_half_its_3_db_width() {
        let b = SpotBeam { peak_dbi: 40.0, half_3db_deg: 1.2, ls_db: -20.0 };
        assert!((b.gain_dbi(0.0) - 40.0).abs() < 1e-12);
        assert!((b.gain_dbi(1.2) - 37.0).abs() < 1e-12);
        assert!((b.gain_dbi(-1.2) - 37.0).abs() < 1e-12);
        // The main lobe meets the near-in side-lobe floor (Ls = -20 dB) within 0.05 dB.
        let edge = b.main_lobe_edge_deg();
        assert!((b.gain_dbi(edge) - 20.0).abs() < 0.05);
        assert!((b.gain_dbi(edge + 1e-6) - 20.0).abs() < 1e-9);
        // Far out: 0 dBi; never rises again with angle.
        assert_eq!(b.gain_dbi(80.0), 0.0);
        let mut last = f64::INFINITY;
        for i in 0..900 {
            let g = b.gain_dbi(i as f64 * 0.1);
            assert!(g <= last + 1e-9, "gain rises at {} deg", i as f64 * 0.1);
            last = g;
        }
    }

    #[test]
    fn sector_pattern_has_its_3gpp_widths() {
        let s = Sector { peak_dbi: 14.0, azimuth_deg: 30.0, tilt_deg: 6.0 };
        assert!((s.gain_dbi(30.0, 6.0) - 14.0).abs() < 1e-12);
        assert!((s.gain_dbi(65.0, 6.0) - 11.0).abs() < 1e-12); // 35 deg = half of 70 -> -3 dB
        assert!((s.gain_dbi(30.0, 11.0) - 11.0).abs() < 1e-12); // 5 deg = half of 10 -> -3 dB
        assert!((s.gain_dbi(210.0, 6.0) - (14.0 - 25.0)).abs() < 1e-12); // back lobe
        assert!((s.gain_dbi(30.0 + 360.0, 6.0) - 14.0).abs() < 1e-9);
    }

    #[test]
    fn victim_patterns() {
        let h = VictimAntenna::Horizon { peak_dbi: 5.0, v_3db_deg: 65.0, floor_db: 30.0 };
        assert!((h.gain_dbi(0.0) - 5.0).abs() < 1e-12);
        assert!((h.gain_dbi(32.5) - 2.0).abs() < 1e-12);
        assert_eq!(VictimAntenna::Omni { gain_dbi: 0.0 }.gain_dbi(70.0), 0.0);
    }
}
