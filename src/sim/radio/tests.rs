//! Tests of RadioQA-sim as a whole: the same seed writes the same bytes, labels are true of the
//! noiseless model, classes are balanced per split, the FITS file reads back through heatscope's
//! own loader, and real backgrounds are chosen by licence.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;

use super::backgrounds::Backgrounds;
use super::beam::BeamPx;
use super::measure;
use super::sources::{ISLAND_SIGMA, PEAK_SIGMA, Part, SourceKind};
use super::*;
use crate::io::fits_write::{Card, CardValue, image_f32};
use crate::types::{Projection, QuestionKind};

fn write(dir: &Path, scenes: usize, size: usize, threads: usize, backgrounds: Option<&Backgrounds>) -> RadioSummary {
    let opts = RadioOptions { scenes, seed: 5, size, backgrounds: None, allow_gpl_backgrounds: false, threads };
    write_radio_dataset(dir, &opts, backgrounds, &|_, _| true).unwrap()
}

/// Every file under `dir`, relative path -> bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_same_seed_writes_the_same_bytes_whatever_the_threads_and_classes_stay_balanced() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let summary = write(a.path(), 40, 96, 1, None);
    write(b.path(), 40, 96, 3, None);
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.len(), 3 + 4 * 40);
    assert!(fa == fb, "a file differs between 1 and 3 threads");
    // Every task keeps as many questions of each class as its rarest class has, in every split.
    for (task, splits) in &summary.counts {
        for (split, classes) in splits {
            let kind = QuestionKind::parse(task).unwrap();
            let n: Vec<usize> = kind.radio_classes().iter().map(|c| classes.get(*c).copied().unwrap_or(0)).collect();
            assert!(n.iter().all(|&x| x == n[0] && x > 0), "{task} {split}: {classes:?}");
        }
    }
    assert_eq!(
        summary.counts.values().flat_map(|s| s.values()).flat_map(|c| c.values()).sum::<usize>(),
        summary.questions
    );
    // Another seed, other scenes.
    let scene = |seed| generate_scene(3, seed, 96, None).unwrap().observed;
    assert_ne!(scene(5), scene(6));
}

#[test]
fn labels_are_true_of_the_noiseless_model() {
    let n = 128;
    for index in 0..PLAN.len() * 2 {
        let s = generate_scene(index, 11, n, None).unwrap();
        let rms = s.rms;
        let b = s.beam.major;
        let id = &s.id;
        // Islands and peaks measured afresh on the truth image the dataset writes.
        let islands = measure::regions(&measure::above(&s.truth, ISLAND_SIGMA * rms), n);
        let peaks = measure::peaks(&s.truth, n, PEAK_SIGMA * rms, b);
        if let Some(label) = s.labels.morphology {
            assert!(s.sky.artefact.is_none());
            assert_eq!(label, format!("{}C-{}P", islands.1.len(), peaks.len()), "{id}");
        }
        if s.recipe == Recipe::Artefact {
            assert!(s.labels.morphology.is_none() && s.labels.anomaly.is_none());
        }
        let kinds: Vec<SourceKind> = s.sky.sources.iter().map(|x| x.kind).collect();
        let galaxy =
            s.sky.sources.iter().find(|x| matches!(x.kind, SourceKind::FrI | SourceKind::FrII | SourceKind::BentTail));
        match s.labels.fr {
            Some("FR-I") => assert!(galaxy.unwrap().fr_ratio.unwrap() < 0.5, "{id}"),
            Some("FR-II") => assert!(galaxy.unwrap().fr_ratio.unwrap() > 0.5, "{id}"),
            Some(other) => panic!("{id}: {other}"),
            None => assert!(galaxy.is_none()),
        }
        if let Some(g) = s.labels.galaxy {
            assert_eq!(g == "YES", galaxy.is_some_and(|x| x.las_px.unwrap() >= 4.0 * b), "{id}");
        }
        let diffuse = s.sky.sources.iter().find(|x| x.kind == SourceKind::Diffuse);
        match s.labels.extended {
            Some("DIFFUSE-LARGE") => assert!(diffuse.unwrap().las_px.unwrap() >= 0.5 * n as f64, "{id}"),
            Some("DIFFUSE") => {
                let d = diffuse.unwrap();
                assert!(d.las_px.unwrap() < 0.5 * n as f64 && d.peak_snr < 10.0, "{id}");
            }
            Some("COMPACT") => {
                assert!(s.sky.components.iter().all(|c| c.part == Part::Point && c.g.major < b), "{id}");
                assert!(s.measures.peaks_per_island.iter().all(|&k| k == 1), "{id}");
            }
            Some("EXTENDED") => assert!(galaxy.is_some(), "{id}"),
            Some(other) => panic!("{id}: {other}"),
            None => {}
        }
        match s.labels.artefact {
            Some("YES") => assert!(s.sky.artefact.unwrap().ridges_detected >= 2, "{id}"),
            Some("NO") => assert!(s.sky.artefact.is_none() && s.measures.peak_snr >= 100.0, "{id}"),
            Some(other) => panic!("{id}: {other}"),
            None => {}
        }
        match s.labels.anomaly {
            Some("ORDINARY") => {
                assert!(!s.sky.has_resolved(s.beam) && s.measures.peaks_per_island.iter().all(|&k| k == 1), "{id}");
            }
            Some("PECULIAR") => assert!(
                kinds.contains(&SourceKind::BentTail)
                    || kinds.contains(&SourceKind::Shell)
                    || s.labels.extended == Some("DIFFUSE-LARGE"),
                "{id}"
            ),
            _ => {}
        }
        if kinds.contains(&SourceKind::Shell) {
            let mask = measure::above(&s.sky.source_model(0, s.beam, n), ISLAND_SIGMA * rms);
            assert!(measure::encloses_hole(&mask, n, 1));
        }
        // Emission keeps clear of the NaN border it was drawn with.
        for (t, o) in s.truth.iter().zip(&s.observed) {
            assert!(o.is_finite() || f64::from(*t) < ISLAND_SIGMA * rms, "{id}: a NaN over emission");
        }
    }
}

#[test]
fn the_fits_file_reads_back_with_its_beam_wcs_and_nan_border() {
    let scene =
        (0..PLAN.len()).map(|i| generate_scene(i, 2, 128, None).unwrap()).find(|s| s.nan_mask.is_some()).unwrap();
    let bytes = fits_bytes(&scene).unwrap();
    let r = crate::io::load_bytes(Path::new("cutout.fits"), &bytes, &crate::io::LoadOptions::default()).unwrap();
    assert_eq!((r.width, r.height), (128, 128));
    assert_eq!(r.meta.unit.as_deref(), Some("Jy/beam"));
    let beam = r.meta.beam.unwrap();
    assert!((beam.major_arcsec - scene.beam.major * scene.pixel_arcsec).abs() < 1e-6);
    assert!((beam.minor_arcsec - scene.beam.minor * scene.pixel_arcsec).abs() < 1e-6);
    assert!((beam.pa_deg - scene.beam.pa_deg).abs() < 1e-9);
    assert!((r.meta.pixel_size.as_ref().unwrap().mean() - scene.pixel_arcsec).abs() < 1e-9);
    let wcs = r.meta.wcs.unwrap();
    assert_eq!(wcs.projection, Projection::Sin);
    let (ra, dec) = wcs.world(63.5, 63.5).unwrap();
    assert!((ra - scene.centre.0).abs() < 1e-9 && (dec - scene.centre.1).abs() < 1e-9);
    // One pixel to the left is east: RA grows.
    assert!(wcs.world(62.5, 63.5).unwrap().0 > ra || scene.centre.1.abs() > 89.0);
    let band = &r.bands[0];
    assert!(band.iter().zip(&scene.observed).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(band.iter().any(|v| v.is_nan()));
    // The PNG is the cutout's size, 8-bit grey.
    let png = display_png(&scene.observed, 128).unwrap();
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height(), img.color()), (128, 128, image::ColorType::L8));
}

/// A FITS noise image with a `beam_px` beam (pixels of 2 arcsec), as a real survey file would be.
fn noise_fits(path: &Path, n: usize, beam_px: f64, seed: u64) {
    let beam = BeamPx { major: beam_px, minor: beam_px, pa_deg: 0.0 };
    let (values, _) = noise::simulated(n, beam, 1e-4, false, &mut crate::sim::rng::Rng::new(seed));
    let deg = |px: f64| CardValue::Float(px * 2.0 / 3600.0);
    let cards = [
        Card::new("BMAJ", deg(beam_px), ""),
        Card::new("BMIN", deg(beam_px), ""),
        Card::new("CDELT1", deg(-1.0), ""),
        Card::new("CDELT2", deg(1.0), ""),
        Card::new("CTYPE1", CardValue::Str("RA---SIN".into()), ""),
        Card::new("CTYPE2", CardValue::Str("DEC--SIN".into()), ""),
        Card::new("BUNIT", CardValue::Str("JY/BEAM".into()), ""),
    ];
    std::fs::write(path, image_f32(n, n, &values, &cards).unwrap()).unwrap();
}

#[test]
fn gpl_and_unlisted_backgrounds_are_skipped_and_real_ones_are_resampled() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("radio");
    std::fs::create_dir(&dir).unwrap();
    noise_fits(&dir.join("afl.fits"), 320, 8.0, 1);
    noise_fits(&dir.join("gpl.fits"), 320, 8.0, 2);
    noise_fits(&dir.join("unlisted.fits"), 320, 8.0, 3);
    std::fs::write(
        root.path().join("MANIFEST.tsv"),
        "path\tsource\tlicence\n\
         radio/afl.fits\tsomewhere\tAFL-3.0 (permissive)\n\
         radio/gpl.fits\tsomewhere\tGPL-3.0-or-later (test data)\n",
    )
    .unwrap();
    let b = Backgrounds::load(&dir, 128, false).unwrap();
    let used: Vec<&str> = b.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(used, ["radio/afl.fits"]);
    let skipped: Vec<(String, String)> =
        b.skipped.iter().map(|s| (s.file.clone(), s.skipped.clone().unwrap())).collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped.iter().any(|(f, why)| f == "radio/gpl.fits" && why.contains("GPL")));
    assert!(skipped.iter().any(|(f, why)| f == "radio/unlisted.fits" && why.contains("licence unknown")));
    let with_gpl = Backgrounds::load(&dir, 128, true).unwrap();
    assert_eq!(with_gpl.files.len(), 2);

    // Real scenes get the file's noise at a beam of 8 x 6/8 = 6 pixels.
    let real: Vec<RadioScene> = (0..12)
        .map(|i| generate_scene(i, 4, 128, Some(&b)).unwrap())
        .filter(|s| matches!(s.background, BackgroundInfo::Real { .. }))
        .collect();
    assert!(!real.is_empty());
    for s in &real {
        assert!((s.beam.major - 6.0).abs() < 1e-9 && (s.pixel_arcsec - 8.0 / 3.0).abs() < 1e-9);
        assert!((s.rms / 1e-4 - 1.0).abs() < 0.25, "{}", s.rms);
    }

    // A listed file that is not an image stops the run, naming the file.
    std::fs::write(dir.join("bad.fits"), b"not a FITS file").unwrap();
    let manifest = std::fs::read_to_string(root.path().join("MANIFEST.tsv")).unwrap() + "radio/bad.fits\tx\tMIT\n";
    std::fs::write(root.path().join("MANIFEST.tsv"), manifest).unwrap();
    let e = Backgrounds::load(&dir, 128, false).unwrap_err().to_string();
    assert!(e.contains("bad.fits"), "{e}");
}

#[test]
fn the_shared_real_radio_files_are_filtered_by_their_licence() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/radio");
    if !dir.is_dir() {
        eprintln!("SKIPPED: no real radio data at {}", dir.display());
        return;
    }
    let b = Backgrounds::load(&dir, 128, false).unwrap();
    assert!(b.files.iter().all(|f| !f.name.contains("caesar")), "GPL files are test-only");
    assert!(
        b.skipped.iter().filter(|s| s.file.contains("caesar")).all(|s| s.skipped.as_deref().unwrap().contains("GPL"))
    );
    assert!(b.files.iter().chain([]).all(|f| f.licence.as_deref().is_some_and(|l| l.starts_with("AFL"))));
}
