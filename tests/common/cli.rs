//! Running the `heatscope` binary from the CLI tests: its output, and checks that it succeeded or failed
//! with exit status 1 (a reason on stderr).

use std::process::{Command, Output};

pub fn heatscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heatscope")).args(args).output().expect("run heatscope")
}

/// Stdout of a run that succeeded (else the test fails with its stderr).
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr of a run that failed with exit status 1 (else the test fails with its stdout).
pub fn failed(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "stdout: {}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).into_owned()
}
