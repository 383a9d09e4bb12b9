//! The sky of a RadioQA-sim scene as Gaussian components seen through the beam: compact sources,
//! the island/peak groups of the morphology classes, diffuse emission, ring-shaped sources (shells),
//! and extra field sources placed clear of the subject. Radio galaxies are in `galaxies.rs`, ring
//! artefacts in `artefact.rs`. Each builder makes one draw; the scene retries until the measured
//! labels match (`build.rs`). Runs on the `heatscope-sim-N` threads.

use serde::Serialize;

use super::artefact::RingArtefact;
use super::beam::{BeamPx, Gaussian, render_all};
use super::measure::{self, Peak};
use crate::sim::rng::Rng;

/// Islands are the 8-connected regions of the noiseless model above this many noise rms.
pub const ISLAND_SIGMA: f64 = 3.0;
/// Flux peaks are local maxima of the noiseless model above this many noise rms.
pub const PEAK_SIGMA: f64 = 5.0;
/// Peak signal-to-noise bins (noise rms units) a scene's brightest source is drawn from.
pub const SNR_BINS: [(f64, f64); 4] = [(5.0, 10.0), (10.0, 30.0), (30.0, 100.0), (100.0, 1000.0)];
/// Peak signal-to-noise of the bright source of the artefact task (with and without rings).
pub const BRIGHT_SNR: (f64, f64) = (300.0, 5000.0);
/// A component is resolved when its intrinsic FWHM major axis is at least this many beam majors.
pub const RESOLVED_BEAMS: f64 = 1.0;

/// What a component is part of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    Point,
    Blob,
    Core,
    Jet,
    Lobe,
    Hotspot,
    Diffuse,
    Shell,
}

/// One Gaussian of the sky: the source it belongs to (index into [`Sky::sources`]), its role, the
/// side of a galaxy it is on (0: none or the core, 1 and 2: the two sides) and its shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Component {
    pub source: usize,
    pub part: Part,
    pub side: u8,
    #[serde(flatten)]
    pub g: Gaussian,
}

/// What kind of source a group of components is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// One component, unresolved or barely resolved.
    Compact,
    /// One resolved component.
    Resolved,
    /// Two or three components drawn to share one island.
    Multi,
    #[serde(rename = "fr-i")]
    FrI,
    #[serde(rename = "fr-ii")]
    FrII,
    BentTail,
    Diffuse,
    Shell,
}

/// One source with what was measured on its own noiseless image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Source {
    pub kind: SourceKind,
    /// The host position (galaxies: the core), or the first component's.
    pub x: f64,
    pub y: f64,
    /// Its brightest model pixel in noise rms units.
    pub peak_snr: f64,
    /// Largest angular size of its pixels above the island threshold (pixels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub las_px: Option<f64>,
    /// Fanaroff-Riley ratio (galaxies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fr_ratio: Option<f64>,
    /// How far the tails bend away from a straight line, degrees (bent-tail galaxies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bend_deg: Option<f64>,
}

/// The sky of one scene.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Sky {
    pub sources: Vec<Source>,
    pub components: Vec<Component>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artefact: Option<RingArtefact>,
}

impl Sky {
    /// The noiseless model of the sources (no artefact), Jy/beam.
    pub fn model(&self, beam: BeamPx, n: usize) -> Vec<f32> {
        render_all(self.components.iter().map(|c| &c.g), beam, n)
    }

    /// Add `comps` as a new source of `kind` at (`x`, `y`); returns its index.
    pub fn push(
        &mut self,
        kind: SourceKind,
        x: f64,
        y: f64,
        comps: impl IntoIterator<Item = (Part, u8, Gaussian)>,
    ) -> usize {
        let source = self.sources.len();
        self.sources.push(Source { kind, x, y, peak_snr: 0.0, las_px: None, fr_ratio: None, bend_deg: None });
        self.components.extend(comps.into_iter().map(|(part, side, g)| Component { source, part, side, g }));
        source
    }

    /// The noiseless image of source `k` alone.
    pub fn source_model(&self, k: usize, beam: BeamPx, n: usize) -> Vec<f32> {
        render_all(self.components.iter().filter(|c| c.source == k).map(|c| &c.g), beam, n)
    }

    /// Fill every source's peak SNR from its own image.
    pub fn measure_peaks(&mut self, beam: BeamPx, n: usize, rms: f64) {
        for k in 0..self.sources.len() {
            let img = self.source_model(k, beam, n);
            self.sources[k].peak_snr = f64::from(img.iter().copied().fold(0f32, f32::max)) / rms;
        }
    }

    /// Whether any component is resolved ([`RESOLVED_BEAMS`]).
    pub fn has_resolved(&self, beam: BeamPx) -> bool {
        self.components.iter().any(|c| c.g.major >= RESOLVED_BEAMS * beam.major)
    }
}

/// What a builder needs to know about the scene: cutout side, beam, noise rms, and the background's
/// NaN pixels (emission must keep clear of them).
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub n: usize,
    pub beam: BeamPx,
    pub rms: f64,
    pub nan: Option<&'a [bool]>,
}

impl Ctx<'_> {
    /// Whether the island mask `mask` keeps 2 pixels from the border (unless `border_ok`) and 2
    /// pixels from the background's NaNs.
    pub fn clear(&self, mask: &[bool], border_ok: bool) -> bool {
        if !border_ok && measure::touches_border(mask, self.n, 2) {
            return false;
        }
        match self.nan {
            Some(nan) => !measure::dilate(mask, self.n, 2.0).iter().zip(nan).any(|(&m, &bad)| m && bad),
            None => true,
        }
    }

    pub fn island_mask(&self, img: &[f32]) -> Vec<bool> {
        measure::above(img, ISLAND_SIGMA * self.rms)
    }

    pub fn peaks(&self, img: &[f32]) -> Vec<Peak> {
        measure::peaks(img, self.n, PEAK_SIGMA * self.rms, self.beam.major)
    }
}

/// The name of `SNR_BINS[bin]` as the manifest and the report groups write it: `5-10`, ..., `>100`.
pub fn snr_bin_name(bin: usize) -> String {
    let (lo, hi) = SNR_BINS[bin.min(SNR_BINS.len() - 1)];
    if bin + 1 >= SNR_BINS.len() { format!(">{lo}") } else { format!("{lo}-{hi}") }
}

/// A peak SNR drawn log-uniformly from `SNR_BINS[bin]`.
pub fn snr_in_bin(bin: usize, rng: &mut Rng) -> f64 {
    let (lo, hi) = SNR_BINS[bin.min(SNR_BINS.len() - 1)];
    log_uniform(lo, hi, rng)
}

pub fn log_uniform(lo: f64, hi: f64, rng: &mut Rng) -> f64 {
    (rng.range(lo.ln(), hi.ln())).exp()
}

/// The position angle (east of north) of a direction (dx, dy) in pixel coordinates.
pub fn pa_of(dx: f64, dy: f64) -> f64 {
    (-dx).atan2(-dy).to_degrees()
}

/// A uniform position at least `margin` pixels inside the cutout.
pub fn position(n: usize, margin: f64, rng: &mut Rng) -> (f64, f64) {
    let hi = (n as f64 - 1.0 - margin).max(margin);
    (rng.range(margin, hi), rng.range(margin, hi))
}

/// Components of one island meant to hold `peaks` flux peaks (1-3) about `centre`: one compact or
/// resolved Gaussian, a pair, or a chain/triangle of three, 1.2-2.2 beams apart, the brightest at
/// `peak` Jy/beam and the others 0.45-1 of it.
pub fn island_group(
    peaks: usize,
    centre: (f64, f64),
    peak: f64,
    beam: BeamPx,
    rng: &mut Rng,
) -> Vec<(Part, u8, Gaussian)> {
    let b = beam.major;
    let compact = |x: f64, y: f64, p: f64, rng: &mut Rng| {
        let major = b * rng.range(0.0, 0.7);
        Gaussian { x, y, major, minor: major * rng.range(0.5, 1.0), pa_deg: rng.range(0.0, 180.0), peak: p }
    };
    if peaks <= 1 {
        let (x, y) = centre;
        let r = rng.uniform();
        let g = if r < 0.5 {
            Gaussian::point(x, y, peak)
        } else if r < 0.75 {
            compact(x, y, peak, rng)
        } else {
            let major = b * rng.range(RESOLVED_BEAMS, 2.5);
            Gaussian { x, y, major, minor: major * rng.range(0.4, 1.0), pa_deg: rng.range(0.0, 180.0), peak }
        };
        let part = if g.major >= RESOLVED_BEAMS * b { Part::Blob } else { Part::Point };
        return vec![(part, 0, g)];
    }
    let theta = rng.range(0.0, std::f64::consts::TAU);
    let (ux, uy) = (theta.cos(), theta.sin());
    let mut out = Vec::new();
    let ratio = |rng: &mut Rng| peak * rng.range(0.45, 1.0);
    if peaks == 2 {
        let d = b * rng.range(1.2, 2.2);
        let (x, y) = centre;
        out.push((Part::Point, 1, compact(x - 0.5 * d * ux, y - 0.5 * d * uy, peak, rng)));
        let p2 = ratio(rng);
        out.push((Part::Point, 2, compact(x + 0.5 * d * ux, y + 0.5 * d * uy, p2, rng)));
    } else if rng.chance(0.7) {
        // A bent chain: the middle one and two on either side.
        let (d1, d2) = (b * rng.range(1.2, 2.2), b * rng.range(1.2, 2.2));
        let bend = rng.range(-35f64, 35.0).to_radians();
        let (vx, vy) = (-(ux * bend.cos() - uy * bend.sin()), -(ux * bend.sin() + uy * bend.cos()));
        let (x, y) = centre;
        out.push((Part::Point, 0, compact(x, y, peak, rng)));
        let p1 = ratio(rng);
        out.push((Part::Point, 1, compact(x + d1 * ux, y + d1 * uy, p1, rng)));
        let p2 = ratio(rng);
        out.push((Part::Point, 2, compact(x + d2 * vx, y + d2 * vy, p2, rng)));
    } else {
        let r = b * rng.range(1.2, 2.0) / 3f64.sqrt();
        for k in 0..3u8 {
            let a = theta + f64::from(k) * std::f64::consts::TAU / 3.0 + rng.range(-0.2, 0.2);
            let p = if k == 0 { peak } else { ratio(rng) };
            out.push((Part::Point, k, compact(centre.0 + r * a.cos(), centre.1 + r * a.sin(), p, rng)));
        }
    }
    out
}

/// Diffuse emission: 3-6 overlapping Gaussians whose envelope is `size` pixels across about
/// `centre`, scaled so the brightest pixel is `peak_snr` x rms.
pub fn diffuse(ctx: &Ctx, centre: (f64, f64), size: f64, peak_snr: f64, rng: &mut Rng) -> Vec<(Part, u8, Gaussian)> {
    let count = rng.int_in(3, 6);
    let mut gs: Vec<Gaussian> = (0..count)
        .map(|_| {
            let major = size * rng.range(0.35, 0.65);
            let (ox, oy) = (size * rng.range(-0.25, 0.25), size * rng.range(-0.25, 0.25));
            Gaussian {
                x: centre.0 + ox,
                y: centre.1 + oy,
                major,
                minor: major * rng.range(0.5, 1.0),
                pa_deg: rng.range(0.0, 180.0),
                peak: rng.range(0.5, 1.0),
            }
        })
        .collect();
    scale_to(&mut gs, ctx, peak_snr);
    gs.into_iter().map(|g| (Part::Diffuse, 0, g)).collect()
}

/// Scale the peaks of `gs` so their image's brightest pixel is `peak_snr` x rms.
pub fn scale_to(gs: &mut [Gaussian], ctx: &Ctx, peak_snr: f64) {
    let img = render_all(gs.iter(), ctx.beam, ctx.n);
    let max = f64::from(img.iter().copied().fold(0f32, f32::max));
    if max > 0.0 {
        let k = peak_snr * ctx.rms / max;
        for g in gs {
            g.peak *= k;
        }
    }
}

/// A ring-shaped source (a shell): knots half a beam apart on an ellipse of semi-major axis
/// `radius`, limb-brightened by a cos^2 modulation, scaled so its brightest pixel is `peak_snr` x rms.
pub fn shell(ctx: &Ctx, centre: (f64, f64), radius: f64, peak_snr: f64, rng: &mut Rng) -> Vec<(Part, u8, Gaussian)> {
    let b = ctx.beam.major;
    let q = rng.range(0.7, 1.0);
    let tilt = rng.range(0.0, std::f64::consts::PI);
    let width = b * rng.range(0.5, 1.2);
    let depth = rng.range(0.0, 0.6);
    let bright = rng.range(0.0, std::f64::consts::PI);
    let knots = ((std::f64::consts::TAU * radius / (0.5 * b)).ceil() as usize).max(12);
    let mut gs: Vec<Gaussian> = (0..knots)
        .map(|k| {
            let t = k as f64 / knots as f64 * std::f64::consts::TAU;
            let (ex, ey) = (radius * t.cos(), q * radius * t.sin());
            let (x, y) = (centre.0 + ex * tilt.cos() - ey * tilt.sin(), centre.1 + ex * tilt.sin() + ey * tilt.cos());
            let peak = 1.0 - depth + depth * (t - bright).cos().powi(2);
            Gaussian { x, y, major: width, minor: width, pa_deg: 0.0, peak }
        })
        .collect();
    scale_to(&mut gs, ctx, peak_snr);
    gs.into_iter().map(|g| (Part::Shell, 0, g)).collect()
}

/// Up to `count` point sources of peak SNR in `snr`, each at least 3 beams from `occupied` pixels,
/// from each other and (by 2 beams) from the border; returns their positions and peaks.
pub fn field_points(ctx: &Ctx, occupied: &[bool], count: usize, snr: (f64, f64), rng: &mut Rng) -> Vec<Gaussian> {
    let b = ctx.beam.major;
    let near = measure::dilate(occupied, ctx.n, 3.0 * b);
    let mut out: Vec<Gaussian> = Vec::new();
    for _ in 0..count {
        for _ in 0..50 {
            let (x, y) = position(ctx.n, 2.0 * b, rng);
            let pixel = (y.round() as usize).min(ctx.n - 1) * ctx.n + (x.round() as usize).min(ctx.n - 1);
            let free = !near[pixel] && out.iter().all(|g| (g.x - x).hypot(g.y - y) >= 3.0 * b);
            let clean = ctx.nan.is_none_or(|nan| !nan[pixel]);
            if free && clean {
                out.push(Gaussian::point(x, y, log_uniform(snr.0, snr.1, rng) * ctx.rms));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_kinds_have_readable_names() {
        let names: Vec<String> = [SourceKind::FrI, SourceKind::FrII, SourceKind::BentTail]
            .iter()
            .map(|k| serde_json::to_value(k).unwrap().as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["fr-i", "fr-ii", "bent-tail"]);
    }

    #[test]
    fn a_shell_encloses_a_hole_and_diffuse_emission_is_scaled() {
        let ctx = Ctx { n: 96, beam: BeamPx { major: 4.0, minor: 3.0, pa_deg: 10.0 }, rms: 1.0, nan: None };
        let mut rng = Rng::new(2);
        let gs: Vec<Gaussian> = shell(&ctx, (48.0, 48.0), 20.0, 20.0, &mut rng).into_iter().map(|c| c.2).collect();
        let img = render_all(gs.iter(), ctx.beam, 96);
        let max = img.iter().copied().fold(0f32, f32::max);
        assert!((max - 20.0).abs() < 1e-3);
        assert!(measure::encloses_hole(&ctx.island_mask(&img), 96, 16));
        let d: Vec<Gaussian> = diffuse(&ctx, (48.0, 48.0), 40.0, 6.0, &mut rng).into_iter().map(|c| c.2).collect();
        let img = render_all(d.iter(), ctx.beam, 96);
        assert!((img.iter().copied().fold(0f32, f32::max) - 6.0).abs() < 1e-3);
    }
}
