//! `heatscope data spectrum`, `baseline` and `eval` as a user chains them, and what they say when the
//! input is wrong: the file, the line and the field, with exit status 1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::cli::{failed, heatscope, ok};
use std::path::Path;

fn generate(dir: &Path, scenes: &str) {
    let out = dir.to_str().unwrap();
    ok(&heatscope(&["data", "spectrum", "--scenes", scenes, "--size", "48", "--seed", "4", "--out", out]));
}

fn overall(json: &Path, metric: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    v["groups"][0][metric]["value"].as_f64().unwrap()
}

#[test]
fn rule_baseline_lands_in_the_band_the_benchmark_requires_and_perfect_answers_score_one() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    generate(&ds, "40");
    let d = ds.to_str().unwrap();
    let rule = dir.path().join("rule.jsonl");
    ok(&heatscope(&["baseline", "rule", "--dataset", d, "-o", rule.to_str().unwrap()]));
    let json = dir.path().join("rule.json");
    let csv = dir.path().join("rule.csv");
    let text = ok(&heatscope(&[
        "eval",
        "--dataset",
        d,
        "--predictions",
        rule.to_str().unwrap(),
        "--bootstrap",
        "100",
        "--json",
        json.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]));
    assert!(text.contains("leo-urban") && text.contains("composite"), "{text}");
    let (l1, iou) = (overall(&json, "l1"), overall(&json, "l3_iou"));
    assert!((0.45..=0.85).contains(&l1), "rule L1 accuracy {l1}");
    assert!((0.45..=0.85).contains(&iou), "rule L3 IoU {iou}");
    assert!(std::fs::read_to_string(&csv).unwrap().starts_with("group,metric,value,lo,hi,n"));

    // The reference answers themselves score 1 everywhere.
    let perfect = dir.path().join("perfect.jsonl");
    let manifest = std::fs::read_to_string(ds.join("manifest.jsonl")).unwrap();
    let lines: Vec<String> = manifest
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            serde_json::json!({"id": v["id"], "answer": v["answer"]}).to_string()
        })
        .collect();
    std::fs::write(&perfect, lines.join("\n")).unwrap();
    let pj = dir.path().join("perfect.json");
    ok(&heatscope(&[
        "eval",
        "--dataset",
        d,
        "--predictions",
        perfect.to_str().unwrap(),
        "--json",
        pj.to_str().unwrap(),
    ]));
    for m in ["l1", "l2", "l3_iou", "l4_token_f1", "l4_concept_f1", "composite"] {
        assert!((overall(&pj, m) - 1.0).abs() < 1e-9, "{m}");
    }

    // The prior baseline is worse than the rule on L1.
    let prior = dir.path().join("prior.jsonl");
    ok(&heatscope(&["baseline", "prior", "--dataset", d, "-o", prior.to_str().unwrap()]));
    let prj = dir.path().join("prior.json");
    ok(&heatscope(&[
        "eval",
        "--dataset",
        d,
        "--predictions",
        prior.to_str().unwrap(),
        "--json",
        prj.to_str().unwrap(),
    ]));
    assert!(overall(&prj, "l1") < l1);
}

#[test]
fn bad_input_names_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    generate(&ds, "2");
    let d = ds.to_str().unwrap();

    // Refuses to overwrite a dataset.
    let e = failed(&heatscope(&["data", "spectrum", "--scenes", "1", "--size", "32", "--out", d]));
    assert!(e.contains("--force"), "{e}");

    let preds = dir.path().join("preds.jsonl");
    std::fs::write(&preds, "{\"id\": \"leo-urban-00000-q0\", \"answer\": \"low\"}\n{\"id\": 3}\n").unwrap();
    let e = failed(&heatscope(&["eval", "--dataset", d, "--predictions", preds.to_str().unwrap()]));
    assert!(e.contains("preds.jsonl:2") && e.contains("id"), "{e}");

    std::fs::write(&preds, "{\"id\": \"x\", \"answer\": \"low\"}\nnot json\n").unwrap();
    let e = failed(&heatscope(&["eval", "--dataset", d, "--predictions", preds.to_str().unwrap()]));
    assert!(e.contains("preds.jsonl:2"), "{e}");

    // A missing prediction is counted and reported, not fatal.
    std::fs::write(&preds, "{\"id\": \"leo-urban-00000-q0\", \"answer\": \"low\"}\n").unwrap();
    let out = ok(&heatscope(&["eval", "--dataset", d, "--predictions", preds.to_str().unwrap(), "--bootstrap", "0"]));
    assert!(out.contains("missing predictions (counted wrong):"), "{out}");

    // An unknown level in the manifest.
    let manifest = ds.join("manifest.jsonl");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replacen("\"level\":\"L1\"", "\"level\":\"L7\"", 1)).unwrap();
    let e = failed(&heatscope(&["eval", "--dataset", d, "--predictions", preds.to_str().unwrap()]));
    assert!(e.contains("manifest.jsonl:1") && e.contains("level") && e.contains("L7"), "{e}");
    std::fs::write(&manifest, &text).unwrap();

    // A missing observed grid: eval names the manifest line and field, the rule baseline the scene.
    std::fs::remove_file(ds.join("scenes/leo-urban-00000/observed.npy")).unwrap();
    let e = failed(&heatscope(&["eval", "--dataset", d, "--predictions", preds.to_str().unwrap()]));
    assert!(e.contains("manifest.jsonl:1") && e.contains("images.observed") && e.contains("not found"), "{e}");
    let e = failed(&heatscope(&["baseline", "rule", "--dataset", d, "-o", preds.to_str().unwrap()]));
    assert!(e.contains("leo-urban-00000") && e.contains("observed.npy"), "{e}");

    // Nonsense options.
    let e = failed(&heatscope(&["data", "spectrum", "--scenario", "mars", "--out", dir.path().to_str().unwrap()]));
    assert!(e.contains("mars") && e.contains("leo-urban"), "{e}");
    let e = failed(&heatscope(&["eval", "--dataset", d, "--predictions", preds.to_str().unwrap(), "--weights", "1,2"]));
    assert!(e.contains("--weights"), "{e}");
}

#[test]
fn train_cnn_runs_from_the_command_line_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    ok(&heatscope(&[
        "data",
        "spectrum",
        "--scenes",
        "16",
        "--size",
        "32",
        "--seed",
        "2",
        "--out",
        ds.to_str().unwrap(),
    ]));
    let out = dir.path().join("cnn");
    let args = [
        "train",
        "cnn",
        "--dataset",
        ds.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--width",
        "8",
    ];
    let text = ok(&heatscope(&[&args[..], &["--input", "32"]].concat()));
    assert!(text.contains("best val score"), "{text}");
    assert!(out.join("model.safetensors").is_file() && out.join("config.json").is_file());
    // A second run into the same folder needs --resume.
    let e = failed(&heatscope(&[&args[..], &["--input", "32"]].concat()));
    assert!(e.contains("--resume"), "{e}");
    // A bad input size is refused before anything is read.
    let e = failed(&heatscope(&[&args[..], &["--input", "33", "--resume"]].concat()));
    assert!(e.contains("multiple of 32"), "{e}");
}

#[test]
fn eval_with_the_bundled_cnn_fills_levels_1_to_3_with_calibrated_confidences() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    // 128 px scenes: the bundled model's input size.
    let d = ds.to_str().unwrap();
    ok(&heatscope(&["data", "spectrum", "--scenes", "3", "--seed", "11", "--out", d]));
    let preds = dir.path().join("cnn.jsonl");
    let svg = dir.path().join("rel.svg");
    let json = dir.path().join("cnn.json");
    let text = ok(&heatscope(&[
        "eval",
        "--dataset",
        d,
        "--model",
        "cnn",
        "--bootstrap",
        "0",
        "--json",
        json.to_str().unwrap(),
        "--save-predictions",
        preds.to_str().unwrap(),
        "--reliability",
        svg.to_str().unwrap(),
    ]));
    assert!(text.contains("L1 calibration: ECE"), "{text}");
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    // Every L1-L3 question is answered (none left missing), L4 is not the CNN's.
    assert!(text.contains("missing predictions (counted wrong): 0"), "{text}");
    let jsonl = |p: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let records = jsonl(&ds.join("manifest.jsonl"));
    let kind_of = |id: &serde_json::Value| records.iter().find(|r| &r["id"] == id).unwrap()["kind"].clone();
    let lines = jsonl(&preds);
    assert_eq!(lines.len(), records.iter().filter(|r| r["kind"] != "explain").count());
    let severity: Vec<&serde_json::Value> = lines.iter().filter(|p| kind_of(&p["id"]) == "severity").collect();
    assert_eq!(severity.len(), 9);
    assert!(severity.iter().all(|p| (0.25..=1.0).contains(&p["confidence"].as_f64().unwrap())));
    assert!((0.0..=1.0).contains(&overall(&json, "l1")));

    // A model folder that is not one, and an unknown model, are refused with the reason.
    let e =
        failed(&heatscope(&["eval", "--dataset", d, "--model", "cnn", "--model-dir", dir.path().to_str().unwrap()]));
    assert!(e.contains("config.json"), "{e}");
    let e = failed(&heatscope(&["eval", "--dataset", d, "--model", "vit"]));
    assert!(e.contains("unknown model"), "{e}");
}

#[test]
fn bench_cnn_reports_both_batch_sizes() {
    let text = ok(&heatscope(&["bench", "cnn", "--runs", "2"]));
    assert!(text.contains("batch   1:") && text.contains("batch  16:") && text.contains("parameters"), "{text}");
    let e = failed(&heatscope(&["bench", "cnn", "--batches", "0"]));
    assert!(e.contains("batch sizes"), "{e}");
}

/// A RadioQA-sim manifest of `(id, scene, split, kind, answer, snr_bin)`, with empty image files.
fn radio_dataset(dir: &Path, rows: &[(&str, &str, &str, &str, &str, &str)]) {
    let mut lines = Vec::new();
    for (id, scene, split, kind, answer, snr) in rows {
        let files = ["observed.fits", "truth.fits", "image.png", "meta.json"].map(|f| format!("scenes/{scene}/{f}"));
        std::fs::create_dir_all(dir.join(format!("scenes/{scene}"))).unwrap();
        for f in &files {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let choices: &[&str] = if *kind == "morphology" {
            &["1C-1P", "1C-2P", "1C-3P", "2C-2P", "2C-3P", "3C-3P"]
        } else {
            &["YES", "NO"]
        };
        lines.push(
            serde_json::json!({
                "id": id, "scene": scene, "scenario": "radio-sky", "split": split, "level": "L1", "kind": kind,
                "question": "?", "answer": answer, "choices": choices, "snr_bin": snr,
                "images": {"observed": files[0], "truth": files[1], "png": files[2], "meta": files[3]},
            })
            .to_string(),
        );
    }
    std::fs::write(dir.join("manifest.jsonl"), lines.join("\n") + "\n").unwrap();
}

#[test]
fn eval_scores_a_radio_dataset_per_task_with_weighted_f1_confusion_and_snr_groups() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("radio");
    radio_dataset(
        &ds,
        &[
            ("t0", "s9", "train", "morphology", "1C-2P", ">100"),
            ("t1", "s9", "train", "galaxy", "NO", ">100"),
            ("m0", "s0", "test", "morphology", "1C-1P", "5-10"),
            ("m1", "s1", "test", "morphology", "1C-1P", "10-30"),
            ("m2", "s2", "test", "morphology", "1C-2P", "10-30"),
            ("m3", "s3", "test", "morphology", "1C-2P", "5-10"),
            ("g0", "s0", "test", "galaxy", "YES", "5-10"),
            ("g1", "s1", "test", "galaxy", "NO", "10-30"),
        ],
    );
    let preds = dir.path().join("preds.jsonl");
    let answers =
        [("m0", "1c-1p."), ("m1", "1C-2P"), ("m2", "1C-2P"), ("m3", "two islands"), ("g0", "Yes"), ("g1", "NO")];
    let lines: Vec<String> =
        answers.iter().map(|(id, a)| serde_json::json!({"id": id, "answer": a}).to_string()).collect();
    std::fs::write(&preds, lines.join("\n")).unwrap();
    let json = dir.path().join("report.json");
    let d = ds.to_str().unwrap();
    let args = ["eval", "--dataset", d, "--split", "test", "--bootstrap", "100", "--json", json.to_str().unwrap()];
    let text = ok(&heatscope(&[&args[..], &["--predictions", preds.to_str().unwrap()]].concat()));
    assert!(text.contains("RadioQA-sim scores") && !text.contains("SpectrumQA-sim scores"), "{text}");
    assert!(text.contains("morphology confusion") && text.contains("snr 10-30"), "{text}");

    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let overall = &v["groups"][0];
    // m0 and m2 right, m1 wrong, m3 unreadable.
    assert_eq!(overall["morphology"]["value"], 0.5);
    assert_eq!(overall["morphology"]["n"], 4);
    // 1C-1P: P 1, R 1/2, F1 2/3; 1C-2P: P 1/2, R 1/2, F1 1/2; support 2 each.
    let f1 = overall["morphology_weighted_f1"]["value"].as_f64().unwrap();
    assert!((f1 - 7.0 / 12.0).abs() < 1e-9, "{f1}");
    let confusion = &overall["morphology_confusion"];
    assert_eq!(confusion["columns"][6], "no answer");
    assert_eq!(confusion["normalized"][0], serde_json::json!([0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0]));
    assert_eq!(confusion["normalized"][1], serde_json::json!([0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5]));
    assert_eq!(overall["galaxy"]["value"], 1.0);
    let names: Vec<&str> = v["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["overall", "radio-sky", "snr 5-10", "snr 10-30"]);

    // The prior run as a model ends in the same scoring: the train majority per task.
    let prior = dir.path().join("prior.json");
    ok(&heatscope(&[&args[..7], &["--json", prior.to_str().unwrap(), "--model", "prior"]].concat()));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&prior).unwrap()).unwrap();
    assert_eq!(v["groups"][0]["morphology"]["value"], 0.5, "1C-2P for every morphology question");
    assert_eq!(v["groups"][0]["galaxy"]["value"], 0.5, "NO for every galaxy question");
}
