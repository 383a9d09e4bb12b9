//! Loads every image listed in the real-data MANIFEST.tsv and checks size, band count, sample type
//! and (for GeoTIFFs) pixel size against it; also feeds truncated real TIFFs to the loader, which
//! must return Ok or Err, never panic. Skips loudly when the data folder is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::path::PathBuf;

use heatscope::io::{LoadOptions, load, load_bytes};
use heatscope::types::Raster;

/// File endings of images (label and text files are skipped).
const IMAGE_ENDINGS: &[&str] = &[".tif", ".png", ".jpg", ".jpeg", ".jp2", ".npy", ".fits"];

/// The data folder and its MANIFEST.tsv, or None after saying loudly why the test is skipped.
fn manifest() -> Option<(PathBuf, String)> {
    let dir = common::real_data()?;
    match std::fs::read_to_string(dir.join("MANIFEST.tsv")) {
        Ok(text) => Some((dir, text)),
        Err(e) => {
            eprintln!("\n*** SKIPPED: no MANIFEST.tsv in {} ({e}) ***\n", dir.display());
            None
        }
    }
}

/// One MANIFEST row, by column name.
struct Row<'a> {
    path: &'a str,
    width: &'a str,
    height: &'a str,
    bands_dtype: &'a str,
    gsd_m: &'a str,
    crs: &'a str,
}

fn rows(text: &str) -> Vec<Row<'_>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(p), Some(w), Some(h), Some(b), Some(g), Some(c)) =
        (col("path"), col("width"), col("height"), col("bands_dtype"), col("gsd_m"), col("crs"))
    else {
        panic!("MANIFEST.tsv lacks an expected column: {header:?}");
    };
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("").trim();
            Row { path: get(p), width: get(w), height: get(h), bands_dtype: get(b), gsd_m: get(g), crs: get(c) }
        })
        .collect()
}

/// Leading number of a text ("0.597 nominal ..." -> 0.597).
fn leading_number(s: &str) -> Option<f64> {
    let s = s.trim_start();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// Every problem with one row's raster, empty when it matches the MANIFEST.
fn check_row(row: &Row, r: &Raster) -> Vec<String> {
    let mut problems = Vec::new();
    let (Ok(w), Ok(h)) = (row.width.parse::<usize>(), row.height.parse::<usize>()) else {
        return vec![format!("MANIFEST size unreadable: {} x {}", row.width, row.height)];
    };
    if (r.width, r.height) != (w, h) {
        problems.push(format!("size {} x {}, expected {w} x {h}", r.width, r.height));
    }
    if let Some(bands) = leading_number(row.bands_dtype)
        && r.band_count() as f64 != bands
    {
        problems.push(format!("{} bands, expected {bands}", r.band_count()));
    }
    let dtype = r.meta.dtype.map(|t| t.name()).unwrap_or("none");
    const DTYPES: &[&str] = &[
        "uint8",
        "int8",
        "uint16",
        "int16",
        "uint32",
        "int32",
        "uint64",
        "int64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    ];
    let expected = row.bands_dtype.split(|c: char| !c.is_ascii_alphanumeric()).find(|w| DTYPES.contains(w));
    if let Some(expected) = expected.filter(|e| *e != dtype) {
        problems.push(format!("dtype {dtype}, expected {expected}"));
    }

    let is_geotiff = row.path.ends_with(".tif");
    let Some(nominal) = leading_number(row.gsd_m).filter(|_| is_geotiff) else {
        return problems;
    };
    let Some(ps) = &r.meta.pixel_size else {
        problems.push(format!("no pixel size, expected {}", row.gsd_m));
        return problems;
    };
    let near = |got: f64, want: f64, tol: f64| ((got - want) / want).abs() <= tol;
    if row.crs.contains("3857") {
        let ground = row.gsd_m.split('~').nth(1).and_then(leading_number);
        match ground {
            Some(g) if near(ps.x, g, 0.02) && near(ps.y, g, 0.02) && ps.approximate => {}
            Some(g) => problems.push(format!(
                "Web Mercator ground pixel {} x {} (approximate={}), expected ~{g} within 2 %",
                ps.x, ps.y, ps.approximate
            )),
            None => problems.push(format!("MANIFEST gsd lacks a '~ground' value: {}", row.gsd_m)),
        }
        return problems;
    }
    // "3004.2 x 3034.2 (...)" gives x and y separately.
    let y = row.gsd_m.split_once(" x ").and_then(|(_, rest)| leading_number(rest)).unwrap_or(nominal);
    if !near(ps.x, nominal, 0.01) || !near(ps.y, y, 0.01) {
        problems.push(format!("pixel size {} x {} m, expected {nominal} x {y} within 1 %", ps.x, ps.y));
    }
    problems
}

#[test]
fn every_manifest_image_loads_and_matches() {
    let Some((dir, text)) = manifest() else {
        return;
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in rows(&text) {
        let lower = row.path.to_ascii_lowercase();
        if !IMAGE_ENDINGS.iter().any(|e| lower.ends_with(e)) {
            continue;
        }
        checked += 1;
        let path = dir.join(row.path);
        match load(&path, &LoadOptions::default()) {
            Ok(r) => {
                let problems = check_row(&row, &r);
                if problems.is_empty() {
                    eprintln!(
                        "ok   {}: {} x {} x {}, {:?}",
                        row.path,
                        r.width,
                        r.height,
                        r.band_count(),
                        r.meta.pixel_size.as_ref().map(|p| (p.x, p.y))
                    );
                } else {
                    failures.push(format!("{}: {}", row.path, problems.join("; ")));
                }
            }
            Err(e) => failures.push(format!("{}: load failed: {e}", row.path)),
        }
    }
    assert!(checked > 0, "MANIFEST.tsv lists no images");
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    assert!(failures.is_empty(), "{} of {checked} real files failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn truncated_real_tiffs_never_panic() {
    let Some((dir, _)) = manifest() else { return };
    for name in ["rs/rasterio_rgb-byte-tenth.tif", "rs/riotiler_cog_hirise_mars.tif", "rs/riotiler_scene_band1.tif"] {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for k in 0..10 {
            let cut = bytes.len() * k / 10 + k;
            // Ok (lenient decoders) or Err are both fine; a panic fails the test.
            let _ = load_bytes(&path, &bytes[..cut.min(bytes.len() - 1)], &LoadOptions::default());
        }
    }
}
