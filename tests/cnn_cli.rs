//! `heatscope cnn`: the CNN headless on files, one JSON object per file with the domain verdict; the
//! bundled model's domain check on real files of other kinds; bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::cli::{failed, heatscope, ok};
use serde_json::Value;

fn lines(out: &str) -> Vec<Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[test]
fn an_in_domain_map_is_answered_and_other_kinds_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    ok(&heatscope(&["data", "spectrum", "--scenes", "20", "--seed", "4", "--out", ds.to_str().unwrap()]));
    // The test scenes of the benchmark: all answered, with a class whose probabilities sum to one.
    let scenes: Vec<String> = (17..20)
        .flat_map(|i| ["leo-urban", "geo-rural", "haps-coastal"].map(|s| format!("{s}-{i:05}")))
        .map(|id| ds.join("scenes").join(id).join("observed.npy").display().to_string())
        .collect();
    let nan = common::write_npy(dir.path(), "nan.npy", 64, 64, &[f32::NAN; 64 * 64]);
    let flat = common::write_npy(dir.path(), "flat.npy", 64, 64, &[3.0; 64 * 64]);
    let mut args = vec!["cnn", "--json"];
    args.extend(scenes.iter().map(String::as_str));
    args.extend([nan.to_str().unwrap(), flat.to_str().unwrap()]);
    let out = lines(&ok(&heatscope(&args)));
    assert_eq!(out.len(), scenes.len() + 2, "one object per file, in order");
    for (o, file) in out.iter().zip(&scenes) {
        assert_eq!(o["file"], file.as_str());
        assert_eq!(o["model"], "cnn");
        assert_eq!(o["out_of_domain"], false, "{o}");
        assert!(o["tasks"]["severity"]["label"].is_string());
        let sum: f64 = o["tasks"]["severity"]["probs"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-3);
        assert!(o["ood_score"].as_f64().unwrap() < 1.0);
        assert!(o["regions"].as_object().unwrap().contains_key("centre"));
    }
    let o = &out[scenes.len()];
    assert_eq!(o["out_of_domain"], true);
    assert!(o["reason"].as_str().unwrap().contains("no pixel"), "{o}");
    assert!(o["tasks"]["severity"]["label"].is_null() && o["tasks"]["severity"]["probs"].is_null());
    assert!(o["box"].is_null() && o["regions"].is_null());
    assert!(out[scenes.len() + 1]["reason"].as_str().unwrap().contains("constant"));
    // Text output: one line per file.
    let text = ok(&heatscope(&["cnn", &scenes[0], nan.to_str().unwrap()]));
    let text: Vec<&str> = text.lines().collect();
    assert!(text[0].contains('%'), "{text:?}");
    assert!(text[1].contains("out of domain: no pixel"), "{text:?}");
}

#[test]
fn real_files_of_other_kinds_are_flagged() {
    let Some(real) = common::real_data() else { return };
    let path_loss = real.join("spectrum/sg_radiomap_golden/l1_only.npy");
    let radio = real.join("radio/aegean_1904-66_SIN.fits");
    let tile = real.join("rs/deepforest_HARV_001.tif");
    let files = [&path_loss, &radio, &tile].map(|p| p.display().to_string());
    let out = lines(&ok(&heatscope(&["cnn", "--json", &files[0], &files[1], &files[2]])));
    for o in &out {
        assert_eq!(o["out_of_domain"], true, "{o}");
        assert!(o["tasks"]["severity"]["label"].is_null(), "no class on {o}");
    }
    assert!(out[0]["reason"].as_str().unwrap().contains("path loss"), "{}", out[0]);
    assert!(out[1]["reason"].as_str().unwrap().contains("Jy/beam"), "{}", out[1]);
    assert!(out[2]["reason"].as_str().unwrap().contains("bands"), "{}", out[2]);
}

#[test]
fn unreadable_files_get_an_error_line_and_a_failing_exit() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.npy");
    std::fs::write(&broken, b"\x93NUMPY\x01\x00garbage").unwrap();
    let good =
        common::write_npy(dir.path(), "g.npy", 32, 32, &(0..1024).map(|i| (i % 40) as f32 - 20.0).collect::<Vec<_>>());
    let missing = dir.path().join("missing.npy");
    let o = heatscope(&["cnn", "--json", broken.to_str().unwrap(), good.to_str().unwrap(), missing.to_str().unwrap()]);
    let err = failed(&o);
    assert!(err.contains("2 of 3 files"), "{err}");
    let out = lines(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(out.len(), 3);
    assert!(out[0]["error"].is_string() && out[2]["error"].is_string());
    assert!(out[1]["error"].is_null() && out[1]["out_of_domain"].is_boolean());
    let unknown = failed(&heatscope(&["cnn", "--model", "cnn-xyz", good.to_str().unwrap()]));
    assert!(unknown.contains("CNNs: cnn, cnn-radio"), "{unknown}");
    let empty = dir.path().join("empty-model");
    std::fs::create_dir(&empty).unwrap();
    assert!(
        failed(&heatscope(&["cnn", "--model-dir", empty.to_str().unwrap(), good.to_str().unwrap()]))
            .contains("config.json")
    );
}

#[test]
fn train_domain_and_train_vlm_domain_fit_a_folder_that_then_judges_its_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    ok(&heatscope(&[
        "data",
        "spectrum",
        "--scenes",
        "60",
        "--seed",
        "8",
        "--size",
        "32",
        "--out",
        ds.to_str().unwrap(),
    ]));
    // The bundled CNN's files, without its domain check.
    let cnn = dir.path().join("cnn");
    std::fs::create_dir(&cnn).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/cnn-spectrum");
    for f in ["config.json", "model.safetensors", "calibration.json"] {
        std::fs::copy(shipped.join(f), cnn.join(f)).unwrap();
    }
    let (cnn_s, ds_s) = (cnn.to_str().unwrap(), ds.to_str().unwrap());
    let scene = ds.join("scenes/geo-rural-00017/observed.npy");
    let noise: Vec<f32> = (0..32 * 32).map(|i| ((i * 7919) % 41) as f32 - 20.0).collect();
    let noise = common::write_npy(dir.path(), "noise.npy", 32, 32, &noise);
    let judge = || {
        lines(&ok(&heatscope(&[
            "cnn",
            "--json",
            "--model-dir",
            cnn_s,
            scene.to_str().unwrap(),
            noise.to_str().unwrap(),
        ])))
    };
    let before = judge();
    assert!(before[0]["ood_score"].is_null() && before[1]["ood_score"].is_null(), "no domain.json: not judged");
    let out = ok(&heatscope(&["train", "domain", "--model-dir", cnn_s, "--dataset", ds_s]));
    assert!(out.contains("fitted on 126 train maps, limit on 27 val maps"), "{out}");
    let after = judge();
    assert_eq!((after[0]["out_of_domain"].as_bool(), after[1]["out_of_domain"].as_bool()), (Some(false), Some(true)));
    assert!(
        failed(&heatscope(&["train", "domain", "--model-dir", cnn_s, "--dataset", ds_s, "--quantile", "1.5"]))
            .contains("--quantile")
    );
    // The VLM's: a fixture model folder.
    let vlm = common::vlm_fixture_copy("qwen3vl-untied", dir.path());
    let out = ok(&heatscope(&["train", "vlm-domain", "--model-dir", vlm.to_str().unwrap(), "--dataset", ds_s]));
    assert!(out.contains("limit on 27 val maps") && vlm.join("domain.json").is_file(), "{out}");
    let png = ds.join("scenes/geo-rural-00017/observed.png");
    let o = heatscope(&[
        "ask",
        "--model",
        vlm.to_str().unwrap(),
        "--image",
        png.to_str().unwrap(),
        "--max-tokens",
        "2",
        "hi",
    ]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("domain"), "{}", String::from_utf8_lossy(&o.stderr));
}
