//! The "Ask the image" section as drawn: the question box with its routing line and settings, the
//! image's history of turns (each answer's tokens shaded by how sure the model was, the verdict against
//! a labelled sample's truth and the CNN's answer beside it). What asking does lives in `chat.rs`. UI
//! thread.

use egui::{Color32, RichText};

use super::HeatscopeApp;
use super::chat::{Choice, Turn, TurnStatus, ask_with, stop, verdict, visible};
use crate::backend::Finish;
use crate::eval::metrics::match_option;
use crate::types::QaRecord;

/// Tint for a token: green when the model was sure, through amber, to red when it guessed.
fn token_colour(logprob: Option<f32>) -> Color32 {
    let Some(l) = logprob else { return Color32::TRANSPARENT };
    let p = l.exp().clamp(0.0, 1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (r, g) = ((255.0 * (1.0 - p)) as u8, (200.0 * p) as u8);
    Color32::from_rgba_unmultiplied(r, g, 40, 70)
}

fn turn_ui(ui: &mut egui::Ui, index: usize, turn: &Turn, cnn: Option<&crate::eval::answer::SceneEstimate>) {
    ui.label(RichText::new(format!("Q: {}", crate::app::samples::short_question(&turn.question))).weak());
    if let Some(by) = &turn.by {
        let why = turn.route.as_deref().unwrap_or_default();
        ui.add(egui::Label::new(RichText::new(format!("{by}: {why}")).small().weak()).wrap());
    }
    super::chat_gsd::note(ui, turn);
    if !turn.shots.is_empty() {
        egui::CollapsingHeader::new(format!("{} examples shown first", turn.shots.len()))
            .id_salt(("shots", index))
            .show(ui, |ui| {
                for (q, a) in &turn.shots {
                    ui.label(format!("{} -> {a}", crate::app::samples::short_question(q)));
                }
            });
    }
    let text = turn.text();
    let body = |ui: &mut egui::Ui| {
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 0.0;
            for (t, l) in &turn.tokens {
                // Wrapping labels: a long token without spaces breaks across lines instead of widening the panel.
                let text = RichText::new(visible(t)).background_color(token_colour(*l));
                let label = ui.add(egui::Label::new(text).wrap());
                if let Some(l) = l {
                    label.on_hover_text(format!("p = {:.3}", l.exp()));
                }
            }
            if turn.status == TurnStatus::Streaming {
                ui.label(RichText::new(" …").weak());
            }
        });
    };
    let reasoned = text.to_lowercase().contains("answer:");
    if turn.cot && reasoned {
        egui::CollapsingHeader::new("reasoning").id_salt(("cot", index)).show(ui, body);
        ui.label(RichText::new(format!("Answer: {}", turn.answer())).strong());
    } else {
        if turn.cot && !text.is_empty() && turn.status != TurnStatus::Streaming {
            ui.weak("No reasoning given (no \"Answer:\" line): the whole reply is the answer.");
        }
        body(ui);
    }
    // What the model's domain check said of the image, before it answered.
    if let Some(d) = turn.reply.as_ref().and_then(|r| r.domain.as_ref()).filter(|d| d.out_of_domain) {
        let why = d.reason.as_deref().unwrap_or("the image is unlike the VLM's training maps");
        ui.add(
            egui::Label::new(
                RichText::new(format!("Out of domain: {why}. Do not trust this answer."))
                    .small()
                    .color(ui.visuals().warn_fg_color),
            )
            .wrap(),
        )
        .on_hover_text(
            "The VLM compares the image's vision features with the maps it was trained on before it answers",
        );
    }
    // How sure, how fast.
    let elapsed = turn.started.elapsed().as_secs_f64();
    let n = turn.tokens.len();
    let rate = match (&turn.reply, turn.first_token) {
        (Some(r), _) => r.tokens_per_second(),
        #[allow(clippy::cast_precision_loss)]
        (None, Some(f)) if n > 1 && elapsed > f => Some((n - 1) as f64 / (elapsed - f)),
        _ => turn.saved_rate,
    };
    let probs: Vec<f32> = turn.tokens.iter().filter_map(|(_, l)| l.map(f32::exp)).collect();
    let from_cnn = turn.by.as_deref() == Some("CNN");
    let mut line = if from_cnn { "from the CNN's reading of this image".to_string() } else { format!("{n} tokens") };
    if let Some(r) = rate.filter(|_| !from_cnn) {
        line += &format!(" · {r:.1} tok/s");
    }
    if from_cnn {
        if let Some(p) = probs.first() {
            line += &format!(" · confidence {p:.2}");
        }
    } else if !probs.is_empty() {
        #[allow(clippy::cast_precision_loss)]
        let mean = turn.tokens.iter().filter_map(|(_, l)| *l).sum::<f32>() / probs.len() as f32;
        let weakest = turn.tokens.iter().filter_map(|(t, l)| l.map(|l| (t, l))).min_by(|a, b| a.1.total_cmp(&b.1));
        line += &format!(" · mean p {:.2}", mean.exp());
        if let Some((t, l)) = weakest {
            line += &format!(" · least sure {t:?} ({:.2})", l.exp());
        }
    }
    match &turn.status {
        TurnStatus::Streaming => line += " · answering…",
        TurnStatus::Done(Finish::Cancelled) => line += " · stopped",
        TurnStatus::Done(Finish::Length) => line += " · cut at the token limit",
        TurnStatus::Done(Finish::Stop) => {}
        TurnStatus::Failed(why) => {
            ui.colored_label(Color32::from_rgb(230, 90, 80), why);
        }
    }
    // Wrapped: a long line (a strange least-sure token, many stats) must not widen the panel.
    ui.horizontal_wrapped(|ui| {
        ui.add(egui::Label::new(RichText::new(line).small().weak()).wrap());
        if ui.small_button("Copy").on_hover_text("Copy the answer").clicked() {
            ui.ctx().copy_text(text.clone());
        }
    });
    // Ground truth and the CNN, on a labelled sample.
    // A stopped answer is not scored: it was never finished.
    if let (Some(r), TurnStatus::Done(Finish::Stop | Finish::Length)) = (&turn.record, &turn.status) {
        let (ok, how) = verdict(r, &turn.answer());
        let colour = if ok { Color32::from_rgb(90, 190, 110) } else { Color32::from_rgb(230, 110, 90) };
        ui.colored_label(colour, format!("truth: {} · {how}", r.answer));
        if let Some(p) = cnn.and_then(|e| crate::eval::answer::answer(r, e)) {
            let agrees = verdict(r, &p.answer).0 == ok && match_same(r, &p.answer, &turn.answer());
            ui.label(
                RichText::new(format!("CNN: {} ({})", p.answer, if agrees { "agrees" } else { "differs" })).small(),
            );
        }
    }
    ui.separator();
}

/// Whether two answers to a choice question pick the same option.
fn match_same(r: &QaRecord, a: &str, b: &str) -> bool {
    let choices: Vec<&str> = r.choices.iter().map(String::as_str).collect();
    if choices.is_empty() {
        return a.trim().eq_ignore_ascii_case(b.trim());
    }
    match_option(a, &choices).is_some() && match_option(a, &choices) == match_option(b, &choices)
}

/// The "Ask the image" section of the right panel.
pub fn panel(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    egui::CollapsingHeader::new(RichText::new("Ask the image").heading()).default_open(true).show(ui, |ui| {
        if let Some(b) = app.chat.vlm.show(ui, "loading the VLM…", "VLM unavailable: ") {
            ui.label(RichText::new(format!("VLM: {}", app.chat.source.describe())).small().weak())
                .on_hover_text(b.describe());
        }
        let Some(path) = app.active_doc().map(|d| d.path.clone()) else {
            ui.weak("Open an image to ask about it.");
            return;
        };
        if let Some(island) = app.active_doc().and_then(|d| d.sources.selected_island()).filter(|_| app.sources.show) {
            ui.label(RichText::new(format!("About source #{} (its cutout, not the whole image)", island.id)).small())
                .on_hover_text("A click off the islands (or K) asks about the whole image again");
        }
        // Dataset questions of this scene, to ask with one click.
        let records: Vec<QaRecord> = app
            .samples
            .as_ref()
            .filter(|s| s.owns(&path))
            .map(|s| s.current_records().into_iter().cloned().collect())
            .unwrap_or_default();
        if !records.is_empty() {
            egui::ComboBox::from_id_salt("scene questions")
                .selected_text("pick a scene question…")
                .width(280.0)
                .show_ui(ui, |ui| {
                    // The list stays as wide as the panel; long questions are cut, the tooltip has them whole.
                    ui.set_max_width(280.0);
                    for r in &records {
                        let short = crate::app::samples::short_question(&r.question);
                        let label = format!("{} {}", r.level.name(), super::panels::clip(short, 40));
                        if ui.selectable_label(false, label).on_hover_text(&r.question).clicked() {
                            app.chat.input = r.question.clone();
                            app.chat.picked = Some(r.clone());
                        }
                    }
                })
                .response
                .accessible_name("Scene questions")
                .on_hover_text("The dataset's questions about this scene: picked, they are scored against the truth");
        }
        let cnn = app.cnn_reading().map(|r| r.estimate());
        if let Some(history) = app.chat.histories.get(&path) {
            egui::ScrollArea::vertical().max_height(320.0).stick_to_bottom(true).id_salt("chat-history").show(
                ui,
                |ui| {
                    for (i, turn) in history.iter().enumerate() {
                        turn_ui(ui, i, turn, cnn.as_ref());
                    }
                },
            );
        }
        let streaming = app.active_doc().is_some_and(|d| d.results.answer.is_loading());
        // With routing on, a question the CNN answers needs no VLM.
        let ready = app.chat.vlm.ready().is_some() || app.persisted.chat.routing.on;
        let mut choice = None;
        ui.horizontal(|ui| {
            // Several lines, so a dataset question fits; Enter sends, Shift+Enter starts a new line.
            let newline = egui::KeyboardShortcut::new(egui::Modifiers::SHIFT, egui::Key::Enter);
            let edit = egui::TextEdit::multiline(&mut app.chat.input)
                .hint_text("Ask about this image…")
                .desired_width(220.0)
                .desired_rows(2)
                .return_key(Some(newline));
            let response = ui.add_enabled(ready && !streaming, edit).on_hover_text("Enter sends; Shift+Enter starts a new line");
            let focused = response.has_focus() || response.lost_focus();
            let enter = focused && ui.input(|i| i.key_pressed(egui::Key::Enter) && !i.modifiers.shift && !i.modifiers.command);
            if focused && ui.input(|i| i.key_pressed(egui::Key::Enter) && i.modifiers.command) {
                choice = Some(Choice::Other);
            }
            if streaming {
                if ui.button("Stop").on_hover_text("Stop the answer (Esc)").clicked()
                    || ui.input(|i| i.key_pressed(egui::Key::Escape))
                {
                    stop(app);
                }
            } else if ui
                .add_enabled(ready, egui::Button::new("Ask"))
                .on_hover_text("Send the question (Enter) to the model the line below names")
                .clicked()
                || enter
            {
                choice = Some(Choice::Routed);
            }
        });
        // Where the question will go, and why.
        let settings = app.persisted.chat.routing.clone();
        if !streaming && let Some(plan) = super::chat_route::plan(&mut app.chat.routing, &settings, &app.chat.input) {
            match super::chat_route::line(ui, &plan) {
                Some(true) => choice = Some(Choice::Other),
                Some(false) => choice = Some(Choice::Both),
                None => {}
            }
        }
        if let Some(c) = choice.filter(|_| !streaming) {
            ask_with(app, c);
        }
        super::chat_route::settings_ui(ui, &mut app.persisted.chat.routing);
        let resolved = app.resolved_gsd();
        let settings = &mut app.persisted.chat;
        ui.horizontal(|ui| {
            ui.checkbox(&mut settings.cot, "chain of thought")
                .on_hover_text("Ask for reasoning first; the text after the last \"Answer:\" is the answer");
            let picked = app.chat.picked.is_some();
            let why = "Few-shot shows the model examples of the same kind of question from the dataset: pick a scene question first";
            ui.add_enabled(picked, egui::Checkbox::new(&mut settings.few_shot, "few-shot"))
                .on_hover_text("Show the model same-kind examples from the dataset's train split first")
                .on_disabled_hover_text(why);
            ui.add_enabled(
                picked && settings.few_shot,
                egui::DragValue::new(&mut settings.shots).range(1..=3).suffix(" ex"),
            )
            .on_hover_text("How many examples")
            .on_disabled_hover_text(why);
        });
        super::chat_gsd::checkbox(ui, &mut settings.tell_gsd, resolved.as_ref());
    });
}
