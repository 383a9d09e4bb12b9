//! The image view: draws the active image through the GPU callback, pans and zooms, pins and steps
//! the inspected pixel, and shows the pixel readout, the colorbar and the scale bar. UI thread.

use super::GroundTruth;
use egui::{Rect, RichText, Sense, UiBuilder, Vec2};

use super::document::Document;
use std::sync::Arc;

use super::compare::{Compare, Mode, SwipeLayer, map_transform};
use super::measure::Tool;
use super::measure_view::{self, Geometry};
use super::panels::VIEW_KEYS;
use super::readout::{SizeOrigin, readout};
use super::{DocStatus, HeatscopeApp, overlays};
use crate::render::callback::{ImageCallback, Layer, paint_image};
use crate::render::{ViewTransform, ViewUniform};

/// Height of the readout strip under the image, in points: room for three lines: the pixel, its size and map or sky coordinates (which wrap for long CRS names).
const READOUT_HEIGHT: f32 = 58.0;

/// The central view: the active image, or two compared (side by side, or swiped). Returns the rect
/// to capture (points, and pixels per point) on a frame that draws the export footer.
pub fn central(app: &mut HeatscopeApp, ui: &mut egui::Ui, srgb_target: bool) -> Option<(Rect, f32)> {
    let truth = app.ground_truth();
    let cnn = app.cnn_reading().map(|r| (r, app.persisted.cnn.clone()));
    let gsd = gsd_view(app);
    let footer = app.view_export.drawing().then(|| super::view_export::footer(app));
    let pair = app.compare_pair();
    let mut compare = app.compare.clone();
    let extras = Extras {
        srgb_target,
        truth: truth.as_ref(),
        cnn: cnn.as_ref(),
        gsd: &gsd,
        tool: app.measure.tool,
        show_contours: app.measure.show_contours,
        show_annotations: app.show_annotations,
        show_sources: app.sources.show,
        footer: footer.as_deref(),
        keys: true,
        linked: None,
        swipe: None,
        resident: app.resident_tiles.as_ref(),
    };
    let mut captured = None;
    egui::CentralPanel::default().show(ui, |ui| {
        if let (Some((a, b, mode)), Some(c)) = (pair, compare.as_mut()) {
            captured = compared(&mut app.docs, (a, b, mode), c, ui, &extras);
            return;
        }
        let Some(doc) = app.docs.iter_mut().find(|d| Some(d.id) == app.active) else {
            empty_view(ui);
            return;
        };
        match &doc.status {
            DocStatus::Ready => captured = image_view(doc, ui, &extras).captured,
            DocStatus::Loading { .. } if doc.preview.is_some() => captured = image_view(doc, ui, &extras).captured,
            DocStatus::Loading { fraction, message, .. } => {
                ui.centered_and_justified(|ui| {
                    ui.add(egui::ProgressBar::new(*fraction).text(message.clone()).desired_width(300.0));
                });
            }
            DocStatus::Failed(why) => {
                let why = why.clone();
                ui.centered_and_justified(|ui| {
                    ui.label(
                        RichText::new(format!("Could not open {}\n\n{why}", doc.name()))
                            .color(ui.visuals().error_fg_color),
                    );
                });
            }
        }
    });
    if pair.is_some() {
        app.compare = compare;
    }
    captured
}

/// Two images compared: side by side (each with its own colour bar and readout, the other's cursor
/// shown as a cross) or swiped; pan and zoom of either drive both.
fn compared(
    docs: &mut [Document],
    (a, b, mode): (usize, usize, Mode),
    c: &mut Compare,
    ui: &mut egui::Ui,
    x: &Extras<'_>,
) -> Option<(Rect, f32)> {
    let size = |d: &Document| d.loaded.as_ref().map_or([1, 1], |l| [l.raster.width, l.raster.height]);
    let (size_a, size_b) = (size(&docs[a]), size(&docs[b]));
    let before = (docs[a].transform, docs[b].transform);
    let (da, db) = if a < b {
        let (l, r) = docs.split_at_mut(b);
        (&mut l[a], &mut r[0])
    } else {
        let (l, r) = docs.split_at_mut(a);
        (&mut r[0], &mut l[b])
    };
    let (captured, hovered_a, hovered_b) = match mode {
        Mode::SideBySide => {
            let full = ui.available_rect_before_wrap();
            let mid = full.center().x;
            let left = Rect::from_min_max(full.min, egui::pos2(mid - 3.0, full.max.y));
            let right = Rect::from_min_max(egui::pos2(mid + 3.0, full.min.y), full.max);
            let xa = Extras { linked: c.cursor, ..x.clone() };
            let other_footer = x.footer.map(|_| format!("compared with {}", db.path.display()));
            let xb = Extras {
                truth: None,
                cnn: None,
                gsd: &GsdView::default(),
                keys: false,
                linked: c.cursor,
                footer: other_footer.as_deref(),
                ..x.clone()
            };
            let oa = ui.scope_builder(UiBuilder::new().max_rect(left), |ui| image_view(da, ui, &xa)).inner;
            let ob = ui.scope_builder(UiBuilder::new().max_rect(right), |ui| image_view(db, ui, &xb)).inner;
            ui.painter().vline(
                mid,
                full.y_range(),
                egui::Stroke::new(1.0, ui.visuals().widgets.noninteractive.bg_stroke.color),
            );
            let captured = match (oa.captured, ob.captured) {
                (Some((ra, ppp)), Some((rb, _))) => Some((ra.union(rb), ppp)),
                (one, other) => one.or(other),
            };
            (captured, oa.hovered, ob.hovered)
        }
        Mode::Swipe => {
            // The other image's tiles for the view as it was last frame (the pan this frame moves
            // it by a frame's step; a tile not planned shows the overview).
            let tiles = match (da.transform, da.view_rect) {
                (Some(t), Some((rect, ppp))) => {
                    let view_px = [rect.width() * ppp, rect.height() * ppp];
                    plan_tiles(db, &map_transform(t, size_a, size_b), view_px, x.resident)
                }
                _ => Vec::new(),
            };
            let layer = db.loaded.as_ref().map(|l| SwipeLayer {
                tiles,
                id: db.id,
                display: Arc::clone(&l.display),
                settings: db.settings.clone(),
                size: size_b,
                downsample: l.downsample,
                fraction: c.swipe,
                name: db.name(),
                dragging: c.dragging_line,
            });
            let xa = Extras { swipe: layer, ..x.clone() };
            let oa = image_view(da, ui, &xa);
            if let Some((fraction, dragging)) = oa.swipe {
                c.swipe = fraction;
                c.dragging_line = dragging;
            }
            (oa.captured, oa.hovered, None)
        }
    };
    c.cursor = hovered_a.or(hovered_b);
    // Pan and zoom of either view drive the other (by extent when the sizes differ).
    match (da.transform, db.transform) {
        (Some(ta), _) if Some(ta) != before.0 || mode == Mode::Swipe => {
            db.transform = Some(map_transform(ta, size_a, size_b))
        }
        (_, Some(tb)) if Some(tb) != before.1 => da.transform = Some(map_transform(tb, size_b, size_a)),
        _ => {}
    }
    captured
}

/// This frame's full-resolution tiles of `doc` for a view of `view_px` framebuffer pixels under `t`
/// (none when its overview is enough); `resident`: the tiles on the GPU (None: take all as there).
fn plan_tiles(
    doc: &mut Document,
    t: &ViewTransform,
    view_px: [f32; 2],
    resident: Option<&std::collections::HashSet<u64>>,
) -> Vec<Arc<super::detail::Tile>> {
    // While a large image is read, its tiles are read from the file.
    let (size, overview) = match (&doc.loaded, &doc.preview) {
        (Some(l), _) => ([l.raster.width, l.raster.height], l.downsample),
        // A first look is replaced within a second: no tile is read meanwhile.
        (None, Some(p)) if !p.look.is_first_look() && p.windows => ([p.width, p.height], p.downsample),
        _ => return Vec::new(),
    };
    let visible = super::detail::visible(t, view_px, size);
    let needed = super::detail::needed_factor(t, overview);
    doc.detail.plan(visible, size, needed, overview, |id| resident.is_none_or(|r| r.contains(&id)))
}

/// Draw full-resolution tiles (coarsest first) of a view whose image fills `rects.0`, within
/// `rects.1`: each in its own rect (a point more each side; the shader draws exactly its pixels).
fn paint_tiles(
    ui: &egui::Ui,
    tiles: &[Arc<super::detail::Tile>],
    transform: &ViewTransform,
    uniform: &ViewUniform,
    (image_rect, clip): (Rect, Rect),
    ppp: f32,
) {
    let frame = ui.ctx().cumulative_frame_nr();
    let to_pt = |p: [f32; 2]| egui::pos2(image_rect.min.x + p[0] / ppp, image_rect.min.y + p[1] / ppp);
    for tile in tiles {
        let [tx, ty, tw, th] = tile.core;
        #[allow(clippy::cast_precision_loss)]
        let (a, b) =
            (transform.to_view([tx as f32, ty as f32]), transform.to_view([(tx + tw) as f32, (ty + th) as f32]));
        let rect = Rect::from_min_max(to_pt(a), to_pt(b)).expand(1.0).intersect(image_rect);
        let shown = rect.intersect(clip);
        if !shown.is_positive() {
            continue;
        }
        paint_image(
            ui.painter_at(shown),
            rect,
            ImageCallback {
                id: tile.id,
                layer: Layer::Tile,
                frame,
                display: Arc::clone(&tile.raster),
                uniform: uniform.tiled([tx, ty], [tw, th], [tile.cut[0], tile.cut[1]], tile.key.factor),
            },
        );
    }
}

fn empty_view(ui: &mut egui::Ui) {
    ui.vertical_centered(|ui| {
        ui.add_space(80.0);
        ui.heading("heatscope");
        ui.label("Open a spectrum heatmap, a remote-sensing tile or a radio image: Ctrl+O, drag and drop, or File > Open path.");
        ui.label("Reads PNG, JPEG, (Geo)TIFF, NumPy .npy/.npz, FITS and CSV grids.");
        ui.add_space(12.0);
        for (keys, what) in VIEW_KEYS {
            ui.weak(format!("{keys}: {what}"));
        }
    });
}

/// What the view needs from the GSD resolver: the GSD in use and, when asked for, the crops.
#[derive(Default)]
struct GsdView {
    resolved: Option<crate::models::gsd::ResolvedGsd>,
    crops: Option<(std::sync::Arc<crate::models::gsd::TileEstimate>, f32)>,
}

fn gsd_view(app: &HeatscopeApp) -> GsdView {
    let estimate = app.active_doc().and_then(|d| d.results.gsd.ready());
    let crops = match (app.gsd.model.ready(), estimate) {
        (Some(m), Some(e)) if app.gsd.show_crops => Some((std::sync::Arc::clone(&e.value), m.config().input as f32)),
        _ => None,
    };
    GsdView { resolved: app.resolved_gsd(), crops }
}

/// The pixel size the scale bar and readout use, with where it came from: the resolved GSD for
/// ground images, the file's own pixel size otherwise (sky images).
fn shown_pixel_size(gsd: &GsdView, meta: &crate::types::RasterMeta) -> Option<(crate::types::PixelSize, SizeOrigin)> {
    match &gsd.resolved {
        Some(r) => {
            let origin = match r.source {
                crate::models::gsd::GsdSource::Estimate => SizeOrigin::Estimate,
                crate::models::gsd::GsdSource::Override => SizeOrigin::Override,
                crate::models::gsd::GsdSource::Metadata(_) => SizeOrigin::File,
            };
            Some((r.pixel_size(meta.pixel_size.as_ref()), origin))
        }
        None => meta.pixel_size.clone().map(|p| (p, SizeOrigin::File)),
    }
}

type CnnOverlay = (std::sync::Arc<crate::models::cnn::CnnReading>, super::CnnSettings);

/// What a view draws besides its image, and how it takes input.
#[derive(Clone)]
struct Extras<'a> {
    srgb_target: bool,
    truth: Option<&'a GroundTruth>,
    cnn: Option<&'a CnnOverlay>,
    gsd: &'a GsdView,
    tool: Tool,
    show_contours: bool,
    show_annotations: bool,
    show_sources: bool,
    /// An export frame: this footer in place of the readout.
    footer: Option<&'a str>,
    /// Whether the view's keys (F, 1, +, -, arrows, Esc) act on it.
    keys: bool,
    /// A compared view's cursor, as a fraction of the image: a cross here, and the readout there.
    linked: Option<[f32; 2]>,
    /// Swipe: the other image, right of the line.
    swipe: Option<SwipeLayer>,
    /// The tiles on the GPU (None: unknown, take every tile as there).
    resident: Option<&'a std::collections::HashSet<u64>>,
}

/// What a view reports back.
#[derive(Default)]
struct Outcome {
    captured: Option<(Rect, f32)>,
    /// The cursor, as a fraction of the image's width and height.
    hovered: Option<[f32; 2]>,
    /// Swipe: where the line is now and whether it is being dragged.
    swipe: Option<(f32, bool)>,
}

fn image_view(doc: &mut Document, ui: &mut egui::Ui, x: &Extras<'_>) -> Outcome {
    let Extras { srgb_target, truth, cnn, gsd, tool, show_contours, show_annotations, show_sources, footer, .. } =
        x.clone();
    let mut outcome = Outcome::default();
    // The image loaded, or while a large one is read, its overview streamed from the file (drawn
    // and moved about the same way; no readout, tiles or measuring until the pixels are in).
    let (display, downsample, size, raster, preview_meta) = match (&doc.loaded, &doc.preview) {
        (Some(l), _) => {
            (l.display.clone(), l.downsample, [l.raster.width, l.raster.height], Some(l.raster.clone()), None)
        }
        (None, Some(p)) => (p.display.clone(), p.downsample, [p.width, p.height], None, Some(p.meta.clone())),
        (None, None) => return outcome,
    };
    let meta = match (&raster, &preview_meta) {
        (Some(r), _) => &r.meta,
        (None, Some(m)) => m,
        (None, None) => return outcome,
    };
    let tool = if raster.is_some() { tool } else { Tool::Inspect };
    // The image gets what is left after the colorbar's strip (right), the caption (under it, on a
    // sample) and the readout: no overlay sits on the data.
    let full = ui.available_rect_before_wrap();
    let bar_w = if doc.settings.rgb_mode { 0.0 } else { overlays::COLORBAR_WIDTH.min(full.width() / 4.0) };
    let caption_h = if truth.is_some() { 22.0 } else { 0.0 };
    let bottom = (full.max.y - READOUT_HEIGHT - caption_h).max(full.min.y + 10.0);
    // A spectrogram's physical axes get margins left of and under the image for their ticks.
    let axes = meta.axes.as_ref();
    let (axis_left, axis_bottom) =
        if axes.is_some() { (overlays::AXIS_LEFT, overlays::AXIS_BOTTOM) } else { (0.0, 0.0) };
    let image_rect = Rect::from_min_max(
        egui::pos2(full.min.x + axis_left, full.min.y),
        egui::pos2(full.max.x - bar_w, (bottom - axis_bottom).max(full.min.y + 10.0)),
    );
    let bar_rect = Rect::from_min_max(egui::pos2(image_rect.max.x, full.min.y), egui::pos2(full.max.x, bottom));
    let caption_rect = Rect::from_min_max(egui::pos2(full.min.x, bottom), egui::pos2(full.max.x, bottom + caption_h));
    let readout_rect = Rect::from_min_max(egui::pos2(full.min.x, caption_rect.max.y), full.max);
    let response = ui.allocate_rect(image_rect, Sense::click_and_drag());
    let ppp = ui.ctx().pixels_per_point();
    doc.view_rect = Some((image_rect, ppp));
    let view_px = [image_rect.width() * ppp, image_rect.height() * ppp];
    // Ground images keep square pixels; a spectrogram's time and frequency axes fill the view.
    let fit =
        |view_px| if axes.is_some() { ViewTransform::fill(size, view_px) } else { ViewTransform::fit(size, view_px) };
    let transform = doc.transform.get_or_insert_with(|| fit(view_px));

    // Interaction: drag to pan (the secondary or middle button while a measuring tool has the
    // primary one), wheel or pinch to zoom at the cursor, keys when hovered or focused.
    let geometry = Geometry { rect: image_rect, ppp, transform: *transform };
    // Swipe: a drag that starts on the line moves it instead of panning.
    let mut on_line = false;
    // The line runs at a fraction of the image's width as shown (within the view).
    let span = {
        let a = image_rect.min.x + transform.to_view([0.0, 0.0])[0] / ppp;
        #[allow(clippy::cast_precision_loss)]
        let b = image_rect.min.x + transform.to_view([size[0] as f32, 0.0])[0] / ppp;
        (a.max(image_rect.min.x), b.min(image_rect.max.x).max(a.max(image_rect.min.x) + 1.0))
    };
    let line_at = |fraction: f32| span.0 + fraction * (span.1 - span.0);
    if let Some(layer) = &x.swipe {
        let line_x = line_at(layer.fraction);
        let mut dragging = layer.dragging;
        let origin = ui.input(|i| i.pointer.press_origin());
        if response.drag_started() && origin.is_some_and(|p| (p.x - line_x).abs() <= 8.0) {
            dragging = true;
        }
        let mut fraction = layer.fraction;
        if dragging && let Some(p) = response.interact_pointer_pos() {
            fraction = ((p.x - span.0) / (span.1 - span.0)).clamp(0.0, 1.0);
        }
        on_line = dragging;
        if response.drag_stopped() || !ui.input(|i| i.pointer.any_down()) {
            dragging = false;
        }
        outcome.swipe = Some((fraction, dragging));
    }
    let tool_has_primary = on_line || measure_view::interact(&mut doc.measure, &response, tool, &geometry);
    let pans = if tool_has_primary {
        response.dragged_by(egui::PointerButton::Secondary) || response.dragged_by(egui::PointerButton::Middle)
    } else {
        response.dragged()
    };
    if pans {
        let d = response.drag_delta() * ppp;
        transform.pan([d.x, d.y]);
    }
    let pointer = response.hover_pos();
    if let Some(pos) = pointer {
        let rel = [(pos.x - image_rect.min.x) * ppp, (pos.y - image_rect.min.y) * ppp];
        let (scroll, zoom) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
        let factor = zoom * (scroll * 0.002).exp();
        if (factor - 1.0).abs() > 1e-4 {
            transform.zoom_at(rel, factor);
        }
        if response.clicked() && !tool_has_primary {
            doc.pinned = Some(transform.pixel_under(rel));
            if show_sources {
                let p = transform.to_image(rel);
                doc.sources.select_at([f64::from(p[0]), f64::from(p[1])]);
            }
        }
    }
    let centre = [view_px[0] / 2.0, view_px[1] / 2.0];
    // Keys typed into a text field are the field's, never the view's.
    let typing = ui.ctx().egui_wants_keyboard_input();
    ui.input(|i| {
        if typing || !x.keys {
            return;
        }
        use egui::Key;
        if i.key_pressed(Key::F) {
            *transform = fit(view_px);
        }
        if i.key_pressed(Key::Num1) {
            let anchor = transform.to_image(centre);
            transform.zoom = 1.0;
            transform.stretch = 1.0;
            transform.origin = [anchor[0] - centre[0], anchor[1] - centre[1]];
        }
        if i.key_pressed(Key::Plus) || i.key_pressed(Key::Equals) {
            transform.zoom_at(centre, 1.25);
        }
        if i.key_pressed(Key::Minus) {
            transform.zoom_at(centre, 0.8);
        }
        if i.key_pressed(Key::Escape) {
            doc.pinned = None;
        }
        let step =
            [(Key::ArrowLeft, [-1, 0]), (Key::ArrowRight, [1, 0]), (Key::ArrowUp, [0, -1]), (Key::ArrowDown, [0, 1])];
        for (key, [dx, dy]) in step {
            if i.key_pressed(key) {
                let p = doc.pinned.unwrap_or_else(|| transform.pixel_under(centre));
                let (w, h) = (size[0] as i64, size[1] as i64);
                doc.pinned = Some([(p[0] + dx).clamp(0, w - 1), (p[1] + dy).clamp(0, h - 1)]);
            }
        }
    });

    let transform = *transform;
    let uniform = ViewUniform::new(
        &doc.settings,
        &transform,
        [image_rect.min.x * ppp, image_rect.min.y * ppp],
        size,
        downsample,
        srgb_target,
    );
    // Zoomed in past the overview: the tiles of the level the screen needs, over it (the overview
    // is left out when they cover the view: under a software renderer each layer costs a frame's
    // worth of fragments).
    let tiles = plan_tiles(doc, &transform, view_px, x.resident);
    if tiles.is_empty() || !doc.detail.sharp {
        paint_image(
            ui.painter_at(image_rect),
            image_rect,
            ImageCallback {
                id: doc.id,
                layer: Layer::Image,
                frame: ui.ctx().cumulative_frame_nr(),
                display: display.clone(),
                uniform,
            },
        );
    }
    paint_tiles(ui, &tiles, &transform, &uniform, (image_rect, image_rect), ppp);
    if let Some(layer) = &x.swipe {
        let line_x = line_at(outcome.swipe.map_or(layer.fraction, |s| s.0));
        let right = Rect::from_min_max(egui::pos2(line_x, image_rect.min.y), image_rect.max);
        let t = super::compare::map_transform(transform, size, layer.size);
        let uniform = ViewUniform::new(
            &layer.settings,
            &t,
            [image_rect.min.x * ppp, image_rect.min.y * ppp],
            layer.size,
            layer.downsample,
            srgb_target,
        );
        paint_image(
            ui.painter_at(right),
            image_rect,
            ImageCallback {
                id: layer.id,
                layer: Layer::Image,
                frame: ui.ctx().cumulative_frame_nr(),
                display: Arc::clone(&layer.display),
                uniform,
            },
        );
        paint_tiles(ui, &layer.tiles, &t, &uniform, (image_rect, right), ppp);
    }

    // Overlays: pinned pixel outline, notices, colorbar, scale bar.
    let painter = ui.painter_at(image_rect);
    if let Some([c, r]) = doc.pinned {
        let a = transform.to_view([c as f32, r as f32]);
        let b = transform.to_view([c as f32 + 1.0, r as f32 + 1.0]);
        let to_pt = |p: [f32; 2]| egui::pos2(image_rect.min.x + p[0] / ppp, image_rect.min.y + p[1] / ppp);
        let pin = Rect::from_two_pos(to_pt(a), to_pt(b)).expand(1.0);
        painter.rect_stroke(pin, 0.0, egui::Stroke::new(2.0, egui::Color32::WHITE), egui::StrokeKind::Outside);
        painter.rect_stroke(
            pin.expand(2.0),
            0.0,
            egui::Stroke::new(1.0, egui::Color32::BLACK),
            egui::StrokeKind::Outside,
        );
    }
    let first_look = doc.preview.as_ref().map(|p| p.look).filter(|l| l.is_first_look() && raster.is_none());
    if let Some(look) = first_look {
        let text = if look == crate::io::Look::FileOverview {
            format!("first look: the file's own {downsample}x overview; averaging the full-resolution pixels…")
        } else {
            format!(
                "first look: one pixel in {downsample} x {downsample}, read from part of the file; averaging the overview…"
            )
        };
        overlays::notice(&painter, image_rect, &text);
    } else if raster.is_none() {
        let text =
            format!("overview {downsample}x, read ahead of the rest of the file; reading the full-resolution pixels…");
        overlays::notice(&painter, image_rect, &text);
    } else if !doc.detail.view_cut {
        let text = format!(
            "overview {downsample}x; cutting the part in view at full resolution… (the readout uses full resolution)"
        );
        overlays::notice(&painter, image_rect, &text);
    } else if !doc.ranges_ready() {
        overlays::notice(&painter, image_rect, "computing statistics for the display range…");
    }
    let to_pt = |p: [f32; 2]| {
        let v = transform.to_view(p);
        egui::pos2(image_rect.min.x + v[0] / ppp, image_rect.min.y + v[1] / ppp)
    };
    let (w, h) = (size[0] as f32, size[1] as f32);
    if let Some((reading, settings)) = cnn {
        super::cnn::overlay(&painter, reading, settings, |x, y| to_pt([x * w, y * h]));
    }
    if let Some(gt) = truth {
        overlays::ground_truth(&painter, image_rect, gt, |x, y| to_pt([x * w, y * h]));
        overlays::caption(&ui.painter_at(caption_rect), caption_rect, gt);
    }
    overlays::colorbar(&ui.painter_at(bar_rect), bar_rect, doc, meta.unit.as_deref());
    if let Some(a) = axes {
        let left = Rect::from_min_max(
            egui::pos2(full.min.x, image_rect.min.y),
            egui::pos2(image_rect.min.x, image_rect.max.y),
        );
        let under = Rect::from_min_max(egui::pos2(full.min.x, image_rect.max.y), egui::pos2(image_rect.max.x, bottom));
        let top_left = transform.to_image([0.0, 0.0]);
        let bottom_right = transform.to_image(view_px);
        let visible = [[top_left[0].max(0.0), bottom_right[0].min(w)], [top_left[1].max(0.0), bottom_right[1].min(h)]];
        let painter = ui.painter_at(left.union(under));
        overlays::axes(&painter, left, under, a, visible, |u| to_pt([u, 0.0]).x, |v| to_pt([0.0, v]).y);
    }
    let geometry = Geometry { rect: image_rect, ppp, transform };
    if show_contours && let Some(set) = doc.measure.contours.ready() {
        measure_view::paint_contours(&painter, set, &geometry);
    }
    if show_annotations {
        let sets: Vec<&crate::types::AnnotationSet> = doc.annotations.shown().collect();
        let left_out = super::annotations::paint(&painter, &sets, &geometry);
        doc.annotations.left_out = left_out;
        if left_out > 0 {
            let text = format!(
                "{left_out} annotations too small to draw at this zoom ({} drawn); zoom in for them",
                super::annotations::MAX_DRAWN
            );
            overlays::notice(&painter, image_rect, &text);
        }
    }
    if show_sources && let Some(found) = doc.sources.found.ready() {
        super::sources_view::paint(&painter, found, doc.sources.selected, &geometry);
        if let (Some(beam), Some(px)) = (&meta.beam, &meta.pixel_size) {
            super::sources_view::paint_beam(&painter, image_rect, beam, px, &geometry);
        }
    }
    measure_view::paint_shapes(&painter, &doc.measure, &geometry, pointer, tool);
    if let Some((e, side)) = &gsd.crops {
        super::gsd::overlay(&painter, e, *side, |x, y| to_pt([x, y]));
    }
    if let Some(layer) = &x.swipe {
        let line_x = line_at(outcome.swipe.map_or(layer.fraction, |s| s.0));
        super::compare::paint_line(&painter, image_rect, line_x, (&doc.name(), &layer.name));
    }
    let hovered_at = pointer.map(|p| geometry.image_at(p));
    #[allow(clippy::cast_possible_truncation)]
    if let Some(p) = hovered_at {
        outcome.hovered = Some([p[0] as f32 / w, p[1] as f32 / h]);
    } else if let Some([fx, fy]) = x.linked {
        super::compare::paint_cursor(&painter, to_pt([fx * w, fy * h]));
    }
    let shown = shown_pixel_size(gsd, meta);
    match (&shown, gsd.resolved.as_ref().and_then(crate::models::gsd::ResolvedGsd::scale_bar_refusal)) {
        (Some(_), Some(why)) => overlays::scale_bar_refused(&painter, image_rect, &why),
        (Some((p, origin)), None) => overlays::scale_bar(&painter, image_rect, p, transform.zoom / ppp, origin.note()),
        (None, _) => {}
    }

    // Readout: the pinned pixel, else the one under the cursor.
    let hovered =
        pointer.map(|pos| transform.pixel_under([(pos.x - image_rect.min.x) * ppp, (pos.y - image_rect.min.y) * ppp]));
    #[allow(clippy::cast_possible_truncation)]
    let linked =
        x.linked.filter(|_| hovered.is_none()).map(|[fx, fy]| [(fx * w).floor() as i64, (fy * h).floor() as i64]);
    let pixel = doc.pinned.or(hovered).or(linked);
    // An export frame: the provenance footer in place of the readout, and the rect to keep.
    if let Some(text) = footer {
        let painter = ui.painter_at(readout_rect);
        painter.rect_filled(readout_rect, 0.0, ui.visuals().panel_fill);
        let galley = painter.layout(
            text.to_string(),
            egui::FontId::proportional(11.0),
            ui.visuals().text_color(),
            readout_rect.width() - 12.0,
        );
        painter.galley(readout_rect.min + Vec2::new(6.0, 4.0), galley, ui.visuals().text_color());
        outcome.captured = Some((full, ppp));
        return outcome;
    }
    #[allow(clippy::cast_possible_wrap)]
    let pixel = pixel.filter(|&[c, r]| c >= 0 && r >= 0 && c < size[0] as i64 && r < size[1] as i64);
    if raster.is_none() {
        // Still being read: the pixel is read from the file on a worker.
        doc.probe.want = pixel;
    }
    ui.scope_builder(UiBuilder::new().max_rect(readout_rect.shrink2(Vec2::new(6.0, 2.0))), |ui| {
        // Long lines stop at the view's edge (a compared view sits beside it).
        ui.set_clip_rect(readout_rect.intersect(ui.clip_rect()));
        match (&raster, pixel) {
            (Some(r), _) => readout(ui, doc, pixel, meta, &|b, [c, row]| r.value(b, c, row), shown.as_ref()),
            (None, Some(p)) if !doc.preview.as_ref().is_some_and(|p| p.windows) => {
                ui.weak(format!(
                    "row {}, col {}: this file is not read a part at a time; its values come with the whole image…",
                    p[1], p[0]
                ));
            }
            (None, Some(p)) => match doc.probe.at(p) {
                Some(one) => readout(ui, doc, pixel, meta, &|b, _| one.value(b, 0, 0), shown.as_ref()),
                None => {
                    ui.weak(format!("row {}, col {}: reading this pixel from the file…", p[1], p[0]));
                }
            },
            (None, None) => {
                ui.weak("Hover over the image to read a pixel (read from the file while the rest of it is read).");
            }
        }
    });
    outcome
}
