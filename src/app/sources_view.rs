//! Painting the sources on the image: island outlines (pixel edges, only islands in view, thinned
//! when zoomed far out), peak marks, the selected island highlighted with its number, and the
//! restoring beam as an ellipse in the lower-right corner (the scale bar has the lower left), at the
//! scale of the view. UI thread.

use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Shape, Stroke, pos2, vec2};

use super::measure_view::Geometry;
use super::sources::FoundSources;
use crate::types::{Beam, PixelSize, PixelUnit};

const OUTLINE: Color32 = Color32::from_rgb(80, 255, 140);
const SELECTED: Color32 = Color32::from_rgb(255, 225, 60);
/// Most outline segments drawn in a frame; islands beyond are drawn as a mark at their peak.
const MAX_SEGMENTS: usize = 200_000;

/// Paint the islands and peaks; returns how many islands are in view.
pub fn paint(painter: &Painter, found: &FoundSources, selected: Option<usize>, g: &Geometry) -> usize {
    let view = g.visible();
    let scale = g.transform.zoom / g.ppp;
    let mut budget = MAX_SEGMENTS;
    let mut in_view = 0;
    for (island, outline) in found.catalog.islands.iter().zip(&found.outlines) {
        #[allow(clippy::cast_precision_loss)]
        let b = island.bbox.map(|v| v as f32);
        if b[2] + 1.0 < view[0] || b[0] > view[2] || b[3] + 1.0 < view[1] || b[1] > view[3] {
            continue;
        }
        in_view += 1;
        let is_selected = selected == Some(island.id);
        let colour = if is_selected { SELECTED } else { OUTLINE };
        let on_screen = (b[2] - b[0] + 1.0).max(b[3] - b[1] + 1.0) * scale;
        if on_screen >= 3.0 && 2 * outline.len() <= budget {
            budget -= 2 * outline.len();
            // A dark band under the line keeps it visible on the brightest colours of any map.
            let width = if is_selected { 2.0 } else { 1.2 };
            let under = Stroke::new(width + 1.5, Color32::from_black_alpha(150));
            let stroke = Stroke::new(width, colour);
            let segments: Vec<[Pos2; 2]> = outline.iter().map(|[a, b]| [at(g, *a), at(g, *b)]).collect();
            for s in &segments {
                painter.line_segment(*s, under);
            }
            for s in &segments {
                painter.line_segment(*s, stroke);
            }
        }
        for peak in &island.peaks {
            let p = g.screen_at([peak.x + 0.5, peak.y + 0.5]);
            let r = 3.0;
            for stroke in [Stroke::new(3.0, Color32::from_black_alpha(150)), Stroke::new(1.5, colour)] {
                painter.line_segment([p - vec2(r, 0.0), p + vec2(r, 0.0)], stroke);
                painter.line_segment([p - vec2(0.0, r), p + vec2(0.0, r)], stroke);
            }
        }
        if is_selected {
            let top = g.screen_at([f64::from(b[0]), f64::from(b[1])]);
            painter.text(
                top - vec2(0.0, 2.0),
                Align2::LEFT_BOTTOM,
                format!("#{}", island.id),
                FontId::proportional(13.0),
                SELECTED,
            );
        }
    }
    in_view
}

fn at(g: &Geometry, p: [f32; 2]) -> Pos2 {
    g.screen_at([f64::from(p[0]), f64::from(p[1])])
}

/// The beam ellipse in the lower-right corner of `view`: its axes at the view's scale (at least a few
/// points, so a tiny beam still shows), its position angle east of north with north up and east
/// left, as radio images are shown.
pub fn paint_beam(painter: &Painter, view: Rect, beam: &Beam, pixel: &PixelSize, g: &Geometry) {
    if pixel.unit != PixelUnit::Arcsec || pixel.x <= 0.0 || pixel.y <= 0.0 {
        return;
    }
    let scale = f64::from(g.transform.zoom / g.ppp);
    #[allow(clippy::cast_possible_truncation)]
    let (a, b) = (
        (0.5 * beam.major_arcsec / pixel.y * scale).clamp(2.0, 60.0) as f32,
        (0.5 * beam.minor_arcsec / pixel.x * scale).clamp(1.5, 60.0) as f32,
    );
    let centre = pos2(view.max.x - 14.0 - a, view.max.y - 14.0 - a);
    #[allow(clippy::cast_possible_truncation)]
    let pa = beam.pa_deg.to_radians() as f32;
    // Major axis direction on screen: north is up (-y), east is left (-x).
    let major = vec2(-pa.sin(), -pa.cos());
    let minor = vec2(major.y, -major.x);
    let points: Vec<Pos2> = (0..48)
        .map(|k| {
            #[allow(clippy::cast_precision_loss)]
            let t = k as f32 / 48.0 * std::f32::consts::TAU;
            centre + major * (a * t.cos()) + minor * (b * t.sin())
        })
        .collect();
    let plate = Rect::from_center_size(centre, vec2(2.0 * a + 12.0, 2.0 * a + 12.0));
    painter.rect_filled(plate, 3.0, Color32::from_black_alpha(140));
    painter.add(Shape::convex_polygon(points, Color32::from_white_alpha(90), Stroke::new(1.0, Color32::WHITE)));
    painter.text(
        pos2(plate.min.x - 4.0, plate.center().y),
        Align2::RIGHT_CENTER,
        format!("beam {:.1}\" x {:.1}\"", beam.major_arcsec, beam.minor_arcsec),
        FontId::proportional(11.0),
        Color32::WHITE,
    );
}
