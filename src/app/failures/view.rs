//! The error analysis's window: the runs, summary (runs x levels) and per-level plot, A vs each
//! compared run, filters, confusion matrix, IoU histogram and reliability diagram, and the list of
//! questions with each run's answer. UI thread.

use egui::{Color32, RichText};

use super::super::runs::ShownRun;
use super::{
    Agreement, BINS, CONFIDENCE_BANDS, Command, FailureList, Filter, HeatscopeApp, LevelComparison, MATRIX_KINDS,
    Plotted, Row, RunRef, SampleSet, Sort, bin_of, letter, matrix_classes, show_scene,
};
use crate::types::{Level, QuestionKind, Split};

/// The list's window (View > Error analysis, E).
pub fn window(app: &mut HeatscopeApp, ctx: &egui::Context) {
    drop_foreign_runs(app);
    let run = app.runs.shown.as_ref().map(|r| (&r.dir, &r.lines));
    let others: Vec<RunRef> = app.runs.shown_compared().map(|r| (&r.dir, &r.lines)).collect();
    app.failures.refresh(app.samples.as_ref(), run, &others);
    if app.failures.scoring() {
        ctx.request_repaint_after(std::time::Duration::from_millis(50));
    }
    if !app.failures.open {
        return;
    }
    let mut open = true;
    let mut asked = Asked::default();
    let screen = ctx.content_rect();
    egui::Window::new("Error analysis")
        .open(&mut open)
        .max_height((screen.height() - 90.0).max(200.0))
        .default_size([820.0, (screen.height() - 110.0).clamp(400.0, 900.0)])
        .default_pos([290.0, 60.0])
        .show(ctx, |ui| asked = contents(app, ui));
    app.failures.open = open;
    if let Some(pos) = asked.row {
        let scene = app.failures.select(pos as isize);
        show_scene(app, scene);
    }
    if asked.compare {
        app.command(Command::CompareRunDialog);
    }
    if let Some(i) = asked.remove {
        app.runs.compared.remove(i);
    }
    if asked.stop_comparing {
        app.runs.compared.clear();
    }
    if asked.remove.is_some() || asked.stop_comparing || asked.toggled {
        // Run-relative filters name runs by position among those shown.
        (app.failures.filter.run, app.failures.filter.agreement) = (0, None);
    }
    if asked.export {
        super::export::export(app);
    }
    if asked.start {
        // The run shown so far is compared with the new one, which goes to its default folder
        // rather than into the shown run's (that would continue it).
        if let Some(old) = app.runs.shown.take() {
            if std::path::Path::new(app.runs.folder.trim()) == old.dir {
                app.runs.folder.clear();
            }
            if app.runs.compared.len() < super::MAX_COMPARED {
                app.runs.compared.insert(0, super::super::runs::Compared { run: old, show: true });
            }
        }
        app.command(Command::StartRun);
    }
}

/// What the window's contents asked for.
#[derive(Default)]
struct Asked {
    /// The position (in the filtered list) of a clicked row.
    row: Option<usize>,
    compare: bool,
    stop_comparing: bool,
    /// A compared run to remove (its index in `RunsState::compared`).
    remove: Option<usize>,
    /// A compared run was shown or hidden.
    toggled: bool,
    /// Start a run with the chosen model and split, A becoming a compared run.
    start: bool,
    export: bool,
}

/// Compared runs of a dataset other than the one browsed (another dataset was opened) are dropped,
/// and the user told so: their question ids mean nothing here.
fn drop_foreign_runs(app: &mut HeatscopeApp) {
    let Some(dir) = app.samples.as_ref().map(|s| s.dir.clone()) else { return };
    let before = app.runs.compared.len();
    app.runs.compared.retain(|c| c.run.dataset.as_ref() == Some(&dir));
    let dropped = before - app.runs.compared.len();
    if dropped > 0 {
        app.info(format!(
            "stopped comparing {dropped} run(s) of another dataset than the one now open ({})",
            dir.display()
        ));
    }
}

/// The letters of the runs the list shows, in its order: A, then each shown compared run's (a
/// compared run keeps its letter while others are hidden).
pub(super) fn shown_letters(app: &HeatscopeApp) -> Vec<char> {
    let compared = app.runs.compared.iter().enumerate().filter(|(_, c)| c.show).map(|(i, _)| letter(i + 1));
    std::iter::once('A').chain(compared).collect()
}

/// The window's contents.
fn contents(app: &mut HeatscopeApp, ui: &mut egui::Ui) -> Asked {
    let mut asked = Asked::default();
    let (Some(set), Some(run)) = (app.samples.as_ref(), app.runs.shown.as_ref()) else {
        ui.label(
            "Open a dataset and a run to list its answers: File > Open run…, or run a model from the sample browser.",
        );
        return asked;
    };
    let letters = shown_letters(app);
    egui::CollapsingHeader::new("Runs").default_open(true).show(ui, |ui| {
        runs_table(ui, run, &mut app.runs.compared, &mut asked);
        new_run(ui, &mut app.persisted.runs, app.runs.making.is_loading(), &mut asked);
    });
    let list = &mut app.failures;
    if list.scoring() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(format!("scoring the run's {} answers…", run.lines.len()));
        });
        return asked;
    }
    let right = list.tallies().right;
    ui.horizontal(|ui| {
        ui.label(format!(
            "{} of {} answered questions shown: {} right, {} wrong",
            list.shown_len(),
            list.answered(),
            right,
            list.shown_len() - right
        ));
        if list.export.is_loading() {
            ui.spinner();
        } else {
            asked.export = ui
                .button("Export")
                .on_hover_text(
                    "The listed questions (CSV), the runs' summaries (JSON, CSV) and every plot (SVG and PNG), into analysis/ in the run's folder",
                )
                .clicked();
        }
    });
    // The tables and plots scroll on their own, so the filters and the list below keep most of the window.
    let top = (ui.available_height() * 0.4).max(120.0);
    egui::ScrollArea::vertical().id_salt("analysis-top").max_height(top).show(ui, |ui| {
        egui::CollapsingHeader::new("Summary").default_open(false).show(ui, |ui| {
            match run.summary.as_ref().and_then(|s| s.report.as_ref()) {
                Some(report) => summary(ui, report),
                None => {
                    ui.label("The summary appears when the run is complete (continue it with Start run).");
                }
            }
            let runs = reports(run, &app.runs.compared);
            if runs.len() > 1 {
                ui.separator();
                summary_of_runs(ui, &runs);
            }
            if !runs.is_empty() {
                level_plot(ui, &runs);
            }
        });
        egui::CollapsingHeader::new("Cross-scenario").default_open(false).show(ui, |ui| {
            cross_scenario(ui, run, &app.runs.compared, &mut list.cross_metric);
        });
        for (k, levels) in list.tallies().levels.iter().enumerate() {
            let b = letters[k + 1];
            egui::CollapsingHeader::new(format!("A vs {b}"))
                .default_open(k == 0)
                .show(ui, |ui| comparison(ui, levels, b));
        }
        egui::CollapsingHeader::new("Confusion matrix").default_open(true).show(ui, |ui| matrix(ui, list));
        egui::CollapsingHeader::new("L3 IoU and L1 reliability").default_open(false).show(ui, |ui| plots(ui, list));
    });
    // The filters stay in sight above the list, whatever the sections above scroll to.
    ui.separator();
    filters(ui, &mut list.filter, set, &letters);
    narrowed(ui, list);

    let records = &set.records;
    let row_h = ui.text_style_height(&egui::TextStyle::Monospace) + 6.0;
    let selected = list.selected;
    let to_top = std::mem::take(&mut list.to_top);
    let (reveal, list_rect, list_offset) = (list.reveal.take(), list.list_rect, list.list_offset);
    let rows: Vec<&Row> = list.shown().collect();
    // A's columns, then each compared run's answer and verdict under its letter.
    let mut header = format!("{:<20} {:<20} {:<14} {:<14} {:<28}", "scene", "question", "truth", "answer", "verdict");
    for l in &letters[1..] {
        header += &format!(" | {l} {:<12} {:<24}", "answer", "verdict");
    }
    // The header follows the rows sideways (their scroll offset of the last frame), and neither
    // widens the window: both scroll inside it.
    let offset_id = egui::Id::unique("failures-list-offset");
    let x = ui.data(|d| d.get_temp::<f32>(offset_id)).unwrap_or(0.0);
    egui::ScrollArea::horizontal()
        .id_salt("list-header")
        .horizontal_scroll_offset(x)
        .scroll_bar_visibility(egui::scroll_area::ScrollBarVisibility::AlwaysHidden)
        .scroll_source(egui::scroll_area::ScrollSource::NONE)
        .show(ui, |ui| ui.add(egui::Label::new(RichText::new(header).monospace().strong()).extend()));
    let font = egui::TextStyle::Monospace.resolve(ui.style());
    let mut area = egui::ScrollArea::both().auto_shrink([false, false]);
    if to_top {
        area = area.vertical_scroll_offset(0.0);
    }
    // A row stepped to with Left / Right and out of sight comes into view, a few rows from the top.
    if let Some(pos) = reveal {
        let height = list_rect.map_or(0.0, |r| r.height());
        let y = pos as f32 * row_h;
        if y < list_offset || y + row_h > list_offset + height {
            area = area.vertical_scroll_offset((y - 3.0 * row_h).max(0.0));
        }
    }
    let shown = area.show_rows(ui, row_h, rows.len(), |ui, range| {
        for pos in range {
            let row = rows[pos];
            let r = &records[row.record];
            // Each run's part of the line in its own colour: green right, red wrong, grey silent.
            let mut job = egui::text::LayoutJob::default();
            let mut part = |text: String, right: Option<bool>| {
                let color = match right {
                    Some(true) => Color32::from_rgb(120, 200, 120),
                    Some(false) => Color32::from_rgb(235, 110, 100),
                    None => Color32::GRAY,
                };
                job.append(&text, 0.0, egui::TextFormat { font_id: font.clone(), color, ..Default::default() });
            };
            let conf = row.confidence.map_or_else(String::new, |c| format!(" (p {c:.2})"));
            let question = format!("{} {}", r.level.name(), r.kind.name());
            let verdict = format!("{}{conf}", cell(&row.verdict, 28 - conf.chars().count()));
            part(
                format!(
                    "{:<20} {question:<20} {:<14} {:<14} {verdict:<28}",
                    cell(&r.scene, 20),
                    cell(&r.answer, 14),
                    cell(&row.answer, 14)
                ),
                Some(row.correct),
            );
            for (o, l) in row.others.iter().zip(&letters[1..]) {
                match o {
                    Some(o) => part(
                        format!(" | {l} {:<12} {:<24}", cell(&o.answer, 12), cell(&o.verdict, 24)),
                        Some(o.correct),
                    ),
                    None => part(format!(" | {l} {:<12} {:<24}", "-", "not answered"), None),
                }
            }
            let label = egui::Button::selectable(selected == Some(pos), job).wrap_mode(egui::TextWrapMode::Extend);
            let mut hover = format!("{}\ntruth: {}\nanswer: {}", r.question, r.answer, row.answer);
            for (o, l) in row.others.iter().zip(&letters[1..]) {
                match o {
                    Some(o) => hover += &format!("\n{l}'s answer: {} ({})", o.answer, o.verdict),
                    None => hover += &format!("\n{l} did not answer"),
                }
            }
            if ui.add(label).on_hover_text(hover).clicked() {
                asked.row = Some(pos);
            }
        }
    });
    ui.data_mut(|d| d.insert_temp(offset_id, shown.state.clamped_offset().x));
    (list.list_rect, list.list_offset) = (Some(shown.inner_rect), shown.state.clamped_offset().y);
    asked
}

/// A and run `b` compared level by level: questions both answered, each one's right answers, those
/// only one got right, b's accuracy minus A's with its 95 % interval, and McNemar's exact p-value.
fn comparison(ui: &mut egui::Ui, levels: &[LevelComparison], b: char) {
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

/// `text` on one line of at most `n` characters: line breaks and other control characters become
/// spaces (a row of the list is one line high), the rest cut with an ellipsis.
pub(super) fn cell(text: &str, n: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    super::super::panels::clip(&flat, n)
}

/// One row per run: its letter, whether it is shown, its folder, model, dataset, questions asked,
/// answers and when it was written (the details on hover); compared runs can be hidden or removed.
fn runs_table(ui: &mut egui::Ui, a: &ShownRun, compared: &mut [super::super::runs::Compared], asked: &mut Asked) {
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
fn new_run(ui: &mut egui::Ui, s: &mut super::super::runs::RunSettings, running: bool, asked: &mut Asked) {
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
fn selection_of(sel: &crate::eval::runner::Selection) -> String {
    let split = sel.split.map_or("all splits", Split::name);
    let levels: Vec<&str> = sel.levels.iter().map(|l| l.name()).collect();
    let limit = sel.limit.map_or_else(String::new, |n| format!(", first {n}"));
    format!("{split}, {}{limit}", levels.join(" "))
}

/// How long ago a run was written, in hours or days.
fn age(written: std::time::SystemTime) -> String {
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

/// The cross-scenario matrices of the shown runs whose models were trained on one scenario: per
/// family, trained on x tested on, each off-diagonal cell with its drop from the row's diagonal.
fn cross_scenario(ui: &mut egui::Ui, a: &ShownRun, compared: &[super::super::runs::Compared], metric: &mut usize) {
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

/// What makes a run this run, for a tooltip: model, dataset, questions asked, options, answers,
/// whether it is complete, and when its summary was last written.
fn run_details(run: &ShownRun) -> String {
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

fn filters(ui: &mut egui::Ui, f: &mut Filter, set: &SampleSet, letters: &[char]) {
    let comparing = letters.len() > 1;
    ui.horizontal_wrapped(|ui| {
        combo(ui, "level", &mut f.level, Level::ALL.map(|l| (l, l.name().to_string())).into());
        combo(ui, "kind", &mut f.kind, QuestionKind::ALL.map(|k| (k, k.name().to_string())).into());
        combo(ui, "scenario", &mut f.scenario, set.scenarios().into_iter().map(|s| (s.clone(), s)).collect());
        combo(ui, "split", &mut f.split, Split::ALL.map(|s| (s, s.name().to_string())).into());
        let bands = CONFIDENCE_BANDS
            .iter()
            .enumerate()
            .map(|(i, (lo, hi))| {
                (i, if hi.is_finite() { format!("{lo:.1}-{hi:.1}") } else { format!("{lo:.1} and above") })
            })
            .collect();
        combo(ui, "confidence", &mut f.confidence, bands);
        ui.add(egui::TextEdit::singleline(&mut f.search).hint_text("scene id…").desired_width(120.0))
            .on_hover_text("Show only scenes whose id contains this");
    });
    ui.horizontal_wrapped(|ui| {
        ui.selectable_value(&mut f.correct, None, "right and wrong");
        ui.selectable_value(&mut f.correct, Some(false), "wrong only");
        ui.selectable_value(&mut f.correct, Some(true), "right only");
        if comparing {
            pick(ui, "of run", &mut f.run, letters.iter().enumerate().map(|(k, l)| (k, l.to_string())).collect())
                .on_hover_text(
                    "The run whose right / wrong answers, confidence and score the filters and the order read",
                );
        } else {
            f.run = 0;
        }
        pick(ui, "order", &mut f.sort, Sort::ALL.map(|s| (s, s.name().to_string())).into());
    });
    if comparing {
        ui.horizontal_wrapped(|ui| {
            let all = if letters.len() == 2 { "A and B".to_string() } else { "all runs".to_string() };
            ui.selectable_value(&mut f.agreement, None, all);
            ui.selectable_value(&mut f.agreement, Some(Agreement::Disagree), "runs disagree")
                .on_hover_text("Questions at least two runs answered, some right and some wrong");
            for (k, l) in letters.iter().enumerate() {
                ui.selectable_value(&mut f.agreement, Some(Agreement::Only(k)), format!("only {l} right"))
                    .on_hover_text(format!("Questions every run answered, {l} right and all the others wrong"));
            }
        });
    } else {
        f.agreement = None;
    }
}

/// The headline metrics per group (overall, then each scenario) with their 95 % bootstrap
/// intervals, as the run's report holds them (`eval --json`'s schema); the best scenario per column bold.
fn summary(ui: &mut egui::Ui, report: &serde_json::Value) {
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    egui::ScrollArea::horizontal().show(ui, |ui| {
        egui::Grid::new("summary").striped(true).spacing([10.0, 2.0]).show(ui, |ui| {
            ui.label("");
            for (_, name) in COLUMNS {
                ui.label(RichText::new(name).strong());
            }
            ui.end_row();
            for g in &groups {
                ui.label(g["name"].as_str().unwrap_or("?"));
                for (key, _) in COLUMNS {
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

/// The summary's columns: the report's key and the heading.
const COLUMNS: [(&str, &str); 8] = [
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
fn metric(g: &serde_json::Value, key: &str) -> Option<(f64, f64, f64)> {
    let m = &g[key];
    (m["n"].as_u64().unwrap_or(0) > 0)
        .then(|| (m["value"].as_f64().unwrap_or(0.0), m["lo"].as_f64().unwrap_or(0.0), m["hi"].as_f64().unwrap_or(0.0)))
}

/// Runs x levels: each group (overall, then the scenarios) with one line per run, the best run per
/// group and column in bold (ties too); intervals on hover.
fn summary_of_runs(ui: &mut egui::Ui, runs: &[(char, &serde_json::Value)]) {
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
    ui.label(RichText::new("runs side by side (bold: the best run of the group)").weak());
    egui::ScrollArea::horizontal().id_salt("runs-summary").show(ui, |ui| {
        egui::Grid::new("runs-summary").striped(true).spacing([10.0, 2.0]).show(ui, |ui| {
            ui.label("");
            ui.label("");
            for (_, name) in COLUMNS {
                ui.label(RichText::new(name).strong());
            }
            ui.end_row();
            for name in &names {
                let rows: Vec<(char, Option<serde_json::Value>)> =
                    runs.iter().map(|(l, r)| (*l, group(r, name))).collect();
                for (i, (l, g)) in rows.iter().enumerate() {
                    ui.label(if i == 0 { name.as_str() } else { "" });
                    ui.label(RichText::new(l.to_string()).strong());
                    for (key, _) in COLUMNS {
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
/// (the SpectrumQA paper's Figure 1): L1 accuracy, L2 accuracy, L3 IoU, L4 concept F1.
fn level_plot(ui: &mut egui::Ui, runs: &[(char, &serde_json::Value)]) {
    use super::figures::{LEVELS, level_scores};
    use egui_plot::{Bar, BarChart, Legend, Line, PlotPoints};
    let width = 0.8 / runs.len() as f64;
    still_plot("levels", 170.0)
        .include_y(0.0)
        .include_y(1.0)
        .legend(Legend::default())
        .x_grid_spacer(|_| (0..LEVELS.len()).map(|i| egui_plot::GridMark { value: i as f64, step_size: 1.0 }).collect())
        .x_axis_formatter(|mark, _| {
            LEVELS.get(mark.value.round() as usize).map_or_else(String::new, |l| l.1.to_string())
        })
        .show(ui, |p| {
            for (k, (name, report)) in runs.iter().enumerate() {
                let mut bars = Vec::new();
                for (i, score) in level_scores(report).into_iter().enumerate() {
                    let Some((v, lo, hi)) = score else { continue };
                    let x = i as f64 - 0.4 + width * (k as f64 + 0.5);
                    let label = LEVELS[i].1;
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
fn run_colour(k: usize) -> Color32 {
    let [r, g, b] = super::figures::RUN_RGB[k % super::figures::RUN_RGB.len()];
    Color32::from_rgb(r, g, b)
}

/// The confusion matrix of one closed kind: rows are the true class, columns the answered class
/// (and "unparsed"); a cell's shade is its share of the row, green on the diagonal. Clicking a cell
/// lists its questions; clicking it again clears that.
fn matrix(ui: &mut egui::Ui, list: &mut FailureList) {
    let kind = list.matrix_kind.unwrap_or(QuestionKind::Severity);
    ui.horizontal(|ui| {
        for k in MATRIX_KINDS {
            if ui.selectable_label(kind == k, k.name()).clicked() {
                list.matrix_kind = Some(k);
            }
        }
    });
    let classes = matrix_classes(kind);
    let counts = list.tallies().confusion.iter().find(|(k, _)| *k == kind).map(|(_, m)| m.clone()).unwrap_or_default();
    let mut chosen = None;
    egui::Grid::new("confusion").spacing([4.0, 2.0]).show(ui, |ui| {
        ui.label(RichText::new("truth \\ answer").weak());
        for c in classes.iter().chain(&["unparsed"]) {
            ui.add_sized([48.0, 18.0], egui::Label::new(*c));
        }
        ui.end_row();
        for (t, row) in counts.iter().enumerate() {
            ui.label(classes[t]);
            let total: usize = row.iter().sum();
            for (g, &count) in row.iter().enumerate() {
                let guess = (g < classes.len()).then_some(g);
                let share = if total > 0 { count as f32 / total as f32 } else { 0.0 };
                let hue =
                    if guess == Some(t) { Color32::from_rgb(60, 150, 80) } else { Color32::from_rgb(170, 60, 60) };
                let fill = if count == 0 { Color32::TRANSPARENT } else { hue.gamma_multiply(0.25 + 0.75 * share) };
                let selected = list.filter.cell == Some((kind, t, guess));
                let answered = guess.map_or("unparsed", |g| classes[g]);
                let what = format!("truth {}, answer {answered}: {count}", classes[t]);
                let response = ui
                    .add(
                        egui::Button::new(count.to_string())
                            .fill(fill)
                            .selected(selected)
                            .min_size(egui::vec2(48.0, 0.0)),
                    )
                    .on_hover_text(format!("{what} ({:.0} % of {}); click to list them", 100.0 * share, classes[t]));
                response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &what));
                if response.clicked() {
                    chosen = Some(if selected { None } else { Some((kind, t, guess)) });
                }
            }
            ui.end_row();
        }
    });
    if let Some(cell) = chosen {
        list.filter.cell = cell;
        if cell.is_some() {
            // The cell decides right or wrong and the kind; other choices would hide it.
            (list.filter.correct, list.filter.kind, list.filter.level) = (None, None, None);
        }
    }
}

/// The narrowing chosen in the matrix or the plots, with a button to undo it: kept in sight above
/// the list, whatever the sections above scroll to.
fn narrowed(ui: &mut egui::Ui, list: &mut FailureList) {
    if let Some((k, t, g)) = list.filter.cell {
        let classes = matrix_classes(k);
        let answered = g.map_or("unparsed", |g| classes[g]);
        ui.horizontal(|ui| {
            ui.label(format!("listing {} questions with truth {} answered {answered}", k.name(), classes[t]));
            if ui.button("show all").clicked() {
                list.filter.cell = None;
            }
        });
    }
    if let Some((plot, b)) = list.filter.bin {
        let what = match plot {
            Plotted::Iou => "L3 answers with an IoU of",
            Plotted::Confidence => "L1 answers with a confidence of",
        };
        ui.horizontal(|ui| {
            ui.label(format!("listing {what} {:.1}-{:.1}", b as f64 / 10.0, (b + 1) as f64 / 10.0));
            if ui.button("show all answers").clicked() {
                list.filter.bin = None;
            }
        });
    }
}

/// The L3 IoU histogram and the L1 reliability diagram side by side; clicking a bar lists its
/// questions, clicking it again (or "show all") lists all.
fn plots(ui: &mut egui::Ui, list: &mut FailureList) {
    use egui_plot::Bar;
    let (iou, reliability) = (list.tallies().iou, list.tallies().reliability);
    let mut chosen = None;
    let colour = |plot: Plotted, b: usize| {
        if list.filter.bin == Some((plot, b)) { Color32::from_rgb(250, 200, 80) } else { Color32::from_gray(150) }
    };
    let tenth = |b: usize| format!("{:.1}-{:.1}", b as f64 / 10.0, (b + 1) as f64 / 10.0);
    ui.columns(2, |cols| {
        let bars = (0..BINS)
            .map(|b| {
                Bar::new(0.0, iou[b] as f64).fill(colour(Plotted::Iou, b)).name(format!("IoU {}: {}", tenth(b), iou[b]))
            })
            .collect();
        let axes = ("L3 IoU (answers with a box)", "questions");
        if let Some(b) = tenths_plot(&mut cols[0], "iou-histogram", axes, bars, false) {
            chosen = Some((Plotted::Iou, b));
        }
        let bars = (0..BINS)
            .map(|b| {
                let (n, right) = reliability[b];
                let acc = if n > 0 { right as f64 / n as f64 } else { 0.0 };
                let name = format!("confidence {}: {right} of {n} right", tenth(b));
                Bar::new(0.0, acc).fill(colour(Plotted::Confidence, b)).name(name)
            })
            .collect();
        if let Some(b) = tenths_plot(&mut cols[1], "reliability", ("L1 confidence", "share right"), bars, true) {
            chosen = Some((Plotted::Confidence, b));
        }
    });
    if let Some(bin) = chosen {
        list.filter.bin = if list.filter.bin == Some(bin) { None } else { Some(bin) };
    }
    if list.filter.bin.is_none() {
        ui.label(RichText::new("click a bar to list its questions").weak());
    }
}

/// A still bar plot over the tenths of 0..1 (`bars` in order, placed here), with the diagonal of a
/// calibrated model when `diagonal`; the tenth clicked, if any.
fn tenths_plot(
    ui: &mut egui::Ui,
    id: &str,
    (x_label, y_label): (&str, &str),
    bars: Vec<egui_plot::Bar>,
    diagonal: bool,
) -> Option<usize> {
    use egui_plot::{BarChart, Line, PlotPoints};
    let bars = bars
        .into_iter()
        .enumerate()
        .map(|(b, bar)| egui_plot::Bar { argument: (b as f64 + 0.5) / BINS as f64, ..bar }.width(0.9 / BINS as f64))
        .collect();
    let plot = still_plot(id, 150.0)
        .x_axis_label(x_label)
        .y_axis_label(y_label)
        .include_x(0.0)
        .include_x(1.0)
        .include_y(if diagonal { 1.0 } else { 0.0 })
        .show(ui, |p| {
            p.bar_chart(BarChart::new(y_label, bars));
            if diagonal {
                let line = PlotPoints::from(vec![[0.0, 0.0], [1.0, 1.0]]);
                p.line(Line::new("calibrated", line).color(Color32::from_rgb(80, 160, 255)));
            }
        });
    let pos = plot.response.clicked().then(|| plot.response.interact_pointer_pos()).flatten()?;
    let x = plot.transform.value_from_position(pos).x;
    (0.0..=1.0).contains(&x).then(|| bin_of(x))
}

/// A plot that does not pan or zoom (its bars are clicked instead).
fn still_plot(id: &str, height: f32) -> egui_plot::Plot<'static> {
    egui_plot::Plot::new(id)
        .height(height)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
}

/// A labelled drop-down choosing `value` among `options` (value, text).
fn pick<T: PartialEq + Clone>(
    ui: &mut egui::Ui,
    name: &str,
    value: &mut T,
    options: Vec<(T, String)>,
) -> egui::Response {
    let label = ui.label(name);
    let current = options.iter().find(|(v, _)| v == value).map_or_else(String::new, |(_, t)| t.clone());
    egui::ComboBox::from_id_salt(("failures", name))
        .selected_text(current)
        .show_ui(ui, |ui| {
            for (v, text) in options {
                ui.selectable_value(value, v, text);
            }
        })
        .response
        .labelled_by(label.id)
}

/// A labelled drop-down choosing `value` among "all" (None) and `options` (value, text).
fn combo<T: PartialEq + Clone>(ui: &mut egui::Ui, name: &str, value: &mut Option<T>, options: Vec<(T, String)>) {
    let label = ui.label(name);
    let current = options.iter().find(|(v, _)| Some(v) == value.as_ref()).map_or("all", |(_, t)| t.as_str());
    egui::ComboBox::from_id_salt(("failures", name))
        .selected_text(current.to_string())
        .show_ui(ui, |ui| {
            ui.selectable_value(value, None, "all");
            for (v, text) in options {
                ui.selectable_value(value, Some(v), text);
            }
        })
        .response
        .labelled_by(label.id);
}
