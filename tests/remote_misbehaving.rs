//! The remote client against local servers that misbehave in ways that used to hang it or exhaust
//! memory: one that never reads a large request, keep-alive comments forever, tokens forever past
//! `max_tokens`, a line with no end, a response with no end, an answer slower than the deadline, an
//! error page of megabytes. Each ends within bounded time with a short message; `ask --url` exits
//! non-zero with it. Timeouts are scaled down from the defaults so the tests take seconds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use heatscope::backend::{BackendError, ChatBackend, ChatReply, ChatRequest, Finish, RemoteBackend, RemoteOptions};
use heatscope::models::vlm::{Message, Part};

const HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";

/// One streamed token as `heatscope serve` and vLLM send it.
fn token_event(text: &str) -> String {
    format!(
        "data: {{\"id\":\"x\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\
         \"logprobs\":{{\"content\":[{{\"token\":\"{text}\",\"logprob\":-0.1}}]}},\"finish_reason\":null}}]}}\n\n"
    )
}

/// A server on a free port that handles every connection with `serve` (on its own thread) and
/// reads the request first unless `read_request` is false.
fn server(read_request: bool, serve: fn(&mut TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                if read_request {
                    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
                    let mut buf = vec![0u8; 1 << 16];
                    let _ = s.read(&mut buf);
                }
                serve(&mut s);
            });
        }
    });
    url
}

fn client(url: &str, tweak: impl FnOnce(&mut RemoteOptions)) -> RemoteBackend {
    let mut opts = RemoteOptions {
        url: url.into(),
        model: "m".into(),
        api_key_env: None,
        retries: 0,
        idle_timeout: Duration::from_secs(2),
        ..RemoteOptions::default()
    };
    tweak(&mut opts);
    RemoteBackend::new(opts).unwrap()
}

fn ask(c: &RemoteBackend, req: &ChatRequest) -> (Result<ChatReply, BackendError>, Duration) {
    let t = Instant::now();
    (c.chat(req, &AtomicBool::new(false), &mut |_| {}), t.elapsed())
}

fn question(max_tokens: usize) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(vec![Part::Text("Which region is affected?".into())])],
        max_tokens,
        ..ChatRequest::default()
    }
}

/// Send forever (until the client goes away).
fn forever(s: &mut TcpStream, piece: &[u8], pause: Duration) {
    while s.write_all(piece).is_ok() {
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

#[test]
fn a_server_that_never_reads_the_request_fails_after_the_write_timeout_and_one_retry() {
    let url = server(false, |_| std::thread::sleep(Duration::from_secs(30)));
    // About 27 MB of PNG data URL: far more than the socket buffers hold.
    let mut seed = 1u32;
    let noise = image::RgbImage::from_fn(2400, 2400, |_, _| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let b = seed.to_le_bytes();
        image::Rgb([b[1], b[2], b[3]])
    });
    let req = ChatRequest {
        messages: vec![Message::user(vec![Part::Image, Part::Text("What is this?".into())])],
        images: vec![noise],
        ..ChatRequest::default()
    };
    let c = client(&url, |o| {
        o.write_timeout = Duration::from_secs(1);
        o.retries = 3;
    });
    // Encoding the image as a data URL takes a while of its own.
    let t = Instant::now();
    let body = heatscope::backend::openai::request_body("m", &req, true).unwrap().to_string();
    let encoding = t.elapsed();
    assert!(body.len() > 20_000_000, "{} bytes", body.len());
    let (r, took) = ask(&c, &req);
    let e = r.unwrap_err();
    assert!(matches!(e, BackendError::Timeout { .. }) && e.to_string().contains("stopped reading"), "{e}");
    // Two write timeouts and a 0.5 s backoff (2.5 s); all four attempts would take 7.5 s.
    assert!(took < encoding + Duration::from_secs(5), "{took:?} (encoding {encoding:?})");
}

#[test]
fn keep_alive_comments_forever_hit_the_idle_timeout() {
    let url = server(true, |s| {
        let _ = s.write_all(HEAD.as_bytes());
        forever(s, b": keep-alive\n\n", Duration::from_millis(50));
    });
    let (r, took) = ask(&client(&url, |o| o.idle_timeout = Duration::from_secs(1)), &question(10));
    let e = r.unwrap_err();
    assert!(e.to_string().contains("no streamed token within 1 s"), "{e}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn tokens_past_max_tokens_are_cut_off_by_the_client() {
    let url = server(true, |s| {
        let _ = s.write_all(HEAD.as_bytes());
        forever(s, token_event("na").as_bytes(), Duration::ZERO);
    });
    let (r, took) = ask(&client(&url, |_| {}), &question(10));
    let reply = r.unwrap();
    assert_eq!(
        (reply.finish, reply.logprobs.len(), reply.text.as_str()),
        (Finish::Length, 10, "na".repeat(10).as_str())
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn a_line_without_end_is_refused_at_one_mebibyte_and_quoted_briefly() {
    let url = server(true, |s| {
        let _ = s.write_all(format!("{HEAD}data: ").as_bytes());
        forever(s, &[b'x'; 1 << 16], Duration::ZERO);
    });
    let (r, took) = ask(&client(&url, |_| {}), &question(10));
    let e = r.unwrap_err().to_string();
    assert!(e.contains("line longer than 1024 KiB") && e.contains("bytes in all"), "{e}");
    assert!(e.len() < 600, "the message quotes too much: {} bytes", e.len());
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_response_without_end_is_refused_at_the_cap() {
    let url = server(true, |s| {
        let _ = s.write_all(HEAD.as_bytes());
        forever(s, &b": padding\n".repeat(4096), Duration::ZERO);
    });
    let (r, _) = ask(&client(&url, |o| o.max_response_bytes = 4 << 20), &question(10));
    let e = r.unwrap_err().to_string();
    assert!(e.contains("passed 4 MiB"), "{e}");
}

#[test]
fn an_answer_slower_than_the_deadline_ends_at_the_deadline() {
    let url = server(true, |s| {
        let _ = s.write_all(HEAD.as_bytes());
        forever(s, token_event("slow").as_bytes(), Duration::from_millis(200));
    });
    let (r, took) = ask(&client(&url, |o| o.deadline = Duration::from_millis(1500)), &question(1000));
    let e = r.unwrap_err();
    assert!(e.to_string().contains("--deadline"), "{e}");
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn a_huge_error_page_is_quoted_in_200_bytes() {
    let url = server(true, |s| {
        let body = "<html>".repeat(2_000_000);
        let head = format!("HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(body.as_bytes());
    });
    let (r, _) = ask(&client(&url, |_| {}), &question(10));
    let e = r.unwrap_err();
    assert!(matches!(e, BackendError::Http { status: 503, .. }), "{e}");
    assert!(e.to_string().len() < 400 && e.to_string().contains("bytes in all"), "{e}");
}

#[test]
fn ask_exits_non_zero_with_the_reason_when_the_deadline_passes() {
    let url = server(true, |s| {
        let _ = s.write_all(HEAD.as_bytes());
        forever(s, token_event("slow").as_bytes(), Duration::from_millis(200));
    });
    let t = Instant::now();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_heatscope"))
        .args(["ask", "--url", &url, "--deadline", "1", "--max-tokens", "500", "--api-key-env", "NO_SUCH_KEY_VAR"])
        .arg("Severity?")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--deadline") && err.contains(&url), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
