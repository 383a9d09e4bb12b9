//! The GSD panel's "Spoofing sweep" (ScaleEarth's test of a VLM, issue 26): the chat's VLM is asked one
//! question about the open image at log-spaced stated GSDs from 0.01 m to 1 km (plus the GSD in use,
//! marked), each time with `backend::gsd_prompt`'s sentence for that GSD before the question. The sweep
//! runs as a [`Job::task`] under `Key::Doc(id, Part::GsdSweep)` with progress k/N and Cancel; the
//! result (the document's `results.sweep`) is plotted as mean token log-prob over log10 GSD, one colour
//! per distinct answer (hover for it), with the verdict, flat or not. `gsd.rs` calls [`section`].
//! UI thread; the questions are asked on a worker.

use std::sync::Arc;

use egui::{Color32, RichText, Stroke};
use egui_plot::{HoverPosition, Line, Plot, PlotPoints, Points, VLine};

use super::HeatscopeApp;
use super::document::Part;
use super::slot::{Key, Slot};
use crate::backend::ChatRequest;
use crate::backend::gsd_prompt::format_gsd;
use crate::backend::gsd_sweep::{self, Shape, SweepRow};
use crate::models::gsd::ResolvedGsd;
use crate::models::vlm::{Message, Part as MessagePart};
use crate::workers::{ChatImage, Job};

/// What the section keeps between frames (the sweeps themselves are the documents').
#[derive(Debug, Clone)]
pub struct SweepUi {
    pub question: String,
    /// Log-spaced points from 0.01 m to 1 km.
    pub points: usize,
}

impl Default for SweepUi {
    fn default() -> Self {
        Self { question: gsd_sweep::DEFAULT_QUESTION.to_string(), points: gsd_sweep::DEFAULT_POINTS }
    }
}

/// A finished (or cancelled part-way, then not kept) sweep of one image.
#[derive(Debug)]
pub struct SweepResult {
    pub question: String,
    /// The backend that answered, in its own words.
    pub model: String,
    /// The GSD in use when the sweep started, and its source.
    pub truth: Option<(f64, String)>,
    pub rows: Vec<SweepRow>,
    /// Asked of the bundled spectrum VLM (its curve is no evidence either way).
    pub bundled: bool,
}

/// Colours of the distinct answers, in order of first appearance.
const PALETTE: [Color32; 6] = [
    Color32::from_rgb(90, 170, 250),
    Color32::from_rgb(240, 170, 60),
    Color32::from_rgb(200, 110, 220),
    Color32::from_rgb(230, 90, 80),
    Color32::from_rgb(120, 210, 120),
    Color32::from_rgb(200, 200, 200),
];

/// Start the sweep of the active image with the chat's VLM.
fn start(app: &mut HeatscopeApp, resolved: Option<&ResolvedGsd>) {
    let Some(backend) = app.chat.vlm.ready().map(Arc::clone) else {
        return app.error("the VLM is not ready yet (see Ask the image); run the sweep when it is".into());
    };
    let Some(doc) = app.active_doc() else { return };
    let Some(raster) = doc.loaded.as_ref().map(|l| Arc::clone(&l.raster)) else { return };
    let id = doc.id;
    let question = app.gsd.sweep.question.trim().to_string();
    let truth = resolved.map(|r| (r.metres, r.source_text()));
    let grid = gsd_sweep::log_grid(gsd_sweep::DEFAULT_MIN_M, gsd_sweep::DEFAULT_MAX_M, app.gsd.sweep.points);
    let points = match grid.and_then(|g| gsd_sweep::with_truth(&g, truth.as_ref().map(|t| t.0))) {
        Ok(p) => p,
        Err(e) => return app.error(format!("cannot run the sweep: {e}")),
    };
    let max_tokens = app.persisted.chat.max_tokens;
    let bundled = app.chat.source == crate::workers::VlmSource::Bundled;
    let job = Job::task("GSD spoofing sweep", move |r| {
        let image = crate::workers::chat_image(&ChatImage::Raster(raster))?;
        let base = ChatRequest {
            messages: vec![Message::user(vec![MessagePart::Image, MessagePart::Text(question.clone())])],
            images: vec![image],
            max_tokens,
            ..ChatRequest::default()
        };
        let n = points.len();
        r.progress(0.0, format!("0/{n}"));
        #[allow(clippy::cast_precision_loss)]
        let rows = gsd_sweep::run(backend.as_ref(), &base, &points, r.cancel_flag(), &mut |k, _| {
            r.progress((k + 1) as f32 / n as f32, format!("{}/{n}", k + 1));
        })
        .map_err(|e| e.to_string())?;
        if r.cancelled() {
            return Err("cancelled".into());
        }
        Ok(Arc::new(SweepResult { question, model: backend.describe(), truth, rows, bundled }))
    });
    match app.workers.submit(Key::Doc(id, Part::GsdSweep), job) {
        Ok(ticket) => {
            if let Some(doc) = app.docs.iter_mut().find(|d| d.id == id) {
                doc.results.sweep = Slot::loading(&ticket);
            }
        }
        Err(e) => app.error(format!("cannot run the sweep: {e}")),
    }
}

/// The "Spoofing sweep" section, inside the GSD panel; `resolved` is the GSD in use (marked).
pub(super) fn section(app: &mut HeatscopeApp, ui: &mut egui::Ui, resolved: Option<&ResolvedGsd>) {
    egui::CollapsingHeader::new("Spoofing sweep").id_salt("gsd spoofing sweep").show(ui, |ui| {
        ui.add(
            egui::Label::new(
                RichText::new(format!(
                    "Asks the VLM the same question at {} stated GSDs from 0.01 m to 1 km{}, each with \
                     \"The ground sampling distance of this image is G m per pixel.\" before it (ScaleEarth's spoofing test).",
                    app.gsd.sweep.points,
                    if resolved.is_some() { " and the one in use" } else { "" }
                ))
                .small()
                .weak(),
            )
            .wrap(),
        );
        let Some(doc) = app.active_doc() else { return };
        let slot = doc.results.sweep.clone();
        let running = slot.is_loading();
        let ready = app.chat.vlm.ready().is_some();
        ui.add_enabled(
            !running,
            egui::TextEdit::singleline(&mut app.gsd.sweep.question)
                .desired_width(ui.available_width().min(280.0))
                .hint_text("question"),
        )
        .accessible_name("Sweep question")
        .on_hover_text("The question asked at every GSD");
        let mut run = false;
        ui.horizontal(|ui| {
            ui.add_enabled(!running, egui::DragValue::new(&mut app.gsd.sweep.points).range(2..=50).suffix(" points"))
                .on_hover_text("How many log-spaced GSDs between 0.01 m and 1 km");
            let can = ready && !running && !app.gsd.sweep.question.trim().is_empty();
            run = ui
                .add_enabled(can, egui::Button::new("Run sweep"))
                .on_hover_text("Ask the question at every GSD on a worker (the chat's VLM)")
                .on_disabled_hover_text(if ready {
                    "Type a question; a sweep already running has Cancel"
                } else {
                    "The VLM is not ready (see Ask the image)"
                })
                .clicked();
        });
        match &slot {
            Slot::Loading(p) => {
                let mut cancel = false;
                ui.horizontal(|ui| {
                    let text = if p.message.is_empty() { "starting".to_string() } else { p.message.clone() };
                    ui.add(egui::ProgressBar::new(p.fraction).text(format!("asking {text}")).desired_width(200.0));
                    cancel = ui.button("Cancel").on_hover_text("Stop the sweep after the answer in progress").clicked();
                });
                if cancel && let Some(doc) = app.active_doc_mut() {
                    doc.results.sweep.cancel();
                }
            }
            Slot::Failed(why) => {
                ui.add(egui::Label::new(RichText::new(why).color(ui.visuals().error_fg_color)).wrap());
            }
            Slot::Ready(result) => show(ui, result),
            Slot::Empty => {}
        }
        if run {
            start(app, resolved);
        }
    });
}

/// A finished sweep: the plot, the verdict, the answers and Copy CSV.
fn show(ui: &mut egui::Ui, result: &SweepResult) {
    let rows = &result.rows;
    let shape = Shape::of(rows);
    // Distinct answers in order of first appearance, each row's index among them.
    let mut answers: Vec<String> = Vec::new();
    let group: Vec<usize> = rows
        .iter()
        .map(|r| {
            let key = r.answer.trim().to_lowercase();
            answers.iter().position(|a| *a == key).unwrap_or_else(|| {
                answers.push(key);
                answers.len() - 1
            })
        })
        .collect();
    let series: Vec<Vec<usize>> = (0..answers.len())
        .map(|g| (0..rows.len()).filter(|&i| group[i] == g && rows[i].mean_logprob.is_some()).collect())
        .collect();
    let at = |i: usize| [rows[i].gsd_m.log10(), rows[i].mean_logprob.unwrap_or(f64::NAN)];
    let hover = |pos: &HoverPosition<'_>| -> Option<String> {
        let HoverPosition::NearDataPoint { plot_name, index, .. } = pos else { return None };
        let g: usize = plot_name.strip_prefix("answer ")?.parse::<usize>().ok()?.checked_sub(1)?;
        let row = &rows[*series.get(g)?.get(*index)?];
        Some(format!(
            "{}{}\nmean log-prob {:.3}\n{}",
            format_gsd(row.gsd_m),
            if row.is_true { " (in use)" } else { "" },
            row.mean_logprob.unwrap_or(f64::NAN),
            super::panels::clip(&row.answer, 120)
        ))
    };
    if shape.spread.is_some() {
        Plot::new("gsd sweep")
            .height(140.0)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .x_axis_label("log10 stated GSD (m)")
            .y_axis_label("mean log-prob")
            .label_formatter(hover)
            .show(ui, |plot| {
                let curve: Vec<[f64; 2]> = (0..rows.len()).map(at).collect();
                plot.line(Line::new("curve", PlotPoints::from(curve)).stroke(Stroke::new(1.0, Color32::GRAY)));
                for (g, members) in series.iter().enumerate() {
                    let pts: Vec<[f64; 2]> = members.iter().map(|&i| at(i)).collect();
                    plot.points(
                        Points::new(format!("answer {}", g + 1), PlotPoints::from(pts))
                            .radius(4.0)
                            .color(PALETTE[g % PALETTE.len()]),
                    );
                }
                if let Some((m, _)) = result.truth {
                    plot.vline(
                        VLine::new("in use", m.log10()).stroke(Stroke::new(2.0, Color32::from_rgb(120, 210, 120))),
                    );
                }
            })
            .response
            .on_hover_text("Each point: the answer at one stated GSD (colour: which answer); green: the GSD in use");
    }
    let verdict = if shape.is_flat() {
        RichText::new(format!("The curve is flat: {}.", shape.describe())).strong()
    } else {
        RichText::new(format!(
            "{}. A trend with the scale means the model reads the sentence; jumps between unrelated answers \
             mean it reacts to the extra words.",
            shape.describe()
        ))
    };
    ui.add(egui::Label::new(verdict).wrap());
    if result.bundled {
        let note = gsd_sweep::BUNDLED_NOTE;
        ui.add(
            egui::Label::new(RichText::new(format!("Note: {note}.")).small().color(ui.visuals().warn_fg_color)).wrap(),
        );
    }
    if let Some((m, from)) = &result.truth {
        ui.add(egui::Label::new(RichText::new(format!("in use: {} ({from})", format_gsd(*m))).weak()).wrap());
    }
    ui.horizontal_wrapped(|ui| {
        // The model's description can be a long path: cut, whole in the tooltip.
        let model = super::panels::clip(&result.model, 36);
        ui.label(RichText::new(format!("{} points · {model}", rows.len())).small().weak()).on_hover_text(&result.model);
        if ui.small_button("Copy CSV").on_hover_text("gsd_m,is_true,answer,mean_logprob,tokens").clicked() {
            ui.ctx().copy_text(gsd_sweep::to_csv(rows));
        }
    });
    egui::CollapsingHeader::new(format!("{} distinct answers", answers.len())).id_salt("sweep answers").show(
        ui,
        |ui| {
            egui::Grid::new("sweep rows").striped(true).show(ui, |ui| {
                for (r, g) in rows.iter().zip(&group) {
                    ui.colored_label(
                        PALETTE[g % PALETTE.len()],
                        format!("{}{}", format_gsd(r.gsd_m), if r.is_true { " *" } else { "" }),
                    );
                    ui.label(r.mean_logprob.map_or_else(|| "n/a".to_string(), |l| format!("{l:.3}")));
                    ui.label(super::panels::clip(&r.answer, 22)).on_hover_text(&r.answer);
                    ui.end_row();
                }
            });
        },
    );
}
