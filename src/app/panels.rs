//! The app's frame around the image: menu bar, keyboard shortcuts, the image list with its info
//! panel, and the status bar with messages. UI thread; panels return [`Command`]s.

use egui::RichText;

use super::{Command, DocStatus, HeatscopeApp};
use crate::types::Raster;

/// Keyboard shortcuts that act on the whole app (view shortcuts live in the viewer).
pub fn shortcuts(app: &mut HeatscopeApp, ctx: &egui::Context) {
    use egui::{Key, KeyboardShortcut, Modifiers};
    let open = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
    let save = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
    let export = KeyboardShortcut::new(Modifiers::COMMAND, Key::E);
    let close = KeyboardShortcut::new(Modifiers::COMMAND, Key::W);
    let next = KeyboardShortcut::new(Modifiers::NONE, Key::PageDown);
    let prev = KeyboardShortcut::new(Modifiers::NONE, Key::PageUp);
    // Keys typed into a text field are the field's; only Ctrl shortcuts act then.
    let typing = ctx.egui_wants_keyboard_input();
    // Presentation mode (P); with a tour, Right / Left walk its steps.
    let (toggle, fwd, back) = ctx.input_mut(|i| {
        if typing {
            return (false, false, false);
        }
        let toggle = i.consume_key(Modifiers::NONE, Key::P);
        let touring = app.tour.is_some() && app.presenting;
        let fwd = touring && i.consume_key(Modifiers::NONE, Key::ArrowRight);
        let back = touring && i.consume_key(Modifiers::NONE, Key::ArrowLeft);
        (toggle, fwd, back)
    });
    if toggle {
        app.command(Command::TogglePresentation);
    }
    if fwd || back {
        app.command(Command::TourStep(if fwd { 1 } else { -1 }));
    }
    let (o, w, n, p) = ctx.input_mut(|i| {
        let plain = |i: &mut egui::InputState, s| !typing && i.consume_shortcut(s);
        (i.consume_shortcut(&open), i.consume_shortcut(&close), plain(i, &next), plain(i, &prev))
    });
    if o {
        app.command(Command::OpenDialog);
    }
    if ctx.input_mut(|i| i.consume_shortcut(&save)) {
        app.command(Command::SaveSession);
    }
    if ctx.input_mut(|i| i.consume_shortcut(&export)) {
        app.command(Command::ExportView);
    }
    if let (true, Some(id)) = (w, app.active) {
        app.command(Command::Close(id));
    }
    // Measuring tools: L / R / G, contours I, Enter / Backspace / Esc while drawing.
    let m = app.docs.iter_mut().find(|d| Some(d.id) == app.active).map(|d| &mut d.measure);
    super::measure_view::keys(&mut app.measure, m, ctx);
    if !typing && app.active.is_some() && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::K)) {
        app.sources.show = !app.sources.show;
    }
    if !typing && app.active.is_some() && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::A)) {
        app.show_annotations = !app.show_annotations;
    }
    if !typing && app.active.is_some() && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::V)) {
        app.cycle_compare();
    }
    // The failure list: E shows it; with a row chosen, Left/Right step its rows (before the scenes).
    super::failures::keys(app, ctx);
    // Sample browsing: Left/Right step through scenes, T toggles truth/observed, while a sample is shown
    // and no pixel is pinned (with a pin, the arrows step the pin; Esc releases it).
    let pinned = app.active_doc().is_some_and(|d| d.pinned.is_some());
    let on_sample = app.samples.as_ref().zip(app.active_doc()).is_some_and(|(s, d)| s.owns(&d.path));
    if on_sample && !typing {
        let (left, right, t) = ctx.input_mut(|i| {
            let step = |i: &mut egui::InputState, key| !pinned && i.consume_key(Modifiers::NONE, key);
            (step(i, Key::ArrowLeft), step(i, Key::ArrowRight), i.consume_key(Modifiers::NONE, Key::T))
        });
        if let Some(set) = app.samples.as_mut() {
            let mut changed = false;
            if left || right {
                changed |= set.step(if right { 1 } else { -1 });
            }
            if t {
                set.show_truth = !set.show_truth;
                changed = true;
            }
            if changed {
                app.command(Command::ShowSample);
            }
        }
    }
    // CNN: C runs it on the active image, B / M / S toggle its box, mask and saliency overlays.
    if app.active.is_some() && !typing {
        let (c, b, m, s) = ctx.input_mut(|i| {
            (
                i.consume_key(Modifiers::NONE, Key::C),
                i.consume_key(Modifiers::NONE, Key::B),
                i.consume_key(Modifiers::NONE, Key::M),
                i.consume_key(Modifiers::NONE, Key::S),
            )
        });
        let cnn = &mut app.persisted.cnn;
        cnn.show_box ^= b;
        cnn.show_mask ^= m;
        cnn.show_saliency ^= s;
        if c {
            app.command(Command::RunCnn);
        }
    }
    if n || p {
        let pos = app.docs.iter().position(|d| Some(d.id) == app.active);
        if let Some(i) = pos {
            let len = app.docs.len();
            let j = if n { (i + 1) % len } else { (i + len - 1) % len };
            app.command(Command::Select(app.docs[j].id));
        }
    }
}

pub fn menu_bar(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    egui::Panel::top("menu").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui
                    .add(egui::Button::new("Open…").shortcut_text("Ctrl+O"))
                    .on_hover_text("Open images with the desktop file dialog")
                    .clicked()
                {
                    app.command(Command::OpenDialog);
                }
                if ui
                    .button("Open run…")
                    .on_hover_text("Show a run folder (summary.json, predictions.jsonl) made by the app or by heatscope eval --run: each scene's recorded answers appear in the sample browser")
                    .clicked()
                {
                    app.command(Command::OpenRunDialog);
                }
                if ui
                    .button("Load CNN folder…")
                    .on_hover_text("Use another CNN: a folder made by heatscope train cnn (config.json), or your own torchvision ResNet-18/34/50 saved as model.safetensors with a heatscope.json that names its classes and input (see the README)")
                    .clicked()
                {
                    app.command(Command::LoadCnnDialog);
                }
                ui.separator();
                if ui
                    .add(egui::Button::new("Export view as PNG…").shortcut_text("Ctrl+E"))
                    .on_hover_text("The image as shown with its overlays, colour bar, scale bar and a provenance footer")
                    .clicked()
                {
                    app.command(Command::ExportView);
                }
                if ui
                    .add(egui::Button::new("Save session").shortcut_text("Ctrl+S"))
                    .on_hover_text("Images, views, display settings, shapes and annotation layers, to a .heatscope file (open it to restore)")
                    .clicked()
                {
                    app.command(Command::SaveSession);
                }
                if ui.button("Save session as…").clicked() {
                    app.command(Command::SaveSessionAs);
                }
                if ui
                    .button("Restore last session")
                    .on_hover_text("What was open when heatscope last closed (kept every 30 s, so a crash loses little)")
                    .clicked()
                {
                    app.command(Command::RestoreLastSession);
                }
                ui.separator();
                if ui
                    .button("Add annotations…")
                    .on_hover_text("Boxes, polygons or points of another tool on the image shown: COCO JSON, YOLO .txt, Pascal VOC XML, GeoJSON, DeepForest CSV")
                    .clicked()
                {
                    app.command(Command::AddAnnotationsDialog);
                }
                if ui
                    .button("Open path…")
                    .on_hover_text("heatscope's own file browser with a path field: works on any machine, with or without a desktop file dialog")
                    .clicked()
                {
                    app.command(Command::OpenPath);
                }
                ui.menu_button("Open recent", |ui| {
                    if app.persisted.recent.is_empty() {
                        ui.weak("(none yet)");
                    }
                    for path in app.persisted.recent.clone() {
                        if ui.button(path.display().to_string()).clicked() {
                            app.command(Command::Open(vec![path]));
                            ui.close();
                        }
                    }
                    ui.separator();
                    if ui.button("Clear recent files").clicked() {
                        app.command(Command::ClearRecent);
                    }
                });
                ui.separator();
                let close =
                    ui.add_enabled(app.active.is_some(), egui::Button::new("Close image").shortcut_text("Ctrl+W"));
                if let (true, Some(id)) = (close.clicked(), app.active) {
                    app.command(Command::Close(id));
                }
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut app.persisted.show_side_panels, "Side panels")
                    .on_hover_text("Image list, info and display controls");
                super::compare::menu(app, ui);
                let mut presenting = app.presenting;
                if ui
                    .checkbox(&mut presenting, "Presentation mode (P)")
                    .on_hover_text("The image and the models' results only, larger, for a projector")
                    .changed()
                {
                    app.command(Command::TogglePresentation);
                }
                if ui
                    .button("Start the sample tour")
                    .on_hover_text("Five steps over the bundled samples: Right / Left walk them (heatscope --tour FILE opens your own)")
                    .clicked()
                {
                    app.command(Command::StartSampleTour);
                    ui.close();
                }
                if app.tour.is_some() && ui.button("End the tour").clicked() {
                    app.command(Command::EndTour);
                    ui.close();
                }
                ui.checkbox(&mut app.failures.open, "Error analysis (E)").on_hover_text(
                    "Every question the shown run answered: filter, click one to see its scene, Left / Right for the next",
                );
                ui.separator();
                ui.label(RichText::new("In the image:").strong());
                for (keys, what) in VIEW_KEYS {
                    ui.label(format!("{keys}: {what}"));
                }
            });
        });
    });
}

/// Keyboard and mouse help shown in the View menu and the empty view: every shortcut the app has.
/// None acts while a text field has the keyboard.
pub const VIEW_KEYS: [(&str, &str); 26] = [
    ("drag", "pan (right-drag while a measuring tool is on)"),
    ("wheel", "zoom at the cursor"),
    ("F", "fit the image"),
    ("1", "one image pixel per screen pixel"),
    ("+ / -", "zoom in / out"),
    ("click", "pin the readout to a pixel"),
    ("arrows", "step the pinned pixel by one"),
    ("Esc", "release the pinned pixel (or stop an answer)"),
    ("Left / Right", "previous / next sample scene (when no pixel is pinned)"),
    ("T", "sample: true / observed map"),
    ("PgUp / PgDn", "previous / next image"),
    ("C", "run the CNN on this image"),
    ("B / M / S", "CNN box / exceedance mask / saliency"),
    ("Ctrl+O", "open files (the built-in browser without a desktop dialog)"),
    ("Ctrl+W", "close the image"),
    ("Ctrl+S", "save the session (images, views, shapes, layers)"),
    ("Ctrl+E", "export the view as PNG with overlays and a provenance footer"),
    ("P", "presentation mode (with a tour, Left / Right walk its steps)"),
    ("E", "error analysis list (with a row chosen, Left / Right step its rows)"),
    ("L", "profile tool: drag a line for the values along it"),
    ("R", "box tool: drag a box for its statistics"),
    ("G", "polygon tool: click corners, double-click or Enter to close, Backspace drops a corner"),
    ("I", "contour lines at the Measure panel's levels"),
    ("A", "annotation layers (other tools' boxes) on or off"),
    ("V", "compare with the image shown before: side by side, swipe, off"),
    ("Esc (measuring)", "drop the shape being drawn, then the shape, then the tool"),
];

pub fn status_bar(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    egui::Panel::bottom("status").show(ui, |ui| {
        // The facts on the right first; the message gets the width left, cut short with its whole
        // text on hover (a long one ran under them).
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.weak(&app.gpu_label);
            ui.separator();
            ui.weak(&app.device_label).on_hover_text(
                "Where the models run: the spectrum CNN (or your imported one), the radio CNN and the local VLM \
                 run on this device; the GSD estimator (boosted trees) and the router run on the CPU. \
                 HEATSCOPE_DEVICE=cpu forces the CPU; a GPU needs a build with --features cuda.",
            );
            // Shown while workers run (a model answering, a file loading): that is when it matters.
            if let Some((fps, median, max)) = app.frames.summary().filter(|_| app.busy()) {
                ui.separator();
                ui.weak(format!("UI {fps:.0} fps, {median:.1} ms/frame (max {max:.1})")).on_hover_text(
                    "UI-thread time to build each frame over the last 2 s (models, files and statistics run on \
                     workers; the UI only repaints when something changes, so fps is low when idle)",
                );
            }
            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| messages_line(app, ui));
        });
    });
}

/// The status bar's left part: the tour's step, the last message (or Ready), the message list, Clear.
fn messages_line(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    if let Some(caption) = app.tour_caption() {
        ui.label(RichText::new(caption).strong())
            .on_hover_text("Right / Left: next / previous step; View > End the tour");
        ui.separator();
    }
    if app.messages.is_empty() {
        ui.weak("Ready");
        return;
    }
    // The list and Clear stay in view; the message takes what is left of the line.
    let list = app.messages.len() > 1 || app.messages.iter().all(|m| m.settled);
    let controls = if list { 110.0 } else { 24.0 };
    let width = (ui.available_width() - controls).max(40.0);
    match app.messages.iter().rev().find(|m| !m.settled) {
        Some(last) => {
            let color = if last.error { ui.visuals().error_fg_color } else { ui.visuals().text_color() };
            ui.scope(|ui| {
                ui.set_max_width(width);
                ui.add(egui::Label::new(RichText::new(&last.text).color(color)).truncate());
            });
        }
        None => {
            ui.weak("Ready");
        }
    }
    if list {
        ui.menu_button(format!("{} messages", app.messages.len()), |ui| {
            egui::ScrollArea::vertical().max_height(300.0).show(ui, |ui| {
                for m in app.messages.iter().rev() {
                    let color = if m.error { ui.visuals().error_fg_color } else { ui.visuals().text_color() };
                    ui.label(RichText::new(&m.text).color(color));
                }
            });
        });
    }
    if ui.small_button("×").on_hover_text("Clear messages").clicked() {
        app.command(Command::ClearMessages);
    }
}

/// Left panel: the open images, then facts about the active one.
pub fn images_panel(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    egui::Panel::left("images").exact_size(280.0).show(ui, |ui| {
        ui.heading("Images");
        if app.docs.is_empty() {
            ui.weak("Open a file (Ctrl+O), drop one on the window, or pass paths on the command line.");
        }
        let mut commands = Vec::new();
        egui::ScrollArea::vertical().id_salt("image list").max_height(220.0).show(ui, |ui| {
            for doc in &app.docs {
                // Right to left: the close button always shows; a long name is cut to the room left.
                let row = egui::vec2(ui.available_width(), ui.spacing().interact_size.y);
                ui.allocate_ui_with_layout(row, egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui.small_button("×").on_hover_text("Close this image").clicked() {
                        commands.push(Command::Close(doc.id));
                    }
                    if let DocStatus::Loading { fraction, .. } = doc.status {
                        if ui.small_button("cancel").clicked() {
                            commands.push(Command::CancelLoad(doc.id));
                        }
                        ui.add(egui::ProgressBar::new(fraction).desired_width(50.0));
                    }
                    let selected = app.active == Some(doc.id);
                    let label = match &doc.status {
                        DocStatus::Failed(_) => {
                            RichText::new(format!("(!) {}", doc.name())).color(ui.visuals().error_fg_color)
                        }
                        _ => RichText::new(doc.name()),
                    };
                    ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                        let button = egui::Button::selectable(selected, label).truncate();
                        let r = ui.add(button).on_hover_text(doc.path.display().to_string());
                        if r.clicked() {
                            commands.push(Command::Select(doc.id));
                        }
                    });
                });
            }
        });
        ui.separator();
        if let Some(doc) = app.active_doc() {
            match (&doc.status, &doc.loaded) {
                (DocStatus::Failed(why), _) => {
                    ui.label(RichText::new("This file could not be opened:").strong());
                    ui.label(RichText::new(why).color(ui.visuals().error_fg_color));
                }
                (DocStatus::Loading { message, .. }, _) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(message);
                    });
                }
                (DocStatus::Ready, Some(loaded)) => {
                    let stats = doc.band_stats(doc.settings.band);
                    info_grid(ui, &loaded.raster, stats.map(|s| (s.min, s.max, s.count)));
                }
                (DocStatus::Ready, None) => {}
            }
        }
        app.commands.extend(commands);
        super::samples::section(app, ui);
    });
}

fn info_grid(ui: &mut egui::Ui, r: &Raster, minmax: Option<(f32, f32, usize)>) {
    let m = &r.meta;
    egui::Grid::new("info").num_columns(2).striped(true).show(ui, |ui| {
        let mut row = |k: &str, v: String| {
            ui.label(k);
            ui.label(v);
            ui.end_row();
        };
        row("format", m.format.clone());
        row("size", format!("{} x {} px, {} band(s)", r.width, r.height, r.band_count()));
        row("stored type", m.dtype.map_or("-".into(), |d| d.name().to_string()));
        row("unit", m.unit.clone().unwrap_or_else(|| "-".into()));
        match &m.pixel_size {
            Some(p) => {
                let approx = if p.approximate { " (approx.)" } else { "" };
                row("pixel size", format!("{} x {} {}{approx}", fmt_num(p.x), fmt_num(p.y), p.unit.symbol()));
                row("from", p.source.clone());
            }
            None => row("pixel size", "unknown".into()),
        }
        row("CRS", m.crs.clone().unwrap_or_else(|| "-".into()));
        if let Some(b) = &m.beam {
            row("beam", format!("{:.2} x {:.2} arcsec, PA {:.1} deg", b.major_arcsec, b.minor_arcsec, b.pa_deg));
        }
        if let Some(nd) = m.nodata {
            row("nodata value", fmt_num(nd));
        }
        match minmax {
            Some((lo, hi, n)) => {
                row("min / max", format!("{} / {}", fmt_num(f64::from(lo)), fmt_num(f64::from(hi))));
                row("valid pixels", format!("{n} of {}", r.width * r.height));
            }
            None => row("min / max", "computing…".into()),
        }
    });
    for note in &m.notes {
        ui.label(RichText::new(note).small().weak());
    }
}

/// `text` cut to `n` characters, an ellipsis marking the cut (for labels in narrow panels).
pub fn clip(text: &str, n: usize) -> String {
    if text.chars().count() > n {
        format!("{}…", text.chars().take(n.saturating_sub(1)).collect::<String>())
    } else {
        text.to_string()
    }
}

/// Values as the app prints them (kept here for the panels that import it from here).
pub use crate::types::fmt_num;

#[cfg(test)]
mod tests {
    use crate::types::fmt_num;

    #[test]
    fn numbers_read_cleanly() {
        assert_eq!(fmt_num(f64::from(216.01_f32)), "216.01");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(-1.5), "-1.5");
        assert_eq!(fmt_num(1200.0), "1200");
        assert_eq!(fmt_num(1.5e-7), "1.5000e-7");
        assert_eq!(fmt_num(0.472_913_4), "0.472913");
    }
}
