//! Other tools' annotations in the app: the VOC boxes beside a real DeepForest tile are read on a
//! worker when it opens and counted per label, A hides them, a file turned off leaves the count; the
//! hand-written fixture beside a grid is shown, exported as COCO through the panel and read back; a
//! broken sidecar is reported beside its name and a data CSV with the image's name listed as not
//! annotations, while the image stays open.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{harness, settle, step_until};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use heatscope::app::HeatscopeApp;
use heatscope::io::annotations::{ImageContext, read};
use heatscope::types::AnnotationFormat;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/annotations").join(name)
}

fn annotations_read(app: &HeatscopeApp) -> bool {
    let a = &app.active_doc().unwrap().annotations;
    !a.batches.is_empty() && !a.busy()
}

fn shown(h: &Harness<'static, HeatscopeApp>) -> usize {
    h.state().active_doc().unwrap().annotations.shown().map(|s| s.items.len()).sum()
}

#[test]
fn deepforest_voc_boxes_show_count_and_toggle() {
    let Some(real) = common::real_data() else { return };
    let Some(mut h) = harness(vec![real.join("rs/deepforest_SOAP_061.png")]) else { return };
    settle(&mut h);
    step_until(&mut h, "the sidecar read", annotations_read);
    assert_eq!(shown(&h), 37);
    h.get_by_label_contains("Annotations (37)");
    h.get_by_label("Dead: 28");
    h.get_by_label("Alive: 9");
    // A hides every layer; again shows them.
    assert!(h.state().show_annotations);
    h.key_press(egui::Key::A);
    h.run_steps(2);
    assert!(!h.state().show_annotations);
    h.key_press(egui::Key::A);
    h.run_steps(2);
    assert!(h.state().show_annotations);
    // The file's own checkbox turns that layer off: nothing is counted then.
    // (Focused and toggled with Space: the section may lie below the fold of the right column.)
    h.get_by_role_and_label(Role::CheckBox, "deepforest_SOAP_061.xml: 37 Pascal VOC XML").focus();
    h.run_steps(1);
    h.key_press(egui::Key::Space);
    h.run_steps(2);
    assert_eq!(shown(&h), 0);
}

#[test]
fn a_fixture_beside_a_grid_exports_as_coco_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..200 * 100).map(|i| (i % 200) as f32).collect();
    let image = common::write_npy(dir.path(), "tile.npy", 200, 100, &values);
    std::fs::copy(fixture("tile.xml"), dir.path().join("tile.xml")).unwrap();
    let Some(mut h) = harness(vec![image.clone()]) else { return };
    settle(&mut h);
    step_until(&mut h, "the sidecar read", annotations_read);
    // Four objects, one with a NaN corner skipped (and said so).
    assert_eq!(shown(&h), 3);
    h.get_by_label_contains("NaN");
    let out = dir.path().join("exported.json");
    h.state_mut().active_doc_mut().unwrap().annotations.export_path = out.display().to_string();
    h.run_steps(1);
    h.get_by_label("Export").click();
    h.run_steps(1);
    step_until(&mut h, "the export", |app| app.active_doc().unwrap().annotations.export.ready().is_some());
    h.get_by_label_contains("wrote 3 annotations as COCO JSON");
    let back = read(&out, &ImageContext::new("tile.npy", 200, 100)).unwrap();
    assert_eq!(back.format, AnnotationFormat::Coco);
    let first = h.state().active_doc().unwrap().annotations.shown().next().unwrap().clone();
    assert_eq!(back.items.len(), first.items.len());
    for (a, b) in back.items.iter().zip(&first.items) {
        assert_eq!(a.label, b.label);
        let (ba, bb) = (a.shape.bounds().unwrap(), b.shape.bounds().unwrap());
        assert!(ba.iter().zip(bb).all(|(x, y)| (x - y).abs() < 1e-6), "{ba:?} vs {bb:?}");
    }
}

#[test]
fn a_broken_sidecar_is_reported_and_a_data_csv_is_not_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..64 * 64).map(|i| i as f32).collect();
    let image = common::write_npy(dir.path(), "scene.npy", 64, 64, &values);
    std::fs::copy(fixture("malformed/truncated.xml"), dir.path().join("scene.xml")).unwrap();
    std::fs::write(dir.path().join("scene.csv"), "1,2,3\n4,5,6\n").unwrap();
    let Some(mut h) = harness(vec![image]) else { return };
    settle(&mut h);
    step_until(&mut h, "the sidecars read", annotations_read);
    assert_eq!(shown(&h), 0);
    let files: Vec<_> =
        h.state().active_doc().unwrap().annotations.files().map(|f| (f.read.is_ok(), f.not_annotations)).collect();
    assert_eq!(files, vec![(false, false), (false, true)], "the broken XML fails, the CSV is not annotations");
    h.get_by_label_contains("scene.xml: malformed");
    h.get_by_label_contains("not annotations: scene.csv");
    // The image is still there and readable.
    assert!(h.state().active_doc().unwrap().loaded.is_some());
    assert!(h.query_by_label_contains("Could not open").is_none());
}

#[test]
fn a_crowd_of_boxes_is_drawn_up_to_the_cap_and_the_rest_counted() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..200 * 100).map(|i| (i % 200) as f32).collect();
    let image = common::write_npy(dir.path(), "crowd.npy", 200, 100, &values);
    let mut csv = String::from("image_path,xmin,ymin,xmax,ymax,label\n");
    for k in 0..30_000 {
        let (x, y) = ((k % 200) as f64, ((k / 200) % 100) as f64);
        let side = if k < 100 { 20.0 } else { 0.8 };
        csv += &format!("crowd.npy,{x},{y},{},{},{}\n", x + side, y + side, if k < 100 { "big" } else { "speck" });
    }
    std::fs::write(dir.path().join("crowd.csv"), csv).unwrap();
    let Some(mut h) = harness(vec![image]) else { return };
    // The 30 000-row sidecar is read first: settling waits for repaints to stop, and a worker still
    // reading keeps asking for them.
    step_until(&mut h, "the image", |app| app.active_doc().is_some_and(|d| d.loaded.is_some()));
    step_until(&mut h, "the sidecar read", annotations_read);
    settle(&mut h);
    assert_eq!(shown(&h), 30_000);
    h.run_steps(2);
    // The notice is painted on the image; the count behind it is the document's.
    assert_eq!(h.state().active_doc().unwrap().annotations.left_out, 10_000);
}
