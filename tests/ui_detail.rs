//! Full resolution where the view is zoomed in, in the app: an image wider than the overview (a
//! checkerboard of one-pixel columns, which the 2x overview averages to one flat colour) shows flat at
//! fit; zoomed in, the full-resolution tiles arrive and the screen shows each column's own colour, the
//! colour the readout names, with no seam where one tile meets the next; zoomed out again the overview
//! is enough and nothing more is asked for.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{harness, settle, step_until};
use egui_kittest::kittest::Queryable;

use heatscope::app::detail::OVERVIEW_MAX;
use heatscope::render::ViewTransform;
use heatscope::render::colormap::{lut_index, stretch};

/// A 64-row image wider than the overview whose odd columns hold 10 and even ones 0 (a 2x block
/// average is 5 everywhere), written to a temporary folder: (the folder, the file, its values, width).
fn stripes() -> (tempfile::TempDir, std::path::PathBuf, Vec<f32>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (OVERVIEW_MAX + 200, 64);
    let values: Vec<f32> = (0..w * h).map(|i| if i % 2 == 1 { 10.0 } else { 0.0 }).collect();
    let file = common::write_npy(dir.path(), "stripes.npy", w, h, &values);
    (dir, file, values, w)
}

/// A preview of the image `loaded` holds, showing `display` (`downsample` pixels a texel).
fn preview_of(
    loaded: &heatscope::workers::Loaded,
    display: std::sync::Arc<heatscope::types::Raster>,
    downsample: usize,
    look: heatscope::io::Look,
) -> heatscope::workers::Preview {
    let (width, height, meta) = (loaded.raster.width, loaded.raster.height, loaded.raster.meta.clone());
    heatscope::workers::Preview { display, downsample, width, height, meta, stats: Vec::new(), look, windows: true }
}

/// Put a loaded document back in the state of a large file being read, its overview streamed: the
/// pixels it held are returned.
fn as_if_reading(doc: &mut heatscope::app::Document) -> heatscope::workers::Loaded {
    let loaded = doc.loaded.take().unwrap();
    doc.preview = Some(preview_of(&loaded, loaded.display.clone(), loaded.downsample, heatscope::io::Look::Averaged));
    doc.status = heatscope::app::DocStatus::Loading { fraction: 0.0, message: "reading".into(), job: 0 };
    loaded
}

#[test]
fn zoomed_in_the_screen_shows_full_resolution_pixels() {
    let (_dir, file, _, _) = stripes();
    let Some(mut harness_) = harness(vec![file]) else { return };
    let h = &mut harness_;
    settle(h);
    {
        let doc = h.state().active_doc().unwrap();
        let loaded = doc.loaded.as_ref().unwrap();
        assert_eq!(loaded.downsample, 2, "the overview averages 2 x 2 blocks");
        assert!(doc.detail.held().0 == 0 && doc.detail.want.is_empty(), "at fit the overview is enough");
    }
    // Zoom in to 6 screen pixels per image pixel from column 2040: full-resolution tiles are
    // `detail::TILE` (256) pixels wide, so tiles 7 and 8 meet at column 2048, in view.
    h.state_mut().active_doc_mut().unwrap().transform =
        Some(ViewTransform { origin: [2040.0, 10.0], zoom: 6.0, stretch: 1.0 });
    h.run_steps(2);
    step_until(h, "the full-resolution tiles", |app| {
        let d = &app.active_doc().unwrap().detail;
        d.view_cut && d.held().0 >= 2
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
    // Across 60 columns, over the edge between two tiles at column 2048: each column's own colour.
    let mut checked = 0;
    for col in 2042..2102i64 {
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
    assert!(harness_.state().active_doc().unwrap().detail.want.is_empty());
}

#[test]
fn zoomed_in_the_swiped_image_shows_its_own_full_resolution_pixels() {
    // Two stripe images, one the other's negative: both overviews are flat. Swiped and zoomed in,
    // left of the line shows the active image's columns and right of it the other's, each at full
    // resolution (the other image's tiles follow the linked view).
    use heatscope::app::compare::{Compare, Mode};
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (OVERVIEW_MAX + 200, 64);
    let a: Vec<f32> = (0..w * h).map(|i| if i % 2 == 1 { 10.0 } else { 0.0 }).collect();
    let b: Vec<f32> = a.iter().map(|v| 10.0 - v).collect();
    let file_a = common::write_npy(dir.path(), "a.npy", w, h, &a);
    let file_b = common::write_npy(dir.path(), "b.npy", w, h, &b);
    let Some(mut harness_) = harness(vec![file_a.clone(), file_b.clone()]) else { return };
    let h = &mut harness_;
    settle(h);
    let docs = &h.state().docs;
    let id = |p: &std::path::Path| docs.iter().find(|d| d.path == p).unwrap().id;
    let (id_a, id_b) = (id(&file_a), id(&file_b));
    h.state_mut().active = Some(id_a);
    h.state_mut().compare = Some(Compare::new(id_b, Mode::Swipe));
    h.state_mut().active_doc_mut().unwrap().transform =
        Some(ViewTransform { origin: [2040.0, 10.0], zoom: 6.0, stretch: 1.0 });
    h.run_steps(3);
    step_until(h, "both images' full-resolution tiles", |app| {
        app.docs.iter().all(|d| d.detail.view_cut && d.detail.held().0 >= 1)
    });
    h.run_steps(3);
    let (settings, rect, ppp, swipe) = {
        let doc = h.state().active_doc().unwrap();
        let (rect, ppp) = doc.view_rect.unwrap();
        (doc.settings.clone(), rect, ppp, h.state().compare.as_ref().unwrap().swipe)
    };
    h.remove_cursor();
    let image = h.render().expect("render");
    let line_x = rect.min.x + swipe * rect.width();
    let table = settings.colormap.table();
    let doc = h.state().active_doc().unwrap();
    let (mut left, mut right) = (0, 0);
    for col in 2042..2200i64 {
        let at = doc.screen_pos([col as f32 + 0.5, 20.5]).unwrap();
        if !rect.contains(at) || (at.x - line_x).abs() < 4.0 {
            continue;
        }
        let of_a = a[20 * w + col as usize];
        let v = if at.x > line_x { 10.0 - of_a } else { of_a };
        let want = table[lut_index(stretch(v, settings.lo[0], settings.hi[0], settings.scale))];
        let got = image.get_pixel((at.x * ppp) as u32, (at.y * ppp) as u32).0;
        let side = if at.x > line_x { "right (the other image)" } else { "left" };
        for c in 0..3 {
            assert!(got[c].abs_diff(want[c]) <= 2, "column {col}, {side}: screen {got:?}, full-resolution {want:?}");
        }
        if at.x > line_x { right += 1 } else { left += 1 }
    }
    assert!(left >= 20 && right >= 20, "columns checked: {left} left of the line, {right} right");
}

#[test]
fn while_a_large_image_is_read_its_tiles_and_readout_come_from_the_file() {
    // The state a large file is in between its streamed overview and its full-resolution pixels:
    // zoomed in, the tiles in view are read from the file by window and show each column's own
    // colour; the readout reads its pixel from the file.
    let (_dir, file, values, w) = stripes();
    let Some(mut harness_) = harness(vec![file]) else { return };
    let h = &mut harness_;
    settle(h);
    {
        let doc = h.state_mut().active_doc_mut().unwrap();
        as_if_reading(doc);
        doc.view_rect = None;
        doc.transform = Some(ViewTransform { origin: [2040.0, 10.0], zoom: 6.0, stretch: 1.0 });
    }
    h.run_steps(2);
    step_until(h, "the tiles read from the file", |app| {
        let d = &app.active_doc().unwrap().detail;
        d.view_cut && d.held().0 >= 2
    });
    h.run_steps(3);
    h.get_by_label_contains("Hover over the image to read a pixel (read from the file");
    let (settings, rect, ppp) = {
        let doc = h.state().active_doc().unwrap();
        assert!(doc.loaded.is_none(), "still reading");
        let (rect, ppp) = doc.view_rect.expect("the view was drawn");
        (doc.settings.clone(), rect, ppp)
    };
    h.remove_cursor();
    let image = h.render().expect("render");
    let doc = h.state().active_doc().unwrap();
    let table = settings.colormap.table();
    let mut checked = 0;
    for col in 2042..2102i64 {
        let at = doc.screen_pos([col as f32 + 0.5, 20.5]).unwrap();
        if rect.contains(at) {
            let v = values[20 * w + col as usize];
            let want = table[lut_index(stretch(v, settings.lo[0], settings.hi[0], settings.scale))];
            let got = image.get_pixel((at.x * ppp) as u32, (at.y * ppp) as u32).0;
            assert!((0..3).all(|c| got[c].abs_diff(want[c]) <= 2), "column {col}: {got:?}, its own colour {want:?}");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} columns on screen");
    // The readout of a pinned pixel: read from the file, its own value (odd columns hold 10).
    h.state_mut().active_doc_mut().unwrap().pinned = Some([2045, 20]);
    h.run_steps(2);
    step_until(h, "the pinned pixel read from the file", |app| {
        app.active_doc().unwrap().probe.at([2045, 20]).is_some()
    });
    h.run_steps(2);
    h.get_by_label_contains("row 20, col 2045   value 10 ");
    h.state_mut().active_doc_mut().unwrap().pinned = Some([2046, 20]);
    h.run_steps(2);
    step_until(h, "the next pixel", |app| app.active_doc().unwrap().probe.at([2046, 20]).is_some());
    h.run_steps(2);
    h.get_by_label_contains("row 20, col 2046   value 0 ");
}

#[test]
fn a_file_damaged_while_it_is_read_is_reported_once_and_the_view_keeps_its_overview() {
    let (_dir, file, _, _) = stripes();
    let Some(mut harness_) = harness(vec![file.clone()]) else { return };
    let h = &mut harness_;
    settle(h);
    // Cut short after the preview was read: reading tiles from it fails.
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 4]).unwrap();
    {
        let doc = h.state_mut().active_doc_mut().unwrap();
        as_if_reading(doc);
        doc.transform = Some(ViewTransform { origin: [2040.0, 40.0], zoom: 6.0, stretch: 1.0 });
        doc.pinned = Some([2045, 60]);
    }
    step_until(h, "the failed reads", |app| {
        let doc = app.active_doc().unwrap();
        doc.detail.file_failed && matches!(doc.probe.slot, heatscope::app::slot::Slot::Failed(_))
    });
    h.run_steps(10);
    let errors = |needle: &str| h.state().messages.iter().filter(|m| m.error && m.text.contains(needle)).count();
    assert_eq!(errors("zoomed-in window"), 1, "{:?}", h.state().messages);
    assert_eq!(errors("reading a pixel"), 1, "{:?}", h.state().messages);
    let doc = h.state().active_doc().unwrap();
    assert!(doc.view_rect.is_some() && doc.preview.is_some(), "the overview still shows");
}

#[test]
fn a_first_look_is_drawn_without_tiles_then_the_overview_replaces_it_on_screen() {
    // A large file's first look (one pixel a block: here the even columns, 0) shows while its overview
    // is averaged; zoomed in meanwhile, no tile is read. When the overview (5 everywhere) replaces it
    // under the same image, the screen shows the overview, not the first look's texture.
    let (_dir, file, _, w) = stripes();
    let Some(mut harness_) = harness(vec![file]) else { return };
    let h = &mut harness_;
    settle(h);
    let overview = {
        let doc = h.state_mut().active_doc_mut().unwrap();
        let loaded = as_if_reading(doc);
        let overview = doc.preview.take();
        let step = 16;
        let (gw, gh) = (w.div_ceil(step), 64usize.div_ceil(step));
        let look = heatscope::types::Raster::new(gw, gh, vec![vec![0.0; gw * gh]], Default::default());
        doc.preview = Some(preview_of(&loaded, std::sync::Arc::new(look), step, heatscope::io::Look::Sampled));
        doc.view_rect = None;
        doc.transform = None;
        overview
    };
    let centre_colour = |h: &mut egui_kittest::Harness<'_, heatscope::app::HeatscopeApp>, v: f32| {
        h.run_steps(3);
        h.remove_cursor();
        let image = h.render().expect("render");
        let doc = h.state().active_doc().unwrap();
        let (rect, ppp) = doc.view_rect.expect("drawn");
        let at = doc.screen_pos([1000.5, 32.5]).unwrap();
        assert!(rect.contains(at));
        let s = &doc.settings;
        let want = s.colormap.table()[lut_index(stretch(v, s.lo[0], s.hi[0], s.scale))];
        (image.get_pixel((at.x * ppp) as u32, (at.y * ppp) as u32).0, want)
    };
    let (got, want) = centre_colour(h, 0.0);
    assert!((0..3).all(|c| got[c].abs_diff(want[c]) <= 2), "the first look: {got:?}, want {want:?}");
    // Zoomed in on the first look: no tile is asked for.
    h.state_mut().active_doc_mut().unwrap().transform =
        Some(ViewTransform { origin: [2040.0, 10.0], zoom: 6.0, stretch: 1.0 });
    h.run_steps(6);
    let d = &h.state().active_doc().unwrap().detail;
    assert!(d.held().0 == 0 && d.want.is_empty(), "tiles were read for a first look");
    // The overview arrives: drawn in the first look's place.
    {
        let doc = h.state_mut().active_doc_mut().unwrap();
        doc.preview = overview;
        doc.transform = None;
    }
    let (got, want) = centre_colour(h, 5.0);
    assert!((0..3).all(|c| got[c].abs_diff(want[c]) <= 2), "after the overview came: {got:?}, want {want:?}");
}

#[test]
fn a_file_not_read_by_window_shows_its_overview_and_says_when_its_values_come() {
    // A large file whose overview streamed but whose pixels are not read a part at a time (a band
    // tagged alpha, known to mask or not only from the whole band): zoomed in and pinned while it is
    // read, no tile or pixel is asked of the file, no error is raised, and the readout says why.
    let (_dir, file, _, _) = stripes();
    let Some(mut harness_) = harness(vec![file]) else { return };
    let h = &mut harness_;
    settle(h);
    {
        let doc = h.state_mut().active_doc_mut().unwrap();
        as_if_reading(doc);
        doc.preview.as_mut().unwrap().windows = false;
        doc.transform = Some(ViewTransform { origin: [2040.0, 40.0], zoom: 6.0, stretch: 1.0 });
        doc.pinned = Some([2045, 20]);
    }
    h.run_steps(10);
    let doc = h.state().active_doc().unwrap();
    assert!(doc.detail.held().0 == 0 && doc.detail.want.is_empty(), "tiles were read");
    assert!(matches!(doc.probe.slot, heatscope::app::slot::Slot::Empty), "a pixel was read");
    assert!(h.state().messages.iter().all(|m| !m.error), "{:?}", h.state().messages);
    h.get_by_label_contains("row 20, col 2045: this file is not read a part at a time");
}
