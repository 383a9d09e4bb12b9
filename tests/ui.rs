//! The app driven like a user with egui_kittest on a real wgpu renderer (lavapipe in CI): open a
//! file, switch the colormap, read a pixel and compare the readout with the rendered colour, survive
//! a corrupt file, and a snapshot of the main window.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{PATIENCE, harness, harness_with, settle, settle_samples};

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

/// An OpenAI-compatible server that streams one token every 100 ms for as long as the client listens.
fn slow_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
                let mut buf = vec![0u8; 1 << 20];
                let _ = s.read(&mut buf);
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
                let token = "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"north \"},\"finish_reason\":null}]}\n\n";
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                while s.write_all(token.as_bytes()).is_ok() && s.flush().is_ok() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    url
}

/// Step until `done` holds (at most 20 s).
fn step_until(h: &mut Harness<'static, HeatscopeApp>, what: &str, done: impl Fn(&HeatscopeApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        h.step();
        assert!(start.elapsed() < PATIENCE, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
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
fn start_run(
    h: &mut Harness<'static, HeatscopeApp>,
    model: heatscope::app::runs::RunModel,
    split: &str,
    limit: usize,
    folder: &std::path::Path,
) {
    {
        let app = h.state_mut();
        app.persisted.runs.model = model;
        app.persisted.runs.split = split.into();
        app.persisted.runs.limit = limit;
        app.persisted.runs.cpu_share = 1.0;
        app.runs.folder = folder.display().to_string();
    }
    open_run_section(h);
    h.get_by_label("Start run").click();
}

/// A left click at `pos` (press and release).
fn click_at(h: &mut Harness<'static, HeatscopeApp>, pos: egui::Pos2) {
    h.hover_at(pos);
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
        h.run_steps(1);
    }
    h.run_steps(1);
}

/// Replace the text of the focused single-line field with `text`, as typing would.
fn field_text(h: &mut Harness<'static, HeatscopeApp>, text: &str) {
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.event(egui::Event::Text(text.to_string()));
    h.run_steps(2);
}

/// Open the "Run a model" section of the sample browser.
fn open_run_section(h: &mut Harness<'static, HeatscopeApp>) {
    if h.query_by_label("Start run").is_none() && h.query_by_label("Cancel run").is_none() {
        h.get_by_label("Run a model").click();
        h.run_steps(2);
    }
}

fn run_lines(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("predictions.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a whole line");
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_run_started_in_the_app_streams_into_the_sample_browser_cancels_continues_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run-vlm");
    // A server that takes 0.1 s a token; answers of two tokens, four requests in flight.
    let vlm = VlmSource::Server {
        url: slow_server(),
        model: "slow".into(),
        api_key_env: "HEATSCOPE_TEST_NO_KEY".into(),
        deadline: Duration::from_secs(60),
    };
    let Some(mut h) = harness_with(vec![], AppOptions { vlm, ..AppOptions::default() }) else { return };
    settle_samples(&mut h);
    h.state_mut().persisted.chat.max_tokens = 2;
    h.state_mut().persisted.chat.few_shot = false;
    start_run(&mut h, heatscope::app::runs::RunModel::Vlm, "all", 60, &run);
    step_until(&mut h, "no answer streamed in", |app| app.runs.shown.as_ref().is_some_and(|r| r.lines.len() >= 3));
    h.get_by_label_contains("q/s");
    h.get_by_label("Cancel run").click();
    step_until(&mut h, "the run did not stop", |app| !app.runs.making.is_loading());
    assert!(h.state().messages.iter().any(|m| m.text.contains("run cancelled")), "{:?}", h.state().messages);
    let first = run_lines(&run);
    assert!(!first.is_empty() && first.len() < 60, "{} answers kept after the cancel", first.len());

    // Start again: the same folder continues, no question twice.
    open_run_section(&mut h);
    h.get_by_label("Start run").click();
    step_until(&mut h, "the run did not finish", |app| app.runs.making.ready().is_some());
    let all = run_lines(&run);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "an id written twice");
    assert!(all.starts_with(&first), "the answers before the cancel were kept");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["answered"].as_u64().unwrap() as usize + summary["failed"].as_u64().unwrap() as usize, 60);
    assert_eq!(all.len(), 60);
    // The scene shown has its recorded answers beside its questions, scored.
    h.run_steps(3);
    let recorded = h.state().active_doc().unwrap().results.recorded.clone();
    assert!(recorded.len() >= 3, "{recorded:?}");
    assert!(h.query_all_by_label_contains("run: ").count() >= 3);
    drop(h);

    // A new app opening the run folder (as a user would from the command line or File > Open path)
    // shows the same answers without running anything.
    let Some(mut h) = harness(vec![run.clone()]) else { return };
    step_until(&mut h, "the run did not open", |app| app.runs.shown.is_some() && app.samples.is_some());
    settle(&mut h);
    h.run_steps(3);
    let app = h.state();
    assert_eq!(app.runs.shown.as_ref().unwrap().lines.len(), all.len());
    assert!(!app.active_doc().unwrap().results.recorded.is_empty());
    assert!(h.query_all_by_label_contains("run: ").count() >= 3);

    // A run of another dataset is refused with the reason.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let mut s = summary.clone();
    s["settings"]["manifest_checksum"] = "sha256:0000".into();
    s["settings"]["dataset"] = "/nowhere/dataset".into();
    std::fs::write(other.join("summary.json"), s.to_string()).unwrap();
    std::fs::write(other.join("predictions.jsonl"), "").unwrap();
    h.state_mut().open(vec![other]);
    step_until(&mut h, "no refusal", |app| app.messages.iter().any(|m| m.error && m.text.contains("another dataset")));
    // A run folder cut mid-line opens with the whole lines.
    let cut = dir.path().join("cut");
    std::fs::create_dir(&cut).unwrap();
    std::fs::copy(run.join("summary.json"), cut.join("summary.json")).unwrap();
    let text = std::fs::read_to_string(run.join("predictions.jsonl")).unwrap();
    std::fs::write(cut.join("predictions.jsonl"), &text[..text.len() - 10]).unwrap();
    h.state_mut().open(vec![cut.clone()]);
    step_until(&mut h, "the cut run did not open", |app| {
        app.runs.shown.as_ref().is_some_and(|r| r.dir == cut && r.lines.len() == all.len() - 1)
    });
}

#[test]
fn the_app_and_the_cli_give_the_same_rule_run() {
    let dir = tempfile::tempdir().unwrap();
    let app_run = dir.path().join("app-rule");
    // A dataset with val scenes (the rule is tuned on them; the bundled samples have none).
    let ds = dir.path().join("ds");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_heatscope"))
        .args(["data", "spectrum", "--scenes", "20", "--size", "48", "--seed", "1", "--out"])
        .arg(&ds)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let Some(mut h) = harness(vec![ds]) else { return };
    settle_samples(&mut h);
    start_run(&mut h, heatscope::app::runs::RunModel::Rule, "test", 0, &app_run);
    step_until(&mut h, "the rule run did not finish", |app| {
        app.runs.making.ready().is_some() || app.runs.making.failure().is_some()
    });
    assert!(h.state().runs.making.ready().is_some(), "{:?}", h.state().messages);
    let dataset = h.state().samples.as_ref().unwrap().dir.clone();
    drop(h);
    let cli_run = dir.path().join("cli-rule");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_heatscope"))
        .args(["eval", "--dataset", dataset.to_str().unwrap(), "--model", "rule", "--split", "test", "--run"])
        .arg(&cli_run)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let answers = |run: &std::path::Path| -> Vec<(String, String)> {
        std::fs::read_to_string(run.join("predictions.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["id"].as_str().unwrap().to_string(), v["answer"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let (a, c) = (answers(&app_run), answers(&cli_run));
    assert!(!a.is_empty());
    assert_eq!(a, c, "one runner: the same questions, in the same order, with the same answers");
    let summary = |run: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
    };
    let (sa, sc) = (summary(&app_run), summary(&cli_run));
    assert_eq!(sa["settings"], sc["settings"], "the same run as far as --resume is concerned");
    assert_eq!(sa["report"]["overall"], sc["report"]["overall"]);
}

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
fn the_failure_list_filters_a_run_and_walks_its_wrong_answers_in_the_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run-cnn");
    let Some(mut h) = harness(vec![]) else { return };
    settle_samples(&mut h);
    start_run(&mut h, heatscope::app::runs::RunModel::Cnn, "all", 60, &run);
    step_until(&mut h, "the run did not finish", |app| app.runs.making.ready().is_some());
    settle(&mut h);

    // E opens the list: every answered question, then only the wrong ones.
    h.key_press(egui::Key::E);
    h.run_steps(3);
    let answered = h.state().failures.answered();
    assert!(answered > 0, "the run's answers are listed");
    h.get_by_label_contains(&format!("of {answered} answered questions shown"));
    h.get_by_label("wrong only").click();
    h.run_steps(3);
    let wrong: Vec<usize> = h.state().failures.shown().map(|r| r.scene).collect();
    assert!(!wrong.is_empty() && wrong.len() < answered, "{} wrong of {answered}", wrong.len());
    assert!(h.state().failures.shown().all(|r| !r.correct));

    // Clicking a row shows its scene; Right steps to the next wrong answer's scene, not the next scene.
    let first_scene = h.state().samples.as_ref().unwrap().scenes[wrong[0]].id.clone();
    // The list's rows (not the image tab, which names the scene too): scene, level and kind.
    let rows: Vec<_> = h
        .query_all_by_label_contains(&first_scene)
        .filter(|n| n.accesskit_node().label().is_some_and(|l| l.contains(" L")))
        .collect();
    assert!(!rows.is_empty(), "the first wrong answer's row is on screen");
    rows[0].click();
    settle(&mut h);
    let scene_shown = |h: &Harness<'static, HeatscopeApp>| {
        let app = h.state();
        let set = app.samples.as_ref().unwrap();
        (
            set.current,
            app.active_doc()
                .map(|d| set.owns(&d.path) && d.path.to_string_lossy().contains(&set.scenes[set.current].id)),
        )
    };
    assert_eq!(scene_shown(&h), (wrong[0], Some(true)));
    if wrong.len() > 1 {
        h.key_press(egui::Key::ArrowRight);
        settle(&mut h);
        assert_eq!(scene_shown(&h), (wrong[1], Some(true)));
        assert_eq!(h.state().failures.selected, Some(1));
        h.key_press(egui::Key::ArrowLeft);
        settle(&mut h);
        assert_eq!(scene_shown(&h).0, wrong[0]);
    }
    // The severity matrix counts what the run's report counted.
    {
        let app = h.state();
        let set = app.samples.as_ref().unwrap();
        let m = app.failures.confusion(set, heatscope::types::QuestionKind::Severity);
        let report = app.runs.shown.as_ref().unwrap().summary.as_ref().unwrap().report.clone().expect("a report");
        let want: Vec<Vec<usize>> = serde_json::from_value(report["groups"][0]["l1_confusion"].clone()).unwrap();
        let got: Vec<Vec<usize>> = m.iter().map(|row| row[..4].to_vec()).collect();
        assert_eq!(got, want);
    }
    h.get_by_label("Summary").click();
    h.run_steps(2);
    h.get_by_label("L1 macro-F1");
    // Fold it again: the tables above the list scroll within half the window.
    h.get_by_label("Summary").click();
    h.run_steps(2);
    // A confusion-matrix cell off the diagonal lists exactly its questions.
    let (t, g, count) = {
        let app = h.state();
        let set = app.samples.as_ref().unwrap();
        let m = app.failures.confusion(set, heatscope::types::QuestionKind::Severity);
        let classes = heatscope::app::failures::matrix_classes(heatscope::types::QuestionKind::Severity);
        let cell = (0..m.len())
            .flat_map(|t| (0..classes.len()).map(move |g| (t, g)))
            .find(|&(t, g)| t != g && m[t][g] > 0)
            .map(|(t, g)| (classes[t], classes[g], m[t][g]));
        cell.expect("the CNN confuses some severity class on the bundled samples")
    };
    h.get_by_label(&format!("truth {t}, answer {g}: {count}")).click();
    h.run_steps(3);
    assert_eq!(h.state().failures.shown_len(), count);
    assert!(h.state().failures.shown().all(|r| !r.correct));
    h.get_by_label("show all").click();
    h.run_steps(2);
    assert_eq!(h.state().failures.filter.cell, None);
    // E hides the list and brings it back; the row stays chosen.
    h.key_press(egui::Key::E);
    h.run_steps(2);
    assert!(!h.state().failures.open);
    h.key_press(egui::Key::E);
    h.run_steps(2);
    assert!(h.state().failures.open && h.state().failures.selected.is_some());
}

#[test]
fn two_runs_compare_level_by_level_and_list_where_only_one_is_right() {
    let dir = tempfile::tempdir().unwrap();
    let (cnn, prior) = (dir.path().join("run-cnn"), dir.path().join("run-prior"));
    let edited = dir.path().join("run-edited");
    let Some(mut h) = harness(vec![]) else { return };
    settle_samples(&mut h);
    start_run(&mut h, heatscope::app::runs::RunModel::Cnn, "all", 60, &cnn);
    step_until(&mut h, "the CNN run did not finish", |app| app.runs.making.ready().is_some());
    // A third run, C: the CNN's run with every L1 and L2 question answered with its truth (a run
    // edited by hand, right wherever A and B both fail there).
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples/spectrumqa/manifest.jsonl");
    let truth: std::collections::HashMap<String, (String, String)> = std::fs::read_to_string(manifest)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let text = |k: &str| v[k].as_str().unwrap().to_string();
            (text("id"), (text("level"), text("answer")))
        })
        .collect();
    std::fs::create_dir_all(&edited).unwrap();
    std::fs::copy(cnn.join("summary.json"), edited.join("summary.json")).unwrap();
    let lines: String = std::fs::read_to_string(cnn.join("predictions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let (level, answer) = &truth[v["id"].as_str().unwrap()];
            if level == "L1" || level == "L2" {
                v["answer"] = answer.as_str().into();
            }
            format!("{v}\n")
        })
        .collect();
    std::fs::write(edited.join("predictions.jsonl"), lines).unwrap();
    start_run(&mut h, heatscope::app::runs::RunModel::Prior, "all", 60, &prior);
    step_until(&mut h, "the prior run did not finish", |app| {
        app.runs.making.ready().is_some() && app.runs.shown.as_ref().is_some_and(|r| r.dir == prior)
    });
    settle(&mut h);

    // A is the prior (the run shown); B, the CNN, is chosen in the built-in browser.
    h.key_press(egui::Key::E);
    h.run_steps(3);
    h.state_mut().browser.native = false;
    h.get_by_label("Compare with a run…").click();
    h.run_steps(3);
    assert!(h.state().browser.open, "the browser asks for the run to compare with");
    let field = h.get_by_role_and_label(Role::TextInput, "Path");
    field.focus();
    h.run_steps(1);
    field_text(&mut h, &cnn.display().to_string());
    h.key_press(egui::Key::Enter);
    step_until(&mut h, "the compared run did not open", |app| !app.runs.compared.is_empty());
    h.run_steps(3);
    h.get_by_label("A vs B");
    // Each run's details on hover: dataset, questions asked, answers, when it was written.
    h.get_by_label("A").hover();
    // Tooltips wait for the pointer to rest (half a second of frames).
    h.run_steps(60);
    let node = h.get_by_label_contains("60 of 60 answered, 0 failed");
    let details = format!("{:?} {:?}", node.accesskit_node().label(), node.accesskit_node().value());
    assert!(details.contains("questions: all splits") && details.contains("written"), "{details}");
    let levels = {
        let app = h.state();
        app.failures.compare_levels(app.samples.as_ref().unwrap(), 1)
    };
    let l1 = levels.iter().find(|l| l.level == heatscope::types::Level::L1).expect("L1 compared");
    assert_eq!(l1.a_right + l1.only_b, l1.b_right + l1.only_a, "right counts and only-one counts agree");
    assert!(l1.only_b > 0, "the CNN beats the prior somewhere");

    // Only B right: every listed question is one the prior missed and the CNN got.
    h.get_by_label("only B right").click();
    h.run_steps(3);
    let app = h.state();
    let only_b = levels.iter().map(|l| l.only_b).sum::<usize>();
    assert_eq!(app.failures.shown_len(), only_b);
    assert!(app.failures.shown().all(|r| !r.correct && r.right_in(1) == Some(true)));
    // Export: the listed rows (with B's columns) and the summary, into the run's analysis/ folder.
    let listed = h.state().failures.shown_len();
    h.get_by_label("Export").click();
    step_until(&mut h, "the export did not finish", |app| app.messages.iter().any(|m| m.text.contains("exported")));
    let analysis = prior.join("analysis");
    let list = std::fs::read_dir(&analysis)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("list-"))
        .expect("a list CSV");
    let text = std::fs::read_to_string(list).unwrap();
    assert!(text.lines().next().unwrap().ends_with("b_answer,b_verdict,b_correct"));
    assert_eq!(text.lines().count(), listed + 1, "a header and one line per listed question");
    assert!(text.lines().skip(1).all(|l| l.contains(",false,") && l.ends_with(",true")));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(analysis.join("summary.json")).unwrap()).unwrap();
    assert!(summary["groups"].is_array());
    assert!(std::fs::read_to_string(analysis.join("summary.csv")).unwrap().starts_with("group,metric,value,lo,hi,n"));
    // Every plot as SVG and PNG; the runs side by side.
    let find = |prefix: &str| {
        std::fs::read_dir(&analysis)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}* in {}", analysis.display()))
    };
    let plots = find("plots-");
    for name in ["levels", "iou", "reliability", "confusion-severity", "confusion-worst_region"] {
        let svg = std::fs::read_to_string(plots.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{name}");
        let png = image::open(plots.join(format!("{name}.png"))).unwrap();
        assert!(png.width() > 400, "{name}");
    }
    let level_plot = std::fs::read_to_string(plots.join("levels.svg")).unwrap();
    assert!(level_plot.contains("A: prior") && level_plot.contains("B: cnn"), "both runs in the level plot");
    let runs = std::fs::read_to_string(find("runs-")).unwrap();
    assert!(runs.starts_with("run,folder,model,group,metric") && runs.contains("\nA,") && runs.contains("\nB,"));
    // A third run (C, the edited one): each run's answer in the list, A vs C, "only C right", and
    // the runs side by side in the summary.
    h.get_by_label("Compare with a run…").click();
    h.run_steps(3);
    let field = h.get_by_role_and_label(Role::TextInput, "Path");
    field.focus();
    h.run_steps(1);
    field_text(&mut h, &edited.display().to_string());
    h.key_press(egui::Key::Enter);
    step_until(&mut h, "the third run did not open", |app| app.runs.compared.len() == 2);
    h.run_steps(3);
    assert_eq!(h.state().failures.compared(), 2);
    h.get_by_label("A vs C");
    // The filters stay in sight above the list, however many comparisons there are.
    h.get_by_label("only C right").click();
    h.run_steps(3);
    let app = h.state();
    let rows: Vec<_> = app.failures.shown().map(|r| (r.record, r.correct, r.right_in(1), r.right_in(2))).collect();
    let records = &app.samples.as_ref().unwrap().records;
    let both_wrong =
        levels.iter().filter(|l| matches!(l.level.name(), "L1" | "L2")).map(|l| l.both - l.a_right - l.only_b);
    assert_eq!(rows.len(), both_wrong.sum::<usize>(), "{rows:?}");
    assert!(!rows.is_empty() && rows.iter().all(|r| (r.1, r.2, r.3) == (false, Some(false), Some(true))), "{rows:?}");
    assert!(rows.iter().all(|r| matches!(records[r.0].level.name(), "L1" | "L2")));
    h.get_by_label("Summary").click();
    h.run_steps(3);
    h.get_by_label_contains("runs side by side");
    // Hiding C leaves A and B; the filters naming C fall back.
    h.get_by_label("show run C").click();
    h.run_steps(3);
    assert_eq!((h.state().failures.compared(), h.state().failures.filter.agreement), (1, None));
    // Stop comparing: back to one run.
    h.get_by_label("stop comparing").click();
    h.run_steps(3);
    assert!(h.state().runs.compared.is_empty() && !h.state().failures.comparing());
    // Several run folders opened at once (as `heatscope RUN RUN RUN` does): the first is A, the
    // others are compared with it once its dataset is open.
    h.state_mut().open(vec![cnn.clone(), prior.clone(), edited.clone()]);
    step_until(&mut h, "the runs opened together were not compared", |app| app.runs.compared.len() == 2);
    let app = h.state();
    assert_eq!(app.runs.shown.as_ref().map(|r| &r.dir), Some(&cnn));
    let dirs: Vec<_> = app.runs.compared.iter().map(|c| c.run.dir.clone()).collect();
    assert_eq!(dirs, [prior, edited]);
}

#[test]
fn the_cross_scenario_matrix_reads_each_runs_training_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let cnn = dir.path().join("run-cnn");
    let Some(mut h) = harness(vec![]) else { return };
    settle_samples(&mut h);
    start_run(&mut h, heatscope::app::runs::RunModel::Cnn, "all", 0, &cnn);
    step_until(&mut h, "the CNN run did not finish", |app| app.runs.making.ready().is_some());
    // Three copies of the run, each marked as a CNN trained on one scenario (as `train cnn
    // --scenario` marks its model and every run of it).
    let scenarios = ["leo-urban", "geo-rural", "haps-coastal"];
    let copies: Vec<std::path::PathBuf> = scenarios
        .iter()
        .map(|s| {
            let copy = dir.path().join(format!("cnn-{s}"));
            std::fs::create_dir_all(&copy).unwrap();
            std::fs::copy(cnn.join("predictions.jsonl"), copy.join("predictions.jsonl")).unwrap();
            let mut summary: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(cnn.join("summary.json")).unwrap()).unwrap();
            summary["settings"]["model"]["trained_on"] = (*s).into();
            std::fs::write(copy.join("summary.json"), summary.to_string()).unwrap();
            copy
        })
        .collect();
    h.state_mut().open(copies.clone());
    step_until(&mut h, "the runs did not open", |app| {
        app.runs.compared.len() == 2 && app.runs.shown.as_ref().is_some_and(|r| r.dir == copies[0])
    });
    h.state_mut().failures.open = true;
    h.run_steps(3);
    h.get_by_label("Cross-scenario").click();
    h.run_steps(3);
    // The CNN's matrix, one row per run, trained on its scenario; no VLM run, so no comparison.
    h.get_by_label("CNN: trained on (rows) x tested on");
    for (s, l) in scenarios.iter().zip(['A', 'B', 'C']) {
        h.get_by_label(&format!("{s} ({l})"));
    }
    assert!(h.query_by_label_contains("directions").is_none());
    // The diagonal is the run's own scenario group: leo-urban's L1 accuracy from A's report.
    let report = h.state().runs.shown.as_ref().unwrap().summary.as_ref().unwrap().report.clone().unwrap();
    let group = report["groups"].as_array().unwrap().iter().find(|g| g["name"] == "leo-urban").unwrap().clone();
    let value = group["l1"]["value"].as_f64().unwrap();
    assert!(h.query_all_by_label(&format!("{value:.3}")).next().is_some(), "the diagonal shows {value:.3}");
    // A run started from here streams in as A; the run shown so far becomes B.
    let prior = dir.path().join("run-prior");
    {
        let app = h.state_mut();
        (app.persisted.runs.model, app.persisted.runs.split) = (heatscope::app::runs::RunModel::Prior, "all".into());
        app.runs.folder = prior.display().to_string();
    }
    h.get_by_label("Start a run").click();
    step_until(&mut h, "the run started from the error analysis did not finish", |app| {
        app.runs.making.ready().is_some() && app.runs.shown.as_ref().is_some_and(|r| r.dir == prior)
    });
    let app = h.state();
    assert_eq!(app.runs.compared.first().map(|c| &c.run.dir), Some(&copies[0]));
    assert!(prior.join("summary.json").is_file());
}
