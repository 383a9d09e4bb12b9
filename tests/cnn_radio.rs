//! `heatscope cnn --model cnn-radio` and `eval --model cnn-radio` as a user runs them: RadioQA-sim
//! cutouts (FITS) and their 8-bit PNG renderings answered with radio-llava's labels and probabilities
//! that sum to one per task (a PNG is never judged "no source": its stretch hides the noise level), a real radio image read as a cutout of its centre, a blank cutout out of
//! domain, a missing file an error with exit 1; the bundled model's scores on a fresh test split.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::cli::{failed, heatscope, ok};
use serde_json::Value;

fn lines(out: &str) -> Vec<Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[test]
fn cutouts_get_a_label_per_task_and_bad_files_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("radio");
    ok(&heatscope(&["data", "radio", "--scenes", "80", "--seed", "9", "--out", ds.to_str().unwrap()]));
    let fits = ds.join("scenes/radio-00003.fits");
    let png = ds.join("scenes/radio-00003.png");
    let blank = common::write_npy(dir.path(), "blank.npy", 64, 64, &[0.5; 64 * 64]);
    let missing = dir.path().join("missing.fits");
    let out = heatscope(&[
        "cnn",
        "--model",
        "cnn-radio",
        "--json",
        fits.to_str().unwrap(),
        png.to_str().unwrap(),
        blank.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "a missing file makes the exit status 1");
    assert!(failed(&out).contains("1 of 4 files could not be read"));
    let objs = lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(objs.len(), 4, "one object per file, in order");
    for o in &objs[..2] {
        assert_eq!(o["model"], "cnn-radio");
        assert_eq!(o["out_of_domain"], false, "{o}");
        let tasks = o["tasks"].as_object().unwrap();
        assert_eq!(tasks.len(), 6);
        for (task, t) in tasks {
            let kind = heatscope::types::QuestionKind::parse(task).unwrap();
            let label = t["label"].as_str().unwrap();
            assert!(kind.radio_classes().contains(&label), "{task}: {label}");
            let sum: f64 = t["probs"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
            assert!((sum - 1.0).abs() < 1e-3, "{task}: {sum}");
        }
    }
    // A constant cutout has no source: no labels, the model's numbers kept aside.
    assert_eq!(objs[2]["out_of_domain"], true, "{}", objs[2]);
    assert!(objs[2]["reason"].as_str().unwrap().contains("no source"));
    assert!(objs[2]["tasks"]["morphology"]["label"].is_null());
    assert!(objs[3]["error"].as_str().unwrap().contains("missing.fits"));

    // A real radio image of any size: its centre square is read. A whole survey field with dozens of
    // sources is no single source's cutout: out of domain.
    if let Some(real) = common::real_data() {
        let file = real.join("radio/aegean_PD_2000_sub.fits");
        let field = real.join("radio/aegean_1904-66_SIN.fits");
        let out = lines(&ok(&heatscope(&[
            "cnn",
            "--model",
            "cnn-radio",
            "--json",
            file.to_str().unwrap(),
            field.to_str().unwrap(),
        ])));
        assert_eq!(out[0]["out_of_domain"], false, "{}", out[0]);
        assert!(out[0]["tasks"]["galaxy"]["label"].is_string());
        assert_eq!(out[1]["out_of_domain"], true, "{}", out[1]);
        assert!(out[1]["reason"].as_str().unwrap().contains("islands in the cutout"), "{}", out[1]);
    }

    // The scores of the bundled model on this dataset's test split: the six tasks in the report.
    let report = dir.path().join("report.json");
    ok(&heatscope(&[
        "eval",
        "--dataset",
        ds.to_str().unwrap(),
        "--model",
        "cnn-radio",
        "--split",
        "test",
        "--json",
        report.to_str().unwrap(),
    ]));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let overall = &r["groups"][0];
    // A small dataset's balancing keeps only some tasks in its test split; these three stay.
    for task in ["galaxy", "artefact", "anomaly"] {
        assert!(overall[task]["n"].as_u64().unwrap() > 0, "{task}: {}", overall[task]);
        assert!(overall[format!("{task}_weighted_f1")]["value"].is_number());
    }
    // Extended and galaxy are what the model is surest of: far above chance even on a few scenes.
    assert!(overall["galaxy"]["value"].as_f64().unwrap() >= 0.75, "{}", overall["galaxy"]);
}
