//! Painted overlays on and around the image view: a notice strip, the ground truth and its caption,
//! the colorbar with round ticks and units (in its own strip beside the image, never over it), and the
//! scale bar on a dark plate. Labels are kept inside the visible rect. UI thread.

use super::GroundTruth;
use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Stroke, pos2, vec2};

use super::document::Document;
use super::panels::fmt_num;
use crate::render::Scale;
use crate::render::colormap::{stretch, unstretch};
use crate::types::{PixelSize, PixelUnit};

fn shadow_text(painter: &Painter, pos: Pos2, anchor: Align2, text: &str) {
    let font = FontId::proportional(12.0);
    painter.text(pos + vec2(1.0, 1.0), anchor, text, font.clone(), Color32::BLACK);
    painter.text(pos, anchor, text, font, Color32::WHITE);
}

/// A one-line notice across the top of the view.
pub fn notice(painter: &Painter, view: Rect, text: &str) {
    let strip = Rect::from_min_size(view.min, vec2(view.width(), 20.0));
    painter.rect_filled(strip, 0.0, Color32::from_black_alpha(170));
    painter.text(
        strip.left_center() + vec2(8.0, 0.0),
        Align2::LEFT_CENTER,
        text,
        FontId::proportional(13.0),
        Color32::from_rgb(255, 210, 90),
    );
}

/// Text on a dark plate at `at` (its top-left), moved inside `view` when it would stick out.
fn plate(painter: &Painter, view: Rect, at: Pos2, text: &str, color: Color32) {
    let galley = painter.layout_no_wrap(text.into(), FontId::proportional(12.0), color);
    let size = galley.size() + vec2(6.0, 2.0);
    let x = at.x.clamp(view.min.x, (view.max.x - size.x).max(view.min.x));
    let y = at.y.clamp(view.min.y, (view.max.y - size.y).max(view.min.y));
    painter.rect_filled(Rect::from_min_size(pos2(x, y), size), 2.0, Color32::from_black_alpha(170));
    painter.galley(pos2(x + 3.0, y + 1.0), galley, color);
}

/// A sample's ground truth: its L3 box (white over black) labelled "truth box" (above the box, or
/// inside it when the box touches the top of the view). `to_screen` maps normalized image coordinates
/// to screen points.
pub fn ground_truth(painter: &Painter, view: Rect, gt: &GroundTruth, to_screen: impl Fn(f32, f32) -> egui::Pos2) {
    if let Some(b) = gt.bbox {
        let r = Rect::from_two_pos(to_screen(b[0], b[1]), to_screen(b[2], b[3]));
        painter.rect_stroke(r, 0.0, egui::Stroke::new(3.0, Color32::BLACK), egui::StrokeKind::Middle);
        painter.rect_stroke(r, 0.0, egui::Stroke::new(1.5, Color32::WHITE), egui::StrokeKind::Middle);
        let above = r.left_top() + vec2(0.0, -18.0);
        let at = if above.y < view.min.y { r.left_top() + vec2(2.0, 2.0) } else { above };
        plate(painter, view, at, "truth box", Color32::WHITE);
    }
}

/// The caption under the image: the sample's scene and its L1 class (in its own strip).
pub fn caption(painter: &Painter, strip: Rect, gt: &GroundTruth) {
    painter.rect_filled(strip, 0.0, Color32::from_black_alpha(150));
    painter.text(
        strip.left_center() + vec2(8.0, 0.0),
        Align2::LEFT_CENTER,
        &gt.label,
        FontId::proportional(13.0),
        Color32::WHITE,
    );
}

/// Width of the colorbar's strip beside the image.
pub const COLORBAR_WIDTH: f32 = 96.0;

/// Vertical colorbar in its own strip right of the image, with round ticks in data units (single-band
/// mode only).
pub fn colorbar(painter: &Painter, strip: Rect, doc: &Document, unit: Option<&str>) {
    let s = &doc.settings;
    if s.rgb_mode || strip.height() < 120.0 {
        return;
    }
    let height = (strip.height() * 0.6).min(360.0);
    let bar = Rect::from_min_size(pos2(strip.min.x + 14.0, strip.center().y - height / 2.0), vec2(16.0, height));
    let table = s.colormap.table();
    let mut mesh = egui::Mesh::default();
    for (i, c) in table.iter().enumerate() {
        // Entry 255 at the top.
        let y0 = bar.max.y - bar.height() * (i as f32 / 256.0);
        let y1 = bar.max.y - bar.height() * ((i + 1) as f32 / 256.0);
        mesh.add_colored_rect(Rect::from_x_y_ranges(bar.x_range(), y1..=y0), Color32::from_rgb(c[0], c[1], c[2]));
    }
    painter.add(egui::Shape::mesh(mesh));
    painter.rect_stroke(bar, 0.0, Stroke::new(1.0, Color32::WHITE), egui::StrokeKind::Outside);
    for (t, label) in ticks(s.lo[0], s.hi[0], s.scale) {
        let y = bar.max.y - bar.height() * t;
        painter.line_segment([pos2(bar.max.x, y), pos2(bar.max.x + 4.0, y)], Stroke::new(1.0, Color32::WHITE));
        shadow_text(painter, pos2(bar.max.x + 6.0, y), Align2::LEFT_CENTER, &label);
    }
    let label = match (s.scale, unit) {
        (Scale::Db, Some(u)) => format!("dB ({u})"),
        (Scale::Db, None) => "dB".into(),
        (_, Some(u)) => u.to_string(),
        (_, None) => "value".into(),
    };
    // The strip is narrow: a long unit is cut (the info panel and the readout have it whole).
    let label =
        if label.chars().count() > 11 { format!("{}…", label.chars().take(10).collect::<String>()) } else { label };
    shadow_text(painter, pos2(bar.min.x, bar.min.y - 14.0), Align2::LEFT_CENTER, &label);
    shadow_text(painter, pos2(bar.min.x, bar.max.y + 14.0), Align2::LEFT_CENTER, s.scale.name());
}

/// Round colorbar ticks between `lo` and `hi`: (position 0-1 along the bar, label). Steps of 1, 2 or
/// 5 x 10^k, about five of them; on a non-linear scale also round values where the bar's quarters
/// fall, so the stretched end gets ticks too. Ticks closer than 7 % of the bar are dropped.
pub fn ticks(lo: f32, hi: f32, scale: Scale) -> Vec<(f32, String)> {
    if !(lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let (a, b) = (f64::from(lo.min(hi)), f64::from(lo.max(hi)));
    if !(a.is_finite() && b.is_finite()) {
        return Vec::new();
    }
    if b <= a {
        return vec![(0.5, fmt_num(a))];
    }
    let step = nice_step((b - a) / 5.0);
    let mut cands: Vec<(f64, f64)> = Vec::new();
    let first = (a / step).ceil() as i64;
    let last = (b / step).floor() as i64;
    for k in first..=last.min(first + 50) {
        cands.push((k as f64 * step, step));
    }
    if !matches!(scale, Scale::Linear | Scale::Db) {
        for q in [0.25f32, 0.5, 0.75] {
            let v = f64::from(unstretch(q, lo, hi, scale));
            let fine = nice_step((v - a).abs().max((b - a) * 1e-4) / 4.0);
            cands.push(((v / fine).round() * fine, fine));
        }
    }
    let mut out: Vec<(f32, String)> = Vec::new();
    let mut placed: Vec<(f32, f64, f64)> = cands
        .into_iter()
        .filter(|(v, _)| *v >= a - 1e-9 * (b - a) && *v <= b + 1e-9 * (b - a))
        .map(|(v, st)| (stretch(v as f32, lo, hi, scale).clamp(0.0, 1.0), v, st))
        .collect();
    placed.sort_by(|x, y| x.0.total_cmp(&y.0));
    for (t, v, st) in placed {
        if out.iter().all(|(u, _)| (u - t).abs() >= 0.07) {
            out.push((t, tick_label(v, st)));
        }
    }
    out
}

/// Round values (steps of 1, 2 or 5 x 10^k, about `count` of them) between `a` and `b`, with the step.
pub fn round_values(a: f64, b: f64, count: usize) -> (Vec<f64>, f64) {
    let (a, b) = (a.min(b), a.max(b));
    if !(a.is_finite() && b.is_finite()) || b <= a {
        return (Vec::new(), 1.0);
    }
    let step = nice_step((b - a) / count.max(1) as f64);
    let first = (a / step).ceil() as i64;
    let last = (b / step).floor() as i64;
    ((first..=last.min(first + 50)).map(|k| k as f64 * step).collect(), step)
}

/// 1, 2 or 5 x 10^k at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|&s| s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * p)
}

/// A tick value with as many decimals as its step needs.
pub fn tick_label(v: f64, step: f64) -> String {
    let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
    if !(1e-3..1e6).contains(&step) {
        return if v == 0.0 { "0".into() } else { format!("{v:.1e}") };
    }
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{v:.decimals$}")
}

/// A "nice" length (1, 2 or 5 x 10^k) no longer than `max`.
pub fn nice_length(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 0.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [5.0, 2.0, 1.0].into_iter().map(|m| m * p).find(|&l| l <= max).unwrap_or(p)
}

/// The unit a scale bar of `base` units (metres or arcsec) reads best in, and its size in `base`.
fn display_unit(base: f64, unit: PixelUnit) -> (&'static str, f64) {
    match unit {
        PixelUnit::Metres if base >= 1000.0 => ("km", 1000.0),
        PixelUnit::Metres if base < 1.0 => ("cm", 0.01),
        PixelUnit::Metres => ("m", 1.0),
        PixelUnit::Arcsec if base >= 3600.0 => ("deg", 3600.0),
        PixelUnit::Arcsec if base >= 60.0 => ("arcmin", 60.0),
        PixelUnit::Arcsec => ("arcsec", 1.0),
    }
}

/// Length of a scale bar at most `max` base units long, a round number in the unit it is shown in:
/// (length in base units, label).
pub fn bar_length(max: f64, unit: PixelUnit) -> Option<(f64, String)> {
    if max <= 0.0 || !max.is_finite() {
        return None;
    }
    let (name, size) = display_unit(max, unit);
    let n = nice_length(max / size);
    Some((n * size, format!("{} {name}", fmt_num(n))))
}

/// Scale bar at the bottom-left; `points_per_pixel` is screen points per image pixel; `note` follows
/// the length (" (estimated)" when the GSD is the estimator's).
pub fn scale_bar(painter: &Painter, view: Rect, size: &PixelSize, points_per_pixel: f32, note: &str) {
    let per_point = size.x / f64::from(points_per_pixel);
    let Some((length, label)) = bar_length(per_point * 140.0, size.unit) else { return };
    let width = (length / per_point) as f32;
    let y = view.max.y - 18.0;
    let x0 = view.min.x + 16.0;
    let a = pos2(x0, y);
    let b = pos2(x0 + width, y);
    for (stroke, color) in [(4.0, Color32::BLACK), (2.0, Color32::WHITE)] {
        painter.line_segment([a, b], Stroke::new(stroke, color));
        painter.line_segment([a - vec2(0.0, 5.0), a + vec2(0.0, 5.0)], Stroke::new(stroke, color));
        painter.line_segment([b - vec2(0.0, 5.0), b + vec2(0.0, 5.0)], Stroke::new(stroke, color));
    }
    let approx = if size.approximate { "~" } else { "" };
    let text = format!("{approx}{label}{note}");
    let width = painter.layout_no_wrap(text.clone(), FontId::proportional(12.0), Color32::WHITE).size().x;
    plate(painter, view, pos2((a.x + b.x) / 2.0 - width / 2.0 - 3.0, y - 22.0), &text, Color32::WHITE);
}

/// In the scale bar's place, why there is none (an estimate too uncertain to draw one from).
pub fn scale_bar_refused(painter: &Painter, view: Rect, why: &str) {
    plate(painter, view, pos2(view.min.x + 16.0, view.max.y - 30.0), why, Color32::from_rgb(255, 200, 120));
}

/// Room left of and under the image for a spectrogram's axes, in points.
pub const AXIS_LEFT: f32 = 62.0;
pub const AXIS_BOTTOM: f32 = 30.0;

/// Round-valued ticks of a raster's physical axes along the image's left and bottom edges, in the
/// margins `left` and `bottom` (outside the image, so no label covers data). `to_x` and `to_y` map
/// an image coordinate (pixel edges at integers) to points.
pub fn axes(
    painter: &Painter,
    left: Rect,
    bottom: Rect,
    axes: &crate::types::Axes,
    visible: [[f32; 2]; 2],
    to_x: impl Fn(f32) -> f32,
    to_y: impl Fn(f32) -> f32,
) {
    let font = FontId::proportional(11.0);
    let ink = Color32::from_gray(200);
    let stroke = Stroke::new(1.0, ink);
    // Pixel i's centre (image coordinate i + 0.5) has the value start + step * i.
    let value_at = |a: &crate::types::Axis, u: f32| a.at(f64::from(u) - 0.5);
    let coord_of = |a: &crate::types::Axis, v: f64| (a.index_of(v) + 0.5) as f32;
    let [[u0, u1], [w0, w1]] = visible;

    let across = ((bottom.width() / 90.0).floor() as usize).clamp(2, 10);
    let (values, step) = round_values(value_at(&axes.x, u0), value_at(&axes.x, u1), across);
    for v in values {
        let x = to_x(coord_of(&axes.x, v));
        if !(bottom.min.x..=bottom.max.x).contains(&x) {
            continue;
        }
        painter.line_segment([pos2(x, bottom.min.y), pos2(x, bottom.min.y + 4.0)], stroke);
        painter.text(pos2(x, bottom.min.y + 5.0), Align2::CENTER_TOP, tick_label(v, step), font.clone(), ink);
    }
    let title = format!("{} ({})", axes.x.name, axes.x.unit);
    painter.text(pos2(bottom.max.x - 2.0, bottom.max.y - 1.0), Align2::RIGHT_BOTTOM, title, font.clone(), ink);

    let down = ((left.height() / 60.0).floor() as usize).clamp(2, 12);
    let (values, step) = round_values(value_at(&axes.y, w0), value_at(&axes.y, w1), down);
    for v in values {
        let y = to_y(coord_of(&axes.y, v));
        if !(left.min.y..=left.max.y).contains(&y) {
            continue;
        }
        painter.line_segment([pos2(left.max.x - 4.0, y), pos2(left.max.x, y)], stroke);
        painter.text(pos2(left.max.x - 6.0, y), Align2::RIGHT_CENTER, tick_label(v, step), font.clone(), ink);
    }
    // The y axis's name and unit sit in the corner under its labels, beside the x axis's ticks.
    let title = format!("{}\n({})", axes.y.name, axes.y.unit);
    painter.text(pos2(left.min.x + 2.0, bottom.min.y + 3.0), Align2::LEFT_TOP, title, font, ink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_lengths() {
        assert_eq!(nice_length(140.0), 100.0);
        assert_eq!(nice_length(260.0), 200.0);
        assert_eq!(nice_length(0.7), 0.5);
        assert_eq!(nice_length(5.0), 5.0);
        assert_eq!(bar_length(2600.0, PixelUnit::Metres), Some((2000.0, "2 km".into())));
        assert_eq!(bar_length(0.7, PixelUnit::Metres), Some((0.5, "50 cm".into())));
        // 200 arcsec of room: a round number of arcmin (2), not 3.33 arcmin.
        assert_eq!(bar_length(200.0, PixelUnit::Arcsec), Some((120.0, "2 arcmin".into())));
        assert_eq!(bar_length(0.0, PixelUnit::Arcsec), None);
    }

    #[test]
    fn colorbar_ticks_are_round_numbers() {
        let labels = |lo, hi, scale| ticks(lo, hi, scale).into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        assert_eq!(labels(-9.56942, 2002.25, Scale::Linear), ["0", "500", "1000", "1500", "2000"]);
        assert_eq!(labels(-20.0, 20.0, Scale::Linear), ["-20", "-10", "0", "10", "20"]);
        assert_eq!(labels(0.0, 4.2534e-4, Scale::Linear), ["0", "1.0e-4", "2.0e-4", "3.0e-4", "4.0e-4"]);
        assert_eq!(labels(0.0, 1.0, Scale::Linear), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        // Positions follow the stretch, from bottom (0) to top (1), and are never crowded.
        let t = ticks(0.0, 1000.0, Scale::Log);
        assert!(t.windows(2).all(|w| w[1].0 - w[0].0 >= 0.07), "{t:?}");
        assert!(t.len() >= 3 && t.iter().any(|(p, _)| *p > 0.1 && *p < 0.6), "the stretched end has ticks: {t:?}");
        assert_eq!(ticks(3.0, 3.0, Scale::Linear), vec![(0.5, "3".to_string())]);
        assert!(ticks(f32::NAN, 1.0, Scale::Linear).is_empty());
        // The histogram's axis: about three round values across what it shows.
        assert_eq!(round_values(-3.0, 250.0, 3), (vec![0.0, 100.0, 200.0], 100.0));
        assert_eq!(tick_label(0.30000000000000004, 0.1), "0.3");
    }
}
