//! Training the Qwen-VL engine in candle: gradients agree with f64 finite differences through the
//! whole model (vision tower, deepstack, interleaved rotary, attention, masked loss); one step reaches
//! every parameter; a small model trained from scratch overfits 8 samples and then generates them
//! exactly; a checkpoint reloads through the inference loader with the same logits.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor, Var};
use heatscope::models::vlm::train::{Example, Sample, TrainSettings, Trainer, gradients, loss, save_checkpoint};
use heatscope::models::vlm::{GenerateOptions, Message, Part, QwenVl, StopReason, generate};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vlm").join(rel)
}

fn image(name: &str) -> image::RgbImage {
    image::open(fixture("images").join(name)).expect("fixture image").to_rgb8()
}

fn sample(question: &str, images: &[&str], answer: &str) -> Sample {
    let mut parts: Vec<Part> = images.iter().map(|_| Part::Image).collect();
    parts.push(Part::Text(question.into()));
    Sample { parts, images: images.iter().map(|n| image(n)).collect(), answer: answer.into() }
}

/// Loss with one entry of `var` replaced by `value`.
fn loss_at(model: &QwenVl, ex: &Example, var: &Var, index: usize, value: f64) -> f64 {
    let original = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let mut changed = original.clone();
    changed[index] = value;
    var.set(&Tensor::from_vec(changed, var.shape(), &Device::Cpu).unwrap()).unwrap();
    let l = loss(model, ex).unwrap().to_scalar::<f64>().unwrap();
    var.set(&Tensor::from_vec(original, var.shape(), &Device::Cpu).unwrap()).unwrap();
    l
}

fn gradient_check(folder: &str) {
    let (model, vars) = QwenVl::load_trainable(&fixture(folder), DType::F64, &Device::Cpu).unwrap();
    let ex = Example::new(&model, &sample("Which region?", &["tall.png", "square.png"], "north east")).unwrap();
    let (_, grads) = gradients(&model, std::slice::from_ref(&ex)).unwrap();
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    for (name, var) in &vars {
        // A spread of tensors from every part of the model; three entries each.
        let wanted = [
            "patch_embed",
            "pos_embed",
            "blocks.0.attn.qkv",
            "blocks.1.mlp",
            "merger",
            "deepstack",
            "embed_tokens",
            "layers.0.self_attn.q_proj",
            "k_norm",
            "layers.1.mlp.down",
            "norm.weight",
            "lm_head",
        ];
        if !wanted.iter().any(|w| name.contains(w)) {
            continue;
        }
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient"));
        let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let values = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        // The entries with the largest gradients (a random entry of an embedding table is often unused).
        let mut order: Vec<usize> = (0..g.len()).collect();
        order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        for &i in order.iter().take(3) {
            let eps = 1e-6 * values[i].abs().max(1.0);
            let numeric = (loss_at(&model, &ex, var, i, values[i] + eps)
                - loss_at(&model, &ex, var, i, values[i] - eps))
                / (2.0 * eps);
            let err = (numeric - g[i]).abs() / numeric.abs().max(g[i].abs()).max(1e-8);
            worst = worst.max(err);
            assert!(err < 1e-4, "{folder} {name}[{i}]: backward {} vs finite difference {numeric}", g[i]);
            checked += 1;
        }
    }
    println!(
        "{folder}: {checked} gradient entries agree with f64 finite differences (worst relative error {worst:.1e})"
    );
    assert!(checked >= 30, "only {checked} entries checked");
}

#[test]
fn gradients_agree_with_finite_differences_qwen2_vl() {
    gradient_check("qwen2vl-untied");
}

#[test]
fn gradients_agree_with_finite_differences_qwen3_vl() {
    gradient_check("qwen3vl-untied");
}

#[test]
fn one_step_reaches_every_parameter() {
    for folder in ["qwen2vl-untied", "qwen2vl-tied", "qwen3vl-untied", "qwen3vl-tied"] {
        let (model, vars) = QwenVl::load_trainable(&fixture(folder), DType::F32, &Device::Cpu).unwrap();
        let batch = [
            Example::new(&model, &sample("Describe.", &["wide.png"], "moderate")).unwrap(),
            Example::new(&model, &sample("And these?", &["square.png", "tall.png"], "none")).unwrap(),
        ];
        let (_, grads) = gradients(&model, &batch).unwrap();
        let mut silent = Vec::new();
        for (name, var) in &vars {
            let nonzero = grads
                .get(var.as_tensor())
                .map(|g| g.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() > 0.0)
                .unwrap_or(false);
            if !nonzero {
                silent.push(name.clone());
            }
        }
        assert!(silent.is_empty(), "{folder}: no gradient for {silent:?}");
        println!("{folder}: all {} parameter tensors have a non-zero gradient", vars.len());
        // And the step changes them.
        let before = vars[0].1.as_tensor().copy().unwrap();
        let mut trainer = Trainer::new(vars.clone(), TrainSettings::default()).unwrap();
        let report = trainer.step(&model, &batch).unwrap();
        assert!(report.loss.is_finite() && report.grad_norm > 0.0);
        let after = vars[0].1.as_tensor();
        let moved = (after - &before).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(moved > 0.0, "{folder}: {} did not move", vars[0].0);
    }
}

#[test]
fn small_model_from_scratch_overfits_eight_samples_and_generates_them() {
    // The tiny Qwen3-VL architecture, tokenizer and processor of the fixture, initialised at random.
    let dir = fixture("qwen3vl-untied");
    let (model, vars) = QwenVl::new_random(&dir, 7, DType::F32, &Device::Cpu).unwrap();
    let data = [
        sample("Severity?", &["square.png"], "high"),
        sample("Severity?", &["wide.png"], "low"),
        sample("Severity?", &["tall.png"], "none"),
        sample("Which region?", &["square.png"], "north east"),
        sample("Which region?", &["wide.png"], "south"),
        sample("Which region?", &["tall.png"], "centre"),
        sample("Compare them.", &["square.png", "wide.png"], "the first is worse"),
        sample("No image: what is GSD?", &[], "ground sampling distance"),
    ];
    let batch: Vec<Example> = data.iter().map(|s| Example::new(&model, s).unwrap()).collect();
    let mut trainer = Trainer::new(vars, TrainSettings { lr: 1e-2, weight_decay: 0.0, clip_norm: 1.0 }).unwrap();
    let start = std::time::Instant::now();
    let mut last = f64::INFINITY;
    let mut steps = 0;
    while steps < 300 && last > 0.01 {
        last = trainer.step(&model, &batch).unwrap().loss;
        steps += 1;
    }
    println!("loss {last:.4} after {steps} steps ({:.1} s)", start.elapsed().as_secs_f64());
    assert!(last < 0.05, "loss still {last} after {steps} steps");

    // The inference path (fused kernels, KV cache) generates every answer exactly and stops.
    let out = tempfile::tempdir().unwrap();
    save_checkpoint(trainer.vars(), &dir, out.path()).unwrap();
    let reloaded = QwenVl::load(out.path(), DType::F32, &Device::Cpu).unwrap();
    for s in &data {
        let prompt = reloaded.prepare(&[Message::user(s.parts.clone())], &s.images).unwrap();
        let opts = GenerateOptions { max_tokens: 24, ..GenerateOptions::default() };
        let g = generate(&reloaded, &prompt, &opts, &AtomicBool::new(false), &mut |_| {}).unwrap();
        assert_eq!(g.text, s.answer);
        assert!(matches!(g.stop, StopReason::StopToken(_)), "{:?}", g.stop);
    }
}

#[test]
fn checkpoint_reloads_with_the_same_logits() {
    let dir = fixture("qwen2vl-tied");
    let (model, vars) = QwenVl::load_trainable(&dir, DType::F32, &Device::Cpu).unwrap();
    let ex = Example::new(&model, &sample("Which region?", &["wide.png"], "west")).unwrap();
    let mut trainer = Trainer::new(vars, TrainSettings::default()).unwrap();
    trainer.step(&model, std::slice::from_ref(&ex)).unwrap();
    let out = tempfile::tempdir().unwrap();
    save_checkpoint(trainer.vars(), &dir, out.path()).unwrap();
    let reloaded = QwenVl::load(out.path(), DType::F32, &Device::Cpu).unwrap();
    let mut c1 = heatscope::models::vlm::text::KvCache::default();
    let mut c2 = heatscope::models::vlm::text::KvCache::default();
    let a = model.prefill(&ex.prepared, &mut c1, false).unwrap();
    let b = reloaded.prefill(&ex.prepared, &mut c2, false).unwrap();
    let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(d < 1e-4, "reloaded logits differ by {d}");
    // The tied checkpoint stays tied: no lm_head tensor was written.
    assert!(!trainer.vars().iter().any(|(n, _)| n == "lm_head.weight"));
}
