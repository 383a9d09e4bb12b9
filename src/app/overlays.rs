//! Painted overlays on the image view: a notice strip, the colorbar with units, and the scale bar.
//! UI thread.

use super::GroundTruth;
use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Stroke, pos2, vec2};

use super::document::Document;
use super::panels::fmt_num;
use crate::render::Scale;
use crate::render::colormap::unstretch;
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

/// A sample's ground truth: its L3 box (white over black, dashed look by two strokes) labelled
/// "truth", and a caption with the scene and its L1 class. `to_screen` maps normalized image
/// coordinates to screen points.
pub fn ground_truth(painter: &Painter, view: Rect, gt: &GroundTruth, to_screen: impl Fn(f32, f32) -> egui::Pos2) {
    if let Some(b) = gt.bbox {
        let r = Rect::from_two_pos(to_screen(b[0], b[1]), to_screen(b[2], b[3]));
        painter.rect_stroke(r, 0.0, egui::Stroke::new(3.0, Color32::BLACK), egui::StrokeKind::Middle);
        painter.rect_stroke(r, 0.0, egui::Stroke::new(1.5, Color32::WHITE), egui::StrokeKind::Middle);
        let tag = painter.layout_no_wrap("truth box".into(), FontId::proportional(12.0), Color32::WHITE);
        let at = r.left_top() + vec2(0.0, -tag.size().y - 2.0);
        painter.rect_filled(Rect::from_min_size(at, tag.size() + vec2(6.0, 0.0)), 2.0, Color32::from_black_alpha(170));
        painter.galley(at + vec2(3.0, 0.0), tag, Color32::WHITE);
    }
    let strip = Rect::from_min_size(egui::pos2(view.min.x, view.max.y - 22.0), vec2(view.width(), 22.0));
    painter.rect_filled(strip, 0.0, Color32::from_black_alpha(150));
    painter.text(
        strip.left_center() + vec2(8.0, 0.0),
        Align2::LEFT_CENTER,
        &gt.label,
        FontId::proportional(13.0),
        Color32::WHITE,
    );
}

/// Vertical colorbar at the right edge with 5 ticks in data units (single-band mode only).
pub fn colorbar(painter: &Painter, view: Rect, doc: &Document, unit: Option<&str>) {
    let s = &doc.settings;
    if s.rgb_mode || view.height() < 120.0 {
        return;
    }
    let height = (view.height() * 0.6).min(360.0);
    let bar = Rect::from_min_size(pos2(view.max.x - 90.0, view.center().y - height / 2.0), vec2(16.0, height));
    painter.rect_filled(bar.expand2(vec2(70.0, 28.0)).translate(vec2(34.0, 0.0)), 4.0, Color32::from_black_alpha(120));
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
    for k in 0..=4 {
        let t = k as f32 / 4.0;
        let y = bar.max.y - bar.height() * t;
        painter.line_segment([pos2(bar.max.x, y), pos2(bar.max.x + 4.0, y)], Stroke::new(1.0, Color32::WHITE));
        let v = unstretch(t, s.lo[0], s.hi[0], s.scale);
        shadow_text(painter, pos2(bar.max.x + 6.0, y), Align2::LEFT_CENTER, &fmt_num(f64::from(v)));
    }
    let label = match (s.scale, unit) {
        (Scale::Db, Some(u)) => format!("dB ({u})"),
        (Scale::Db, None) => "dB".into(),
        (_, Some(u)) => u.to_string(),
        (_, None) => "value".into(),
    };
    shadow_text(painter, pos2(bar.center().x, bar.min.y - 14.0), Align2::CENTER_CENTER, &label);
    shadow_text(painter, pos2(bar.center().x, bar.max.y + 14.0), Align2::CENTER_CENTER, s.scale.name());
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
    shadow_text(painter, pos2((a.x + b.x) / 2.0, y - 12.0), Align2::CENTER_CENTER, &format!("{approx}{label}{note}"));
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
}
