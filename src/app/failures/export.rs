//! The error analysis's exports: the listed questions as CSV (each compared run's columns too), the
//! run's summary as JSON and CSV, the shown runs' summaries side by side as CSV, and every plot as
//! SVG and PNG, written into `analysis/` in the run's folder on a worker.

use super::super::slot::{Applied, Key, Slot};
use super::{FailureList, HeatscopeApp, SampleSet};

/// Writes the listed rows (CSV) and the run's summary (JSON and CSV) into `analysis/` in the run's
/// folder, on a worker; the paths come back as a message.
pub(super) fn export(app: &mut HeatscopeApp) {
    let (Some(set), Some(run)) = (app.samples.as_ref(), app.runs.shown.as_ref()) else { return };
    let letters = super::view::shown_letters(app);
    let list = list_csv(&app.failures, set, &letters);
    let report = run.summary.as_ref().and_then(|s| s.report.clone());
    let compared: Vec<(char, &super::super::runs::ShownRun)> =
        letters[1..].iter().copied().zip(app.runs.shown_compared()).collect();
    let runs_csv = (!compared.is_empty())
        .then(|| summary_of_runs_csv(&std::iter::once(('A', run)).chain(compared).collect::<Vec<_>>()));
    let dir = run.dir.join("analysis");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let rows = app.failures.shown_len();
    let plots = plot_files(app, &letters);
    let job = crate::workers::Job::task("writing the error analysis", move |_| {
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let write = |name: String, text: String| {
            let path = dir.join(name);
            crate::io::atomic::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok::<_, String>(path)
        };
        let mut written = vec![write(format!("list-{stamp}.csv"), list)?];
        if let Some(r) = report {
            let json = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
            written.push(write("summary.json".into(), json + "\n")?);
            written.push(write("summary.csv".into(), summary_csv(&r))?);
        }
        if let Some(text) = runs_csv {
            written.push(write(format!("runs-{stamp}.csv"), text)?);
        }
        let folder = dir.join(format!("plots-{stamp}"));
        std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        for (name, svg) in &plots {
            let png = super::figures::png(svg, 2.0)?;
            for (ext, bytes) in [("svg", svg.as_bytes()), ("png", png.as_slice())] {
                let path = folder.join(format!("{name}.{ext}"));
                crate::io::atomic::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
        }
        let mut names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        names.push(format!("{} plots as SVG and PNG in {}", plots.len(), folder.display()));
        Ok(format!("exported {rows} listed questions: {}", names.join(", ")))
    });
    match app.workers.submit(Key::Export, job) {
        Ok(ticket) => app.failures.export = Slot::loading(&ticket),
        Err(e) => app.error(format!("cannot export: {e}")),
    }
}

impl HeatscopeApp {
    /// The export's outcome, as a message.
    pub(in crate::app) fn export_event(&mut self, job: u64, kind: crate::workers::EventKind) {
        match self.failures.export.apply(job, kind) {
            Applied::Ready => {
                if let Slot::Ready(text) = std::mem::take(&mut self.failures.export) {
                    self.info(text);
                }
            }
            Applied::Failed(why) => self.error(format!("the export failed: {why}")),
            _ => {}
        }
    }
}

/// Each plot of the window as SVG, by file name: the per-level plot of the shown runs, and A's IoU
/// histogram, reliability diagram and confusion matrices (over the scenario, split and scene-id
/// filters, as the window draws them).
fn plot_files(app: &HeatscopeApp, letters: &[char]) -> Vec<(String, String)> {
    use super::figures;
    let Some(run) = app.runs.shown.as_ref() else { return Vec::new() };
    let f = &app.failures.filter;
    let mut context = Vec::new();
    if let Some(s) = &f.scenario {
        context.push(format!("scenario {s}"));
    }
    if let Some(s) = f.split {
        context.push(format!("{} split", s.name()));
    }
    if !f.search.trim().is_empty() {
        context.push(format!("scenes \"{}\"", f.search.trim()));
    }
    let context = if context.is_empty() { String::new() } else { format!(" ({})", context.join(", ")) };
    let a = format!("A: {}", super::runs_view::model_of(run));
    let tallies = app.failures.tallies();
    let mut plots = vec![
        ("iou".to_string(), figures::iou_svg(&format!("L3 IoU, {a}{context}"), &tallies.iou)),
        (
            "reliability".to_string(),
            figures::reliability_svg(&format!("L1 reliability, {a}{context}"), &tallies.reliability),
        ),
    ];
    for (kind, counts) in &tallies.confusion {
        let title = format!("{} confusion, {a}{context}", kind.name());
        plots.push((
            format!("confusion-{}", kind.name()),
            figures::confusion_svg(&title, super::matrix_classes(*kind), counts),
        ));
    }
    let reports = super::runs_view::reports(run, &app.runs.compared);
    if !reports.is_empty() {
        let model = |l: char| {
            let k = letters.iter().position(|&x| x == l).unwrap_or(0);
            let run = if k == 0 { Some(run) } else { app.runs.shown_compared().nth(k - 1) };
            run.map_or_else(String::new, super::runs_view::model_of)
        };
        let metrics = figures::plot_metrics(&reports.iter().map(|(_, r)| *r).collect::<Vec<_>>());
        let runs: Vec<(String, _)> =
            reports.iter().map(|(l, r)| (format!("{l}: {}", model(*l)), figures::level_scores(r, &metrics))).collect();
        let svg = figures::levels_svg("Score per level or task, overall (95 % intervals)", &metrics, &runs);
        plots.insert(0, ("levels".to_string(), svg));
    }
    plots
}

/// One CSV field without control characters (line breaks kept, quoted), for text a model wrote.
pub(super) fn csv_field(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control() || *c == '\n').collect();
    crate::eval::csv_field(&clean)
}

/// The listed rows as CSV, each compared run's answer, verdict and right or wrong after A's (columns
/// named by the run's letter: `b_answer`, `b_verdict`, `b_correct`, `c_answer`, …).
fn list_csv(list: &FailureList, set: &SampleSet, letters: &[char]) -> String {
    use std::fmt::Write;
    let mut s = String::from("id,scene,scenario,split,level,kind,truth,answer,verdict,correct,score,confidence");
    for l in letters.iter().skip(1).map(char::to_ascii_lowercase) {
        let _ = write!(s, ",{l}_answer,{l}_verdict,{l}_correct");
    }
    s.push('\n');
    for row in list.shown() {
        let r = &set.records[row.record];
        let conf = row.confidence.map_or_else(String::new, |c| format!("{c:.4}"));
        let _ = write!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{:.4},{conf}",
            csv_field(&r.id),
            csv_field(&r.scene),
            csv_field(&r.scenario),
            r.split.name(),
            r.level.name(),
            r.kind.name(),
            csv_field(&r.answer),
            csv_field(&row.answer),
            csv_field(&row.verdict),
            row.correct,
            row.score
        );
        for o in &row.others {
            match o {
                Some(o) => {
                    let _ = write!(s, ",{},{},{}", csv_field(&o.answer), csv_field(&o.verdict), o.correct);
                }
                None => s += ",,,",
            }
        }
        s.push('\n');
    }
    s
}

/// The report's headline metrics as CSV: group, metric, value and 95 % interval, n.
fn summary_csv(report: &serde_json::Value) -> String {
    let mut s = String::from("group,metric,value,lo,hi,n\n");
    metric_lines(&mut s, "", report);
    s
}

/// The shown runs' headline metrics side by side as CSV: run letter, folder and model, then group,
/// metric, value and 95 % interval, n (runs without a report yet are left out).
fn summary_of_runs_csv(runs: &[(char, &super::super::runs::ShownRun)]) -> String {
    let mut s = String::from("run,folder,model,group,metric,value,lo,hi,n\n");
    for (l, run) in runs {
        let Some(summary) = &run.summary else { continue };
        let Some(report) = &summary.report else { continue };
        let m = &summary.settings.model;
        let prefix = format!(
            "{l},{},{},",
            csv_field(&run.dir.display().to_string()),
            csv_field(&format!("{} {}", m.kind, m.name))
        );
        metric_lines(&mut s, &prefix, report);
    }
    s
}

/// One CSV line per group and metric of `report`, each after `prefix`.
fn metric_lines(s: &mut String, prefix: &str, report: &serde_json::Value) {
    use std::fmt::Write;
    for g in report["groups"].as_array().into_iter().flatten() {
        let name = csv_field(g["name"].as_str().unwrap_or("?"));
        for (key, m) in g.as_object().into_iter().flatten() {
            if let (Some(v), Some(lo), Some(hi), Some(n)) =
                (m["value"].as_f64(), m["lo"].as_f64(), m["hi"].as_f64(), m["n"].as_u64())
            {
                let _ = writeln!(s, "{prefix}{name},{key},{v:.6},{lo:.6},{hi:.6},{n}");
            }
        }
    }
}
