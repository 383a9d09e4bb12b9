//! The loaders under fuzzing: a bounded campaign (500 mutants a format, seeded from the real data
//! and from built-in files, a fixed random seed) must end with no panic, no hang and no load over
//! its memory budget; and every mutant a campaign ever found failing, kept in
//! `tests/fixtures/fuzz/`, must now give Ok or an error naming the file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use heatscope::fuzz::{Campaign, Target, run_campaign};
use heatscope::io::{LoadOptions, load_bytes};

/// Held by the tests that load in this process: the campaign measures this process's peak memory
/// (VmHWM), so nothing else here may allocate while it runs (in the library's test binary hundreds of
/// other tests did, and a JPEG mutant was charged their memory).
static IN_PROCESS: Mutex<()> = Mutex::new(());

#[test]
fn a_small_campaign_runs_every_target_without_failures() {
    let _alone = IN_PROCESS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = Campaign {
        targets: Target::ALL.to_vec(),
        mutants: 40,
        seed: 5,
        seed_dir: None,
        max_seed_bytes: 1 << 20,
        budget_bytes: 256 << 20,
        timeout: Duration::from_secs(30),
        crash_dir: None,
        keep_notable: false,
    };
    let mut seen = 0;
    let reports = run_campaign(&c, &mut |_| seen += 1);
    let n = heatscope::io::Format::ALL.len();
    assert_eq!((reports.len(), seen), (n, n));
    for r in &reports {
        assert_eq!(r.mutants, 40, "{r:?}");
        assert!(!r.failed(), "{r:?}");
        assert_eq!(r.loaded + r.refused, 40);
        assert!(r.refused > 0, "{:?}: every mutant loaded, so the mutations do nothing", r.target);
    }
}

#[test]
fn a_bounded_campaign_finds_no_panic_hang_or_memory_blowup() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_heatscope"));
    cmd.args(["fuzz", "--mutants", "500", "--seed", "2026", "--budget", "512M", "--findings"]).arg(dir.path());
    match common::real_data() {
        Some(real) => {
            cmd.arg("--seeds").arg(real);
        }
        None => eprintln!("*** the campaign runs on built-in seeds only ***"),
    }
    let o = cmd.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    eprintln!("{out}");
    assert!(o.status.success(), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("fuzz: mutants=4500 panics=0 hangs=0 over_budget=0"), "{out}");
    // Each format saw mutants it refused and mutants it still read: the mutations reach past the
    // first check without destroying everything.
    for line in out.lines().filter(|l| l.contains(" mutants of ")) {
        assert!(!line.contains(" 0 refused") && !line.contains(" 0 loaded"), "{line}");
    }
}

#[test]
fn every_mutant_that_once_failed_is_now_read_or_refused() {
    let _alone = IN_PROCESS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let opts = LoadOptions { max_bytes: 512 << 20, ..LoadOptions::default() };
        match load_bytes(&path, &bytes, &opts) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.path(), path.as_path(), "{e}"),
        }
        checked += 1;
    }
    assert!(checked > 0, "no regression inputs in {}", dir.display());
    // The palette the png crate would index past is refused by name.
    let bad = dir.join("png-panic-e836bd91.png");
    let e = load_bytes(&bad, &std::fs::read(&bad).unwrap(), &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("PLTE") && e.to_string().contains("398 bytes"), "{e}");
}
