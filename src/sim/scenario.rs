//! The three SpectrumQA-sim scenarios: who the victim receiver is, what interferes with it, and how
//! one scene's layout (platform position, beams, terrestrial sites, coastline) is drawn at random.
//! Parameters here are part of the benchmark's definition (see docs/spectrumqa-sim.md); changing one
//! changes every dataset. Any thread.

use serde::Serialize;

use super::antenna::{Sector, SpotBeam, VictimAntenna};
use super::propagation::{ClutterEnv, EARTH_RADIUS_M, Terrain};
use super::rng::Rng;

/// One of the benchmark's physically distinct settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// LEO multi-beam S-band downlink over a dense city with co-channel urban macro cells.
    LeoUrban,
    /// GEO spot beam over sparse rural land with a few co-channel rural macro sites.
    GeoRural,
    /// HAPS (HIBS) cells over a coast: a town with small cells, open sea beside it.
    HapsCoastal,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::LeoUrban, Scenario::GeoRural, Scenario::HapsCoastal];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::LeoUrban => "leo-urban",
            Scenario::GeoRural => "geo-rural",
            Scenario::HapsCoastal => "haps-coastal",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s.trim())
    }

    /// Fixed physical parameters of the scenario.
    pub fn params(self) -> ScenarioParams {
        match self {
            Scenario::LeoUrban => ScenarioParams {
                area_m: 40_000.0,
                freq_hz: 2.0e9,
                victim: Victim {
                    name: "NR handset (UE) sharing the 2 GHz channel",
                    antenna: VictimAntenna::Omni { gain_dbi: 0.0 },
                    noise_temp_k: 1450.0, // NF 7 dB at 290 K
                    bandwidth_hz: 20e6,
                    height_m: 1.5,
                },
                platform: PlatformKind::Leo,
                terrain: Terrain::UMa,
            },
            Scenario::GeoRural => ScenarioParams {
                area_m: 100_000.0,
                freq_hz: 2.185e9,
                victim: Victim {
                    name: "rooftop fixed-wireless terminal, horizon-pointing",
                    antenna: VictimAntenna::Horizon { peak_dbi: 5.0, v_3db_deg: 65.0, floor_db: 30.0 },
                    noise_temp_k: 920.0, // NF 5 dB at 290 K
                    bandwidth_hz: 10e6,
                    height_m: 5.0,
                },
                platform: PlatformKind::Geo,
                terrain: Terrain::RMa,
            },
            Scenario::HapsCoastal => ScenarioParams {
                area_m: 30_000.0,
                freq_hz: 2.6e9,
                victim: Victim {
                    name: "vehicle or ship terminal",
                    antenna: VictimAntenna::Omni { gain_dbi: 2.0 },
                    noise_temp_k: 1450.0, // NF 7 dB at 290 K
                    bandwidth_hz: 10e6,
                    height_m: 1.5,
                },
                platform: PlatformKind::Haps,
                terrain: Terrain::UMi,
            },
        }
    }
}

/// The receiver whose I/N each pixel shows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Victim {
    pub name: &'static str,
    pub antenna: VictimAntenna,
    pub noise_temp_k: f64,
    pub bandwidth_hz: f64,
    pub height_m: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    Leo,
    Geo,
    Haps,
}

impl PlatformKind {
    /// The word used in answers ("satellite" or "haps").
    pub fn source_word(self) -> &'static str {
        match self {
            PlatformKind::Leo | PlatformKind::Geo => "satellite",
            PlatformKind::Haps => "haps",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScenarioParams {
    /// Side of the square scene, metres.
    pub area_m: f64,
    pub freq_hz: f64,
    pub victim: Victim,
    pub platform: PlatformKind,
    /// Terrestrial model of the scenario's co-channel cells.
    pub terrain: Terrain,
}

/// An aerial interferer: one satellite or HAPS with its co-channel beams.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Platform {
    pub kind: PlatformKind,
    /// Sub-platform point, metres east / north of the scene centre (along the Earth's surface).
    pub sub_x_m: f64,
    pub sub_y_m: f64,
    pub altitude_m: f64,
    pub beams: Vec<Beam>,
}

/// One co-channel spot beam aimed at a ground point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Beam {
    pub aim_x_m: f64,
    pub aim_y_m: f64,
    pub antenna: SpotBeam,
    /// Peak EIRP density, dBW/MHz (transmit PSD plus peak gain).
    pub eirp_dbw_per_mhz: f64,
}

/// A co-channel terrestrial base station of the neighbouring network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    pub x_m: f64,
    pub y_m: f64,
    pub height_m: f64,
    pub terrain: Terrain,
    /// Conducted transmit PSD per sector (or of the omni antenna), dBW/MHz.
    pub psd_dbw_per_mhz: f64,
    pub antenna: SiteAntenna,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SiteAntenna {
    Sectors { sectors: Vec<Sector> },
    Omni { gain_dbi: f64 },
}

/// Land and sea: land where `nx * x + ny * y < offset + wiggle(along)` (metres from the centre).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coast {
    pub normal_deg: f64,
    pub offset_m: f64,
    /// Sine terms (amplitude m, wavelength m, phase rad) bending the coastline.
    pub wiggle: Vec<(f64, f64, f64)>,
}

impl Coast {
    pub fn is_land(&self, x: f64, y: f64) -> bool {
        let (s, c) = self.normal_deg.to_radians().sin_cos();
        let across = c * x + s * y;
        let along = -s * x + c * y;
        let bend: f64 = self.wiggle.iter().map(|&(a, l, p)| a * (std::f64::consts::TAU * along / l + p).sin()).sum();
        across < self.offset_m + bend
    }
}

/// Where the ground clutter is urban (a disc around the city or town centre).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Town {
    pub x_m: f64,
    pub y_m: f64,
    pub radius_m: f64,
}

/// Share of scenes whose interferers sit on the adjacent channel instead of ours.
pub const ADJACENT_CHANNEL_SHARE: f64 = 0.08;
/// Adjacent-channel interference ratio applied to every interferer in such a scene, dB.
pub const ACIR_DB: f64 = 25.0;

/// Everything random about one scene.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    /// Extra isolation of all interferers (0 dB co-channel, [`ACIR_DB`] on the adjacent channel).
    pub channel_isolation_db: f64,
    pub platform: Platform,
    pub sites: Vec<Site>,
    pub town: Town,
    pub coast: Option<Coast>,
}

impl Layout {
    /// The clutter environment of the ground at (x, y).
    pub fn clutter_env(&self, scenario: Scenario, x: f64, y: f64) -> ClutterEnv {
        if let Some(coast) = &self.coast
            && !coast.is_land(x, y)
        {
            return ClutterEnv::Sea;
        }
        let in_town = (x - self.town.x_m).hypot(y - self.town.y_m) < self.town.radius_m;
        match (scenario, in_town) {
            (Scenario::LeoUrban, true) => ClutterEnv::DenseUrban,
            (Scenario::LeoUrban, false) => ClutterEnv::Urban,
            (Scenario::GeoRural, _) => ClutterEnv::SuburbanRural,
            (Scenario::HapsCoastal, true) => ClutterEnv::Urban,
            (Scenario::HapsCoastal, false) => ClutterEnv::SuburbanRural,
        }
    }
}

/// Sub-platform ground offset (m) that puts the platform at elevation `elev_deg` seen from the
/// scene centre, for a platform at `altitude_m` (spherical Earth).
pub fn ground_offset_for_elevation(altitude_m: f64, elev_deg: f64) -> f64 {
    let e = elev_deg.to_radians();
    let r = EARTH_RADIUS_M;
    // Central angle: gamma = acos(R cos e / (R + h)) - e.
    let gamma = (r * e.cos() / (r + altitude_m)).acos() - e;
    gamma * r
}

fn sectors(rng: &mut Rng, peak_dbi: f64, tilt: (f64, f64)) -> SiteAntenna {
    let first = rng.range(0.0, 120.0);
    let tilt_deg = rng.range(tilt.0, tilt.1);
    SiteAntenna::Sectors {
        sectors: (0..3).map(|k| Sector { peak_dbi, azimuth_deg: first + 120.0 * k as f64, tilt_deg }).collect(),
    }
}

fn polar(rng: &mut Rng, max_r: f64) -> (f64, f64) {
    let r = max_r * rng.uniform().sqrt();
    let a = rng.range(0.0, std::f64::consts::TAU);
    (r * a.cos(), r * a.sin())
}

/// The random ranges of a satellite and its co-channel spot beams.
struct SatelliteSpec {
    kind: PlatformKind,
    /// A fixed altitude when both ends are equal (GEO).
    altitude_m: (f64, f64),
    /// Elevation seen from the scene centre.
    elevation_deg: (f64, f64),
    half_3db_deg: (f64, f64),
    beams: (usize, usize),
    eirp_dbw_per_mhz: (f64, f64),
}

/// Draw a satellite: position from the elevation at the scene centre and a random azimuth, then
/// beams of one width (peak gain from 29 000 / theta^2) aimed within 2.5 half-scenes of the centre.
fn satellite(rng: &mut Rng, spec: &SatelliteSpec, half: f64) -> Platform {
    let (a0, a1) = spec.altitude_m;
    let altitude_m = if a0 == a1 { a0 } else { rng.range(a0, a1) };
    let elev = rng.range(spec.elevation_deg.0, spec.elevation_deg.1);
    let off = ground_offset_for_elevation(altitude_m, elev);
    let az = rng.range(0.0, std::f64::consts::TAU);
    let half_3db_deg = rng.range(spec.half_3db_deg.0, spec.half_3db_deg.1);
    let peak_dbi = 10.0 * (29_000.0 / (2.0 * half_3db_deg).powi(2)).log10();
    let n_beams = rng.int_in(spec.beams.0, spec.beams.1);
    let beams = (0..n_beams)
        .map(|_| {
            let (ax, ay) = polar(rng, 2.5 * half);
            Beam {
                aim_x_m: ax,
                aim_y_m: ay,
                antenna: SpotBeam { peak_dbi, half_3db_deg, ls_db: -20.0 },
                eirp_dbw_per_mhz: rng.range(spec.eirp_dbw_per_mhz.0, spec.eirp_dbw_per_mhz.1),
            }
        })
        .collect();
    Platform { kind: spec.kind, sub_x_m: off * az.cos(), sub_y_m: off * az.sin(), altitude_m, beams }
}

/// Draw one scene's layout.
pub fn sample_layout(scenario: Scenario, rng: &mut Rng) -> Layout {
    let p = scenario.params();
    let half = p.area_m / 2.0;
    let channel_isolation_db = if rng.chance(ADJACENT_CHANNEL_SHARE) { ACIR_DB } else { 0.0 };
    match scenario {
        Scenario::LeoUrban => {
            let platform = satellite(
                rng,
                &SatelliteSpec {
                    kind: PlatformKind::Leo,
                    altitude_m: (500e3, 600e3),
                    elevation_deg: (35.0, 90.0),
                    half_3db_deg: (0.8, 1.2),
                    beams: (1, 3),
                    eirp_dbw_per_mhz: (4.0, 34.0),
                },
                half,
            );
            let (cx, cy) = polar(rng, 0.5 * half);
            let town = Town { x_m: cx, y_m: cy, radius_m: rng.range(5e3, 10e3) };
            let n_sites = rng.int_in(1, 5);
            let sites = (0..n_sites)
                .map(|_| {
                    let (dx, dy) = polar(rng, 1.2 * town.radius_m);
                    Site {
                        x_m: cx + dx,
                        y_m: cy + dy,
                        height_m: 25.0,
                        terrain: Terrain::UMa,
                        psd_dbw_per_mhz: 3.0 + rng.range(-12.0, 0.0), // 46 dBm / 20 MHz at most (power control, load)
                        antenna: sectors(rng, 14.0, (6.0, 12.0)),
                    }
                })
                .collect();
            Layout { channel_isolation_db, platform, sites, town, coast: None }
        }
        Scenario::GeoRural => {
            let platform = satellite(
                rng,
                &SatelliteSpec {
                    kind: PlatformKind::Geo,
                    altitude_m: (35_786e3, 35_786e3),
                    elevation_deg: (20.0, 50.0),
                    half_3db_deg: (0.12, 0.25),
                    beams: (1, 2),
                    eirp_dbw_per_mhz: (24.0, 48.0),
                },
                half,
            );
            let (cx, cy) = polar(rng, 0.6 * half);
            let town = Town { x_m: cx, y_m: cy, radius_m: rng.range(2e3, 5e3) };
            let n_sites = rng.int_in(1, 7);
            let sites = (0..n_sites)
                .map(|_| {
                    let (sx, sy) = polar(rng, 1.1 * half);
                    Site {
                        x_m: sx,
                        y_m: sy,
                        height_m: 35.0,
                        terrain: Terrain::RMa,
                        psd_dbw_per_mhz: 6.0 + rng.range(-12.0, 0.0), // 46 dBm / 10 MHz at most
                        antenna: sectors(rng, 14.0, (2.0, 6.0)),
                    }
                })
                .collect();
            Layout { channel_isolation_db, platform, sites, town, coast: None }
        }
        Scenario::HapsCoastal => {
            let altitude_m = rng.range(18e3, 22e3);
            let (hx, hy) = polar(rng, 0.8 * half);
            let half_3db_deg = rng.range(8.0, 14.0);
            let peak_dbi = 10.0 * (29_000.0 / (2.0 * half_3db_deg).powi(2)).log10();
            // Cell centres on a ring around the nadir cell; a random few share our channel.
            let ring_m = altitude_m * (2.0 * half_3db_deg).to_radians().tan();
            let ring_phase = rng.range(0.0, std::f64::consts::TAU);
            let mut cells: Vec<(f64, f64)> = vec![(hx, hy)];
            cells.extend((0..6).map(|k| {
                let a = ring_phase + k as f64 * std::f64::consts::TAU / 6.0;
                (hx + ring_m * a.cos(), hy + ring_m * a.sin())
            }));
            rng.shuffle(&mut cells);
            let n_beams = rng.int_in(1, 3);
            let beams = cells[..n_beams]
                .iter()
                .map(|&(ax, ay)| Beam {
                    aim_x_m: ax,
                    aim_y_m: ay,
                    antenna: SpotBeam { peak_dbi, half_3db_deg, ls_db: -20.0 },
                    eirp_dbw_per_mhz: rng.range(-22.0, 6.0),
                })
                .collect();
            let coast = Coast {
                normal_deg: rng.range(0.0, 360.0),
                offset_m: rng.range(-0.35, 0.35) * half,
                wiggle: (0..3)
                    .map(|k| {
                        let l = p.area_m / (1.0 + k as f64 * 1.7);
                        (rng.range(0.2, 1.0) * l * 0.08, l, rng.range(0.0, std::f64::consts::TAU))
                    })
                    .collect(),
            };
            // The town sits on land near the coast.
            let mut town = Town { x_m: 0.0, y_m: 0.0, radius_m: rng.range(2.5e3, 5e3) };
            for _ in 0..64 {
                let (tx, ty) = polar(rng, 0.8 * half);
                town.x_m = tx;
                town.y_m = ty;
                if coast.is_land(tx, ty)
                    && !coast.is_land(tx + 3e3 * coast_dir(&coast).0, ty + 3e3 * coast_dir(&coast).1)
                {
                    break;
                }
            }
            let mut sites = Vec::new();
            let n_small = rng.int_in(2, 8);
            let mut tries = 0;
            while sites.len() < n_small && tries < 200 {
                tries += 1;
                let (dx, dy) = polar(rng, town.radius_m);
                let (x, y) = (town.x_m + dx, town.y_m + dy);
                if coast.is_land(x, y) {
                    sites.push(Site {
                        x_m: x,
                        y_m: y,
                        height_m: 10.0,
                        terrain: Terrain::UMi,
                        psd_dbw_per_mhz: -10.0 + rng.range(-8.0, 2.0), // about 30 dBm / 10 MHz small cells
                        antenna: SiteAntenna::Omni { gain_dbi: 5.0 },
                    });
                }
            }
            Layout {
                channel_isolation_db,
                platform: Platform { kind: PlatformKind::Haps, sub_x_m: hx, sub_y_m: hy, altitude_m, beams },
                sites,
                town,
                coast: Some(coast),
            }
        }
    }
}

/// Unit vector pointing from land to sea across the coastline.
fn coast_dir(c: &Coast) -> (f64, f64) {
    let (s, co) = c.normal_deg.to_radians().sin_cos();
    (co, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elevation_geometry_round_trips() {
        // Straight overhead: no offset. GEO at 0 deg elevation: the horizon arc is ~81.3 deg.
        assert!(ground_offset_for_elevation(550e3, 90.0).abs() < 1e-6);
        let horizon = ground_offset_for_elevation(35_786e3, 0.0) / EARTH_RADIUS_M;
        assert!((horizon.to_degrees() - 81.3).abs() < 0.1, "{}", horizon.to_degrees());
    }

    #[test]
    fn layouts_are_reproducible_and_sane() {
        for s in Scenario::ALL {
            let a = sample_layout(s, &mut Rng::new(3));
            let b = sample_layout(s, &mut Rng::new(3));
            assert_eq!(a, b);
            assert!(!a.platform.beams.is_empty());
            assert!(!a.sites.is_empty(), "{s:?} has no terrestrial site");
            assert_eq!(Scenario::parse(s.name()), Some(s));
        }
    }
}
