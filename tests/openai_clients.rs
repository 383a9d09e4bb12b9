//! `heatscope serve` as real clients drive it: requests recorded from the official `openai` Python
//! client (`tools/record_openai_requests.py`, headers and bodies in `tests/fixtures/openai_client`)
//! are replayed against the in-process server, and every field the chat-completions API defines is
//! checked: streaming and not, usage with total_tokens, logprobs with top_logprobs, stop sequences,
//! max_tokens / max_completion_tokens, seeded sampling, stream_options.include_usage, and a 400
//! naming the parameter for what is not supported (n > 1, JSON response formats, tools, penalties);
//! 413 for bodies and images over the server's limits.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device};
use heatscope::backend::LocalBackend;
use heatscope::backend::server::{self, RunningServer, ServeLimits};
use heatscope::models::vlm::QwenVl;
use serde_json::{Value, json};

fn start(limits: ServeLimits) -> RunningServer {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vlm/qwen2vl-untied");
    let model = QwenVl::load(&dir, DType::F32, &Device::Cpu).unwrap();
    server::serve_with(Arc::new(LocalBackend::new(Arc::new(model))), "tiny", "127.0.0.1:0", limits).unwrap()
}

/// A recorded request: its headers and body.
fn recorded(case: &str) -> (Vec<(String, String)>, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/openai_client/{case}.json"));
    let r: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!((r["method"].as_str(), r["path"].as_str()), (Some("POST"), Some("/v1/chat/completions")));
    let headers =
        r["headers"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
    (headers, r["body"].clone())
}

/// POST `body` with the recorded headers; the status and the response text.
fn post(srv: &RunningServer, headers: &[(String, String)], body: &Value) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = agent.post(format!("{}/chat/completions", srv.url()));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut resp = req.send(body.to_string()).unwrap();
    (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap())
}

fn replay(srv: &RunningServer, case: &str, edit: impl FnOnce(&mut Value)) -> (u16, String) {
    let (headers, mut body) = recorded(case);
    edit(&mut body);
    post(srv, &headers, &body)
}

fn json_ok(status: u16, text: &str) -> Value {
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(text).unwrap()
}

/// The `data:` events of a server-sent event stream, parsed, and whether it ended with [DONE].
fn events(text: &str) -> (Vec<Value>, bool) {
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    let done = data.last() == Some(&"[DONE]");
    (data.iter().filter(|d| **d != "[DONE]").map(|d| serde_json::from_str(d).unwrap()).collect(), done)
}

fn check_usage(usage: &Value) -> u64 {
    let (p, c, t) =
        (usage["prompt_tokens"].as_u64(), usage["completion_tokens"].as_u64(), usage["total_tokens"].as_u64());
    let (p, c, t) = (p.unwrap(), c.unwrap(), t.unwrap());
    assert!(p > 5 && t == p + c, "{usage}");
    c
}

/// A `logprobs.content` entry: log-probability, the bytes its text shows, `k` alternatives most
/// likely first.
fn check_entry(entry: &Value, k: usize) {
    let token = entry["token"].as_str().unwrap();
    let bytes: Vec<u8> = entry["bytes"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
    assert_eq!(String::from_utf8_lossy(&bytes).replace('\u{FFFD}', ""), token.replace('\u{FFFD}', ""));
    assert!(entry["logprob"].as_f64().unwrap() <= 0.0);
    let top = entry["top_logprobs"].as_array().unwrap();
    assert_eq!(top.len(), k, "{entry}");
    for pair in top.windows(2) {
        assert!(pair[0]["logprob"].as_f64() >= pair[1]["logprob"].as_f64(), "{entry}");
    }
}

#[test]
fn non_streaming_answers_carry_usage_and_the_logprobs_asked_for() {
    let srv = start(ServeLimits::default());
    let (status, text) = replay(&srv, "plain", |_| {});
    let plain = json_ok(status, &text);
    assert_eq!((plain["object"].as_str(), plain["model"].as_str()), (Some("chat.completion"), Some("tiny")));
    assert!(plain["created"].as_u64().is_some() && plain["id"].as_str().is_some_and(|i| i.starts_with("chatcmpl-")));
    let choice = &plain["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["message"]["content"].is_string() && choice["logprobs"].is_null(), "{plain}");
    assert!(["stop", "length"].contains(&choice["finish_reason"].as_str().unwrap()));
    check_usage(&plain["usage"]);

    let (status, text) = replay(&srv, "image_nonstream_logprobs", |_| {});
    let v = json_ok(status, &text);
    let completion = check_usage(&v["usage"]);
    assert!(completion <= 8, "max_tokens 8: {completion}");
    let content = v["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(content.len() as u64, completion);
    for entry in content {
        check_entry(entry, 2);
        // Greedy (temperature 0): the chosen token is the most likely one.
        assert_eq!(entry["top_logprobs"][0]["token"], entry["token"], "{entry}");
    }
    // The tokens' bytes make up the answer, even where a token holds part of a character.
    let joined: Vec<u8> =
        content.iter().flat_map(|e| e["bytes"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8)).collect();
    assert_eq!(String::from_utf8_lossy(&joined), v["choices"][0]["message"]["content"].as_str().unwrap());
}

#[test]
fn streaming_sends_role_tokens_finish_usage_and_done_as_asked() {
    let srv = start(ServeLimits::default());
    let (status, text) = replay(&srv, "image_stream_usage", |_| {});
    assert_eq!(status, 200, "{text}");
    let (chunks, done) = events(&text);
    assert!(done, "ends with [DONE]");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    let completion = check_usage(&usage_chunk["usage"]);
    assert!(completion <= 8, "max_completion_tokens 8");
    let body = &chunks[..chunks.len() - 1];
    assert!(
        body.iter().all(|c| c["usage"].is_null() && c["object"] == "chat.completion.chunk"),
        "usage only at the end"
    );
    let finish = &body.last().unwrap()["choices"][0]["finish_reason"];
    assert!(finish == "stop" || finish == "length", "{finish}");
    let tokens: Vec<&Value> = body.iter().filter(|c| !c["choices"][0]["logprobs"].is_null()).collect();
    assert_eq!(tokens.len() as u64, completion);
    for t in &tokens {
        check_entry(&t["choices"][0]["logprobs"]["content"][0], 2);
    }
    // The same request without streaming gives the same text.
    let streamed: String = body.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    let (status, text) = replay(&srv, "image_stream_usage", |b| {
        b["stream"] = json!(false);
        b.as_object_mut().unwrap().remove("stream_options");
    });
    assert_eq!(json_ok(status, &text)["choices"][0]["message"]["content"].as_str(), Some(streamed.as_str()));

    // Without stream_options there is no usage key at all, and without logprobs no logprobs.
    let (status, text) = replay(&srv, "stream_no_usage", |_| {});
    assert_eq!(status, 200, "{text}");
    let (chunks, done) = events(&text);
    assert!(done && chunks.iter().all(|c| c.get("usage").is_none() && c["choices"][0]["logprobs"].is_null()), "{text}");
}

#[test]
fn seeded_sampling_repeats_and_stop_sequences_end_the_answer() {
    let srv = start(ServeLimits::default());
    let answer = |status: u16, text: &str| {
        let v = json_ok(status, text);
        (v["choices"][0]["message"]["content"].as_str().unwrap().to_string(), v["choices"][0]["finish_reason"].clone())
    };
    let (a, b) = (replay(&srv, "sampling", |_| {}), replay(&srv, "sampling", |_| {}));
    assert_eq!(answer(a.0, &a.1), answer(b.0, &b.1), "the same seed gives the same answer");
    let other = replay(&srv, "sampling", |b| b["seed"] = json!(12));
    assert_eq!(other.0, 200);

    // The recorded stop requests, with stops taken from what this model actually says.
    let (full, _) = {
        let r = replay(&srv, "stop_string", |b| {
            b.as_object_mut().unwrap().remove("stop");
        });
        answer(r.0, &r.1)
    };
    let chars: Vec<char> = full.chars().collect();
    assert!(chars.len() >= 6, "the model's answer is too short to cut: {full:?}");
    let stop: String = chars[3..5].iter().collect();
    let cut = &full[..full.find(&stop).unwrap()];
    let r = replay(&srv, "stop_string", |b| b["stop"] = json!(stop));
    assert_eq!(answer(r.0, &r.1), (cut.to_string(), json!("stop")), "stop {stop:?} in {full:?}");
    let later: String = chars[4..6].iter().collect();
    let r = replay(&srv, "stop_list", |b| b["stop"] = json!(["never-said", later, stop]));
    assert_eq!(answer(r.0, &r.1).0, cut, "the earliest of several stops wins");
    // Streamed, the stop sequence never reaches the client either.
    let r = replay(&srv, "stop_string", |b| {
        b["stop"] = json!(stop);
        b["stream"] = json!(true);
    });
    let streamed: String = events(&r.1).0.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(streamed, cut);
}

#[test]
fn what_is_not_supported_gets_a_400_naming_the_parameter() {
    let srv = start(ServeLimits::default());
    for (case, name) in [
        ("n_two", "n:"),
        ("json_schema", "response_format"),
        ("json_object", "response_format"),
        ("tools", "tools"),
        ("top_logprobs_without_logprobs", "top_logprobs"),
        ("frequency_penalty", "frequency_penalty"),
    ] {
        let (status, text) = replay(&srv, case, |_| {});
        let v: Value = serde_json::from_str(&text).unwrap();
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(status == 400 && message.contains(name), "{case}: {status} {text}");
    }
    for case in ["text_format", "user_field"] {
        let (status, text) = replay(&srv, case, |_| {});
        assert_eq!(status, 200, "{case}: {text}");
    }
}

#[test]
fn bodies_and_images_over_the_limits_get_413_before_they_are_decoded() {
    let srv = start(ServeLimits { max_body_bytes: 1 << 20, max_image_pixels: 64 * 64 });
    let (headers, mut body) = recorded("plain");
    body["messages"][1]["content"] = json!("x".repeat(2 << 20));
    let (status, text) = post(&srv, &headers, &body);
    assert!(status == 413 && text.contains("1 MiB"), "{status} {text}");
    // A 100 x 100 image is over 64 x 64 pixels.
    let img = image::RgbImage::from_pixel(100, 100, image::Rgb([10, 20, 30]));
    let url = heatscope::backend::openai::png_data_url(&img).unwrap();
    let (status, text) =
        replay(&srv, "image_nonstream_logprobs", |b| b["messages"][0]["content"][0]["image_url"]["url"] = json!(url));
    assert!(status == 413 && text.contains("100 x 100"), "{status} {text}");
    // The recorded 16 x 16 image is within both limits.
    assert_eq!(replay(&srv, "image_nonstream_logprobs", |_| {}).0, 200);
}
