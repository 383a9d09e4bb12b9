//! Qwen2-VL parity against the reference implementation (transformers 5.23), on the tiny random-weight
//! fixtures tools/make_vlm_fixtures.py made: the same token ids and pixels from the same messages and
//! images, logits within 1e-4 relative error in f32 over the whole prompt, and 32 identical greedy
//! tokens through the KV cache. Plus the loader's answers to bad folders.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor};
use heatscope::models::vlm::parity::{self, relative_error};
use heatscope::models::vlm::{GenerateOptions, Message, Part, QwenVl, StopReason, generate};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vlm")
}

fn load_tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_case(model: &str, name: &str) -> parity::Case {
    parity::read_case(&fixtures(), model, name).expect("case")
}

fn image(name: &str) -> image::RgbImage {
    parity::image(&fixtures(), name).expect("fixture image")
}

fn load(model: &str, dtype: DType) -> QwenVl {
    QwenVl::load(&fixtures().join(model), dtype, &Device::Cpu).unwrap_or_else(|e| panic!("{model}: {e}"))
}

/// The same text, token ids and pixels as the reference; logits within 1e-4 relative error over the
/// whole prompt; 32 identical greedy tokens through the KV cache.
fn check_case(model: &QwenVl, folder: &str, name: &str) {
    let r = parity::check_case(model, &fixtures(), folder, name, true).expect("case runs");
    println!("{folder}/{name}: {} prompt tokens, relative logit error {:.2e}", r.prompt_tokens, r.logit_error);
    assert!(r.template_ok, "{folder}/{name}: template");
    assert!(r.ids_ok, "{folder}/{name}: token ids");
    assert!(r.pixel_error.is_none_or(|e| e < 1e-6), "{folder}/{name}: pixels differ from the reference: {r:?}");
    assert!(r.logit_error <= 1e-4, "{folder}/{name}: relative logit error {:e} > 1e-4", r.logit_error);
    assert_eq!(r.greedy_ok, Some(true), "{folder}/{name}: greedy tokens");
    assert!(r.passes(DType::F32));
}

#[test]
fn untied_model_matches_the_reference_on_every_case() {
    let model = load("qwen2vl-untied", DType::F32);
    for case in ["text_only", "square_image", "wide_image", "two_images", "text_after_images"] {
        check_case(&model, "qwen2vl-untied", case);
    }
}

#[test]
fn tied_model_in_the_published_layout_matches_the_reference() {
    let model = load("qwen2vl-tied", DType::F32);
    assert!(model.config.text.tie_word_embeddings);
    for case in ["text_only", "two_images"] {
        check_case(&model, "qwen2vl-tied", case);
    }
}

#[test]
fn qwen3_vl_matches_the_reference_on_every_case() {
    // Every fixture image's patch grid (4x4, 4x8, 6x4) differs from the 6x6 position-embedding grid.
    let model = load("qwen3vl-untied", DType::F32);
    assert_eq!(model.config.family, heatscope::models::vlm::Family::Qwen3Vl);
    assert!(!model.config.text.tie_word_embeddings);
    for case in ["text_only", "square_image", "wide_image", "two_images", "text_after_images"] {
        check_case(&model, "qwen3vl-untied", case);
    }
    let model = load("qwen3vl-tied", DType::F32);
    assert!(model.config.text.tie_word_embeddings);
    for case in ["text_only", "two_images"] {
        check_case(&model, "qwen3vl-tied", case);
    }
}

#[test]
fn half_precision_runs_close_to_f32() {
    let case = read_case("qwen2vl-untied", "square_image");
    let images = [image("square.png")];
    for dtype in [DType::F16, DType::BF16] {
        let model = load("qwen2vl-untied", dtype);
        let prepared = model.prepare(&case.messages, &images).expect("prepare");
        let mut cache = heatscope::models::vlm::text::KvCache::default();
        let logits = model.prefill(&prepared, &mut cache, false).expect("prefill").to_dtype(DType::F32).expect("f32");
        let err = relative_error(&logits, &case.tensors["logits"]).expect("error");
        let (bound, _) = parity::bounds(dtype);
        println!("{dtype:?}: relative logit error {err:.2e} (bound {bound})");
        assert!(err < bound, "{dtype:?}: relative logit error {err}");
        let ours: Vec<u32> = logits.argmax(1).expect("argmax").to_vec1().expect("vec");
        let want: Vec<u32> = case.tensors["logits"].argmax(1).expect("argmax").to_vec1().expect("vec");
        let agree = ours.iter().zip(&want).filter(|(a, b)| a == b).count();
        assert!(agree * 10 >= want.len() * 9, "{dtype:?}: top token agrees at {agree} of {} positions", want.len());
    }
}

#[test]
fn streaming_cancel_and_stop_tokens() {
    let model = load("qwen2vl-untied", DType::F32);
    let prompt = model.prepare(&[Message::user_text("Which region is affected?")], &[]).expect("prepare");
    // Cancel from the callback after three tokens: generation stops there.
    let cancel = AtomicBool::new(false);
    let mut seen = Vec::new();
    let opts = GenerateOptions { max_tokens: 20, stop_tokens: Some(Vec::new()), ..GenerateOptions::default() };
    let g = generate(&model, &prompt, &opts, &cancel, &mut |e| {
        seen.push((e.index, e.token, e.text_delta.to_string()));
        if e.index == 2 {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    })
    .expect("generate");
    assert_eq!(g.stop, StopReason::Cancelled);
    assert_eq!(g.tokens.len(), 3);
    assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), g.tokens);
    let streamed: String = seen.iter().map(|s| s.2.as_str()).collect();
    assert_eq!(streamed, g.text, "streamed deltas add up to the answer");

    // The greedy answer's third token as a stop token ends generation there, left out of the text.
    let full = generate(&model, &prompt, &opts, &AtomicBool::new(false), &mut |_| {}).expect("generate");
    let stop = full.tokens[2];
    let first = full.tokens.iter().position(|&t| t == stop).expect("present");
    let opts = GenerateOptions { stop_tokens: Some(vec![stop]), ..opts };
    let g = generate(&model, &prompt, &opts, &AtomicBool::new(false), &mut |_| {}).expect("generate");
    assert_eq!(g.stop, StopReason::StopToken(stop));
    assert_eq!(g.tokens, full.tokens[..=first]);
    assert_eq!(g.text, model.tokenizer.decode(&full.tokens[..first]).expect("decode"));

    // Sampling with a seed is repeatable and differs from greedy somewhere.
    let sampled = GenerateOptions { temperature: 1.0, top_p: 0.9, seed: 11, max_tokens: 16, ..opts };
    let a = generate(&model, &prompt, &sampled, &AtomicBool::new(false), &mut |_| {}).expect("a");
    let b = generate(&model, &prompt, &sampled, &AtomicBool::new(false), &mut |_| {}).expect("b");
    assert_eq!(a.tokens, b.tokens);
}

/// A copy of a fixture folder to break.
fn scratch_copy(model: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(fixtures().join(model)).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
        }
    }
    dir
}

fn load_err(dir: &Path) -> String {
    match QwenVl::load(dir, DType::F32, &Device::Cpu) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_folders_say_what_is_wrong() {
    let weights = fixtures().join("qwen2vl-untied/model.safetensors");
    let mut tensors = load_tensors(&weights);

    // A missing tensor: named, with its expected shape.
    let dir = scratch_copy("qwen2vl-untied");
    let mut missing = tensors.clone();
    missing.remove("model.layers.1.self_attn.k_proj.bias");
    candle_core::safetensors::save(&missing, dir.path().join("model.safetensors")).expect("save");
    let e = load_err(dir.path());
    assert!(e.contains("model.layers.1.self_attn.k_proj.bias") && e.contains("[32]") && e.contains("missing"), "{e}");

    // A tensor of the wrong shape: both shapes named.
    let dir = scratch_copy("qwen2vl-untied");
    tensors
        .insert("visual.blocks.0.mlp.fc1.weight".into(), Tensor::zeros((64, 32), DType::F32, &Device::Cpu).expect("z"));
    candle_core::safetensors::save(&tensors, dir.path().join("model.safetensors")).expect("save");
    let e = load_err(dir.path());
    assert!(e.contains("visual.blocks.0.mlp.fc1.weight") && e.contains("[128, 32]") && e.contains("[64, 32]"), "{e}");

    // Integer weights.
    let dir = scratch_copy("qwen2vl-untied");
    tensors.insert(
        "visual.blocks.0.mlp.fc1.weight".into(),
        Tensor::zeros((128, 32), DType::I64, &Device::Cpu).expect("z"),
    );
    candle_core::safetensors::save(&tensors, dir.path().join("model.safetensors")).expect("save");
    let e = load_err(dir.path());
    assert!(e.contains("visual.blocks.0.mlp.fc1.weight") && e.contains("floating point"), "{e}");

    // A truncated weight file.
    let dir = scratch_copy("qwen2vl-untied");
    let bytes = std::fs::read(&weights).expect("read");
    std::fs::write(dir.path().join("model.safetensors"), &bytes[..bytes.len() / 2]).expect("write");
    let e = load_err(dir.path());
    assert!(e.contains("model.safetensors") && e.contains("truncated"), "{e}");

    // Garbage instead of safetensors.
    std::fs::write(dir.path().join("model.safetensors"), b"not a model").expect("write");
    assert!(load_err(dir.path()).contains("not a safetensors file"));

    // Sharded: an index naming a shard that is not there.
    let dir = scratch_copy("qwen2vl-untied");
    std::fs::remove_file(dir.path().join("model.safetensors")).expect("rm");
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        r#"{"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors"}}"#,
    )
    .expect("write");
    let e = load_err(dir.path());
    assert!(e.contains("model-00001-of-00002.safetensors") && e.contains("missing"), "{e}");

    // An unsupported config value.
    let dir = scratch_copy("qwen2vl-untied");
    let cfg = std::fs::read_to_string(dir.path().join("config.json")).expect("read");
    std::fs::write(dir.path().join("config.json"), cfg.replace("\"silu\"", "\"relu\"")).expect("write");
    let e = load_err(dir.path());
    assert!(e.contains("hidden_act") && e.contains("relu"), "{e}");

    // No tokenizer.
    let dir = scratch_copy("qwen2vl-untied");
    std::fs::remove_file(dir.path().join("tokenizer.json")).expect("rm");
    assert!(load_err(dir.path()).contains("tokenizer.json"));

    // Not a folder at all.
    assert!(load_err(&fixtures().join("nope")).contains("not a folder"));
}

#[test]
fn sharded_weights_load_like_one_file() {
    let tensors = load_tensors(&fixtures().join("qwen2vl-untied/model.safetensors"));
    let dir = scratch_copy("qwen2vl-untied");
    std::fs::remove_file(dir.path().join("model.safetensors")).expect("rm");
    let (mut a, mut b) = (HashMap::new(), HashMap::new());
    let mut map = serde_json::Map::new();
    for (name, t) in tensors {
        let file = if name.starts_with("visual.") {
            "model-00001-of-00002.safetensors"
        } else {
            "model-00002-of-00002.safetensors"
        };
        map.insert(name.clone(), serde_json::Value::String(file.into()));
        if name.starts_with("visual.") {
            a.insert(name, t)
        } else {
            b.insert(name, t)
        };
    }
    candle_core::safetensors::save(&a, dir.path().join("model-00001-of-00002.safetensors")).expect("save");
    candle_core::safetensors::save(&b, dir.path().join("model-00002-of-00002.safetensors")).expect("save");
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.path().join("model.safetensors.index.json"), index.to_string()).expect("write");
    let model = QwenVl::load(dir.path(), DType::F32, &Device::Cpu).expect("sharded load");
    let case = read_case("qwen2vl-untied", "square_image");
    let prepared = model.prepare(&case.messages, &[image("square.png")]).expect("prepare");
    let mut cache = heatscope::models::vlm::text::KvCache::default();
    let logits = model.prefill(&prepared, &mut cache, false).expect("prefill");
    assert!(relative_error(&logits, &case.tensors["logits"]).expect("error") <= 1e-4);
}

#[test]
fn oversized_image_is_resized_within_max_pixels() {
    let model = load("qwen2vl-untied", DType::F32);
    let big = image::RgbImage::from_fn(4000, 3000, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 9]));
    let prompt =
        model.prepare(&[Message::user(vec![Part::Image, Part::Text("Describe.".into())])], &[big]).expect("prepare");
    let g = prompt.grids[0];
    let pixels = g.h * g.w * 14 * 14;
    assert!(pixels <= model.preprocess.max_pixels, "{g:?} holds {pixels} pixels");
    let opts = GenerateOptions { max_tokens: 2, ..GenerateOptions::default() };
    generate(&model, &prompt, &opts, &AtomicBool::new(false), &mut |_| {}).expect("runs");

    // Image count and placeholder count must agree.
    let e = model.prepare(&[Message::user(vec![Part::Image])], &[]).expect_err("no image");
    assert!(e.to_string().contains("1 image parts but 0 images"), "{e}");
}

#[test]
fn a_question_first_model_gets_the_text_before_the_image() {
    let dir = scratch_copy("qwen3vl-tied");
    let config_path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).expect("config")).expect("json");
    config["heatscope_question_first"] = serde_json::json!(true);
    std::fs::write(&config_path, config.to_string()).expect("write");
    let marked = QwenVl::load(dir.path(), DType::F32, &Device::Cpu).expect("marked");
    let plain = load("qwen3vl-tied", DType::F32);
    let text = || Part::Text("Which region is worse?".into());
    let as_asked = [Message::user(vec![Part::Image, text()])];
    let swapped = [Message::user(vec![text(), Part::Image])];
    let img = image("square.png");
    let ours = marked.prepare(&as_asked, std::slice::from_ref(&img)).expect("prepare");
    let expected = plain.prepare(&swapped, std::slice::from_ref(&img)).expect("prepare");
    assert_eq!(ours.input_ids, expected.input_ids);
    assert_ne!(ours.input_ids, plain.prepare(&as_asked, &[img]).expect("prepare").input_ids);
}
