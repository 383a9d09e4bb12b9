//! The window: eframe's `App` for [`HeatscopeApp`] (one frame's order of work: worker events, model
//! and measurement requests, panels, the view, windows, commands; saving the settings and the last
//! session) and [`run`], which opens it. UI thread.

use std::path::PathBuf;

use anyhow::anyhow;

use super::{AppOptions, HeatscopeApp, display_panel, failures, file_browser, panels, session, view_export, viewer};

impl eframe::App for HeatscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let frame_start = std::time::Instant::now();
        if let Some(mut bench) = self.bench.take() {
            bench.tick(self, &ctx);
            self.bench = Some(bench);
        }
        if let Some(mut bench) = self.image_bench.take() {
            bench.tick(self, &ctx);
            self.image_bench = Some(bench);
        }
        self.drain_events();
        self.poll_native_dialog();
        if let Some(rs) = frame.wgpu_render_state() {
            for e in crate::render::callback::take_errors(rs) {
                self.error(e);
            }
            self.resident_tiles = Some(crate::render::callback::resident_tiles(rs));
        }
        self.update_runs();
        self.update_tour();
        self.request_stats();
        self.request_cnn();
        self.request_gsd();
        self.request_measure();
        self.request_sources();
        if self.active != self.frame_active {
            self.previous_active = self.frame_active.or(self.previous_active);
            self.frame_active = self.active;
        }
        self.request_annotations();
        self.request_detail();
        self.request_probes();
        self.request_session_annotations();
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        if !dropped.is_empty() {
            self.open(dropped);
        }
        panels::shortcuts(self, &ctx);
        panels::menu_bar(self, ui);
        panels::status_bar(self, ui);
        if self.persisted.show_side_panels || self.presenting {
            // Presenting: the image and the models' results only.
            if !self.presenting {
                panels::images_panel(self, ui);
            }
            display_panel::show(self, ui);
        }
        // Before the view: a click on Export makes this frame the one drawn with the footer.
        view_export::window(self, &ctx);
        let captured = viewer::central(self, ui, self.srgb_target);
        failures::window(self, &ctx);
        file_browser::window(self, &ctx);
        session::save_window(self, &ctx);
        self.update_view_export(&ctx, captured);
        self.apply_commands(&ctx);
        if self.workers.pending() > 0 {
            // Keep progress bars moving even if a worker is quiet for a while.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        let update_ms = frame_start.elapsed().as_secs_f64() * 1e3;
        self.frames.record(frame_start, update_ms);
        if let Some(bench) = &mut self.bench {
            bench.end_frame(update_ms);
        }
        if let Some(bench) = &mut self.image_bench {
            bench.end_frame(update_ms);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.bench.is_none() && self.image_bench.is_none() {
            eframe::set_value(storage, eframe::APP_KEY, &self.persisted);
            self.keep_last_session();
        }
    }

    fn raw_input_hook(&mut self, _ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        if let Some(mut bench) = self.bench.take() {
            bench.input(self, raw_input);
            self.bench = Some(bench);
        }
        if let Some(mut bench) = self.image_bench.take() {
            bench.input(self, raw_input);
            self.image_bench = Some(bench);
        }
    }
}

/// Open the window (wgpu renderer) and run until it closes.
///
/// # Errors
/// When no window or GPU context can be created.
pub fn run(files: Vec<PathBuf>, mut start: AppOptions) -> anyhow::Result<()> {
    if start.chat_store.is_none() {
        start.chat_store = eframe::storage_dir("heatscope").map(|d| d.join("chat-history.json"));
    }
    if start.session_store.is_none() {
        start.session_store =
            eframe::storage_dir("heatscope").map(|d| d.join(format!("last-session.{}", session::EXTENSION)));
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("heatscope")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    eframe::run_native(
        "heatscope",
        options,
        Box::new(move |cc| Ok(Box::new(HeatscopeApp::with_options(cc, files, start)?))),
    )
    .map_err(|e| anyhow!("the window could not open: {e}"))
}
