//! The CNN's domain check in the app: a map of another kind (a path-loss grid, all values 137-203 dB)
//! opens, the CNN runs on it and the panel shows "out of domain" with the reason and no class; a
//! bundled sample (an I/N map) still gets its class.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{harness, settle};
use egui_kittest::kittest::Queryable;

#[test]
fn a_path_loss_grid_is_out_of_domain_and_shows_no_class() {
    let dir = tempfile::tempdir().unwrap();
    // A smooth map that rises with distance from a transmitter, in path-loss dB.
    let n = 64;
    let loss: Vec<f32> = (0..n * n)
        .map(|i| {
            let (r, c) = ((i / n) as f32 - 20.0, (i % n) as f32 - 30.0);
            137.0 + 20.0 * (1.0 + r.hypot(c)).log10() * 1.5
        })
        .collect();
    let path = common::write_npy(dir.path(), "pathloss.npy", n, n, &loss);
    let Some(mut h) = harness(vec![path]) else { return };
    settle(&mut h);
    let reading = h.state().cnn_reading().expect("the CNN ran on the grid it opened");
    assert!(reading.domain.out_of_domain);
    let why = reading.domain.reason.clone().unwrap();
    assert!(why.contains("path loss"), "{why}");
    h.get_by_label("Out of domain: no answer");
    h.get_by_label_contains("look like path loss, not I/N");
    assert!(h.query_by_label_contains("severity:").is_none(), "no class is shown");
    assert!(h.query_by_label("probability severe").is_none(), "no class bars either");
}
