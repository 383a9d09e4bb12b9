//! End-to-end tests of the scorer on small hand-made RadioQA-sim manifests: per-task accuracy,
//! weighted F1 and confusion computed by hand, unreadable and missing answers, SNR groups, mixed and
//! RadioQA-only reports, and the prior baseline on radio kinds. Test-only; any thread.

use super::baselines::prior_predictions;
use super::*;
use crate::types::{Prediction, QaRecord, QuestionKind, ScenePaths, Split};

fn record(id: &str, scene: &str, scenario: &str, kind: QuestionKind, answer: &str, snr: Option<&str>) -> QaRecord {
    QaRecord {
        id: id.into(),
        scene: scene.into(),
        scenario: scenario.into(),
        split: Split::Test,
        level: kind.level(),
        kind,
        question: "?".into(),
        answer: answer.into(),
        choices: kind.radio_classes().iter().map(|c| (*c).to_string()).collect(),
        bbox: None,
        concepts: Vec::new(),
        examples: Vec::new(),
        images: ScenePaths::default(),
        snr_bin: snr.map(str::to_string),
    }
}

fn pred(id: &str, answer: &str) -> Prediction {
    Prediction { id: id.into(), answer: answer.into(), bbox: None, confidence: None, out_of_domain: None }
}

fn opts(bootstrap: usize) -> ScoreOptions {
    ScoreOptions { bootstrap, ..ScoreOptions::default() }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Six morphology questions over two scenarios and three SNR bins, two galaxy questions, and the
/// answers: three right, one wrong, one unreadable, one missing (morphology); one right, one wrong
/// (galaxy).
fn small() -> (Vec<QaRecord>, Vec<Prediction>) {
    use QuestionKind::{Galaxy, Morphology};
    let bins = ["5-10", "10-30", ">100"];
    let refs = ["1C-1P", "1C-1P", "1C-2P", "1C-2P", "2C-2P", "2C-2P"];
    let mut records: Vec<QaRecord> = refs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let scenario = if i < 3 { "a" } else { "b" };
            record(&format!("m{i}"), &format!("s{i}"), scenario, Morphology, r, Some(bins[i % 3]))
        })
        .collect();
    records.push(record("g0", "s0", "a", Galaxy, "YES", Some("5-10")));
    records.push(record("g3", "s3", "b", Galaxy, "NO", Some("5-10")));
    let preds = vec![
        pred("m0", " 1c-1p. "),
        pred("m1", "1C-2P"),
        pred("m2", "1C-2P"),
        pred("m3", "It has two components"),
        pred("m4", "2C-2P!"),
        pred("g0", "Yes"),
        pred("g3", "yes;"),
    ];
    (records, preds)
}

#[test]
fn accuracy_weighted_scores_and_confusion_match_a_hand_count() {
    let (records, preds) = small();
    let rep = score(&records, &preds, &opts(0));
    let o = rep.overall().expect("overall");
    let m = o.radio.task("morphology").expect("morphology");
    assert_eq!(m.accuracy.n, 6);
    assert!(close(m.accuracy.value, 3.0 / 6.0));
    // Per class (support 2 each): 1C-1P P 1, R 1/2, F1 2/3; 1C-2P P 1/2 (m1 and m2 answered it),
    // R 1/2, F1 1/2; 2C-2P P 1, R 1/2, F1 2/3. The unreadable m3 and the missing m5 add no positive.
    assert!(close(m.weighted_precision.value, (1.0 + 0.5 + 1.0) / 3.0), "{:?}", m.weighted_precision);
    assert!(close(m.weighted_recall.value, 0.5));
    assert!(close(m.weighted_f1.value, (2.0 / 3.0 + 0.5 + 2.0 / 3.0) / 3.0), "{:?}", m.weighted_f1);
    let c = &m.confusion;
    assert_eq!(c.rows, ["1C-1P", "1C-2P", "1C-3P", "2C-2P", "2C-3P", "3C-3P"]);
    assert_eq!(c.columns.last().map(String::as_str), Some("no answer"));
    assert_eq!(c.counts[0], [1, 1, 0, 0, 0, 0, 0]);
    assert_eq!(c.counts[1], [0, 1, 0, 0, 0, 0, 1]);
    assert_eq!(c.counts[3], [0, 0, 0, 1, 0, 0, 1]);
    assert_eq!(c.normalized[1], [0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5]);
    assert_eq!(c.normalized[2], [0.0; 7], "a class with no reference answer is a zero row");
    assert_eq!((c.unparsed, c.missing), (1, 1));

    let g = o.radio.task("galaxy").expect("galaxy");
    assert!(close(g.accuracy.value, 0.5));
    // YES: P 1/2, R 1, F1 2/3; NO: never answered, F1 0.
    assert!(close(g.weighted_f1.value, (2.0 / 3.0) / 2.0));
    // Only the tasks with questions are reported, in QuestionKind::RADIO order.
    let tasks: Vec<&str> = o.radio.0.iter().map(|t| t.task.as_str()).collect();
    assert_eq!(tasks, ["morphology", "galaxy"]);
    // Radio questions are outside the SpectrumQA levels.
    assert_eq!((o.questions.total(), o.composite.n), (0, 0));
    assert_eq!(rep.missing, 1);

    // The per-question verdict the chat and the runs show agrees with the report.
    let by_id = |id: &str| preds.iter().find(|p| p.id == id);
    let right = records.iter().filter(|r| score_question(r, by_id(&r.id)).correct).count();
    assert_eq!(right, 4);
}

#[test]
fn snr_bins_are_groups_in_numeric_order_after_the_scenarios() {
    let (records, preds) = small();
    let rep = score(&records, &preds, &opts(0));
    let names: Vec<&str> = rep.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["overall", "a", "b", "snr 5-10", "snr 10-30", "snr >100"]);
    let acc = |group: &str, task: &str| {
        let t = rep.group(group).and_then(|g| g.radio.task(task)).expect("task in group");
        (t.accuracy.value, t.accuracy.n)
    };
    assert_eq!(acc("a", "morphology"), (2.0 / 3.0, 3));
    assert_eq!(acc("b", "morphology"), (1.0 / 3.0, 3));
    // snr 5-10: m0 right, m3 unreadable; g0 right, g3 wrong.
    assert_eq!(acc("snr 5-10", "morphology"), (0.5, 2));
    assert_eq!(acc("snr 5-10", "galaxy"), (0.5, 2));
    assert_eq!(rep.group("snr 5-10").map(|g| g.scenes), Some(2));
    // A group without a task's questions carries it with n = 0.
    assert_eq!(acc("snr >100", "galaxy"), (0.0, 0));
    assert_eq!(acc("snr >100", "morphology"), (0.5, 2));

    // Records without a bin feed no SNR group.
    let unbinned: Vec<QaRecord> = records.iter().cloned().map(|r| QaRecord { snr_bin: None, ..r }).collect();
    let names: Vec<String> = score(&unbinned, &preds, &opts(0)).groups.into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["overall", "a", "b"]);
}

#[test]
fn the_json_text_and_csv_carry_every_task_number() {
    let (records, preds) = small();
    let rep = score(&records, &preds, &opts(200));
    let json: serde_json::Value = serde_json::from_str(&rep.to_json()).expect("JSON");
    let o = &json["groups"][0];
    assert_eq!(o["morphology"]["value"], 0.5);
    assert_eq!(o["morphology"]["n"], 6);
    for key in ["morphology_weighted_f1", "morphology_weighted_precision", "morphology_weighted_recall"] {
        assert!(o[key]["lo"].as_f64() <= o[key]["value"].as_f64(), "{key}");
        assert!(o[key]["value"].as_f64() <= o[key]["hi"].as_f64(), "{key}");
    }
    assert_eq!(o["morphology_confusion"]["normalized"][0][1], 0.5);
    assert_eq!(o["morphology_confusion"]["columns"][6], "no answer");
    assert!(o.get("extended").is_none(), "no extended questions, no extended field");
    // The SpectrumQA fields stay, with n = 0.
    assert_eq!(o["composite"]["n"], 0);
    assert_eq!(json["groups"][3]["name"], "snr 5-10");

    let text = rep.to_text();
    assert!(!text.contains("SpectrumQA-sim scores"), "a RadioQA-only report has no empty spectrum table:\n{text}");
    assert!(text.contains("RadioQA-sim scores") && text.contains("weighted F1"), "{text}");
    assert!(text.contains("morphology confusion (overall"), "{text}");
    assert!(text.contains("snr 10-30") && text.contains("no answer"), "{text}");
    let row = text.lines().find(|l| l.starts_with("1C-2P ")).expect("the 1C-2P row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, ["1C-2P", "0.00", "0.50", "0.00", "0.00", "0.00", "0.00", "0.50", "2"]);
    assert!(text.contains("radio answers with no label (counted wrong, no class): 1 (morphology 1, galaxy 0)"));
    assert!(text.contains("missing predictions (counted wrong): 1 (ids: m5)"));

    let csv = rep.to_csv();
    assert!(!csv.contains(",l1_acc,"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("overall,morphology,0.500000,")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("snr >100,galaxy_weighted_f1,") && l.ends_with(",0")), "{csv}");
    // 6 groups x 2 tasks x 4 metrics, and the header.
    assert_eq!(csv.lines().count(), 1 + 6 * 2 * 4);
}

#[test]
fn a_mixed_manifest_scores_each_part_on_its_own_records() {
    let (radio, radio_preds) = small();
    let mut spectrum: Vec<QaRecord> = ["low", "high", "high"]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut r = record(&format!("l{i}"), &format!("t{i}"), "a", QuestionKind::Severity, a, None);
            r.choices = Vec::new();
            r
        })
        .collect();
    spectrum.push(QaRecord {
        kind: QuestionKind::RegionAffected,
        level: QuestionKind::RegionAffected.level(),
        answer: "yes".into(),
        ..record("r0", "t0", "c", QuestionKind::Severity, "yes", None)
    });
    let spectrum_preds = vec![pred("l0", "low"), pred("l1", "severe"), pred("l2", "High."), pred("r0", "no")];
    let alone = score(&spectrum, &spectrum_preds, &opts(0));
    let mixed_records: Vec<QaRecord> = spectrum.iter().chain(&radio).cloned().collect();
    let mixed_preds: Vec<Prediction> = spectrum_preds.iter().chain(&radio_preds).cloned().collect();
    let mixed = score(&mixed_records, &mixed_preds, &opts(0));

    let (a, m) = (alone.overall().expect("overall"), mixed.overall().expect("overall"));
    assert_eq!(a.spectrum_metrics(), m.spectrum_metrics());
    assert_eq!((a.questions, a.l1_confusion, a.unparsed), (m.questions, m.l1_confusion, m.unparsed));
    assert_eq!(m.radio, score(&radio, &radio_preds, &opts(0)).groups[0].radio);
    // A SpectrumQA-only report has no radio fields at all.
    assert!(a.radio.is_empty());
    let json: serde_json::Value = serde_json::from_str(&alone.to_json()).expect("JSON");
    let keys: Vec<&String> = json["groups"][0].as_object().expect("object").keys().collect();
    assert!(keys.iter().all(|k| !k.contains("morphology") && !k.contains("galaxy")), "{keys:?}");
    assert!(!alone.to_text().contains("RadioQA"));

    // The mixed text shows both parts; the spectrum table leaves out the groups with no spectrum
    // question (scenario b, the SNR bins).
    let text = mixed.to_text();
    assert!(text.contains("SpectrumQA-sim scores") && text.contains("RadioQA-sim scores"), "{text}");
    let table: Vec<&str> = text.lines().skip(2).take_while(|l| !l.is_empty()).collect();
    let names: Vec<&str> = table.iter().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["overall", "a", "c"], "{text}");
    // The CSV keeps both.
    let csv = mixed.to_csv();
    assert!(csv.contains("overall,l1_acc,") && csv.contains("overall,morphology_weighted_f1,"));
}

#[test]
fn radio_intervals_resample_scenes_and_contain_the_value() {
    let mut records = Vec::new();
    let mut preds = Vec::new();
    for i in 0..40 {
        let truth = crate::types::EXTENDED_CLASSES[i % 4];
        let id = format!("e{i}");
        records.push(record(&id, &format!("s{i}"), "x", QuestionKind::Extended, truth, None));
        let answer = if i % 3 == 0 { crate::types::EXTENDED_CLASSES[(i + 1) % 4] } else { truth };
        preds.push(pred(&id, answer));
    }
    let a = score(&records, &preds, &opts(300));
    assert_eq!(a, score(&records, &preds, &opts(300)), "deterministic");
    let t = a.overall().and_then(|o| o.radio.task("extended")).expect("extended");
    for m in [t.accuracy, t.weighted_precision, t.weighted_recall, t.weighted_f1] {
        assert!(m.lo <= m.value && m.value <= m.hi && m.hi > m.lo, "{m:?}");
        assert!((0.0..=1.0).contains(&m.lo) && (0.0..=1.0).contains(&m.hi));
    }
    assert!(close(t.weighted_recall.value, t.accuracy.value));
}

#[test]
fn the_prior_answers_each_radio_kind_with_its_train_majority() {
    let train = |id: &str, kind: QuestionKind, answer: &str| QaRecord {
        split: Split::Train,
        ..record(id, &format!("scene-{id}"), "x", kind, answer, None)
    };
    let records = vec![
        train("t1", QuestionKind::Morphology, "2C-3P"),
        train("t2", QuestionKind::Morphology, "1C-1P"),
        train("t3", QuestionKind::Morphology, "2C-3P"),
        train("t4", QuestionKind::Galaxy, "NO"),
        train("t5", QuestionKind::Galaxy, "YES"),
        train("t6", QuestionKind::Galaxy, "YES"),
        // Artefact shares galaxy's YES/NO labels but has its own majority.
        train("t7", QuestionKind::Artefact, "NO"),
        record("q1", "s1", "x", QuestionKind::Morphology, "1C-1P", None),
        record("q2", "s2", "x", QuestionKind::Morphology, "2C-3P", None),
        record("q3", "s1", "x", QuestionKind::Galaxy, "YES", None),
        record("q4", "s2", "x", QuestionKind::Artefact, "NO", None),
    ];
    let preds = prior_predictions(&records).expect("a train split");
    let answer = |id: &str| preds.iter().find(|p| p.id == id).map(|p| p.answer.as_str());
    assert_eq!(
        [answer("q1"), answer("q2"), answer("q3"), answer("q4")].map(Option::unwrap_or_default),
        ["2C-3P", "2C-3P", "YES", "NO"]
    );
    let test_only = ScoreOptions { split: Some(Split::Test), ..opts(0) };
    let o = score(&records, &preds, &test_only).groups.remove(0);
    assert_eq!(o.radio.task("morphology").map(|t| t.accuracy.value), Some(0.5));
    assert_eq!(o.radio.task("galaxy").map(|t| t.accuracy.value), Some(1.0));
}
