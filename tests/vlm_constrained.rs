//! Constrained decoding with the bundled VLM: `eval --model vlm --constrain` answers every closed
//! question with one of its options, every L3 question with a box or "none" and every L4 question
//! in the answer sentence's form; `ask --constrain` reads the format from a typed question; the domain
//! check of the image asked about reuses the prefill's vision tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::cli::{failed, heatscope, ok};
use serde_json::Value;

#[test]
fn constrained_answers_are_always_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    ok(&heatscope(&["data", "spectrum", "--scenes", "20", "--seed", "6", "--out", ds.to_str().unwrap()]));
    let preds = dir.path().join("p.jsonl");
    let ds_s = ds.to_str().unwrap();
    ok(&heatscope(&[
        "eval",
        "--dataset",
        ds_s,
        "--model",
        "vlm",
        "--split",
        "test",
        "--constrain",
        "--bootstrap",
        "0",
        "--save-predictions",
        preds.to_str().unwrap(),
    ]));
    let manifest: std::collections::HashMap<String, Value> = std::fs::read_to_string(ds.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["id"].as_str().unwrap().to_string(), v))
        .collect();
    let mut kinds = std::collections::BTreeSet::new();
    for line in std::fs::read_to_string(&preds).unwrap().lines() {
        let p: Value = serde_json::from_str(line).unwrap();
        let r = &manifest[p["id"].as_str().unwrap()];
        let (kind, answer) = (r["kind"].as_str().unwrap(), p["answer"].as_str().unwrap());
        kinds.insert(kind.to_string());
        let choices: Vec<&str> = r["choices"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        match kind {
            "localize" => assert!(
                answer == "none" || heatscope::types::parse_box_answer(answer).is_ok_and(|b| b.is_some()),
                "{answer:?}"
            ),
            "explain" => assert!(
                answer.starts_with("The ")
                    && answer.contains(" dominates the interference: ")
                    && answer.contains(". Mitigation: "),
                "{answer:?}"
            ),
            _ => assert!(choices.contains(&answer), "{kind}: {answer:?} not in {choices:?}"),
        }
    }
    assert_eq!(kinds.len(), 6, "every kind was asked: {kinds:?}");
    assert!(
        failed(&heatscope(&["eval", "--dataset", ds_s, "--model", "vlm", "--constrain", "--cot", "--limit", "1"]))
            .contains("do not go together")
    );
}

#[test]
fn ask_reads_the_format_from_a_typed_question() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    ok(&heatscope(&["data", "spectrum", "--scenes", "1", "--scenario", "geo-rural", "--out", ds.to_str().unwrap()]));
    let png = ds.join("scenes/geo-rural-00000/observed.png");
    let png = png.to_str().unwrap();
    let o = heatscope(&["ask", "--image", png, "--constrain", "Which region is worst affected?"]);
    let answer = ok(&o).trim().to_string();
    assert!(heatscope::types::REGIONS.contains(&answer.as_str()), "{answer:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("answer constrained to top-left / top-right"));
    let o = heatscope(&["ask", "--image", png, "--choice", "yes", "--choice", "no", "anything at all?"]);
    assert!(["yes", "no"].contains(&ok(&o).trim()));
    let boxed = ok(&heatscope(&["ask", "--image", png, "--constrain", "where is the affected area? give a box"]));
    let boxed = boxed.trim();
    assert!(boxed == "none" || heatscope::types::parse_box_answer(boxed).is_ok_and(|b| b.is_some()), "{boxed:?}");
}

#[test]
fn the_vlm_says_whether_an_image_is_a_map_like_its_training_maps() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    ok(&heatscope(&["data", "spectrum", "--scenes", "1", "--scenario", "leo-urban", "--out", ds.to_str().unwrap()]));
    let map = ds.join("scenes/leo-urban-00000/observed.png");
    let o = heatscope(&["ask", "--image", map.to_str().unwrap(), "is the centre affected?"]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("in domain (score"), "{}", String::from_utf8_lossy(&o.stderr));
    if let Some(real) = common::real_data() {
        let photo = real.join("rs/deepforest_2019_BLAN_3_751000_4330000_image_crop.jpg");
        let o = heatscope(&["ask", "--image", photo.to_str().unwrap(), "is the centre affected?"]);
        ok(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("out of domain: the image is unlike the maps the VLM was trained on"), "{err}");
    }
    // A folder whose domain.json does not fit the model: every image is refused with the reason; one
    // that cannot be read turns the check off and the answer still comes.
    let folder = common::vlm_fixture_copy("qwen3vl-untied", dir.path());
    let wrong = serde_json::json!({"dims": 3, "mean": [0, 0, 0], "precision": [1, 0, 0, 0, 1, 0, 0, 0, 1],
        "threshold": 1.0, "quantile": 0.99, "sd": [1, 1, 1], "val_maps": 10, "shrinkage": 0.1});
    std::fs::write(folder.join("domain.json"), wrong.to_string()).unwrap();
    let args =
        ["ask", "--model", folder.to_str().unwrap(), "--image", map.to_str().unwrap(), "--max-tokens", "3", "hi"];
    let o = heatscope(&args);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("expects 3 features"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(folder.join("domain.json"), "{not json").unwrap();
    let o = heatscope(&args);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("domain (score") && !err.contains("out of domain"), "{err}");
}

#[test]
fn the_domain_check_reuses_the_prefills_vision_tokens_of_the_last_image() {
    // A few-shot prompt with two different images: the prefill's mean vision token of the last one is
    // what `image_features` gives for that image alone, so the chat needs no second vision pass.
    use heatscope::models::vlm::text::KvCache;
    use heatscope::models::vlm::{Message, Part};
    let model = heatscope::models::vlm::bundled::load(candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    let image =
        |k: u32| image::RgbImage::from_fn(96, 80, |x, y| image::Rgb([(x * k) as u8, (y * 3) as u8, (x + y * k) as u8]));
    let (first, last) = (image(2), image(7));
    let msg = Message::user(vec![Part::Image, Part::Image, Part::Text("Which region is worst?".into())]);
    let prepared = model.prepare(&[msg], &[first.clone(), last.clone()]).unwrap();
    let (_, seen) = model.prefill_observed(&prepared, &mut KvCache::default(), true).unwrap();
    let seen = seen.expect("features of the last image");
    let alone = model.image_features(&last).unwrap();
    let other = model.image_features(&first).unwrap();
    let diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert_eq!(seen.len(), alone.len());
    assert!(diff(&seen, &alone) < 1e-4, "last image: {}", diff(&seen, &alone));
    assert!(diff(&seen, &other) > 1e-3, "the first image's features must differ: {}", diff(&seen, &other));
}
