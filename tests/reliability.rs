//! Reliability as a user meets it: a long training run keeps its memory flat. Each test bounds its
//! own time. Linux only where it reads /proc (elsewhere it says it was skipped).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn heatscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_heatscope"))
}

/// Resident memory of a running process in MiB (None once it has exited, or off Linux).
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Samples a child's resident memory every 100 ms for `run`, then kills it.
fn sample_rss(mut child: Child, run: Duration) -> Vec<(f64, f64)> {
    let start = Instant::now();
    let mut samples = Vec::new();
    while start.elapsed() < run {
        std::thread::sleep(Duration::from_millis(100));
        match rss_mib(child.id()) {
            Some(m) if child.try_wait().ok().flatten().is_none() => samples.push((start.elapsed().as_secs_f64(), m)),
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    samples
}

fn small_dataset(dir: &Path) {
    let o = heatscope()
        .args(["data", "spectrum", "--scenes", "20", "--size", "32", "--seed", "3", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn training_many_short_epochs_keeps_memory_flat() {
    if rss_mib(std::process::id()).is_none() {
        eprintln!("SKIPPED: no /proc/PID/status on this system to read resident memory from");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ds");
    small_dataset(&data);
    // Dozens of one-second epochs. Before the optimizer stored its moments detached, every step's
    // graph stayed alive: this run grew by about 60 MiB a second (2.3 GiB after 20 s).
    let child = heatscope()
        .args(["train", "cnn", "--epochs", "1000", "--width", "8", "--input", "32", "--batch", "8"])
        .args(["--stem-stride", "2", "--dataset"])
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("run"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let samples = sample_rss(child, Duration::from_secs(8));
    assert!(samples.len() > 40, "the run ended early: {samples:?}");
    let warm = samples.iter().find(|(t, _)| *t >= 2.0).map(|s| s.1).unwrap();
    let peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    let last = samples.last().unwrap();
    eprintln!("resident memory: {warm:.0} MiB at 2 s, {:.0} MiB at {:.1} s, peak {peak:.0} MiB", last.1, last.0);
    assert!(peak - warm < 48.0, "memory grew from {warm:.0} to {peak:.0} MiB in {:.0} s: {samples:?}", last.0);
}

/// A small deterministic generator for kill times (a fixed seed: the same schedule every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

fn kill_after(mut child: Child, ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
    let _ = child.kill(); // SIGKILL on Unix: no destructor, no flush
    let _ = child.wait();
}

#[test]
fn reports_killed_at_any_moment_are_the_old_one_or_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ds");
    small_dataset(&data);
    let preds = dir.path().join("rule.jsonl");
    let o = heatscope().args(["baseline", "rule", "--dataset"]).arg(&data).arg("-o").arg(&preds).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (json, csv) = (dir.path().join("r.json"), dir.path().join("r.csv"));
    let eval = || {
        let mut c = heatscope();
        c.args(["eval", "--dataset"]).arg(&data).arg("--predictions").arg(&preds);
        c.arg("--json").arg(&json).arg("--csv").arg(&csv).stdout(Stdio::null()).stderr(Stdio::null());
        // A slow disk: each file takes 40 ms to write, so that kills land inside writes.
        c.env(heatscope::io::atomic::SLOW_WRITES_ENV, "40");
        c
    };
    let started = Instant::now();
    assert!(eval().status().unwrap().success());
    let run_ms = started.elapsed().as_millis() as u64;
    let (want_json, want_csv) = (std::fs::read(&json).unwrap(), std::fs::read(&csv).unwrap());
    assert!(!want_json.is_empty() && !want_csv.is_empty());
    let mut rng = Lcg(20);
    // The reports are written last: most kills land in the second half of a run.
    for round in 0..40 {
        kill_after(eval().spawn().unwrap(), run_ms / 2 + rng.below(run_ms * 3 / 4));
        for (path, want) in [(&json, &want_json), (&csv, &want_csv)] {
            let got = std::fs::read(path).unwrap();
            assert!(&got == want, "round {round}: {} is torn ({} of {} bytes)", path.display(), got.len(), want.len());
        }
    }
}

#[test]
fn a_training_run_killed_at_any_moment_resumes_from_a_whole_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ds");
    small_dataset(&data);
    let out = dir.path().join("run");
    let train = || {
        let mut c = heatscope();
        c.args(["train", "cnn", "--epochs", "1000", "--width", "8", "--input", "32", "--batch", "8"]);
        c.args(["--stem-stride", "2", "--resume", "--dataset"]).arg(&data).arg("--out").arg(&out);
        c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
    };
    let mut rng = Lcg(7);
    let mut epochs_before = 0;
    // At least 16 kills; more (up to 40) while a loaded machine has not let the run finish 3 epochs.
    for round in 0..40 {
        if round >= 16 && epochs_before >= 3 {
            break;
        }
        kill_after(train(), 400 + rng.below(1200));
        // What a resume does first: finish or discard the interrupted commit, check every file.
        let manifest = heatscope::models::checkpoint::recover(&out).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let Some(manifest) = manifest else {
            assert_eq!(epochs_before, 0, "round {round}: the manifest vanished");
            continue;
        };
        let names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
        assert!(names.starts_with(&["last.safetensors", "optimizer.safetensors", "state.json"]), "{names:?}");
        let state: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("state.json")).unwrap()).unwrap();
        let epochs = state["epochs_done"].as_u64().unwrap();
        assert_eq!(state["history"].as_array().unwrap().len() as u64, epochs, "round {round}");
        assert!(epochs >= epochs_before, "round {round}: the run went back from {epochs_before} to {epochs} epochs");
        epochs_before = epochs;
        let leftovers: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".g"))
            .collect();
        assert!(leftovers.is_empty(), "round {round}: staged files left after recovery: {leftovers:?}");
    }
    assert!(epochs_before >= 3, "the killed run made too little progress: {epochs_before} epochs");
}

#[test]
fn info_and_render_stay_within_three_rasters_of_memory() {
    if rss_mib(std::process::id()).is_none() {
        eprintln!("SKIPPED: no /proc/PID/status on this system to read peak memory from");
        return;
    }
    if common::headless().is_none() {
        return;
    }
    // 144 MiB rasters: before render streamed its output and uploaded in pieces it took about five
    // rasters plus its baseline (over the 623 MiB target), and a 1 MB .npz unpacked twice.
    let dir = tempfile::tempdir().unwrap();
    let o = heatscope().args(["bench", "memory", "--side", "6144", "--dir"]).arg(dir.path()).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    eprintln!("{out}");
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(out.lines().filter(|l| l.contains(" MiB |")).count(), 3, "{out}");
}

#[test]
fn a_file_over_the_memory_budget_is_refused_with_the_flag_to_raise_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_npy(dir.path(), "wide.npy", 2048, 1024, &vec![0.5; 2048 * 1024]);
    let o = heatscope().args(["info", "--memory-budget", "4M"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("memory budget") && err.contains("--memory-budget") && err.contains("wide.npy"), "{err}");
    let o = heatscope().args(["info", "--memory-budget", "64M"]).arg(&path).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
