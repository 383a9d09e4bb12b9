//! File > Export view as PNG driven like a user: Ctrl+E, the path typed, Export; the PNG written is
//! the view as shown (a pixel's colour is the one the readout names, the colour bar strip is there)
//! with the provenance footer below it, and it is written atomically; a path in a folder that does not
//! exist is reported and the app goes on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{field_text, harness, settle, step_until};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use heatscope::app::HeatscopeApp;
use heatscope::render::colormap::{lut_index, stretch};

fn export(h: &mut Harness<'static, HeatscopeApp>, path: &std::path::Path) {
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
    h.run_steps(2);
    h.get_by_role_and_label(Role::TextInput, "Export path").focus();
    h.run_steps(1);
    field_text(h, &path.display().to_string());
    h.get_by_label("Export").click();
    h.run_steps(3);
}

#[test]
fn the_exported_view_is_what_is_on_screen_with_a_footer() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..50 * 40).map(|i| ((i % 50) * 3 + (i / 50) * 2) as f32).collect();
    let file = common::write_npy(dir.path(), "ramp.npy", 50, 40, &values);
    let Some(mut h) = harness(vec![file]) else { return };
    settle(&mut h);
    let out = dir.path().join("view.png");
    export(&mut h, &out);
    step_until(&mut h, "the view exported", |app| app.messages.iter().any(|m| m.text.contains("exported the view")));
    let png = image::open(&out).unwrap().to_rgba8();
    let doc = h.state().active_doc().unwrap();
    let (rect, ppp) = doc.view_rect.unwrap();
    // The export starts at the central panel's top-left: the image's own rect lies inside it.
    assert!(
        png.width() as f32 >= rect.width() * ppp && png.height() as f32 > rect.height() * ppp,
        "{:?}",
        png.dimensions()
    );
    // The centre of pixel (20, 15) in the PNG has the colour the colormap gives its value.
    let s = &doc.settings;
    let v = doc.loaded.as_ref().unwrap().raster.value(0, 20, 15).unwrap();
    let want = s.colormap.table()[lut_index(stretch(v, s.lo[0], s.hi[0], s.scale))];
    let at = doc.screen_pos([20.5, 15.5]).unwrap();
    // The export's top-left is the central panel's: the image rect's own top-left without an axis
    // margin (a plain grid has none).
    let (x, y) = (((at.x - rect.min.x) * ppp) as u32, ((at.y - rect.min.y) * ppp) as u32);
    let got = png.get_pixel(x, y).0;
    for c in 0..3 {
        assert!(got[c].abs_diff(want[c]) <= 2, "exported {got:?} vs colormap {want:?}");
    }
    // No partial file is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(names.iter().all(|n| !n.to_string_lossy().contains("partial")), "{names:?}");

    // A folder that does not exist: the reason, and the app goes on.
    export(&mut h, &dir.path().join("no/such/folder/view.png"));
    step_until(&mut h, "the failure reported", |app| {
        app.messages.iter().any(|m| m.error && m.text.contains("cannot write the view"))
    });
    assert!(h.state().active_doc().unwrap().loaded.is_some());
}
