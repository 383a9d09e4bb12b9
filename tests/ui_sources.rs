//! Radio sources in the app, driven like a user: a real radio image opens and its islands are found
//! on a worker by themselves, a click on an island selects it (the panel shows its measurements), K
//! hides and shows them, changing the seed threshold searches again; an I/N map gets no search.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::ui::{click_at, harness, settle, step_until};

use egui_kittest::kittest::Queryable;

#[test]
fn islands_are_found_selected_and_toggled() {
    let Some(real) = common::real_data() else { return };
    let file = real.join("radio/aegean_PD_2000_sub.fits");
    let Some(mut h) = harness(vec![file]) else { return };
    settle(&mut h);
    step_until(&mut h, "sources found", |app| app.active_doc().unwrap().sources.found.ready().is_some());
    let doc = h.state().active_doc().unwrap();
    let found = doc.sources.found.ready().unwrap();
    assert_eq!(found.catalog.islands.len(), 3);
    assert_eq!(found.outlines.len(), 3);
    h.get_by_label_contains("3 islands, 4 peaks");

    // A click on the brightest island's peak selects it.
    let peak = &found.catalog.islands[0].peaks[0];
    let at = doc.screen_pos([peak.x as f32 + 0.5, peak.y as f32 + 0.5]).expect("drawn");
    click_at(&mut h, at);
    h.run_steps(2);
    assert_eq!(h.state().active_doc().unwrap().sources.selected, Some(1));
    h.get_by_label_contains("island #1: 2 peak(s)");
    // The specialist CNN reads the island's cutout: a label and probabilities for each of the six tasks.
    step_until(&mut h, "the radio CNN read the source", |app| {
        app.active_doc().unwrap().sources.reading.ready().is_some()
    });
    let reading = std::sync::Arc::clone(h.state().active_doc().unwrap().sources.reading.ready().unwrap());
    assert_eq!(reading.tasks.len(), 6);
    for t in &reading.tasks {
        let total: f32 = t.probs.iter().map(|p| p.1).sum();
        assert!((total - 1.0).abs() < 1e-4, "{t:?}");
    }
    h.get_by_label_contains("Specialist CNN (cnn-radio)");
    h.get_by_label_contains("About source #1");

    // A typed radio question goes to the radio CNN, which answers from its reading of the selected cutout.
    let path = h.state().active_doc().unwrap().path.clone();
    h.state_mut().chat.input.clear();
    let input = h.get_by_role(egui::accesskit::Role::MultilineTextInput);
    input.focus();
    input.type_text("is this radio galaxy FR-I or FR-II?");
    h.run_steps(3);
    h.get_by_label_contains("-> RADIO CNN · L1 fr");
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    let turn = h.state().chat.histories[&path].last().cloned().expect("a turn");
    match &reading.out_of_domain {
        None => {
            assert_eq!(turn.by.as_deref(), Some("radio CNN"));
            assert_eq!(turn.text(), reading.task("fr").unwrap().label, "the answer is the panel's reading");
            assert!(turn.route.as_deref().unwrap().contains("-> the radio CNN"), "{:?}", turn.route);
        }
        // A cutout outside the model's domain is not answered by it: the VLM answers, saying why.
        Some(_) => assert!(turn.route.as_deref().unwrap().contains("the radio CNN cannot answer"), "{:?}", turn.route),
    }
    // A click off every island clears the selection.
    let corner = h.state().active_doc().unwrap().screen_pos([2.5, 2.5]).unwrap();
    click_at(&mut h, corner);
    h.run_steps(2);
    assert_eq!(h.state().active_doc().unwrap().sources.selected, None);

    // K hides the sources; K again shows them.
    h.key_press(egui::Key::K);
    h.run_steps(2);
    assert!(!h.state().sources.show);
    h.key_press(egui::Key::K);
    h.run_steps(2);
    assert!(h.state().sources.show);

    // A higher seed searches again and keeps only the two bright islands.
    h.state_mut().sources.options.seed_sigma = 20.0;
    step_until(&mut h, "searched again", |app| {
        app.active_doc().unwrap().sources.found.ready().is_some_and(|f| f.catalog.options.seed_sigma == 20.0)
    });
    assert_eq!(h.state().active_doc().unwrap().sources.found.ready().unwrap().catalog.islands.len(), 2);
}

#[test]
fn an_in_map_is_not_searched() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..32 * 32).map(|i| (i % 7) as f32 - 10.0).collect();
    let file = common::write_npy(dir.path(), "in.npy", 32, 32, &values);
    let Some(mut h) = harness(vec![file]) else { return };
    settle(&mut h);
    h.run_steps(3);
    assert!(h.state().active_doc().unwrap().sources.found.is_empty());
    assert!(h.query_by_label("Find sources (K)").is_none());
}
