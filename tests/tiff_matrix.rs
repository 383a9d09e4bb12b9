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

/// The fixtures' folder and its TIFFs, sorted.
fn fixtures() -> (std::path::PathBuf, Vec<std::path::PathBuf>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiff_matrix");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tif"))
        .collect();
    files.sort();
    (dir, files)
}

#[test]
fn every_layout_reads_back_to_what_was_written() {
    let (dir, files) = fixtures();
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

/// Every layout streams its overview and is read by window, bit for bit what its full read gives:
/// chunky and planar, striped and tiled, every compression and predictor, JPEG's YCbCr as RGB,
/// palette colour as its indices.
#[test]
fn every_layout_that_streams_gives_the_overview_and_windows_of_its_full_read() {
    let (_, files) = fixtures();
    let opts = LoadOptions::default();
    let same = |a: &[f32], b: &[f32]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
    let (mut streamed, mut planar, mut failures) = (0, 0, Vec::new());
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let Some(preview) = heatscope::io::preview(path, &opts, 10, &|| false).unwrap() else { continue };
        let full = load(path, &opts).unwrap();
        let (small, factor) = heatscope::stats::downsample_to_fit(&full, 10);
        let shown = small.masked_as_nan().unwrap_or(small);
        let overview_ok = preview.factor == factor
            && preview.overview.bands.len() == shown.bands.len()
            && preview.overview.bands.iter().zip(&shown.bands).all(|(a, b)| same(a, b));
        let windows_ok = [[5, 3, 20, 10], [30, 15, 7, 6]].iter().all(|&window| {
            let Some(win) = heatscope::io::read_window(path, &opts, window).unwrap() else { return false };
            let expected = heatscope::stats::window_mean(&full, window, 1);
            win.bands.iter().zip(&expected.bands).all(|(a, b)| same(a, b))
        });
        if !(overview_ok && windows_ok) {
            failures.push(format!("{name}: overview {overview_ok}, windows {windows_ok}"));
        }
        streamed += 1;
        planar += usize::from(name.contains("planar") && full.band_count() > 1);
    }
    println!("tiff_matrix: {streamed} of {} layouts stream ({planar} planar of several bands)", files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(streamed >= 280 && planar >= 50, "{streamed} layouts stream, {planar} planar");
    let ycbcr = files.iter().filter(|p| p.to_string_lossy().contains("_jpeg_p1_chunky")).count();
    assert!(ycbcr >= 6, "JPEG's YCbCr: {ycbcr} layouts");
    assert_eq!(streamed, files.len(), "every layout streams, palette colour included");
}
