//! `heatscope data radio`: a RadioQA-sim folder whose manifest the eval reader accepts as QA records
//! with every class of every task, `--force` over an old dataset, and clear refusals of a bad size,
//! an unwritable folder, an existing dataset and an unreadable background image.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::cli::{failed, heatscope, ok};
use heatscope::types::{Level, QuestionKind, Split};

#[test]
fn a_radio_dataset_reads_as_qa_records_with_every_class_of_every_task() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("radio");
    let o = out.to_str().unwrap();
    let stdout = ok(&heatscope(&["data", "radio", "--scenes", "108", "--seed", "7", "--size", "96", "--out", o]));
    assert!(stdout.contains("wrote 108 scenes"), "{stdout}");

    let manifest = out.join("manifest.jsonl");
    let records = heatscope::eval::read_manifest(&manifest).unwrap();
    heatscope::eval::check_images(&manifest, &out).unwrap();
    let by_id: BTreeMap<&str, _> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut seen: BTreeMap<(QuestionKind, Split), BTreeSet<&str>> = BTreeMap::new();
    for r in &records {
        assert!(r.kind.is_radio() && r.level == Level::L1, "{}", r.id);
        assert_eq!(r.choices, r.kind.radio_classes(), "{}", r.id);
        assert!(r.choices.contains(&r.answer));
        assert!(r.question.ends_with("Report only the class label."), "{}", r.question);
        assert!(r.images.observed.ends_with(".fits") && r.images.truth.ends_with("_truth.npy"));
        assert_eq!(r.examples.len(), 3, "{}", r.id);
        for e in &r.examples {
            let ex = by_id[e.as_str()];
            assert!(ex.kind == r.kind && ex.split == Split::Train && ex.scene != r.scene, "{} -> {e}", r.id);
        }
        let bin = r.snr_bin.as_deref().unwrap_or("none");
        assert!(["5-10", "10-30", "30-100", ">100"].contains(&bin), "{}: snr_bin {bin}", r.id);
        seen.entry((r.kind, r.split)).or_default().insert(r.answer.as_str());
    }
    for kind in QuestionKind::RADIO {
        let train = &seen[&(kind, Split::Train)];
        assert_eq!(train.len(), kind.radio_classes().len(), "{kind:?} train has {train:?}");
    }
    assert!(records.iter().any(|r| r.split == Split::Val) && records.iter().any(|r| r.split == Split::Test));

    // dataset.json counts what the manifest holds.
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(info["generator"], "radioqa-sim 1");
    assert_eq!(info["summary"]["questions"].as_u64().unwrap() as usize, records.len());
    let morph_train = &info["summary"]["counts"]["morphology"]["train"];
    let n =
        records.iter().filter(|r| r.kind == QuestionKind::Morphology && r.split == Split::Train && r.answer == "1C-1P");
    assert_eq!(morph_train["1C-1P"].as_u64().unwrap() as usize, n.count());

    // An existing dataset is refused, and replaced with --force.
    let again = ["data", "radio", "--scenes", "4", "--seed", "7", "--size", "96", "--out", o];
    assert!(failed(&heatscope(&again)).contains("already exists"));
    let mut force = again.to_vec();
    force.push("--force");
    ok(&heatscope(&force));
    assert!(!out.join("scenes/radio-00100.fits").exists(), "old scenes are removed");
    assert!(out.join("scenes/radio-00003.fits").exists());
}

#[test]
fn bad_sizes_folders_and_backgrounds_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds");
    let o = out.to_str().unwrap();
    let e = failed(&heatscope(&["data", "radio", "--scenes", "2", "--size", "20", "--out", o]));
    assert!(e.contains("--size 20 is outside 96-1024"), "{e}");

    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"x").unwrap();
    let inside = blocker.join("ds");
    let e = failed(&heatscope(&["data", "radio", "--scenes", "2", "--out", inside.to_str().unwrap()]));
    assert!(e.contains("cannot write") && e.contains("a-file"), "{e}");

    let bg = dir.path().join("backgrounds");
    std::fs::create_dir(&bg).unwrap();
    std::fs::write(bg.join("broken.fits"), b"SIMPLE  = T but not really").unwrap();
    let e = failed(&heatscope(&["data", "radio", "--scenes", "2", "--out", o, "--backgrounds", bg.to_str().unwrap()]));
    assert!(e.contains("broken.fits"), "{e}");
    assert!(!out.join("dataset.json").exists());
}
