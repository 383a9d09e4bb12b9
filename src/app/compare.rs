//! Two images compared: side by side, or one over the other with a swipe line, with pan, zoom and
//! the cursor linked (images of different sizes are linked by their extent: the same fraction of the
//! width and height). View > Compare with picks the other image; on a SpectrumQA-sim sample "true vs
//! observed" opens the scene's true map beside it. V cycles off / side by side / swipe. UI thread.

use std::sync::Arc;

use egui::{Color32, Painter, Pos2, Rect, Stroke};

use super::HeatscopeApp;
use crate::render::ViewTransform;
use crate::types::Raster;

/// How the two are shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    #[default]
    SideBySide,
    /// The other image right of a vertical line dragged across the view.
    Swipe,
}

/// The comparison in effect.
#[derive(Clone, Debug, PartialEq)]
pub struct Compare {
    /// The other document (the active one is the first).
    pub other: u64,
    pub mode: Mode,
    /// Where the swipe line is, as a fraction of the view's width.
    pub swipe: f32,
    /// The cursor, as a fraction of the image's width and height, in whichever view it is.
    pub cursor: Option<[f32; 2]>,
    /// Dragging the swipe line (not panning).
    pub dragging_line: bool,
}

impl Compare {
    pub fn new(other: u64, mode: Mode) -> Self {
        Self { other, mode, swipe: 0.5, cursor: None, dragging_line: false }
    }
}

/// `t` of an image `from` pixels in size mapped to one of `to` pixels showing the same extent.
pub fn map_transform(t: ViewTransform, from: [usize; 2], to: [usize; 2]) -> ViewTransform {
    #[allow(clippy::cast_precision_loss)]
    let (rx, ry) = (to[0] as f32 / from[0].max(1) as f32, to[1] as f32 / from[1].max(1) as f32);
    ViewTransform { origin: [t.origin[0] * rx, t.origin[1] * ry], zoom: t.zoom / rx, stretch: t.stretch * rx / ry }
}

/// What the swipe needs of the other image to draw it.
#[derive(Clone)]
pub struct SwipeLayer {
    pub id: u64,
    pub display: Arc<Raster>,
    /// Its full-resolution tiles for the view, coarsest first (none when its overview is enough).
    pub tiles: Vec<Arc<super::detail::Tile>>,
    pub settings: crate::render::DisplaySettings,
    pub size: [usize; 2],
    pub downsample: usize,
    pub fraction: f32,
    /// Its name, beside the line.
    pub name: String,
    /// The line is being dragged (from earlier frames).
    pub dragging: bool,
}

/// A cross at `at` (screen), where the other view's cursor is.
pub fn paint_cursor(painter: &Painter, at: Pos2) {
    for (w, c) in [(3.0, Color32::BLACK), (1.0, Color32::WHITE)] {
        let s = Stroke::new(w, c);
        painter.line_segment([at - egui::vec2(9.0, 0.0), at + egui::vec2(9.0, 0.0)], s);
        painter.line_segment([at - egui::vec2(0.0, 9.0), at + egui::vec2(0.0, 9.0)], s);
    }
}

/// The swipe line and its handle.
pub fn paint_line(painter: &Painter, view: Rect, x: f32, names: (&str, &str)) {
    painter.line_segment([egui::pos2(x, view.min.y), egui::pos2(x, view.max.y)], Stroke::new(3.0, Color32::BLACK));
    painter.line_segment([egui::pos2(x, view.min.y), egui::pos2(x, view.max.y)], Stroke::new(1.5, Color32::WHITE));
    painter.circle(egui::pos2(x, view.center().y), 7.0, Color32::WHITE, Stroke::new(1.5, Color32::BLACK));
    let font = egui::FontId::proportional(12.0);
    for (text, right) in [(names.0, false), (names.1, true)] {
        let anchor = if right { egui::Align2::LEFT_TOP } else { egui::Align2::RIGHT_TOP };
        let pos = egui::pos2(if right { x + 8.0 } else { x - 8.0 }, view.min.y + 24.0);
        let galley = painter.layout_no_wrap(text.to_string(), font.clone(), Color32::WHITE);
        let r = anchor.anchor_size(pos, galley.size()).expand(2.0);
        painter.rect_filled(r, 2.0, Color32::from_black_alpha(170));
        painter.galley(r.min + egui::vec2(2.0, 2.0), galley, Color32::WHITE);
    }
}

impl HeatscopeApp {
    /// Compare the active image with `other` (or stop, with None).
    pub fn compare_with(&mut self, other: Option<u64>, mode: Mode) {
        self.compare = other.filter(|&o| Some(o) != self.active).map(|o| Compare::new(o, mode));
        self.refit_compared();
    }

    /// Fit both compared images to their views again (the views changed size).
    fn refit_compared(&mut self) {
        let ids = [self.active, self.compare.as_ref().map(|c| c.other)];
        for doc in self.docs.iter_mut().filter(|d| ids.contains(&Some(d.id))) {
            doc.transform = None;
        }
    }

    /// V: off, side by side, swipe, off. Without a comparison, the image shown before this one is
    /// the other (or the next in the list).
    pub fn cycle_compare(&mut self) {
        match self.compare.as_ref().map(|c| c.mode) {
            Some(Mode::SideBySide) => {
                if let Some(c) = self.compare.as_mut() {
                    c.mode = Mode::Swipe;
                }
                self.refit_compared();
            }
            Some(Mode::Swipe) => {
                self.refit_compared();
                self.compare = None;
            }
            None => {
                let other =
                    self.previous_active.filter(|p| self.docs.iter().any(|d| d.id == *p) && Some(*p) != self.active);
                let other = other.or_else(|| self.docs.iter().map(|d| d.id).find(|&id| Some(id) != self.active));
                match other {
                    Some(o) => self.compare_with(Some(o), Mode::SideBySide),
                    None => self.info("open a second image to compare with (View > Compare with)".into()),
                }
            }
        }
    }

    /// The comparison to draw this frame: both images loaded, and the other still open.
    pub(super) fn compare_pair(&mut self) -> Option<(usize, usize, Mode)> {
        let c = self.compare.as_ref()?;
        let a = self.docs.iter().position(|d| Some(d.id) == self.active)?;
        let Some(b) = self.docs.iter().position(|d| d.id == c.other) else {
            self.compare = None;
            return None;
        };
        (a != b && self.docs[a].loaded.is_some() && self.docs[b].loaded.is_some()).then_some((a, b, c.mode))
    }

    /// On a SpectrumQA-sim sample: open the scene's true map and compare it with the observed one.
    pub fn compare_truth(&mut self) {
        let Some(path) = self.active_doc().map(|d| d.path.clone()) else { return };
        let Some(truth) = self.samples.as_ref().and_then(|s| s.truth_of(&path)) else {
            return self.error("true vs observed needs a SpectrumQA-sim sample's observed map shown".into());
        };
        let active = self.active;
        self.open(vec![truth.clone()]);
        let other = self.docs.iter().find(|d| d.path == truth).map(|d| d.id);
        self.active = active;
        self.compare_with(other, Mode::SideBySide);
    }
}

/// The "Compare with" menu.
pub fn menu(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    let current = app.compare.as_ref().map(|c| (c.other, c.mode));
    let others: Vec<(u64, String)> =
        app.docs.iter().filter(|d| Some(d.id) != app.active).map(|d| (d.id, d.name())).collect();
    ui.menu_button("Compare with", |ui| {
        if others.is_empty() {
            ui.weak("Open a second image first");
        }
        for (id, name) in others {
            let on = current.is_some_and(|(o, _)| o == id);
            if ui
                .selectable_label(on, name)
                .on_hover_text("Side by side, pan, zoom and cursor linked (V cycles the modes)")
                .clicked()
            {
                app.compare_with(if on { None } else { Some(id) }, current.map_or(Mode::SideBySide, |c| c.1));
            }
        }
        ui.separator();
        let (mut refit, mut stop) = (false, false);
        if let Some(c) = app.compare.as_mut() {
            refit |= ui.radio_value(&mut c.mode, Mode::SideBySide, "Side by side").changed();
            refit |= ui
                .radio_value(&mut c.mode, Mode::Swipe, "Swipe")
                .on_hover_text("One over the other; drag the line")
                .changed();
            stop = ui.button("Stop comparing").on_hover_text("V cycles side by side, swipe, off").clicked();
        }
        if refit || stop {
            app.refit_compared();
        }
        if stop {
            app.compare = None;
        }
        let on_sample = app.active_doc().zip(app.samples.as_ref()).is_some_and(|(d, s)| s.truth_of(&d.path).is_some());
        if ui
            .add_enabled(on_sample, egui::Button::new("True vs observed"))
            .on_disabled_hover_text("On a SpectrumQA-sim sample's observed map")
            .clicked()
        {
            app.compare_truth();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_map_by_extent() {
        let t = ViewTransform { origin: [10.0, 20.0], zoom: 2.0, stretch: 1.0 };
        let m = map_transform(t, [100, 100], [200, 50]);
        assert_eq!(m.origin, [20.0, 10.0]);
        assert_eq!(m.zoom, 1.0);
        assert_eq!(m.zoom_y(), 4.0);
        // The same screen point shows the same fraction of each image.
        let (a, b) = (t.to_image([37.0, 11.0]), m.to_image([37.0, 11.0]));
        assert!((a[0] / 100.0 - b[0] / 200.0).abs() < 1e-6 && (a[1] / 100.0 - b[1] / 50.0).abs() < 1e-6);
        assert_eq!(map_transform(t, [64, 64], [64, 64]), t);
    }
}
