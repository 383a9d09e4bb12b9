//! `heatscope bench parity`: the binary runs the committed reference fixtures itself (what
//! tools/cuda_check.sh runs on a GPU machine) and fails when an output moves away from the reference.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::path::Path;

use common::cli::{failed, heatscope, ok};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn the_fixtures_pass_and_a_moved_reference_fails() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = ok(&heatscope(&["bench", "parity", "--fixtures", fixtures.to_str().unwrap()]));
    assert!(out.contains("18 of 18 checks passed"), "{out}");
    assert!(out.contains("parity on CPU"), "the device is named: {out}");

    // One imported-CNN logit moved by 1 %: that case fails and the command exits non-zero.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures.join("vlm"), &dir.path().join("vlm"));
    copy_dir(&fixtures.join("torch_cnn"), &dir.path().join("torch_cnn"));
    let path = dir.path().join("torch_cnn/basic/reference.json");
    let mut refs: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let v = refs["cases"][1]["logits"][2].as_f64().unwrap();
    refs["cases"][1]["logits"][2] = serde_json::json!(v + 0.01 * v.abs().max(1.0));
    std::fs::write(&path, refs.to_string()).unwrap();
    let err = failed(&heatscope(&["bench", "parity", "--fixtures", dir.path().to_str().unwrap(), "--dtypes", "f32"]));
    assert!(err.contains("1 parity checks failed"), "{err}");
    let bad = heatscope(&["bench", "parity", "--fixtures", dir.path().to_str().unwrap(), "--dtypes", "f64"]);
    assert!(failed(&bad).contains("not f32, f16 or bf16"));
}
