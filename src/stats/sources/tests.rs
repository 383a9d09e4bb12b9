//! The finder on simulated sky: beam-correlated noise with Gaussian sources injected through the
//! beam, whose positions, peaks and fluxes are known.

use std::sync::atomic::AtomicBool;

use super::*;
use crate::sim::rng::Rng;
use crate::types::{Beam, PixelSize, PixelUnit, RasterMeta};

/// White noise smoothed by a circular Gaussian beam of `fwhm` pixels, scaled to unit rms.
pub(crate) fn beam_noise(w: usize, h: usize, fwhm: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let white: Vec<f64> = (0..w * h).map(|_| rng.normal()).collect();
    let sigma = fwhm / FWHM_PER_SIGMA;
    let half = (3.0 * sigma).ceil() as i64;
    let kernel: Vec<f64> = (-half..=half).map(|k| (-0.5 * (k as f64 / sigma).powi(2)).exp()).collect();
    let blur = |src: &[f64], along_rows: bool| -> Vec<f64> {
        let mut out = vec![0.0; w * h];
        for r in 0..h as i64 {
            for c in 0..w as i64 {
                let mut s = 0.0;
                for (k, wk) in kernel.iter().enumerate() {
                    let d = k as i64 - half;
                    let (cc, rr) =
                        if along_rows { ((c + d).rem_euclid(w as i64), r) } else { (c, (r + d).rem_euclid(h as i64)) };
                    s += wk * src[(rr * w as i64 + cc) as usize];
                }
                out[(r * w as i64 + c) as usize] = s;
            }
        }
        out
    };
    let smooth = blur(&blur(&white, true), false);
    let rms = (smooth.iter().map(|v| v * v).sum::<f64>() / smooth.len() as f64).sqrt();
    smooth.iter().map(|v| (v / rms) as f32).collect()
}

/// Adds a circular Gaussian of `peak` and `fwhm` pixels at (x, y).
pub(crate) fn add_gaussian(data: &mut [f32], w: usize, x: f64, y: f64, peak: f64, fwhm: f64) {
    let h = data.len() / w;
    let sigma = fwhm / FWHM_PER_SIGMA;
    let reach = (5.0 * sigma).ceil() as i64;
    for r in (y as i64 - reach).max(0)..=(y as i64 + reach).min(h as i64 - 1) {
        for c in (x as i64 - reach).max(0)..=(x as i64 + reach).min(w as i64 - 1) {
            let d2 = (c as f64 - x).powi(2) + (r as f64 - y).powi(2);
            data[r as usize * w + c as usize] += (peak * (-0.5 * d2 / sigma.powi(2)).exp()) as f32;
        }
    }
}

/// A Jy/beam raster with 2 arcsec pixels and a circular beam of `fwhm` pixels.
fn sky(w: usize, h: usize, data: Vec<f32>, fwhm: f64) -> Raster {
    let meta = RasterMeta {
        unit: Some("Jy/beam".into()),
        pixel_size: Some(PixelSize {
            x: 2.0,
            y: 2.0,
            unit: PixelUnit::Arcsec,
            source: "test".into(),
            approximate: false,
        }),
        beam: Some(Beam { major_arcsec: 2.0 * fwhm, minor_arcsec: 2.0 * fwhm, pa_deg: 0.0 }),
        ..RasterMeta::default()
    };
    Raster::new(w, h, vec![data], meta)
}

#[test]
fn injected_sources_at_seven_sigma_and_above_are_found() {
    let (w, h, fwhm) = (480, 480, 4.0);
    let mut data = beam_noise(w, h, fwhm, 11);
    let mut rng = Rng::new(12);
    let mut injected = Vec::new();
    for gy in 0..19 {
        for gx in 0..19 {
            let x = 20.0 + 23.0 * gx as f64 + rng.range(-3.0, 3.0);
            let y = 20.0 + 23.0 * gy as f64 + rng.range(-3.0, 3.0);
            let snr = rng.range(7.0, 30.0);
            add_gaussian(&mut data, w, x, y, snr, fwhm);
            injected.push((x, y, snr));
        }
    }
    let cat = find_sources(&sky(w, h, data, fwhm), 0, &FinderOptions::default(), &AtomicBool::new(false)).unwrap();
    let found = injected
        .iter()
        .filter(|&&(x, y, _)| cat.islands.iter().flat_map(|i| &i.peaks).any(|p| (p.x - x).hypot(p.y - y) <= 0.5 * fwhm))
        .count();
    let recall = found as f64 / injected.len() as f64;
    assert!(recall >= 0.95, "found {found} of {} ({recall:.3})", injected.len());
    // Every island is an injected source: none sits further than a beam from one.
    for island in &cat.islands {
        let p = &island.peaks[0];
        assert!(
            injected.iter().any(|&(x, y, _)| (p.x - x).hypot(p.y - y) <= fwhm),
            "spurious island at {:.1},{:.1}",
            p.x,
            p.y
        );
    }
    assert!((cat.rms - 1.0).abs() < 0.1, "rms {}", cat.rms);
    assert!(cat.negative_islands <= 2, "{} negative islands on clean noise", cat.negative_islands);
}

#[test]
fn a_bright_source_gets_its_flux_size_and_peak() {
    let (w, h, fwhm) = (160, 160, 5.0);
    let mut data: Vec<f32> = beam_noise(w, h, fwhm, 5).iter().map(|v| v * 1e-3).collect();
    // 0.5 Jy point source: peak 0.5 Jy/beam, integrated 0.5 Jy.
    add_gaussian(&mut data, w, 70.3, 90.6, 0.5, fwhm);
    let cat = find_sources(&sky(w, h, data, fwhm), 0, &FinderOptions::default(), &AtomicBool::new(false)).unwrap();
    assert_eq!(cat.islands.len(), 1, "{:?}", cat.islands.iter().map(|i| (i.x, i.y)).collect::<Vec<_>>());
    let island = &cat.islands[0];
    assert_eq!(island.peaks.len(), 1);
    assert!((island.peaks[0].value - 0.5).abs() < 0.02, "peak {}", island.peaks[0].value);
    let flux = island.flux.unwrap();
    assert!((flux - 0.5).abs() < 0.02, "flux {flux} +- {:?}", island.flux_error);
    assert!((island.x - 70.3).abs() < 0.1 && (island.y - 90.6).abs() < 0.1);
    // A point source is as wide as the beam.
    assert!((island.major_px - fwhm).abs() < 0.5 && (island.minor_px - fwhm).abs() < 0.5, "{island:?}");
    assert!(island.contains(70, 90, w) && !island.contains(10, 10, w));
    assert_eq!(cat.island_at(70, 91).map(|i| i.id), Some(1));
    // Outline: the island's boundary is closed, each corner met by an even number of segments.
    let mut ends = std::collections::HashMap::new();
    for [a, b] in island.outline(w) {
        for p in [a, b] {
            *ends.entry((p[0] as i64, p[1] as i64)).or_insert(0) += 1;
        }
    }
    assert!(ends.values().all(|n| n % 2 == 0));
}

#[test]
fn a_double_source_is_one_island_with_two_peaks_or_two_islands() {
    let (w, h, fwhm) = (128, 128, 4.0);
    let mut touching = beam_noise(w, h, fwhm, 8);
    add_gaussian(&mut touching, w, 54.0, 64.0, 40.0, fwhm);
    add_gaussian(&mut touching, w, 61.0, 64.0, 25.0, fwhm);
    let cat = find_sources(&sky(w, h, touching, fwhm), 0, &FinderOptions::default(), &AtomicBool::new(false)).unwrap();
    assert_eq!(cat.islands.len(), 1);
    assert_eq!(cat.islands[0].peaks.len(), 2);
    assert!((cat.islands[0].peaks[0].x - 54.0).abs() <= 1.0 && (cat.islands[0].peaks[1].x - 61.0).abs() <= 1.0);

    let mut apart = beam_noise(w, h, fwhm, 9);
    add_gaussian(&mut apart, w, 30.0, 64.0, 40.0, fwhm);
    add_gaussian(&mut apart, w, 90.0, 64.0, 25.0, fwhm);
    let cat = find_sources(&sky(w, h, apart, fwhm), 0, &FinderOptions::default(), &AtomicBool::new(false)).unwrap();
    assert_eq!(cat.islands.len(), 2);
    assert_eq!(cat.peak_count(), 2);
}

#[test]
fn bad_options_and_empty_images_are_errors() {
    let raster = sky(16, 16, vec![f32::NAN; 256], 3.0);
    let none = AtomicBool::new(false);
    assert!(matches!(find_sources(&raster, 0, &FinderOptions::default(), &none), Err(SourceError::NoNoise)));
    assert!(matches!(find_sources(&raster, 1, &FinderOptions::default(), &none), Err(SourceError::NoBand { .. })));
    let backwards = FinderOptions { seed_sigma: 2.0, flood_sigma: 3.0, ..FinderOptions::default() };
    assert!(matches!(find_sources(&raster, 0, &backwards, &none), Err(SourceError::BadThresholds { .. })));
    let cancelled = AtomicBool::new(true);
    let noise = sky(64, 64, beam_noise(64, 64, 3.0, 1), 3.0);
    assert!(matches!(find_sources(&noise, 0, &FinderOptions::default(), &cancelled), Err(SourceError::Cancelled)));
}

#[test]
fn a_cutout_keeps_values_beam_and_sky_positions() {
    let (w, h) = (60, 40);
    let data: Vec<f32> = (0..w * h).map(|i| i as f32).collect();
    let mut raster = sky(w, h, data, 3.0);
    raster.meta.wcs = Some(crate::types::CelestialWcs {
        crpix: [30.0, 20.0],
        crval: [150.0, -30.0],
        cd: [-1e-3, 0.0, 0.0, 1e-3],
        projection: crate::types::Projection::Sin,
        height: h,
    });
    let cut = cutout(&raster, 0, 50.0, 10.0, 16);
    assert_eq!((cut.width, cut.height), (16, 16));
    // Column 42, row 2 of the image is column 0, row 0 of the cutout.
    assert_eq!(cut.value(0, 0, 0), raster.value(0, 42, 2));
    assert_eq!(cut.value(0, 10, 5), raster.value(0, 52, 7));
    // Off the image's right edge: nodata.
    assert_eq!(cut.value(0, 15, 0), raster.value(0, 57, 2));
    assert!(cut.value(0, 15, 0).is_some());
    let off = cutout(&raster, 0, 58.0, 10.0, 16);
    assert_eq!(off.value(0, 15, 5), None);
    assert_eq!(cut.meta.beam, raster.meta.beam);
    let (a, b) = (cut.meta.wcs.unwrap().world(3.0, 4.0).unwrap(), raster.meta.wcs.unwrap().world(45.0, 6.0).unwrap());
    assert!((a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9, "{a:?} vs {b:?}");
}
