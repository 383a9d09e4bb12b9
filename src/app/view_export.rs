//! File > Export view as PNG: what is on screen for the active image (the image with its overlays,
//! colour bar, axes and scale bar) with a provenance footer in place of the readout (file, display,
//! models, heatscope's version, time). The viewer draws the footer for one frame and reports the rect
//! to keep; the frame is captured with egui's screenshot command, cropped, encoded and written
//! atomically on a worker. UI thread (the encoding and the write on a worker).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::HeatscopeApp;
use super::slot::{Key, Slot};
use crate::workers::Job;

/// Where an export is.
#[derive(Debug, Default)]
pub enum Stage {
    #[default]
    Idle,
    /// The "Export view" window, with its path field.
    Asking(String),
    /// Draw the footer and capture the frame; `fresh` on the frame the Export window still showed
    /// (that frame is not captured: the window would be in it).
    Draw { path: PathBuf, fresh: bool },
    /// Waiting for the screenshot of the frame with the footer.
    Capture { path: PathBuf, rect: egui::Rect, ppp: f32, rx: Receiver<Arc<egui::ColorImage>> },
}

/// The export in progress and the last one written.
#[derive(Debug, Default)]
pub struct ViewExport {
    pub stage: Stage,
    /// Encoding and writing; ready with what was written.
    pub writing: Slot<Arc<String>>,
}

impl ViewExport {
    /// Whether the viewer should draw the footer this frame (also while the screenshot is on its
    /// way: the desktop may capture the frame after the one that asked).
    pub fn drawing(&self) -> bool {
        matches!(self.stage, Stage::Draw { .. } | Stage::Capture { .. })
    }
}

/// The footer: the file, how it is displayed, the models whose results are shown, heatscope's
/// version and the time (UTC).
pub fn footer(app: &HeatscopeApp) -> String {
    let Some(doc) = app.active_doc() else { return String::new() };
    let s = &doc.settings;
    let display = if s.rgb_mode {
        format!("RGB bands {}, {}, {}", s.rgb[0] + 1, s.rgb[1] + 1, s.rgb[2] + 1)
    } else {
        format!(
            "band {}, {} {}, {} to {}",
            s.band + 1,
            s.colormap.name(),
            s.scale.name(),
            crate::types::fmt_num(f64::from(s.lo[0])),
            crate::types::fmt_num(f64::from(s.hi[0]))
        )
    };
    let mut parts = vec![doc.path.display().to_string(), display];
    if doc.results.cnn.ready().is_some() {
        let cnn = app.cnn_dir.as_ref().map_or_else(|| "bundled".to_string(), |d| d.display().to_string());
        parts.push(format!("CNN {cnn}"));
    }
    if let Some(r) = app.resolved_gsd() {
        parts.push(format!("GSD {} ({})", crate::models::gsd::format_metres(r.metres), r.source_text()));
    }
    let annotations: usize = doc.annotations.shown().map(|a| a.items.len()).sum();
    if app.show_annotations && annotations > 0 {
        parts.push(format!("{annotations} annotations"));
    }
    parts.push(format!("heatscope {} {}", env!("CARGO_PKG_VERSION"), utc_now()));
    parts.join("  |  ")
}

/// Now as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    utc(secs)
}

/// Seconds since 1970 as `YYYY-MM-DD HH:MM UTC` (the proleptic Gregorian calendar).
pub fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (hh, mm) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Days to a civil date: eras of 400 years, March-based years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

/// Crop `image` to `rect` (points; `ppp` pixels per point) and encode it as PNG.
pub fn crop_png(image: &egui::ColorImage, rect: egui::Rect, ppp: f32) -> Result<Vec<u8>, String> {
    let [w, h] = image.size;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let px = |v: f32, max: usize| ((v * ppp).round().max(0.0) as usize).min(max);
    let (x0, y0, x1, y1) = (px(rect.min.x, w), px(rect.min.y, h), px(rect.max.x, w), px(rect.max.y, h));
    if x1 <= x0 || y1 <= y0 {
        return Err("the view is empty; nothing to export".into());
    }
    let mut rgba = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
    for row in y0..y1 {
        for c in &image.pixels[row * w + x0..row * w + x1] {
            rgba.extend_from_slice(&c.to_srgba_unmultiplied());
        }
    }
    let mut out = Vec::new();
    let (ew, eh) =
        (u32::try_from(x1 - x0).map_err(|e| e.to_string())?, u32::try_from(y1 - y0).map_err(|e| e.to_string())?);
    let mut encoder = png::Encoder::new(&mut out, ew, eh);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&rgba).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

impl HeatscopeApp {
    /// Ask where to export the active image's view.
    pub(super) fn ask_export_view(&mut self) {
        let Some(doc) = self.active_doc().filter(|d| d.loaded.is_some()) else {
            return self.error("open an image to export its view".into());
        };
        let stem = doc.path.file_stem().map_or_else(|| "view".into(), |s| s.to_string_lossy().into_owned());
        let dir = doc.path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.view_export.stage = Stage::Asking(dir.join(format!("{stem}.view.png")).display().to_string());
    }

    /// Called after the frame's UI: send the screenshot of a frame with the footer, pick up one that
    /// arrived, and hand it to a worker to crop, encode and write.
    pub(super) fn update_view_export(&mut self, ctx: &egui::Context, captured: Option<(egui::Rect, f32)>) {
        match std::mem::take(&mut self.view_export.stage) {
            Stage::Draw { path, fresh: true } => {
                self.view_export.stage = Stage::Draw { path, fresh: false };
                ctx.request_repaint();
            }
            Stage::Draw { path, fresh: false } => match captured {
                Some((rect, ppp)) => {
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    let repaint = ctx.clone();
                    let callback = egui::ScreenshotCallback::new(move |image| {
                        let _ = tx.send(image);
                        repaint.request_repaint();
                    });
                    ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(callback));
                    self.view_export.stage = Stage::Capture { path, rect, ppp, rx };
                }
                None => self.error("no image is shown; nothing to export".into()),
            },
            Stage::Capture { path, rect, ppp, rx } => match rx.try_recv() {
                Ok(image) => {
                    let job = Job::task("exporting the view", move |_| {
                        let bytes = crop_png(&image, rect, ppp)?;
                        crate::io::atomic::write(&path, &bytes)
                            .map_err(|e| format!("cannot write the view: {e} ({})", path.display()))?;
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let (w, h) = ((rect.width() * ppp).round() as u32, (rect.height() * ppp).round() as u32);
                        Ok(Arc::new(format!("exported the view ({w} x {h} px) to {}", path.display())))
                    });
                    match self.workers.submit(Key::ViewExport, job) {
                        Ok(ticket) => self.view_export.writing = Slot::loading(&ticket),
                        Err(e) => self.error(format!("cannot export the view: {e}")),
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    self.view_export.stage = Stage::Capture { path, rect, ppp, rx };
                    ctx.request_repaint();
                }
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.error("the window could not capture the view (no screenshot support)".into());
                }
            },
            other => self.view_export.stage = other,
        }
    }

    /// A worker finished writing the export.
    pub(super) fn view_export_event(&mut self, job: u64, kind: crate::workers::EventKind) {
        match self.view_export.writing.apply(job, kind) {
            super::slot::Applied::Failed(why) => self.error(why),
            super::slot::Applied::Ready => {
                if let Some(text) = self.view_export.writing.ready().cloned() {
                    self.info(text.as_ref().clone());
                }
            }
            _ => {}
        }
    }
}

/// The "Export view" window.
pub fn window(app: &mut HeatscopeApp, ctx: &egui::Context) {
    let Stage::Asking(text) = &mut app.view_export.stage else { return };
    let mut open = true;
    let mut save = false;
    egui::Window::new("Export view").open(&mut open).collapsible(false).show(ctx, |ui| {
        ui.label("The image as shown, with its overlays, colour bar, scale bar and a provenance footer, as PNG:");
        let field = ui
            .add(egui::TextEdit::singleline(text).desired_width(420.0))
            .accessible_name("Export path")
            .on_hover_text("Where the PNG is written (replaced atomically)");
        save = ui.button("Export").clicked() || (field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)));
    });
    let path = text.trim().to_string();
    if save && !path.is_empty() {
        app.view_export.stage = Stage::Draw { path: PathBuf::from(path), fresh: true };
        ctx.request_repaint();
    } else if !open {
        app.view_export.stage = Stage::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_follow_the_calendar() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_796_584_500), "2026-12-06 19:15 UTC");
    }

    #[test]
    fn a_crop_keeps_the_pixels_of_its_rect() {
        let mut image = egui::ColorImage::filled([10, 8], egui::Color32::BLACK);
        image.pixels[3 * 10 + 4] = egui::Color32::from_rgb(200, 10, 20);
        let png = crop_png(&image, egui::Rect::from_min_max(egui::pos2(2.0, 1.0), egui::pos2(4.0, 3.0)), 2.0).unwrap();
        let decoded = image::load_from_memory(&png).unwrap().to_rgba8();
        assert_eq!(decoded.dimensions(), (4, 4));
        // Pixel (4, 3) of the image is (0, 1) of the crop from (4, 2).
        assert_eq!(decoded.get_pixel(0, 1).0, [200, 10, 20, 255]);
        assert_eq!(decoded.get_pixel(1, 1).0, [0, 0, 0, 255]);
        assert!(crop_png(&image, egui::Rect::from_min_max(egui::pos2(20.0, 1.0), egui::pos2(30.0, 3.0)), 1.0).is_err());
    }
}
