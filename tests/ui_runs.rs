//! The app's runs driven like a user with egui_kittest (lavapipe in CI): a run started in the app
//! streams into the sample browser, cancels, continues and reopens; the app and the CLI give the same
//! rule run; the failure list walks a run's wrong answers; two runs compare level by level; the
//! cross-scenario matrix. Split from tests/ui.rs to keep files small.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{field_text, harness, harness_with, settle, settle_samples, slow_server, step_until};

use std::time::Duration;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use heatscope::app::{AppOptions, HeatscopeApp};
use heatscope::workers::VlmSource;

fn start_run(
    h: &mut Harness<'static, HeatscopeApp>,
    model: heatscope::app::runs::RunModel,
    split: &str,
    limit: usize,
    folder: &std::path::Path,
) {
    {
        let app = h.state_mut();
        app.persisted.runs.model = model;
        app.persisted.runs.split = split.into();
        app.persisted.runs.limit = limit;
        app.persisted.runs.cpu_share = 1.0;
        app.runs.folder = folder.display().to_string();
    }
    open_run_section(h);
    h.get_by_label("Start run").click();
}

/// Open the "Run a model" section of the sample browser.
fn open_run_section(h: &mut Harness<'static, HeatscopeApp>) {
    if h.query_by_label("Start run").is_none() && h.query_by_label("Cancel run").is_none() {
        h.get_by_label("Run a model").click();
        h.run_steps(2);
    }
}

fn run_lines(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("predictions.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a whole line");
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_run_started_in_the_app_streams_into_the_sample_browser_cancels_continues_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run-vlm");
    // A server that takes 0.1 s a token; answers of two tokens, four requests in flight.
    let vlm = VlmSource::Server {
        url: slow_server(),
        model: "slow".into(),
        api_key_env: "HEATSCOPE_TEST_NO_KEY".into(),
        deadline: Duration::from_secs(60),
    };
    let Some(mut h) = harness_with(vec![], AppOptions { vlm, ..AppOptions::default() }) else { return };
    settle_samples(&mut h);
    h.state_mut().persisted.chat.max_tokens = 2;
    h.state_mut().persisted.chat.few_shot = false;
    start_run(&mut h, heatscope::app::runs::RunModel::Vlm, "all", 60, &run);
    step_until(&mut h, "no answer streamed in", |app| app.runs.shown.as_ref().is_some_and(|r| r.lines.len() >= 3));
    h.get_by_label_contains("q/s");
    h.get_by_label("Cancel run").click();
    step_until(&mut h, "the run did not stop", |app| !app.runs.making.is_loading());
    assert!(h.state().messages.iter().any(|m| m.text.contains("run cancelled")), "{:?}", h.state().messages);
    let first = run_lines(&run);
    assert!(!first.is_empty() && first.len() < 60, "{} answers kept after the cancel", first.len());

    // Start again: the same folder continues, no question twice.
    open_run_section(&mut h);
    h.get_by_label("Start run").click();
    step_until(&mut h, "the run did not finish", |app| app.runs.making.ready().is_some());
    let all = run_lines(&run);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "an id written twice");
    assert!(all.starts_with(&first), "the answers before the cancel were kept");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["answered"].as_u64().unwrap() as usize + summary["failed"].as_u64().unwrap() as usize, 60);
    assert_eq!(all.len(), 60);
    // The scene shown has its recorded answers beside its questions, scored.
    h.run_steps(3);
    let recorded = h.state().active_doc().unwrap().results.recorded.clone();
    assert!(recorded.len() >= 3, "{recorded:?}");
    assert!(h.query_all_by_label_contains("run: ").count() >= 3);
    drop(h);

    // A new app opening the run folder (as a user would from the command line or File > Open path)
    // shows the same answers without running anything.
    let Some(mut h) = harness(vec![run.clone()]) else { return };
    step_until(&mut h, "the run did not open", |app| app.runs.shown.is_some() && app.samples.is_some());
    settle(&mut h);
    h.run_steps(3);
    let app = h.state();
    assert_eq!(app.runs.shown.as_ref().unwrap().lines.len(), all.len());
    assert!(!app.active_doc().unwrap().results.recorded.is_empty());
    assert!(h.query_all_by_label_contains("run: ").count() >= 3);

    // A run of another dataset is refused with the reason.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let mut s = summary.clone();
    s["settings"]["manifest_checksum"] = "sha256:0000".into();
    s["settings"]["dataset"] = "/nowhere/dataset".into();
    std::fs::write(other.join("summary.json"), s.to_string()).unwrap();
    std::fs::write(other.join("predictions.jsonl"), "").unwrap();
    h.state_mut().open(vec![other]);
    step_until(&mut h, "no refusal", |app| app.messages.iter().any(|m| m.error && m.text.contains("another dataset")));
    // A run folder cut mid-line opens with the whole lines.
    let cut = dir.path().join("cut");
    std::fs::create_dir(&cut).unwrap();
    std::fs::copy(run.join("summary.json"), cut.join("summary.json")).unwrap();
    let text = std::fs::read_to_string(run.join("predictions.jsonl")).unwrap();
    std::fs::write(cut.join("predictions.jsonl"), &text[..text.len() - 10]).unwrap();
    h.state_mut().open(vec![cut.clone()]);
    step_until(&mut h, "the cut run did not open", |app| {
        app.runs.shown.as_ref().is_some_and(|r| r.dir == cut && r.lines.len() == all.len() - 1)
    });
}

#[test]
fn the_app_and_the_cli_give_the_same_rule_run() {
    let dir = tempfile::tempdir().unwrap();
    let app_run = dir.path().join("app-rule");
    // A dataset with val scenes (the rule is tuned on them; the bundled samples have none).
    let ds = dir.path().join("ds");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_heatscope"))
        .args(["data", "spectrum", "--scenes", "20", "--size", "48", "--seed", "1", "--out"])
        .arg(&ds)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let Some(mut h) = harness(vec![ds]) else { return };
    settle_samples(&mut h);
    start_run(&mut h, heatscope::app::runs::RunModel::Rule, "test", 0, &app_run);
    step_until(&mut h, "the rule run did not finish", |app| {
        app.runs.making.ready().is_some() || app.runs.making.failure().is_some()
    });
    assert!(h.state().runs.making.ready().is_some(), "{:?}", h.state().messages);
    let dataset = h.state().samples.as_ref().unwrap().dir.clone();
    drop(h);
    let cli_run = dir.path().join("cli-rule");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_heatscope"))
        .args(["eval", "--dataset", dataset.to_str().unwrap(), "--model", "rule", "--split", "test", "--run"])
        .arg(&cli_run)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let answers = |run: &std::path::Path| -> Vec<(String, String)> {
        std::fs::read_to_string(run.join("predictions.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["id"].as_str().unwrap().to_string(), v["answer"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let (a, c) = (answers(&app_run), answers(&cli_run));
    assert!(!a.is_empty());
    assert_eq!(a, c, "one runner: the same questions, in the same order, with the same answers");
    let summary = |run: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
    };
    let (sa, sc) = (summary(&app_run), summary(&cli_run));
    assert_eq!(sa["settings"], sc["settings"], "the same run as far as --resume is concerned");
    assert_eq!(sa["report"]["overall"], sc["report"]["overall"]);
}

#[test]
fn the_failure_list_filters_a_run_and_walks_its_wrong_answers_in_the_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run-cnn");
    let Some(mut h) = harness(vec![]) else { return };
    settle_samples(&mut h);
    start_run(&mut h, heatscope::app::runs::RunModel::Cnn, "all", 60, &run);
    step_until(&mut h, "the run did not finish", |app| app.runs.making.ready().is_some());
    settle(&mut h);

    // E opens the list: every answered question, then only the wrong ones.
    h.key_press(egui::Key::E);
    h.run_steps(3);
    let answered = h.state().failures.answered();
    assert!(answered > 0, "the run's answers are listed");
    h.get_by_label_contains(&format!("of {answered} answered questions shown"));
    h.get_by_label("wrong only").click();
    h.run_steps(3);
    let wrong: Vec<usize> = h.state().failures.shown().map(|r| r.scene).collect();
    assert!(!wrong.is_empty() && wrong.len() < answered, "{} wrong of {answered}", wrong.len());
    assert!(h.state().failures.shown().all(|r| !r.correct));

    // Clicking a row shows its scene; Right steps to the next wrong answer's scene, not the next scene.
    let first_scene = h.state().samples.as_ref().unwrap().scenes[wrong[0]].id.clone();
    // The list's rows (not the image tab, which names the scene too): scene, level and kind.
    let rows: Vec<_> = h
        .query_all_by_label_contains(&first_scene)
        .filter(|n| n.accesskit_node().label().is_some_and(|l| l.contains(" L")))
        .collect();
    assert!(!rows.is_empty(), "the first wrong answer's row is on screen");
    rows[0].click();
    settle(&mut h);
    let scene_shown = |h: &Harness<'static, HeatscopeApp>| {
        let app = h.state();
        let set = app.samples.as_ref().unwrap();
        (
            set.current,
            app.active_doc()
                .map(|d| set.owns(&d.path) && d.path.to_string_lossy().contains(&set.scenes[set.current].id)),
        )
    };
    assert_eq!(scene_shown(&h), (wrong[0], Some(true)));
    if wrong.len() > 1 {
        h.key_press(egui::Key::ArrowRight);
        settle(&mut h);
        assert_eq!(scene_shown(&h), (wrong[1], Some(true)));
        assert_eq!(h.state().failures.selected, Some(1));
        h.key_press(egui::Key::ArrowLeft);
        settle(&mut h);
        assert_eq!(scene_shown(&h).0, wrong[0]);
    }
    // The severity matrix counts what the run's report counted.
    {
        let app = h.state();
        let set = app.samples.as_ref().unwrap();
        let m = app.failures.confusion(set, heatscope::types::QuestionKind::Severity);
        let report = app.runs.shown.as_ref().unwrap().summary.as_ref().unwrap().report.clone().expect("a report");
        let want: Vec<Vec<usize>> = serde_json::from_value(report["groups"][0]["l1_confusion"].clone()).unwrap();
        let got: Vec<Vec<usize>> = m.iter().map(|row| row[..4].to_vec()).collect();
        assert_eq!(got, want);
    }
    h.get_by_label("Summary").click();
    h.run_steps(2);
    h.get_by_label("L1 macro-F1");
    // Fold it again: the tables above the list scroll within half the window.
    h.get_by_label("Summary").click();
    h.run_steps(2);
    // A confusion-matrix cell off the diagonal lists exactly its questions.
    let (t, g, count) = {
        let app = h.state();
        let set = app.samples.as_ref().unwrap();
        let m = app.failures.confusion(set, heatscope::types::QuestionKind::Severity);
        let classes = heatscope::app::failures::matrix_classes(heatscope::types::QuestionKind::Severity);
        let cell = (0..m.len())
            .flat_map(|t| (0..classes.len()).map(move |g| (t, g)))
            .find(|&(t, g)| t != g && m[t][g] > 0)
            .map(|(t, g)| (classes[t], classes[g], m[t][g]));
        cell.expect("the CNN confuses some severity class on the bundled samples")
    };
    h.get_by_label(&format!("truth {t}, answer {g}: {count}")).click();
    h.run_steps(3);
    assert_eq!(h.state().failures.shown_len(), count);
    assert!(h.state().failures.shown().all(|r| !r.correct));
    h.get_by_label("show all").click();
    h.run_steps(2);
    assert_eq!(h.state().failures.filter.cell, None);
    // E hides the list and brings it back; the row stays chosen.
    h.key_press(egui::Key::E);
    h.run_steps(2);
    assert!(!h.state().failures.open);
    h.key_press(egui::Key::E);
    h.run_steps(2);
    assert!(h.state().failures.open && h.state().failures.selected.is_some());
}

#[test]
fn two_runs_compare_level_by_level_and_list_where_only_one_is_right() {
    let dir = tempfile::tempdir().unwrap();
    let (cnn, prior) = (dir.path().join("run-cnn"), dir.path().join("run-prior"));
    let edited = dir.path().join("run-edited");
    let Some(mut h) = harness(vec![]) else { return };
    settle_samples(&mut h);
    start_run(&mut h, heatscope::app::runs::RunModel::Cnn, "all", 60, &cnn);
    step_until(&mut h, "the CNN run did not finish", |app| app.runs.making.ready().is_some());
    // A third run, C: the CNN's run with every L1 and L2 question answered with its truth (a run
    // edited by hand, right wherever A and B both fail there).
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples/spectrumqa/manifest.jsonl");
    let truth: std::collections::HashMap<String, (String, String)> = std::fs::read_to_string(manifest)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let text = |k: &str| v[k].as_str().unwrap().to_string();
            (text("id"), (text("level"), text("answer")))
        })
        .collect();
    std::fs::create_dir_all(&edited).unwrap();
    std::fs::copy(cnn.join("summary.json"), edited.join("summary.json")).unwrap();
    let lines: String = std::fs::read_to_string(cnn.join("predictions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let (level, answer) = &truth[v["id"].as_str().unwrap()];
            if level == "L1" || level == "L2" {
                v["answer"] = answer.as_str().into();
            }
            format!("{v}\n")
        })
        .collect();
    std::fs::write(edited.join("predictions.jsonl"), lines).unwrap();
    start_run(&mut h, heatscope::app::runs::RunModel::Prior, "all", 60, &prior);
    step_until(&mut h, "the prior run did not finish", |app| {
        app.runs.making.ready().is_some() && app.runs.shown.as_ref().is_some_and(|r| r.dir == prior)
    });
    settle(&mut h);

    // A is the prior (the run shown); B, the CNN, is chosen in the built-in browser.
    h.key_press(egui::Key::E);
    h.run_steps(3);
    h.state_mut().browser.native = false;
    h.get_by_label("Compare with a run…").click();
    h.run_steps(3);
    assert!(h.state().browser.open, "the browser asks for the run to compare with");
    let field = h.get_by_role_and_label(Role::TextInput, "Path");
    field.focus();
    h.run_steps(1);
    field_text(&mut h, &cnn.display().to_string());
    h.key_press(egui::Key::Enter);
    step_until(&mut h, "the compared run did not open", |app| !app.runs.compared.is_empty());
    h.run_steps(3);
    h.get_by_label("A vs B");
    // Each run's details on hover: dataset, questions asked, answers, when it was written.
    h.get_by_label("A").hover();
    // Tooltips wait for the pointer to rest (half a second of frames).
    h.run_steps(60);
    let node = h.get_by_label_contains("60 of 60 answered, 0 failed");
    let details = format!("{:?} {:?}", node.accesskit_node().label(), node.accesskit_node().value());
    assert!(details.contains("questions: all splits") && details.contains("written"), "{details}");
    let levels = {
        let app = h.state();
        app.failures.compare_levels(app.samples.as_ref().unwrap(), 1)
    };
    let l1 = levels.iter().find(|l| l.level == heatscope::types::Level::L1).expect("L1 compared");
    assert_eq!(l1.a_right + l1.only_b, l1.b_right + l1.only_a, "right counts and only-one counts agree");
    assert!(l1.only_b > 0, "the CNN beats the prior somewhere");

    // Only B right: every listed question is one the prior missed and the CNN got.
    h.get_by_label("only B right").click();
    h.run_steps(3);
    let app = h.state();
    let only_b = levels.iter().map(|l| l.only_b).sum::<usize>();
    assert_eq!(app.failures.shown_len(), only_b);
    assert!(app.failures.shown().all(|r| !r.correct && r.right_in(1) == Some(true)));
    // Export: the listed rows (with B's columns) and the summary, into the run's analysis/ folder.
    let listed = h.state().failures.shown_len();
    h.get_by_label("Export").click();
    step_until(&mut h, "the export did not finish", |app| app.messages.iter().any(|m| m.text.contains("exported")));
    let analysis = prior.join("analysis");
    let list = std::fs::read_dir(&analysis)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("list-"))
        .expect("a list CSV");
    let text = std::fs::read_to_string(list).unwrap();
    assert!(text.lines().next().unwrap().ends_with("b_answer,b_verdict,b_correct"));
    assert_eq!(text.lines().count(), listed + 1, "a header and one line per listed question");
    assert!(text.lines().skip(1).all(|l| l.contains(",false,") && l.ends_with(",true")));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(analysis.join("summary.json")).unwrap()).unwrap();
    assert!(summary["groups"].is_array());
    assert!(std::fs::read_to_string(analysis.join("summary.csv")).unwrap().starts_with("group,metric,value,lo,hi,n"));
    // Every plot as SVG and PNG; the runs side by side.
    let find = |prefix: &str| {
        std::fs::read_dir(&analysis)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}* in {}", analysis.display()))
    };
    let plots = find("plots-");
    for name in ["levels", "iou", "reliability", "confusion-severity", "confusion-worst_region"] {
        let svg = std::fs::read_to_string(plots.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{name}");
        let png = image::open(plots.join(format!("{name}.png"))).unwrap();
        assert!(png.width() > 400, "{name}");
    }
    let level_plot = std::fs::read_to_string(plots.join("levels.svg")).unwrap();
    assert!(level_plot.contains("A: prior") && level_plot.contains("B: cnn"), "both runs in the level plot");
    let runs = std::fs::read_to_string(find("runs-")).unwrap();
    assert!(runs.starts_with("run,folder,model,group,metric") && runs.contains("\nA,") && runs.contains("\nB,"));
    // A third run (C, the edited one): each run's answer in the list, A vs C, "only C right", and
    // the runs side by side in the summary.
    h.get_by_label("Compare with a run…").click();
    h.run_steps(3);
    let field = h.get_by_role_and_label(Role::TextInput, "Path");
    field.focus();
    h.run_steps(1);
    field_text(&mut h, &edited.display().to_string());
    h.key_press(egui::Key::Enter);
    step_until(&mut h, "the third run did not open", |app| app.runs.compared.len() == 2);
    h.run_steps(3);
    assert_eq!(h.state().failures.compared(), 2);
    h.get_by_label("A vs C");
    // The filters stay in sight above the list, however many comparisons there are.
    h.get_by_label("only C right").click();
    h.run_steps(3);
    let app = h.state();
    let rows: Vec<_> = app.failures.shown().map(|r| (r.record, r.correct, r.right_in(1), r.right_in(2))).collect();
    let records = &app.samples.as_ref().unwrap().records;
    let both_wrong =
        levels.iter().filter(|l| matches!(l.level.name(), "L1" | "L2")).map(|l| l.both - l.a_right - l.only_b);
    assert_eq!(rows.len(), both_wrong.sum::<usize>(), "{rows:?}");
    assert!(!rows.is_empty() && rows.iter().all(|r| (r.1, r.2, r.3) == (false, Some(false), Some(true))), "{rows:?}");
    assert!(rows.iter().all(|r| matches!(records[r.0].level.name(), "L1" | "L2")));
    h.get_by_label("Summary").click();
    h.run_steps(3);
    h.get_by_label_contains("runs side by side");
    // Hiding C leaves A and B; the filters naming C fall back.
    h.get_by_label("show run C").click();
    h.run_steps(3);
    assert_eq!((h.state().failures.compared(), h.state().failures.filter.agreement), (1, None));
    // Stop comparing: back to one run.
    h.get_by_label("stop comparing").click();
    h.run_steps(3);
    assert!(h.state().runs.compared.is_empty() && !h.state().failures.comparing());
    // Several run folders opened at once (as `heatscope RUN RUN RUN` does): the first is A, the
    // others are compared with it once its dataset is open.
    h.state_mut().open(vec![cnn.clone(), prior.clone(), edited.clone()]);
    step_until(&mut h, "the runs opened together were not compared", |app| app.runs.compared.len() == 2);
    let app = h.state();
    assert_eq!(app.runs.shown.as_ref().map(|r| &r.dir), Some(&cnn));
    let dirs: Vec<_> = app.runs.compared.iter().map(|c| c.run.dir.clone()).collect();
    assert_eq!(dirs, [prior, edited]);
}

#[test]
fn the_cross_scenario_matrix_reads_each_runs_training_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let cnn = dir.path().join("run-cnn");
    let Some(mut h) = harness(vec![]) else { return };
    settle_samples(&mut h);
    start_run(&mut h, heatscope::app::runs::RunModel::Cnn, "all", 0, &cnn);
    step_until(&mut h, "the CNN run did not finish", |app| app.runs.making.ready().is_some());
    // Three copies of the run, each marked as a CNN trained on one scenario (as `train cnn
    // --scenario` marks its model and every run of it).
    let scenarios = ["leo-urban", "geo-rural", "haps-coastal"];
    let copies: Vec<std::path::PathBuf> = scenarios
        .iter()
        .map(|s| {
            let copy = dir.path().join(format!("cnn-{s}"));
            std::fs::create_dir_all(&copy).unwrap();
            std::fs::copy(cnn.join("predictions.jsonl"), copy.join("predictions.jsonl")).unwrap();
            let mut summary: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(cnn.join("summary.json")).unwrap()).unwrap();
            summary["settings"]["model"]["trained_on"] = (*s).into();
            std::fs::write(copy.join("summary.json"), summary.to_string()).unwrap();
            copy
        })
        .collect();
    h.state_mut().open(copies.clone());
    step_until(&mut h, "the runs did not open", |app| {
        app.runs.compared.len() == 2 && app.runs.shown.as_ref().is_some_and(|r| r.dir == copies[0])
    });
    h.state_mut().failures.open = true;
    h.run_steps(3);
    h.get_by_label("Cross-scenario").click();
    h.run_steps(3);
    // The CNN's matrix, one row per run, trained on its scenario; no VLM run, so no comparison.
    h.get_by_label("CNN: trained on (rows) x tested on");
    for (s, l) in scenarios.iter().zip(['A', 'B', 'C']) {
        h.get_by_label(&format!("{s} ({l})"));
    }
    assert!(h.query_by_label_contains("directions").is_none());
    // The diagonal is the run's own scenario group: leo-urban's L1 accuracy from A's report.
    let report = h.state().runs.shown.as_ref().unwrap().summary.as_ref().unwrap().report.clone().unwrap();
    let group = report["groups"].as_array().unwrap().iter().find(|g| g["name"] == "leo-urban").unwrap().clone();
    let value = group["l1"]["value"].as_f64().unwrap();
    assert!(h.query_all_by_label(&format!("{value:.3}")).next().is_some(), "the diagonal shows {value:.3}");
    // A run started from here streams in as A; the run shown so far becomes B.
    let prior = dir.path().join("run-prior");
    {
        let app = h.state_mut();
        (app.persisted.runs.model, app.persisted.runs.split) = (heatscope::app::runs::RunModel::Prior, "all".into());
        app.runs.folder = prior.display().to_string();
    }
    h.get_by_label("Start a run").click();
    step_until(&mut h, "the run started from the error analysis did not finish", |app| {
        app.runs.making.ready().is_some() && app.runs.shown.as_ref().is_some_and(|r| r.dir == prior)
    });
    let app = h.state();
    assert_eq!(app.runs.compared.first().map(|c| &c.run.dir), Some(&copies[0]));
    assert!(prior.join("summary.json").is_file());
}

#[test]
fn a_radio_run_shows_each_task_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("radio");
    let run = dir.path().join("run-radio");
    let cli = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_heatscope")).args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    cli(&["data", "radio", "--scenes", "60", "--seed", "4", "--out", ds.to_str().unwrap()]);
    cli(&[
        "eval",
        "--dataset",
        ds.to_str().unwrap(),
        "--model",
        "prior",
        "--split",
        "test",
        "--run",
        run.to_str().unwrap(),
    ]);
    let Some(mut h) = harness(vec![ds]) else { return };
    settle_samples(&mut h);
    h.state_mut().open_run(run);
    step_until(&mut h, "the run did not open", |app| app.runs.shown.is_some());
    h.key_press(egui::Key::E);
    h.run_steps(3);
    h.get_by_label("Summary").click();
    h.run_steps(3);
    // The radio tasks' columns, not the SpectrumQA levels (which hold no question of this run).
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run-radio/summary.json")).unwrap()).unwrap();
    let overall = &report["report"]["groups"][0];
    let asked: Vec<&str> = heatscope::types::QuestionKind::RADIO
        .iter()
        .map(|k| k.name())
        .filter(|t| overall[*t]["n"].as_u64().unwrap_or(0) > 0)
        .collect();
    assert!(!asked.is_empty(), "{overall}");
    for task in &asked {
        assert!(!h.query_all_by_label(&format!("{task} acc")).collect::<Vec<_>>().is_empty(), "{task} acc");
        assert!(!h.query_all_by_label(&format!("{task} wF1")).collect::<Vec<_>>().is_empty(), "{task} wF1");
    }
    assert!(h.query_by_label("L3 IoU").is_none(), "no SpectrumQA column for a radio run");
    // The confusion matrix offers the run's radio tasks, not SpectrumQA's kinds.
    let matrices: Vec<heatscope::types::QuestionKind> =
        h.state().failures.tallies().confusion.iter().map(|(k, _)| *k).collect();
    assert!(!matrices.is_empty() && matrices.iter().all(|k| k.is_radio()), "{matrices:?}");
    assert!(h.query_by_label("severity").is_none());
}
