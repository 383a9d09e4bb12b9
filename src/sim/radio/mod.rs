//! RadioQA-sim: simulated radio-continuum cutouts with labels in radio-llava's task formats
//! (morphology, extended, FR class, galaxy, artefact, anomaly). One scene = a recipe from a fixed
//! plan (what its sky holds), a background (beam-correlated simulated noise, or a source-free
//! window of a real image), Gaussian sources through the beam, optional ring artefacts and NaN
//! borders, and labels that are measured on the noiseless model and true by construction.
//! Everything is a pure function of (scene index, seed, cutout size, background files); any thread.
//! The writer runs scenes on scoped `heatscope-sim-N` threads. Definitions: docs/radioqa-sim.md.

pub mod artefact;
pub mod backgrounds;
pub mod beam;
mod build;
mod dataset;
mod files;
pub mod galaxies;
pub mod labels;
pub mod measure;
pub mod noise;
pub mod questions;
pub mod sources;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use backgrounds::Backgrounds;
pub use dataset::{RadioOptions, RadioSummary, SIZES, write_radio_dataset};
pub use files::{display_png, fits_bytes};

use crate::sim::rng::Rng;
use crate::types::Split;
use beam::BeamPx;
use labels::{Labels, Measures};
use noise::NanMask;
use questions::RadioQuestion;
use sources::{Ctx, Sky};

/// Version of the generator's definitions; goes into every dataset's `dataset.json`.
pub const GENERATOR_VERSION: &str = "radioqa-sim 1";
/// Share of scenes on a real background when `--backgrounds` gives usable files.
pub const REAL_SHARE: f64 = 0.5;
/// Share of scenes on a simulated background that get a NaN mask.
pub const NAN_SHARE: f64 = 0.2;
/// Noise rms of simulated backgrounds (Jy/beam), drawn log-uniformly.
pub const SIM_RMS: (f64, f64) = (15e-6, 150e-6);
/// Pixel size of simulated backgrounds (arcsec), drawn uniformly.
pub const SIM_PIXEL_ARCSEC: (f64, f64) = (1.0, 3.0);

#[derive(Debug, thiserror::Error)]
pub enum RadioError {
    #[error("cannot write {what}: {source}: {path}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cannot encode {what}: {message}")]
    Encode { what: &'static str, message: String },
    #[error("cannot use the backgrounds: {message}: {path}")]
    Background { path: PathBuf, message: String },
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Invalid(String),
}

impl RadioError {
    fn background(path: &Path, message: String) -> RadioError {
        RadioError::Background { path: path.to_path_buf(), message }
    }
}

/// What a scene's sky is built as. The plan cycles through these; each fixes which tasks the scene
/// can be asked and what their labels are (docs/radioqa-sim.md, "Recipes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// Islands and peaks of one morphology class (index into `MORPHOLOGY_CLASSES`).
    Morphology(usize),
    /// One to three isolated point sources.
    Compact,
    /// A bright point source (300-5000 sigma) and up to two faint ones, no artefact.
    Bright,
    /// As `Bright`, with ring artefacts around the bright source.
    Artefact,
    FrI,
    FrII,
    BentTail,
    Diffuse,
    DiffuseLarge,
    /// A ring-shaped source.
    Shell,
}

impl Recipe {
    pub fn name(self) -> String {
        match self {
            Recipe::Morphology(k) => format!("morphology-{}", crate::types::MORPHOLOGY_CLASSES[k.min(5)]),
            Recipe::Compact => "compact".into(),
            Recipe::Bright => "bright".into(),
            Recipe::Artefact => "artefact".into(),
            Recipe::FrI => "fr-i".into(),
            Recipe::FrII => "fr-ii".into(),
            Recipe::BentTail => "bent-tail".into(),
            Recipe::Diffuse => "diffuse".into(),
            Recipe::DiffuseLarge => "diffuse-large".into(),
            Recipe::Shell => "shell".into(),
        }
    }
}

/// One round of the plan: scene `i` is built as `PLAN[i % 36]`. Each task's classes are about
/// equally frequent over a round; the writer then keeps an equal number per class and split.
pub const PLAN: [Recipe; 36] = [
    Recipe::Morphology(0),
    Recipe::FrI,
    Recipe::Artefact,
    Recipe::Diffuse,
    Recipe::Morphology(1),
    Recipe::FrII,
    Recipe::Bright,
    Recipe::DiffuseLarge,
    Recipe::Morphology(2),
    Recipe::Compact,
    Recipe::Shell,
    Recipe::Artefact,
    Recipe::Morphology(3),
    Recipe::BentTail,
    Recipe::Bright,
    Recipe::Diffuse,
    Recipe::Morphology(4),
    Recipe::FrII,
    Recipe::Artefact,
    Recipe::DiffuseLarge,
    Recipe::Morphology(5),
    Recipe::FrI,
    Recipe::Bright,
    Recipe::Morphology(0),
    Recipe::Morphology(1),
    Recipe::Compact,
    Recipe::Artefact,
    Recipe::Morphology(2),
    Recipe::Morphology(3),
    Recipe::FrII,
    Recipe::Bright,
    Recipe::Diffuse,
    Recipe::Morphology(4),
    Recipe::Morphology(5),
    Recipe::Shell,
    Recipe::DiffuseLarge,
];

pub fn recipe_of(index: usize) -> Recipe {
    PLAN[index % PLAN.len()]
}

/// The split of scene `index`: round r = index / 36, slot s = index % 36 takes SpectrumQA-sim's
/// 14/3/3-of-20 pattern at r + 7 s. Every slot of the plan cycles through 14 train, 3 val and 3 test
/// rounds in every 20, and every round mixes the three splits. It depends on the index alone, so a
/// larger dataset of the same seed keeps every scene, the test scenes included, in its split.
pub fn split_of(index: usize) -> Split {
    let (round, slot) = (index / PLAN.len(), index % PLAN.len());
    crate::sim::split_of(round + 7 * slot)
}

pub fn scene_id(index: usize) -> String {
    format!("radio-{index:05}")
}

/// Where a scene's noise came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BackgroundInfo {
    /// Beam-correlated Gaussian noise, with `confusion` faint point sources added.
    Simulated { confusion: usize },
    /// Window `window` of a real file, resampled by `zoom` output pixels per file pixel.
    Real { file: String, window: usize, zoom: f64 },
}

/// One generated scene.
#[derive(Clone, Debug)]
pub struct RadioScene {
    pub id: String,
    pub index: usize,
    pub split: Split,
    pub recipe: Recipe,
    pub size: usize,
    pub background: BackgroundInfo,
    pub beam: BeamPx,
    pub pixel_arcsec: f64,
    /// Noise rms (Jy/beam) every sigma of the labels is counted in.
    pub rms: f64,
    /// RA, Dec of the cutout centre (degrees).
    pub centre: (f64, f64),
    pub nan_mask: Option<NanMask>,
    pub sky: Sky,
    /// The noiseless image: the sources through the beam plus the artefact pattern, if any.
    pub truth: Vec<f32>,
    /// What a telescope shows: truth plus noise, NaN where there is no data.
    pub observed: Vec<f32>,
    pub measures: Measures,
    pub labels: Labels,
    pub questions: Vec<RadioQuestion>,
}

/// Generate scene `index` for `seed` on a `size` x `size` cutout, on a real background from
/// `backgrounds` for [`REAL_SHARE`] of the scenes when it has usable files.
///
/// # Errors
/// When no draw of the scene's recipe passes its checks (a bug in the generator, not bad input).
pub fn generate_scene(
    index: usize,
    seed: u64,
    size: usize,
    backgrounds: Option<&Backgrounds>,
) -> Result<RadioScene, RadioError> {
    let stream = |part: u64| Rng::derive(seed, &[0x0AD1_0000, index as u64, part]);
    let n = size;
    let mut rng = stream(0);
    let usable = backgrounds.filter(|b| !b.files.is_empty());
    let real = usable.filter(|_| rng.chance(REAL_SHARE));
    let (noise, beam, pixel_arcsec, rms, centre, background) = match real {
        Some(b) => {
            let f = rng.below(b.files.len());
            let file = &b.files[f];
            let window = rng.below(file.windows());
            let cut = file.cutout(window, n);
            let (_, _, sd) = crate::stats::sigma_clip(&cut.values, 3.0, 10);
            let centre = cut.centre.unwrap_or_else(|| random_centre(&mut rng));
            let info = BackgroundInfo::Real { file: file.name.clone(), window, zoom: cut.zoom };
            (cut.values, cut.beam, cut.pixel_arcsec, f64::from(sd), centre, info)
        }
        None => {
            let major = rng.range(backgrounds::BEAM_PX.0, backgrounds::BEAM_PX.1);
            let beam = BeamPx { major, minor: major * rng.range(0.6, 1.0), pa_deg: rng.range(0.0, 180.0) };
            let pixel = rng.range(SIM_PIXEL_ARCSEC.0, SIM_PIXEL_ARCSEC.1);
            let rms = sources::log_uniform(SIM_RMS.0, SIM_RMS.1, &mut rng);
            let confusion = rng.chance(0.5);
            let (noise, added) = noise::simulated(n, beam, rms, confusion, &mut rng);
            let centre = random_centre(&mut rng);
            (noise, beam, pixel, rms, centre, BackgroundInfo::Simulated { confusion: added })
        }
    };
    let nan: Vec<bool> = noise.iter().map(|v| !v.is_finite()).collect();
    let ctx = Ctx { n, beam, rms, nan: nan.iter().any(|&b| b).then_some(&nan[..]) };
    let recipe = recipe_of(index);
    let (sky, model) = build::build(recipe, &ctx, &mut stream(1)).ok_or_else(|| {
        RadioError::Invalid(format!("scene {}: no draw of {} passed its checks", scene_id(index), recipe.name()))
    })?;
    let mut truth = model.clone();
    if let Some(a) = &sky.artefact {
        for (t, v) in truth.iter_mut().zip(a.render(n)) {
            *t += v;
        }
    }
    // NaN borders on a share of the simulated scenes, never over emission.
    let mut mask_rng = stream(2);
    let mut nan_mask = None;
    let mut masked = vec![false; n * n];
    if matches!(background, BackgroundInfo::Simulated { .. }) && mask_rng.chance(NAN_SHARE) {
        let keep = measure::dilate(&ctx.island_mask(&truth), n, beam.major);
        for _ in 0..20 {
            let m = noise::draw_mask(n, &mut mask_rng);
            let px = m.pixels(n);
            if !px.iter().zip(&keep).any(|(&a, &b)| a && b) {
                (nan_mask, masked) = (Some(m), px);
                break;
            }
        }
    }
    let observed = noise
        .iter()
        .zip(&truth)
        .zip(&masked)
        .map(|((&v, &t), &m)| if m || !v.is_finite() { f32::NAN } else { v + t })
        .collect();
    let measures = labels::measure(&model, &ctx);
    let labels = labels::labels(recipe, &sky, &measures, &ctx);
    let questions = questions::questions(&labels, &mut stream(3));
    Ok(RadioScene {
        id: scene_id(index),
        index,
        split: split_of(index),
        recipe,
        size: n,
        background,
        beam,
        pixel_arcsec,
        rms,
        centre,
        nan_mask,
        sky,
        truth,
        observed,
        measures,
        labels,
        questions,
    })
}

/// A pointing uniform on the sky between declinations -80 and +30 degrees.
fn random_centre(rng: &mut Rng) -> (f64, f64) {
    let (lo, hi) = ((-80f64).to_radians().sin(), 30f64.to_radians().sin());
    (rng.range(0.0, 360.0), rng.range(lo, hi).asin().to_degrees())
}
