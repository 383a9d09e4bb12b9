//! `heatscope ask` and `heatscope bench vlm` as a user runs them, on the tiny parity fixture: the
//! answer on stdout (the same greedy tokens the reference produced), the summary on stderr, and a
//! clear reason with exit status 1 when the folder, the image or an option is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::PathBuf;
use std::process::{Command, Output};

fn heatscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heatscope")).args(args).output().expect("run heatscope")
}

fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vlm").join(rel).to_str().unwrap().to_string()
}

fn failed(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "stdout: {}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn ask_streams_the_answer_and_reports_how_sure() {
    let model = fixture("qwen2vl-untied");
    let image = fixture("images/wide.png");
    let o = heatscope(&["ask", "--model", &model, "--image", &image, "Which region is affected?", "--max-tokens", "8"]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("8 answer tokens") && err.contains("mean log-prob") && err.contains("least sure"), "{err}");
    assert!(!String::from_utf8_lossy(&o.stdout).trim().is_empty());
}

#[test]
fn ask_explains_what_is_wrong() {
    let model = fixture("qwen2vl-untied");
    let e = failed(&heatscope(&["ask", "--model", "/no/such/folder", "hi"]));
    assert!(e.contains("/no/such/folder") && e.contains("not a folder"), "{e}");
    let e = failed(&heatscope(&["ask", "--model", &model, "--image", "/no/such.png", "hi"]));
    assert!(e.contains("/no/such.png"), "{e}");
    let e = failed(&heatscope(&["ask", "--model", &model, "--temperature=-1", "hi"]));
    assert!(e.contains("--temperature"), "{e}");
    let e = failed(&heatscope(&["ask", "--model", &model, "--top-p", "0", "hi"]));
    assert!(e.contains("--top-p"), "{e}");
}

#[test]
fn bench_vlm_reports_latency_throughput_and_memory() {
    let model = fixture("qwen2vl-tied");
    let o = heatscope(&["bench", "vlm", "--model", &model, "--runs", "1", "--tokens", "4"]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in ["time to first token", "prefill", "decode", "peak memory", "image tokens"] {
        assert!(out.contains(want), "{want} missing from:\n{out}");
    }
}

#[test]
fn serve_and_ask_over_http_give_the_local_answer() {
    let model = fixture("qwen2vl-untied");
    let image = fixture("images/square.png");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_heatscope"))
        .args(["serve", "--model", &model, "--port", &port.to_string(), "--name", "tiny"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve did not start listening");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let url = format!("http://127.0.0.1:{port}/v1");
    let remote = heatscope(&[
        "ask",
        "--url",
        &url,
        "--remote-model",
        "tiny",
        "--image",
        &image,
        "Severity?",
        "--max-tokens",
        "10",
    ]);
    let local = heatscope(&["ask", "--model", &model, "--image", &image, "Severity?", "--max-tokens", "10"]);
    server.kill().unwrap();
    let _ = server.wait();
    assert!(remote.status.success(), "stderr: {}", String::from_utf8_lossy(&remote.stderr));
    assert_eq!(remote.stdout, local.stdout, "the served answer differs from the local one");
    let err = String::from_utf8_lossy(&remote.stderr);
    assert!(
        err.contains(&format!("remote {url}/chat/completions (tiny)")) && err.contains("10 answer tokens"),
        "{err}"
    );
    // The server gone: a clear error, exit status 1.
    let e = failed(&heatscope(&["ask", "--url", &url, "hi"]));
    assert!(e.contains("cannot reach") && e.contains(&port.to_string()), "{e}");
}

#[test]
fn eval_model_vlm_asks_every_selected_question_and_scores_them() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let d = ds.to_str().unwrap();
    let o = heatscope(&["data", "spectrum", "--scenes", "3", "--size", "48", "--seed", "4", "--out", d]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let model = fixture("qwen2vl-untied");
    let preds = dir.path().join("vlm.jsonl");
    let o = heatscope(&[
        "eval",
        "--dataset",
        d,
        "--model",
        "vlm",
        "--model-dir",
        &model,
        "--levels",
        "L1,L2",
        "--limit",
        "5",
        "--shots",
        "2",
        "--cot",
        "--max-tokens",
        "6",
        "--bootstrap",
        "0",
        "--save-predictions",
        preds.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("5 questions, 2 shots, chain of thought") && err.contains("5/5 questions"), "{err}");
    let lines = std::fs::read_to_string(&preds).unwrap();
    assert_eq!(lines.lines().count(), 5);
    assert!(String::from_utf8_lossy(&o.stdout).contains("L2 accuracy by kind"));

    // Both a folder and a server: the reason, exit status 1.
    let e =
        failed(&heatscope(&["eval", "--dataset", d, "--model", "vlm", "--model-dir", &model, "--url", "http://x/v1"]));
    assert!(e.contains("--model-dir") && e.contains("--url"), "{e}");
    let e = failed(&heatscope(&["eval", "--dataset", d, "--model", "vlm", "--model-dir", &model, "--shots", "5"]));
    assert!(e.contains("--shots"), "{e}");
}

#[test]
fn train_vlm_writes_a_model_folder_that_ask_and_eval_read() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let d = ds.to_str().unwrap();
    let o = heatscope(&["data", "spectrum", "--scenes", "2", "--size", "48", "--seed", "5", "--out", d]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("tiny");
    let o_path = out.to_str().unwrap();
    let args = [
        "train",
        "vlm",
        "--dataset",
        d,
        "--out",
        o_path,
        "--epochs",
        "1",
        "--batch",
        "4",
        "--width",
        "64",
        "--layers",
        "2",
        "--vocab",
        "320",
        "--every",
        "3",
        "--val-questions",
        "2",
        "--family",
        "qwen2-vl",
    ];
    let o = heatscope(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("train vlm:") && stdout.contains("done in"), "{stdout}");
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "model.f16.safetensors",
        "optimizer.safetensors",
        "state.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // Running again without --resume refuses to overwrite; with --resume on a finished run, it says so.
    let e = failed(&heatscope(&args));
    assert!(e.contains("--resume"), "{e}");
    let mut resume = args.to_vec();
    resume.push("--resume");
    let o = heatscope(&resume);
    assert!(String::from_utf8_lossy(&o.stdout).contains("is finished"), "{}", String::from_utf8_lossy(&o.stdout));
    // Asking for a second epoch continues from last.safetensors.
    let more: Vec<&str> = resume.iter().map(|&a| if a == "1" { "2" } else { a }).collect();
    let o = heatscope(&more);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && stdout.contains("done in") && !stdout.contains("is finished"), "{stdout}");
    assert!(!stdout.contains("moments restart"), "the optimizer state was saved, so it resumes: {stdout}");
    // A third epoch from a run that lost its optimizer state says the moments restart; a corrupt one is refused.
    let third: Vec<&str> = resume.iter().map(|&a| if a == "1" { "3" } else { a }).collect();
    std::fs::write(out.join("optimizer.safetensors"), b"garbage").unwrap();
    let e = failed(&heatscope(&third));
    assert!(e.contains("--resume") && e.contains("optimizer.safetensors"), "{e}");
    std::fs::remove_file(out.join("optimizer.safetensors")).unwrap();
    let o = heatscope(&third);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && stdout.contains("moments restart"), "{stdout}");
    assert!(!out.join("resume").exists(), "no temporary folder is left behind");
    // The folder is a model like any other.
    let o = heatscope(&["ask", "--model", o_path, "Severity?", "--max-tokens", "4"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Fine-tuning it with the extra ranking, region-values and which-is-worse questions keeps its tokenizer
    // and architecture.
    let tuned = dir.path().join("tuned");
    let t_path = tuned.to_str().unwrap();
    let tune = |out: &str, extra: &[&str]| {
        let mut v = vec!["train", "vlm", "--dataset", d, "--out", out, "--epochs", "1", "--batch", "4"];
        v.extend_from_slice(&["--every", "3", "--val-questions", "2", "--rank-questions", "--region-values"]);
        v.extend_from_slice(&["--pair-questions", "2", "--affected-questions", "1"]);
        v.extend_from_slice(extra);
        heatscope(&v)
    };
    let o = tune(t_path, &["--init", o_path]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for kind in ["ranking", "region-values", "region-affected and which-is-worse"] {
        assert!(stdout.contains(&format!(" extra {kind} questions on the train scenes")), "{stdout}");
    }
    for f in ["config.json", "tokenizer.json", "chat_template.jinja"] {
        assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(tuned.join(f)).unwrap(), "{f} differs");
    }
    assert!(tuned.join("model.f16.safetensors").is_file());
    let other = dir.path().join("other");
    let other = other.to_str().unwrap();
    let e = failed(&tune(other, &["--init", dir.path().join("nothing").to_str().unwrap()]));
    assert!(e.contains("not a model folder"), "{e}");
    let e = failed(&tune(other, &["--rope-theta", "0.5"]));
    assert!(e.contains("--rope-theta"), "{e}");
    let e = failed(&tune(other, &["--scenario", "mars-dusty"]));
    assert!(e.contains("unknown scenario \"mars-dusty\"") && e.contains("geo-rural"), "{e}");
    let e = failed(&tune(other, &["--rope-theta", "0.5"]));
    assert!(e.contains("--rope-theta"), "{e}");
    let e = failed(&tune(dir.path().join("q2grid").to_str().unwrap(), &["--family", "qwen2-vl", "--grid-positions"]));
    assert!(e.contains("--grid-positions") && e.contains("qwen2-vl"), "{e}");
    // A usage error (clap's exit status 2).
    let o = tune(other, &["--init", o_path, "--resume"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(2) && e.contains("--init") && e.contains("--resume"), "{e}");

    // A Qwen3-VL model from scratch (the default family): its own config layout, read back by the same loader.
    let q3 = dir.path().join("q3");
    let q3_path = q3.to_str().unwrap();
    let small = ["--width", "64", "--layers", "2", "--vocab", "320"];
    // With grounding drills (drawn at the dataset's 48 px) and a step budget shorter than the epoch.
    let mut drilled = small.to_vec();
    drilled.extend_from_slice(&["--drills", "3", "--max-steps", "3", "--grid-positions", "--question-first"]);
    // Trained on one scenario's questions only, and marked so.
    drilled.extend_from_slice(&["--scenario", "leo-urban"]);
    let o = tune(q3_path, &drilled);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("drill questions added (3 drills of 48 px)"), "{stdout}");
    assert!(stdout.contains("step 3:") && stdout.contains("; drills ") && !stdout.contains("step 4"), "{stdout}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(q3.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "qwen3_vl");
    assert_eq!(config["heatscope_question_first"], true, "--question-first marks the model");
    assert_eq!(config["heatscope_trained_on"], "leo-urban", "--scenario marks the model");
    assert_eq!(
        heatscope::models::vlm::QwenVlConfig::from_json(&config.to_string()).unwrap().trained_on.as_deref(),
        Some("leo-urban")
    );
    assert_eq!(config["text_config"]["rope_parameters"]["mrope_interleaved"], true);
    assert_eq!(
        config["vision_config"]["num_position_embeddings"], 64,
        "one learned position per 16 px patch of 128 px"
    );
    // Its chat template renders what the engine renders: Qwen3-VL has no default system turn, and this
    // model's user turns put the text before the images.
    let template = std::fs::read_to_string(q3.join("chat_template.jinja")).unwrap();
    assert!(!template.contains("You are a helpful assistant"), "{template}");
    assert!(template.contains("{% if message['role'] == 'user' %}"), "{template}");
    assert!(std::fs::read_to_string(out.join("chat_template.jinja")).unwrap().contains("You are a helpful assistant"));
    let o = heatscope(&["ask", "--model", q3_path, "Severity?", "--max-tokens", "4"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A smaller model cut from it (decoder MLPs 192 -> 64 units) and fine-tuned on reworded questions.
    let cut = dir.path().join("cut");
    let cut_path = cut.to_str().unwrap();
    let reworded = ["--varied-context", "0.5", "--typed-questions", "0.5", "--max-steps", "2"];
    let o = tune(cut_path, &[&["--init", q3_path, "--mlp", "64"][..], &reworded[..]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("decoder MLPs cut from 192 to their 64 strongest units"), "{stdout}");
    assert!(stdout.contains("questions reworded (context share 0.5, typed share 0.5)"), "{stdout}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cut.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["text_config"]["intermediate_size"], 64);
    let o = heatscope(&["ask", "--model", cut_path, "Severity?", "--max-tokens", "4"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e = failed(&tune(dir.path().join("cut2").to_str().unwrap(), &["--init", q3_path, "--mlp", "192"]));
    assert!(e.contains("--mlp 192") && e.contains("between 1 and"), "{e}");
    let e = failed(&tune(other, &["--init", q3_path, "--varied-context", "1.5"]));
    assert!(e.contains("--varied-context is a share of the questions"), "{e}");
    let o = tune(other, &["--mlp", "8"]);
    assert_eq!(o.status.code(), Some(2), "--mlp needs --init: {}", String::from_utf8_lossy(&o.stderr));

    let mut bad_side = small.to_vec();
    bad_side.extend_from_slice(&["--image-side", "112"]);
    let e = failed(&tune(other, &bad_side));
    assert!(e.contains("--image-side for qwen3-vl must be a multiple of 32"), "{e}");
}

#[test]
fn ask_without_a_model_uses_the_bundled_one() {
    let image = fixture("images/square.png");
    let o = heatscope(&["ask", "--image", &image, "Is the top-left region affected?", "--max-tokens", "4"]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("vlm-spectrum-tiny"));
}
