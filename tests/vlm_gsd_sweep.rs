//! ScaleEarth's spoofing test from the command line (issue 26) with the bundled VLM on the bundled
//! samples: `ask --gsd-sweep` asks one question per stated GSD and writes a row each (the true GSD from
//! the file's georeferencing or `--gsd`, marked once), with finite mean log-probs from the local engine;
//! bad ranges are refused before any model loads; `--tell-gsd` really lengthens the prompt.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use common::cli::{failed, heatscope, ok};
use serde_json::Value;

const QUESTION: &str = "About how many metres across is the area this image shows?";

fn sample(rel: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples").join(rel).to_str().unwrap().to_string()
}

fn naip() -> String {
    sample("naip_m_3211605_ne_11_060_20200415.tif")
}

fn spectrum_png() -> String {
    sample("spectrumqa/scenes/geo-rural-00000/observed.png")
}

/// The CSV's rows as (gsd_m, is_true, answer, mean_logprob, tokens), read with the quoting it uses.
fn csv_rows(text: &str) -> Vec<(f64, bool, String, f64, Option<usize>)> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("gsd_m,is_true,answer,mean_logprob,tokens"));
    let rest: Vec<&str> = lines.collect();
    let mut rows = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        // An answer with a line break spans lines: join until the quotes balance.
        let mut line = rest[i].to_string();
        while line.matches('"').count() % 2 == 1 {
            i += 1;
            line = format!("{line}\n{}", rest[i]);
        }
        i += 1;
        let (gsd, after) = line.split_once(',').unwrap();
        let (is_true, after) = after.split_once(',').unwrap();
        let (tail_tokens, head) = {
            let (head, tokens) = after.rsplit_once(',').unwrap();
            (tokens.to_string(), head.to_string())
        };
        let (answer, logprob) = head.rsplit_once(',').unwrap();
        let answer = answer
            .strip_prefix('"')
            .and_then(|a| a.strip_suffix('"'))
            .map_or(answer.to_string(), |a| a.replace("\"\"", "\""));
        rows.push((
            gsd.parse().unwrap(),
            is_true.parse().unwrap(),
            answer,
            logprob.parse().unwrap(),
            tail_tokens.parse().ok(),
        ));
    }
    rows
}

#[test]
fn a_sweep_of_a_georeferenced_tile_marks_its_true_gsd_once() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sweep.csv");
    let o = heatscope(&[
        "ask",
        "--image",
        &naip(),
        "--gsd-sweep",
        "--sweep-points",
        "5",
        "--max-tokens",
        "24",
        "--out",
        csv.to_str().unwrap(),
        QUESTION,
    ]);
    let table = ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    // 0.01, 0.1, 1, 10, 100 m ... 1 km is five points; the tile's 0.6 m is not one of them: six rows.
    let rows = csv_rows(&std::fs::read_to_string(&csv).unwrap());
    assert_eq!(rows.len(), 6, "{rows:?}");
    let truth: Vec<_> = rows.iter().filter(|r| r.1).collect();
    assert_eq!(truth.len(), 1, "{rows:?}");
    assert!((truth[0].0 - 0.6).abs() < 0.01, "the GeoTIFF's own GSD: {}", truth[0].0);
    assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "in order of GSD");
    assert_eq!((rows[0].0, rows[5].0), (0.01, 1000.0));
    for r in &rows {
        assert!(r.3.is_finite() && r.3 <= 0.0, "a log-prob from the local engine: {r:?}");
        assert!(r.4.is_some_and(|t| t > 0) && !r.2.is_empty(), "{r:?}");
    }
    // The table has the same rows, the true one starred, and stderr the verdict.
    assert_eq!(table.lines().count(), 7, "{table}");
    assert_eq!(table.lines().filter(|l| l.contains(" * ")).count(), 1, "{table}");
    assert!(stderr.contains("true GSD 0.599 m (metadata"), "{stderr}");
    assert!(stderr.contains("mean log-prob"), "{stderr}");
    assert!(stderr.contains("note: the bundled vlm-spectrum-tiny was trained on spectrum heatmaps only"), "{stderr}");
}

#[test]
fn a_given_gsd_is_marked_and_the_json_has_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let png = spectrum_png();
    let args =
        ["ask", "--image", &png, "--gsd-sweep", "--sweep-min", "0.1", "--sweep-max", "100", "--sweep-points", "4"];
    let mut with_truth = args.to_vec();
    with_truth.extend(["--gsd", "2.5", "--max-tokens", "16", "--out", json.to_str().unwrap(), QUESTION]);
    ok(&heatscope(&with_truth));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let gsds: Vec<f64> = rows.iter().map(|r| r["gsd_m"].as_f64().unwrap()).collect();
    assert_eq!(gsds.iter().map(|g| (g * 1000.0).round() / 1000.0).collect::<Vec<_>>(), [0.1, 1.0, 2.5, 10.0, 100.0]);
    assert_eq!(rows.iter().filter(|r| r["is_true"] == true).count(), 1);
    assert_eq!(rows[2]["is_true"], true);
    assert!(rows.iter().all(|r| r["mean_logprob"].as_f64().is_some_and(f64::is_finite)), "{rows:?}");
    assert!(rows.iter().all(|r| r["tokens"].as_u64().is_some_and(|t| t > 0)));
    assert_eq!((v["question"].as_str(), v["true_gsd_m"].as_f64()), (Some(QUESTION), Some(2.5)));
    assert!(v["flat"].is_boolean() && v["verdict"].as_str().is_some_and(|s| !s.is_empty()));

    // A picture without georeferencing and no --gsd: the grid alone, nothing marked.
    let mut plain = args.to_vec();
    plain.extend(["--max-tokens", "8", QUESTION]);
    let o = heatscope(&plain);
    let table = ok(&o);
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(!table.contains(" * "), "{table}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no GSD of its own"));
}

#[test]
fn bad_sweeps_are_refused_with_the_reason() {
    let png = spectrum_png();
    let refused = |extra: &[&str]| {
        let mut a = vec!["ask", "--image", png.as_str(), "--gsd-sweep"];
        a.extend_from_slice(extra);
        a.push(QUESTION);
        failed(&heatscope(&a))
    };
    assert!(refused(&["--sweep-min", "0"]).contains("positive"));
    assert!(refused(&["--sweep-min", "-1"]).contains("positive"));
    assert!(refused(&["--sweep-min", "10", "--sweep-max", "1"]).contains("above the smallest"));
    assert!(refused(&["--sweep-min", "5", "--sweep-max", "5"]).contains("above the smallest"));
    assert!(refused(&["--sweep-points", "1"]).contains("2 to 200 points"));
    assert!(refused(&["--sweep-points", "201"]).contains("2 to 200 points"));
    assert!(refused(&["--gsd", "0"]).contains("true GSD"));
    assert!(refused(&["--out", "sweep.txt"]).contains(".csv or .json"));
    // Without an image there is no GSD to state.
    assert!(failed(&heatscope(&["ask", "--gsd-sweep", QUESTION])).contains("--image"));
    // Sweep flags without --gsd-sweep: a usage error (exit 2).
    let o = heatscope(&["ask", "--image", &png, "--sweep-points", "3", QUESTION]);
    assert_eq!(o.status.code(), Some(2));
    assert!(failed(&heatscope(&["ask", "--image", &png, "--tell-gsd", "0", QUESTION])).contains("positive"));
}

#[test]
fn tell_gsd_puts_the_sentence_into_the_prompt() {
    let png = spectrum_png();
    let prompt_tokens = |o: &std::process::Output| -> usize {
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let at = err.find(" prompt tokens").unwrap_or_else(|| panic!("{err}"));
        err[..at].rsplit(' ').next().unwrap().parse().unwrap()
    };
    let plain = heatscope(&["ask", "--image", &png, "--max-tokens", "4", QUESTION]);
    ok(&plain);
    let told = heatscope(&["ask", "--image", &png, "--max-tokens", "4", "--tell-gsd", "2.5", QUESTION]);
    ok(&told);
    let err = String::from_utf8_lossy(&told.stderr);
    assert!(err.contains("GSD in the prompt: The ground sampling distance of this image is 2.5 m per pixel."), "{err}");
    assert!(prompt_tokens(&told) > prompt_tokens(&plain) + 5, "the sentence reached the model");
}

/// An OpenAI-compatible server that answers every request with "ten metres" and no log-probabilities,
/// keeping each request body.
fn server_without_logprobs() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::{Read, Write};
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let kept = std::sync::Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut data = Vec::new();
            let mut buf = [0u8; 8192];
            // The headers, then as many body bytes as Content-Length says.
            let body_at = loop {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "the client hung up");
                data.extend_from_slice(&buf[..n]);
                if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
            };
            let head = String::from_utf8_lossy(&data[..body_at]).to_lowercase();
            let length: usize =
                head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
            while data.len() < body_at + length {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "the client hung up mid-request");
                data.extend_from_slice(&buf[..n]);
            }
            kept.lock().unwrap().push(serde_json::from_slice(&data[body_at..]).unwrap());
            let chunk = |text: &str, finish: &str| {
                format!(
                    "data: {{\"id\":\"x\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":{finish}}}]}}\n\n"
                )
            };
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n{}{}data: [DONE]\n\n",
                chunk("ten ", "null"),
                chunk("metres", "\"stop\"")
            );
            let _ = s.write_all(reply.as_bytes());
        }
    });
    (url, bodies)
}

#[test]
fn a_server_without_log_probs_gets_n_a_never_a_number() {
    let (url, bodies) = server_without_logprobs();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sweep.csv");
    let png = spectrum_png();
    let o = heatscope(&[
        "ask",
        "--url",
        &url,
        "--image",
        &png,
        "--gsd-sweep",
        "--sweep-min",
        "0.01",
        "--sweep-max",
        "1",
        "--sweep-points",
        "3",
        "--gsd",
        "0.5",
        "--out",
        csv.to_str().unwrap(),
        QUESTION,
    ]);
    let table = ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let rows = csv_rows(&std::fs::read_to_string(&csv).unwrap());
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.3.is_nan() && r.4.is_none() && r.2 == "ten metres"), "{rows:?}");
    assert_eq!(table.lines().skip(1).filter(|l| l.contains("n/a")).count(), 4, "{table}");
    assert!(stderr.contains("mean log-prob n/a: the backend returned no token log-probabilities"), "{stderr}");
    assert!(!stderr.contains("note: the bundled"), "a server is not the bundled model: {stderr}");
    // Every request asked for log-probabilities and stated its own GSD before the question.
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 4);
    for (body, gsd) in bodies.iter().zip(["0.01 m", "0.1 m", "0.5 m", "1 m"]) {
        assert_eq!(body["logprobs"], true);
        let text = body.to_string();
        let sentence = format!("The ground sampling distance of this image is {gsd} per pixel. {QUESTION}");
        assert!(text.contains(&sentence), "{sentence} not in {}", &text[..text.len().min(400)]);
    }
}
