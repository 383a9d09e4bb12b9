//! "Tell the model the GSD" in Ask the image (ScaleEarth's "GSD as text", issue 26): when it is on and
//! the open image has a resolved GSD, `backend::gsd_prompt`'s sentence (value, source, and for an
//! estimate its 68 % interval) goes before the question sent to the VLM, and the turn keeps the
//! sentence (`Turn::gsd_in_prompt`, saved in the history) to show under the answer. UI thread.

use egui::RichText;

use super::HeatscopeApp;
use super::chat::Turn;
use crate::backend::gsd_prompt::GsdStatement;
use crate::models::gsd::ResolvedGsd;

/// The sentence to put before a question asked now, when the option is on and there is a GSD.
pub(super) fn sentence(app: &HeatscopeApp) -> Option<String> {
    if !app.persisted.chat.tell_gsd {
        return None;
    }
    app.resolved_gsd().map(|r| GsdStatement::resolved(&r).sentence())
}

/// The option's checkbox: disabled, saying why, when the open image has no GSD.
pub(super) fn checkbox(ui: &mut egui::Ui, on: &mut bool, resolved: Option<&ResolvedGsd>) {
    let tip = match resolved {
        Some(r) => format!(
            "Put this sentence before the question (ScaleEarth's \"GSD as text\"); the answer notes it:\n{}",
            GsdStatement::resolved(r).sentence()
        ),
        None => String::new(),
    };
    ui.add_enabled(resolved.is_some(), egui::Checkbox::new(on, "tell the model the GSD"))
        .on_hover_text(tip)
        .on_disabled_hover_text(
            "This image has no GSD (no georeferencing in metres, no estimate yet, no override), so there is nothing to tell",
        );
}

/// Under an answer: the sentence the question carried, when it carried one.
pub(super) fn note(ui: &mut egui::Ui, turn: &Turn) {
    if let Some(s) = &turn.gsd_in_prompt {
        ui.add(egui::Label::new(RichText::new(format!("GSD in the prompt: {s}")).small().weak()).wrap())
            .on_hover_text("\"tell the model the GSD\" was on: this sentence went before the question");
    }
}
