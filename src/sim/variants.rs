//! Training aids, not the benchmark: other observation campaigns and other physics for the same
//! scenes, so a model sees more than one world (`heatscope data spectrum --observation NAME
//! --physics NAME`). The frozen benchmark is `frozen` for both; every other family draws its
//! parameters per scene from its own random stream, so the layout and the truth's random fields of
//! scene `i` are the same under every variant. docs/spectrumqa-sim.md section 7 lists the knobs.
//! Any thread.

use serde::Serialize;

use super::field::{Obstruction, TruthOptions};
use super::observe::{Interpolation, ObservationModel, Sampling};
use super::propagation::Terrain;
use super::rng::Rng;
use super::scenario::Layout;

/// A family of observation campaigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObservationVariant {
    /// The benchmark's campaign (docs section 2).
    Frozen,
    /// Every knob drawn at random per scene (the training mix).
    Varied,
    /// 2000-4000 low-noise readings: a dense sensor network, close to the truth.
    Dense,
    /// 20-30 readings.
    Sparse,
    /// 200-500 readings.
    Many,
    /// Readings along 2-5 roads.
    Roads,
    /// Campaign calibration off by a Gaussian with 5 dB standard deviation.
    Biased,
    /// 5 dB instrument noise per reading.
    Noisy,
    /// 8 dB unmodelled shadowing with 0.5-8 km correlation.
    Shadowed,
    /// The nearest reading (Voronoi cells).
    Nearest,
    /// Linear on the readings' Delaunay triangulation.
    Linear,
    /// Gaussian-kernel smoothing (kriging-like).
    Smooth,
    /// IDW with power 1 (flat) or 4 (peaky).
    Idw,
    /// 3 dB quantization.
    Coarse,
    /// A narrower instrument range, -10..+10 dB.
    Clipped,
}

impl ObservationVariant {
    pub const ALL: [ObservationVariant; 15] = [
        Self::Frozen,
        Self::Varied,
        Self::Dense,
        Self::Sparse,
        Self::Many,
        Self::Roads,
        Self::Biased,
        Self::Noisy,
        Self::Shadowed,
        Self::Nearest,
        Self::Linear,
        Self::Smooth,
        Self::Idw,
        Self::Coarse,
        Self::Clipped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Frozen => "frozen",
            Self::Varied => "varied",
            Self::Dense => "dense",
            Self::Sparse => "sparse",
            Self::Many => "many",
            Self::Roads => "roads",
            Self::Biased => "biased",
            Self::Noisy => "noisy",
            Self::Shadowed => "shadowed",
            Self::Nearest => "nearest",
            Self::Linear => "linear",
            Self::Smooth => "smooth",
            Self::Idw => "idw",
            Self::Coarse => "coarse",
            Self::Clipped => "clipped",
        }
    }

    pub fn parse(s: &str) -> Option<ObservationVariant> {
        Self::ALL.into_iter().find(|v| v.name() == s)
    }

    /// The campaign of one scene: the scenario's frozen `base` changed as this family says.
    pub fn draw(self, base: ObservationModel, rng: &mut Rng) -> ObservationModel {
        let b = base;
        match self {
            Self::Frozen => b,
            Self::Varied => varied(b, rng),
            Self::Dense => dense(b, rng),
            Self::Sparse => ObservationModel { points: rng.int_in(20, 30), ..b },
            Self::Many => ObservationModel { points: rng.int_in(200, 500), ..b },
            Self::Roads => ObservationModel { sampling: roads(rng), points: rng.int_in(40, 200), ..b },
            Self::Biased => ObservationModel { bias_sigma_db: 5.0, ..b },
            Self::Noisy => ObservationModel { meas_sigma_db: 5.0, ..b },
            Self::Shadowed => {
                ObservationModel { unmodelled_sigma_db: 8.0, unmodelled_corr_m: log_uniform(rng, 500.0, 8_000.0), ..b }
            }
            Self::Nearest => ObservationModel { interpolation: Interpolation::Nearest, ..b },
            Self::Linear => ObservationModel { interpolation: Interpolation::Linear, ..b },
            Self::Smooth => ObservationModel { interpolation: smooth(rng), ..b },
            Self::Idw => ObservationModel { power: if rng.chance(0.5) { 1.0 } else { 4.0 }, k: rng.int_in(4, 12), ..b },
            Self::Coarse => ObservationModel { quant_db: 3.0, ..b },
            Self::Clipped => ObservationModel { floor_db: -10.0, ceiling_db: 10.0, ..b },
        }
    }
}

fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (rng.range(lo.ln(), hi.ln())).exp()
}

fn roads(rng: &mut Rng) -> Sampling {
    Sampling::Roads { roads: rng.int_in(2, 5), spread_px: rng.range(0.5, 3.0) }
}

fn smooth(rng: &mut Rng) -> Interpolation {
    Interpolation::Smooth { length_px: rng.range(2.0, 10.0) }
}

fn dense(b: ObservationModel, rng: &mut Rng) -> ObservationModel {
    ObservationModel {
        points: rng.int_in(2_000, 4_000),
        sea_share: b.sea_share.max(0.3),
        meas_sigma_db: 0.5,
        bias_sigma_db: 0.5,
        unmodelled_sigma_db: 1.0,
        quant_db: 0.1,
        k: 4,
        ..b
    }
}

/// Every knob at random: a campaign from another team with other instruments and another mapper.
fn varied(b: ObservationModel, rng: &mut Rng) -> ObservationModel {
    if rng.chance(0.15) {
        return dense(b, rng);
    }
    let interpolation = match rng.below(5) {
        0 => Interpolation::Nearest,
        1 => Interpolation::Linear,
        2 => smooth(rng),
        _ => Interpolation::Idw,
    };
    let (floor_db, ceiling_db) = *rng
        .pick(&[(-20.0, 20.0), (-20.0, 20.0), (-15.0, 15.0), (-10.0, 10.0), (-25.0, 30.0)])
        .unwrap_or(&(-20.0, 20.0));
    ObservationModel {
        points: log_uniform(rng, 20.0, 500.0).round() as usize,
        sea_share: rng.range(0.0, 0.4),
        meas_sigma_db: rng.range(0.3, 5.0),
        bias_sigma_db: rng.range(0.0, 5.0),
        unmodelled_sigma_db: rng.range(0.0, 8.0),
        unmodelled_corr_m: log_uniform(rng, 300.0, 10_000.0),
        floor_db,
        ceiling_db,
        quant_db: *rng.pick(&[0.1, 0.5, 1.0, 1.0, 2.0, 3.0]).unwrap_or(&1.0),
        k: rng.int_in(3, 12),
        power: rng.range(1.0, 4.0),
        sampling: if rng.chance(0.4) { roads(rng) } else { Sampling::Scattered },
        interpolation,
    }
}

/// A family of physics changes that stay physical; the labels follow the changed truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhysicsVariant {
    /// The benchmark's physics (docs section 1).
    Frozen,
    /// One of the others at random per scene, with random strengths.
    Varied,
    /// The terrestrial cells' TR 38.901 model swapped (UMa -> UMi -> RMa -> UMa).
    TerrainSwap,
    /// No clutter loss on the satellite/HAPS paths (free space), or 1.5-2x the tables' loss.
    Clutter,
    /// Shadow-fading sigmas scaled by 0.5-2.
    Shadowing,
    /// Terrain-like obstruction: hills that add up to about 2 x 6-20 dB of loss.
    Obstruction,
    /// Platform beams with other near-in side lobes (-30 to -12 dB instead of -20).
    Sidelobes,
}

impl PhysicsVariant {
    pub const ALL: [PhysicsVariant; 7] = [
        Self::Frozen,
        Self::Varied,
        Self::TerrainSwap,
        Self::Clutter,
        Self::Shadowing,
        Self::Obstruction,
        Self::Sidelobes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Frozen => "frozen",
            Self::Varied => "varied",
            Self::TerrainSwap => "terrain-swap",
            Self::Clutter => "clutter",
            Self::Shadowing => "shadowing",
            Self::Obstruction => "obstruction",
            Self::Sidelobes => "sidelobes",
        }
    }

    pub fn parse(s: &str) -> Option<PhysicsVariant> {
        Self::ALL.into_iter().find(|v| v.name() == s)
    }

    /// Change `layout` and return the truth options for one scene.
    pub fn apply(self, layout: &mut Layout, rng: &mut Rng) -> TruthOptions {
        let mut opts = TruthOptions::default();
        let family = if self == Self::Varied { Self::ALL[2 + rng.below(Self::ALL.len() - 2)] } else { self };
        match family {
            Self::Frozen | Self::Varied => {}
            Self::TerrainSwap => {
                for site in &mut layout.sites {
                    site.terrain = match site.terrain {
                        Terrain::UMa => Terrain::UMi,
                        Terrain::UMi => Terrain::RMa,
                        Terrain::RMa => Terrain::UMa,
                    };
                }
            }
            Self::Clutter => opts.clutter_scale = if rng.chance(0.5) { 0.0 } else { rng.range(1.5, 2.0) },
            Self::Shadowing => opts.shadow_scale = log_uniform(rng, 0.5, 2.0),
            Self::Obstruction => {
                opts.obstruction =
                    Some(Obstruction { db: rng.range(6.0, 20.0), corr_m: log_uniform(rng, 1_000.0, 8_000.0) })
            }
            Self::Sidelobes => {
                let ls = rng.range(-30.0, -12.0);
                for beam in &mut layout.platform.beams {
                    beam.antenna.ls_db = ls;
                }
            }
        }
        opts
    }
}

/// The observation and physics families of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Variants {
    pub observation: ObservationVariant,
    pub physics: PhysicsVariant,
}

impl Variants {
    /// The frozen benchmark.
    pub const FROZEN: Variants = Variants { observation: ObservationVariant::Frozen, physics: PhysicsVariant::Frozen };

    pub fn is_frozen(&self) -> bool {
        *self == Self::FROZEN
    }
}

impl Default for Variants {
    fn default() -> Self {
        Self::FROZEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Scenario, generate_scene, generate_scene_with};

    #[test]
    fn names_round_trip() {
        for v in ObservationVariant::ALL {
            assert_eq!(ObservationVariant::parse(v.name()), Some(v));
        }
        for v in PhysicsVariant::ALL {
            assert_eq!(PhysicsVariant::parse(v.name()), Some(v));
        }
        assert_eq!(ObservationVariant::parse("denser"), None);
    }

    #[test]
    fn frozen_variants_are_the_benchmark_and_others_keep_the_layout() {
        let base = generate_scene(Scenario::LeoUrban, 4, 2, 48);
        let frozen = generate_scene_with(Scenario::LeoUrban, 4, 2, 48, Variants::FROZEN);
        assert_eq!(base.observation.in_db, frozen.observation.in_db);
        assert_eq!(base.truth.in_db, frozen.truth.in_db);
        for observation in ObservationVariant::ALL {
            let v = Variants { observation, physics: PhysicsVariant::Frozen };
            let s = generate_scene_with(Scenario::LeoUrban, 4, 2, 48, v);
            assert_eq!(s.truth.in_db, base.truth.in_db, "{}: same truth", observation.name());
            assert!(s.observation.in_db.iter().all(|x| x.is_finite()), "{}", observation.name());
            if observation != ObservationVariant::Frozen {
                assert_ne!(s.observation.in_db, base.observation.in_db, "{}: another campaign", observation.name());
            }
        }
        for physics in PhysicsVariant::ALL.into_iter().skip(2) {
            let v = Variants { observation: ObservationVariant::Frozen, physics };
            let s = generate_scene_with(Scenario::LeoUrban, 4, 2, 48, v);
            assert_eq!(s.layout.platform.sub_x_m, base.layout.platform.sub_x_m, "{}: same layout", physics.name());
            assert_ne!(s.truth.in_db, base.truth.in_db, "{}: other physics", physics.name());
            assert!(s.truth.in_db.iter().all(|x| x.is_finite()), "{}", physics.name());
        }
    }

    #[test]
    fn dense_campaigns_are_close_to_the_truth() {
        let v = Variants { observation: ObservationVariant::Dense, physics: PhysicsVariant::Frozen };
        let s = generate_scene_with(Scenario::GeoRural, 1, 0, 64, v);
        let err = |s: &crate::sim::Scene| {
            let d: Vec<f32> = s
                .truth
                .in_db
                .iter()
                .zip(&s.observation.in_db)
                .filter(|(t, _)| (-19.0..19.0).contains(*t))
                .map(|(t, o)| (t - o).abs())
                .collect();
            d.iter().sum::<f32>() / d.len().max(1) as f32
        };
        let mean = err(&s);
        assert!(mean < 2.5, "mean |observed - truth| {mean:.2} dB inside the instrument's range");
        let frozen = err(&generate_scene(Scenario::GeoRural, 1, 0, 64));
        assert!(mean < frozen, "dense {mean:.2} dB vs the benchmark's campaign {frozen:.2} dB");
    }
}
