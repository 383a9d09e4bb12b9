//! The user's own CNN: torchvision ResNets (basic blocks at ResNet-18's depth, bottlenecks at
//! ResNet-50's) saved as safetensors with `heatscope.json`, checked against PyTorch's outputs
//! (fixtures from `tools/make_torch_cnn_fixtures.py`); the CLI and `eval` run them like the shipped
//! CNN; broken folders name the file and the tensor.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use common::cli::{failed, heatscope, ok};
use heatscope::models::cnn::torchvision::{FIXTURE_TOLERANCE, check_fixture};
use heatscope::models::cnn::{CnnModel, CnnNet};
use heatscope::types::SEVERITY_CLASSES;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_cnn").join(name)
}

fn reference(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name).join("reference.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// Largest difference relative to the largest magnitude of `want` (at least 1).
fn rel_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale
}

#[test]
fn imported_resnets_match_pytorch() {
    for name in ["basic", "bottleneck"] {
        // The network itself: logits (and box) within 1e-5 of PyTorch's, relative to the largest.
        let cases = check_fixture(&fixture(name), &Device::Cpu).unwrap();
        assert_eq!(cases.len(), 2);
        for c in &cases {
            assert!(c.logit_error <= FIXTURE_TOLERANCE, "{name}: {c:?}");
            assert!(c.box_error.is_none_or(|e| e <= FIXTURE_TOLERANCE), "{name}: {c:?}");
            assert_eq!(c.box_error.is_some(), name == "basic");
        }
        let model = CnnModel::load(&fixture(name), &Device::Cpu).unwrap();
        let CnnNet::Torchvision(net) = &model.net else { panic!("{name}: not read as an imported model") };
        let refs = reference(name);
        let side = refs["side"].as_u64().unwrap() as usize;
        let classes = net.spec.classes.clone();
        for (k, case) in refs["cases"].as_array().unwrap().iter().enumerate() {
            let grid = floats(&case["grid_db"]);
            // Through the reader: PyTorch's softmax placed at heatscope's classes, 0 for the ones it lacks.
            let r = model.read_grids(&[&grid], side).unwrap().remove(0);
            let want = floats(&case["probs"]);
            for (i, class) in SEVERITY_CLASSES.iter().enumerate() {
                let p = classes.iter().position(|c| c == class).map_or(0.0, |j| want[j]);
                assert!((r.probs[i] - p).abs() < 1e-5, "{name} case {k} {class}: {} vs {p}", r.probs[i]);
            }
            assert_eq!(r.mask_side, 0, "no mask");
            assert!(!r.heads.regions);
            assert!(r.saliency.iter().all(|v| (0.0..=1.0).contains(v)) && r.saliency_side == side / 32);
            match case.get("box_xyxy") {
                Some(b) => {
                    assert!(r.heads.bbox);
                    let objectness = case["objectness"].as_f64().unwrap() as f32;
                    let p = 1.0 / (1.0 + (-objectness).exp());
                    assert!((r.region_prob - p).abs() < 1e-5, "{} vs {p}", r.region_prob);
                    assert_eq!(r.bbox.is_some(), p > 0.5);
                    if let Some(got) = r.bbox {
                        let want: Vec<f32> = floats(b).iter().map(|v| v.clamp(0.0, 1.0)).collect();
                        assert!(rel_err(&got, &want) <= 1e-5, "{name} case {k}: box {got:?} vs {want:?}");
                    }
                }
                None => assert!(!r.heads.bbox && r.bbox.is_none()),
            }
        }
    }
    // The architecture is read off the tensors.
    let m = CnnModel::load(&fixture("bottleneck"), &Device::Cpu).unwrap();
    assert!(m.net.describe().contains("ResNet-50") && m.net.describe().contains("3 channels"), "{}", m.net.describe());
    assert!(m.uncalibrated().unwrap().contains("imported"));
    let b = CnnModel::load(&fixture("basic"), &Device::Cpu).unwrap();
    assert!(b.net.describe().contains("ResNet-18"), "{}", b.net.describe());
}

#[test]
fn the_cli_reads_files_and_eval_scores_the_heads_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let refs = reference("basic");
    let grid = floats(&refs["cases"][0]["grid_db"]);
    let npy = common::write_npy(dir.path(), "map.npy", 64, 64, &grid);
    let basic = fixture("basic");
    let out = ok(&heatscope(&["cnn", "--json", "--model-dir", basic.to_str().unwrap(), npy.to_str().unwrap()]));
    let o: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(o["tasks"]["severity"]["label"].is_string(), "{o}");
    assert!(o["regions"].is_null(), "no region head: {o}");
    assert!(o["region_prob"].is_f64(), "a box head: {o}");
    let text = ok(&heatscope(&["cnn", "--model-dir", basic.to_str().unwrap(), npy.to_str().unwrap()]));
    assert!(text.contains("no region head"), "{text}");

    // eval: L1 and L3 asked, L2 not asked (no head), the run says which model it was.
    let ds = dir.path().join("ds");
    ok(&heatscope(&["data", "spectrum", "--scenes", "6", "--seed", "3", "--out", ds.to_str().unwrap()]));
    let run = dir.path().join("run");
    let out = ok(&heatscope(&[
        "eval",
        "--dataset",
        ds.to_str().unwrap(),
        "--model",
        "cnn",
        "--model-dir",
        basic.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
    ]));
    assert!(out.contains("L1"), "{out}");
    let kind_of: HashMap<String, String> = std::fs::read_to_string(ds.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|q| (q["id"].as_str().unwrap().to_string(), q["kind"].as_str().unwrap().to_string()))
        .collect();
    let preds = std::fs::read_to_string(run.join("predictions.jsonl")).unwrap();
    let lines: Vec<Value> = preds.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: std::collections::BTreeSet<&str> =
        lines.iter().map(|p| kind_of[p["id"].as_str().unwrap()].as_str()).collect();
    assert_eq!(kinds, ["localize", "severity"].into_iter().collect(), "asked only what it has heads for");
    assert!(lines.iter().all(|p| p["error"].is_null()), "{preds}");
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    assert!(summary.contains(basic.to_str().unwrap()), "the run names the model folder: {summary}");
}

/// The basic fixture's files in a temporary folder, with `edit` applied to its tensors and `spec`.
fn broken(edit: impl FnOnce(&mut HashMap<String, Tensor>, &mut Value)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("basic");
    let mut tensors = candle_core::safetensors::load(src.join("model.safetensors"), &Device::Cpu).unwrap();
    let mut spec: Value = serde_json::from_slice(&std::fs::read(src.join("heatscope.json")).unwrap()).unwrap();
    edit(&mut tensors, &mut spec);
    let folder = dir.path().join("model");
    std::fs::create_dir(&folder).unwrap();
    candle_core::safetensors::save(&tensors, folder.join("model.safetensors")).unwrap();
    std::fs::write(folder.join("heatscope.json"), spec.to_string()).unwrap();
    (dir, folder)
}

fn load_err(folder: &Path) -> String {
    CnnModel::load(folder, &Device::Cpu).unwrap_err().to_string()
}

#[test]
fn broken_folders_name_the_file_and_the_tensor() {
    let (_d, f) = broken(|t, _| {
        t.remove("layer2.0.bn1.running_var");
    });
    let e = load_err(&f);
    assert!(e.contains("layer2.0.bn1.running_var") && e.contains("model.safetensors"), "{e}");

    let (_d, f) = broken(|t, _| {
        t.insert("layer3.1.conv2.weight".into(), Tensor::zeros((32, 32, 5, 5), DType::F32, &Device::Cpu).unwrap());
    });
    let e = load_err(&f);
    assert!(e.contains("layer3.1.conv2.weight"), "{e}");

    let (_d, f) = broken(|t, _| {
        t.insert("fc.bias".into(), Tensor::zeros(4, DType::U32, &Device::Cpu).unwrap());
    });
    assert!(load_err(&f).contains("fc.bias") && load_err(&f).contains("float"), "{}", load_err(&f));

    let (_d, f) = broken(|_, s| s["classes"][1] = "medium".into());
    let e = load_err(&f);
    assert!(e.contains("heatscope.json") && e.contains("\"medium\"") && e.contains("moderate"), "{e}");

    let (_d, f) = broken(|_, s| s["architecture"] = "resnet34".into());
    let e = load_err(&f);
    assert!(e.contains("resnet34") && e.contains("[2, 2, 2, 2]"), "{e}");

    let (_d, f) = broken(|_, s| s["input"]["channels"] = 3.into());
    assert!(load_err(&f).contains("input.mean has 1 values for 3 channels"), "{}", load_err(&f));
    let (_d, f) = broken(|_, s| {
        s["input"] = serde_json::json!({"size": 64, "channels": 3, "db_range": [-20, 30]});
    });
    let e = load_err(&f);
    assert!(e.contains("conv1.weight") && e.contains("input.channels"), "{e}");

    let (_d, f) = broken(|_, s| s["input"]["db_range"] = serde_json::json!([10, -10]));
    assert!(load_err(&f).contains("db_range"), "{}", load_err(&f));

    let (_d, f) = broken(|_, s| s["input"]["colour"] = "grey".into());
    assert!(load_err(&f).contains("colour"), "{}", load_err(&f));

    // The fc layer has four outputs; three class names do not fit it.
    let (_d, f) = broken(|_, s| s["classes"] = serde_json::json!(["low", "high", "severe"]));
    assert!(load_err(&f).contains("fc.weight"), "{}", load_err(&f));

    let (_d, f) = broken(|t, _| {
        t.remove("box_head.weight");
    });
    assert!(load_err(&f).contains("box_head.weight"), "{}", load_err(&f));

    // Truncated weights, and a weights file the spec names but the folder lacks.
    let (_d, f) = broken(|_, _| {});
    let bytes = std::fs::read(f.join("model.safetensors")).unwrap();
    std::fs::write(f.join("model.safetensors"), &bytes[..bytes.len() / 3]).unwrap();
    assert!(load_err(&f).contains("not a readable safetensors"), "{}", load_err(&f));
    let (_d, f) = broken(|_, s| s["weights"] = "resnet.safetensors".into());
    let e = load_err(&f);
    assert!(e.contains("resnet.safetensors"), "{e}");

    // The CLI exits non-zero with the same reason.
    let (_d, f) = broken(|t, _| {
        t.remove("layer4.1.conv1.weight");
    });
    let dir = tempfile::tempdir().unwrap();
    let npy = common::write_npy(dir.path(), "map.npy", 64, 64, &[1.0; 64 * 64]);
    let err = failed(&heatscope(&["cnn", "--model-dir", f.to_str().unwrap(), npy.to_str().unwrap()]));
    assert!(err.contains("layer4.1"), "{err}");
}

#[test]
fn bad_maps_read_without_failing() {
    let model = CnnModel::load(&fixture("basic"), &Device::Cpu).unwrap();
    let mut grid = vec![5.0f32; 100 * 100];
    grid[7] = f32::NAN;
    grid[8] = f32::INFINITY;
    grid[9] = f32::NEG_INFINITY;
    let r = model.read_grids(&[&grid], 100).unwrap().remove(0);
    assert!(r.probs.iter().all(|p| p.is_finite()) && (r.probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    // A constant map is ruled out of domain by the value rules, whatever the network.
    assert!(r.domain.out_of_domain, "{:?}", r.domain);
}
