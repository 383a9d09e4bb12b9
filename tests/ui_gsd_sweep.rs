//! Issue 26 in the app, with the bundled VLM and the bundled NAIP tile (0.6 m from its GeoTIFF tags):
//! "tell the model the GSD" puts the sentence before the question and the answer shows and keeps it; it
//! is disabled on an image without a GSD; the GSD panel's spoofing sweep runs on a worker with progress
//! and Cancel, then plots one point per stated GSD with the GSD in use marked once and a verdict.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use common::ui::{PATIENCE, harness, settle};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use heatscope::app::slot::Slot;
use heatscope::app::{HeatscopeApp, TurnStatus};

fn naip() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples/naip_m_3211605_ne_11_060_20200415.tif")
}

fn step_until(h: &mut Harness<'static, HeatscopeApp>, what: &str, done: impl Fn(&HeatscopeApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        h.step();
        assert!(start.elapsed() < PATIENCE, "{what}: {:?}", h.state().messages);
        std::thread::sleep(Duration::from_millis(10));
    }
    h.run_steps(2);
}

/// Scroll to a widget, hover it (as a hand would: some widgets take a click only once hovered), click.
fn click(h: &mut Harness<'static, HeatscopeApp>, label: &str) {
    h.get_by_label(label).scroll_to_me();
    h.run_steps(2);
    h.get_by_label(label).hover();
    h.run_steps(2);
    h.get_by_label(label).click();
    h.run_steps(2);
}

#[test]
fn the_gsd_goes_into_the_question_only_when_asked_and_the_answer_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ramp = common::write_npy(dir.path(), "ramp.npy", 32, 32, &vec![1.0; 32 * 32]);
    let Some(mut h) = harness(vec![ramp, naip()]) else { return };
    settle(&mut h);
    step_until(&mut h, "the VLM opens", |app| app.chat.vlm.ready().is_some());
    // Every question to the VLM (the router would send some to the CNN, which is not told anything).
    h.state_mut().persisted.chat.routing.on = false;
    let resolved = h.state().resolved_gsd().expect("the tile's GeoTIFF gives its GSD");
    assert!((resolved.metres - 0.6).abs() < 0.01, "{resolved:?}");
    assert!(!h.get_by_label("tell the model the GSD").accesskit_node().is_disabled());
    click(&mut h, "tell the model the GSD");
    assert!(h.state().persisted.chat.tell_gsd);
    let ask = |h: &mut Harness<'static, HeatscopeApp>, question: &str| {
        h.state_mut().chat.input = question.to_string();
        h.run_steps(1);
        let input = h.get_by_role(Role::MultilineTextInput);
        input.focus();
        h.run_steps(1);
        h.key_press(egui::Key::Enter);
        let path = h.state().active_doc().unwrap().path.clone();
        step_until(h, "the answer", |app| {
            app.chat.histories.get(&path).and_then(|t| t.last()).is_some_and(|t| t.status != TurnStatus::Streaming)
        });
        h.state().chat.histories[&path].last().unwrap().clone()
    };
    let turn = ask(&mut h, "How wide is the road?");
    assert_eq!(turn.question, "How wide is the road?", "the history keeps the user's own question");
    assert_eq!(
        turn.gsd_in_prompt.as_deref(),
        Some("The ground sampling distance of this image is 0.599 m per pixel (from the file's georeferencing).")
    );
    h.get_by_label_contains("GSD in the prompt: The ground sampling distance of this image is 0.599 m");
    // Off again: the next answer carries no sentence.
    click(&mut h, "tell the model the GSD");
    assert!(ask(&mut h, "And the field?").gsd_in_prompt.is_none());

    // The ramp grid has no GSD: the option is there, greyed out.
    h.key_press(egui::Key::PageUp);
    h.run_steps(3);
    assert!(h.state().active_doc().unwrap().path.ends_with("ramp.npy"));
    assert!(h.state().resolved_gsd().is_none());
    assert!(h.get_by_label("tell the model the GSD").accesskit_node().is_disabled());
}

#[test]
fn the_spoofing_sweep_runs_on_a_worker_cancels_and_plots_every_gsd() {
    let Some(mut h) = harness(vec![naip()]) else { return };
    settle(&mut h);
    step_until(&mut h, "the VLM opens", |app| app.chat.vlm.ready().is_some());
    click(&mut h, "Spoofing sweep");
    h.get_by_role_and_label(Role::TextInput, "Sweep question");
    // A long sweep: it is still running a frame later (the UI did not wait), with progress and Cancel.
    h.state_mut().gsd.sweep.points = 50;
    click(&mut h, "Run sweep");
    let sweep = |app: &HeatscopeApp| app.active_doc().unwrap().results.sweep.clone();
    assert!(sweep(h.state()).is_loading());
    step_until(&mut h, "progress", |app| matches!(sweep(app), Slot::Loading(p) if p.message.contains("/51")));
    h.get_by_label_contains("asking ");
    click(&mut h, "Cancel");
    step_until(&mut h, "the cancel", |app| !sweep(app).is_loading());
    assert!(sweep(h.state()).is_empty(), "a cancelled sweep leaves nothing half-drawn");

    // A short one to the end: three stated GSDs and the tile's own, marked once.
    h.state_mut().gsd.sweep.points = 3;
    click(&mut h, "Run sweep");
    step_until(&mut h, "the sweep", |app| sweep(app).ready().is_some());
    let result = sweep(h.state()).ready().cloned().unwrap();
    let gsds: Vec<f64> = result.rows.iter().map(|r| r.gsd_m).collect();
    assert_eq!(gsds.len(), 4, "{gsds:?}");
    assert_eq!((gsds[0], gsds[3]), (0.01, 1000.0));
    assert!((gsds[2] - 10f64.sqrt()).abs() < 1e-9, "half way in log10: {gsds:?}");
    assert_eq!(result.rows.iter().filter(|r| r.is_true).count(), 1);
    assert!(result.rows[1].is_true && (result.rows[1].gsd_m - 0.6).abs() < 0.01);
    assert!(result.rows.iter().all(|r| r.mean_logprob.is_some_and(|l| l.is_finite() && l <= 0.0)));
    h.get_by_label_contains("in use: 0.599 m (metadata");
    h.get_by_label_contains("mean log-prob");
    h.get_by_label_contains("trained on spectrum heatmaps only");
    h.get_by_label("Copy CSV");
}
