//! Runs as a user makes them: `eval --model ... --run DIR` writes a run folder that `eval
//! --predictions` scores the same; a run killed at seeded moments and resumed each time ends with the
//! report of an uninterrupted run and no question twice; a server that dies mid-run stops the run
//! with the way to continue, and `--resume` finishes it; another model or dataset is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn heatscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heatscope")).args(args).output().unwrap()
}

fn dataset(dir: &Path, scenes: &str, seed: &str) -> String {
    let d = dir.join(format!("ds{seed}"));
    let o = heatscope(&[
        "data",
        "spectrum",
        "--scenes",
        scenes,
        "--size",
        "48",
        "--seed",
        seed,
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    d.to_str().unwrap().to_string()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The ids of the run's whole prediction lines: a last line a kill cut mid-way (no newline yet) is
/// not one, as `RunFolder::resume` drops it.
fn ids(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("predictions.jsonl")).unwrap();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_run_folder_scores_like_a_predictions_file_and_refuses_other_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dataset(dir.path(), "20", "1");
    let run = dir.path().join("rule-run");
    let r = run.to_str().unwrap();
    let json_a = dir.path().join("a.json");
    let o = heatscope(&["eval", "--dataset", &d, "--model", "rule", "--run", r, "--json", json_a.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = json(&run.join("summary.json"));
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["settings"]["model"]["kind"], "rule");
    assert!(summary["heatscope"].is_string() && summary["settings"]["manifest_checksum"].is_string());
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(run.join("predictions.jsonl")).unwrap().lines().next().unwrap())
            .unwrap();
    for field in ["id", "answer", "parsed", "score", "latency_ms", "raw"] {
        assert!(line.get(field).is_some(), "no {field} in {line}");
    }
    // The run's predictions score the same through --predictions.
    let json_b = dir.path().join("b.json");
    let preds = run.join("predictions.jsonl");
    let o = heatscope(&[
        "eval",
        "--dataset",
        &d,
        "--predictions",
        preds.to_str().unwrap(),
        "--json",
        json_b.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&json_a), json(&json_b));
    assert_eq!(summary["report"], json(&json_a));

    let failed = |o: Output| {
        assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = failed(heatscope(&["eval", "--dataset", &d, "--model", "rule", "--run", r]));
    assert!(e.contains("already holds a run") && e.contains("--resume"), "{e}");
    let e = failed(heatscope(&["eval", "--dataset", &d, "--model", "prior", "--run", r, "--resume"]));
    assert!(e.contains("model rule"), "{e}");
    let other = dataset(dir.path(), "20", "2");
    let e = failed(heatscope(&["eval", "--dataset", &other, "--model", "rule", "--run", r, "--resume"]));
    assert!(e.contains("another dataset"), "{e}");
    let e = failed(heatscope(&[
        "eval",
        "--dataset",
        &d,
        "--model",
        "rule",
        "--run",
        dir.path().join("none").to_str().unwrap(),
        "--resume",
    ]));
    assert!(e.contains("no run to continue"), "{e}");
}

#[test]
fn a_run_killed_again_and_again_resumes_to_the_uninterrupted_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dataset(dir.path(), "40", "3");
    let eval = |run: &Path, resume: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_heatscope"));
        c.args(["eval", "--dataset", &d, "--model", "cnn", "--bootstrap", "50", "--run", run.to_str().unwrap()]);
        if resume {
            c.arg("--resume");
        }
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    let whole = dir.path().join("whole");
    assert!(eval(&whole, false).status().unwrap().success());
    let killed = dir.path().join("killed");
    let mut seed = 11u64;
    let mut first = true;
    for _ in 0..8 {
        let mut child = eval(&killed, !first).spawn().unwrap();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        std::thread::sleep(Duration::from_millis(150 + (seed >> 33) % 900));
        let _ = child.kill();
        let _ = child.wait();
        // Until the folder exists, the next start is a new run.
        first = first && !killed.join("summary.json").exists();
        let seen = ids(&killed).len();
        let mut unique = ids(&killed);
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen, "an id was written twice");
    }
    let o = eval(&killed, !first).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (json(&whole.join("summary.json")), json(&killed.join("summary.json")));
    assert_eq!(a["report"], b["report"], "the resumed run scores as the uninterrupted one");
    let (mut x, mut y) = (ids(&whole), ids(&killed));
    x.sort();
    y.sort();
    assert_eq!(x, y);
}

/// A chat-completions server that answers "high" to `answers` requests, then closes its port.
fn server(listener: TcpListener, answers: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for _ in 0..answers {
            let Ok((mut s, _)) = listener.accept() else { return };
            s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let _ = s.read(&mut buf);
            let chunk = r#"{"id":"x","choices":[{"index":0,"delta":{"content":"high"},"logprobs":{"content":[{"token":"high","logprob":-0.1}]},"finish_reason":null}]}"#;
            let done = r#"{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
            let body = format!("data: {chunk}\n\ndata: {done}\n\ndata: [DONE]\n\n");
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            let _ = s.write_all(format!("{head}{body}").as_bytes());
        }
    })
}

#[test]
fn a_server_that_dies_mid_run_stops_it_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dataset(dir.path(), "2", "5");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}/v1");
    let run = dir.path().join("vlm-run");
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = ["eval", "--dataset", &d, "--model", "vlm", "--url", &url, "--levels", "L1,L2"]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        v.extend(
            ["--limit", "10", "--parallel", "1", "--bootstrap", "0", "--api-key-env", "NO_KEY_HERE"].map(String::from),
        );
        v.extend(["--run".to_string(), run.to_str().unwrap().to_string()]);
        v.extend(extra.iter().map(|s| (*s).to_string()));
        v
    };
    let serving = server(listener, 4);
    let o = Command::new(env!("CARGO_BIN_EXE_heatscope")).args(args(&[])).output().unwrap();
    serving.join().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot reach") && err.contains("keeps 4 answers") && err.contains("--resume"), "{err}");
    assert_eq!(ids(&run).len(), 4);
    // The server is back: the run picks up where it stopped.
    let serving = server(TcpListener::bind(addr).unwrap(), 6);
    let o = Command::new(env!("CARGO_BIN_EXE_heatscope")).args(args(&["--resume"])).output().unwrap();
    serving.join().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("(4 answered before)"));
    let mut all = ids(&run);
    assert_eq!(all.len(), 10);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 10);
    assert_eq!(json(&run.join("summary.json"))["complete"], true);
}

#[test]
fn a_dataset_with_missing_scene_folders_runs_and_records_why_those_scenes_failed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dataset(dir.path(), "4", "3");
    let manifest = std::fs::read_to_string(Path::new(&d).join("manifest.jsonl")).unwrap();
    let scenes: std::collections::BTreeSet<String> = manifest
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["scene"].as_str().unwrap().to_string())
        .collect();
    let gone: Vec<&String> = scenes.iter().take(2).collect();
    for s in &gone {
        std::fs::remove_dir_all(Path::new(&d).join("scenes").join(s)).unwrap();
    }
    // Scoring a predictions file refuses the broken dataset, naming the file.
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let o = heatscope(&["eval", "--dataset", &d, "--predictions", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("file not found"));
    // A model run goes on, says so, and records the reason for every question of the missing scenes.
    let run = dir.path().join("cnn-run");
    let o = heatscope(&["eval", "--dataset", &d, "--model", "cnn", "--run", run.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("WARNING") && err.contains("2 scenes lack files"), "{err}");
    let text = std::fs::read_to_string(run.join("predictions.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let failed: Vec<&serde_json::Value> = lines.iter().filter(|l| l["error"].is_string()).collect();
    assert!(!failed.is_empty());
    for l in &failed {
        let id = l["id"].as_str().unwrap();
        assert!(gone.iter().any(|s| id.starts_with(s.as_str())), "{id} failed but its scene is there");
        assert!(l["error"].as_str().unwrap().contains("observed.npy"), "{}", l["error"]);
    }
    assert!(lines.len() > failed.len(), "the other scenes were answered");
    assert_eq!(json(&run.join("summary.json"))["failed"].as_u64().unwrap() as usize, failed.len());
}
