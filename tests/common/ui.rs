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

/// An OpenAI-compatible server that streams one token every 100 ms for as long as the client listens.
pub fn slow_server() -> String {
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
pub fn step_until(h: &mut Harness<'static, HeatscopeApp>, what: &str, done: impl Fn(&HeatscopeApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        h.step();
        assert!(start.elapsed() < PATIENCE, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A primary-button drag from `a` to `b` in six steps (so egui sees a drag, not a click).
pub fn drag(h: &mut Harness<'static, HeatscopeApp>, a: egui::Pos2, b: egui::Pos2) {
    let button = |pos, pressed| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: egui::Modifiers::NONE,
    };
    h.hover_at(a);
    h.event(button(a, true));
    h.run_steps(1);
    for k in 1..=6 {
        h.event(egui::Event::PointerMoved(a.lerp(b, k as f32 / 6.0)));
        h.run_steps(1);
    }
    h.event(button(b, false));
    h.run_steps(2);
}

/// A left click at `pos` (press and release).
pub fn click_at(h: &mut Harness<'static, HeatscopeApp>, pos: egui::Pos2) {
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
pub fn field_text(h: &mut Harness<'static, HeatscopeApp>, text: &str) {
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.event(egui::Event::Text(text.to_string()));
    h.run_steps(2);
}
