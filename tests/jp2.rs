//! JPEG 2000 as files come: a 16-bit greyscale JP2 and an 8-bit RGB codestream (lossless, OpenJPEG via
//! imagecodecs, `tools/make_jp2_fixtures.py`) read back exactly; a lossy JP2 as the reference decoder
//! reads it; GMLJP2 georeferencing; cut files refused with a reason; and the Sentinel-2 files of the
//! real data (GeoJP2 and GMLJP2) with their CRS and pixel size.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::path::{Path, PathBuf};

use heatscope::io::{LoadOptions, load, load_bytes};
use heatscope::types::SampleType;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jp2").join(name)
}

/// Bands of `got` against an array (rows, cols[, samples]) stored as .npy.
fn max_diff(got: &heatscope::types::Raster, npy: &str) -> f32 {
    let want = load(&fixture(npy), &LoadOptions::default()).unwrap();
    assert_eq!((got.width, got.height, got.band_count()), (want.width, want.height, want.band_count()));
    let mut max = 0f32;
    for b in 0..got.band_count() {
        for (g, w) in got.bands[b].iter().zip(&want.bands[b]) {
            max = max.max((g - w).abs());
        }
    }
    max
}

#[test]
fn lossless_files_read_back_exactly_and_lossy_ones_as_openjpeg_reads_them() {
    let gray = load(&fixture("gray16.jp2"), &LoadOptions::default()).unwrap();
    assert_eq!(gray.meta.dtype, Some(SampleType::U16));
    assert_eq!(max_diff(&gray, "gray16.npy"), 0.0);
    let rgb = load(&fixture("rgb8.j2k"), &LoadOptions::default()).unwrap();
    assert_eq!(rgb.meta.dtype, Some(SampleType::U8));
    assert_eq!(max_diff(&rgb, "rgb8.npy"), 0.0);
    let lossy = load(&fixture("rgb8-lossy.jp2"), &LoadOptions::default()).unwrap();
    assert!(max_diff(&lossy, "rgb8-lossy.decoded.npy") <= 1.0);
    assert_eq!(lossy.meta.band_names, ["R", "G", "B"]);
}

#[test]
fn gmljp2_gives_the_crs_the_corner_transform_and_the_pixel_size() {
    let r = load(&fixture("gray16-gml.jp2"), &LoadOptions::default()).unwrap();
    assert_eq!(r.meta.format, "JPEG 2000 (GMLJP2)");
    assert_eq!(r.meta.crs.as_deref(), Some("EPSG:32633"));
    // The GML origin is the first pixel's centre (500005, 4649995): its corner is half a pixel away.
    assert_eq!(r.meta.transform.unwrap().0, [500000.0, 10.0, 0.0, 4650000.0, 0.0, -10.0]);
    let p = r.meta.pixel_size.clone().unwrap();
    assert_eq!((p.x, p.y), (10.0, 10.0));
    assert_eq!(max_diff(&r, "gray16.npy"), 0.0, "the GML box changes nothing of the pixels");
}

#[test]
fn cut_and_damaged_files_are_refused_with_a_reason() {
    let bytes = std::fs::read(fixture("gray16.jp2")).unwrap();
    for cut in [20, 60, bytes.len() / 2, bytes.len() - 3] {
        let e = load_bytes(Path::new("cut.jp2"), &bytes[..cut], &LoadOptions::default()).expect_err("cut");
        let text = e.to_string();
        assert!(text.contains("cut.jp2") && (text.contains("JPEG 2000") || text.contains("JP2")), "{cut}: {text}");
    }
    // The limits apply before decoding: one sample allowed is not enough.
    let tight = LoadOptions { max_samples: 100, ..LoadOptions::default() };
    let e = load(&fixture("gray16.jp2"), &tight).expect_err("over the limit");
    assert!(e.to_string().contains("too large"), "{e}");
}

#[test]
fn sentinel2_files_of_the_real_data_open_georeferenced() {
    let Some(root) = common::real_data() else { return };
    let geo = load(&root.join("rs/riotiler_s2_19UDP_20170729_TCI.jp2"), &LoadOptions::default()).unwrap();
    assert_eq!((geo.width, geo.height, geo.band_count()), (658, 658, 3));
    assert_eq!(geo.meta.format, "JPEG 2000 (GeoJP2)");
    assert_eq!(geo.meta.crs.as_deref(), Some("EPSG:32619"));
    // A 109.8 km Sentinel-2 tile in 658 px.
    assert!((geo.meta.pixel_size.clone().unwrap().x - 166.87).abs() < 0.01);
    let gml = load(&root.join("rs/stactools-sentinel2_T29UNU_20221005_TCI_60m.jp2"), &LoadOptions::default()).unwrap();
    assert_eq!((gml.width, gml.height), (1830, 1830));
    assert_eq!(gml.meta.crs.as_deref(), Some("EPSG:32629"));
    assert_eq!(gml.meta.pixel_size.clone().unwrap().x, 60.0);
    // Not a black or constant picture.
    let spread = gml.bands[1].iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(spread.1 - spread.0 > 50.0, "{spread:?}");
}
