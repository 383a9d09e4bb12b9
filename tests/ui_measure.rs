//! The measuring tools driven like a user: contours toggled with I at the image's default levels
//! (-6 dB on an I/N map, nσ on a sky image), a profile dragged across a SpectrumQA scene and checked
//! against the pixels it crosses, a box and a polygon whose statistics match a count over the full
//! data, Esc dropping the shape then the tool, and levels that do not parse reported in the panel.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{click_at, drag, field_text, harness, settle, step_until};

use egui::Pos2;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use heatscope::app::HeatscopeApp;
use heatscope::app::measure::{Drawn, Tool};
use heatscope::stats::region::Region;
use heatscope::types::Raster;

/// A 64 x 64 I/N map in dB: a cone peaking at +10 dB at (40, 24), falling 0.5 dB per pixel.
fn cone_file(dir: &std::path::Path) -> std::path::PathBuf {
    let n = 64;
    let values: Vec<f32> = (0..n * n)
        .map(|i| {
            let (x, y) = ((i % n) as f32 + 0.5, (i / n) as f32 + 0.5);
            10.0 - 0.5 * (x - 40.0).hypot(y - 24.0)
        })
        .collect();
    common::write_npy(dir, "cone.npy", n, n, &values)
}

fn raster(h: &Harness<'static, HeatscopeApp>) -> std::sync::Arc<Raster> {
    std::sync::Arc::clone(&h.state().active_doc().unwrap().loaded.as_ref().unwrap().raster)
}

fn screen(h: &Harness<'static, HeatscopeApp>, p: [f32; 2]) -> Pos2 {
    h.state().active_doc().unwrap().screen_pos(p).expect("the image was drawn")
}

fn key(h: &mut Harness<'static, HeatscopeApp>, key: egui::Key) {
    h.key_press(key);
    h.run_steps(2);
}

/// Pixels whose centre lies inside `inside`, their valid values sorted.
fn brute(r: &Raster, inside: impl Fn(f64, f64) -> bool) -> Vec<f64> {
    let mut v: Vec<f64> = (0..r.height)
        .flat_map(|row| (0..r.width).map(move |col| (col, row)))
        .filter(|&(c, row)| inside(c as f64 + 0.5, row as f64 + 0.5))
        .filter_map(|(c, row)| r.value(0, c as i64, row as i64).map(f64::from))
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

#[test]
fn contours_box_profile_and_polygon_on_an_in_map() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut h) = harness(vec![cone_file(dir.path())]) else { return };
    settle(&mut h);
    let r = raster(&h);

    // I: contours at the I/N map's default level, the protection criterion.
    key(&mut h, egui::Key::I);
    step_until(&mut h, "contours traced", |app| app.active_doc().unwrap().measure.contours.ready().is_some());
    let doc = h.state().active_doc().unwrap();
    assert_eq!(doc.measure.levels.as_deref(), Some("-6 dB"));
    let set = doc.measure.contours.ready().unwrap();
    assert_eq!(set.levels.len(), 1);
    assert_eq!(set.levels[0].value, -6.0);
    // -6 dB is 32 pixels from the peak: the circle leaves the image through its top and right
    // edges twice, so two open arcs.
    let lines = &set.levels[0].lines;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| !l.closed));
    for p in lines.iter().flat_map(|l| &l.points) {
        let d = (p[0] - 40.0).hypot(p[1] - 24.0);
        assert!((d - 32.0).abs() < 0.2, "contour point {p:?} at {d} px from the peak");
    }
    h.get_by_label_contains("2 lines");

    // R: a box, its statistics against a count over the full data.
    key(&mut h, egui::Key::R);
    assert_eq!(h.state().measure.tool, Tool::Rect);
    let (a, b) = (screen(&h, [10.0, 8.0]), screen(&h, [50.0, 40.0]));
    drag(&mut h, a, b);
    step_until(&mut h, "box statistics", |app| app.active_doc().unwrap().measure.stats.ready().is_some());
    let doc = h.state().active_doc().unwrap();
    let Some(Drawn::Region(region @ Region::Rect { .. })) = doc.measure.drawn.clone() else { panic!("no box drawn") };
    let bx = region.bounds();
    assert!((bx[0] - 10.0).abs() < 1.0 && (bx[3] - 40.0).abs() < 1.0, "{bx:?}");
    let want = brute(&r, |x, y| x >= bx[0] && x < bx[2] && y >= bx[1] && y < bx[3]);
    let result = doc.measure.stats.ready().unwrap();
    let stats = result.bands[0].1.as_ref().unwrap();
    assert_eq!(stats.valid, want.len());
    assert_eq!(stats.median, heatscope::stats::quantile::of_sorted(&want, 0.5).unwrap());
    assert_eq!(stats.p95, heatscope::stats::quantile::of_sorted(&want, 0.95).unwrap());
    assert_eq!(stats.max, *want.last().unwrap());
    let share = want.iter().filter(|&&v| v > -6.0).count() as f64 / want.len() as f64;
    assert_eq!(stats.above, Some((-6.0, share)));
    h.get_by_label_contains("median");

    // Esc drops the box, then puts the tool down.
    key(&mut h, egui::Key::Escape);
    assert!(h.state().active_doc().unwrap().measure.drawn.is_none());
    key(&mut h, egui::Key::Escape);
    assert_eq!(h.state().measure.tool, Tool::Inspect);

    // L: a profile through the peak reads the pixels it crosses.
    key(&mut h, egui::Key::L);
    let (a, b) = (screen(&h, [5.5, 24.5]), screen(&h, [60.5, 24.5]));
    drag(&mut h, a, b);
    let doc = h.state().active_doc().unwrap();
    let (_, profiles) = doc.measure.profile.as_ref().expect("a profile");
    let p = &profiles[0].1;
    assert!(p.length > 50.0, "{}", p.length);
    for (px, v) in p.pixels.iter().zip(&p.values) {
        assert_eq!(*v, r.value(0, px[0], px[1]));
    }
    let peak = p.values.iter().flatten().copied().fold(f32::NEG_INFINITY, f32::max);
    assert!(peak > 9.0, "the line through the peak reads {peak}");
    h.get_by_label_contains("Profile:");

    // G: a polygon from three clicks and Enter.
    key(&mut h, egui::Key::G);
    for p in [[8.0, 8.0], [56.0, 12.0], [30.0, 56.0]] {
        let at = screen(&h, p);
        click_at(&mut h, at);
    }
    assert_eq!(h.state().active_doc().unwrap().measure.placing.len(), 3);
    key(&mut h, egui::Key::Enter);
    step_until(&mut h, "polygon statistics", |app| app.active_doc().unwrap().measure.stats.ready().is_some());
    let doc = h.state().active_doc().unwrap();
    let Some(Drawn::Region(Region::Polygon(corners))) = doc.measure.drawn.clone() else { panic!("no polygon") };
    let inside = |x: f64, y: f64| {
        let mut c = false;
        for i in 0..corners.len() {
            let (a, b) = (corners[i], corners[(i + 1) % corners.len()]);
            if (a[1] <= y) != (b[1] <= y) && x < a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]) {
                c = !c;
            }
        }
        c
    };
    let want = brute(&r, inside);
    let stats = doc.measure.stats.ready().unwrap().bands[0].1.clone().unwrap();
    assert_eq!(stats.valid, want.len());
    assert_eq!(stats.median, heatscope::stats::quantile::of_sorted(&want, 0.5).unwrap());
}

#[test]
fn levels_that_do_not_parse_are_reported_and_the_app_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut h) = harness(vec![cone_file(dir.path())]) else { return };
    settle(&mut h);
    key(&mut h, egui::Key::I);
    step_until(&mut h, "contours traced", |app| app.active_doc().unwrap().measure.contours.ready().is_some());
    h.get_by_role_and_label(Role::TextInput, "Contour levels").focus();
    h.run_steps(1);
    field_text(&mut h, "-6 dB, banana");
    step_until(&mut h, "the bad level reported", |app| app.active_doc().unwrap().measure.contours.failure().is_some());
    let why = h.state().active_doc().unwrap().measure.contours.failure().unwrap().to_string();
    assert!(why.contains("banana"), "{why}");
    h.get_by_label_contains("banana");
    // A level beyond the data draws nothing and says so; the app keeps its image.
    field_text(&mut h, "40");
    step_until(&mut h, "contours traced", |app| app.active_doc().unwrap().measure.contours.ready().is_some());
    assert_eq!(h.state().active_doc().unwrap().measure.contours.ready().unwrap().line_count(), 0);
    h.get_by_label_contains("No line");
}

#[test]
fn a_profile_across_a_spectrumqa_scene_and_contours_on_real_radio_images() {
    // The bundled SpectrumQA scenes: a profile across the first one's observed I/N grid.
    let scenes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples/spectrumqa/scenes");
    let mut grids: Vec<_> =
        std::fs::read_dir(&scenes).unwrap().flatten().map(|e| e.path().join("observed.npy")).collect();
    grids.sort();
    let Some(mut h) = harness(vec![grids[0].clone()]) else { return };
    settle(&mut h);
    let r = raster(&h);
    key(&mut h, egui::Key::L);
    let (w, ht) = (r.width as f32, r.height as f32);
    let (a, b) = (screen(&h, [0.5, 0.5]), screen(&h, [w - 0.5, ht - 0.5]));
    drag(&mut h, a, b);
    let doc = h.state().active_doc().unwrap();
    let (_, profiles) = doc.measure.profile.as_ref().expect("a profile");
    let p = &profiles[0].1;
    assert!(p.values.len() as f32 >= w, "{} samples across {w} px", p.values.len());
    assert_eq!(p.pixels.first(), Some(&[0, 0]));
    assert_eq!(p.pixels.last(), Some(&[r.width as i64 - 1, r.height as i64 - 1]));
    for (px, v) in p.pixels.iter().zip(&p.values) {
        assert_eq!(*v, r.value(0, px[0], px[1]));
    }

    // Real radio images: 3σ contours lie where the data crosses the level.
    let Some(real) = common::real_data() else { return };
    for name in ["aegean_1904-66_SIN.fits", "caesar_ScorpioS17Field.fits"] {
        let path = real.join("radio").join(name);
        let r = heatscope::io::load(&path, &heatscope::io::LoadOptions::default()).unwrap();
        let basis = heatscope::stats::contour::LevelBasis::of(&r, 0);
        let level = basis.resolve(heatscope::stats::contour::LevelSpec::Sigma(3.0)).unwrap();
        let (_, sigma) = basis.noise().unwrap();
        assert!(sigma > 0.0);
        let lines =
            heatscope::stats::contour::trace(&r, 0, level, 4_000_000, &std::sync::atomic::AtomicBool::new(false))
                .unwrap();
        assert!(lines.len() > 5, "{name}: {} lines", lines.len());
        for line in &lines {
            for p in &line.points {
                // On a cell edge between two pixel centres that bracket the level.
                let (x, y) = (f64::from(p[0]) - 0.5, f64::from(p[1]) - 0.5);
                let (c, row) = (x.floor() as i64, y.floor() as i64);
                let (a, b) = if (x - x.round()).abs() < 1e-4 {
                    (r.value(0, x.round() as i64, row), r.value(0, x.round() as i64, row + 1))
                } else {
                    (r.value(0, c, y.round() as i64), r.value(0, c + 1, y.round() as i64))
                };
                let (a, b) = (f64::from(a.unwrap()), f64::from(b.unwrap()));
                assert!(a.min(b) <= level + 1e-6 && a.max(b) >= level - 1e-6, "{name}: {p:?} between {a} and {b}");
            }
        }
    }
}
