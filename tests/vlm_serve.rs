//! The remote backend against a real `heatscope serve` (in-process, on a free port) and against
//! servers that misbehave: the same answer as the local engine, streamed with log-probabilities;
//! several requests in flight; cancellation; a server that dies mid-stream, never answers, refuses
//! the key, or is not there at all: each a clear error, nothing hangs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use candle_core::{DType, Device};
use heatscope::backend::{
    BackendError, ChatBackend, ChatRequest, Finish, LocalBackend, RemoteBackend, RemoteOptions, chat_many, server,
};
use heatscope::models::vlm::{Message, Part, QwenVl};

fn local() -> Arc<LocalBackend> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vlm/qwen2vl-untied");
    Arc::new(LocalBackend::new(Arc::new(QwenVl::load(&dir, DType::F32, &Device::Cpu).unwrap())))
}

fn request(question: &str, with_image: bool) -> ChatRequest {
    let img_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vlm/images/wide.png");
    let mut parts = Vec::new();
    let mut images = Vec::new();
    if with_image {
        parts.push(Part::Image);
        images.push(image::open(img_path).unwrap().to_rgb8());
    }
    parts.push(Part::Text(question.into()));
    ChatRequest { messages: vec![Message::user(parts)], images, max_tokens: 12, ..ChatRequest::default() }
}

fn remote(url: &str, tweak: impl FnOnce(&mut RemoteOptions)) -> RemoteBackend {
    let mut opts =
        RemoteOptions { url: url.into(), model: "tiny".into(), api_key_env: None, ..RemoteOptions::default() };
    tweak(&mut opts);
    RemoteBackend::new(opts).unwrap()
}

#[test]
fn remote_answers_like_the_local_engine_with_streaming_and_logprobs() {
    let backend = local();
    let srv = server::serve(Arc::clone(&backend), "tiny", "127.0.0.1:0").unwrap();
    let client = remote(&srv.url(), |_| {});
    for with_image in [false, true] {
        let req = request("Which region is affected?", with_image);
        let want = backend.chat(&req, &AtomicBool::new(false), &mut |_| {}).unwrap();
        let mut streamed = String::new();
        let mut events = 0;
        let got = client
            .chat(&req, &AtomicBool::new(false), &mut |t| {
                streamed.push_str(t.text);
                events += 1;
                assert!(t.logprob.is_some_and(|l| l <= 0.0));
            })
            .unwrap();
        assert_eq!(got.text, want.text);
        assert_eq!(streamed, want.text);
        assert!(events > 1, "streamed in {events} events");
        assert_eq!(got.finish, want.finish);
        assert_eq!(got.logprobs.len(), want.logprobs.len());
        for ((ta, la), (tb, lb)) in got.logprobs.iter().zip(&want.logprobs) {
            assert_eq!(ta, tb);
            assert!((la - lb).abs() < 1e-4, "{la} vs {lb}");
        }
        assert!(got.prompt_tokens.is_some_and(|n| n > 10));
    }
}

#[test]
fn several_requests_in_flight_all_complete_in_order() {
    let backend = local();
    let srv = server::serve(Arc::clone(&backend), "tiny", "127.0.0.1:0").unwrap();
    let client = remote(&srv.url(), |_| {});
    let requests: Vec<ChatRequest> =
        ["Severity?", "Which region?", "Describe.", "Box?"].iter().map(|q| request(q, true)).collect();
    let got = chat_many(&client, &requests, 3, &AtomicBool::new(false));
    for (req, reply) in requests.iter().zip(got) {
        let want = backend.chat(req, &AtomicBool::new(false), &mut |_| {}).unwrap();
        assert_eq!(reply.unwrap().text, want.text);
    }
}

#[test]
fn cancel_stops_a_stream_quickly() {
    let srv = server::serve(local(), "tiny", "127.0.0.1:0").unwrap();
    let client = remote(&srv.url(), |_| {});
    let cancel = AtomicBool::new(false);
    let mut req = request("Describe.", true);
    req.max_tokens = 4000;
    let mut seen = 0;
    let t = Instant::now();
    let reply = client
        .chat(&req, &cancel, &mut |_| {
            seen += 1;
            if seen == 2 {
                cancel.store(true, Ordering::Relaxed);
            }
        })
        .unwrap();
    assert_eq!(reply.finish, Finish::Cancelled);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn bad_requests_get_http_400_with_the_reason() {
    let srv = server::serve(local(), "tiny", "127.0.0.1:0").unwrap();
    let client = remote(&srv.url(), |o| o.retries = 0);
    // An image part without an image: the client refuses before sending.
    let mut req = request("Describe.", true);
    req.images.clear();
    assert!(matches!(client.chat(&req, &AtomicBool::new(false), &mut |_| {}), Err(BackendError::Request(_))));
    // A non-data image URL reaches the server, which answers 400 with the reason.
    let body = r#"{"model":"tiny","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://example.com/x.png"}}]}]}"#;
    let raw = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = std::net::TcpStream::connect(srv.addr()).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("data: URLs"), "{answer}");
}

/// A fake server: accept one connection, read the request, then do `then` with the socket.
fn fake_server(then: impl FnOnce(std::net::TcpStream, String) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let n = s.read(&mut buf).unwrap_or(0);
        then(s, String::from_utf8_lossy(&buf[..n]).into_owned());
    });
    url
}

#[test]
fn server_dying_mid_stream_is_an_error_not_a_hang() {
    let url = fake_server(|mut s, _| {
        let chunk = r#"data: {"id":"x","choices":[{"index":0,"delta":{"content":"par"},"finish_reason":null}]}"#;
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
        s.write_all(format!("{head}{chunk}\n\n{chunk}\n\n").as_bytes()).unwrap();
        // Then the process "dies": the socket closes with no finish_reason and no [DONE].
    });
    let client = remote(&url, |o| o.retries = 0);
    let e = client.chat(&request("hi", false), &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("closed the stream before the answer finished"), "{e}");
}

#[test]
fn server_never_answering_times_out() {
    let url = fake_server(|s, _| {
        std::thread::sleep(Duration::from_secs(6));
        drop(s);
    });
    let client = remote(&url, |o| {
        o.retries = 0;
        o.first_byte_timeout = Duration::from_secs(1);
    });
    let t = Instant::now();
    let e = client.chat(&request("hi", false), &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(matches!(e, BackendError::Timeout { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[test]
fn silent_stream_hits_the_idle_timeout() {
    let url = fake_server(|mut s, _| {
        let chunk = r#"data: {"id":"x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}"#;
        s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n{chunk}\n\n").as_bytes())
            .unwrap();
        std::thread::sleep(Duration::from_secs(5));
    });
    let client = remote(&url, |o| {
        o.retries = 0;
        o.idle_timeout = Duration::from_secs(1);
    });
    let e = client.chat(&request("hi", false), &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("no streamed token within 1 s"), "{e}");
}

#[test]
fn api_key_comes_from_the_environment_and_http_errors_are_reported() {
    // CARGO_PKG_NAME is set by cargo when it runs tests: the key is its value, read at construction.
    let url = fake_server(|mut s, request| {
        let auth = request.lines().any(|l| l.eq_ignore_ascii_case("authorization: Bearer heatscope"));
        let body = if auth { "wrong model" } else { "no key" };
        s.write_all(format!("HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes())
            .unwrap();
    });
    let client = remote(&url, |o| o.api_key_env = Some("CARGO_PKG_NAME".into()));
    assert!(!format!("{client:?}").contains("heatscope\""), "Debug must not show the key: {client:?}");
    let e = client.chat(&request("hi", false), &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(matches!(&e, BackendError::Http { status: 401, body, .. } if body == "wrong model"), "{e}");
}

#[test]
fn unreachable_server_fails_after_retries_with_the_url() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let client = remote(&url, |o| o.retries = 2);
    let t = Instant::now();
    let e = client.chat(&request("hi", false), &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(matches!(e, BackendError::Connect { .. }), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    // Two retries with backoff (0.5 s + 1 s), not forever.
    assert!(t.elapsed() >= Duration::from_millis(1400) && t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
