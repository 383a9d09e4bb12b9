//! Contour lines of one band at chosen levels (marching squares on the full-resolution data), and
//! the level syntax the viewer's Contours field accepts: values in the data's unit (`-6` on an I/N
//! map in dB), multiples of the robust noise (`3σ`, `5s` on sky images: the sigma-clipped median
//! plus n standard deviations) and percentiles (`p95`). Runs on worker threads.
//!
//! Cells join four pixel centres; a cell with a nodata corner draws nothing, so a line ends where the
//! data does. Saddle cells are resolved by the mean of their corners. Points are in image pixel
//! coordinates with (0, 0) the top-left corner of the image, so pixel (c, r) has its centre at
//! (c + 0.5, r + 0.5).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::types::Raster;

/// One contour line: its points in order, whether it closes on itself, and its bounding box
/// `[x0, y0, x1, y1]` (for culling what is off screen).
#[derive(Clone, Debug, PartialEq)]
pub struct ContourLine {
    pub points: Vec<[f32; 2]>,
    pub closed: bool,
    pub bounds: [f32; 4],
}

/// How a level was written: a value, a multiple of the noise, or a percentile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LevelSpec {
    /// In the band's own unit.
    Value(f64),
    /// The sigma-clipped median plus this many sigma-clipped standard deviations.
    Sigma(f64),
    /// This percentile (0-100) of the band's valid values.
    Percentile(f64),
}

impl LevelSpec {
    /// As the user would type it.
    pub fn label(self) -> String {
        match self {
            Self::Value(v) => crate::types::fmt_num(v),
            Self::Sigma(n) => format!("{}σ", crate::types::fmt_num(n)),
            Self::Percentile(p) => format!("p{}", crate::types::fmt_num(p)),
        }
    }
}

/// Parse levels separated by commas or spaces: `-6`, `-6 dB`, `3σ`, `3s`, `3sigma`, `p95`. A unit
/// after a value, apart or attached, must be dB or the data's own `unit` (`Jy/beam`); any other word
/// is an error naming it, so a typo never drops a level silently.
pub fn parse_levels(text: &str, unit: Option<&str>) -> Result<Vec<LevelSpec>, String> {
    let squash = |u: &str| u.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    let units: Vec<String> =
        std::iter::once("db".to_string()).chain(unit.map(squash)).filter(|u| !u.is_empty()).collect();
    let is_unit = |word: &str| units.iter().any(|u| *u == word);
    let shown_units = || std::iter::once("dB").chain(unit).collect::<Vec<_>>().join(" or ");
    let mut out = Vec::new();
    for token in text.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|t| !t.is_empty()) {
        let lower = token.to_lowercase();
        // A unit alone ("dB" after "-6 ") belongs to the number before it.
        if is_unit(&lower) {
            if out.is_empty() {
                return Err(format!("level `{token}` has no number before it"));
            }
            continue;
        }
        let spec = if let Some(p) = lower.strip_prefix('p') {
            let p: f64 = p.parse().map_err(|_| format!("`{token}` is not a percentile (write p95)"))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("percentile `{token}` is outside 0-100"));
            }
            LevelSpec::Percentile(p)
        } else if let Some(n) = ["sigma", "σ", "s"].iter().find_map(|s| lower.strip_suffix(s)) {
            let n: f64 =
                n.trim().parse().map_err(|_| format!("`{token}` is not a multiple of sigma (write 3σ or 3s)"))?;
            LevelSpec::Sigma(n)
        } else {
            let number_end = lower
                .char_indices()
                .find(|&(i, c)| !(c.is_ascii_digit() || ".+-e".contains(c) && !(c == 'e' && i == 0)))
                .map_or(lower.len(), |(i, _)| i);
            let v: f64 = lower[..number_end]
                .parse()
                .map_err(|_| format!("`{token}` is not a level (a value such as -6, 3σ or p95)"))?;
            let rest = &lower[number_end..];
            if !rest.is_empty() && !is_unit(rest) {
                return Err(format!(
                    "`{token}`: `{}` is not the data's unit ({})",
                    &token[number_end..],
                    shown_units()
                ));
            }
            LevelSpec::Value(v)
        };
        match spec {
            LevelSpec::Value(v) | LevelSpec::Sigma(v) | LevelSpec::Percentile(v) if !v.is_finite() => {
                return Err(format!("level `{token}` is not finite"));
            }
            _ => out.push(spec),
        }
    }
    if out.is_empty() {
        return Err("no contour level given (e.g. -6, 3σ or p95)".into());
    }
    if out.len() > MAX_LEVELS {
        return Err(format!("{} contour levels; at most {MAX_LEVELS}", out.len()));
    }
    Ok(out)
}

/// Most levels one request may trace.
pub const MAX_LEVELS: usize = 32;

/// The band's valid values as the level rules need them: the sigma-clipped (3σ, 10 rounds) median
/// and standard deviation, and the sorted values for percentiles. Computed once per request.
pub struct LevelBasis {
    sorted: Vec<f32>,
    noise: Option<(f64, f64)>,
}

impl LevelBasis {
    /// From the valid values of `band` (sorts a copy).
    pub fn of(raster: &Raster, band: usize) -> Self {
        let values: Vec<f32> = (0..raster.width * raster.height)
            .filter(|&i| raster.is_valid(band, i))
            .map(|i| raster.bands[band][i])
            .collect();
        let (_, median, std) = crate::stats::sigma_clip(&values, 3.0, 10);
        let noise = (median.is_finite() && std.is_finite()).then(|| (f64::from(median), f64::from(std)));
        let mut sorted = values;
        sorted.sort_unstable_by(f32::total_cmp);
        Self { sorted, noise }
    }

    /// The value of a level that needs no data (a plain value); None for σ and percentile levels.
    pub fn resolve_value(spec: LevelSpec) -> Option<f64> {
        match spec {
            LevelSpec::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The noise level (sigma-clipped median, standard deviation), when the band has data.
    pub fn noise(&self) -> Option<(f64, f64)> {
        self.noise
    }

    /// The value a level stands for; None when the band has no valid value.
    pub fn resolve(&self, spec: LevelSpec) -> Option<f64> {
        match spec {
            LevelSpec::Value(v) => Some(v),
            LevelSpec::Sigma(n) => self.noise.map(|(m, s)| m + n * s),
            LevelSpec::Percentile(p) => crate::stats::quantile::of_sorted_f32(&self.sorted, p / 100.0),
        }
    }
}

/// Why tracing stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContourError {
    #[error("the contour at {level} has over {max} points; choose a level further from the bulk of the data")]
    TooManyPoints { level: String, max: usize },
    #[error("cancelled")]
    Cancelled,
    #[error("band {band} does not exist (the image has {bands})")]
    NoBand { band: usize, bands: usize },
}

/// The lines of `band` at `level` (data units). Stops with an error past `max_points` points (the
/// memory a level may take) or when `cancel` is set (checked every row).
pub fn trace(
    raster: &Raster,
    band: usize,
    level: f64,
    max_points: usize,
    cancel: &AtomicBool,
) -> Result<Vec<ContourLine>, ContourError> {
    if band >= raster.band_count() {
        return Err(ContourError::NoBand { band: band + 1, bands: raster.band_count() });
    }
    let (w, h) = (raster.width, raster.height);
    let data = &raster.bands[band];
    let value = |c: usize, r: usize| {
        let i = r * w + c;
        raster.is_valid(band, i).then(|| f64::from(data[i]))
    };
    let too_many = || ContourError::TooManyPoints { level: crate::types::fmt_num(level), max: max_points };
    // Every crossing is keyed by its edge: horizontal edge (c, r) joins centres (c, r)-(c+1, r),
    // vertical edge (c, r) joins (c, r)-(c, r+1).
    let mut points: HashMap<u64, [f32; 2]> = HashMap::new();
    let mut segments: Vec<[u64; 2]> = Vec::new();
    let key = |vertical: bool, c: usize, r: usize| 2 * (r as u64 * w as u64 + c as u64) + u64::from(vertical);
    for r in 0..h.saturating_sub(1) {
        if cancel.load(Ordering::Relaxed) {
            return Err(ContourError::Cancelled);
        }
        for c in 0..w - 1 {
            let (Some(tl), Some(tr), Some(br), Some(bl)) =
                (value(c, r), value(c + 1, r), value(c + 1, r + 1), value(c, r + 1))
            else {
                continue;
            };
            let above = |v: f64| v >= level;
            let case =
                u8::from(above(tl)) << 3 | u8::from(above(tr)) << 2 | u8::from(above(br)) << 1 | u8::from(above(bl));
            if case == 0 || case == 15 {
                continue;
            }
            let (x, y) = (c as f32 + 0.5, r as f32 + 0.5);
            let cross = |a: f64, b: f64| if a == b { 0.5 } else { ((level - a) / (b - a)).clamp(0.0, 1.0) as f32 };
            // The four edges: top, right, bottom, left.
            let edges = [
                (key(false, c, r), [x + cross(tl, tr), y]),
                (key(true, c + 1, r), [x + 1.0, y + cross(tr, br)]),
                (key(false, c, r + 1), [x + cross(bl, br), y + 1.0]),
                (key(true, c, r), [x, y + cross(tl, bl)]),
            ];
            let centre_above = above((tl + tr + br + bl) / 4.0);
            let pairs: &[[usize; 2]] = match case {
                1 | 14 => &[[3, 2]],
                2 | 13 => &[[2, 1]],
                3 | 12 => &[[3, 1]],
                4 | 11 => &[[0, 1]],
                6 | 9 => &[[0, 2]],
                7 | 8 => &[[0, 3]],
                // Saddles: tr and bl above (5) or tl and br above (10); the centre decides which
                // pair of corners the level region joins.
                5 if centre_above => &[[0, 3], [2, 1]],
                5 => &[[0, 1], [3, 2]],
                10 if centre_above => &[[0, 1], [3, 2]],
                10 => &[[0, 3], [2, 1]],
                _ => &[],
            };
            for &[a, b] in pairs {
                for e in [a, b] {
                    points.entry(edges[e].0).or_insert(edges[e].1);
                }
                segments.push([edges[a].0, edges[b].0]);
            }
            if points.len() > max_points {
                return Err(too_many());
            }
        }
    }
    Ok(link(&segments, &points))
}

/// Join segments that share an edge crossing into lines.
fn link(segments: &[[u64; 2]], points: &HashMap<u64, [f32; 2]>) -> Vec<ContourLine> {
    const NONE: usize = usize::MAX;
    let mut at: HashMap<u64, [usize; 2]> = HashMap::with_capacity(points.len());
    for (i, s) in segments.iter().enumerate() {
        for e in s {
            let slot = at.entry(*e).or_insert([NONE, NONE]);
            if slot[0] == NONE {
                slot[0] = i;
            } else {
                slot[1] = i;
            }
        }
    }
    let other_segment = |edge: u64, seg: usize| {
        let [a, b] = at[&edge];
        let o = if a == seg { b } else { a };
        (o != NONE).then_some(o)
    };
    let other_end = |seg: usize, edge: u64| {
        let [a, b] = segments[seg];
        if a == edge { b } else { a }
    };
    let mut used = vec![false; segments.len()];
    let mut lines = Vec::new();
    for start in 0..segments.len() {
        if used[start] {
            continue;
        }
        used[start] = true;
        let [first, second] = segments[start];
        // Forward from the second end; closed when the walk comes back to the start segment.
        let mut forward = vec![first, second];
        let (mut edge, mut seg, mut closed) = (second, start, false);
        while let Some(next) = other_segment(edge, seg) {
            if next == start {
                closed = true;
                break;
            }
            if used[next] {
                break;
            }
            used[next] = true;
            edge = other_end(next, edge);
            seg = next;
            forward.push(edge);
        }
        if closed {
            forward.pop();
        } else {
            // Backward from the first end.
            let mut backward = Vec::new();
            let (mut edge, mut seg) = (first, start);
            while let Some(next) = other_segment(edge, seg) {
                if used[next] {
                    break;
                }
                used[next] = true;
                edge = other_end(next, edge);
                seg = next;
                backward.push(edge);
            }
            backward.reverse();
            backward.extend(forward);
            forward = backward;
        }
        let pts: Vec<[f32; 2]> = forward.iter().map(|e| points[e]).collect();
        let mut bounds = [f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY];
        for p in &pts {
            bounds = [bounds[0].min(p[0]), bounds[1].min(p[1]), bounds[2].max(p[0]), bounds[3].max(p[1])];
        }
        lines.push(ContourLine { points: pts, closed, bounds });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RasterMeta;

    fn raster(w: usize, h: usize, f: impl Fn(f64, f64) -> f32) -> Raster {
        let data =
            (0..h).flat_map(|r| (0..w).map(move |c| (c, r))).map(|(c, r)| f(c as f64 + 0.5, r as f64 + 0.5)).collect();
        Raster::new(w, h, vec![data], RasterMeta::default())
    }

    #[test]
    fn a_cone_gives_one_closed_circle_at_the_right_radius() {
        // Value = distance from (32, 32); the level-10 contour is the circle of radius 10.
        let r = raster(64, 64, |x, y| ((x - 32.0).hypot(y - 32.0)) as f32);
        let lines = trace(&r, 0, 10.0, 100_000, &AtomicBool::new(false)).unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].closed);
        for p in &lines[0].points {
            let d = (f64::from(p[0]) - 32.0).hypot(f64::from(p[1]) - 32.0);
            assert!((d - 10.0).abs() < 0.1, "point {p:?} at radius {d}");
        }
        assert!(lines[0].points.len() > 40);
        let b = lines[0].bounds;
        assert!((b[0] - 22.0).abs() < 0.2 && (b[2] - 42.0).abs() < 0.2, "{b:?}");
    }

    #[test]
    fn a_ramp_gives_one_open_straight_line_across() {
        let r = raster(20, 10, |x, _| x as f32);
        let lines = trace(&r, 0, 7.25, 10_000, &AtomicBool::new(false)).unwrap();
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].closed);
        assert_eq!(lines[0].points.len(), 10);
        assert!(lines[0].points.iter().all(|p| (p[0] - 7.25).abs() < 1e-5));
    }

    #[test]
    fn nodata_cuts_a_line_and_two_peaks_give_two_lines() {
        let mut r = raster(40, 20, |x, y| {
            let a = (x - 10.0).hypot(y - 10.0);
            let b = (x - 30.0).hypot(y - 10.0);
            (10.0 - a.min(b)) as f32
        });
        let lines = trace(&r, 0, 5.0, 10_000, &AtomicBool::new(false)).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.closed));
        // A NaN column through the first peak opens its circle into two arcs.
        for row in 0..20 {
            r.bands[0][row * 40 + 10] = f32::NAN;
        }
        let lines = trace(&r, 0, 5.0, 10_000, &AtomicBool::new(false)).unwrap();
        assert_eq!(lines.iter().filter(|l| l.closed).count(), 1);
        assert_eq!(lines.iter().filter(|l| !l.closed).count(), 2);
    }

    #[test]
    fn limits_and_cancel_are_errors() {
        let r = raster(64, 64, |x, y| ((x - 32.0).hypot(y - 32.0)) as f32);
        assert!(matches!(trace(&r, 0, 10.0, 10, &AtomicBool::new(false)), Err(ContourError::TooManyPoints { .. })));
        assert_eq!(trace(&r, 0, 10.0, 10_000, &AtomicBool::new(true)), Err(ContourError::Cancelled));
        assert!(matches!(trace(&r, 3, 10.0, 10_000, &AtomicBool::new(false)), Err(ContourError::NoBand { .. })));
        // Flat data and a tiny image have no line and do not fail.
        let flat = raster(1, 1, |_, _| 1.0);
        assert!(trace(&flat, 0, 1.0, 10, &AtomicBool::new(false)).unwrap().is_empty());
    }

    #[test]
    fn saddles_are_resolved_by_the_centre() {
        // tl and br high, tr and bl low: centre mean 2.5.
        let r = Raster::new(2, 2, vec![vec![5.0, 0.0, 0.0, 5.0]], RasterMeta::default());
        let below = trace(&r, 0, 2.0, 100, &AtomicBool::new(false)).unwrap();
        let above = trace(&r, 0, 3.0, 100, &AtomicBool::new(false)).unwrap();
        assert_eq!(below.len(), 2);
        assert_eq!(above.len(), 2);
        // Centre above the level 2: the high corners join, so each line cuts off a low corner (tr, bl).
        let cuts_tr = |ls: &[ContourLine]| ls.iter().any(|l| l.bounds[0] > 0.9 && l.bounds[3] < 1.1);
        assert!(cuts_tr(&below));
        assert!(!cuts_tr(&above));
    }

    #[test]
    fn level_syntax() {
        assert_eq!(parse_levels("-6", None).unwrap(), vec![LevelSpec::Value(-6.0)]);
        assert_eq!(parse_levels("-6 dB, 0dB", None).unwrap(), vec![LevelSpec::Value(-6.0), LevelSpec::Value(0.0)]);
        assert_eq!(parse_levels("0.1 Jy/beam 0.2jy/beam", Some("Jy/beam")).unwrap().len(), 2);
        // Any other word is an error naming it.
        let why = parse_levels("-6 dB, banana", None).unwrap_err();
        assert!(why.contains("banana"), "{why}");
        assert!(parse_levels("0.1 Jy/beam", None).is_err());
        assert!(parse_levels("3x", None).unwrap_err().contains("`x`"));
        assert_eq!(
            parse_levels("3σ 5s 10sigma p95 1e-3", None).unwrap(),
            vec![
                LevelSpec::Sigma(3.0),
                LevelSpec::Sigma(5.0),
                LevelSpec::Sigma(10.0),
                LevelSpec::Percentile(95.0),
                LevelSpec::Value(1e-3)
            ]
        );
        for bad in ["", "dB", "p120", "abc", "nan", "3..5"] {
            assert!(parse_levels(bad, None).is_err(), "{bad}");
        }
        assert!(parse_levels(&"1 ".repeat(40), None).is_err());
        assert_eq!(LevelSpec::Sigma(3.0).label(), "3σ");
        assert_eq!(LevelSpec::Percentile(95.0).label(), "p95");
    }

    #[test]
    fn sigma_and_percentile_levels_resolve_on_the_data() {
        let r = raster(10, 10, |x, y| (x + 10.0 * y) as f32);
        let basis = LevelBasis::of(&r, 0);
        assert_eq!(basis.resolve(LevelSpec::Value(2.0)), Some(2.0));
        let p50 = basis.resolve(LevelSpec::Percentile(50.0)).unwrap();
        assert!((p50 - 55.0).abs() < 1e-9, "{p50}");
        let (m, s) = basis.noise().unwrap();
        assert!((basis.resolve(LevelSpec::Sigma(2.0)).unwrap() - (m + 2.0 * s)).abs() < 1e-9);
    }
}
