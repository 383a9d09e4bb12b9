//! The error analysis's window: the runs, summary (runs x levels) and per-level plot, A vs each
//! compared run, filters, confusion matrix, IoU histogram and reliability diagram, and the list of
//! questions with each run's answer. UI thread.

use egui::{Color32, RichText};

use super::runs_view::{new_run, reports, runs_table};
use super::tables::{comparison, cross_scenario, level_plot, still_plot, summary, summary_of_runs};
use super::{
    Agreement, BINS, CONFIDENCE_BANDS, Command, FailureList, Filter, HeatscopeApp, Plotted, Row, RunRef, SampleSet,
    Sort, bin_of, letter, matrix_classes, show_scene,
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
pub(super) struct Asked {
    /// The position (in the filtered list) of a clicked row.
    pub(super) row: Option<usize>,
    pub(super) compare: bool,
    pub(super) stop_comparing: bool,
    /// A compared run to remove (its index in `RunsState::compared`).
    pub(super) remove: Option<usize>,
    /// A compared run was shown or hidden.
    pub(super) toggled: bool,
    /// Start a run with the chosen model and split, A becoming a compared run.
    pub(super) start: bool,
    pub(super) export: bool,
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

/// `text` on one line of at most `n` characters: line breaks and other control characters become
/// spaces (a row of the list is one line high), the rest cut with an ellipsis.
pub(super) fn cell(text: &str, n: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    super::super::panels::clip(&flat, n)
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
        // What run A's model said of each input before answering (its answers are scored anyway).
        combo(ui, "domain", &mut f.domain, vec![(false, "in domain".into()), (true, "out of domain".into())]);
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

/// The confusion matrix of one closed kind: rows are the true class, columns the answered class
/// (and "unparsed"); a cell's shade is its share of the row, green on the diagonal. Clicking a cell
/// lists its questions; clicking it again clears that.
fn matrix(ui: &mut egui::Ui, list: &mut FailureList) {
    // The run's closed kinds (SpectrumQA's or the RadioQA tasks); the chosen one while the run has it.
    let kinds: Vec<QuestionKind> = list.tallies().confusion.iter().map(|(k, _)| *k).collect();
    let Some(&first) = kinds.first() else {
        ui.label(RichText::new("no closed question (a class to choose) in this run").weak());
        return;
    };
    let kind = list.matrix_kind.filter(|k| kinds.contains(k)).unwrap_or(first);
    ui.horizontal_wrapped(|ui| {
        for k in kinds {
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

/// A labelled drop-down choosing `value` among `options` (value, text).
pub(super) fn pick<T: PartialEq + Clone>(
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
