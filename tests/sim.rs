//! SpectrumQA-sim as a user meets it: the generator is reproducible to the byte, its I/N agrees with a
//! link budget worked by hand, the labels meet the benchmark's definitions, and the datasets it writes
//! open in heatscope's own loader.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::path::Path;

use heatscope::render::Colormap;
use heatscope::sim::antenna::SpotBeam;
use heatscope::sim::field::{earth_point, pixel_xy, site_interference_dbw};
use heatscope::sim::labels::{MIN_REGION_SHARE, PROTECTION_DB, SEVERITY_THRESHOLDS, severity_class};
use heatscope::sim::propagation::{fspl_db, noise_dbw, tr38811_clutter};
use heatscope::sim::rng::Rng;
use heatscope::sim::{
    DatasetOptions, Scenario, TruthOptions, compute_truth, generate_scene, sample_layout, split_of, write_dataset,
};
use heatscope::types::{QuestionKind, Split};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn write(dir: &Path, seed: u64, threads: usize) -> heatscope::sim::DatasetSummary {
    let opts = DatasetOptions {
        scenarios: Scenario::ALL.to_vec(),
        scenes: 4,
        seed,
        size: 32,
        variants: Default::default(),
        threads,
    };
    write_dataset(dir, &opts, &Colormap::Turbo.table(), &|_, _| true).unwrap()
}

#[test]
fn same_seed_gives_the_same_bytes_whatever_the_thread_count() {
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(a.path(), 11, 1);
    write(b.path(), 11, 3);
    write(c.path(), 12, 2);
    let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
    assert_eq!(fa.len(), 3 + 12 * 4, "{:?}", fa.keys().collect::<Vec<_>>());
    assert!(fa == fb, "same seed, different bytes");
    assert_ne!(fa["manifest.jsonl"], fc["manifest.jsonl"]);
    assert_ne!(fa["scenes/leo-urban-00000/truth.npy"], fc["scenes/leo-urban-00000/truth.npy"]);
}

#[test]
fn written_grids_open_in_the_viewer_and_match_the_generator() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 5, 2);
    let scene = generate_scene(Scenario::HapsCoastal, 2, 5, 32);
    for (file, grid) in [("truth.npy", &scene.truth.in_db), ("observed.npy", &scene.observation.in_db)] {
        let path = dir.path().join("scenes/haps-coastal-00002").join(file);
        let r = heatscope::io::load(&path, &heatscope::io::LoadOptions::default()).unwrap();
        assert_eq!((r.width, r.height, r.bands.len()), (32, 32, 1));
        assert_eq!(&r.bands[0], grid);
    }
    let png = image::open(dir.path().join("scenes/haps-coastal-00002/observed.png")).unwrap();
    assert_eq!((png.width(), png.height()), (32, 32));
    let llava: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("llava.json")).unwrap()).unwrap();
    let first = &llava[0]["conversations"];
    assert!(first[0]["value"].as_str().unwrap().starts_with("<image>\n"));
    assert_eq!(first[1]["from"], "gpt");
}

#[test]
fn cancelling_stops_generation_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DatasetOptions {
        scenarios: vec![Scenario::GeoRural],
        scenes: 50,
        seed: 0,
        size: 32,
        variants: Default::default(),
        threads: 1,
    };
    let r = write_dataset(dir.path(), &opts, &Colormap::Turbo.table(), &|done, _| done < 3);
    assert!(matches!(r, Err(heatscope::sim::SimError::Cancelled)));
    assert!(!dir.path().join("dataset.json").exists());
}

/// The link budget of one pixel, written out term by term, without shadowing.
fn by_hand(scenario: Scenario, layout: &heatscope::sim::Layout, size: usize, r: usize, c: usize) -> f64 {
    let p = scenario.params();
    let v = p.victim;
    let (x, y) = pixel_xy(size, p.area_m, r, c);
    let noise = noise_dbw(v.noise_temp_k, v.bandwidth_hz) + layout.channel_isolation_db;
    let mut watts = 0.0;
    let pl = &layout.platform;
    let sat = earth_point(pl.sub_x_m, pl.sub_y_m, pl.altitude_m);
    let ground = earth_point(x, y, v.height_m);
    let to_sat: Vec<f64> = (0..3).map(|k| sat[k] - ground[k]).collect();
    let slant = to_sat.iter().map(|t| t * t).sum::<f64>().sqrt();
    let gnorm = ground.iter().map(|t| t * t).sum::<f64>().sqrt();
    let elev = ((0..3).map(|k| to_sat[k] * ground[k]).sum::<f64>() / (slant * gnorm)).asin().to_degrees();
    let env = layout.clutter_env(scenario, x, y);
    for b in &pl.beams {
        let aim = earth_point(b.aim_x_m, b.aim_y_m, 0.0);
        let u: Vec<f64> = (0..3).map(|k| ground[k] - sat[k]).collect();
        let w: Vec<f64> = (0..3).map(|k| aim[k] - sat[k]).collect();
        let cosang = (0..3).map(|k| u[k] * w[k]).sum::<f64>()
            / (u.iter().map(|t| t * t).sum::<f64>().sqrt() * w.iter().map(|t| t * t).sum::<f64>().sqrt());
        let psi = cosang.clamp(-1.0, 1.0).acos().to_degrees();
        let beam = SpotBeam { ..b.antenna };
        let dbw = b.eirp_dbw_per_mhz - beam.peak_dbi + beam.gain_dbi(psi) + 10.0 * (v.bandwidth_hz / 1e6).log10()
            - fspl_db(slant, p.freq_hz)
            - tr38811_clutter(env, elev).mean_db
            + v.antenna.gain_dbi(elev);
        watts += 10f64.powf(dbw / 10.0);
    }
    for s in &layout.sites {
        let land = layout.coast.as_ref().is_none_or(|co| co.is_land(x, y));
        watts += 10f64.powf(site_interference_dbw(s, x, y, v.height_m, land, &p).0 / 10.0);
    }
    10.0 * watts.log10() - noise
}

/// The benchmark's physics without shadow fading: the mean path a hand budget computes.
const MEAN_PATH: TruthOptions =
    TruthOptions { shadowing: false, clutter_scale: 1.0, shadow_scale: 1.0, obstruction: None };

#[test]
fn generator_matches_the_hand_link_budget_at_three_pixels_per_scenario() {
    let size = 64;
    for scenario in Scenario::ALL {
        let layout = sample_layout(scenario, &mut Rng::new(21));
        let truth = compute_truth(scenario, &layout, size, MEAN_PATH, &mut Rng::new(1));
        for (r, c) in [(0, 0), (31, 40), (63, 17)] {
            let want = by_hand(scenario, &layout, size, r, c);
            let got = f64::from(truth.in_db[r * size + c]);
            assert!(
                (got - want).abs() < 0.1,
                "{scenario:?} pixel ({r}, {c}): generator {got:.3} dB, by hand {want:.3}"
            );
        }
    }
}

#[test]
fn nadir_pixel_under_a_haps_beam_is_a_plain_free_space_budget() {
    // A HAPS straight above the pixel, beam aimed at it: I = EIRP + 10 log B - FSPL(h) - clutter(90).
    let scenario = Scenario::HapsCoastal;
    let mut layout = sample_layout(scenario, &mut Rng::new(2));
    let size = 32;
    let p = scenario.params();
    let (x, y) = pixel_xy(size, p.area_m, 16, 16);
    layout.platform.sub_x_m = x;
    layout.platform.sub_y_m = y;
    layout.platform.beams.truncate(1);
    layout.platform.beams[0].aim_x_m = x;
    layout.platform.beams[0].aim_y_m = y;
    layout.sites.clear();
    layout.channel_isolation_db = 0.0;
    let truth = compute_truth(scenario, &layout, size, MEAN_PATH, &mut Rng::new(1));
    let h = layout.platform.altitude_m - p.victim.height_m;
    let env = layout.clutter_env(scenario, x, y);
    let expected = layout.platform.beams[0].eirp_dbw_per_mhz + 10.0 * (p.victim.bandwidth_hz / 1e6).log10()
        - fspl_db(h, p.freq_hz)
        - tr38811_clutter(env, 90.0).mean_db
        + p.victim.antenna.gain_dbi(90.0)
        - noise_dbw(p.victim.noise_temp_k, p.victim.bandwidth_hz);
    let got = f64::from(truth.in_db[16 * size + 16]);
    assert!((got - expected).abs() < 0.05, "{got} vs {expected}");
}

#[test]
fn labels_follow_the_benchmark_definitions() {
    let size = 48;
    let mut classes = [[0usize; 4]; 3];
    let mut none = 0;
    let mut total = 0;
    for (si, scenario) in Scenario::ALL.into_iter().enumerate() {
        for i in 0..40 {
            let s = generate_scene(scenario, i, 1, size);
            total += 1;
            // L1 from the true field's affected share.
            let affected = s.truth.in_db.iter().filter(|&&v| v > PROTECTION_DB).count();
            let share = affected as f64 / (size * size) as f64;
            assert!((s.labels.affected_share - share).abs() < 1e-12);
            assert_eq!(s.labels.severity, severity_class(share));
            classes[si][s.labels.severity] += 1;
            // L3: a box exactly when the largest region is big enough; the box holds affected pixels.
            match s.labels.region_box {
                None => none += 1,
                Some(b) => {
                    let (c0, r0) = ((b[0] * size as f32) as usize, (b[1] * size as f32) as usize);
                    let (c1, r1) = ((b[2] * size as f32) as usize, (b[3] * size as f32) as usize);
                    let inside = (r0..r1)
                        .flat_map(|r| (c0..c1).map(move |c| (r, c)))
                        .filter(|&(r, c)| s.truth.in_db[r * size + c] > PROTECTION_DB)
                        .count();
                    assert!(inside as f64 >= MIN_REGION_SHARE * (size * size) as f64);
                }
            }
            // Questions: L1, two L2 "affected", L3 and L4 always; answers from the truth.
            let kinds: Vec<QuestionKind> = s.questions.iter().map(|q| q.kind).collect();
            for k in [QuestionKind::Severity, QuestionKind::Localize, QuestionKind::Explain] {
                assert_eq!(kinds.iter().filter(|&&x| x == k).count(), 1);
            }
            assert_eq!(kinds.iter().filter(|&&x| x == QuestionKind::RegionAffected).count(), 2);
            for q in &s.questions {
                if q.kind == QuestionKind::WhichWorse {
                    let idx: Vec<usize> = q
                        .choices
                        .iter()
                        .map(|c| heatscope::types::REGIONS.iter().position(|r| r == c).unwrap())
                        .collect();
                    assert!((s.labels.region_p95_db[idx[0]] - s.labels.region_p95_db[idx[1]]).abs() > 1.0);
                }
                if q.kind == QuestionKind::Explain {
                    assert!(q.concepts.iter().any(|c| c.starts_with("source:")), "{}", q.answer);
                    assert!(q.concepts.iter().any(|c| c.starts_with("mitigation:")), "{}", q.answer);
                }
            }
        }
    }
    // Balance (the full check runs `heatscope data thresholds`; see docs/spectrumqa-sim.md): every class
    // present in every scenario, "none" rare.
    for (si, c) in classes.iter().enumerate() {
        assert!(c.iter().all(|&n| n >= 2), "{:?}: {c:?} with thresholds {SEVERITY_THRESHOLDS:?}", Scenario::ALL[si]);
    }
    assert!((none as f64) < 0.15 * total as f64, "{none} of {total} scenes have no L3 region");
}

#[test]
fn every_scenario_has_all_three_splits_in_any_20_scenes() {
    let splits: Vec<Split> = (0..20).map(split_of).collect();
    assert_eq!(splits.iter().filter(|&&s| s == Split::Train).count(), 14);
    assert_eq!(splits.iter().filter(|&&s| s == Split::Val).count(), 3);
    assert_eq!(splits.iter().filter(|&&s| s == Split::Test).count(), 3);
}
