//! Helpers shared by the integration tests: small files written to temp dirs, the real-data folder,
//! and the GPU adapter check.
#![allow(dead_code)]

pub mod cli;
pub mod ui;

use std::path::{Path, PathBuf};

/// Bytes of a little-endian float32 C-order .npy holding `values` with `shape`.
pub fn npy_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Write a float32 .npy into `dir` and return its path.
pub fn write_npy(dir: &Path, name: &str, width: usize, height: usize, values: &[f32]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, npy_f32(&[height, width], values)).expect("write test npy");
    path
}

/// A writable copy of the VLM fixture folder `name` (tests/fixtures/vlm/NAME) in `dir`.
pub fn vlm_fixture_copy(name: &str, dir: &Path) -> PathBuf {
    let to = dir.join(name);
    std::fs::create_dir_all(&to).expect("create the fixture copy");
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vlm").join(name);
    for e in std::fs::read_dir(&from).expect("the VLM fixture").flatten().filter(|e| e.path().is_file()) {
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy a fixture file");
    }
    to
}

/// The shared real-data folder, or None (with a loud message) when it is absent.
pub fn real_data() -> Option<PathBuf> {
    let dir = std::env::var_os("HEATSCOPE_REAL_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: real data not found at {} (set HEATSCOPE_REAL_DATA)", dir.display());
        None
    }
}

/// The headless renderer, or None with a loud message when no adapter exists. Under CI (env CI set)
/// a missing adapter is a failure: CI installs lavapipe.
pub fn headless() -> Option<heatscope::render::Headless> {
    match heatscope::render::Headless::new() {
        Ok(h) => Some(h),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: no GPU adapter ({e}); install mesa-vulkan-drivers to run GPU tests");
            None
        }
        Err(e) => panic!("CI must have a GPU adapter (lavapipe): {e}"),
    }
}
