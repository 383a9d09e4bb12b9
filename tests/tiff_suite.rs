//! image-rs/image-tiff's 144 test images (`tests/fixtures/image-tiff`): every one that tifffile
//! reads, heatscope reads to the same values (the first image of each file, compared through an
//! exact checksum written by `tools/make_tiff_suite_expectations.py`; JPEG through 16 x 16 block
//! means, since JPEG decoders round differently); the one tifffile refuses (SGI LogLuv) heatscope
//! refuses with an error, not a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;

use heatscope::io::{LoadOptions, load};
use heatscope::types::Raster;

const MOD: u128 = (1 << 61) - 1;

/// The values' checksum as the expectation script computes it: band after band, rows top first,
/// sum of each f32's bits times its 1-based position, modulo 2^61 - 1 (NaN as 0x7fc00000).
fn checksum(r: &Raster) -> u128 {
    let mut total = 0u128;
    let mut i = 1u128;
    for band in &r.bands {
        for &v in band {
            let bits = if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() };
            total = (total + u128::from(bits) * i) % MOD;
            i += 1;
        }
    }
    total
}

fn block_means(r: &Raster, size: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for band in &r.bands {
        for r0 in (0..r.height).step_by(size) {
            for c0 in (0..r.width).step_by(size) {
                let (mut sum, mut n) = (0.0, 0.0);
                for y in r0..(r0 + size).min(r.height) {
                    for x in c0..(c0 + size).min(r.width) {
                        sum += f64::from(band[y * r.width + x]);
                        n += 1.0;
                    }
                }
                out.push(sum / n);
            }
        }
    }
    out
}

#[test]
fn every_image_tifffile_reads_heatscope_reads_to_the_same_values() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/image-tiff");
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(rows.len(), 144, "the suite has 144 TIFF files");
    let (mut reference_reads, mut equal, mut refused) = (0, 0, 0);
    let mut failures = Vec::new();
    for row in &rows {
        let name = row["file"].as_str().unwrap();
        let result = load(&dir.join(name), &LoadOptions::default());
        if row["read"] == false {
            match result {
                Err(e) => {
                    refused += 1;
                    assert!(!e.to_string().is_empty());
                }
                Ok(_) => failures.push(format!("{name}: tifffile refuses it ({}) but heatscope read it", row["why"])),
            }
            continue;
        }
        reference_reads += 1;
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let shape: Vec<usize> = row["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        if shape != [r.band_count(), r.height, r.width] {
            failures.push(format!(
                "{name}: {} bands of {} x {}, tifffile {shape:?}",
                r.band_count(),
                r.width,
                r.height
            ));
            continue;
        }
        if let Some(want) = row.get("block_means").and_then(|v| v.as_array()) {
            let got = block_means(&r, 16);
            let worst = got.iter().zip(want).map(|(g, w)| (g - w.as_f64().unwrap()).abs()).fold(0.0, f64::max);
            if got.len() != want.len() || worst > 1.5 {
                failures.push(format!("{name}: JPEG block means differ by up to {worst:.2}"));
                continue;
            }
        } else {
            let want: u128 = row["checksum"].as_str().unwrap().parse().unwrap();
            if checksum(&r) != want {
                let (lo, hi) = r.bands[0].iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                failures.push(format!("{name}: values differ from tifffile's (band 1 spans {lo}..{hi})"));
                continue;
            }
        }
        equal += 1;
    }
    println!(
        "image-tiff: {} files; tifffile reads {reference_reads}; heatscope reads {equal} of them to the same values \
         and refuses the {refused} tifffile refuses",
        rows.len()
    );
    assert!(failures.is_empty(), "{} of {reference_reads} differ:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(equal, 143);
}
