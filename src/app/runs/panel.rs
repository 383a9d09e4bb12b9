//! The sample browser's "Run a model" section: the run's model, split, question limit, CPU share and
//! folder, Start / Cancel, progress, and the shown run's one-line summary. UI thread.

use egui::RichText;

use super::super::Command;
use super::super::slot::Slot;
use super::{HeatscopeApp, RunModel, cores};
use crate::eval::runs::Summary;

/// The run controls and the shown run's summary, in the sample browser.
pub fn section(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    let running = app.runs.making.is_loading();
    egui::CollapsingHeader::new("Run a model").id_salt("run a model").default_open(running || app.runs.shown.is_some()).show(ui, |ui| {
        let s = &mut app.persisted.runs;
        ui.add_enabled_ui(!running, |ui| {
            ui.horizontal(|ui| {
                egui::ComboBox::from_id_salt("run model")
                    .selected_text(s.model.name())
                    .width(60.0)
                    .show_ui(ui, |ui| {
                        for m in RunModel::ALL {
                            ui.selectable_value(&mut s.model, m, m.name());
                        }
                    })
                    .response
                    .accessible_name("Run model")
                    .on_hover_text("prior and rule: the baselines; cnn: the loaded CNN; vlm: the VLM the chat uses, with its few-shot and chain-of-thought settings");
                egui::ComboBox::from_id_salt("run split")
                    .selected_text(s.split.clone())
                    .width(50.0)
                    .show_ui(ui, |ui| {
                        for split in ["test", "val", "train", "all"] {
                            ui.selectable_value(&mut s.split, split.to_string(), split);
                        }
                    })
                    .response
                    .accessible_name("Run split")
                    .on_hover_text("Which split's questions to ask");
                ui.add(egui::DragValue::new(&mut s.limit).range(0..=1_000_000).prefix("first "))
                    .on_hover_text("Ask only the first N questions (0: all)");
            });
            let n = cores() as f64;
            ui.add(
                egui::Slider::new(&mut s.cpu_share, (0.25 / n).min(0.1)..=1.0)
                    .text("CPU share")
                    .custom_formatter(move |v, _| format!("{:.0} % ({:.1} of {n} cores)", v * 100.0, v * n)),
            )
            .on_hover_text("A local model computes on this share of the cores (below one core, one thread that rests between scenes); the viewer keeps the rest and stays responsive. A server's model is not held back.");
            ui.add(egui::TextEdit::singleline(&mut app.runs.folder).hint_text("run folder (default beside the settings)").desired_width(250.0))
                .on_hover_text("Where the run is kept (predictions.jsonl, summary.json). A folder holding the same run is continued.");
        });
        ui.horizontal(|ui| {
            if running {
                if ui.button("Cancel run").on_hover_text("Stop the run; the answers so far stay in its folder").clicked()
                    && let Slot::Loading(p) = &app.runs.making
                {
                    p.cancel();
                }
            } else if ui.button("Start run").on_hover_text("Run the model over the dataset in the background (continues the folder's run)").clicked() {
                app.commands.push(Command::StartRun);
            }
            if ui.button("Open run…").on_hover_text("Show a run folder made here or by heatscope eval --run").clicked() {
                app.commands.push(Command::OpenRunDialog);
            }
        });
        if let (true, Some(live)) = (running, &app.runs.live) {
            #[allow(clippy::cast_precision_loss)]
            let fraction = if live.total > 0 { live.done as f32 / live.total as f32 } else { 0.0 };
            let eta = if live.eta_s.is_finite() { format!("about {:.0} s left", live.eta_s) } else { "starting…".into() };
            ui.add(egui::ProgressBar::new(fraction).desired_width(250.0).text(format!("{}/{} · {:.2} q/s · {eta}", live.done, live.total, live.rate)));
        }
        app.runs.opening.show(ui, "reading the run…", "");
        if let Some(run) = &app.runs.shown {
            ui.label(RichText::new(format!("run: {}", run.dir.display())).small()).on_hover_text("The answers shown beside each question");
            if let Some(sum) = &run.summary {
                let m = &sum.settings.model;
                ui.label(RichText::new(format!("{} · {} answers{}", m.name, run.lines.len(), if sum.complete { "" } else { " (incomplete)" })).small().weak());
                if let Some(overall) = overall_line(sum) {
                    ui.label(RichText::new(overall).small())
                        .on_hover_text("The run's report over the questions it asked (heatscope eval --predictions RUN/predictions.jsonl gives the whole table)");
                }
            } else {
                ui.label(RichText::new(format!("{} answers so far", run.lines.len())).small().weak());
            }
        }
    });
}

/// The report's overall scores on one line (with their n), when the run is complete.
fn overall_line(sum: &Summary) -> Option<String> {
    let groups = sum.report.as_ref()?.get("groups")?.as_array()?;
    let overall = groups.iter().find(|g| g.get("name").and_then(serde_json::Value::as_str) == Some("overall"))?;
    let mut parts = Vec::new();
    for (key, label) in
        [("l1", "L1 acc"), ("l2", "L2 acc"), ("l3_iou", "L3 IoU"), ("l4_token_f1", "L4 F1"), ("composite", "composite")]
    {
        let Some(m) = overall.get(key) else { continue };
        let n = m.get("n").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if let (Some(v), true) = (m.get("value").and_then(serde_json::Value::as_f64), n > 0) {
            parts.push(format!("{label} {v:.3}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::eval::runner::Selection;

    #[test]
    fn the_summary_line_reads_the_reports_overall_group() {
        let report = serde_json::json!({"groups": [
            {"name": "leo-urban", "l1": {"value": 0.1, "n": 3}},
            {"name": "overall", "l1": {"value": 0.6667, "n": 45}, "l3_iou": {"value": 0.5887, "n": 44},
             "l4_token_f1": {"value": 0.0, "n": 0}, "composite": {"value": 0.68, "n": 256}}
        ]});
        let settings = crate::eval::runs::RunSettings {
            dataset: PathBuf::from("ds"),
            manifest_checksum: "x".into(),
            model: crate::eval::predictor::ModelIdentity {
                kind: "cnn".into(),
                name: "m".into(),
                checksum: None,
                trained_on: None,
            },
            selection: Selection::default(),
            options: serde_json::json!({}),
        };
        let mut sum = Summary {
            heatscope: "0".into(),
            settings,
            complete: true,
            questions: 256,
            answered: 256,
            failed: 0,
            report: Some(report),
        };
        assert_eq!(overall_line(&sum).as_deref(), Some("L1 acc 0.667 · L3 IoU 0.589 · composite 0.680"));
        sum.report = None;
        assert_eq!(overall_line(&sum), None);
    }
}
