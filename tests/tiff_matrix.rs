//! Every TIFF layout a writer commonly produces, written by tifffile (`tools/make_tiff_matrix.py`):
//! tiles of 16, 32, 64 and 512 px with partial edge tiles, strips with a partial last strip, no
//! compression, LZW, Deflate, PackBits, ZSTD and JPEG, predictors none / horizontal / floating point,
//! chunky and planar, uint8 / uint16 / float32, and 8-bit palette colour (its indices). Each must read back to the array it was written from,
//! exactly; JPEG to what tifffile decodes, within decoder differences.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;

use heatscope::io::{LoadOptions, load};

/// The truth arrays: (rows, cols, samples) in row-major order, as f32.
fn truth(file: &Path) -> (Vec<usize>, Vec<f32>) {
    let r = load(file, &LoadOptions::default()).expect("truth");
    // A (21, 37, 3) .npy loads as 3 bands of 37 x 21 (the last axis is the band axis).
    let (w, h, n) = (r.width, r.height, r.band_count());
    let mut v = Vec::with_capacity(w * h * n);
    for i in 0..w * h {
        for b in 0..n {
            v.push(r.bands[b][i]);
        }
    }
    (vec![h, w, n], v)
}

#[test]
fn every_layout_reads_back_to_what_was_written() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiff_matrix");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tif"))
        .collect();
    files.sort();
    assert!(files.len() >= 292, "{} fixtures", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let dtype = name.split('_').next().unwrap();
        let lossy = name.contains("_jpeg_");
        // JPEG is lossy: the reference reader's decode is what to match (within decoder differences).
        let reference =
            if lossy { dir.join(format!("{name}.decoded.npy")) } else { dir.join(format!("truth_{dtype}.npy")) };
        let (shape, want) = truth(&reference);
        let got = match load(path, &LoadOptions::default()) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        if [got.height, got.width, got.band_count()] != [shape[0], shape[1], shape[2]] {
            failures.push(format!("{name}: {} x {} x {} bands", got.width, got.height, got.band_count()));
            continue;
        }
        let n = shape[2];
        let diffs: Vec<f32> = (0..want.len()).map(|k| (got.bands[k % n][k / n] - want[k]).abs()).collect();
        let max = diffs.iter().copied().fold(0.0f32, f32::max);
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        let ok = if lossy { mean < 2.0 && max < 32.0 } else { max == 0.0 };
        if !ok {
            failures.push(format!("{name}: differs (mean {mean:.3}, max {max:.3})"));
        }
    }
    assert!(failures.is_empty(), "{} of {} layouts fail:\n{}", failures.len(), files.len(), failures.join("\n"));
}
