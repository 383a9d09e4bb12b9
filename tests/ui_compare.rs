//! Two images compared like a user would: V puts the image shown before beside the active one, a
//! drag on either pans both (a half-size image by its extent), the cursor over one is a cross and a
//! readout in the other, V again swipes (dragging the line moves it, not the view) and V stops; on a
//! SpectrumQA-sim sample "True vs observed" opens the scene's true map beside the observed one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{drag, harness, settle, settle_samples, step_until};

use egui::Pos2;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use heatscope::app::HeatscopeApp;
use heatscope::app::compare::Mode;

fn grid(dir: &std::path::Path, name: &str, w: usize, h: usize) -> std::path::PathBuf {
    let values: Vec<f32> = (0..w * h).map(|i| ((i % w) * 100 / w + (i / w) * 1000 / h) as f32).collect();
    common::write_npy(dir, name, w, h, &values)
}

fn screen(h: &Harness<'static, HeatscopeApp>, id: u64, p: [f32; 2]) -> Pos2 {
    h.state().docs.iter().find(|d| d.id == id).unwrap().screen_pos(p).expect("drawn")
}

fn transform(h: &Harness<'static, HeatscopeApp>, id: u64) -> heatscope::render::ViewTransform {
    h.state().docs.iter().find(|d| d.id == id).unwrap().transform.expect("a view")
}

#[test]
fn side_by_side_and_swipe_link_the_views() {
    let dir = tempfile::tempdir().unwrap();
    let small = grid(dir.path(), "small.npy", 40, 30);
    let big = grid(dir.path(), "big.npy", 80, 60);
    let Some(mut h) = harness(vec![small.clone(), big.clone()]) else { return };
    settle(&mut h);
    // The last opened is active; the first was shown before it.
    let (id_small, id_big) = {
        let app = h.state();
        (app.docs.iter().find(|d| d.path == small).unwrap().id, app.docs.iter().find(|d| d.path == big).unwrap().id)
    };
    h.state_mut().active = Some(id_small);
    h.run_steps(2);
    h.state_mut().active = Some(id_big);
    h.run_steps(2);
    h.key_press(egui::Key::V);
    h.run_steps(3);
    let c = h.state().compare.clone().expect("comparing");
    assert_eq!((c.other, c.mode), (id_small, Mode::SideBySide));

    // A drag on the big (left) view pans both, the small one by half as many image pixels.
    let (a, b) = (screen(&h, id_big, [40.0, 30.0]), screen(&h, id_big, [20.0, 10.0]));
    drag(&mut h, a, b);
    let (tb, ts) = (transform(&h, id_big), transform(&h, id_small));
    assert!(tb.origin[0] > 5.0, "the big view panned: {tb:?}");
    assert!(
        (ts.origin[0] - tb.origin[0] / 2.0).abs() < 1e-3 && (ts.origin[1] - tb.origin[1] / 2.0).abs() < 1e-3,
        "{tb:?} vs {ts:?}"
    );
    assert!((ts.zoom - tb.zoom * 2.0).abs() < 1e-4);

    // The cursor over pixel (50, 40) of the big image reads pixel (25, 20) of the small one.
    let at = screen(&h, id_big, [50.5, 40.5]);
    h.hover_at(at);
    h.run_steps(2);
    let cursor = h.state().compare.as_ref().unwrap().cursor.unwrap();
    assert!((cursor[0] - 50.5 / 80.0).abs() < 0.01 && (cursor[1] - 40.5 / 60.0).abs() < 0.01, "{cursor:?}");
    h.get_by_label_contains("row 20, col 25");
    h.get_by_label_contains("row 40, col 50");

    // V: swipe. A drag that starts on the line moves the line, and the view stays.
    h.key_press(egui::Key::V);
    h.run_steps(3);
    assert_eq!(h.state().compare.as_ref().unwrap().mode, Mode::Swipe);
    let before = transform(&h, id_big);
    let (left, right) = (screen(&h, id_big, [0.0, 30.0]), screen(&h, id_big, [80.0, 30.0]));
    let line = left.lerp(right, 0.5);
    drag(&mut h, line, left.lerp(right, 0.8));
    let swipe = h.state().compare.as_ref().unwrap().swipe;
    assert!((swipe - 0.8).abs() < 0.05, "the line moved to {swipe}");
    assert_eq!(transform(&h, id_big), before, "dragging the line does not pan");

    h.key_press(egui::Key::V);
    h.run_steps(2);
    assert!(h.state().compare.is_none());
}

#[test]
fn true_vs_observed_on_a_sample() {
    let dataset = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples/spectrumqa");
    let Some(mut h) = harness(vec![dataset]) else { return };
    settle_samples(&mut h);
    h.state_mut().compare_truth();
    step_until(&mut h, "the true map open and compared", |app| {
        app.compare.is_some() && app.docs.iter().all(|d| d.loaded.is_some())
    });
    let app = h.state();
    let other = app.docs.iter().find(|d| d.id == app.compare.as_ref().unwrap().other).unwrap();
    assert!(other.path.ends_with("truth.npy"), "{}", other.path.display());
    assert!(app.active_doc().unwrap().path.ends_with("observed.npy"));
}
