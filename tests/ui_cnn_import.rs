//! The user's own CNN in the app: a grid opens with the bundled CNN; loading an imported torchvision
//! ResNet folder (File > Load CNN folder…) reads it again with that model, whose panel says what it
//! is and which answers it cannot give; a broken folder is reported and going back to the bundled
//! model works.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::path::Path;

use common::ui::{harness, settle, step_until};
use egui_kittest::kittest::Queryable;
use heatscope::app::Command;
use heatscope::models::cnn::CnnNet;

#[test]
fn an_imported_cnn_replaces_the_bundled_one_and_reads_the_image_again() {
    let dir = tempfile::tempdir().unwrap();
    let n = 64;
    let grid: Vec<f32> = (0..n * n).map(|i| ((i % n) as f32 * 0.4).sin() * 12.0 + (i / n) as f32 * 0.2).collect();
    let path = common::write_npy(dir.path(), "map.npy", n, n, &grid);
    let Some(mut h) = harness(vec![path]) else { return };
    settle(&mut h);
    let bundled = h.state().cnn_reading().expect("the bundled CNN read the grid");
    assert!(bundled.heads.regions && bundled.mask_side > 0);

    let import = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_cnn/basic");
    h.state_mut().command(Command::LoadCnn(Some(import.clone())));
    h.step();
    step_until(&mut h, "the imported CNN did not load", |a| a.cnn.model().is_some());
    assert!(matches!(h.state().cnn.model().unwrap().net, CnnNet::Torchvision(_)));
    step_until(&mut h, "the image was not read again", |a| a.cnn_reading().is_some_and(|r| !r.heads.regions));
    settle(&mut h);
    let r = h.state().cnn_reading().unwrap();
    assert_eq!((r.mask_side, r.heads.bbox), (0, true));
    h.get_by_label_contains("imported torchvision ResNet-18");
    h.get_by_label("no region head: this model gives no L2 answers");
    h.get_by_label_contains("severity:");
    assert_eq!(h.state().cnn_dir.as_deref(), Some(import.as_path()));

    // A folder that is not a model: the reason is shown, the app goes on; "Bundled" brings it back.
    h.state_mut().command(Command::LoadCnn(Some(dir.path().to_path_buf())));
    h.step();
    step_until(&mut h, "the broken folder was not reported", |a| a.cnn.model.failure().is_some());
    h.run();
    h.get_by_label_contains("The CNN could not be loaded");
    h.get_by_label("Bundled").click();
    h.step();
    step_until(&mut h, "the bundled CNN did not come back", |a| a.cnn.model().is_some());
    step_until(&mut h, "the image was not read by the bundled CNN", |a| {
        a.cnn_reading().is_some_and(|r| r.heads.regions)
    });
    assert!(h.state().cnn_dir.is_none());
}
