//! Routing in "Ask the image", as a user meets it: a typed question shows where it will go and why,
//! Enter sends a region question to the CNN (answered at once from the reading its overlay shows), the
//! override sends it to the VLM, and with "ask me when unsure" an off-topic question is not answered.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::time::Instant;

use common::ui::{PATIENCE, settle_samples};
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use heatscope::app::TurnStatus;

fn type_question(h: &mut egui_kittest::Harness<'static, heatscope::app::HeatscopeApp>, text: &str) {
    h.state_mut().chat.input.clear();
    let input = h.get_by_role(Role::MultilineTextInput);
    input.focus();
    input.type_text(text);
    h.run_steps(3);
}

#[test]
fn a_typed_question_goes_where_the_router_says_and_the_user_can_override_it() {
    if common::headless().is_none() {
        return;
    }
    // Tall enough that the line under the question is on screen (a click needs it visible).
    let mut h = egui_kittest::Harness::builder()
        .with_size(egui::vec2(1280.0, 1100.0))
        .wgpu()
        .build_eframe(move |cc| heatscope::app::HeatscopeApp::new(cc, vec![]).expect("the app starts"));
    settle_samples(&mut h);
    let reading = h.state().cnn_reading().expect("the CNN read the first sample on open");
    let path = h.state().active_doc().unwrap().path.clone();

    // A region question: the line names the CNN and why, before anything is asked.
    type_question(&mut h, "is the upper left affected?");
    h.get_by_label_contains("-> CNN · L2 region affected, top-left");
    h.get_by_label_contains("best on val for this kind");
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    let turn = h.state().chat.histories[&path].last().cloned().expect("a turn");
    assert_eq!(turn.by.as_deref(), Some("CNN"));
    assert_eq!(turn.status, TurnStatus::Done(heatscope::backend::Finish::Stop));
    let expected = if reading.region_affected[0] { "yes" } else { "no" };
    assert_eq!(turn.text(), expected, "the CNN's answer is its overlay's reading of the top-left");
    assert!(h.state().chat.input.is_empty(), "the question box is cleared");
    h.get_by_label_contains("CNN: L2 region affected question -> CNN");

    // The same question, sent to the VLM instead with the override button.
    type_question(&mut h, "is the upper left affected?");
    h.get_by_label("ask the VLM").click();
    let start = Instant::now();
    loop {
        h.step();
        let last = h.state().chat.histories[&path].last().cloned().unwrap();
        if last.by.as_deref() == Some("VLM") && last.status != TurnStatus::Streaming {
            assert!(last.route.unwrap().contains("you chose it"));
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the VLM did not answer: {:?} {:?}",
            h.state().messages,
            h.state().chat.histories[&path].iter().map(|t| (t.by.clone(), t.status.clone())).collect::<Vec<_>>()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    // The table picks the rule for which-is-worse; in the app the CNN's reading answers it.
    type_question(&mut h, "upper left vs centre, which is worse?");
    h.get_by_label_contains("-> CNN · L2 which worse, top-left and centre");
    h.get_by_label_contains("so here the CNN does");
    // An explanation question goes to the VLM; an off-topic one is refused when the user asked to be asked.
    type_question(&mut h, "what causes this interference and how could we mitigate it?");
    h.get_by_label_contains("-> VLM · L4 explain");
    h.state_mut().persisted.chat.routing.on_abstain = heatscope::models::router::policy::OnAbstain::Ask;
    type_question(&mut h, "what's the weather like in Paris tomorrow?");
    h.get_by_label_contains("-> nobody · abstains");
    let before = h.state().chat.histories[&path].len();
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    let turns = &h.state().chat.histories[&path];
    assert_eq!(turns.len(), before + 1);
    assert!(
        matches!(&turns[before].status, TurnStatus::Failed(why) if why.contains("rephrase")),
        "{:?}",
        turns[before].status
    );
}

#[test]
fn a_broken_router_folder_is_reported_and_questions_go_to_the_vlm() {
    let dir = tempfile::tempdir().unwrap();
    let bundled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/router/model.safetensors");
    std::fs::copy(bundled, dir.path().join("model.safetensors")).unwrap();
    std::fs::write(dir.path().join("config.json"), "{\"format\": \"heatscope-router\", \"bits\": 15").unwrap();
    let options = heatscope::app::AppOptions { router_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let Some(mut h) = common::ui::harness_with(vec![], options) else { return };
    settle_samples(&mut h);
    let said = h.state().messages.iter().map(|m| m.text.clone()).collect::<Vec<_>>().join("\n");
    assert!(said.contains("config.json") && said.contains("routing is off"), "{said}");
    let path = h.state().active_doc().unwrap().path.clone();
    type_question(&mut h, "is the upper left affected?");
    h.get_by_label_contains("routing is off");
    h.key_press(egui::Key::Enter);
    let start = Instant::now();
    loop {
        h.step();
        if let Some(t) = h.state().chat.histories.get(&path).and_then(|t| t.last())
            && t.status != TurnStatus::Streaming
        {
            assert_eq!(t.by.as_deref(), Some("VLM"));
            assert!(t.route.as_deref().unwrap().contains("routing is off"));
            break;
        }
        assert!(start.elapsed() < PATIENCE, "the VLM did not answer");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
