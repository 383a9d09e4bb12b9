//! The measuring tools on the image: drawing a line, box or polygon with the mouse (the primary
//! button belongs to the tool, the secondary or middle button still pans), the keys that finish or
//! drop a shape, and painting the shape and the contour lines (only those on screen, thinned to
//! about one point per screen pixel, drawn as separate segments). UI thread.

use egui::{Color32, Painter, Pos2, Rect, Response, Shape, Stroke, pos2};

use super::measure::{ContourSet, DocMeasure, Drawn, MeasureState, Tool};
use crate::render::ViewTransform;
use crate::stats::region::Region;

/// Where the image is on screen.
#[derive(Clone, Copy)]
pub struct Geometry {
    pub rect: Rect,
    pub ppp: f32,
    pub transform: ViewTransform,
}

impl Geometry {
    /// Image coordinates of a screen point.
    pub fn image_at(self, pos: Pos2) -> [f64; 2] {
        let p = self.transform.to_image([(pos.x - self.rect.min.x) * self.ppp, (pos.y - self.rect.min.y) * self.ppp]);
        [f64::from(p[0]), f64::from(p[1])]
    }

    /// Screen point of image coordinates.
    #[allow(clippy::cast_possible_truncation)]
    pub fn screen_at(self, p: [f64; 2]) -> Pos2 {
        let v = self.transform.to_view([p[0] as f32, p[1] as f32]);
        pos2(self.rect.min.x + v[0] / self.ppp, self.rect.min.y + v[1] / self.ppp)
    }

    /// The image area on screen, `[x0, y0, x1, y1]` in image coordinates.
    pub fn visible(self) -> [f32; 4] {
        let a = self.transform.to_image([0.0, 0.0]);
        let b = self.transform.to_image([self.rect.width() * self.ppp, self.rect.height() * self.ppp]);
        [a[0].min(b[0]), a[1].min(b[1]), a[0].max(b[0]), a[1].max(b[1])]
    }
}

/// Colours of successive contour levels (legend and lines).
pub const LEVEL_COLOURS: [Color32; 6] = [
    Color32::WHITE,
    Color32::from_rgb(0, 230, 255),
    Color32::from_rgb(255, 80, 220),
    Color32::from_rgb(255, 220, 0),
    Color32::from_rgb(120, 255, 80),
    Color32::from_rgb(255, 140, 40),
];

const SHAPE_COLOUR: Color32 = Color32::from_rgb(255, 225, 60);

/// Mouse input of a drawing tool on the image. Returns true when the primary button belongs to the
/// tool this frame (the viewer then neither pans nor pins).
pub fn interact(m: &mut DocMeasure, response: &Response, tool: Tool, g: &Geometry) -> bool {
    if tool == Tool::Inspect {
        return false;
    }
    let primary = egui::PointerButton::Primary;
    let pointer = response.interact_pointer_pos().or(response.hover_pos());
    match tool {
        Tool::Profile | Tool::Rect => {
            // The drag starts where the button went down, not where it was first seen moving.
            let origin = response.ctx.input(|i| i.pointer.press_origin());
            if response.drag_started_by(primary)
                && let Some(p) = origin.or(response.interact_pointer_pos())
            {
                m.drag_from = Some(g.image_at(p));
            }
            if let (Some(a), Some(p)) = (m.drag_from, pointer) {
                let b = g.image_at(p);
                // A line follows the mouse (its profile is cheap); a box is measured once released.
                if tool == Tool::Profile && response.dragged_by(primary) && g.screen_at(a).distance(p) > 2.0 {
                    m.drawn = Some(Drawn::Line(a, b));
                }
                if response.drag_stopped_by(primary) {
                    m.drag_from = None;
                    if g.screen_at(a).distance(p) > 2.0 {
                        let shape = match tool {
                            Tool::Profile => Drawn::Line(a, b),
                            _ => Drawn::Region(Region::Rect { x0: a[0], y0: a[1], x1: b[0], y1: b[1] }),
                        };
                        m.clear_shape();
                        m.drawn = Some(shape);
                    }
                }
            }
        }
        Tool::Polygon => {
            if response.double_clicked() {
                close_polygon(m);
            } else if response.clicked_by(primary)
                && let Some(p) = response.interact_pointer_pos()
            {
                // The second click of a double-click lands on the first: one corner.
                let repeat = m.placing.last().is_some_and(|&q| g.screen_at(q).distance(p) < 3.0);
                if !repeat {
                    if m.placing.is_empty() {
                        m.clear_shape();
                    }
                    m.placing.push(g.image_at(p));
                }
            }
        }
        Tool::Inspect => {}
    }
    true
}

/// Finish the polygon being placed (three corners or more).
pub fn close_polygon(m: &mut DocMeasure) {
    if m.placing.len() >= 3 {
        let corners = std::mem::take(&mut m.placing);
        m.clear_shape();
        m.drawn = Some(Drawn::Region(Region::Polygon(corners)));
    }
}

/// Keys of the measuring tools: L, R and G pick (or put down) a tool, I shows contours, Enter closes a
/// polygon, Backspace removes its last corner, Esc drops what is being drawn, then the shape, then
/// the tool. None acts while a text field has the keyboard.
pub fn keys(state: &mut MeasureState, m: Option<&mut DocMeasure>, ctx: &egui::Context) {
    use egui::{Key, Modifiers};
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    ctx.input_mut(|i| {
        for (key, tool) in [(Key::L, Tool::Profile), (Key::R, Tool::Rect), (Key::G, Tool::Polygon)] {
            if i.consume_key(Modifiers::NONE, key) {
                state.tool = if state.tool == tool { Tool::Inspect } else { tool };
            }
        }
        if i.consume_key(Modifiers::NONE, Key::I) {
            state.show_contours = !state.show_contours;
        }
        let Some(m) = m else { return };
        if !m.placing.is_empty() {
            if i.consume_key(Modifiers::NONE, Key::Enter) {
                close_polygon(m);
            }
            if i.consume_key(Modifiers::NONE, Key::Backspace) {
                m.placing.pop();
            }
        }
        let drawing = !m.placing.is_empty() || m.drag_from.is_some();
        if (drawing || m.drawn.is_some() || state.tool != Tool::Inspect) && i.consume_key(Modifiers::NONE, Key::Escape)
        {
            if drawing {
                m.placing.clear();
                m.drag_from = None;
            } else if m.drawn.is_some() {
                m.clear_shape();
            } else {
                state.tool = Tool::Inspect;
            }
        }
    });
}

/// Paint the contour lines on screen.
pub fn paint_contours(painter: &Painter, set: &ContourSet, g: &Geometry) {
    let view = g.visible();
    // Thin to points at least this far apart on screen.
    let min_step = 1.5;
    for (k, level) in set.levels.iter().enumerate() {
        let stroke = Stroke::new(1.5, LEVEL_COLOURS[k % LEVEL_COLOURS.len()]);
        for line in &level.lines {
            let b = line.bounds;
            if b[2] < view[0] || b[0] > view[2] || b[3] < view[1] || b[1] > view[3] {
                continue;
            }
            let mut pts: Vec<Pos2> = Vec::with_capacity(line.points.len().min(4096));
            for p in &line.points {
                let s = g.screen_at([f64::from(p[0]), f64::from(p[1])]);
                if pts.last().is_none_or(|q| q.distance(s) >= min_step) {
                    pts.push(s);
                }
            }
            if line.closed
                && let (Some(&first), Some(&last)) = (pts.first(), pts.last())
            {
                pts.push(first);
                if last == first {
                    pts.pop();
                }
            }
            // Separate segments: a path's mitred joins throw long spikes at the hairpin turns a
            // contour around a single pixel makes.
            for pair in pts.windows(2) {
                painter.line_segment([pair[0], pair[1]], stroke);
            }
        }
    }
}

/// Paint the shape drawn, the one being drawn, and the polygon's corners so far (with a rubber band
/// to the cursor).
pub fn paint_shapes(painter: &Painter, m: &DocMeasure, g: &Geometry, hover: Option<Pos2>, tool: Tool) {
    let outline = |pts: Vec<Pos2>, closed: bool| {
        for (w, c) in [(3.5, Color32::BLACK), (1.5, SHAPE_COLOUR)] {
            let stroke = Stroke::new(w, c);
            painter.add(if closed {
                Shape::closed_line(pts.clone(), stroke)
            } else {
                Shape::line(pts.clone(), stroke)
            });
        }
    };
    let rect_pts = |a: [f64; 2], b: [f64; 2]| {
        vec![g.screen_at(a), g.screen_at([b[0], a[1]]), g.screen_at(b), g.screen_at([a[0], b[1]])]
    };
    match &m.drawn {
        Some(Drawn::Line(a, b)) => {
            outline(vec![g.screen_at(*a), g.screen_at(*b)], false);
            for p in [a, b] {
                painter.circle(g.screen_at(*p), 3.5, SHAPE_COLOUR, Stroke::new(1.0, Color32::BLACK));
            }
        }
        Some(Drawn::Region(Region::Rect { x0, y0, x1, y1 })) => outline(rect_pts([*x0, *y0], [*x1, *y1]), true),
        Some(Drawn::Region(Region::Polygon(v))) => outline(v.iter().map(|p| g.screen_at(*p)).collect(), true),
        None => {}
    }
    if let (Some(a), Some(h)) = (m.drag_from, hover) {
        let b = g.image_at(h);
        match tool {
            Tool::Rect => outline(rect_pts(a, b), true),
            Tool::Profile => outline(vec![g.screen_at(a), h], false),
            _ => {}
        }
    }
    if !m.placing.is_empty() {
        let mut pts: Vec<Pos2> = m.placing.iter().map(|p| g.screen_at(*p)).collect();
        if let Some(h) = hover {
            pts.push(h);
        }
        outline(pts, false);
        for p in &m.placing {
            painter.circle(g.screen_at(*p), 3.0, SHAPE_COLOUR, Stroke::new(1.0, Color32::BLACK));
        }
    }
}
