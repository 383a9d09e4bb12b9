//! The observation model: the map an engineer would actually have. A measurement campaign samples
//! the true I/N at a limited number of points, each reading disturbed by shadowing the planning model
//! does not know about and by instrument noise, clipped to the instrument's range; the readings are
//! interpolated onto the grid (inverse-distance weighting of the nearest readings, in dB) and
//! quantized. Models see only this. Parameters are frozen per scenario (docs/spectrumqa-sim.md);
//! the sampling patterns and interpolators other than scattered points and IDW exist for the
//! training and stress variants (`super::variants`), never for the benchmark. Any thread.

use serde::Serialize;

use super::field::{Truth, pixel_xy};
use super::grf::correlated_field;
use super::rng::Rng;
use super::scenario::{Layout, Scenario};

/// Frozen observation parameters of one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ObservationModel {
    /// Measurement points per scene (independent of the grid size).
    pub points: usize,
    /// Share of points taken at sea (coastal scenario; ship-borne readings), the rest on land.
    pub sea_share: f64,
    /// Instrument noise per reading, dB (Gaussian).
    pub meas_sigma_db: f64,
    /// Calibration error of the whole campaign, dB (one Gaussian offset per scene).
    pub bias_sigma_db: f64,
    /// Unmodelled shadowing, dB (Gaussian field), and its correlation distance, m.
    pub unmodelled_sigma_db: f64,
    pub unmodelled_corr_m: f64,
    /// Instrument range, dB: readings are clipped into [floor, ceiling].
    pub floor_db: f64,
    pub ceiling_db: f64,
    /// Reported resolution, dB.
    pub quant_db: f64,
    /// Interpolation: the `k` nearest readings, weights 1 / d^`power`.
    pub k: usize,
    pub power: f64,
    /// Where the readings are taken (variants only; the benchmark scatters them).
    #[serde(skip_serializing_if = "Sampling::is_scattered")]
    pub sampling: Sampling,
    /// How readings become a grid (variants only; the benchmark uses IDW).
    #[serde(skip_serializing_if = "Interpolation::is_idw")]
    pub interpolation: Interpolation,
}

/// Where a campaign takes its readings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Sampling {
    /// Uniformly over the scene (land/sea shares respected).
    #[default]
    Scattered,
    /// Along `roads` straight roads crossing the scene, each reading within `spread_px` (standard
    /// deviation) of its road: a drive test.
    Roads { roads: usize, spread_px: f64 },
}

impl Sampling {
    fn is_scattered(&self) -> bool {
        *self == Sampling::Scattered
    }
}

/// How the readings are turned into a grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Interpolation {
    /// Inverse-distance weighting of the `k` nearest readings, power `power`.
    #[default]
    Idw,
    /// The nearest reading (Voronoi cells).
    Nearest,
    /// Linear on the Delaunay triangulation of the readings; the nearest reading outside their hull.
    Linear,
    /// Gaussian-kernel weighted mean of all readings with length `length_px`: the smooth surface a
    /// kriging-like mapper draws.
    Smooth { length_px: f64 },
}

impl Interpolation {
    fn is_idw(&self) -> bool {
        *self == Interpolation::Idw
    }
}

impl ObservationModel {
    pub fn for_scenario(s: Scenario) -> ObservationModel {
        let base = ObservationModel {
            points: 90,
            sea_share: 0.0,
            meas_sigma_db: 2.0,
            bias_sigma_db: 2.0,
            unmodelled_sigma_db: 4.0,
            unmodelled_corr_m: 2_000.0,
            floor_db: -20.0,
            ceiling_db: 20.0,
            quant_db: 1.0,
            k: 6,
            power: 2.0,
            sampling: Sampling::Scattered,
            interpolation: Interpolation::Idw,
        };
        match s {
            // Dense drive-test coverage in a city.
            Scenario::LeoUrban => ObservationModel { points: 60, ..base },
            // Few roads: sparse readings over 100 km, smoother unmodelled terrain effects.
            Scenario::GeoRural => ObservationModel { points: 40, unmodelled_corr_m: 6_000.0, ..base },
            // Readings mostly on land, some from ships.
            Scenario::HapsCoastal => ObservationModel { points: 50, sea_share: 0.15, ..base },
        }
    }
}

/// What a campaign measured and the grid made from it.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Observed I/N grid, dB, quantized; same layout as the truth.
    pub in_db: Vec<f32>,
    /// The readings as (row, col, dB) in pixel coordinates.
    pub readings: Vec<(f32, f32, f32)>,
}

/// Draw a measurement campaign over `truth` and interpolate it onto the grid.
pub fn observe(
    scenario: Scenario,
    layout: &Layout,
    truth: &Truth,
    model: &ObservationModel,
    rng: &mut Rng,
) -> Observation {
    let size = truth.size;
    let params = scenario.params();
    let unmodelled = correlated_field(size, model.unmodelled_corr_m / truth.pixel_m, rng);
    let bias = model.bias_sigma_db * rng.normal();
    let mut readings = Vec::with_capacity(model.points);
    let mut tries = 0;
    let roads = match model.sampling {
        Sampling::Scattered => Vec::new(),
        Sampling::Roads { roads, .. } => (0..roads.max(1)).map(|_| random_line(size, rng)).collect(),
    };
    while readings.len() < model.points && tries < model.points * 50 {
        tries += 1;
        let (rf, cf) = match model.sampling {
            Sampling::Scattered => (rng.range(0.0, size as f64), rng.range(0.0, size as f64)),
            Sampling::Roads { spread_px, .. } => {
                let (r0, c0, dr, dc) = roads[rng.below(roads.len())];
                let (t, off) = (rng.range(-(size as f64), size as f64), spread_px * rng.normal());
                (r0 + t * dr - off * dc, c0 + t * dc + off * dr)
            }
        };
        if !(0.0..size as f64).contains(&rf) || !(0.0..size as f64).contains(&cf) {
            continue;
        }
        let (r, c) = ((rf as usize).min(size - 1), (cf as usize).min(size - 1));
        if layout.coast.is_some() {
            let want_sea = rng.chance(model.sea_share);
            let (x, y) = pixel_xy(size, params.area_m, r, c);
            let is_land = layout.coast.as_ref().is_none_or(|co| co.is_land(x, y));
            if is_land == want_sea {
                continue;
            }
        }
        let i = r * size + c;
        let v = f64::from(truth.in_db[i])
            + bias
            + model.unmodelled_sigma_db * f64::from(unmodelled[i])
            + model.meas_sigma_db * rng.normal();
        readings.push((rf as f32, cf as f32, v.clamp(model.floor_db, model.ceiling_db) as f32));
    }
    let gridded = match model.interpolation {
        Interpolation::Idw => interpolate(size, &readings, model),
        Interpolation::Nearest => interpolate(size, &readings, &ObservationModel { k: 1, ..*model }),
        Interpolation::Linear => super::triangulate::linear(size, &readings, model.floor_db),
        Interpolation::Smooth { length_px } => smooth(size, &readings, length_px, model.floor_db),
    };
    let in_db = gridded
        .into_iter()
        .map(|v| ((v / model.quant_db).round() * model.quant_db).clamp(model.floor_db, model.ceiling_db) as f32)
        .collect();
    Observation { in_db, readings }
}

/// A straight road through the scene: a point on it (row, col) and its unit direction.
fn random_line(size: usize, rng: &mut Rng) -> (f64, f64, f64, f64) {
    let angle = rng.range(0.0, std::f64::consts::PI);
    (rng.range(0.0, size as f64), rng.range(0.0, size as f64), angle.sin(), angle.cos())
}

/// Gaussian-kernel weighted mean of all readings at every pixel centre (weights relative to the
/// nearest reading's, so they never all underflow far from the readings).
fn smooth(size: usize, readings: &[(f32, f32, f32)], length_px: f64, empty: f64) -> Vec<f64> {
    if readings.is_empty() {
        return vec![empty; size * size];
    }
    let two_l2 = 2.0 * length_px.max(0.5).powi(2);
    let mut d2s = vec![0.0f64; readings.len()];
    let mut out = Vec::with_capacity(size * size);
    for r in 0..size {
        for c in 0..size {
            let (pr, pc) = (r as f64 + 0.5, c as f64 + 0.5);
            for (d, &(rr, cc, _)) in d2s.iter_mut().zip(readings) {
                *d = (f64::from(rr) - pr).powi(2) + (f64::from(cc) - pc).powi(2);
            }
            let nearest = d2s.iter().copied().fold(f64::INFINITY, f64::min);
            let (mut wsum, mut vsum) = (0.0, 0.0);
            for (&d, &(_, _, v)) in d2s.iter().zip(readings) {
                let w = (-(d - nearest) / two_l2).exp();
                wsum += w;
                vsum += w * f64::from(v);
            }
            out.push(vsum / wsum);
        }
    }
    out
}

/// Inverse-distance weighting of the `k` nearest readings at every pixel centre.
fn interpolate(size: usize, readings: &[(f32, f32, f32)], model: &ObservationModel) -> Vec<f64> {
    let k = model.k.max(1).min(readings.len().max(1));
    let mut out = vec![model.floor_db; size * size];
    if readings.is_empty() {
        return out;
    }
    let mut nearest: Vec<(f64, f64)> = Vec::with_capacity(k + 1);
    for r in 0..size {
        for c in 0..size {
            let (pr, pc) = (r as f64 + 0.5, c as f64 + 0.5);
            nearest.clear();
            for &(rr, cc, v) in readings {
                let d2 = (f64::from(rr) - pr).powi(2) + (f64::from(cc) - pc).powi(2);
                if nearest.len() < k || d2 < nearest[nearest.len() - 1].0 {
                    let pos = nearest.partition_point(|&(d, _)| d <= d2);
                    nearest.insert(pos, (d2, f64::from(v)));
                    nearest.truncate(k);
                }
            }
            let (mut wsum, mut vsum) = (0.0, 0.0);
            for &(d2, v) in &nearest {
                let w = 1.0 / (d2.sqrt().max(0.25)).powf(model.power);
                wsum += w;
                vsum += w * v;
            }
            out[r * size + c] = vsum / wsum;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_reproduces_constant_fields_and_passes_through_readings() {
        let m = ObservationModel::for_scenario(Scenario::LeoUrban);
        let flat = interpolate(16, &[(2.5, 2.5, 4.0), (10.0, 12.0, 4.0), (14.0, 1.0, 4.0)], &m);
        assert!(flat.iter().all(|&v| (v - 4.0).abs() < 1e-9));
        let two = interpolate(16, &[(0.5, 0.5, -10.0), (15.5, 15.5, 10.0)], &m);
        assert!((two[0] + 10.0).abs() < 0.01 && (two[255] - 10.0).abs() < 0.01);
        assert!(two[5 * 16 + 10].abs() < 10.0);
    }

    #[test]
    fn smoothing_keeps_constants_and_stays_within_the_readings() {
        let flat = smooth(16, &[(2.5, 2.5, -3.0), (10.0, 12.0, -3.0)], 4.0, -20.0);
        assert!(flat.iter().all(|&v| (v + 3.0).abs() < 1e-9));
        let two = smooth(16, &[(0.5, 0.5, -10.0), (15.5, 15.5, 10.0)], 3.0, -20.0);
        assert!(two.iter().all(|&v| (-10.0..=10.0).contains(&v)));
        assert!(two[0] < -9.0 && two[255] > 9.0, "far from the other reading the near one dominates");
    }

    #[test]
    fn road_campaigns_put_their_readings_near_a_few_lines() {
        let truth = crate::sim::generate_scene(Scenario::GeoRural, 3, 1, 64).truth;
        let layout = crate::sim::generate_scene(Scenario::GeoRural, 3, 1, 64).layout;
        let model = ObservationModel {
            points: 200,
            sampling: Sampling::Roads { roads: 1, spread_px: 0.5 },
            ..ObservationModel::for_scenario(Scenario::GeoRural)
        };
        let obs = observe(Scenario::GeoRural, &layout, &truth, &model, &mut Rng::new(7));
        assert_eq!(obs.readings.len(), 200);
        // One road: the readings' scatter across their main axis is about the spread.
        let n = obs.readings.len() as f64;
        let (mr, mc) =
            obs.readings.iter().fold((0.0, 0.0), |a, r| (a.0 + f64::from(r.0) / n, a.1 + f64::from(r.1) / n));
        let (mut srr, mut scc, mut src) = (0.0, 0.0, 0.0);
        for &(r, c, _) in &obs.readings {
            let (dr, dc) = (f64::from(r) - mr, f64::from(c) - mc);
            srr += dr * dr / n;
            scc += dc * dc / n;
            src += dr * dc / n;
        }
        let tr = srr + scc;
        let minor = tr / 2.0 - ((tr / 2.0).powi(2) - (srr * scc - src * src)).max(0.0).sqrt();
        assert!(minor.sqrt() < 1.5, "spread across the road {:.2} px", minor.sqrt());
        assert!(obs.in_db.iter().all(|v| v.is_finite()));
    }
}
