//! Propagation and noise: free-space loss, thermal noise kTB, 3GPP TR 38.901 terrestrial path loss
//! (UMa, UMi street canyon, RMa) with LOS probabilities, and 3GPP TR 38.811 clutter loss for
//! satellite and HAPS paths. Pure functions of geometry and frequency; any thread.
//!
//! Pixel-scale averaging: a heatmap pixel covers hundreds of metres, far more than the LOS-state
//! decorrelation distance (tens of metres in both reports), so a pixel's value is the mean received
//! power over its locations. We therefore mix LOS and NLOS *powers* with the LOS probability
//! ([`mix_los_nlos_db`]) instead of drawing one LOS state per pixel.

/// Speed of light, m/s.
pub const C: f64 = 299_792_458.0;
/// Boltzmann's constant, J/K.
pub const BOLTZMANN: f64 = 1.380_649e-23;
/// Mean Earth radius, m (as used for satellite geometry in TR 38.811).
pub const EARTH_RADIUS_M: f64 = 6_371_000.0;

/// Free-space path loss in dB at distance `d_m` (m) and frequency `f_hz` (Hz): 20 log10(4 pi d f / c).
pub fn fspl_db(d_m: f64, f_hz: f64) -> f64 {
    20.0 * (4.0 * std::f64::consts::PI * d_m * f_hz / C).log10()
}

/// Thermal noise power kTB in dBW for system noise temperature `t_k` (K) and bandwidth `b_hz` (Hz).
pub fn noise_dbw(t_k: f64, b_hz: f64) -> f64 {
    10.0 * (BOLTZMANN * t_k * b_hz).log10()
}

/// Combine two losses (dB) as a power mixture: a share `p_los` of locations sees `los_db`, the rest
/// `nlos_db`; returns the loss of the mean received power.
pub fn mix_los_nlos_db(p_los: f64, los_db: f64, nlos_db: f64) -> f64 {
    let p = p_los.clamp(0.0, 1.0);
    -10.0 * (p * 10f64.powf(-los_db / 10.0) + (1.0 - p) * 10f64.powf(-nlos_db / 10.0)).log10()
}

/// TR 38.901 Table 7.4.1-1 terrestrial scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Terrain {
    /// Urban macro: 25 m masts, dense buildings.
    UMa,
    /// Urban micro, street canyon: 10 m small cells.
    UMi,
    /// Rural macro: 35 m masts, 5 m buildings, 20 m streets.
    RMa,
}

/// Path loss of one terrestrial link, with its parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TerrestrialLoss {
    pub los_db: f64,
    pub nlos_db: f64,
    pub p_los: f64,
    /// Pixel-mean loss (power mixture of LOS and NLOS).
    pub mean_db: f64,
    /// Shadow-fading standard deviation to apply (dB): LOS and NLOS sigmas weighted by `p_los`.
    pub sigma_db: f64,
    /// The LOS shadow-fading sigma alone (dB), for paths known to be LOS (over open water).
    pub los_sigma_db: f64,
}

/// TR 38.901 path loss at 2-D distance `d2d` (m, clamped to >= 10 m, the models' lower bound),
/// base station height `h_bs`, UE height `h_ut`, frequency `f_hz`. Beyond the tables' upper distance
/// (5 km UMa/UMi, 10 km RMa) the formulas are extrapolated unchanged.
pub fn tr38901(terrain: Terrain, d2d: f64, h_bs: f64, h_ut: f64, f_hz: f64) -> TerrestrialLoss {
    let d2d = d2d.max(10.0);
    let d3d = (d2d * d2d + (h_bs - h_ut).powi(2)).sqrt();
    let fc = f_hz / 1e9;
    let (los, nlos, p_los, s_los, s_nlos) = match terrain {
        Terrain::UMa => {
            // Effective heights with h_E = 1 m (UE below 13 m).
            let d_bp = 4.0 * (h_bs - 1.0) * (h_ut - 1.0) * f_hz / C;
            let los = if d2d <= d_bp {
                28.0 + 22.0 * d3d.log10() + 20.0 * fc.log10()
            } else {
                28.0 + 40.0 * d3d.log10() + 20.0 * fc.log10() - 9.0 * (d_bp * d_bp + (h_bs - h_ut).powi(2)).log10()
            };
            let nlos_prime = 13.54 + 39.08 * d3d.log10() + 20.0 * fc.log10() - 0.6 * (h_ut - 1.5);
            let p = if d2d <= 18.0 { 1.0 } else { 18.0 / d2d + (-d2d / 63.0).exp() * (1.0 - 18.0 / d2d) };
            (los, los.max(nlos_prime), p, 4.0, 6.0)
        }
        Terrain::UMi => {
            let d_bp = 4.0 * (h_bs - 1.0) * (h_ut - 1.0) * f_hz / C;
            let los = if d2d <= d_bp {
                32.4 + 21.0 * d3d.log10() + 20.0 * fc.log10()
            } else {
                32.4 + 40.0 * d3d.log10() + 20.0 * fc.log10() - 9.5 * (d_bp * d_bp + (h_bs - h_ut).powi(2)).log10()
            };
            let nlos_prime = 35.3 * d3d.log10() + 22.4 + 21.3 * fc.log10() - 0.3 * (h_ut - 1.5);
            let p = if d2d <= 18.0 { 1.0 } else { 18.0 / d2d + (-d2d / 36.0).exp() * (1.0 - 18.0 / d2d) };
            (los, los.max(nlos_prime), p, 4.0, 7.82)
        }
        Terrain::RMa => {
            let (h, w) = (5.0_f64, 20.0_f64); // average building height, street width
            let d_bp = 2.0 * std::f64::consts::PI * h_bs * h_ut * f_hz / C;
            let pl1 = |d: f64| {
                20.0 * (40.0 * std::f64::consts::PI * d * fc / 3.0).log10()
                    + (0.03 * h.powf(1.72)).min(10.0) * d.log10()
                    - (0.044 * h.powf(1.72)).min(14.77)
                    + 0.002 * h.log10() * d
            };
            let los = if d2d <= d_bp {
                pl1(d3d)
            } else {
                let d3_bp = (d_bp * d_bp + (h_bs - h_ut).powi(2)).sqrt();
                pl1(d3_bp) + 40.0 * (d3d / d3_bp).log10()
            };
            let nlos_prime = 161.04 - 7.1 * w.log10() + 7.5 * h.log10()
                - (24.37 - 3.7 * (h / h_bs).powi(2)) * h_bs.log10()
                + (43.42 - 3.1 * h_bs.log10()) * (d3d.log10() - 3.0)
                + 20.0 * fc.log10()
                - (3.2 * (11.75 * h_ut).log10().powi(2) - 4.97);
            let p = if d2d <= 10.0 { 1.0 } else { (-(d2d - 10.0) / 1000.0).exp() };
            (los, los.max(nlos_prime), p, 6.0, 8.0)
        }
    };
    TerrestrialLoss {
        los_db: los,
        nlos_db: nlos,
        p_los,
        mean_db: mix_los_nlos_db(p_los, los, nlos),
        sigma_db: p_los * s_los + (1.0 - p_los) * s_nlos,
        los_sigma_db: s_los,
    }
}

/// TR 38.811 Section 6.6 environments for satellite and HAPS paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClutterEnv {
    DenseUrban,
    Urban,
    SuburbanRural,
    /// Open water: no clutter, always LOS (our addition; TR 38.811 has no sea class).
    Sea,
}

const ELEVATIONS: [f64; 9] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0];
/// TR 38.811 Table 6.6.1-1, LOS probability (%) by elevation.
const P_LOS_DENSE_URBAN: [f64; 9] = [28.2, 33.1, 39.8, 46.8, 53.7, 61.2, 73.8, 82.0, 98.1];
const P_LOS_URBAN: [f64; 9] = [24.6, 38.6, 49.3, 61.3, 72.6, 80.5, 91.9, 96.8, 99.2];
const P_LOS_SUBURBAN: [f64; 9] = [78.2, 86.9, 91.9, 92.9, 93.5, 94.0, 94.9, 95.2, 99.8];
/// TR 38.811 Tables 6.6.2-1..3, S-band NLOS clutter loss (dB) by elevation (urban = dense urban).
const CL_URBAN_S: [f64; 9] = [34.3, 30.9, 29.0, 27.7, 26.8, 26.2, 25.8, 25.5, 25.5];
const CL_SUBURBAN_S: [f64; 9] = [19.52, 18.17, 18.42, 18.28, 18.63, 17.68, 16.50, 16.30, 16.30];
/// S-band NLOS shadow-fading sigma (dB) of the same tables (urban uses 6 dB).
const SF_NLOS_DENSE_URBAN_S: [f64; 9] = [15.5, 13.9, 12.4, 11.7, 10.6, 10.5, 10.1, 9.2, 9.2];
const SF_NLOS_SUBURBAN_S: [f64; 9] = [8.93, 9.08, 8.78, 10.25, 10.56, 10.74, 10.17, 11.52, 11.52];
const SF_LOS_DENSE_URBAN_S: [f64; 9] = [3.5, 3.4, 2.9, 3.0, 3.1, 2.7, 2.5, 2.3, 1.2];
const SF_LOS_SUBURBAN_S: [f64; 9] = [1.79, 1.14, 1.14, 0.92, 1.42, 1.56, 0.85, 0.72, 0.72];

/// Linear interpolation in a 10-degree elevation table; below 10 degrees the 10-degree row holds.
fn by_elevation(table: &[f64; 9], elev_deg: f64) -> f64 {
    let e = elev_deg.clamp(10.0, 90.0);
    let i = (((e - 10.0) / 10.0).floor() as usize).min(7);
    let t = (e - ELEVATIONS[i]) / 10.0;
    table[i] + t * (table[i + 1] - table[i])
}

/// Clutter on one satellite or HAPS path (S band, 2-4 GHz, the band all our scenarios use).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClutterLoss {
    pub p_los: f64,
    /// NLOS clutter loss from the table (dB).
    pub nlos_db: f64,
    /// Pixel-mean clutter loss: LOS (0 dB) and NLOS mixed in power.
    pub mean_db: f64,
    /// Shadow-fading sigma to apply (dB), LOS and NLOS sigmas weighted by `p_los`.
    pub sigma_db: f64,
}

/// TR 38.811 clutter loss at elevation `elev_deg` in environment `env`.
pub fn tr38811_clutter(env: ClutterEnv, elev_deg: f64) -> ClutterLoss {
    let (p, cl, s_los, s_nlos) = match env {
        ClutterEnv::DenseUrban => (
            by_elevation(&P_LOS_DENSE_URBAN, elev_deg),
            by_elevation(&CL_URBAN_S, elev_deg),
            by_elevation(&SF_LOS_DENSE_URBAN_S, elev_deg),
            by_elevation(&SF_NLOS_DENSE_URBAN_S, elev_deg),
        ),
        ClutterEnv::Urban => (by_elevation(&P_LOS_URBAN, elev_deg), by_elevation(&CL_URBAN_S, elev_deg), 4.0, 6.0),
        ClutterEnv::SuburbanRural => (
            by_elevation(&P_LOS_SUBURBAN, elev_deg),
            by_elevation(&CL_SUBURBAN_S, elev_deg),
            by_elevation(&SF_LOS_SUBURBAN_S, elev_deg),
            by_elevation(&SF_NLOS_SUBURBAN_S, elev_deg),
        ),
        ClutterEnv::Sea => (100.0, 0.0, 0.0, 0.0),
    };
    let p_los = p / 100.0;
    ClutterLoss {
        p_los,
        nlos_db: cl,
        mean_db: mix_los_nlos_db(p_los, 0.0, cl),
        sigma_db: p_los * s_los + (1.0 - p_los) * s_nlos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_loss_matches_textbook_values() {
        // 1 km at 1 GHz: 92.45 dB (the 32.45 + 20log f[MHz] + 20log d[km] rule).
        assert!((fspl_db(1_000.0, 1e9) - 92.45).abs() < 0.01, "{}", fspl_db(1_000.0, 1e9));
        // GEO at 35 786 km, 12 GHz: ~205.1 dB, the usual Ku-band downlink figure.
        assert!((fspl_db(35_786e3, 12e9) - 205.1).abs() < 0.05);
        // Doubling the distance adds 6.02 dB.
        assert!((fspl_db(2_000.0, 2e9) - fspl_db(1_000.0, 2e9) - 6.0206).abs() < 1e-4);
    }

    #[test]
    fn thermal_noise_at_290_kelvin_is_minus_174_dbm_per_hz() {
        assert!((noise_dbw(290.0, 1.0) + 30.0 - (-173.98)).abs() < 0.01);
        // 20 MHz at 290 K: -100.97 dBm.
        assert!((noise_dbw(290.0, 20e6) + 30.0 + 100.97).abs() < 0.01);
    }

    #[test]
    fn uma_los_below_breakpoint_matches_the_formula_by_hand() {
        // d2D = 100 m, hBS 25 m, hUT 1.5 m, 2 GHz: d3D = 102.73 m; dBP' = 4*24*0.5*2e9/c = 320 m.
        let l = tr38901(Terrain::UMa, 100.0, 25.0, 1.5, 2e9);
        let d3 = (100f64.powi(2) + 23.5f64.powi(2)).sqrt();
        let by_hand = 28.0 + 22.0 * d3.log10() + 20.0 * 2f64.log10();
        assert!((l.los_db - by_hand).abs() < 1e-9);
        assert!((l.los_db - 78.27).abs() < 0.01, "{}", l.los_db);
        assert!(l.nlos_db >= l.los_db && l.p_los > 0.0 && l.p_los < 1.0);
        assert!(l.mean_db > l.los_db && l.mean_db < l.nlos_db);
    }

    #[test]
    fn path_loss_grows_with_distance_in_every_terrain() {
        for t in [Terrain::UMa, Terrain::UMi, Terrain::RMa] {
            let (h_bs, f) = match t {
                Terrain::UMa => (25.0, 2e9),
                Terrain::UMi => (10.0, 2e9),
                Terrain::RMa => (35.0, 0.9e9),
            };
            let mut last = 0.0;
            for d in [20.0, 50.0, 200.0, 800.0, 3_000.0, 9_000.0] {
                let l = tr38901(t, d, h_bs, 1.5, f);
                assert!(l.mean_db > last, "{t:?} at {d} m");
                assert!(l.los_db.is_finite() && l.nlos_db.is_finite());
                last = l.mean_db;
            }
        }
    }

    #[test]
    fn clutter_tables_interpolate_between_rows() {
        let c = tr38811_clutter(ClutterEnv::Urban, 35.0);
        assert!((c.nlos_db - (29.0 + 27.7) / 2.0).abs() < 1e-9);
        assert!((c.p_los - (0.493 + 0.613) / 2.0).abs() < 1e-9);
        let zenith = tr38811_clutter(ClutterEnv::SuburbanRural, 90.0);
        assert!(zenith.mean_db < 0.1);
        assert_eq!(tr38811_clutter(ClutterEnv::Sea, 20.0).mean_db, 0.0);
        // Lower elevation, more clutter.
        assert!(
            tr38811_clutter(ClutterEnv::DenseUrban, 15.0).mean_db
                > tr38811_clutter(ClutterEnv::DenseUrban, 60.0).mean_db
        );
    }

    #[test]
    fn mixing_equal_losses_changes_nothing() {
        assert!((mix_los_nlos_db(0.3, 100.0, 100.0) - 100.0).abs() < 1e-9);
        assert!((mix_los_nlos_db(0.5, 0.0, 300.0) - 3.0103).abs() < 1e-3);
    }
}
