//! The app driven like a user with egui_kittest on a real wgpu renderer (lavapipe in CI): open a
//! file, switch the colormap, read a pixel and compare the readout with the rendered colour, survive
//! a corrupt file, and a snapshot of the main window. Runs, the failure list and run comparison are in
//! tests/ui_runs.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{
    PATIENCE, click_at, field_text, harness, harness_with, settle, settle_samples, slow_server, step_until,
};

use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::{Harness, SnapshotOptions};
use heatscope::app::slot::Slot;
use heatscope::app::{AppOptions, DocStatus, HeatscopeApp, TurnStatus};
use heatscope::render::Colormap;
use heatscope::workers::VlmSource;

fn ramp_file(dir: &std::path::Path) -> std::path::PathBuf {
    let (w, h) = (50, 40);
    let mut values: Vec<f32> = (0..w * h).map(|i| ((i % w) * 3 + (i / w) * 2) as f32).collect();
    values[0] = f32::NAN;
    common::write_npy(dir, "ramp.npy", w, h, &values)
}

#[test]
fn open_switch_colormap_and_read_a_pixel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(mut h) = harness(vec![ramp_file(dir.path())]) else { return };
    settle(&mut h);
    h.get_by_label_contains("50 x 40 px, 1 band(s)");

    // Switch the colormap through the combo box, as a user would.
    h.get_by_role_and_label(Role::ComboBox, "Colormap").click();
    h.run_steps(2);
    h.get_by_label("magma").click();
    h.run_steps(2);
    assert_eq!(h.state().active_doc().expect("a document").settings.colormap, Colormap::Magma);

    // Hover a pixel and compare the readout's colour with the rendered one under the cursor.
    let image_area = h.get_by_label_contains("Hover over the image").rect();
    let pos = egui::pos2(image_area.min.x + 300.0, image_area.min.y - 250.0);
    h.hover_at(pos);
    h.run_steps(2);
    let readout = h.get_by_label_contains("row ").accesskit_node().value().expect("readout text").to_string();
    let hex = readout.split('#').nth(1).expect("the readout names the colour")[..6].to_string();
    let expected = [0, 2, 4].map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"));
    h.set_render_cursor(false);
    let image = h.render().expect("render the window");
    let ppp = h.ctx.pixels_per_point();
    let px = image.get_pixel((pos.x * ppp) as u32, (pos.y * ppp) as u32).0;
    for c in 0..3 {
        assert!(px[c].abs_diff(expected[c]) <= 1, "rendered {px:?} vs readout #{hex} ({readout})");
    }
    // And the readout's value is the raster's value at the named pixel.
    let app = h.state();
    let doc = app.active_doc().expect("doc");
    let nums: Vec<i64> = readout
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .map(|s| s.parse().expect("int"))
        .collect();
    let (row, col) = (nums[0], nums[1]);
    let v = doc.loaded.as_ref().expect("loaded").raster.value(0, col, row).expect("valid pixel");
    assert!(readout.contains(&format!("value {v} ")), "{readout} should show {v}");
}

#[test]
fn a_corrupt_file_shows_why_and_the_app_keeps_going() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("broken.npy");
    std::fs::write(&bad, b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'shape': (9".as_slice()).expect("write");
    let good = ramp_file(dir.path());
    let Some(mut h) = harness(vec![bad, good]) else { return };
    settle(&mut h);
    let app = h.state();
    assert!(matches!(app.docs[0].status, DocStatus::Failed(_)), "{:?}", app.docs[0].status);
    assert!(matches!(app.docs[1].status, DocStatus::Ready));
    assert!(app.messages.iter().any(|m| m.error && m.text.contains("broken.npy")), "the message area names the file");
    h.get_by_label_contains("(!) broken.npy").click();
    h.run_steps(2);
    assert!(h.query_all_by_label_contains("could not be opened").count() >= 1);
}

#[test]
fn main_window_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(mut h) = harness(vec![ramp_file(dir.path())]) else { return };
    settle(&mut h);
    h.remove_cursor();
    h.run_steps(2);
    // The adapter's name differs between machines: keep it out of the picture.
    let gpu = h.get_by_label_contains("display: ").rect();
    h.mask(gpu.expand(2.0));
    h.snapshot_options("main_window", &SnapshotOptions::new().threshold(1.0));
}

/// A file dropped on the window, as the windowing layer reports it.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn dropping_files_opens_them_and_pagedown_switches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = ramp_file(dir.path());
    let second = common::write_npy(dir.path(), "second.npy", 8, 6, &[1.0; 48]);
    let Some(mut h) = harness(vec![first]) else { return };
    settle(&mut h);
    h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(second)));
    h.step();
    settle(&mut h);
    assert_eq!(h.state().docs.len(), 2);
    assert_eq!(h.state().active_doc().expect("active").name(), "second.npy", "the dropped file becomes active");
    h.get_by_label_contains("8 x 6 px, 1 band(s)");
    h.key_press(egui::Key::PageDown);
    h.run_steps(2);
    assert_eq!(h.state().active_doc().expect("active").name(), "ramp.npy");
    assert_eq!(
        h.state().persisted.recent.first().and_then(|p| p.file_name()).and_then(|n| n.to_str()),
        Some("second.npy")
    );
}

/// Wait until the sample set has arrived from its worker and its scene is loaded.
#[test]
fn bundled_spectrum_samples_step_with_arrows_toggle_truth_and_filter() {
    // Started with no files, the app opens the bundled SpectrumQA-sim samples.
    let Some(mut h) = harness(vec![]) else { return };
    settle_samples(&mut h);
    let first = h.state().active_doc().unwrap().path.clone();
    assert!(first.ends_with("scenes/leo-urban-00000/observed.npy"), "{}", first.display());
    h.get_by_label_contains("leo-urban-00000 (train)");
    assert!(h.query_all_by_label_contains("-> ").count() >= 5, "the scene's answers are listed");
    // The ground truth is drawn: its caption names the scene and its L1 class.
    let gt = h.state().ground_truth().expect("ground truth shown over the sample");
    assert!(gt.label.contains("leo-urban-00000") && gt.label.contains("severity:"), "{}", gt.label);

    h.key_press(egui::Key::ArrowRight);
    settle(&mut h);
    let second = h.state().active_doc().unwrap().path.clone();
    assert!(second.ends_with("scenes/leo-urban-00001/observed.npy"), "{}", second.display());
    let samples = h.state().docs.iter().filter(|d| d.path.to_string_lossy().contains("/scenes/")).count();
    assert_eq!(samples, 1, "stepping replaces the shown sample");
    // Beside the scenes, the bundled public-domain NAIP tile is open for a remote-sensing demo.
    assert!(h.state().docs.iter().any(|d| d.path.ends_with("naip_m_3211605_ne_11_060_20200415.tif")));
    assert!(h.state().persisted.recent.iter().all(|p| !p.ends_with("observed.npy")));

    h.key_press(egui::Key::T);
    settle(&mut h);
    assert!(h.state().active_doc().unwrap().path.ends_with("scenes/leo-urban-00001/truth.npy"));

    h.key_press(egui::Key::ArrowLeft);
    h.key_press(egui::Key::ArrowLeft);
    settle(&mut h);
    // Wraps around to the last scene.
    assert!(h.state().active_doc().unwrap().path.ends_with("scenes/haps-coastal-00009/truth.npy"));

    // Filter to one scenario through the combo box.
    h.get_by_role_and_label(Role::ComboBox, "Scenario filter").click();
    h.run_steps(2);
    h.get_by_label("geo-rural").click();
    settle(&mut h);
    assert!(h.state().active_doc().unwrap().path.ends_with("scenes/geo-rural-00000/truth.npy"));
    h.key_press(egui::Key::ArrowRight);
    settle(&mut h);
    assert!(h.state().active_doc().unwrap().path.ends_with("scenes/geo-rural-00001/truth.npy"));
}

#[test]
fn a_broken_dataset_manifest_is_reported_and_the_app_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("manifest.jsonl"), "{\"id\": 1}\n").unwrap();
    let Some(mut h) = harness(vec![dir.path().to_path_buf()]) else { return };
    let start = Instant::now();
    while h.state().messages.is_empty() {
        h.step();
        assert!(start.elapsed() < PATIENCE, "the broken manifest was not reported");
        std::thread::sleep(Duration::from_millis(10));
    }
    let m = &h.state().messages[0];
    assert!(m.error && m.text.contains("manifest.jsonl:1"), "{}", m.text);
    assert!(h.state().samples.is_none());
}

#[test]
fn the_cnn_reads_each_sample_on_open_and_its_overlays_toggle() {
    let Some(mut h) = harness(vec![]) else { return };
    settle_samples(&mut h);
    // The bundled model loaded and ran on the first scene on a worker.
    assert!(h.state().cnn.model().is_some(), "{:?}", h.state().cnn.model);
    let first = h.state().cnn_reading().expect("the CNN ran on open");
    let sum: f32 = first.probs.iter().sum();
    assert!((sum - 1.0).abs() < 1e-4, "{:?}", first.probs);
    // The panel shows the class, its bars and every level it answers scored against the truth.
    h.get_by_label_contains("severity: ");
    h.get_by_label_contains("against the truth: ");
    // (The sample browser lists the same questions: each label shows twice.)
    assert!(h.query_all_by_label_contains("L1 severity").count() >= 2);
    assert!(h.query_all_by_label_contains("L3 localize").count() >= 2);
    assert!(h.query_all_by_label_contains(" affected").count() >= 5, "one row per region the scene asks about (L2)");
    h.get_by_label("probability severe");
    // Overlay toggles by key, as the tooltips say.
    let before = h.state().persisted.cnn.clone();
    h.key_press(egui::Key::S);
    h.key_press(egui::Key::M);
    h.key_press(egui::Key::B);
    h.run_steps(2);
    let after = h.state().persisted.cnn.clone();
    assert_eq!(
        (after.show_saliency, after.show_mask, after.show_box),
        (!before.show_saliency, !before.show_mask, !before.show_box)
    );
    // Stepping runs it on the next scene; stepping back uses the cache (no new run).
    h.key_press(egui::Key::ArrowRight);
    settle(&mut h);
    let second = h.state().cnn_reading().expect("the CNN ran on the next scene");
    assert_ne!(first.mask, second.mask);
    h.key_press(egui::Key::ArrowLeft);
    h.run_steps(1);
    assert!(h.state().active_doc().is_some_and(|d| d.results.cnn.ready().is_some()), "kept when the scene closed");
    settle(&mut h);
    assert!(std::sync::Arc::ptr_eq(&first, &h.state().cnn_reading().unwrap()), "cached per file");
    // C runs it again on demand.
    h.key_press(egui::Key::C);
    h.run_steps(1);
    settle(&mut h);
    let again = h.state().cnn_reading().unwrap();
    assert!(!std::sync::Arc::ptr_eq(&first, &again) && first.probs == again.probs);
}

#[test]
fn broken_cnn_weights_are_reported_and_images_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cnn");
    std::fs::create_dir(&model).unwrap();
    let bundled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/cnn-spectrum");
    std::fs::copy(bundled.join("config.json"), model.join("config.json")).unwrap();
    std::fs::write(model.join("model.safetensors"), b"not weights").unwrap();
    let file = ramp_file(dir.path());
    if common::headless().is_none() {
        return;
    }
    let options = AppOptions { cnn_dir: Some(model.clone()), ..AppOptions::default() };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1200.0, 760.0))
        .wgpu()
        .build_eframe(move |cc| HeatscopeApp::with_options(cc, vec![file], options).expect("the app starts"));
    settle(&mut h);
    let app = h.state();
    assert!(matches!(app.docs[0].status, DocStatus::Ready), "the image still opens");
    let Slot::Failed(why) = &app.cnn.model else { panic!("{:?}", app.cnn.model) };
    assert!(why.contains("model.safetensors"), "{why}");
    assert!(app.messages.iter().any(|m| m.error && m.text.contains("CNN")), "{:?}", app.messages);
    h.get_by_label_contains("The CNN could not be loaded");
    // Running it anyway says why it cannot.
    h.key_press(egui::Key::C);
    h.run_steps(2);
    assert!(h.state().messages.iter().any(|m| m.text.contains("not loaded")));
}

#[test]
fn asking_the_vlm_streams_an_answer_with_how_sure_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vlm/qwen2vl-untied");
    let store = dir.path().join("data/chat-history.json");
    let options =
        AppOptions { vlm: VlmSource::Folder(model.clone()), chat_store: Some(store.clone()), ..AppOptions::default() };
    let Some(mut h) = harness_with(vec![ramp_file(dir.path())], options) else { return };
    // A random-weight model writes arbitrary characters; draw boxes for those the font lacks.
    h.ctx.set_missing_glyph_policy(egui::MissingGlyphPolicy::Tofu);
    settle(&mut h);
    assert!(h.state().chat.vlm.ready().is_some(), "{:?}", h.state().chat.vlm);
    h.get_by_label_contains("VLM: ");
    // Type a question and press Enter, as a user would.
    let input = h.get_by_role(Role::MultilineTextInput);
    input.focus();
    input.type_text("Which region is affected?");
    h.run_steps(2);
    h.key_press(egui::Key::Enter);
    let start = Instant::now();
    loop {
        h.step();
        let app = h.state();
        let turn = app.chat.histories.values().next().and_then(|t| t.last());
        if turn.is_some_and(|t| t.status != TurnStatus::Streaming) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no answer");
        std::thread::sleep(Duration::from_millis(10));
    }
    h.run();
    let app = h.state();
    let turn = app.chat.histories.values().next().and_then(|t| t.last()).expect("a turn");
    assert!(matches!(turn.status, TurnStatus::Done(_)), "{:?}", turn.status);
    assert!(!turn.tokens.is_empty() && turn.tokens.iter().all(|(_, l)| l.is_some_and(|l| l <= 0.0)));
    assert_eq!(turn.question, "Which region is affected?");
    h.get_by_label_contains("tokens · ");
    h.get_by_label_contains("mean p ");
    h.get_by_label("Copy");
    let answer = turn.text();
    drop(h);

    // The answer was written to disk when it finished: a new app (after a crash or a restart) shows it.
    assert!(store.is_file(), "the history was not written");
    let options = AppOptions { vlm: VlmSource::Folder(model), chat_store: Some(store), ..AppOptions::default() };
    let files = vec![ramp_file(dir.path())];
    // The restored answer is drawn on the first frame: allow tofu before it.
    let mut h = Harness::builder()
        .with_size(egui::vec2(1200.0, 760.0))
        .allow_missing_glyphs()
        .wgpu()
        .build_eframe(move |cc| HeatscopeApp::with_options(cc, files, options).expect("the app starts"));
    settle(&mut h);
    let turns = h.state().chat.histories.values().next().expect("the history came back").clone();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].question, "Which region is affected?");
    assert_eq!(turns[0].text(), answer);
    assert!(matches!(turns[0].status, TurnStatus::Done(_)));
}

#[test]
fn an_unavailable_vlm_is_reported_and_images_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let options = AppOptions { vlm: VlmSource::Folder(dir.path().join("no-model")), ..AppOptions::default() };
    let Some(mut h) = harness_with(vec![ramp_file(dir.path())], options) else { return };
    settle(&mut h);
    let app = h.state();
    assert!(matches!(app.docs[0].status, DocStatus::Ready), "the image still opens");
    let Slot::Failed(why) = &app.chat.vlm else { panic!("{:?}", app.chat.vlm) };
    assert!(why.contains("no-model"), "{why}");
    h.get_by_label_contains("VLM unavailable");
}

/// A textured grey PNG with no georeferencing (value noise at a few scales).
fn texture_png(dir: &std::path::Path) -> std::path::PathBuf {
    let n = 256u32;
    let img = image::GrayImage::from_fn(n, n, |x, y| {
        let (x, y) = (x as f32, y as f32);
        let v = 128.0
            + 50.0 * (x * 0.21).sin() * (y * 0.17).cos()
            + 40.0 * ((x + 2.0 * y) * 0.05).sin()
            + 20.0 * ((x * 1.3 + y * 0.7).sin() * (x * 0.3 - y * 1.1).cos());
        image::Luma([v.clamp(0.0, 255.0) as u8])
    });
    let path = dir.join("tile.png");
    img.save(&path).expect("write png");
    path
}

#[test]
fn a_tile_without_metadata_gets_an_estimated_gsd_that_an_override_replaces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(mut h) = harness(vec![texture_png(dir.path())]) else { return };
    settle(&mut h);
    let resolved = h.state().resolved_gsd().expect("an estimated GSD");
    assert!(resolved.is_estimated(), "{resolved:?}");
    h.get_by_label_contains("68 %) estimated");
    // The readout says the pixel size is estimated.
    let image_area = h.get_by_label_contains("Hover over the image").rect();
    h.hover_at(egui::pos2(image_area.min.x + 300.0, image_area.min.y - 250.0));
    h.run_steps(2);
    // To three figures: the estimate is good to a factor, not to six digits.
    h.get_by_label_contains(&format!("pixel ~{} (estimated)", heatscope::models::gsd::format_metres(resolved.metres)));
    if resolved.estimate.is_some_and(|(_, sigma)| sigma > heatscope::models::gsd::UNCERTAIN_SIGMA) {
        h.get_by_label_contains("the estimate is uncertain: 68 % between");
    }

    // A nonsense override is refused with a message; a number replaces the estimate everywhere.
    let field = h.get_by_role_and_label(Role::TextInput, "GSD override in metres");
    field.focus();
    field.type_text("abc");
    h.run_steps(2);
    h.get_by_label("Override").click();
    h.run_steps(3);
    assert!(h.state().messages.iter().any(|m| m.error && m.text.contains("not a positive number")));
    // Typed and confirmed with Enter.
    h.state_mut().gsd.override_input.clear();
    h.run_steps(1);
    let field = h.get_by_role_and_label(Role::TextInput, "GSD override in metres");
    field.focus();
    field.type_text("2.5");
    h.run_steps(2);
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    let r = h.state().resolved_gsd().expect("resolved");
    assert_eq!(r.metres, 2.5);
    h.get_by_label_contains("2.50 m override");
    h.get_by_label("Clear").click();
    h.run_steps(3);
    assert!(h.state().resolved_gsd().expect("resolved").is_estimated());
}

#[test]
fn stepping_to_the_next_sample_while_an_answer_streams_stops_it_and_keeps_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let vlm = VlmSource::Server {
        url: slow_server(),
        model: "slow".into(),
        api_key_env: "HEATSCOPE_TEST_NO_KEY".into(),
        deadline: Duration::from_secs(60),
    };
    let options = AppOptions { vlm, chat_store: Some(dir.path().join("chat.json")), ..AppOptions::default() };
    let Some(mut h) = harness_with(vec![], options) else { return };
    settle_samples(&mut h);
    let first = h.state().active_doc().unwrap().path.clone();
    let input = h.get_by_role(Role::MultilineTextInput);
    input.focus();
    // An explanation question: the router sends it to the VLM.
    input.type_text("What is the dominant source of this interference, and how would you mitigate it?");
    h.run_steps(2);
    h.key_press(egui::Key::Enter);
    let streaming =
        |app: &HeatscopeApp| app.chat.histories.get(&first).and_then(|t| t.last()).is_some_and(|t| t.tokens.len() >= 2);
    step_until(&mut h, "no tokens arrived", streaming);
    assert_eq!(h.state().chat.histories[&first].last().unwrap().status, TurnStatus::Streaming);
    h.get_by_label("Stop");

    // Step to the next scene with the answer still streaming.
    h.get_by_label(">").click();
    settle(&mut h);
    assert_ne!(h.state().active_doc().unwrap().path, first);
    let turn = h.state().chat.histories[&first].last().unwrap().clone();
    assert_eq!(turn.status, TurnStatus::Done(heatscope::backend::Finish::Cancelled), "closing the scene stopped it");
    assert!(turn.text().starts_with("north"), "what arrived is kept: {:?}", turn.text());
    // The job itself stopped: nothing more arrives for the closed scene.
    let n = turn.tokens.len();
    h.run_steps(30);
    std::thread::sleep(Duration::from_millis(300));
    h.run_steps(5);
    assert_eq!(h.state().chat.histories[&first].last().unwrap().tokens.len(), n);
    assert!(!h.state().busy(), "the cancelled job finished");

    // Back on the first scene: the chat is not stuck, the turn says it stopped, and a new question goes out.
    h.get_by_label("<").click();
    settle(&mut h);
    assert_eq!(h.state().active_doc().unwrap().path, first);
    h.get_by_label_contains("· stopped");
    assert!(h.query_by_label_contains("answering…").is_none());
    let input = h.get_by_role(Role::MultilineTextInput);
    input.focus();
    input.type_text("And now?");
    h.run_steps(2);
    h.key_press(egui::Key::Enter);
    step_until(&mut h, "the second question got no tokens", |app| {
        app.chat.histories[&first].last().is_some_and(|t| t.question == "And now?" && !t.tokens.is_empty())
    });
    // The history on disk has the stopped answer.
    let saved = std::fs::read_to_string(dir.path().join("chat.json")).unwrap();
    assert!(saved.contains("how would you mitigate it?") && saved.contains("cancelled"), "{saved}");
}

/// Choose a run's model, split, question limit and folder, open the "Run a model" section of the
/// sample browser and press Start run.
#[test]
fn the_layout_holds_at_1280x800_with_a_long_chat_and_every_section_open() {
    if common::headless().is_none() {
        return;
    }
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(move |cc| HeatscopeApp::new(cc, vec![]).expect("the app starts"));
    settle_samples(&mut h);
    // A long history on the scene shown: ten answers of about 600 characters.
    let path = h.state().active_doc().unwrap().path.clone();
    let long = "The interference is strongest in the top-left quarter, where several emitters overlap and \
                the aggregate I/N rises well above the protection criterion; the centre is affected too. "
        .repeat(3);
    let turns: Vec<heatscope::app::SavedTurn> = (0..10)
        .map(|k| heatscope::app::SavedTurn {
            question: format!("Question {k}: which region is worst, and why?"),
            record: None,
            shots: Vec::new(),
            cot: false,
            tokens: long.split_inclusive(' ').map(|t| (t.to_string(), Some(-0.2))).collect(),
            status: "stop".into(),
            tokens_per_second: Some(20.0),
            by: None,
            route: None,
            gsd_in_prompt: None,
        })
        .collect();
    let restored = heatscope::app::restore_histories(vec![(path.clone(), turns)]);
    h.state_mut().chat.histories.extend(restored);
    h.run_steps(4);
    // Every section of the right column can be reached by scrolling it, and Display is whole.
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
    let input = h.get_by_role(Role::MultilineTextInput);
    input.scroll_to_me();
    h.run_steps(3);
    let r = h.get_by_role(Role::MultilineTextInput).rect();
    assert!(window.contains_rect(r), "the question box is reachable: {r:?}");
    let colormap = h.get_by_role_and_label(Role::ComboBox, "Colormap");
    colormap.scroll_to_me();
    h.run_steps(3);
    let r = h.get_by_role_and_label(Role::ComboBox, "Colormap").rect();
    assert!(window.contains_rect(r), "Display is reachable: {r:?}");
    h.remove_cursor();
    // Machine-dependent text: the adapter's name and how long the CNN took.
    let gpu = h.get_by_label_contains("display: ").rect();
    h.mask(gpu.expand(2.0));
    if let Some(timing) = h.query_by_label_contains("ms on a worker") {
        let r = timing.rect();
        h.mask(r.expand(2.0));
    }
    h.snapshot_options("layout_1280x800_long_chat", &SnapshotOptions::new().threshold(1.0));
}

#[test]
fn keys_typed_into_a_text_field_stay_there_and_arrows_follow_one_rule() {
    let Some(mut h) = harness(vec![]) else { return };
    settle_samples(&mut h);
    let first = h.state().active_doc().unwrap().path.clone();
    let zoom = h.state().active_doc().unwrap().transform.unwrap().zoom;
    // Typing "1" and Left into the question box: no 1:1 zoom, no pin, no scene change.
    let input = h.get_by_role(Role::MultilineTextInput);
    input.focus();
    input.type_text("1 region");
    h.run_steps(2);
    h.key_press(egui::Key::ArrowLeft);
    h.key_press(egui::Key::T);
    h.run_steps(2);
    let doc = h.state().active_doc().unwrap();
    assert_eq!(doc.path, first, "Left and T in a text field do not step scenes");
    assert_eq!(doc.transform.unwrap().zoom, zoom, "1 in a text field does not zoom");
    assert!(doc.pinned.is_none(), "Left in a text field does not pin a pixel");
    assert!(h.state().chat.input.starts_with("1 region"), "{:?}", h.state().chat.input);
    // Leave the field by clicking the image: that pins the pixel under the cursor.
    let readout = h.get_by_label_contains("Hover over the image").rect();
    click_at(&mut h, egui::pos2(readout.min.x + 200.0, readout.min.y - 200.0));
    let pin = h.state().active_doc().unwrap().pinned.expect("clicking pins a pixel");
    // With a pin, Right steps the pin...
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(2);
    let doc = h.state().active_doc().unwrap();
    assert_eq!(doc.path, first);
    assert_eq!(doc.pinned, Some([pin[0] + 1, pin[1]]));
    // ...Esc releases it, and then Right steps the scene.
    h.key_press(egui::Key::Escape);
    h.run_steps(1);
    h.key_press(egui::Key::ArrowRight);
    settle(&mut h);
    assert_ne!(h.state().active_doc().unwrap().path, first);
    // The View menu names every shortcut.
    h.get_by_label("View").click();
    h.run_steps(2);
    h.get_by_label_contains("Left / Right: previous / next sample scene");
    h.get_by_label_contains("T: sample");
    h.get_by_label_contains("Ctrl+O");
}

#[test]
fn without_a_desktop_dialog_files_folders_and_recent_files_open_from_inside_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("maps");
    std::fs::create_dir(&sub).unwrap();
    let file = common::write_npy(&sub, "inside.npy", 8, 8, &[2.0; 64]);
    let Some(mut h) = harness(vec![ramp_file(dir.path())]) else { return };
    settle(&mut h);
    // This machine has no portal (as CI): Ctrl+O opens heatscope's own browser.
    h.state_mut().browser.native = false;
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::O);
    h.run_steps(3);
    assert!(h.state().browser.open, "Ctrl+O opened the built-in browser");
    // Type the folder into the path field: Enter goes there and lists it.
    let field = h.get_by_role_and_label(Role::TextInput, "Path");
    field.focus();
    h.run_steps(1);
    field_text(&mut h, &sub.display().to_string());
    h.key_press(egui::Key::Enter);
    let start = Instant::now();
    while h.query_by_label_contains("inside.npy").is_none() {
        h.step();
        assert!(start.elapsed() < PATIENCE, "the folder was not listed");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Select the file and press Open: it opens, the browser closes.
    h.get_by_label_contains("inside.npy").click();
    h.run_steps(2);
    h.get_by_label("Open 1").click();
    settle(&mut h);
    assert_eq!(h.state().active_doc().unwrap().path, file);
    assert!(!h.state().browser.open);
    // Recent files are absolute and reopen from the menu.
    assert!(h.state().persisted.recent.iter().all(|p| p.is_absolute()), "{:?}", h.state().persisted.recent);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::W);
    h.run_steps(2);
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Open recent").click();
    h.run_steps(2);
    h.get_by_label(&file.display().to_string()).click();
    settle(&mut h);
    assert_eq!(h.state().active_doc().unwrap().path, file);
    // A dataset folder typed into File > Open path… opens as a dataset.
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Open path…").click();
    h.run_steps(2);
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples/spectrumqa");
    // The folder's listing arrives from a worker and resizes the window: click once it is there.
    step_until(&mut h, "the folder was not listed", |app| app.browser.listing.ready().is_some());
    h.run_steps(2);
    h.state_mut().browser.input = samples.display().to_string();
    h.run_steps(1);
    h.get_by_label("Open").click();
    settle_samples(&mut h);
    assert!(h.state().samples.is_some());
}

#[test]
fn the_sample_tour_presents_each_step_with_its_overlays_and_question() {
    let Some(mut h) = harness(vec![]) else { return };
    settle_samples(&mut h);
    h.get_by_label("View").click();
    h.run_steps(2);
    h.get_by_label("Start the sample tour").click();
    step_until(&mut h, "the first step did not show its scene", |app| {
        app.presenting && app.active_doc().is_some_and(|d| d.path.ends_with("scenes/leo-urban-00000/observed.npy"))
    });
    // Presenting (from the next frame on): larger, no image list, no Display section; the models'
    // results stay.
    h.run_steps(2);
    assert_eq!(h.ctx.zoom_factor(), heatscope::app::tour::PRESENTATION_ZOOM);
    assert!(h.query_by_label("Images").is_none() && h.query_by_label("Display").is_none());
    h.get_by_label_contains("heatscope in five steps: 1 / 5");
    // The step's question is the scene's severity question, asked and answered.
    step_until(&mut h, "the step's question was not answered", |app| {
        let path = app.active_doc().map(|d| d.path.clone());
        path.and_then(|p| app.chat.histories.get(&p).and_then(|t| t.last().cloned())).is_some_and(|t| {
            t.record.as_ref().is_some_and(|r| r.kind.name() == "severity") && t.status != TurnStatus::Streaming
        })
    });
    // Right: step 2, another scene with the mask on.
    h.key_press(egui::Key::ArrowRight);
    step_until(&mut h, "step 2 did not show", |app| {
        app.active_doc().is_some_and(|d| d.path.ends_with("scenes/leo-urban-00001/observed.npy"))
    });
    assert!(h.state().persisted.cnn.show_mask && h.state().persisted.cnn.show_box);
    // Left goes back; P leaves presentation mode.
    h.key_press(egui::Key::ArrowLeft);
    step_until(&mut h, "back to step 1", |app| {
        app.active_doc().is_some_and(|d| d.path.ends_with("scenes/leo-urban-00000/observed.npy"))
    });
    h.key_press(egui::Key::P);
    h.run_steps(3);
    assert!(!h.state().presenting);
    assert_eq!(h.ctx.zoom_factor(), 1.0);
}

#[test]
fn a_spectrogram_with_an_axes_file_fills_the_view_and_reads_out_time_and_frequency() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 30 time steps across, 200 channels down: a tall strip, drawn as a ground image would be.
    let (w, h) = (30, 200);
    let values: Vec<f32> = (0..w * h).map(|i| (i % w + i / w) as f32).collect();
    let file = common::write_npy(dir.path(), "obs1_flux_freq_x_time.npy", w, h, &values);
    let freqs: Vec<f64> = (0..h).map(|i| 1500.0 - 2.0 * i as f64).collect();
    let times: Vec<f64> = (0..w).map(|i| 0.5 * i as f64).collect();
    let sidecar = serde_json::json!({"rows_freq_mhz": freqs, "cols_time_min": times});
    std::fs::write(dir.path().join("obs1_axes.json"), sidecar.to_string()).expect("write sidecar");
    let Some(mut harness) = harness(vec![file]) else { return };
    settle(&mut harness);

    let image_area = harness.get_by_label_contains("Hover over the image").rect();
    let doc = harness.state().active_doc().expect("doc");
    let t = doc.transform.expect("a view transform");
    assert!(t.stretch < 0.5, "time and frequency fill the view instead of a thin strip: {t:?}");
    let ppp = harness.ctx.pixels_per_point();
    let corner = t.to_view([w as f32, h as f32]);
    let (width, height) = (corner[0] / ppp, corner[1] / ppp);
    assert!(width > 300.0 && height > 400.0, "the image covers the view: {width} x {height} points");

    // The readout names the physical axes of the pixel under the cursor.
    let pos = egui::pos2(image_area.min.x + 100.0, image_area.min.y - 200.0);
    harness.hover_at(pos);
    harness.run_steps(2);
    let readout = harness.get_by_label_contains("frequency").accesskit_node().value().unwrap_or_default().to_string();
    assert!(readout.contains("time") && readout.contains("MHz"), "{readout}");
    // F refits and 1 shows square pixels.
    harness.key_press(egui::Key::Num1);
    harness.run_steps(2);
    assert_eq!(harness.state().active_doc().and_then(|d| d.transform).map(|t| t.stretch), Some(1.0));
    harness.key_press(egui::Key::F);
    harness.run_steps(2);
    assert_eq!(harness.state().active_doc().and_then(|d| d.transform).map(|t| t.stretch), Some(t.stretch));
}

#[test]
fn a_long_message_is_cut_short_before_the_status_bar_facts_with_the_clear_button_in_view() {
    let Some(mut h) = harness(Vec::new()) else { return };
    settle(&mut h);
    let long = format!("a long notice: {}", "the part in view at full resolution, ".repeat(12));
    h.state_mut().info(long.clone());
    h.state_mut().info(long);
    h.run_steps(3);
    let message = h.get_by_label_contains("a long notice").rect();
    let models = h.get_by_label_contains("models: ").rect();
    let count = h.state().messages.len();
    let clear = h.get_by_label(&format!("{count} messages")).rect();
    assert!(message.max.x <= clear.min.x, "the message {message:?} runs under the message list {clear:?}");
    assert!(clear.max.x < models.min.x, "the message list {clear:?} runs under {models:?}");
}
