//! The true I/N field of one scene: every interferer's power at every pixel's victim receiver,
//! summed in watts and divided by the receiver's kTB. Also keeps how much of the power comes from a
//! platform's main lobes, its side lobes and terrestrial cells (the L4 answers' evidence). Any thread.
//!
//! Pixel (row r, col c) is the point x = (c + 0.5) A / n - A / 2 east, y = A / 2 - (r + 0.5) A / n
//! north of the scene centre (row 0 is north). Platform geometry uses a spherical Earth; terrestrial
//! paths are flat (their ranges are tens of km at most).

use serde::Serialize;

use super::grf::correlated_field;
use super::propagation::{ClutterEnv, EARTH_RADIUS_M, fspl_db, noise_dbw, tr38811_clutter, tr38901};
use super::rng::Rng;
use super::scenario::{Layout, Platform, Scenario, Site, SiteAntenna};

/// Shadow-fading decorrelation distance (m), TR 38.901's 37-50 m.
pub const SHADOW_CORR_M: f64 = 50.0;

/// Standard deviation of a pixel's mean shadowing relative to the point value: a pixel of side `p`
/// averages about (p / d)^2 independent shadowing patches of side d, so sigma shrinks by d / p.
pub fn pixel_sigma_factor(pixel_m: f64) -> f64 {
    (SHADOW_CORR_M / pixel_m).min(1.0)
}

/// How to compute a truth field.
#[derive(Debug, Clone, Copy)]
pub struct TruthOptions {
    /// Apply log-normal shadow fading (off only in tests that check the mean path by hand).
    pub shadowing: bool,
    /// Scale of the TR 38.811 clutter loss on satellite and HAPS paths (1 in the benchmark; the
    /// physics variants use others).
    pub clutter_scale: f64,
    /// Scale of every shadow-fading sigma (1 in the benchmark).
    pub shadow_scale: f64,
    /// Terrain-like obstruction (physics variants only): extra loss of up to about `db` x 2 dB where
    /// a correlated field with 1/e distance `corr_m` is positive (hills), full on terrestrial paths and
    /// falling with elevation on sky paths.
    pub obstruction: Option<Obstruction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Obstruction {
    pub db: f64,
    pub corr_m: f64,
}

impl Default for TruthOptions {
    fn default() -> Self {
        TruthOptions { shadowing: true, clutter_scale: 1.0, shadow_scale: 1.0, obstruction: None }
    }
}

/// The true field and where its power comes from.
#[derive(Debug, Clone)]
pub struct Truth {
    pub size: usize,
    /// I/N in dB, row-major, row 0 north.
    pub in_db: Vec<f32>,
    /// Linear I/N contributed by platform main lobes, platform side lobes and terrestrial cells.
    pub parts: [Vec<f32>; 3],
    /// Land mask (true = land); all land when the scenario has no coast.
    pub land: Vec<bool>,
    pub noise_dbw: f64,
    pub pixel_m: f64,
}

/// Source categories of [`Truth::parts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SourcePart {
    MainLobe = 0,
    SideLobe = 1,
    Terrestrial = 2,
}

/// Ground position (m east, m north of the centre) of pixel (r, c).
pub fn pixel_xy(size: usize, area_m: f64, r: usize, c: usize) -> (f64, f64) {
    let px = area_m / size as f64;
    ((c as f64 + 0.5) * px - area_m / 2.0, area_m / 2.0 - (r as f64 + 0.5) * px)
}

/// Earth-centred position of a ground offset (x east, y north of the scene centre, metres along the
/// surface) at height `h` above the sphere; the scene centre is at (R, 0, 0).
pub fn earth_point(x: f64, y: f64, h: f64) -> [f64; 3] {
    let (lat, lon) = (y / EARTH_RADIUS_M, x / EARTH_RADIUS_M);
    let r = EARTH_RADIUS_M + h;
    [r * lat.cos() * lon.cos(), r * lat.cos() * lon.sin(), r * lat.sin()]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// Angle between two vectors, degrees (robust near 0).
pub fn angle_deg(a: [f64; 3], b: [f64; 3]) -> f64 {
    let cross = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    norm(cross).atan2(dot(a, b)).to_degrees()
}

/// Geometry of a platform seen from a ground point.
#[derive(Debug, Clone, Copy)]
pub struct SkyPath {
    pub slant_m: f64,
    pub elevation_deg: f64,
}

pub fn sky_path(platform: &Platform, x: f64, y: f64, victim_h: f64) -> SkyPath {
    let p = earth_point(x, y, victim_h);
    let s = earth_point(platform.sub_x_m, platform.sub_y_m, platform.altitude_m);
    let to_sat = sub(s, p);
    let slant = norm(to_sat);
    let up = dot(to_sat, p) / (slant * norm(p));
    SkyPath { slant_m: slant, elevation_deg: up.clamp(-1.0, 1.0).asin().to_degrees() }
}

/// Off-axis angle (deg) at the platform between a beam's aim point and ground point (x, y).
pub fn off_axis_deg(platform: &Platform, aim: (f64, f64), x: f64, y: f64, victim_h: f64) -> f64 {
    let s = earth_point(platform.sub_x_m, platform.sub_y_m, platform.altitude_m);
    angle_deg(sub(earth_point(x, y, victim_h), s), sub(earth_point(aim.0, aim.1, 0.0), s))
}

/// Mean (shadowing-free) interference from one site at ground point (x, y), dBW, and the shadowing
/// sigma that applies there.
pub fn site_interference_dbw(
    site: &Site,
    x: f64,
    y: f64,
    victim_h: f64,
    land: bool,
    params: &super::scenario::ScenarioParams,
) -> (f64, f64) {
    let d2d = (x - site.x_m).hypot(y - site.y_m).max(10.0);
    let loss = tr38901(site.terrain, d2d, site.height_m, victim_h, params.freq_hz);
    // Over open water the path is line of sight.
    let (pl, sigma) = if land { (loss.mean_db, loss.sigma_db) } else { (loss.los_db, loss.los_sigma_db) };
    let below = ((site.height_m - victim_h) / d2d).atan().to_degrees();
    let az = (y - site.y_m).atan2(x - site.x_m).to_degrees();
    let tx_gain_lin: f64 = match &site.antenna {
        SiteAntenna::Sectors { sectors } => sectors.iter().map(|s| 10f64.powf(s.gain_dbi(az, below) / 10.0)).sum(),
        SiteAntenna::Omni { gain_dbi } => 10f64.powf(gain_dbi / 10.0),
    };
    let bw_db = 10.0 * (params.victim.bandwidth_hz / 1e6).log10();
    let rx = params.victim.antenna.gain_dbi(below);
    (site.psd_dbw_per_mhz + bw_db + 10.0 * tx_gain_lin.log10() - pl + rx, sigma)
}

/// Compute the true I/N field of a scene at `size` x `size` pixels.
pub fn compute_truth(scenario: Scenario, layout: &Layout, size: usize, opts: TruthOptions, rng: &mut Rng) -> Truth {
    let params = scenario.params();
    let n = size * size;
    let pixel_m = params.area_m / size as f64;
    let victim_h = params.victim.height_m;
    // Channel isolation acts like extra noise-referred loss on every interferer.
    let noise = noise_dbw(params.victim.noise_temp_k, params.victim.bandwidth_hz);
    let floor = noise + layout.channel_isolation_db;
    let bw_db = 10.0 * (params.victim.bandwidth_hz / 1e6).log10();
    let corr_px = SHADOW_CORR_M.max(pixel_m) / pixel_m;
    let sigma_factor = pixel_sigma_factor(pixel_m) * opts.shadow_scale;
    // One shadowing field per platform and per site, drawn in a fixed order.
    let unit_field = |rng: &mut Rng| {
        if opts.shadowing { correlated_field(size, corr_px, rng) } else { vec![0f32; n] }
    };
    let platform_sf = unit_field(rng);
    let site_sf: Vec<Vec<f32>> = layout.sites.iter().map(|_| unit_field(rng)).collect();
    // Drawn after the benchmark's fields, so scenes without it are unchanged.
    let hills: Option<Vec<f32>> = opts.obstruction.map(|o| {
        let f = correlated_field(size, o.corr_m.max(pixel_m) / pixel_m, rng);
        f.into_iter().map(|v| (o.db * f64::from(v).max(0.0)) as f32).collect()
    });

    let mut land = vec![true; n];
    let mut parts = [vec![0f32; n], vec![0f32; n], vec![0f32; n]];
    let platform = &layout.platform;
    for r in 0..size {
        for c in 0..size {
            let i = r * size + c;
            let (x, y) = pixel_xy(size, params.area_m, r, c);
            let env = layout.clutter_env(scenario, x, y);
            land[i] = env != ClutterEnv::Sea;
            // Platform beams share one path (same slant range, clutter and shadowing).
            let sky = sky_path(platform, x, y, victim_h);
            if sky.elevation_deg > 0.0 {
                let clutter = tr38811_clutter(env, sky.elevation_deg);
                let hill = hills.as_ref().map_or(0.0, |h| f64::from(h[i]) * (1.0 - sky.elevation_deg / 90.0));
                let path = fspl_db(sky.slant_m, params.freq_hz) + opts.clutter_scale * clutter.mean_db + hill
                    - sigma_factor * clutter.sigma_db * f64::from(platform_sf[i]);
                let rx = params.victim.antenna.gain_dbi(sky.elevation_deg);
                for beam in &platform.beams {
                    let psi = off_axis_deg(platform, (beam.aim_x_m, beam.aim_y_m), x, y, victim_h);
                    let gain = beam.antenna.gain_dbi(psi) - beam.antenna.peak_dbi;
                    let i_dbw = beam.eirp_dbw_per_mhz + gain + bw_db - path + rx;
                    let part = if psi <= beam.antenna.main_lobe_edge_deg() { 0 } else { 1 };
                    parts[part][i] += 10f64.powf((i_dbw - floor) / 10.0) as f32;
                }
            }
            for (site, sf) in layout.sites.iter().zip(&site_sf) {
                let (i_dbw, sigma) = site_interference_dbw(site, x, y, victim_h, land[i], &params);
                let hill = hills.as_ref().map_or(0.0, |h| f64::from(h[i]));
                let i_dbw = i_dbw + sigma_factor * sigma * f64::from(sf[i]) - hill;
                parts[2][i] += 10f64.powf((i_dbw - floor) / 10.0) as f32;
            }
        }
    }
    let in_db = (0..n)
        .map(|i| {
            let total = f64::from(parts[0][i]) + f64::from(parts[1][i]) + f64::from(parts[2][i]);
            (10.0 * total.max(1e-30).log10()) as f32
        })
        .collect();
    Truth { size, in_db, parts, land, noise_dbw: noise, pixel_m }
}
