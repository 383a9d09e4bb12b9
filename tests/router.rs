//! The router as users meet it: `heatscope route` (one JSON object per question, in order, from
//! arguments or stdin), the bundled router on the hand-written free-form questions it never trained on,
//! `heatscope train router` writing a folder `route --router` reads, broken router folders, and
//! `eval --model router` with each policy on a small dataset.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::cli::{failed, heatscope, ok};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use heatscope::models::router::Router;
use heatscope::models::router::train::{read_labelled, score};

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).expect(l)).collect()
}

#[test]
fn the_bundled_router_meets_its_targets_on_free_form_questions_it_never_saw() {
    for file in ["router_freeform.tsv", "router_freeform2.tsv"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(file);
        let items = read_labelled(file, &std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(items.len() >= 100, "{file} has {} questions", items.len());
        let s = score(&Router::bundled().unwrap(), &items);
        // The target (an abstention counts as wrong on an in-scope question).
        assert!(
            s.level_accuracy >= 0.90,
            "{file}: level accuracy {:.3}; mistakes: {:#?}",
            s.level_accuracy,
            s.mistakes
        );
        assert!(s.out_of_scope_recall >= 0.85, "{file}: out-of-scope recall {:.3}", s.out_of_scope_recall);
        assert!(s.region_accuracy >= 0.9, "{file}: regions read {:.3}", s.region_accuracy);
    }
}

#[test]
fn typed_radio_questions_it_never_saw_are_read_as_their_task_and_go_to_the_radio_cnn() {
    let file = "router_radio_freeform.tsv";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(file);
    let items = read_labelled(file, &std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(items.len() >= 40, "{file} has {} questions", items.len());
    let s = score(&Router::bundled().unwrap(), &items);
    // Every radio task is L1, so the kind is what has to be right.
    assert!(s.kind_accuracy >= 0.90, "kind accuracy {:.3}; mistakes: {:#?}", s.kind_accuracy, s.mistakes);
    assert!(s.out_of_scope_recall >= 0.85, "out-of-scope recall {:.3}", s.out_of_scope_recall);
    // Under the learned policy the radio tasks go to the radio CNN, the near-misses to the VLM.
    let out =
        ok(&heatscope(&["route", "--policy", "learned", "FRI or FRII?", "what is the spectral index of this source?"]));
    let v = json_lines(&out);
    assert_eq!((v[0]["kind"].as_str(), v[0]["model"].as_str()), (Some("fr"), Some("radio")), "{out}");
    assert_eq!(v[1]["model"], "vlm", "{out}");
}

#[test]
fn route_prints_one_object_per_question_in_order() {
    let out = ok(&heatscope(&[
        "route",
        "--policy",
        "learned",
        "How bad is the interference overall?",
        "which is worse, the upper left or the middle?",
        "What's the weather in Paris tomorrow?",
        "",
    ]));
    let v = json_lines(&out);
    assert_eq!(v.len(), 4, "{out}");
    for o in &v {
        for key in ["level", "kind", "regions", "confidence", "abstained", "model"] {
            assert!(o.get(key).is_some(), "{key} missing: {o}");
        }
    }
    assert_eq!((v[0]["level"].as_str(), v[0]["model"].as_str()), (Some("L1"), Some("cnn")));
    assert_eq!(v[1]["kind"], "which_worse");
    assert_eq!(v[1]["regions"], serde_json::json!(["top-left", "centre"]));
    assert_eq!(v[1]["model"], "vlm");
    for o in &v[2..] {
        assert!(o["abstained"].as_bool().unwrap() && o["level"].is_null(), "{o}");
    }
    // Abstentions go to the VLM by default, to nobody with --on-abstain ask.
    assert_eq!(v[2]["model"], "vlm");
    let ask = json_lines(&ok(&heatscope(&["route", "--on-abstain", "ask", "tell me a joke"])));
    assert!(ask[0]["model"].is_null());
}

#[test]
fn route_reads_stdin_line_by_line_and_survives_bad_text() {
    let long = "is the top-left region affected ".repeat(2000);
    let input = format!(
        "Rate the severity\n\n{long}\nctrl\u{0}\u{7}\u{1b}[31m chars \u{202e}\nQuelle est la gravité des interférences ?\n\u{4e2d}\u{6587}\n"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_heatscope"))
        .args(["route"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let v = json_lines(&ok(&out));
    assert_eq!(v.len(), 6, "one object per line, the empty one included");
    assert_eq!(v[0]["level"], "L1");
    assert!(v[1]["abstained"].as_bool().unwrap());
    assert_eq!(v[2]["regions"], serde_json::json!(["top-left"]));
    for o in &v {
        let c = o["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c), "{o}");
    }
}

#[test]
fn bad_flags_and_broken_router_folders_are_refused_with_the_reason() {
    let e = failed(&heatscope(&["route", "--policy", "oracle", "how bad is it"]));
    assert!(e.contains("dataset's level"), "{e}");
    let e = failed(&heatscope(&["route", "--policy", "smart", "q"]));
    assert!(e.contains("unknown policy") && e.contains("best-on-val"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let e = failed(&heatscope(&["route", "--router", d, "q"]));
    assert!(e.contains("config.json"), "{e}");
    // A config that disagrees with the weights, and weights that are not safetensors.
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/router");
    let config = std::fs::read_to_string(bundled.join("config.json")).unwrap();
    std::fs::write(dir.path().join("config.json"), config.replace("\"bits\": 15", "\"bits\": 14")).unwrap();
    std::fs::copy(bundled.join("model.safetensors"), dir.path().join("model.safetensors")).unwrap();
    let e = failed(&heatscope(&["route", "--router", d, "q"]));
    assert!(e.contains("model.safetensors") && e.contains("2^14"), "{e}");
    std::fs::write(dir.path().join("config.json"), &config).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"not weights").unwrap();
    let e = failed(&heatscope(&["route", "--router", d, "q"]));
    assert!(e.contains("model.safetensors"), "{e}");
    std::fs::write(dir.path().join("config.json"), "{\"format\": \"heatscope-router\"").unwrap();
    let e = failed(&heatscope(&["route", "--router", d, "q"]));
    assert!(e.contains("config.json"), "{e}");
}

#[test]
fn a_trained_router_folder_routes_and_extra_phrasings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("router");
    let o = out.to_str().unwrap();
    let bad = dir.path().join("bad.tsv");
    std::fs::write(&bad, "severity\thow bad\nweather\tis it raining\n").unwrap();
    let e = failed(&heatscope(&["train", "router", "--out", o, "--phrasings", bad.to_str().unwrap(), "--no-validate"]));
    assert!(e.contains("bad.tsv line 2") && e.contains("unknown kind"), "{e}");
    let text = ok(&heatscope(&["train", "router", "--out", o, "--bits", "12", "--epochs", "4", "--no-validate"]));
    assert!(text.contains("trained on"), "{text}");
    for f in ["config.json", "model.safetensors", "validation.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let v = json_lines(&ok(&heatscope(&["route", "--router", o, "give me the bounding box of the hotspot"])));
    assert_eq!(v[0]["level"], "L3");
}

fn generate(dir: &Path) {
    let out = dir.to_str().unwrap();
    ok(&heatscope(&["data", "spectrum", "--scenes", "20", "--size", "48", "--seed", "5", "--out", out]));
}

fn overall(json: &Path, metric: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    v["groups"][0][metric]["value"].as_f64().unwrap()
}

#[test]
fn eval_with_the_router_sends_each_question_where_its_policy_says() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    generate(&ds);
    let d = ds.to_str().unwrap();
    let run = |policy: &str, extra: &[&str]| {
        let json = dir.path().join(format!("{policy}.json"));
        let folder = dir.path().join(format!("run-{policy}"));
        let mut args = vec!["eval", "--dataset", d, "--split", "test", "--bootstrap", "0", "--model", "router"];
        args.extend(["--policy", policy, "--json", json.to_str().unwrap(), "--run", folder.to_str().unwrap()]);
        args.extend(extra);
        ok(&heatscope(&args));
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(folder.join("predictions.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (json, lines)
    };
    // cnn-only through the router equals the CNN run on L1-L3; its L4 fails with the reason.
    let (json, lines) = run("cnn-only", &[]);
    let single = |m: &str| {
        let folder = dir.path().join(format!("single-{m}"));
        let json = dir.path().join(format!("single-{m}.json"));
        let (f, j) = (folder.to_str().unwrap(), json.to_str().unwrap());
        ok(&heatscope(&[
            "eval",
            "--dataset",
            d,
            "--split",
            "test",
            "--bootstrap",
            "0",
            "--model",
            m,
            "--run",
            f,
            "--json",
            j,
        ]));
        (f.to_string(), json)
    };
    let (cnn, cnn_json) = single("cnn");
    for m in ["l1", "l2", "l3_iou"] {
        assert!((overall(&json, m) - overall(&cnn_json, m)).abs() < 1e-9, "{m}");
    }
    assert!(lines.iter().any(|l| l["error"].as_str().is_some_and(|e| e.contains("CNN"))));
    // The learned policy: L1/L3 answered by the CNN, L2/L4 by the VLM, each line saying why.
    let (_, lines) = run("learned", &[]);
    let raws: Vec<&str> = lines.iter().map(|l| l["raw"].as_str().unwrap()).collect();
    assert!(raws.iter().any(|r| r.contains("-> CNN")) && raws.iter().any(|r| r.contains("-> VLM")), "{raws:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run-learned/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["settings"]["model"]["kind"], "router");
    assert_eq!(summary["settings"]["options"]["policy"], "learned");
    // route-report computes every policy from the single models' runs: the same composite as the live run.
    let ((vlm, _), (rule, _)) = (single("vlm"), single("rule"));
    let report = dir.path().join("report");
    let text = ok(&heatscope(&[
        "route-report",
        "--runs",
        &cnn,
        &vlm,
        &rule,
        "--seeds",
        "3",
        "--out",
        report.to_str().unwrap(),
    ]));
    assert!(text.contains("APGR") && text.contains("injected routing errors"), "{text}");
    let csv = std::fs::read_to_string(report.join("policies.csv")).unwrap();
    let composite = |policy: &str| -> f64 {
        let line = csv.lines().find(|l| l.starts_with(&format!("{policy},"))).expect(policy);
        line.split(',').nth(1).unwrap().parse().unwrap()
    };
    let live = overall(&dir.path().join("learned.json"), "composite");
    assert!((composite("learned") - live).abs() < 1e-6, "route-report {} vs live {live}", composite("learned"));
    for f in ["sensitivity.svg", "sensitivity.png", "cascade.svg", "sensitivity.csv", "cascade.csv"] {
        assert!(report.join(f).is_file(), "{f}");
    }
    // Runs of one model twice, or a router run, are refused with the reason.
    let e = failed(&heatscope(&["route-report", "--runs", &cnn, &cnn]));
    assert!(e.contains("both runs of cnn"), "{e}");
    let e = failed(&heatscope(&["route-report", "--runs", &cnn, dir.path().join("run-learned").to_str().unwrap()]));
    assert!(e.contains("a run of router"), "{e}");
    // An unreachable VLM server stops the run with the reason.
    let e = failed(&heatscope(&[
        "eval",
        "--dataset",
        d,
        "--split",
        "test",
        "--model",
        "router",
        "--policy",
        "learned",
        "--url",
        "http://127.0.0.1:9",
        "--bootstrap",
        "0",
    ]));
    assert!(e.contains("127.0.0.1:9"), "{e}");
}
