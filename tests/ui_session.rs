//! Sessions driven like a user: two images with their own colormap, range, view, contour levels and
//! a drawn box, saved with Ctrl+S through the Save session window, then a fresh app opened on the
//! .heatscope file restores all of it (the loader's defaults do not override it); a session whose
//! image has gone is restored without it and says so; a damaged session file is reported and the app
//! keeps going.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{field_text, harness, settle, step_until};

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use heatscope::app::compare::Mode;
use heatscope::app::measure::{Drawn, Tool};
use heatscope::app::{Command, HeatscopeApp};
use heatscope::render::{Colormap, ViewTransform};
use heatscope::stats::RangeMode;
use heatscope::stats::region::Region;

fn grid(dir: &std::path::Path, name: &str, offset: f32) -> std::path::PathBuf {
    let values: Vec<f32> = (0..48 * 32).map(|i| (i % 48) as f32 + offset).collect();
    common::write_npy(dir, name, 48, 32, &values)
}

fn restored(app: &HeatscopeApp) -> bool {
    app.docs.len() == 2 && app.docs.iter().all(|d| d.loaded.is_some() && d.ranges_ready())
}

#[test]
fn a_saved_session_restores_images_views_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (grid(dir.path(), "a.npy", 0.0), grid(dir.path(), "b.npy", 100.0));
    let Some(mut h) = harness(vec![a.clone(), b.clone()]) else { return };
    settle(&mut h);
    let view = ViewTransform { origin: [3.0, 4.0], zoom: 2.5, ..ViewTransform::fit([48, 32], [400.0, 300.0]) };
    {
        let app = h.state_mut();
        let (id_a, id_b) =
            (app.docs.iter().find(|d| d.path == a).unwrap().id, app.docs.iter().find(|d| d.path == b).unwrap().id);
        app.active = Some(id_a);
        app.compare_with(Some(id_b), Mode::Swipe);
        app.compare.as_mut().unwrap().swipe = 0.3;
        let first = app.docs.iter_mut().find(|d| d.path == a).unwrap();
        first.settings.colormap = Colormap::ALL[3];
        first.range = [RangeMode::Manual(5.0, 20.0); 3];
        first.transform = Some(view);
        first.measure.levels = Some("p75".into());
        first.measure.drawn = Some(Drawn::Region(Region::Rect { x0: 2.0, y0: 3.0, x1: 20.0, y1: 9.0 }));
        first.pinned = Some([7, 8]);
        let first_id = first.id;
        app.active = Some(first_id);
        app.measure.show_contours = true;
        app.measure.tool = Tool::Polygon;
        app.show_annotations = false;
    }
    h.run_steps(2);
    let saved = h.state().session();

    // Ctrl+S with no session file yet asks where; the path typed there is written.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    h.run_steps(2);
    let path = dir.path().join("work.heatscope");
    h.get_by_role_and_label(Role::TextInput, "Session path").focus();
    h.run_steps(1);
    field_text(&mut h, &path.display().to_string());
    h.get_by_label("Save").click();
    h.run_steps(1);
    step_until(&mut h, "the session written", |app| app.session.path.is_some() && !app.session.saving.is_loading());
    assert!(path.is_file());
    assert!(h.state().messages.iter().any(|m| m.text.contains("saved the session")), "{:?}", h.state().messages);

    // A fresh app opened on the file.
    let Some(mut h2) = harness(vec![path.clone()]) else { return };
    step_until(&mut h2, "the session restored", restored);
    settle(&mut h2);
    let again = h2.state().session();
    assert_eq!(again.images.len(), 2);
    for (x, y) in again.images.iter().zip(&saved.images) {
        assert_eq!(x.path, y.path);
        assert_eq!(x.settings.colormap, y.settings.colormap);
        assert_eq!(x.range, y.range);
        assert_eq!(x.pinned, y.pinned);
        assert_eq!(x.contour_levels, y.contour_levels);
        assert_eq!(x.drawn, y.drawn);
    }
    let first = h2.state().docs.iter().find(|d| d.path == a).unwrap();
    assert_eq!(first.transform, Some(view), "the view is the one saved, not a fresh fit");
    assert_eq!((first.settings.lo[0], first.settings.hi[0]), (5.0, 20.0));
    assert_eq!(h2.state().active, Some(first.id));
    assert_eq!(again.panels, saved.panels);
    let c = h2.state().compare.clone().expect("the comparison restored");
    assert_eq!((c.mode, c.swipe), (Mode::Swipe, 0.3));
    assert_eq!(h2.state().docs.iter().find(|d| d.id == c.other).unwrap().path, b);
    assert_eq!(h2.state().session.path.as_deref(), Some(path.as_path()));
    // The restored box is measured again.
    step_until(&mut h2, "the box statistics", |app| app.active_doc().unwrap().measure.stats.ready().is_some());
}

#[test]
fn a_missing_image_or_a_damaged_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let a = grid(dir.path(), "a.npy", 0.0);
    let gone = dir.path().join("gone.npy");
    let session = serde_json::json!({
        "heatscope_session": 1,
        "images": [
            {"path": gone, "settings": heatscope::render::DisplaySettings::default(), "range": ["MinMax", "MinMax", "MinMax"]},
            {"path": a, "settings": heatscope::render::DisplaySettings::default(), "range": ["ZScale", "ZScale", "ZScale"]}
        ],
        "active": 1
    });
    let file = dir.path().join("s.heatscope");
    std::fs::write(&file, serde_json::to_string(&session).unwrap()).unwrap();
    let damaged = dir.path().join("damaged.heatscope");
    std::fs::write(&damaged, "{\"heatscope_session\": 1, \"images\": [").unwrap();
    let Some(mut h) = harness(vec![file]) else { return };
    step_until(&mut h, "the session restored", |app| app.docs.len() == 1 && app.docs[0].loaded.is_some());
    let app = h.state();
    assert_eq!(app.docs[0].range, [RangeMode::ZScale; 3]);
    assert!(app.messages.iter().any(|m| m.error && m.text.contains("gone.npy")), "{:?}", app.messages);
    h.state_mut().command(Command::Open(vec![damaged]));
    h.run_steps(1);
    step_until(&mut h, "the damaged file reported", |app| {
        app.messages.iter().any(|m| m.error && m.text.contains("damaged.heatscope"))
    });
    assert!(h.state().docs[0].loaded.is_some());
}
