//! One RadioQA-sim scene's sky for its recipe. Each draw places the recipe's sources, renders the
//! noiseless model and measures it; a draw whose measured islands, peaks, sizes or ridges do not
//! match what the recipe's labels claim is thrown away and drawn again, so every label is true of
//! the model by construction and checked. Runs on the `heatscope-sim-N` threads.

use super::Recipe;
use super::artefact::ring_artefact;
use super::beam::Gaussian;
use super::galaxies::{self, GalaxyKind};
use super::labels::MORPHOLOGY_COUNTS;
use super::measure;
use super::sources::{
    BRIGHT_SNR, Ctx, Part, Sky, SourceKind, diffuse, field_points, island_group, log_uniform, shell, snr_in_bin,
};
use crate::sim::rng::Rng;

/// Draws tried before a scene gives up (none has needed more than a few dozen).
pub const MAX_DRAWS: usize = 2000;
/// DIFFUSE emission spans at most this share of the cutout side; DIFFUSE-LARGE at least
/// [`LARGE_MIN_SHARE`]. The label's boundary is 0.5; the gap keeps every label clear of it.
pub const DIFFUSE_MAX_SHARE: f64 = 0.4;
pub const LARGE_MIN_SHARE: f64 = 0.6;
/// Diffuse emission's brightest pixel, in noise rms (low surface brightness).
pub const DIFFUSE_SNR: (f64, f64) = (4.5, 9.5);
/// Ring artefacts must show at least this many ridges above 5 sigma over half their circle.
pub const MIN_RIDGES: usize = 2;

/// The islands' peak counts of each morphology class, in [`MORPHOLOGY_COUNTS`] order.
const ISLAND_PEAKS: [&[usize]; 6] = [&[1], &[2], &[3], &[1, 1], &[2, 1], &[1, 1, 1]];

/// The sky and its noiseless model (sources only) for `recipe`, or None after [`MAX_DRAWS`].
pub fn build(recipe: Recipe, ctx: &Ctx, rng: &mut Rng) -> Option<(Sky, Vec<f32>)> {
    (0..MAX_DRAWS).find_map(|_| draw(recipe, ctx, rng))
}

/// `k` positions at least `apart` pixels from each other and `margin` from the border.
fn spread(k: usize, ctx: &Ctx, apart: f64, margin: f64, rng: &mut Rng) -> Option<Vec<(f64, f64)>> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for _ in 0..k {
        let p = (0..100).map(|_| super::sources::position(ctx.n, margin, rng)).find(|p| {
            out.iter().all(|q| (q.0 - p.0).hypot(q.1 - p.1) >= apart)
                && ctx.nan.is_none_or(|nan| !nan[(p.1.round() as usize) * ctx.n + p.0.round() as usize])
        })?;
        out.push(p);
    }
    Some(out)
}

/// Whether `model` has exactly `islands` islands, each holding one peak.
fn single_peaked(model: &[f32], ctx: &Ctx, islands: usize) -> bool {
    let m = super::labels::measure(model, ctx);
    m.islands == islands && m.peaks_per_island.iter().all(|&k| k == 1)
}

/// Add 0 to `most` faint point sources (SNR in `snr`) clear of the sky drawn so far.
fn add_field_points(sky: &mut Sky, ctx: &Ctx, most: usize, snr: (f64, f64), rng: &mut Rng) {
    let count = rng.int_in(0, most);
    let occupied = ctx.island_mask(&sky.model(ctx.beam, ctx.n));
    for g in field_points(ctx, &occupied, count, snr, rng) {
        sky.push(SourceKind::Compact, g.x, g.y, [(Part::Point, 0, g)]);
    }
}

/// One draw for `recipe`: Some when every check passes.
fn draw(recipe: Recipe, ctx: &Ctx, rng: &mut Rng) -> Option<(Sky, Vec<f32>)> {
    let b = ctx.beam.major;
    let n = ctx.n as f64;
    let mut sky = Sky::default();
    let mut border_ok = false;
    match recipe {
        Recipe::Morphology(class) => {
            let alloc = ISLAND_PEAKS[class.min(5)];
            // Blends need room above the 5 sigma peak threshold: multi-peak islands start at 10 sigma.
            let bin = if alloc.iter().any(|&k| k > 1) { rng.int_in(1, 3) } else { rng.below(4) };
            let top = snr_in_bin(bin, rng) * ctx.rms;
            let centres = spread(alloc.len(), ctx, 5.0 * b, 3.0 * b + 2.0, rng)?;
            let lo = (8.0 * ctx.rms / top).max(0.3);
            for (i, (&k, c)) in alloc.iter().zip(centres).enumerate() {
                let peak = if i == 0 { top } else { top * rng.range(lo.min(1.0), 1.0) };
                let comps = island_group(k, c, peak, ctx.beam, rng);
                let kind = match (k, comps[0].0) {
                    (1, Part::Blob) => SourceKind::Resolved,
                    (1, _) => SourceKind::Compact,
                    _ => SourceKind::Multi,
                };
                sky.push(kind, c.0, c.1, comps);
            }
            let model = sky.model(ctx.beam, ctx.n);
            let m = super::labels::measure(&model, ctx);
            if (m.islands, m.peaks.len()) != MORPHOLOGY_COUNTS[class.min(5)] {
                return None;
            }
        }
        Recipe::Compact => {
            let k = rng.int_in(1, 3);
            let first = snr_in_bin(rng.below(4), rng);
            for (i, (x, y)) in spread(k, ctx, 4.0 * b, 2.0 * b + 2.0, rng)?.into_iter().enumerate() {
                let snr = if i == 0 { first } else { log_uniform(5.5, 100.0, rng) };
                sky.push(SourceKind::Compact, x, y, [(Part::Point, 0, Gaussian::point(x, y, snr * ctx.rms))]);
            }
            if !single_peaked(&sky.model(ctx.beam, ctx.n), ctx, k) {
                return None;
            }
        }
        Recipe::Bright | Recipe::Artefact => {
            let (x, y) = (rng.range(0.35 * n, 0.65 * n), rng.range(0.35 * n, 0.65 * n));
            let peak = log_uniform(BRIGHT_SNR.0, BRIGHT_SNR.1, rng) * ctx.rms;
            sky.push(SourceKind::Compact, x, y, [(Part::Point, 0, Gaussian::point(x, y, peak))]);
            add_field_points(&mut sky, ctx, 2, (5.5, 50.0), rng);
            if !single_peaked(&sky.model(ctx.beam, ctx.n), ctx, sky.sources.len()) {
                return None;
            }
            if recipe == Recipe::Artefact {
                let mut a = ring_artefact(ctx, x, y, peak, rng);
                let mut img = a.render(ctx.n);
                if let Some(nan) = ctx.nan {
                    img.iter_mut().zip(nan).filter(|(_, bad)| **bad).for_each(|(v, _)| *v = 0.0);
                }
                a.ridges_detected = a.count_ridges(&img, ctx.n, 5.0 * ctx.rms);
                if a.ridges_detected < MIN_RIDGES {
                    return None;
                }
                sky.artefact = Some(a);
            }
        }
        Recipe::FrI | Recipe::FrII | Recipe::BentTail => {
            let kind = match recipe {
                Recipe::FrI => (GalaxyKind::FrI, SourceKind::FrI),
                Recipe::FrII => (GalaxyKind::FrII, SourceKind::FrII),
                _ => (GalaxyKind::BentTail, SourceKind::BentTail),
            };
            let g = galaxies::draw(kind.0, ctx, snr_in_bin(rng.int_in(1, 3), rng), rng)?;
            let k = sky.push(kind.1, g.core.0, g.core.1, g.comps);
            let s = &mut sky.sources[k];
            (s.las_px, s.fr_ratio, s.bend_deg) = (Some(g.las_px), Some(g.fr_ratio), g.bend_deg);
            add_field_points(&mut sky, ctx, 2, (5.5, 30.0), rng);
        }
        Recipe::Diffuse | Recipe::DiffuseLarge => {
            let large = recipe == Recipe::DiffuseLarge;
            let (size, off) = if large { (rng.range(0.6, 1.0) * n, 0.1) } else { (rng.range(5.0 * b, 0.35 * n), 0.15) };
            let c = (rng.range((0.5 - off) * n, (0.5 + off) * n), rng.range((0.5 - off) * n, (0.5 + off) * n));
            let comps = diffuse(ctx, c, size, rng.range(DIFFUSE_SNR.0, DIFFUSE_SNR.1), rng);
            let k = sky.push(SourceKind::Diffuse, c.0, c.1, comps);
            let mask = ctx.island_mask(&sky.source_model(k, ctx.beam, ctx.n));
            let las = measure::largest_size(&mask, ctx.n);
            let fits = if large { las >= LARGE_MIN_SHARE * n } else { las >= 4.0 * b && las <= DIFFUSE_MAX_SHARE * n };
            if !fits || measure::regions(&mask, ctx.n).1.len() != 1 {
                return None;
            }
            sky.sources[k].las_px = Some(las);
            border_ok = large;
            add_field_points(&mut sky, ctx, 2, (5.5, 30.0), rng);
        }
        Recipe::Shell => {
            let radius = rng.range(3.0 * b, 0.3 * n);
            let c = (rng.range(0.4 * n, 0.6 * n), rng.range(0.4 * n, 0.6 * n));
            let mut comps = shell(ctx, c, radius, log_uniform(8.0, 60.0, rng), rng);
            if rng.chance(0.3) {
                comps.push((Part::Point, 0, Gaussian::point(c.0, c.1, log_uniform(6.0, 30.0, rng) * ctx.rms)));
            }
            let k = sky.push(SourceKind::Shell, c.0, c.1, comps);
            let mask = ctx.island_mask(&sky.source_model(k, ctx.beam, ctx.n));
            if !measure::encloses_hole(&mask, ctx.n, ctx.beam.area().ceil() as usize) {
                return None;
            }
            sky.sources[k].las_px = Some(measure::largest_size(&mask, ctx.n));
            add_field_points(&mut sky, ctx, 1, (5.5, 30.0), rng);
        }
    }
    let model = sky.model(ctx.beam, ctx.n);
    if !ctx.clear(&ctx.island_mask(&model), border_ok) {
        return None;
    }
    sky.measure_peaks(ctx.beam, ctx.n, ctx.rms);
    Some((sky, model))
}
