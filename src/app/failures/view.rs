//! The error analysis's window: runs, summary and per-level plot, A vs B, filters, confusion matrix,
//! IoU histogram and reliability diagram, and the list of questions. UI thread.

use egui::{Color32, RichText};

use super::super::runs::ShownRun;
use super::{
    Agreement, BINS, Command, FailureList, Filter, HeatscopeApp, LevelComparison, MATRIX_KINDS, Plotted, Row,
    SampleSet, bin_of, matrix_classes, show_scene,
};
use crate::types::{Level, QuestionKind, Split};

/// The list's window (View > Error analysis, E).
pub fn window(app: &mut HeatscopeApp, ctx: &egui::Context) {
    let run = app.runs.shown.as_ref().map(|r| (&r.dir, &r.lines));
    let other = app.runs.compare.as_ref().map(|r| (&r.dir, &r.lines));
    app.failures.refresh(app.samples.as_ref(), run, other);
    if !app.failures.open {
        return;
    }
    let mut open = true;
    let mut asked = Asked::default();
    let screen = ctx.content_rect();
    egui::Window::new("Error analysis")
        .open(&mut open)
        .max_height((screen.height() - 90.0).max(200.0))
        .default_size([820.0, 620.0])
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
    if asked.stop_comparing {
        app.runs.compare = None;
    }
    if asked.export {
        super::export::export(app);
    }
}

/// What the window's contents asked for.
#[derive(Default)]
struct Asked {
    /// The position (in the filtered list) of a clicked row.
    row: Option<usize>,
    compare: bool,
    stop_comparing: bool,
    export: bool,
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
    let model = model_of(run);
    ui.label(RichText::new(format!("A: run {} ({model})", run.dir.display())).weak()).on_hover_ui(|ui| {
        ui.label(run_details(run));
    });
    ui.horizontal(|ui| match &app.runs.compare {
        Some(b) => {
            ui.label(RichText::new(format!("B: run {} ({})", b.dir.display(), model_of(b))).weak())
                .on_hover_ui(|ui| {
                    ui.label(run_details(b));
                });
            asked.stop_comparing = ui.button("stop comparing").clicked();
        }
        None => {
            asked.compare = ui
                .button("Compare with a run…")
                .on_hover_text("Another run of this dataset (another model, or another checkpoint): A vs B per level, and the questions where they differ")
                .clicked();
        }
    });
    let list = &mut app.failures;
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
                    "The listed questions (CSV) and the run's summary (JSON, CSV), into analysis/ in the run's folder",
                )
                .clicked();
        }
    });
    let comparing = list.comparing();
    // The tables and plots scroll on their own, so the list below keeps at least half the window.
    let top = (ui.available_height() * 0.5).max(120.0);
    egui::ScrollArea::vertical().id_salt("analysis-top").max_height(top).show(ui, |ui| {
        egui::CollapsingHeader::new("Summary").default_open(false).show(ui, |ui| {
            match run.summary.as_ref().and_then(|s| s.report.as_ref()) {
                Some(report) => summary(ui, report),
                None => {
                    ui.label("The summary appears when the run is complete (continue it with Start run).");
                }
            }
            let b = app.runs.compare.as_ref().and_then(|r| r.summary.as_ref()).and_then(|s| s.report.as_ref());
            let a = run.summary.as_ref().and_then(|s| s.report.as_ref());
            let runs: Vec<(&str, &serde_json::Value)> =
                [("A", a), ("B", b)].into_iter().filter_map(|(n, r)| r.map(|r| (n, r))).collect();
            if !runs.is_empty() {
                level_plot(ui, &runs);
            }
        });
        if list.comparing() {
            egui::CollapsingHeader::new("A vs B")
                .default_open(true)
                .show(ui, |ui| comparison(ui, &list.tallies().levels));
        }
        filters(ui, &mut list.filter, set, comparing);
        egui::CollapsingHeader::new("Confusion matrix").default_open(true).show(ui, |ui| matrix(ui, list));
        egui::CollapsingHeader::new("L3 IoU and L1 reliability").default_open(false).show(ui, |ui| plots(ui, list));
    });
    ui.separator();

    let records = &set.records;
    let row_h = ui.text_style_height(&egui::TextStyle::Monospace) + 6.0;
    let selected = list.selected;
    let rows: Vec<&Row> = list.shown().collect();
    let columns = |scene: &str, question: &str, truth: &str, answer: &str, verdict: &str, b: Option<(&str, &str)>| {
        let b = b.map_or_else(String::new, |(answer, verdict)| format!(" | B {answer:<12} {verdict}"));
        format!("{scene:<20} {question:<20} {truth:<14} {answer:<14} {verdict:<16}{b}")
    };
    let header_b = comparing.then_some(("answer", "verdict"));
    let header = columns("scene", "question", "truth", "answer", "verdict", header_b);
    ui.add(egui::Label::new(RichText::new(header).monospace().strong()).extend());
    egui::ScrollArea::both().auto_shrink([false, false]).show_rows(ui, row_h, rows.len(), |ui, range| {
        for pos in range {
            let row = rows[pos];
            let r = &records[row.record];
            let colour = if row.correct { Color32::from_rgb(120, 200, 120) } else { Color32::from_rgb(235, 110, 100) };
            let conf = row.confidence.map_or_else(String::new, |c| format!(" (p {c:.2})"));
            let b = row.other.as_ref().map(|o| (cell(&o.answer, 12), cell(&o.verdict, 40)));
            let missing = comparing && b.is_none();
            let text = columns(
                &cell(&r.scene, 20),
                &format!("{} {}", r.level.name(), r.kind.name()),
                &cell(&r.answer, 14),
                &cell(&row.answer, 14),
                &format!("{}{conf}", cell(&row.verdict, 60)),
                if missing { Some(("-", "not answered")) } else { b.as_ref().map(|(a, v)| (a.as_str(), v.as_str())) },
            );
            let label = egui::Button::selectable(selected == Some(pos), RichText::new(text).monospace().color(colour))
                .wrap_mode(egui::TextWrapMode::Extend);
            let mut hover = format!("{}\ntruth: {}\nanswer: {}", r.question, r.answer, row.answer);
            if let Some(o) = &row.other {
                hover += &format!("\nB's answer: {} ({})", o.answer, o.verdict);
            }
            if ui.add(label).on_hover_text(hover).clicked() {
                asked.row = Some(pos);
            }
        }
    });
    asked
}

/// The runs compared level by level: questions both answered, each one's right answers, those only
/// one got right, B's accuracy minus A's with its 95 % interval, and McNemar's exact p-value.
fn comparison(ui: &mut egui::Ui, levels: &[LevelComparison]) {
    if levels.is_empty() {
        ui.label("The two runs answered no question in common (within the filters).");
        return;
    }
    egui::Grid::new("a-vs-b").striped(true).spacing([12.0, 2.0]).show(ui, |ui| {
        for h in ["level", "both answered", "A right", "B right", "only A", "only B", "B - A (95 %)", "McNemar p"] {
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
                "the chance of a split at least this uneven between only-A and only-B if the two were equally good",
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

/// What makes a run this run, for a tooltip: model, dataset, questions asked, options, answers,
/// whether it is complete, and when its summary was last written.
fn run_details(run: &ShownRun) -> String {
    let mut text = format!("folder {}\nmodel {}", run.dir.display(), model_of(run));
    if let Some(s) = &run.summary {
        let sel = &s.settings.selection;
        let split = sel.split.map_or("all splits", Split::name);
        let levels: Vec<&str> = sel.levels.iter().map(|l| l.name()).collect();
        let limit = sel.limit.map_or_else(String::new, |n| format!(", first {n}"));
        text += &format!(
            "\ndataset {}\nquestions: {split}, {}{limit}\noptions {}\n{} of {} answered, {} failed{}",
            s.settings.dataset.display(),
            levels.join(" "),
            s.settings.options,
            s.answered,
            s.questions,
            s.failed,
            if s.complete { "" } else { " (not complete)" }
        );
    }
    if let Some(age) = run.written.map(|t| t.elapsed().unwrap_or_default()) {
        let hours = age.as_secs_f64() / 3600.0;
        text += &if hours < 48.0 {
            format!("\nwritten {hours:.1} h ago")
        } else {
            format!("\nwritten {:.0} days ago", hours / 24.0)
        };
    }
    text
}

fn model_of(run: &ShownRun) -> String {
    run.summary.as_ref().map_or_else(
        || "model unknown".to_string(),
        |s| {
            let m = &s.settings.model;
            format!("{} {}", m.kind, m.name)
        },
    )
}

fn filters(ui: &mut egui::Ui, f: &mut Filter, set: &SampleSet, comparing: bool) {
    ui.horizontal_wrapped(|ui| {
        combo(ui, "level", &mut f.level, Level::ALL.map(|l| (l, l.name().to_string())).into());
        combo(ui, "kind", &mut f.kind, QuestionKind::ALL.map(|k| (k, k.name().to_string())).into());
        combo(ui, "scenario", &mut f.scenario, set.scenarios().into_iter().map(|s| (s.clone(), s)).collect());
        combo(ui, "split", &mut f.split, Split::ALL.map(|s| (s, s.name().to_string())).into());
        ui.selectable_value(&mut f.correct, None, "right and wrong");
        ui.selectable_value(&mut f.correct, Some(false), "wrong only");
        ui.selectable_value(&mut f.correct, Some(true), "right only");
        ui.add(egui::TextEdit::singleline(&mut f.search).hint_text("scene id…").desired_width(120.0))
            .on_hover_text("Show only scenes whose id contains this");
        if comparing {
            ui.separator();
            ui.selectable_value(&mut f.agreement, None, "A and B");
            ui.selectable_value(&mut f.agreement, Some(Agreement::Disagree), "exactly one right");
            ui.selectable_value(&mut f.agreement, Some(Agreement::OnlyA), "only A right");
            ui.selectable_value(&mut f.agreement, Some(Agreement::OnlyB), "only B right");
        } else {
            f.agreement = None;
        }
    });
}

/// The headline metrics per group (overall, then each scenario) with their 95 % bootstrap
/// intervals, as the run's report holds them (`eval --json`'s schema); the best scenario per column bold.
fn summary(ui: &mut egui::Ui, report: &serde_json::Value) {
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
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    let metric = |g: &serde_json::Value, key: &str| {
        let m = &g[key];
        let n = m["n"].as_u64().unwrap_or(0);
        (n > 0).then(|| {
            (m["value"].as_f64().unwrap_or(0.0), m["lo"].as_f64().unwrap_or(0.0), m["hi"].as_f64().unwrap_or(0.0))
        })
    };
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

/// Each run's headline score per level, overall, as bars with their 95 % intervals as error bars
/// (the SpectrumQA paper's Figure 1): L1 accuracy, L2 accuracy, L3 IoU, L4 concept F1.
fn level_plot(ui: &mut egui::Ui, runs: &[(&str, &serde_json::Value)]) {
    use egui_plot::{Bar, BarChart, Legend, Line, PlotPoints};
    const LEVELS: [(&str, &str); 4] =
        [("l1", "L1 acc"), ("l2", "L2 acc"), ("l3_iou", "L3 IoU"), ("l4_concept_f1", "L4 concept F1")];
    let colours = [Color32::from_rgb(120, 170, 230), Color32::from_rgb(240, 160, 80)];
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
                let groups = report["groups"].as_array().cloned().unwrap_or_default();
                let overall =
                    groups.iter().find(|g| g["name"] == "overall").or(groups.first()).cloned().unwrap_or_default();
                let mut bars = Vec::new();
                for (i, (key, label)) in LEVELS.iter().enumerate() {
                    let m = &overall[*key];
                    if m["n"].as_u64().unwrap_or(0) == 0 {
                        continue;
                    }
                    let (v, lo, hi) = (
                        m["value"].as_f64().unwrap_or(0.0),
                        m["lo"].as_f64().unwrap_or(0.0),
                        m["hi"].as_f64().unwrap_or(0.0),
                    );
                    let x = i as f64 - 0.4 + width * (k as f64 + 0.5);
                    bars.push(
                        Bar::new(x, v).width(width * 0.9).name(format!("{name} {label}: {v:.3} [{lo:.3}, {hi:.3}]")),
                    );
                    let whisker = PlotPoints::from(vec![[x, lo], [x, hi]]);
                    p.line(Line::new("95 % intervals", whisker).color(Color32::WHITE).width(1.5));
                }
                p.bar_chart(BarChart::new(format!("run {name}"), bars).color(colours[k % 2]));
            }
        });
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
    } else {
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
