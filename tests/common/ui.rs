//! The app under egui_kittest, shared by the UI tests: a harness on the headless adapter, and waiting
//! for documents, workers and the bundled samples to settle.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use heatscope::app::{AppOptions, DocStatus, HeatscopeApp};

pub fn harness(files: Vec<std::path::PathBuf>) -> Option<Harness<'static, HeatscopeApp>> {
    // The app needs an adapter; the helper says loudly when there is none (and fails under CI).
    super::headless()?;
    let h = Harness::builder()
        .with_size(egui::vec2(1200.0, 760.0))
        .wgpu()
        .build_eframe(move |cc| HeatscopeApp::new(cc, files).expect("the app starts"));
    Some(h)
}

/// How long a UI test waits for work on workers: generous, because CI runs twenty of these tests at
/// once on two cores (some of them running models); a real hang still fails.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// Step the UI until every document finished loading and has its statistics.
pub fn settle(h: &mut Harness<'static, HeatscopeApp>) {
    let start = Instant::now();
    loop {
        h.step();
        let app = h.state();
        let busy = app
            .docs
            .iter()
            .any(|d| matches!(d.status, DocStatus::Loading { .. }) || (d.loaded.is_some() && !d.ranges_ready()))
            || app.cnn.model.is_loading()
            || app.chat.vlm.is_loading()
            || app.gsd.model.is_loading()
            || app.docs.iter().any(|d| d.results.cnn.is_loading() || d.results.gsd.is_loading());
        if !busy {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "documents did not settle");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let layout and animations come to rest (the snapshot must not depend on timing).
    h.run();
}

pub fn settle_samples(h: &mut Harness<'static, HeatscopeApp>) {
    let start = Instant::now();
    while h.state().samples.is_none() || h.state().docs.is_empty() {
        h.step();
        assert!(start.elapsed() < PATIENCE, "the sample set did not open: {:?}", h.state().messages);
        std::thread::sleep(Duration::from_millis(10));
    }
    settle(h);
}

/// [`harness`] with the app's options.
pub fn harness_with(files: Vec<std::path::PathBuf>, options: AppOptions) -> Option<Harness<'static, HeatscopeApp>> {
    super::headless()?;
    Some(
        Harness::builder()
            .with_size(egui::vec2(1200.0, 760.0))
            .wgpu()
            .build_eframe(move |cc| HeatscopeApp::with_options(cc, files, options).expect("the app starts")),
    )
}
