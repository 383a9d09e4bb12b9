//! A fuzzing campaign: for each target, `mutants` mutants of its seeds (one to three mutations
//! each, structure-aware or byte-level, from a fixed random seed) are loaded on a named loader
//! thread. A panic is caught and its mutant saved; a load that takes longer than the timeout is a
//! hang (its mutant saved, the campaign stopped); a load whose peak memory (Linux VmHWM, reset before
//! each mutant) passes the memory budget plus a margin is reported too. Runs on the caller's thread.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Seed, Target, builtin_seeds, folder_seeds, mutate, structure};
use crate::io::{LoadOptions, load_bytes};
use crate::sim::rng::Rng;

/// Room above the budget for what a load keeps outside its accounting (allocator slack, stacks).
const MEMORY_MARGIN_BYTES: u64 = 64 << 20;

/// What to fuzz and how.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub targets: Vec<Target>,
    /// Mutants per target.
    pub mutants: usize,
    pub seed: u64,
    /// Folder of real files to seed from (besides the built-in seeds).
    pub seed_dir: Option<PathBuf>,
    /// Seeds larger than this are skipped (they slow a campaign down, not up).
    pub max_seed_bytes: u64,
    /// The loaders' memory budget while fuzzing.
    pub budget_bytes: u64,
    /// Longest one load may take before it counts as a hang.
    pub timeout: Duration,
    /// Where mutants that panic, hang or pass the budget are written.
    pub crash_dir: Option<PathBuf>,
    /// Also write each target's slowest mutant and the one whose load grew memory most (inputs
    /// that reach deep into a loader, kept as regression tests).
    pub keep_notable: bool,
}

/// How one target fared.
#[derive(Clone, Debug, Default)]
pub struct TargetReport {
    pub target: Option<Target>,
    pub seeds: usize,
    pub mutants: usize,
    /// Loaded without error.
    pub loaded: usize,
    /// Refused with an error (what a damaged file should get).
    pub refused: usize,
    /// Panic messages, with the saved mutant.
    pub panics: Vec<String>,
    pub hangs: Vec<String>,
    pub over_budget: Vec<String>,
    /// Largest growth of peak memory during one load, MiB (None where it cannot be measured).
    pub max_peak_mib: Option<f64>,
    pub seconds: f64,
}

impl TargetReport {
    pub fn failed(&self) -> bool {
        !(self.panics.is_empty() && self.hangs.is_empty() && self.over_budget.is_empty())
    }
}

/// Outcome of one load on the loader thread.
enum Outcome {
    Loaded,
    Refused,
    Panicked(String),
}

/// Run `c`; `progress` sees each target's report when it is done. Stops early after a hang (the
/// loader thread cannot be taken back).
pub fn run_campaign(c: &Campaign, progress: &mut dyn FnMut(&TargetReport)) -> Vec<TargetReport> {
    let panics: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let previous_hook = std::panic::take_hook();
    let sink = Arc::clone(&panics);
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut slot) = sink.lock() {
            *slot = Some(info.to_string());
        }
    }));
    let mut reports = Vec::new();
    for &target in &c.targets {
        let report = fuzz_target(c, target, &panics);
        progress(&report);
        let hung = !report.hangs.is_empty();
        reports.push(report);
        if hung {
            break;
        }
    }
    std::panic::set_hook(previous_hook);
    reports
}

fn fuzz_target(c: &Campaign, target: Target, panics: &Arc<Mutex<Option<String>>>) -> TargetReport {
    let start = Instant::now();
    let mut seeds: Vec<Seed> = builtin_seeds(target);
    if let Some(dir) = &c.seed_dir {
        seeds.extend(folder_seeds(dir, target, c.max_seed_bytes));
    }
    let mut report = TargetReport { target: Some(target), seeds: seeds.len(), ..TargetReport::default() };
    let name = PathBuf::from(format!("mutant.{}", target.extension()));
    let opts = LoadOptions { max_bytes: c.budget_bytes, ..LoadOptions::default() };
    let (job_tx, job_rx) = mpsc::sync_channel::<Vec<u8>>(1);
    let (done_tx, done_rx) = mpsc::channel::<(Outcome, Option<u64>)>();
    let loader_panics = Arc::clone(panics);
    let spawned = std::thread::Builder::new().name(format!("fuzz-{}", target.name())).spawn(move || {
        for bytes in job_rx {
            let before = reset_peak();
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| load_bytes(&name, &bytes, &opts)));
            let grew = before.and_then(|b| peak_bytes().map(|p| p.saturating_sub(b)));
            let outcome = match result {
                Ok(Ok(_)) => Outcome::Loaded,
                Ok(Err(_)) => Outcome::Refused,
                Err(_) => Outcome::Panicked(
                    loader_panics.lock().ok().and_then(|mut m| m.take()).unwrap_or_else(|| "a panic".into()),
                ),
            };
            if done_tx.send((outcome, grew)).is_err() {
                break;
            }
        }
    });
    if spawned.is_err() || seeds.is_empty() {
        report.hangs.push("no loader thread or no seeds".into());
        return report;
    }
    let mut rng = Rng::derive(c.seed, &[target as u64]);
    let mut slowest: (f64, Vec<u8>) = (0.0, Vec::new());
    let mut largest: (u64, Vec<u8>) = (0, Vec::new());
    for i in 0..c.mutants {
        let seed = &seeds[i % seeds.len()];
        let other = &seeds[rng.below(seeds.len())].bytes;
        let mut bytes = seed.bytes.clone();
        for _ in 0..rng.int_in(1, 3) {
            if rng.chance(0.6) {
                bytes = structure::mutate(target, &bytes, &mut rng);
            } else {
                mutate::generic(&mut bytes, &mut rng, other);
            }
        }
        let sent = Instant::now();
        if job_tx.send(bytes.clone()).is_err() {
            break;
        }
        report.mutants += 1;
        let what = |kind: &str| {
            let saved = save(c.crash_dir.as_deref(), target, kind, &bytes);
            format!("mutant {i} of {}{saved}", seed.name)
        };
        match done_rx.recv_timeout(c.timeout) {
            Ok((outcome, grew)) => {
                let took = sent.elapsed().as_secs_f64();
                if c.keep_notable && took > slowest.0 {
                    slowest = (took, bytes.clone());
                }
                if c.keep_notable && grew.is_some_and(|g| g > largest.0) {
                    largest = (grew.unwrap_or(0), bytes.clone());
                }
                match outcome {
                    Outcome::Loaded => report.loaded += 1,
                    Outcome::Refused => report.refused += 1,
                    Outcome::Panicked(msg) => report.panics.push(format!("{}: {msg}", what("panic"))),
                }
                if let Some(g) = grew {
                    #[allow(clippy::cast_precision_loss)]
                    let mib = g as f64 / f64::from(1u32 << 20);
                    report.max_peak_mib = Some(report.max_peak_mib.map_or(mib, |m: f64| m.max(mib)));
                    if g > c.budget_bytes + MEMORY_MARGIN_BYTES {
                        report.over_budget.push(format!("{}: peak grew {mib:.0} MiB", what("memory")));
                    }
                }
            }
            Err(_) => {
                report.hangs.push(format!("{}: no answer within {:.0} s", what("hang"), c.timeout.as_secs_f64()));
                break;
            }
        }
    }
    if c.keep_notable {
        for (kind, bytes) in [("slowest", &slowest.1), ("largest", &largest.1)] {
            if !bytes.is_empty() {
                save(c.crash_dir.as_deref(), target, kind, bytes);
            }
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    report
}

/// Write a mutant to `dir` as `<target>-<kind>-<hash>.<ext>`; the text to append to its report.
fn save(dir: Option<&Path>, target: Target, kind: &str, bytes: &[u8]) -> String {
    let Some(dir) = dir else { return String::new() };
    let path = dir.join(format!("{}-{kind}-{:08x}.{}", target.name(), structure::crc32(bytes), target.extension()));
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, bytes)) {
        Ok(()) => format!(" (saved as {})", path.display()),
        Err(e) => format!(" (could not be saved: {e}: {})", path.display()),
    }
}

/// Reset this process's peak resident memory to its current size; that size in bytes (Linux).
fn reset_peak() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_bytes("VmRSS:")
}

fn peak_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
