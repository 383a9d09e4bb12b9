//! The source finder against a reference: the islands AegeanTools 2.3.5 finds on the real radio
//! images with the same seed and flood thresholds (`tools/aegean_reference.py` made
//! tests/fixtures/radio/aegean_islands.json); and `heatscope sources` as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use heatscope::io::{LoadOptions, load};
use heatscope::stats::sources::{FinderOptions, find_sources};

/// Angular distance in arcsec (small angles).
fn separation_arcsec(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let dra = (ra1 - ra2 + 540.0).rem_euclid(360.0) - 180.0;
    let cosd = (0.5 * (dec1 + dec2)).to_radians().cos();
    (dra * cosd).hypot(dec1 - dec2) * 3600.0
}

#[test]
fn islands_match_aegean_on_the_real_images() {
    let Some(real) = common::real_data() else { return };
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/radio/aegean_islands.json"),
        )
        .expect("the Aegean reference"),
    )
    .expect("reference JSON");
    for (name, islands) in reference["images"].as_object().expect("images") {
        let raster = load(&real.join("radio").join(name), &LoadOptions::default()).expect("load");
        let beam = raster.meta.beam.expect("radio images have a beam").major_arcsec;
        let cat = find_sources(&raster, 0, &FinderOptions::default(), &AtomicBool::new(false)).expect("search");
        let (mut bright, mut matched, mut fluxes, mut flux_ok) = (0, 0, 0, 0);
        for isl in islands.as_array().expect("islands") {
            let f = |k: &str| isl[k].as_f64().expect("number");
            let snr = (f("peak_flux") - f("background")) / f("local_rms");
            if snr < 10.0 {
                continue;
            }
            bright += 1;
            // The reference position lies on one of our islands: within a beam of a peak or the centroid.
            let near = cat.islands.iter().find(|i| {
                let points = i.peaks.iter().map(|p| (p.ra_deg, p.dec_deg)).chain([(i.ra_deg, i.dec_deg)]);
                points.into_iter().any(|p| match p {
                    (Some(ra), Some(dec)) => separation_arcsec(ra, dec, f("ra"), f("dec")) <= 1.5 * beam,
                    _ => false,
                })
            });
            let Some(ours) = near else {
                eprintln!("{name}: no island near the reference island at {} {} ({snr:.0} sigma)", f("ra"), f("dec"));
                continue;
            };
            matched += 1;
            if snr >= 30.0 && f("components") <= 2.0 {
                fluxes += 1;
                let flux = ours.flux.expect("Jy/beam images with a beam have fluxes");
                let rel = (flux - f("int_flux")).abs() / f("int_flux");
                if rel <= 0.15 {
                    flux_ok += 1;
                } else {
                    eprintln!("{name}: flux {flux} vs Aegean {} at {} {}", f("int_flux"), f("ra"), f("dec"));
                }
            }
        }
        eprintln!(
            "{name}: {matched}/{bright} reference islands at >= 10 sigma found; fluxes within 15 %: {flux_ok}/{fluxes}"
        );
        assert!(bright > 0, "{name}: the reference has bright islands");
        assert!(matched as f64 >= 0.95 * bright as f64, "{name}: {matched} of {bright} found");
        assert!(flux_ok as f64 >= 0.8 * fluxes as f64, "{name}: {flux_ok} of {fluxes} fluxes agree");
    }
}

#[test]
fn the_command_prints_catalogues_and_fails_clearly() {
    let Some(real) = common::real_data() else { return };
    let exe = env!("CARGO_BIN_EXE_heatscope");
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("islands.csv");
    let file = real.join("radio/aegean_PD_2000_sub.fits");
    let out = Command::new(exe).arg("sources").arg(&file).arg("--json").arg("--csv").arg(&csv).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cat: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON catalogue");
    assert_eq!(cat["islands"].as_array().map(Vec::len), Some(3));
    assert_eq!(cat["unit"], "Jy/beam");
    assert!(cat["islands"][0]["position"].as_str().is_some_and(|p| p.starts_with("01:10:1")));
    let rows = std::fs::read_to_string(&csv).expect("the CSV");
    assert_eq!(rows.lines().count(), 4, "{rows}");

    let text = Command::new(exe).arg("sources").arg(&file).output().expect("run");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("islands: 3 with 4 peaks"), "{text}");
    assert!(text.contains("negative islands (false detections expected): "), "{text}");

    let missing = dir.path().join("missing.fits");
    let out = Command::new(exe).arg("sources").arg(&file).arg(&missing).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.fits") && err.contains("1 of 2 file(s)"), "{err}");
    let out = Command::new(exe).args(["sources", "--seed", "2"]).arg(&file).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("seed >= flood"));
}
