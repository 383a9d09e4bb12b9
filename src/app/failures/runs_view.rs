//! The error analysis's Runs table: each run's letter, whether it is shown, its folder, model, dataset,
//! questions asked, answers and age, the details on hover; comparing more runs and starting one. UI
//! thread.

use egui::RichText;

use super::super::runs::ShownRun;
use super::letter;
use super::view::{Asked, cell, pick};
use crate::types::Split;

/// One row per run: its letter, whether it is shown, its folder, model, dataset, questions asked,
/// answers and when it was written (the details on hover); compared runs can be hidden or removed.
pub(super) fn runs_table(
    ui: &mut egui::Ui,
    a: &ShownRun,
    compared: &mut [super::super::runs::Compared],
    asked: &mut Asked,
) {
    egui::Grid::new("runs").striped(true).spacing([10.0, 2.0]).show(ui, |ui| {
        for h in ["run", "show", "folder", "model", "dataset", "questions", "answers", "written", ""] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        let mut row = |ui: &mut egui::Ui, k: usize, run: &ShownRun, show: Option<&mut bool>| {
            ui.label(RichText::new(letter(k).to_string()).strong()).on_hover_text(run_details(run));
            match show {
                Some(show) => {
                    let response = ui
                        .checkbox(show, "")
                        .on_hover_text("Show this run's answers in the list and its scores in the summary");
                    let now = *show;
                    let name = format!("show run {}", letter(k));
                    response.widget_info(|| egui::WidgetInfo::selected(egui::Role::CheckBox, true, now, &name));
                    asked.toggled |= response.changed();
                }
                None => {
                    let response = ui
                        .add_enabled(false, egui::Checkbox::new(&mut true, ""))
                        .on_disabled_hover_text("A is the run shown in the sample browser: always listed");
                    response.widget_info(|| {
                        egui::WidgetInfo::selected(egui::Role::CheckBox, false, true, "show run A (always)")
                    });
                }
            }
            let folder =
                run.dir.file_name().map_or_else(|| run.dir.display().to_string(), |n| n.to_string_lossy().into());
            ui.label(cell(&folder, 28)).on_hover_text(run_details(run));
            ui.label(model_of(run));
            let dataset = run.summary.as_ref().map(|s| {
                let d = &s.settings.dataset;
                d.file_name().map_or_else(|| d.display().to_string(), |n| n.to_string_lossy().into())
            });
            ui.label(cell(dataset.as_deref().unwrap_or("-"), 24));
            ui.label(run.summary.as_ref().map_or_else(|| "-".to_string(), |s| selection_of(&s.settings.selection)));
            ui.label(run.lines.len().to_string());
            ui.label(run.written.map_or_else(|| "-".to_string(), age));
        };
        row(ui, 0, a, None);
        ui.label("");
        ui.end_row();
        for (i, c) in compared.iter_mut().enumerate() {
            row(ui, i + 1, &c.run, Some(&mut c.show));
            if ui.small_button("remove").on_hover_text("Stop comparing with this run").clicked() {
                asked.remove = Some(i);
            }
            ui.end_row();
        }
    });
    ui.horizontal(|ui| {
        if compared.len() < super::MAX_COMPARED {
            asked.compare = ui
                .button("Compare with a run…")
                .on_hover_text("Another run of this dataset (another model, or another checkpoint): A vs it per level, and the questions where they differ")
                .clicked();
        }
        if !compared.is_empty() {
            asked.stop_comparing = ui.button("stop comparing").on_hover_text("Remove every compared run").clicked();
        }
    });
}

/// Start a run from here: a model and a split, then "Start a run" (the sample browser's "Run a model"
/// has every setting); the run shown so far becomes a compared run.
pub(super) fn new_run(ui: &mut egui::Ui, s: &mut super::super::runs::RunSettings, running: bool, asked: &mut Asked) {
    use super::super::runs::RunModel;
    ui.horizontal(|ui| {
        pick(ui, "new run:", &mut s.model, RunModel::ALL.map(|m| (m, m.name().to_string())).into());
        let splits = ["test", "val", "train", "all"].map(|x| (x.to_string(), x.to_string()));
        pick(ui, "split", &mut s.split, splits.into());
        let start = ui.add_enabled(!running, egui::Button::new("Start a run")).on_hover_text(
            "Run this model over the dataset's questions in the background (into runs/<dataset>-<model>-<split> beside the settings); it streams in as A, the run shown so far compared with it. The sample browser's \"Run a model\" has the other settings (question limit, CPU share, folder).",
        );
        asked.start = start.clicked();
        if running {
            ui.label(RichText::new("a run is going on").weak());
        }
    });
}

/// The questions a run asked, in a few words: split, levels, limit.
pub(super) fn selection_of(sel: &crate::eval::runner::Selection) -> String {
    let split = sel.split.map_or("all splits", Split::name);
    let levels: Vec<&str> = sel.levels.iter().map(|l| l.name()).collect();
    let limit = sel.limit.map_or_else(String::new, |n| format!(", first {n}"));
    format!("{split}, {}{limit}", levels.join(" "))
}

/// How long ago a run was written, in hours or days.
pub(super) fn age(written: std::time::SystemTime) -> String {
    let hours = written.elapsed().unwrap_or_default().as_secs_f64() / 3600.0;
    if hours < 48.0 { format!("{hours:.1} h ago") } else { format!("{:.0} days ago", hours / 24.0) }
}

/// The reports of A and of each shown compared run that has one, under their letters.
pub(super) fn reports<'a>(
    a: &'a ShownRun,
    compared: &'a [super::super::runs::Compared],
) -> Vec<(char, &'a serde_json::Value)> {
    let report = |r: &'a ShownRun| r.summary.as_ref().and_then(|s| s.report.as_ref());
    let others = compared.iter().enumerate().filter(|(_, c)| c.show).map(|(i, c)| (letter(i + 1), report(&c.run)));
    std::iter::once(('A', report(a))).chain(others).filter_map(|(l, r)| r.map(|r| (l, r))).collect()
}

/// What makes a run this run, for a tooltip: model, dataset, questions asked, options, answers,
/// whether it is complete, and when its summary was last written.
pub(super) fn run_details(run: &ShownRun) -> String {
    let mut text = format!("folder {}\nmodel {}", run.dir.display(), model_of(run));
    if let Some(s) = &run.summary {
        text += &format!(
            "\ndataset {}\nquestions: {}\noptions {}\n{} of {} answered, {} failed{}",
            s.settings.dataset.display(),
            selection_of(&s.settings.selection),
            s.settings.options,
            s.answered,
            s.questions,
            s.failed,
            if s.complete { "" } else { " (not complete)" }
        );
    }
    if let Some(t) = run.written {
        text += &format!("\nwritten {}", age(t));
    }
    text
}

pub(super) fn model_of(run: &ShownRun) -> String {
    run.summary.as_ref().map_or_else(
        || "model unknown".to_string(),
        |s| {
            // "rule baseline: …" names its kind already; "bundled cnn-spectrum" and folders do not.
            let m = &s.settings.model;
            if m.name.starts_with(&m.kind) { m.name.clone() } else { format!("{} {}", m.kind, m.name) }
        },
    )
}
