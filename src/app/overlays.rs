//! Painted overlays on the image view: a notice strip, the colorbar with units, and the scale bar.
//! UI thread.

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

/// Human-readable length: m/km or arcsec/arcmin/deg.
pub fn length_label(value: f64, unit: PixelUnit) -> String {
    match unit {
        PixelUnit::Metres if value >= 1000.0 => format!("{} km", fmt_num(value / 1000.0)),
        PixelUnit::Metres if value < 1.0 => format!("{} cm", fmt_num(value * 100.0)),
        PixelUnit::Metres => format!("{} m", fmt_num(value)),
        PixelUnit::Arcsec if value >= 3600.0 => format!("{} deg", fmt_num(value / 3600.0)),
        PixelUnit::Arcsec if value >= 60.0 => format!("{} arcmin", fmt_num(value / 60.0)),
        PixelUnit::Arcsec => format!("{} arcsec", fmt_num(value)),
    }
}

/// Scale bar at the bottom-left; `points_per_pixel` is screen points per image pixel.
pub fn scale_bar(painter: &Painter, view: Rect, size: &PixelSize, points_per_pixel: f32) {
    let per_point = size.x / f64::from(points_per_pixel);
    let length = nice_length(per_point * 140.0);
    if length <= 0.0 {
        return;
    }
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
    shadow_text(
        painter,
        pos2((a.x + b.x) / 2.0, y - 12.0),
        Align2::CENTER_CENTER,
        &format!("{approx}{}", length_label(length, size.unit)),
    );
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
        assert_eq!(length_label(2000.0, PixelUnit::Metres), "2 km");
        assert_eq!(length_label(0.5, PixelUnit::Metres), "50 cm");
        assert_eq!(length_label(120.0, PixelUnit::Arcsec), "2 arcmin");
    }
}
