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
