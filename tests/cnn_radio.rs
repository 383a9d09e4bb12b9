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
    assert!(!failed(&out).contains("no domain.json"), "the bundled model carries its domain check");
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

/// A 128 x 128 cutout of unit noise (a fixed LCG) plus `extra(x, y)`, as .npy.
fn cutout(dir: &std::path::Path, name: &str, extra: impl Fn(f32, f32) -> f32) -> std::path::PathBuf {
    let mut state = 0x2545_f491_u64;
    let mut normal = || {
        // Sum of 12 uniforms minus 6: close enough to a unit normal for a noise floor.
        (0..12)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .sum::<f32>()
            - 6.0
    };
    let values: Vec<f32> = (0..128 * 128).map(|i| normal() + extra((i % 128) as f32, (i / 128) as f32)).collect();
    common::write_npy(dir, name, 128, 128, &values)
}

#[test]
fn training_fits_a_domain_check_that_flags_what_the_model_never_saw() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("radio");
    let m = dir.path().join("m");
    let (ds_s, m_s) = (ds.to_str().unwrap(), m.to_str().unwrap());
    ok(&heatscope(&["data", "radio", "--scenes", "80", "--seed", "9", "--out", ds_s]));
    let small = ["--width", "4", "--input", "32", "--batch", "16"];
    let out = ok(&heatscope(
        &[&["train", "cnn-radio", "--dataset", ds_s, "--out", m_s, "--epochs", "1"][..], &small].concat(),
    ));
    assert!(out.contains("domain check: 38 features"), "{out}");
    let domain: Value = serde_json::from_str(&std::fs::read_to_string(m.join("domain.json")).unwrap()).unwrap();
    assert_eq!(domain["dims"], 38, "4 x 8 pooled features and 6 input statistics");

    // A training cutout is in domain; a disk of bright emission filling a third of the cutout, unlike
    // any RadioQA-sim source, is not, and the reason says so.
    let manifest = std::fs::read_to_string(ds.join("manifest.jsonl")).unwrap();
    let train =
        manifest.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|r| r["split"] == "train").unwrap();
    let seen = ds.join(train["images"]["observed"].as_str().unwrap());
    let disk = cutout(dir.path(), "disk.npy", |x, y| if (x - 64.0).hypot(y - 64.0) < 40.0 { 60.0 } else { 0.0 });
    let read = |model_dir: &str| {
        heatscope(&[
            "cnn",
            "--model",
            "cnn-radio",
            "--model-dir",
            model_dir,
            "--json",
            seen.to_str().unwrap(),
            disk.to_str().unwrap(),
        ])
    };
    let objs = lines(&ok(&read(m_s)));
    assert_eq!(objs[0]["out_of_domain"], false, "{}", objs[0]);
    assert_eq!(objs[1]["out_of_domain"], true, "{}", objs[1]);
    assert!(objs[1]["reason"].as_str().unwrap().contains("unlike the RadioQA-sim cutouts"), "{}", objs[1]);

    // --refit recalibrates and refits without training; it needs a model to refit.
    let out = ok(&heatscope(&["train", "cnn-radio", "--dataset", ds_s, "--out", m_s, "--refit"]));
    assert!(out.contains("refitting") && out.contains("domain check: 38 features"), "{out}");
    let empty = dir.path().join("empty");
    let e = failed(&heatscope(&["train", "cnn-radio", "--dataset", ds_s, "--out", empty.to_str().unwrap(), "--refit"]));
    assert!(e.contains("holds no model.safetensors"), "{e}");

    // The model reads each cutout in the eight symmetries of the square (config.json says so); a
    // refit can set one instead, and the folder's config then says that.
    let config = |dir: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap()
    };
    assert_eq!(config(&m)["symmetries"], 8);
    let one = dir.path().join("one");
    std::fs::create_dir_all(&one).unwrap();
    for file in std::fs::read_dir(&m).unwrap().map(Result::unwrap).filter(|e| e.path().is_file()) {
        std::fs::copy(file.path(), one.join(file.file_name())).unwrap();
    }
    let refit = |symmetries: &str| {
        let one = one.to_str().unwrap();
        heatscope(&["train", "cnn-radio", "--dataset", ds_s, "--out", one, "--refit", "--symmetries", symmetries])
    };
    let out = ok(&refit("1"));
    assert!(out.contains("averages 1 symmetries"), "{out}");
    assert_eq!(config(&one)["symmetries"], 1);
    let e = failed(&refit("3"));
    assert!(e.contains("symmetries 3 must be 1 or 8"), "{e}");

    // Fine-tuning starts from a trained model's weights; one of another architecture is refused.
    let tuned = dir.path().join("tuned");
    let args = ["train", "cnn-radio", "--dataset", ds_s, "--init", m_s, "--epochs", "1", "--lr", "1e-4", "--out"];
    let out = ok(&heatscope(&[&args[..], &[tuned.to_str().unwrap()], &small].concat()));
    assert!(out.contains("best val mean accuracy"), "{out}");
    let wider = dir.path().join("wider");
    let e = failed(&heatscope(
        &[&args[..], &[wider.to_str().unwrap()], &["--width", "8", "--input", "32", "--batch", "16"]].concat(),
    ));
    assert!(e.contains("model.safetensors does not fit this network"), "{e}");

    // A domain.json of another network is refused, naming the file.
    let mut other = domain.clone();
    other["dims"] = 70.into();
    std::fs::write(m.join("domain.json"), other.to_string()).unwrap();
    let e = failed(&read(m_s));
    assert!(e.contains("domain.json") && e.contains("another model"), "{e}");
}
