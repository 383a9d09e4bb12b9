//! Radio galaxies as chains of Gaussians seen through the beam: FR-I (a bright core and two jets
//! that fade and widen outwards: edge-darkened), FR-II (hot spots at the outer ends of lobes, a
//! faint or no core, sometimes a faint jet: edge-brightened) and bent-tail galaxies (FR-I jets swept
//! to one side, as wide- and narrow-angle tails are). Every draw is measured on its own noiseless
//! image: its Fanaroff-Riley ratio, size and bend must fall where its class says, else the draw is
//! refused. Runs on the `heatscope-sim-N` threads.

use std::f64::consts::{PI, TAU};

use super::beam::{Gaussian, render_all};
use super::measure;
use super::sources::{Ctx, Part, pa_of};
use crate::sim::rng::Rng;

/// FR-I galaxies are drawn with a Fanaroff-Riley ratio at most this (the class boundary is 0.5).
pub const FR1_MAX_RATIO: f64 = 0.4;
/// FR-II galaxies are drawn with a Fanaroff-Riley ratio at least this.
pub const FR2_MIN_RATIO: f64 = 0.6;
/// Bent tails turn at least this far from a straight line (degrees).
pub const BENT_MIN_DEG: f64 = 50.0;
/// The ends of a bent galaxy's two tails are at least this many beam majors apart (tails that
/// merge into one blob are not a visible bend).
pub const BENT_MIN_GAP_BEAMS: f64 = 4.0;
/// Every galaxy spans at least this many beam majors above the island threshold.
pub const MIN_LAS_BEAMS: f64 = 4.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GalaxyKind {
    FrI,
    FrII,
    BentTail,
}

/// One accepted galaxy draw.
#[derive(Clone, Debug)]
pub struct Galaxy {
    pub core: (f64, f64),
    pub comps: Vec<(Part, u8, Gaussian)>,
    pub fr_ratio: f64,
    pub las_px: f64,
    pub bend_deg: Option<f64>,
}

/// How far from `from` along the angle `dir` one can go and stay `margin` pixels inside the cutout.
fn reach(from: (f64, f64), dir: f64, n: f64, margin: f64) -> f64 {
    let (dx, dy) = (dir.cos(), dir.sin());
    let along = |p: f64, d: f64| {
        if d > 1e-9 {
            (n - 1.0 - margin - p) / d
        } else if d < -1e-9 {
            (p - margin) / -d
        } else {
            f64::INFINITY
        }
    };
    along(from.0, dx).min(along(from.1, dy)).max(0.0)
}

/// The angle `a` brought into (-pi, pi].
fn wrap(a: f64) -> f64 {
    let r = a.rem_euclid(TAU);
    if r > PI { r - TAU } else { r }
}

/// A jet or tail: knots half a beam apart from 0.7 beams out along `path(s)` (position and
/// direction at distance s) up to `len`, fading as exp(-s / (decay x len)) from `peak` and widening
/// from 0.25 to 2.25 beams.
fn jet(
    side: u8,
    len: f64,
    peak: f64,
    decay: f64,
    b: f64,
    path: impl Fn(f64) -> ((f64, f64), f64),
) -> Vec<(Part, u8, Gaussian)> {
    let mut out = Vec::new();
    let mut s = 0.7 * b;
    while s <= len {
        let ((x, y), dir) = path(s);
        let w = b * (0.25 + 2.0 * s / len);
        let g = Gaussian {
            x,
            y,
            major: 1.3 * w,
            minor: w,
            pa_deg: pa_of(dir.cos(), dir.sin()),
            peak: peak * (-s / (decay * len)).exp(),
        };
        out.push((Part::Jet, side, g));
        s += 0.5 * b;
    }
    out
}

/// One draw of a galaxy of `kind` whose brightest pixel is `peak_snr` x rms, or None when the draw
/// misses its class's ratio, size or bend, or touches the border or the background's NaNs.
pub fn draw(kind: GalaxyKind, ctx: &Ctx, peak_snr: f64, rng: &mut Rng) -> Option<Galaxy> {
    let b = ctx.beam.major;
    let n = ctx.n as f64;
    let core = (rng.range(0.35 * n, 0.65 * n), rng.range(0.35 * n, 0.65 * n));
    let theta = rng.range(0.0, TAU);
    let margin = 1.5 * b + 3.0;
    let mut comps = Vec::new();
    let mut ends = Vec::new();
    match kind {
        GalaxyKind::FrI => {
            comps.push((Part::Core, 0, Gaussian::point(core.0, core.1, 1.0)));
            let total = b * rng.range(5.0, 12.0);
            let peak = rng.range(0.4, 1.0);
            for side in [1u8, 2] {
                let dir = theta + if side == 2 { PI } else { 0.0 } + rng.range(-0.15, 0.15);
                let len = (0.5 * total * rng.range(0.8, 1.2)).min(reach(core, dir, n, margin));
                if len < 2.5 * b {
                    return None;
                }
                let (lateral, period, phase) =
                    (b * rng.range(0.0, 0.6), len * rng.range(0.6, 1.5), rng.range(0.0, TAU));
                let asym = if side == 2 { rng.range(0.6, 1.0) } else { 1.0 };
                let path = |s: f64| {
                    let off = lateral * (TAU * s / period + phase).sin() * s / len;
                    let (ux, uy) = (dir.cos(), dir.sin());
                    ((core.0 + s * ux - off * uy, core.1 + s * uy + off * ux), dir)
                };
                ends.push(path(len).0);
                comps.extend(jet(side, len, peak * asym, rng.range(0.3, 0.6), b, path));
            }
        }
        GalaxyKind::FrII => {
            if rng.chance(0.6) {
                comps.push((Part::Core, 0, Gaussian::point(core.0, core.1, rng.range(0.02, 0.15))));
            }
            let total = b * rng.range(6.0, 16.0);
            for side in [1u8, 2] {
                let dir = theta + if side == 2 { PI } else { 0.0 } + rng.range(-0.14, 0.14);
                let len = (0.5 * total * rng.range(0.85, 1.15)).min(reach(core, dir, n, 2.0 * b + 3.0));
                if len < 2.5 * b {
                    return None;
                }
                let (ux, uy) = (dir.cos(), dir.sin());
                let at = |s: f64, lat: f64| (core.0 + s * ux - lat * uy, core.1 + s * uy + lat * ux);
                let h = if side == 1 { 1.0 } else { rng.range(0.5, 1.0) };
                let (hx, hy) = at(len, 0.0);
                ends.push((hx, hy));
                let major = b * rng.range(0.0, 0.6);
                let g = Gaussian {
                    x: hx,
                    y: hy,
                    major,
                    minor: major * rng.range(0.5, 1.0),
                    pa_deg: pa_of(ux, uy),
                    peak: h,
                };
                comps.push((Part::Hotspot, side, g));
                for k in 1..=rng.int_in(2, 4) {
                    let s = len - k as f64 * b * rng.range(0.5, 0.9);
                    let (x, y) = at(s, b * rng.range(-0.5, 0.5));
                    let major = b * rng.range(1.5, 3.0);
                    let minor = (b * rng.range(1.0, 2.0)).min(major);
                    let peak = h * rng.range(0.08, 0.3) * (1.0 - 0.15 * k as f64);
                    comps.push((Part::Lobe, side, Gaussian { x, y, major, minor, pa_deg: pa_of(ux, uy), peak }));
                }
                if rng.chance(0.3) {
                    let faint = h * rng.range(0.02, 0.05);
                    let mut s = 0.7 * b;
                    while s < len - b {
                        let (x, y) = at(s, 0.0);
                        let w = 0.3 * b;
                        comps.push((Part::Jet, side, Gaussian { x, y, major: w, minor: w, pa_deg: 0.0, peak: faint }));
                        s += 0.5 * b;
                    }
                }
            }
        }
        GalaxyKind::BentTail => {
            comps.push((Part::Core, 0, Gaussian::point(core.0, core.1, 1.0)));
            let psi = theta + PI / 2.0 + rng.range(-0.35, 0.35);
            let total = b * rng.range(6.0, 12.0);
            let peak = rng.range(0.4, 1.0);
            for side in [1u8, 2] {
                let phi0 = theta + if side == 2 { PI } else { 0.0 };
                let turn = wrap(psi - phi0);
                let want = 0.5 * total * rng.range(0.8, 1.2);
                let scale = want * rng.range(0.3, 0.6);
                // Integrate the path in steps of a tenth of a beam, stopping short of the border.
                let step = 0.1 * b;
                let mut track = vec![(core, phi0)];
                let mut s = 0.0;
                while s < want {
                    let ((x, y), _) = track[track.len() - 1];
                    let dir = phi0 + turn * (1.0 - (-s / scale).exp());
                    let next = (x + step * dir.cos(), y + step * dir.sin());
                    let inside = |v: f64| v >= margin && v <= n - 1.0 - margin;
                    if !inside(next.0) || !inside(next.1) {
                        break;
                    }
                    track.push((next, dir));
                    s += step;
                }
                let len = s;
                if len < 2.5 * b {
                    return None;
                }
                let path = |s: f64| track[((s / step).round() as usize).min(track.len() - 1)];
                ends.push(path(len).0);
                let asym = if side == 2 { rng.range(0.6, 1.0) } else { 1.0 };
                comps.extend(jet(side, len, peak * asym, rng.range(0.3, 0.6), b, path));
            }
        }
    }

    // Scale to the drawn peak, then measure on the galaxy's own images.
    let gs = |comps: &[(Part, u8, Gaussian)], side: Option<u8>| {
        render_all(comps.iter().filter(|c| side.is_none_or(|s| c.1 == s)).map(|c| &c.2), ctx.beam, ctx.n)
    };
    let total = gs(&comps, None);
    let max = f64::from(total.iter().copied().fold(0f32, f32::max));
    if max <= 0.0 {
        return None;
    }
    let k = peak_snr * ctx.rms / max;
    for c in &mut comps {
        c.2.peak *= k;
    }
    let (total, a, bb) = (gs(&comps, None), gs(&comps, Some(1)), gs(&comps, Some(2)));
    let mask = ctx.island_mask(&total);
    if !ctx.clear(&mask, false) {
        return None;
    }
    let las_px = measure::largest_size(&mask, ctx.n);
    let fr_ratio = measure::fr_ratio(&total, &a, &bb, &mask, ctx.n, core, b)?;
    let bend_deg = match ends.as_slice() {
        [e1, e2] => {
            let (v1, v2) = ((e1.0 - core.0, e1.1 - core.1), (e2.0 - core.0, e2.1 - core.1));
            let cos = (v1.0 * v2.0 + v1.1 * v2.1) / (v1.0.hypot(v1.1) * v2.0.hypot(v2.1)).max(1e-9);
            180.0 - cos.clamp(-1.0, 1.0).acos().to_degrees()
        }
        _ => return None,
    };
    let ok = las_px >= MIN_LAS_BEAMS * b
        && match kind {
            GalaxyKind::FrI => fr_ratio <= FR1_MAX_RATIO,
            GalaxyKind::FrII => fr_ratio >= FR2_MIN_RATIO,
            GalaxyKind::BentTail => {
                let gap = (ends[0].0 - ends[1].0).hypot(ends[0].1 - ends[1].1);
                fr_ratio <= FR1_MAX_RATIO && bend_deg >= BENT_MIN_DEG && gap >= BENT_MIN_GAP_BEAMS * b
            }
        };
    ok.then(|| Galaxy { core, comps, fr_ratio, las_px, bend_deg: (kind == GalaxyKind::BentTail).then_some(bend_deg) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::radio::beam::BeamPx;

    #[test]
    fn every_kind_is_drawn_within_a_few_tries_and_keeps_its_ratio() {
        let ctx = Ctx { n: 128, beam: BeamPx { major: 4.5, minor: 3.5, pa_deg: 20.0 }, rms: 1.0, nan: None };
        let mut rng = Rng::new(4);
        for kind in [GalaxyKind::FrI, GalaxyKind::FrII, GalaxyKind::BentTail] {
            let mut got = 0;
            for _ in 0..60 {
                if let Some(g) = draw(kind, &ctx, 50.0, &mut rng) {
                    got += 1;
                    match kind {
                        GalaxyKind::FrII => assert!(g.fr_ratio >= FR2_MIN_RATIO),
                        _ => assert!(g.fr_ratio <= FR1_MAX_RATIO),
                    }
                    assert!(g.las_px >= MIN_LAS_BEAMS * 4.5);
                    assert_eq!(g.bend_deg.is_some(), kind == GalaxyKind::BentTail);
                }
            }
            assert!(got >= 6, "{kind:?}: {got} of 60 draws accepted");
        }
    }
}
