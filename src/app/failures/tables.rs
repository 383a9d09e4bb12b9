//! The error analysis's tables and per-level plot: the summary (one run's groups, runs side by side),
//! A vs each compared run, the cross-scenario matrices, Figure 1. UI thread.

use egui::{Color32, RichText};

use super::super::runs::ShownRun;
use super::{LevelComparison, letter};

/// A and run `b` compared level by level: questions both answered, each one's right answers, those
/// only one got right, b's accuracy minus A's with its 95 % interval, and McNemar's exact p-value.
pub(super) fn comparison(ui: &mut egui::Ui, levels: &[LevelComparison], b: char) {
    if levels.is_empty() {
        ui.label(format!("A and {b} answered no question in common (within the filters)."));
        return;
    }
    egui::Grid::new(("a-vs", b)).striped(true).spacing([12.0, 2.0]).show(ui, |ui| {
        let heads =
            ["level", "both answered", "A right", &format!("{b} right"), "only A", &format!("only {b}"), &format!("{b} - A (95 %)"), "McNemar p"];
        for h in heads {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for l in levels {
            let pct = |k: usize| format!("{k} ({:.1} %)", 100.0 * k as f64 / l.both as f64);
            let (d, lo, hi) = l.delta;
            ui.label(l.level.name());
            ui.label(l.both.to_string());
            ui.label(pct(l.a_right));
            ui.label(pct(l.b_right));
            ui.label(l.only_a.to_string());
            ui.label(l.only_b.to_string());
            ui.label(format!("{:+.1} [{:+.1}, {:+.1}] pt", 100.0 * d, 100.0 * lo, 100.0 * hi));
            let p = RichText::new(format!("{:.3}", l.p));
            ui.label(if l.p < 0.05 { p.strong() } else { p }).on_hover_text(
                "the chance of a split at least this uneven between the questions only one of them got right, if the two were equally good",
            );
            ui.end_row();
        }
    });
}

/// The cross-scenario matrices of the shown runs whose models were trained on one scenario: per
/// family, trained on x tested on, each off-diagonal cell with its drop from the row's diagonal.
pub(super) fn cross_scenario(
    ui: &mut egui::Ui,
    a: &ShownRun,
    compared: &[super::super::runs::Compared],
    metric: &mut usize,
) {
    use super::cross::{METRICS, matrices, vlm_drops_less};
    use crate::sim::Scenario;
    let identity = |r: &ShownRun| r.summary.as_ref().map(|s| s.settings.model.clone());
    let shown = compared.iter().enumerate().filter(|(_, c)| c.show).map(|(i, c)| (letter(i + 1), &c.run));
    let owned: Vec<(char, crate::eval::predictor::ModelIdentity, &serde_json::Value)> = std::iter::once(('A', a))
        .chain(shown)
        .filter_map(|(l, r)| Some((l, identity(r)?, r.summary.as_ref()?.report.as_ref()?)))
        .collect();
    let runs: Vec<(char, &crate::eval::predictor::ModelIdentity, &serde_json::Value)> =
        owned.iter().map(|(l, m, r)| (*l, m, *r)).collect();
    ui.horizontal(|ui| {
        for (i, (_, name)) in METRICS.iter().enumerate() {
            ui.selectable_value(metric, i, *name);
        }
    });
    let found = matrices(&runs, METRICS[(*metric).min(METRICS.len() - 1)].0);
    if found.is_empty() {
        ui.label(
            "Open runs (over every scenario's test questions) of models trained on one scenario each              (heatscope train cnn --scenario NAME, train vlm --scenario NAME): each fills its row of its family's              3 x 3 matrix here.",
        );
        return;
    }
    ui.columns(found.len(), |cols| {
        for (m, ui) in found.iter().zip(cols.iter_mut()) {
            ui.label(RichText::new(format!("{}: trained on (rows) x tested on", m.family.to_uppercase())).strong());
            egui::Grid::new(("cross", m.family)).striped(true).spacing([8.0, 2.0]).show(ui, |ui| {
                ui.label(RichText::new("trained \\ tested").weak());
                for s in Scenario::ALL {
                    ui.label(RichText::new(s.name()).strong());
                }
                ui.end_row();
                for (i, s) in Scenario::ALL.iter().enumerate() {
                    let from = m.runs[i].map_or_else(String::new, |l| format!(" ({l})"));
                    ui.label(format!("{}{from}", s.name()));
                    for j in 0..3 {
                        match (m.cells[i][j], m.drop(i, j)) {
                            (Some(v), Some(d)) if i != j => {
                                let text = RichText::new(format!("{v:.3} ({d:+.3})")).monospace();
                                ui.label(if d < 0.0 { text.color(Color32::from_rgb(235, 110, 100)) } else { text })
                                    .on_hover_text("the value, and its change from the row's own scenario");
                            }
                            (Some(v), _) => {
                                ui.label(RichText::new(format!("{v:.3}")).monospace().strong());
                            }
                            _ => {
                                ui.label(RichText::new("-").weak());
                            }
                        }
                    }
                    ui.end_row();
                }
            });
        }
    });
    if let [cnn, vlm] = found.as_slice() {
        let (fewer, compared) = vlm_drops_less(cnn, vlm);
        if compared > 0 {
            ui.label(format!(
                "The VLM drops less than the CNN in {fewer} of {compared} directions (the paper: 5 of 6)."
            ));
        }
    }
}

/// The headline metrics per group (overall, then each scenario) with their 95 % bootstrap
/// intervals, as the run's report holds them (`eval --json`'s schema); the best scenario per column bold.
pub(super) fn summary(ui: &mut egui::Ui, report: &serde_json::Value) {
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    let columns = columns(&[report]);
    egui::ScrollArea::horizontal().show(ui, |ui| {
        egui::Grid::new("summary").striped(true).spacing([10.0, 2.0]).show(ui, |ui| {
            ui.label("");
            for (_, name) in &columns {
                ui.label(RichText::new(name).strong());
            }
            ui.end_row();
            for g in &groups {
                ui.label(g["name"].as_str().unwrap_or("?"));
                for (key, _) in &columns {
                    // The best scenario per column (overall is not a rival of its parts).
                    let scenarios = groups.iter().filter(|o| o["name"] != "overall");
                    let best = scenarios.filter_map(|o| metric(o, key)).map(|m| m.0).fold(f64::MIN, f64::max);
                    match metric(g, key) {
                        Some((v, lo, hi)) => {
                            let text = RichText::new(format!("{v:.3}")).monospace();
                            let rival = g["name"] != "overall" && groups.len() > 2;
                            let text = if rival && v >= best { text.strong() } else { text };
                            ui.label(text).on_hover_text(format!("95 % interval {lo:.3} to {hi:.3}"));
                        }
                        None => {
                            ui.label(RichText::new("-").weak()).on_hover_text("no questions of this level");
                        }
                    }
                }
                ui.end_row();
            }
        });
    });
    ui.label(
        RichText::new(format!(
            "hover a number for its 95 % bootstrap interval (over scenes, {} resamples)",
            report["bootstrap"].as_u64().unwrap_or(0)
        ))
        .weak(),
    );
}

/// The summary's columns for `reports`: the SpectrumQA headline metrics of [`COLUMNS`] and, per
/// RadioQA task, its accuracy and weighted F1, those some report has questions of (all of
/// [`COLUMNS`] when none has any).
pub(super) fn columns(reports: &[&serde_json::Value]) -> Vec<(String, String)> {
    let spectrum = || COLUMNS.iter().map(|(k, h)| ((*k).to_string(), (*h).to_string())).collect::<Vec<_>>();
    let radio = crate::types::QuestionKind::RADIO.into_iter().flat_map(|k| {
        let task = k.name();
        [(task.to_string(), format!("{task} acc")), (format!("{task}_weighted_f1"), format!("{task} wF1"))]
    });
    super::figures::with_questions(spectrum().into_iter().chain(radio).collect(), reports, spectrum)
}

/// The SpectrumQA summary columns: the report's key and the heading.
pub(super) const COLUMNS: [(&str, &str); 8] = [
    ("l1", "L1 acc"),
    ("l1_macro_f1", "L1 macro-F1"),
    ("l2", "L2 acc"),
    ("l3_iou", "L3 IoU"),
    ("l3_none_acc", "L3 none acc"),
    ("l4_token_f1", "L4 token F1"),
    ("l4_concept_f1", "L4 concept F1"),
    ("composite", "composite"),
];

/// A group's metric `key` in a report: value and 95 % interval, None when no question counted.
pub(super) fn metric(g: &serde_json::Value, key: &str) -> Option<(f64, f64, f64)> {
    let m = &g[key];
    (m["n"].as_u64().unwrap_or(0) > 0)
        .then(|| (m["value"].as_f64().unwrap_or(0.0), m["lo"].as_f64().unwrap_or(0.0), m["hi"].as_f64().unwrap_or(0.0)))
}

/// Runs x levels: each group (overall, then the scenarios) with one line per run, the best run per
/// group and column in bold (ties too); intervals on hover.
pub(super) fn summary_of_runs(ui: &mut egui::Ui, runs: &[(char, &serde_json::Value)]) {
    let groups_of = |r: &serde_json::Value| r["groups"].as_array().cloned().unwrap_or_default();
    let mut names: Vec<String> = Vec::new();
    for (_, r) in runs {
        for g in groups_of(r) {
            let name = g["name"].as_str().unwrap_or("?").to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let group = |r: &serde_json::Value, name: &str| groups_of(r).into_iter().find(|g| g["name"] == name);
    let columns = columns(&runs.iter().map(|(_, r)| *r).collect::<Vec<_>>());
    ui.label(RichText::new("runs side by side (bold: the best run of the group)").weak());
    egui::ScrollArea::horizontal().id_salt("runs-summary").show(ui, |ui| {
        egui::Grid::new("runs-summary").striped(true).spacing([10.0, 2.0]).show(ui, |ui| {
            ui.label("");
            ui.label("");
            for (_, name) in &columns {
                ui.label(RichText::new(name).strong());
            }
            ui.end_row();
            for name in &names {
                let rows: Vec<(char, Option<serde_json::Value>)> =
                    runs.iter().map(|(l, r)| (*l, group(r, name))).collect();
                for (i, (l, g)) in rows.iter().enumerate() {
                    ui.label(if i == 0 { name.as_str() } else { "" });
                    ui.label(RichText::new(l.to_string()).strong());
                    for (key, _) in &columns {
                        let best = rows
                            .iter()
                            .filter_map(|(_, g)| g.as_ref().and_then(|g| metric(g, key)))
                            .map(|m| m.0)
                            .fold(f64::MIN, f64::max);
                        match g.as_ref().and_then(|g| metric(g, key)) {
                            Some((v, lo, hi)) => {
                                let text = RichText::new(format!("{v:.3}")).monospace();
                                let text = if v >= best { text.strong() } else { text };
                                ui.label(text).on_hover_text(format!("{l}: 95 % interval {lo:.3} to {hi:.3}"));
                            }
                            None => {
                                ui.label(RichText::new("-").weak());
                            }
                        }
                    }
                    ui.end_row();
                }
            }
        });
    });
}

/// Each run's headline score per level, overall, as bars with their 95 % intervals as error bars
/// (the SpectrumQA paper's Figure 1): L1 accuracy, L2 accuracy, L3 IoU, L4 concept F1; for RadioQA
/// runs each task's accuracy.
pub(super) fn level_plot(ui: &mut egui::Ui, runs: &[(char, &serde_json::Value)]) {
    use super::figures::{level_scores, plot_metrics};
    use egui_plot::{Bar, BarChart, Legend, Line, PlotPoints};
    let width = 0.8 / runs.len() as f64;
    let metrics = plot_metrics(&runs.iter().map(|(_, r)| *r).collect::<Vec<_>>());
    let labels: Vec<String> = metrics.iter().map(|m| m.1.clone()).collect();
    let count = metrics.len();
    still_plot("levels", 170.0)
        .include_y(0.0)
        .include_y(1.0)
        .legend(Legend::default())
        .x_grid_spacer(move |_| (0..count).map(|i| egui_plot::GridMark { value: i as f64, step_size: 1.0 }).collect())
        .x_axis_formatter(move |mark, _| labels.get(mark.value.round() as usize).cloned().unwrap_or_default())
        .show(ui, |p| {
            for (k, (name, report)) in runs.iter().enumerate() {
                let mut bars = Vec::new();
                for (i, score) in level_scores(report, &metrics).into_iter().enumerate() {
                    let Some((v, lo, hi)) = score else { continue };
                    let x = i as f64 - 0.4 + width * (k as f64 + 0.5);
                    let label = &metrics[i].1;
                    bars.push(
                        Bar::new(x, v).width(width * 0.9).name(format!("{name} {label}: {v:.3} [{lo:.3}, {hi:.3}]")),
                    );
                    let whisker = PlotPoints::from(vec![[x, lo], [x, hi]]);
                    p.line(Line::new("95 % intervals", whisker).color(Color32::WHITE).width(1.5));
                }
                p.bar_chart(BarChart::new(format!("run {name}"), bars).color(run_colour(k)));
            }
        });
}

/// One colour per run in the plots (A, B, …).
pub(super) fn run_colour(k: usize) -> Color32 {
    let [r, g, b] = super::figures::RUN_RGB[k % super::figures::RUN_RGB.len()];
    Color32::from_rgb(r, g, b)
}

/// A plot that does not pan or zoom (its bars are clicked instead).
pub(super) fn still_plot(id: &str, height: f32) -> egui_plot::Plot<'static> {
    egui_plot::Plot::new(id)
        .height(height)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
}
