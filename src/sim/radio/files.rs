//! One RadioQA-sim scene's files: the observed cutout as FITS (Jy/beam, restoring beam, SIN
//! celestial WCS), the noiseless model as .npy, the 8-bit display PNG (sigma clipping, then ZScale
//! with contrast 0.25, the usual radio display) and the metadata JSON. Runs on the
//! `heatscope-sim-N` threads.

use std::path::Path;

use serde::Serialize;

use super::artefact::RingArtefact;
use super::labels::{Labels, Measures};
use super::noise::NanMask;
use super::sources::{Component, Source, snr_bin_name};
use super::{BackgroundInfo, GENERATOR_VERSION, RadioError, RadioScene};
use crate::io::fits_write::{Card, CardValue, image_f32};
use crate::stats::{ZScaleParams, sigma_clip, zscale};
use crate::types::{ScenePaths, Split};

/// The display: values clipped to the sigma-clipped median - 5 sigma .. + 30 sigma, then ZScale
/// (this contrast) over the clipped values, mapped linearly to 0-255; NaN is black.
pub const DISPLAY_CLIP_SIGMA: (f32, f32) = (5.0, 30.0);
pub const DISPLAY_CONTRAST: f64 = 0.25;

/// The FITS file of a scene's observed cutout.
///
/// # Errors
/// Only when a header value cannot be written (a non-finite number), which is a generator bug.
pub fn fits_bytes(scene: &RadioScene) -> Result<Vec<u8>, RadioError> {
    let n = scene.size;
    let deg = |px: f64| px * scene.pixel_arcsec / 3600.0;
    let f = |v: f64| CardValue::Float(v);
    let s = |v: &str| CardValue::Str(v.to_string());
    let crpix = n as f64 / 2.0 + 0.5;
    let cards = [
        Card::new("BUNIT", s("JY/BEAM"), "brightness unit"),
        Card::new("BMAJ", f(deg(scene.beam.major)), "restoring beam FWHM major axis (deg)"),
        Card::new("BMIN", f(deg(scene.beam.minor)), "restoring beam FWHM minor axis (deg)"),
        Card::new("BPA", f(scene.beam.pa_deg), "restoring beam position angle (deg, N through E)"),
        Card::new("CTYPE1", s("RA---SIN"), ""),
        Card::new("CTYPE2", s("DEC--SIN"), ""),
        Card::new("CRVAL1", f(scene.centre.0), "RA at the reference pixel (deg)"),
        Card::new("CRVAL2", f(scene.centre.1), "Dec at the reference pixel (deg)"),
        Card::new("CRPIX1", f(crpix), ""),
        Card::new("CRPIX2", f(crpix), ""),
        Card::new("CDELT1", f(-deg(1.0)), "deg per pixel"),
        Card::new("CDELT2", f(deg(1.0)), "deg per pixel"),
        Card::new("CUNIT1", s("deg"), ""),
        Card::new("CUNIT2", s("deg"), ""),
        Card::new("RADESYS", s("ICRS"), ""),
        Card::new("EQUINOX", f(2000.0), ""),
        Card::new("OBJECT", s(&scene.id), ""),
        Card::new("NOISE", f(scene.rms), "noise rms the labels count in (Jy/beam)"),
        Card::new("ORIGIN", s("heatscope"), ""),
        Card::new("CREATOR", s(GENERATOR_VERSION), "simulated: not a real observation"),
    ];
    image_f32(n, n, &scene.observed, &cards).map_err(|e| RadioError::Encode { what: "FITS", message: e.to_string() })
}

/// The 8-bit grey display PNG of an `n` x `n` cutout ([`DISPLAY_CLIP_SIGMA`], [`DISPLAY_CONTRAST`]).
///
/// # Errors
/// When the PNG encoder fails.
pub fn display_png(values: &[f32], n: usize) -> Result<Vec<u8>, RadioError> {
    let (_, median, sd) = sigma_clip(values, 3.0, 10);
    let (lo, hi) = (median - DISPLAY_CLIP_SIGMA.0 * sd, median + DISPLAY_CLIP_SIGMA.1 * sd);
    let clipped: Vec<f32> = values
        .iter()
        .map(|&v| if v.is_finite() && lo.is_finite() && hi.is_finite() { v.clamp(lo, hi) } else { v })
        .collect();
    let params = ZScaleParams { contrast: DISPLAY_CONTRAST, ..ZScaleParams::default() };
    let (z1, z2) = zscale(&clipped, &params).unwrap_or((0.0, 1.0));
    let span = if z2 > z1 { z2 - z1 } else { 1.0 };
    let grey: Vec<u8> = clipped
        .iter()
        .map(|&v| if v.is_finite() { (((v - z1) / span).clamp(0.0, 1.0) * 255.0).round() as u8 } else { 0 })
        .collect();
    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut png);
    image::ImageEncoder::write_image(encoder, &grey, n as u32, n as u32, image::ExtendedColorType::L8)
        .map_err(|e| RadioError::Encode { what: "PNG", message: e.to_string() })?;
    Ok(png)
}

/// A component with its flux and signal-to-noise, as the metadata lists it.
#[derive(Serialize)]
struct ComponentMeta<'a> {
    #[serde(flatten)]
    component: &'a Component,
    flux_jy: f64,
    peak_snr: f64,
}

#[derive(Serialize)]
struct SceneMeta<'a> {
    generator: &'static str,
    id: &'a str,
    index: usize,
    split: Split,
    seed: u64,
    size: usize,
    recipe: String,
    background: &'a BackgroundInfo,
    noise_rms_jy_beam: f64,
    beam_px: super::beam::BeamPx,
    beam_arcsec: [f64; 3],
    pixel_arcsec: f64,
    centre_ra_dec_deg: (f64, f64),
    nan_mask: Option<NanMask>,
    nan_share: f64,
    snr_bin: String,
    sources: &'a [Source],
    components: Vec<ComponentMeta<'a>>,
    artefact: Option<&'a RingArtefact>,
    measures: &'a Measures,
    labels: &'a Labels,
}

fn write_file(path: &Path, bytes: &[u8], what: &'static str) -> Result<(), RadioError> {
    std::fs::write(path, bytes).map_err(|source| RadioError::Io { what, path: path.to_path_buf(), source })
}

/// Write one scene's four files under `dir/scenes/`; returns their paths relative to `dir`.
pub fn write_scene(dir: &Path, scene: &RadioScene, seed: u64) -> Result<ScenePaths, RadioError> {
    let n = scene.size;
    let rel = |suffix: &str| format!("scenes/{}{suffix}", scene.id);
    let paths = ScenePaths { observed: rel(".fits"), truth: rel("_truth.npy"), png: rel(".png"), meta: rel(".json") };
    write_file(&dir.join(&paths.observed), &fits_bytes(scene)?, "observed FITS")?;
    write_file(&dir.join(&paths.truth), &crate::sim::write_npy_f32(&scene.truth, n, n), "noiseless model")?;
    write_file(&dir.join(&paths.png), &display_png(&scene.observed, n)?, "display PNG")?;
    let snr_bin = snr_bin_name(scene.measures.snr_bin);
    let b = scene.beam;
    let meta = SceneMeta {
        generator: GENERATOR_VERSION,
        id: &scene.id,
        index: scene.index,
        split: scene.split,
        seed,
        size: n,
        recipe: scene.recipe.name(),
        background: &scene.background,
        noise_rms_jy_beam: scene.rms,
        beam_px: b,
        beam_arcsec: [b.major * scene.pixel_arcsec, b.minor * scene.pixel_arcsec, b.pa_deg],
        pixel_arcsec: scene.pixel_arcsec,
        centre_ra_dec_deg: scene.centre,
        nan_mask: scene.nan_mask,
        nan_share: scene.observed.iter().filter(|v| !v.is_finite()).count() as f64 / (n * n) as f64,
        snr_bin,
        sources: &scene.sky.sources,
        components: scene
            .sky
            .components
            .iter()
            .map(|c| ComponentMeta { component: c, flux_jy: c.g.flux(b), peak_snr: c.g.peak / scene.rms })
            .collect(),
        artefact: scene.sky.artefact.as_ref(),
        measures: &scene.measures,
        labels: &scene.labels,
    };
    let json = serde_json::to_string_pretty(&meta)
        .map_err(|e| RadioError::Encode { what: "scene metadata", message: e.to_string() })?;
    write_file(&dir.join(&paths.meta), json.as_bytes(), "scene metadata")?;
    Ok(paths)
}
