//! Full resolution where the view is zoomed in, in the app: an image wider than the overview (a
//! checkerboard of one-pixel columns, which the 2x overview averages to one flat colour) shows flat at
//! fit; zoomed in, the window cut from the full-resolution data arrives and the screen shows each
//! column's own colour, the colour the readout names, with no seam where the window ends; zoomed out
//! again the overview is enough and nothing more is asked for.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{harness, settle, step_until};

use heatscope::app::detail::OVERVIEW_MAX;
use heatscope::render::ViewTransform;
use heatscope::render::colormap::{lut_index, stretch};

#[test]
fn zoomed_in_the_screen_shows_full_resolution_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (OVERVIEW_MAX + 200, 64);
    // Odd columns 10, even columns 0: a 2x block average is 5 everywhere.
    let values: Vec<f32> = (0..w * h).map(|i| if i % 2 == 1 { 10.0 } else { 0.0 }).collect();
    let file = common::write_npy(dir.path(), "stripes.npy", w, h, &values);
    let Some(mut harness_) = harness(vec![file]) else { return };
    let h = &mut harness_;
    settle(h);
    {
        let doc = h.state().active_doc().unwrap();
        let loaded = doc.loaded.as_ref().unwrap();
        assert_eq!(loaded.downsample, 2, "the overview averages 2 x 2 blocks");
        assert!(doc.detail.held.is_none() && doc.detail.want.is_none(), "at fit the overview is enough");
    }
    // Zoom in to 6 screen pixels per image pixel around column 2050.
    h.state_mut().active_doc_mut().unwrap().transform =
        Some(ViewTransform { origin: [2050.0, 10.0], zoom: 6.0, stretch: 1.0 });
    h.run_steps(2);
    step_until(h, "the full-resolution window", |app| {
        app.active_doc().unwrap().detail.held.as_ref().is_some_and(|d| d.spec.factor == 1)
    });
    h.run_steps(3);
    let (settings, rect, ppp) = {
        let doc = h.state().active_doc().unwrap();
        let (rect, ppp) = doc.view_rect.unwrap();
        (doc.settings.clone(), rect, ppp)
    };
    h.remove_cursor();
    let image = h.render().expect("render");
    let doc = h.state().active_doc().unwrap();
    let raster = &doc.loaded.as_ref().unwrap().raster;
    let table = settings.colormap.table();
    // Across 60 columns (past the window's edge if it ends there): each column's own colour.
    let mut checked = 0;
    for col in 2052..2112i64 {
        let at = doc.screen_pos([col as f32 + 0.5, 20.5]).unwrap();
        if !rect.contains(at) {
            continue;
        }
        let v = raster.value(0, col, 20).unwrap();
        let want = table[lut_index(stretch(v, settings.lo[0], settings.hi[0], settings.scale))];
        let got = image.get_pixel((at.x * ppp) as u32, (at.y * ppp) as u32).0;
        for c in 0..3 {
            assert!(got[c].abs_diff(want[c]) <= 2, "column {col}: screen {got:?}, full-resolution colour {want:?}");
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} columns on screen");
    // Zoomed out to fit again: the overview serves, no window is wanted.
    harness_.state_mut().active_doc_mut().unwrap().transform = None;
    harness_.run_steps(3);
    assert!(harness_.state().active_doc().unwrap().detail.want.is_none());
}
