//! FITS files as astropy reads them: astropy's own 35 test files (`tests/fixtures/astropy-fits`)
//! and the tile-compressed fixtures written by astropy's CompImageHDU
//! (`tools/make_fits_tiles_fixtures.py`: every compression, integer and float sample types, each
//! float quantization, blanks, partial edge tiles, cubes, 1-D arrays). Where astropy reads an image,
//! heatscope must read the same size and the same values, exactly (astropy's decoding, flipped to
//! top row first, is in `tests/fixtures/fits_tiles/expected`); where astropy reads none, heatscope
//! must refuse with a message that says what the file holds instead. Damaged compressed files are
//! refused, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use heatscope::io::{IoError, LoadOptions, load, load_bytes};
use heatscope::types::Raster;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn manifest() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(fixtures().join("fits_tiles/manifest.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap().as_array().unwrap().clone()
}

/// (width, height, bands) of an array shape as heatscope shows it: 1-D is one row, a cube's first
/// axis is its planes.
fn dims(shape: &[usize]) -> (usize, usize, usize) {
    match *shape {
        [n] => (n, 1, 1),
        [h, w] => (w, h, 1),
        [p, h, w] => (w, h, p),
        _ => panic!("shape {shape:?}"),
    }
}

/// How many representable f32 values apart two floats are.
fn ulps(a: f32, b: f32) -> u64 {
    let ordered = |v: f32| {
        let bits = i64::from(v.to_bits() as i32);
        if bits < 0 { i64::from(i32::MIN) - bits } else { bits }
    };
    ordered(a).abs_diff(ordered(b))
}

/// Differences between heatscope's raster and astropy's values beyond `tolerance` units in the last
/// place: None when every sample agrees (NaN where NaN), else the first difference and the count.
fn differences(got: &Raster, want: &Raster, tolerance: u64) -> Option<String> {
    let mut count = 0;
    let mut first = None;
    for b in 0..want.band_count() {
        for (i, (g, w)) in got.bands[b].iter().zip(&want.bands[b]).enumerate() {
            let same = (g.is_nan() && w.is_nan()) || g == w || ulps(*g, *w) <= tolerance;
            if !same {
                count += 1;
                first.get_or_insert(format!(
                    "band {b} pixel ({}, {}): {g} instead of {w}",
                    i % want.width,
                    i / want.width
                ));
            }
        }
    }
    first.map(|f| format!("{count} samples differ, first {f}"))
}

/// Words a refusal must contain for each reason astropy gives no image.
fn expected_words(entry: &serde_json::Value) -> Vec<String> {
    match entry["why"].as_str().unwrap() {
        "table" => {
            let mut words = vec!["only tables".to_string()];
            for kind in entry["hdus"].as_array().unwrap().iter().skip(1) {
                words.push(kind.as_str().unwrap().to_string());
            }
            words
        }
        "random groups" => vec!["random-groups".into(), "heatscope reads images".into()],
        "empty" => vec!["empty".into()],
        "compress" => vec!["compress(1)".into(), "uncompress".into()],
        other => panic!("unknown reason {other}"),
    }
}

#[test]
fn every_fixture_reads_as_astropy_reads_it() {
    let opts = LoadOptions::default();
    let mut failures = Vec::new();
    // Per folder: files, images astropy reads, images heatscope reads identically.
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for entry in manifest() {
        let file = entry["file"].as_str().unwrap();
        let path = fixtures().join(file);
        let folder = file.split('/').next().unwrap().to_string();
        let count = counts.entry(folder).or_default();
        count.0 += 1;
        if !entry["image"].as_bool().unwrap() {
            if entry["why"] == "compress" {
                continue; // `a_unix_compressed_file_is_refused_by_name`
            }
            match load(&path, &opts) {
                Ok(r) => failures.push(format!("{file}: read as {} x {}, astropy reads no image", r.width, r.height)),
                Err(e) => {
                    let text = e.to_string();
                    let missing: Vec<String> =
                        expected_words(&entry).into_iter().filter(|w| !text.contains(w)).collect();
                    if !missing.is_empty() || !matches!(e, IoError::Unsupported { .. }) || e.path() != path {
                        failures.push(format!("{file}: refusal lacks {missing:?}: {text}"));
                    }
                }
            }
            continue;
        }
        count.1 += 1;
        let shape: Vec<usize> =
            entry["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let want =
            load(&fixtures().join("fits_tiles/expected").join(entry["expected"].as_str().unwrap()), &opts).unwrap();
        assert_eq!((want.width, want.height, want.band_count()), dims(&shape), "{file}: the expectation's shape");
        let got = match load(&path, &opts) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{file}: {e}"));
                continue;
            }
        };
        if (got.width, got.height, got.band_count()) != dims(&shape) {
            failures.push(format!(
                "{file}: {} x {} x {} bands, astropy {shape:?}",
                got.width,
                got.height,
                got.band_count()
            ));
            continue;
        }
        // Integers scaled by BSCALE / BZERO: astropy works in float32 for 8- and 16-bit samples and
        // rounds twice, heatscope in f64 and rounds once, so the two may be one unit in the last
        // place apart (scale.fits: 119 of 420 samples are). Everything else must be identical.
        let tolerance = u64::from(entry["float32_scaling"] == true);
        match differences(&got, &want, tolerance) {
            Some(d) => {
                failures.push(format!("{file} ({}): {d}", entry["compression"].as_str().unwrap_or("uncompressed")))
            }
            None => count.2 += 1,
        }
        if entry.get("compression").is_some() {
            let compressed = got.meta.notes.iter().any(|n| n.starts_with("tile-compressed image"));
            assert!(compressed, "{file}: no compression note in {:?}", got.meta.notes);
        }
    }
    for (folder, (files, astropy, heatscope)) in &counts {
        println!("{folder}: {astropy} of {files} files hold an image astropy reads; heatscope reads {heatscope}");
    }
    assert!(failures.is_empty(), "{} fixtures differ from astropy:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(counts["astropy-fits"], (35, 13, 13));
    assert!(counts["fits_tiles"].0 >= 35 && counts["fits_tiles"].1 == counts["fits_tiles"].0);
}

#[test]
fn a_unix_compressed_file_is_refused_by_name() {
    let entry = manifest().into_iter().find(|e| e["why"] == "compress").unwrap();
    let path = fixtures().join(entry["file"].as_str().unwrap());
    let e = load(&path, &LoadOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(expected_words(&entry).iter().all(|w| text.contains(w)) && e.path() == path, "{text}");
}

#[test]
fn compressed_images_keep_their_metadata_and_say_how_they_were_stored() {
    let tiles = fixtures().join("fits_tiles");
    let r = load(&tiles.join("rice_i16_partial.fits"), &LoadOptions::default()).unwrap();
    assert_eq!(r.meta.format, "FITS");
    assert_eq!(r.meta.unit.as_deref(), Some("Jy/beam"));
    assert_eq!(r.meta.crs.as_deref(), Some("RA---SIN / DEC--SIN"));
    let px = r.meta.pixel_size.clone().unwrap();
    assert!((px.x - 2.0).abs() < 1e-9 && (px.y - 2.0).abs() < 1e-9, "{px:?}");
    assert!((r.meta.beam.unwrap().major_arcsec - 6.0).abs() < 1e-9);
    assert!(r.meta.wcs.is_some());
    assert!(
        r.meta.notes.iter().any(|n| n == "tile-compressed image (RICE_1, tiles of 16 x 8 pixels)"),
        "{:?}",
        r.meta.notes
    );
    assert!(r.meta.notes.iter().any(|n| n.contains("extension HDU 1")));

    // Quantized floats say their values are approximate; a blank integer is NaN and masked.
    let q = load(&tiles.join("rice_f32_dither1.fits"), &LoadOptions::default()).unwrap();
    assert!(
        q.meta.notes.iter().any(|n| n.contains("SUBTRACTIVE_DITHER_1") && n.contains("approximate")),
        "{:?}",
        q.meta.notes
    );
    let b = load(&tiles.join("rice_i16_blank.fits"), &LoadOptions::default()).unwrap();
    assert_eq!(b.meta.nodata, Some(-999.0 * 0.5 + 100.0));
    let blanks = b.valid.as_ref().unwrap().iter().filter(|v| !**v).count();
    assert!(blanks >= 6 && blanks == b.bands[0].iter().filter(|v| v.is_nan()).count(), "{blanks} blanks");

    // A cube's planes are bands; a 1-D array is one row, with a note (compressed or not).
    let cube = load(&tiles.join("cube_rice_i16_3dtiles.fits"), &LoadOptions::default()).unwrap();
    assert_eq!(cube.meta.band_names, ["plane 1", "plane 2", "plane 3"]);
    let line = load(&tiles.join("line_rice_i16.fits"), &LoadOptions::default()).unwrap();
    assert_eq!((line.width, line.height), (50, 1));
    assert!(line.meta.notes.iter().any(|n| n.contains("1-D array of 50 samples")), "{:?}", line.meta.notes);
}

#[test]
fn damaged_compressed_files_are_refused_and_never_panic() {
    let tiles = fixtures().join("fits_tiles");
    let opts = LoadOptions { max_bytes: 256 << 20, ..LoadOptions::default() };
    let mut refused = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tiles)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "fits"))
        .collect();
    files.sort();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let (start, end) = table_and_heap(&bytes);
        // Cut anywhere in the compressed table or its heap: refused as truncated.
        for cut in [start + 1, (start + end) / 2, end - 1] {
            let e = load_bytes(path, &bytes[..cut], &opts).expect_err("a cut file");
            assert!(matches!(e, IoError::Corrupt { .. }) && e.path() == path.as_path(), "{}: {e}", path.display());
        }
        // Every byte of the table and heap inverted in turn: read (with other values) or refused
        // by name, never a panic.
        for at in (start..end).step_by(3) {
            let mut bad = bytes.clone();
            bad[at] ^= 0xFF;
            if let Err(e) = load_bytes(path, &bad, &opts) {
                assert_eq!(e.path(), path.as_path());
                refused += 1;
            }
        }
    }
    assert!(refused > 100, "only {refused} damaged variants refused");
}

/// Byte range of the second HDU's table and heap (NAXIS1 x NAXIS2 + PCOUNT bytes after its header).
fn table_and_heap(bytes: &[u8]) -> (usize, usize) {
    let cards: Vec<&[u8]> = bytes[2880..].chunks(80).take_while(|c| !c.starts_with(b"END ")).collect();
    let value = |key: &str| -> usize {
        let card = cards.iter().find(|c| c.starts_with(format!("{key:<8}=").as_bytes())).unwrap();
        String::from_utf8_lossy(&card[10..]).split('/').next().unwrap().trim().parse().unwrap()
    };
    let start = 2880 + (cards.len() + 1).div_ceil(36) * 2880;
    (start, start + value("NAXIS1") * value("NAXIS2") + value("PCOUNT"))
}
