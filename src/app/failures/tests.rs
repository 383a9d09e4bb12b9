//! The failure list's filters, matrix, plots, comparison, growth and exports on small runs.

use super::export::csv_field;
use super::view::cell;
use super::*;
use crate::types::{QaRecord, ScenePaths};

fn record(id: &str, scene: &str, kind: QuestionKind, answer: &str) -> QaRecord {
    QaRecord {
        id: id.into(),
        scene: scene.into(),
        scenario: if scene.starts_with('a') { "leo-urban" } else { "geo-rural" }.into(),
        split: Split::Test,
        level: kind.level(),
        kind,
        question: "?".into(),
        answer: answer.into(),
        choices: vec!["low".into(), "high".into()],
        bbox: None,
        concepts: Vec::new(),
        examples: Vec::new(),
        images: ScenePaths::default(),
        snr_bin: None,
    }
}

fn line(id: &str, answer: &str) -> RunLine {
    RunLine {
        id: id.into(),
        answer: answer.into(),
        bbox: None,
        confidence: None,
        out_of_domain: None,
        parsed: true,
        score: 0.0,
        latency_ms: 1.0,
        raw: answer.into(),
        error: None,
    }
}

/// Four scenes with one severity question each: a1 and b1 truly high, a2 and b2 low.
fn four_scenes() -> SampleSet {
    let records = vec![
        record("a1-q1", "a1", QuestionKind::Severity, "high"),
        record("a2-q1", "a2", QuestionKind::Severity, "low"),
        record("b1-q1", "b1", QuestionKind::Severity, "high"),
        record("b2-q1", "b2", QuestionKind::Severity, "low"),
    ];
    SampleSet::new(PathBuf::from("/data"), records)
}

/// A run's lines by question id, as a run folder holds them.
fn by_id(lines: impl IntoIterator<Item = RunLine>) -> Lines {
    std::sync::Arc::new(lines.into_iter().map(|l| (l.id.clone(), l)).collect())
}

#[test]
fn filters_narrow_the_rows_and_stepping_walks_only_them() {
    let set = four_scenes();
    // Right on a1 and b2, wrong on a2 and b1; b2's answer is missing from the run.
    let lines = by_id([line("a1-q1", "high"), line("a2-q1", "high"), line("b1-q1", "low")]);
    let run = PathBuf::from("/runs/cnn");
    let mut list = FailureList::default();
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    assert_eq!(list.answered(), 3);
    list.filter.correct = Some(false);
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    let wrong: Vec<usize> = list.shown().map(|r| r.scene).collect();
    assert_eq!(wrong, [1, 2], "a2 and b1 are the wrong answers");
    assert_eq!(list.select(0), Some(1));
    assert_eq!(list.step(1), Some(2));
    assert_eq!(list.step(1), Some(1), "wraps within the filtered rows");
    assert_eq!(list.step(-1), Some(2), "and back");
    list.filter.search = "B1".into();
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    assert_eq!(list.shown_len(), 1);
    assert_eq!(list.selected, Some(0), "the shown row stays selected when it still passes");
    list.filter.scenario = Some("leo-urban".into());
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    assert_eq!((list.shown_len(), list.selected), (0, None));
    assert_eq!(list.step(1), None);
    list.filter.scenario = None;
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    assert_eq!(list.selected, Some(0), "chosen again once the filter lets it through");
    // The severity matrix (truth x answer, plus unparsed) and one of its cells as a filter.
    list.filter = Filter::default();
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    let m = list.confusion(&set, QuestionKind::Severity);
    assert_eq!((m[2][2], m[0][2], m[2][0], m.iter().flatten().sum::<usize>()), (1, 1, 1, 3));
    assert_eq!(list.tallies().confusion[0], (QuestionKind::Severity, m.clone()), "counted once at refresh");
    list.filter.cell = Some((QuestionKind::Severity, 0, Some(2)));
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    assert_eq!(list.shown().map(|r| r.scene).collect::<Vec<_>>(), [1], "a2: truth low, answered high");
    // A run that grows (answers streaming in) gains rows for its new answers only, in dataset
    // order, the chosen row kept.
    list.filter = Filter::default();
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    assert_eq!(list.select(2), Some(2));
    // Another run (more answers) rescores the rows.
    let mut more = lines.clone();
    std::sync::Arc::make_mut(&mut more).insert("b2-q1".into(), line("b2-q1", "low"));
    list.filter = Filter::default();
    list.refresh(Some(&set), Some((&run, &more)), &[]);
    assert_eq!((list.answered(), list.shown().filter(|r| r.correct).count()), (4, 2));
    assert_eq!(list.shown().map(|r| r.scene).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(list.selected, Some(2), "b1 stays chosen as b2's row arrives");
    let mut fresh = FailureList::default();
    fresh.refresh(Some(&set), Some((&run, &more)), &[]);
    let key = |l: &FailureList| l.shown().map(|r| (r.record, r.correct, r.verdict.clone())).collect::<Vec<_>>();
    assert_eq!(key(&list), key(&fresh), "the same rows as scoring the whole run");
}

#[test]
fn a_compared_run_gives_per_level_counts_and_agreement_filters() {
    let set = four_scenes();
    // A: right on a1, a2; wrong on b1, b2. B: right on a1, b1, b2; wrong on a2.
    let a = by_id(vec![line("a1-q1", "high"), line("a2-q1", "low"), line("b1-q1", "low"), line("b2-q1", "high")]);
    let b = by_id(vec![line("a1-q1", "high"), line("a2-q1", "high"), line("b1-q1", "high"), line("b2-q1", "low")]);
    let (da, db) = (PathBuf::from("/runs/a"), PathBuf::from("/runs/b"));
    let mut list = FailureList::default();
    list.refresh(Some(&set), Some((&da, &a)), &[(&db, &b)]);
    assert!(list.comparing());
    let l1 = &list.compare_levels(&set, 1)[0];
    assert_eq!((l1.both, l1.a_right, l1.b_right, l1.only_a, l1.only_b), (4, 2, 3, 1, 2));
    assert!((l1.delta.0 - 0.25).abs() < 1e-12);
    assert!((l1.p - crate::eval::metrics::mcnemar_exact(1, 2)).abs() < 1e-12);
    assert_eq!(list.tallies().levels, [list.compare_levels(&set, 1)]);
    let scenes = |list: &FailureList| list.shown().map(|r| r.scene).collect::<Vec<_>>();
    list.filter.agreement = Some(Agreement::Only(1));
    list.refresh(Some(&set), Some((&da, &a)), &[(&db, &b)]);
    assert_eq!(scenes(&list), [2, 3]);
    list.filter.agreement = Some(Agreement::Only(0));
    list.refresh(Some(&set), Some((&da, &a)), &[(&db, &b)]);
    assert_eq!(scenes(&list), [1]);
    list.filter.agreement = Some(Agreement::Disagree);
    list.refresh(Some(&set), Some((&da, &a)), &[(&db, &b)]);
    assert_eq!(scenes(&list), [1, 2, 3]);
    // Without B the rows carry no second answer.
    list.filter = Filter::default();
    list.refresh(Some(&set), Some((&da, &a)), &[]);
    assert!(!list.comparing() && list.shown().all(|r| r.others.is_empty()));
}

#[test]
fn three_runs_list_each_answer_and_filter_by_disagreement_run_confidence_and_order() {
    let set = four_scenes();
    let sure = |id: &str, answer: &str, c: f32| RunLine { confidence: Some(c), ..line(id, answer) };
    // A: right on a1, a2. B: right on a1, b1, b2. C: right on b1 only, and silent on b2.
    let a = by_id(vec![
        sure("a1-q1", "high", 0.95),
        sure("a2-q1", "low", 0.6),
        sure("b1-q1", "low", 0.8),
        sure("b2-q1", "high", 0.3),
    ]);
    let b = by_id(vec![line("a1-q1", "high"), line("a2-q1", "high"), line("b1-q1", "high"), line("b2-q1", "low")]);
    let c = by_id(vec![line("a1-q1", "low"), line("a2-q1", "high"), sure("b1-q1", "high", 0.99)]);
    let (da, db, dc) = (PathBuf::from("/runs/a"), PathBuf::from("/runs/b"), PathBuf::from("/runs/c"));
    let runs = [(&db, &b), (&dc, &c)];
    let mut list = FailureList::default();
    let scenes = |list: &mut FailureList, f: Filter| {
        list.filter = f;
        list.refresh(Some(&set), Some((&da, &a)), &runs);
        list.shown().map(|r| r.scene).collect::<Vec<_>>()
    };
    assert_eq!(scenes(&mut list, Filter::default()), [0, 1, 2, 3]);
    assert_eq!(list.compared(), 2);
    assert!(list.shown().all(|r| r.others.len() == 2));
    assert!(list.shown().nth(3).unwrap().others[1].is_none(), "C did not answer b2");
    // Per compared run, A against it level by level.
    assert_eq!(list.tallies().levels.len(), 2);
    let vs_c = &list.tallies().levels[1][0];
    assert_eq!((vs_c.both, vs_c.a_right, vs_c.b_right, vs_c.only_a, vs_c.only_b), (3, 2, 1, 2, 1));
    // Disagreement among three: on every scene some answering run is right and some wrong.
    let disagree = Filter { agreement: Some(Agreement::Disagree), ..Filter::default() };
    assert_eq!(scenes(&mut list, disagree), [0, 1, 2, 3]);
    // Only C right: none (B is right on b1 too); only A right: a2.
    assert_eq!(
        scenes(&mut list, Filter { agreement: Some(Agreement::Only(2)), ..Filter::default() }),
        [] as [usize; 0]
    );
    assert_eq!(scenes(&mut list, Filter { agreement: Some(Agreement::Only(0)), ..Filter::default() }), [1]);
    // Right / wrong of a chosen run: C's wrong answers (it did not answer b2: not listed).
    assert_eq!(scenes(&mut list, Filter { run: 2, correct: Some(false), ..Filter::default() }), [0, 1]);
    // Confidence band of A: 0.5-0.7 holds a2 only; and C's 0.9+ holds b1.
    assert_eq!(scenes(&mut list, Filter { confidence: Some(1), ..Filter::default() }), [1]);
    assert_eq!(scenes(&mut list, Filter { run: 2, confidence: Some(3), ..Filter::default() }), [2]);
    // Orders: A's most confident first; A's lowest score first keeps dataset order among equals.
    assert_eq!(scenes(&mut list, Filter { sort: Sort::ConfidenceHigh, ..Filter::default() }), [0, 2, 1, 3]);
    assert_eq!(scenes(&mut list, Filter { sort: Sort::ConfidenceLow, ..Filter::default() }), [3, 1, 2, 0]);
    assert_eq!(scenes(&mut list, Filter { sort: Sort::ScoreLow, ..Filter::default() }), [2, 3, 0, 1]);
    // C's confidences: only b1 has one, the rest go last.
    assert_eq!(scenes(&mut list, Filter { run: 2, sort: Sort::ConfidenceHigh, ..Filter::default() })[0], 2);
    // Stepping walks the sorted rows.
    let _ = scenes(&mut list, Filter { sort: Sort::ConfidenceLow, ..Filter::default() });
    assert_eq!((list.select(0), list.step(1), list.step(1)), (Some(3), Some(1), Some(2)));
    // A filter naming a run no longer compared falls back to A.
    list.filter = Filter { run: 2, ..Filter::default() };
    list.refresh(Some(&set), Some((&da, &a)), &runs[..1]);
    assert_eq!((list.filter.run, list.compared()), (1, 1));
}

#[test]
fn csv_fields_are_quoted_when_they_must_be_and_lose_control_characters() {
    assert_eq!(csv_field("high"), "high");
    assert_eq!(csv_field("a, b"), "\"a, b\"");
    assert_eq!(csv_field("say \"no\""), "\"say \"\"no\"\"\"");
    assert_eq!(csv_field("bell\u{7}tab\there"), "belltabhere");
    assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
}

#[test]
fn the_iou_histogram_and_reliability_bins_count_and_filter() {
    let boxed = |id: &str, scene: &str| {
        let mut r = record(id, scene, QuestionKind::Localize, "[0, 0, 0.5, 0.5]");
        r.bbox = Some([0.0, 0.0, 0.5, 0.5]);
        r
    };
    let records =
        vec![boxed("a1-q3", "a1"), boxed("a2-q3", "a2"), record("a3-q1", "a3", QuestionKind::Severity, "high")];
    let set = SampleSet::new(PathBuf::from("/data"), records);
    let with_box = |id: &str, b: [f32; 4]| RunLine { bbox: Some(b), ..line(id, "box") };
    let sure = RunLine { confidence: Some(0.73), ..line("a3-q1", "high") };
    let lines = by_id([with_box("a1-q3", [0.0, 0.0, 0.5, 0.5]), with_box("a2-q3", [0.0, 0.0, 0.25, 0.5]), sure]);
    let run = PathBuf::from("/runs/cnn");
    let mut list = FailureList::default();
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    let (iou, reliability) = list.plots(&set);
    assert_eq!((iou[9], iou[5], iou.iter().sum::<usize>()), (1, 1, 2), "IoU 1.0 and 0.5");
    assert_eq!(reliability[7], (1, 1), "one severity answer at 0.73, right");
    assert_eq!((list.tallies().iou, list.tallies().reliability), (iou, reliability));
    list.filter.bin = Some((Plotted::Iou, 5));
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    assert_eq!(list.shown().map(|r| r.scene).collect::<Vec<_>>(), [1]);
    list.filter.bin = Some((Plotted::Confidence, 7));
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    assert_eq!(list.shown().map(|r| r.scene).collect::<Vec<_>>(), [2]);
}

#[test]
fn list_cells_are_one_line() {
    assert_eq!(cell("two\nlines\tand\u{7}bell", 40), "two lines and bell");
    assert_eq!(cell(&"x".repeat(100), 5), "xxxx…");
}

#[test]
fn a_hundred_thousand_questions_list_filter_and_grow() {
    // 16,667 scenes of six questions (the run answers five in six), long answers with line breaks.
    let kinds = [QuestionKind::Severity, QuestionKind::RegionAffected, QuestionKind::WorstRegion];
    let records: Vec<QaRecord> = (0..100_000)
        .map(|i| record(&format!("s{}-q{}", i / 6, i % 6), &format!("s{}", i / 6), kinds[i % 3], "high"))
        .collect();
    let set = SampleSet::new(PathBuf::from("/data"), records);
    assert_eq!(set.scenes.len(), 16_667);
    let answer = |i: usize| if i.is_multiple_of(2) { "high" } else { "low\nbecause\tof noise" };
    let lines: HashMap<String, RunLine> = set
        .records
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 6 != 5)
        .map(|(i, r)| (r.id.clone(), line(&r.id, answer(i))))
        .collect();
    let run = PathBuf::from("/runs/big");
    let lines = std::sync::Arc::new(lines);
    let mut list = FailureList::default();
    // Scored on another thread: nothing listed until the rows arrive.
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    assert!(list.scoring() && list.shown_len() == 0);
    let start = std::time::Instant::now();
    while list.scoring() {
        assert!(start.elapsed().as_secs() < 60, "the rows never arrived");
        std::thread::sleep(std::time::Duration::from_millis(5));
        list.refresh(Some(&set), Some((&run, &lines)), &[]);
    }
    assert_eq!(list.answered(), lines.len());
    assert_eq!(list.shown_len(), lines.len(), "the filtered view is made once they arrive");
    list.filter.correct = Some(true);
    list.filter.kind = Some(QuestionKind::Severity);
    list.refresh(Some(&set), Some((&run, &lines)), &[]);
    assert!(list.shown().all(|r| r.correct && set.records[r.record].kind == QuestionKind::Severity));
    assert!(list.shown_len() > 10_000);
    let mut more = (*lines).clone();
    more.extend(set.records.iter().skip(5).step_by(6).map(|r| (r.id.clone(), line(&r.id, "high"))));
    let more = std::sync::Arc::new(more);
    list.refresh(Some(&set), Some((&run, &more)), &[]);
    assert!(!list.scoring(), "a run that grew scores its new answers at once");
    assert_eq!(list.answered(), 100_000);
}

#[test]
fn the_domain_filter_lists_answers_by_what_the_domain_check_said() {
    let set = four_scenes();
    let judged = |id: &str, ood: Option<bool>| RunLine { out_of_domain: ood, ..line(id, "high") };
    let lines = by_id([judged("a1-q1", Some(true)), judged("a2-q1", Some(false)), judged("b1-q1", None)]);
    let run = PathBuf::from("/runs/cnn");
    let mut list = FailureList::default();
    let scenes = |list: &mut FailureList, domain: Option<bool>| {
        list.filter.domain = domain;
        list.refresh(Some(&set), Some((&run, &lines)), &[]);
        list.shown().map(|r| r.scene).collect::<Vec<_>>()
    };
    assert_eq!(scenes(&mut list, None), [0, 1, 2]);
    assert_eq!(scenes(&mut list, Some(true)), [0]);
    assert_eq!(scenes(&mut list, Some(false)), [1], "a run without a verdict is neither");
}
