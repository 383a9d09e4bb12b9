//! End-to-end tests of the scorer on small hand-made manifests. Test-only; any thread.

use super::*;
use crate::types::{Level, Prediction, QaRecord, QuestionKind, Split, box_answer, concepts_in};

fn record(id: &str, scene: &str, scenario: &str, kind: QuestionKind, answer: &str) -> QaRecord {
    let choices: Vec<String> = match kind {
        QuestionKind::WhichWorse => vec!["top-left".into(), "centre".into()],
        _ => vec![],
    };
    let bbox = if kind == QuestionKind::Localize { crate::types::parse_box_answer(answer).unwrap() } else { None };
    let record = serde_json::json!({
        "id": id, "scene": scene, "scenario": scenario,
        "split": if scenario == "rural" { "val" } else { "test" },
        "level": kind.level().name(), "kind": kind.name(), "question": "?", "answer": answer,
        "choices": choices, "box": bbox,
        "concepts": if kind == QuestionKind::Explain { concepts_in(answer) } else { vec![] },
        "images": {"observed": "o", "truth": "t", "png": "p", "meta": "m"},
    });
    serde_json::from_value(record).unwrap()
}

/// Six questions per scene over `n` scenes in each of two scenarios; every third scene has no region.
fn manifest(n: usize) -> Vec<QaRecord> {
    let sev = ["low", "moderate", "high", "severe"];
    let mut out = Vec::new();
    for scenario in ["urban", "rural"] {
        for i in 0..n {
            let scene = format!("{scenario}-{i}");
            let q = |k: usize| format!("{scene}-q{k}");
            let has_region = i % 3 != 0;
            let boxed = box_answer([0.1, 0.2, 0.1 + 0.05 * (i % 4) as f32 + 0.1, 0.6]);
            out.push(record(&q(0), &scene, scenario, QuestionKind::Severity, sev[i % 4]));
            out.push(record(
                &q(1),
                &scene,
                scenario,
                QuestionKind::RegionAffected,
                if has_region { "yes" } else { "no" },
            ));
            out.push(record(
                &q(2),
                &scene,
                scenario,
                QuestionKind::WhichWorse,
                if i % 2 == 0 { "centre" } else { "top-left" },
            ));
            out.push(record(&q(3), &scene, scenario, QuestionKind::WorstRegion, "bottom-right"));
            out.push(record(&q(4), &scene, scenario, QuestionKind::Localize, if has_region { &boxed } else { "none" }));
            out.push(record(
                &q(5),
                &scene,
                scenario,
                QuestionKind::Explain,
                "The satellite main beam dominates; beam steering helps.",
            ));
        }
    }
    out
}

fn perfect(records: &[QaRecord]) -> Vec<Prediction> {
    records
        .iter()
        .map(|r| Prediction {
            id: r.id.clone(),
            answer: r.answer.clone(),
            bbox: r.bbox,
            confidence: None,
            out_of_domain: None,
        })
        .collect()
}

fn pred(id: &str, answer: &str) -> Prediction {
    Prediction { id: id.into(), answer: answer.into(), bbox: None, confidence: None, out_of_domain: None }
}

fn opts(bootstrap: usize) -> ScoreOptions {
    ScoreOptions { bootstrap, ..ScoreOptions::default() }
}

#[test]
fn perfect_predictions_score_one_with_zero_width_intervals() {
    let recs = manifest(6);
    let rep = score(&recs, &perfect(&recs), &opts(200));
    assert_eq!((rep.missing, rep.unknown), (0, 0));
    for g in &rep.groups {
        for (name, m) in g.metrics() {
            assert_eq!((m.value, m.lo, m.hi), (1.0, 1.0, 1.0), "{} {name}", g.name);
            assert!(m.n > 0);
        }
        assert_eq!(g.unparsed.total() + g.missing.total(), 0);
    }
    let o = rep.overall().unwrap();
    assert_eq!(o.questions, LevelCounts { l1: 12, l2: 36, l3: 12, l4: 12 });
    assert_eq!(o.l3_iou.n, 8);
    assert_eq!(o.l3_scenes_with_region, 8);
    assert_eq!(o.l1_confusion[0][0] + o.l1_confusion[1][1] + o.l1_confusion[2][2] + o.l1_confusion[3][3], 12);
}

#[test]
fn missing_predictions_score_zero_and_are_listed() {
    let recs = manifest(3);
    let rep = score(&recs, &[], &opts(50));
    assert_eq!(rep.missing, recs.len());
    assert_eq!(rep.missing_ids.len(), 10);
    assert_eq!(rep.missing_ids[0], recs[0].id);
    for g in &rep.groups {
        for m in [g.l1, g.l1_macro_f1, g.l2, g.l3_iou, g.l3_none_acc, g.l4_token_f1, g.l4_concept_f1, g.composite] {
            assert_eq!((m.value, m.lo, m.hi), (0.0, 0.0, 0.0));
            assert!(m.n > 0);
        }
        assert_eq!(g.unparsed.total(), 0);
        assert_eq!(g.missing.total(), g.questions.total());
    }
    assert_eq!(rep.overall().unwrap().l1_unanswered.iter().sum::<usize>(), 6);
}

#[test]
fn groups_are_overall_then_scenarios_by_name() {
    let recs = manifest(4);
    // Perfect on urban, nothing on rural.
    let preds: Vec<Prediction> = perfect(&recs).into_iter().filter(|p| p.id.starts_with("urban")).collect();
    let rep = score(&recs, &preds, &opts(100));
    let names: Vec<&str> = rep.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["overall", "rural", "urban"]);
    let (o, rural, urban) = (&rep.groups[0], &rep.groups[1], &rep.groups[2]);
    assert_eq!((o.scenes, rural.scenes, urban.scenes), (8, 4, 4));
    assert_eq!(urban.composite.value, 1.0);
    assert_eq!(rural.composite.value, 0.0);
    assert!((o.composite.value - 0.5).abs() < 1e-12);
    assert!((o.l1.value - 0.5).abs() < 1e-12);
    assert_eq!(rep.missing, recs.len() / 2);

    // The split filter keeps only rural (val) records.
    let val = score(&recs, &preds, &ScoreOptions { split: Some(Split::Val), ..opts(10) });
    let names: Vec<&str> = val.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["overall", "rural"]);
    assert_eq!(val.overall().unwrap().composite.value, 0.0);
    assert_eq!(val.unknown, 0, "predictions for other splits are not unknown");
}

#[test]
fn l3_none_counts_for_the_decision_but_not_for_iou() {
    let b = "[0.100, 0.100, 0.500, 0.500]";
    let recs = vec![
        record("n1", "s1", "x", QuestionKind::Localize, "none"),
        record("n2", "s1", "x", QuestionKind::Localize, "none"),
        record("b1", "s2", "x", QuestionKind::Localize, b),
        record("b2", "s2", "x", QuestionKind::Localize, b),
        record("b3", "s3", "x", QuestionKind::Localize, b),
    ];
    let preds = vec![
        pred("n1", "None."),                                                   // right decision, not in IoU
        pred("n2", "[0.2, 0.2, 0.4, 0.4]"),                                    // wrong decision
        pred("b1", "The region is [0.1, 0.1, 0.5, 0.5]."),                     // IoU 1 from a sentence
        pred("b2", "none"),                                                    // IoU 0, wrong decision
        Prediction { bbox: Some([0.1, 0.1, 0.3, 0.5]), ..pred("b3", "none") }, // box field wins: IoU 0.5
    ];
    let rep = score(&recs, &preds, &opts(0));
    let o = rep.overall().unwrap();
    assert_eq!(o.l3_iou.n, 3);
    assert!((o.l3_iou.value - 1.5 / 3.0).abs() < 1e-6, "{}", o.l3_iou.value);
    assert_eq!(o.l3_none_acc.n, 5);
    assert!((o.l3_none_acc.value - 3.0 / 5.0).abs() < 1e-12);
    assert_eq!(o.l3_scenes_with_region, 2);
    assert_eq!(o.unparsed.l3, 0);
    // With no other levels, the composite is the L3 IoU.
    assert!((o.composite.value - o.l3_iou.value).abs() < 1e-12);

    // Unparseable box answers and invalid boxes count as unparsed, IoU 0 and a wrong decision.
    let bad = vec![
        pred("n1", "maybe somewhere"),
        pred("b1", "[0.1, 0.1, 0.5]"),
        Prediction { bbox: Some([0.5, 0.1, 0.1, 0.5]), ..pred("b2", "") },
        pred("b3", "[0.1, 0.1, 0.2, 0.2] or [0.3, 0.3, 0.4, 0.4]"),
    ];
    let o = score(&recs, &bad, &opts(0)).groups.remove(0);
    assert_eq!((o.unparsed.l3, o.missing.l3), (4, 1));
    assert_eq!((o.l3_iou.value, o.l3_none_acc.value), (0.0, 0.0));
}

#[test]
fn choice_answers_are_matched_forgivingly_but_never_guessed() {
    let recs = vec![
        record("a", "s1", "x", QuestionKind::Severity, "high"),
        record("b", "s1", "x", QuestionKind::Severity, "high"),
        record("c", "s2", "x", QuestionKind::WorstRegion, "centre"),
        record("d", "s2", "x", QuestionKind::WhichWorse, "top-left"),
        record("e", "s2", "x", QuestionKind::RegionAffected, "no"),
    ];
    let preds = vec![
        pred("a", "Severity: HIGH."),
        pred("b", "high or severe"),
        pred("c", "The center region"),
        pred("d", "top_left"),
        pred("e", "Yes, it is."),
    ];
    let o = score(&recs, &preds, &opts(0)).groups.remove(0);
    assert_eq!((o.l1.value, o.l1.n), (0.5, 2));
    assert_eq!(o.unparsed.l1, 1);
    assert_eq!(o.l1_confusion[2][2], 1);
    assert_eq!(o.l1_unanswered, [0, 0, 1, 0]);
    // Class "high": tp 1, one false negative (unparsed) -> F1 2/3; no other class appears.
    assert!((o.l1_macro_f1.value - 2.0 / 3.0).abs() < 1e-12);
    assert!((o.l2.value - 2.0 / 3.0).abs() < 1e-12);
    let by_kind: Vec<(String, f64)> = o.l2_by_kind.iter().map(|k| (k.kind.clone(), k.metric.value)).collect();
    assert_eq!(
        by_kind,
        [("region_affected".to_string(), 0.0), ("which_worse".to_string(), 1.0), ("worst_region".to_string(), 1.0)]
    );
}

#[test]
fn l4_scores_token_and_concept_f1() {
    let recs = vec![record("a", "s", "x", QuestionKind::Explain, "beam steering")];
    let o = score(&recs, &[pred("a", "The beam steering helps")], &opts(0)).groups.remove(0);
    assert!((o.l4_token_f1.value - 0.8).abs() < 1e-12);
    assert_eq!(o.l4_concept_f1.value, 1.0);
    let o = score(&recs, &[pred("a", "power control")], &opts(0)).groups.remove(0);
    assert_eq!((o.l4_token_f1.value, o.l4_concept_f1.value), (0.0, 0.0));
}

#[test]
fn bootstrap_intervals_contain_the_value_and_are_deterministic() {
    let recs = manifest(20);
    // Right on every other scene's questions, with some phrasing noise.
    let preds: Vec<Prediction> = perfect(&recs)
        .into_iter()
        .enumerate()
        .map(|(i, p)| if (i / 6) % 2 == 0 || i % 5 == 0 { p } else { pred(&p.id, "no idea") })
        .collect();
    let a = score(&recs, &preds, &opts(300));
    let b = score(&recs, &preds, &opts(300));
    assert_eq!(a, b);
    let c = score(&recs, &preds, &ScoreOptions { seed: 99, ..opts(300) });
    assert_ne!(a.groups[0].composite, c.groups[0].composite);
    for g in &a.groups {
        for (name, m) in g.metrics() {
            assert!(m.lo <= m.value && m.value <= m.hi, "{} {name}: {m:?}", g.name);
            assert!(m.value.is_finite() && (0.0..=1.0).contains(&m.lo) && (0.0..=1.0).contains(&m.hi));
        }
        assert!(g.composite.hi > g.composite.lo, "{}: intervals of a mixed result have width", g.name);
    }
    // Adding a scenario does not change another group's interval (streams are keyed by group name).
    let urban: Vec<QaRecord> = recs.iter().filter(|r| r.scenario == "urban").cloned().collect();
    let u = score(&urban, &preds, &opts(300));
    assert_eq!(u.group("urban"), a.group("urban"));
    assert_eq!(u.unknown, preds.len() / 2);
    assert_eq!(u.unknown_ids.len(), 10);
}

#[test]
fn weights_parse_normalize_and_steer_the_composite() {
    assert_eq!(Weights::parse("0.25,0.25,0.25,0.25"), Ok(Weights::default()));
    assert_eq!(Weights::parse(" 1, 0 ,0,1"), Ok(Weights { l1: 0.5, l2: 0.0, l3: 0.0, l4: 0.5 }));
    assert!(Weights::parse("1,1,1").is_err());
    assert!(Weights::parse("1,-1,1,1").is_err());
    assert!(Weights::parse("0,0,0,0").is_err());
    assert!(Weights::parse("a,1,1,1").is_err());
    assert!(Weights::parse("inf,1,1,1").is_err());

    let recs = manifest(3);
    let preds: Vec<Prediction> =
        perfect(&recs).into_iter().filter(|p| recs.iter().any(|r| r.id == p.id && r.level == Level::L1)).collect();
    let only_l1 = ScoreOptions { weights: Weights::parse("1,0,0,0").unwrap_or_default(), ..opts(0) };
    assert_eq!(score(&recs, &preds, &only_l1).groups[0].composite.value, 1.0);
    let even = score(&recs, &preds, &opts(0));
    assert!((even.groups[0].composite.value - 0.25).abs() < 1e-12);
}

#[test]
fn renderings_are_complete_and_valid() {
    let recs = manifest(3);
    let mut preds = perfect(&recs);
    preds.truncate(20);
    preds.push(pred("ghost", "high"));
    let rep = score(&recs, &preds, &opts(50));
    let text = rep.to_text();
    assert!(text.contains("L1 acc") && text.contains("composite") && text.contains("overall"));
    assert!(text.contains("moderate") && text.contains("unparsed/missing"));
    assert!(text.contains(&format!("missing predictions (counted wrong): {}", recs.len() - 20)));
    assert!(text.contains("not in the manifest (ignored): 1 (ids: ghost)"));

    let json: serde_json::Value = serde_json::from_str(&rep.to_json()).unwrap();
    assert_eq!(json["groups"][0]["name"], "overall");
    assert_eq!(json["unknown_ids"][0], "ghost");
    assert!(json["groups"][0]["l1"]["value"].is_f64());

    let csv = rep.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "group,metric,value,lo,hi,n");
    assert_eq!(lines.len(), 1 + rep.groups.len() * 11);
    assert!(lines.iter().skip(1).all(|l| l.split(',').count() == 6));
    assert!(lines.iter().any(|l| l.starts_with("urban,l2_acc_which_worse,")));

    // An empty manifest gives zeros, never NaN.
    let empty = score(&[], &[], &opts(10));
    assert_eq!(empty.groups.len(), 1);
    let json: serde_json::Value = serde_json::from_str(&empty.to_json()).unwrap();
    assert_eq!(json["groups"][0]["composite"], serde_json::json!({"value": 0.0, "lo": 0.0, "hi": 0.0, "n": 0}));
}

#[test]
fn the_out_of_domain_rate_counts_judged_answers_and_scores_them_anyway() {
    let records = manifest(6);
    let mut preds = perfect(&records);
    assert_eq!(score(&records, &preds, &opts(0)).out_of_domain, None, "no domain check, no rate");
    let judged = preds.len() / 2;
    for (k, p) in preds.iter_mut().take(judged).enumerate() {
        p.out_of_domain = Some(k % 3 == 0);
    }
    let report = score(&records, &preds, &opts(0));
    let o = report.out_of_domain.expect("a rate");
    assert_eq!((o.judged, o.flagged), (judged, judged.div_ceil(3)));
    assert!((o.rate - o.flagged as f64 / judged as f64).abs() < 1e-12);
    assert!(report.to_text().contains("out of its domain (scored anyway)"));
    assert_eq!(
        report.overall().map(|g| g.composite.value),
        score(&records, &perfect(&records), &opts(0)).overall().map(|g| g.composite.value)
    );
}
