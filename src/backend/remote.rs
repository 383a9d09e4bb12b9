//! Any OpenAI-compatible chat-completions server as a [`ChatBackend`] (vLLM, Ollama, llama.cpp
//! server, `heatscope serve`): images sent as PNG data URLs, answers streamed over server-sent events
//! with per-token log-probabilities, TLS through rustls. Every way a server can misbehave ends in an
//! error within bounded time and memory: connect, write (a server that stops reading the request),
//! first-byte and idle timeouts, an overall deadline per request (retries included), a cap on one
//! line and on the whole response, the client's own stop at `max_tokens`, and error messages that
//! quote at most 200 bytes of what the server sent. Retries with exponential backoff before the
//! first token; cancellation returns within ~0.1 s. The API key is read from an environment variable
//! at construction and never written anywhere (Debug redacts it). Runs on the caller's (worker)
//! thread plus one reader thread per request.

use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::openai::{self, Chunk};
use super::{Alternative, BackendError, ChatBackend, ChatReply, ChatRequest, ChatToken, Finish, quote};

/// Connection settings.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// Base URL, e.g. `http://gpu-box:8000/v1` (a missing `/v1` is added).
    pub url: String,
    /// Model name the server knows (vLLM: the served model; Ollama: e.g. `qwen2.5vl:7b`).
    pub model: String,
    /// Environment variable holding the API key (none sent when unset or empty).
    pub api_key_env: Option<String>,
    pub connect_timeout: Duration,
    /// Longest the request (headers, then body) may take to send: a server that stops reading a
    /// large request, or a link too slow for it.
    pub write_timeout: Duration,
    /// Until the response headers arrive (includes the server's queueing and prefill).
    pub first_byte_timeout: Duration,
    /// Longest silence between two streamed tokens (keep-alive comments do not count as tokens).
    pub idle_timeout: Duration,
    /// The whole request, every attempt and the streamed answer included.
    pub deadline: Duration,
    /// Extra attempts after a connection failure, a timeout, HTTP 429 or 5xx (never after a token;
    /// at most one after a write timeout, so a server that never reads fails within minutes).
    pub retries: u32,
    /// Longest line of the event stream the client accepts.
    pub max_line_bytes: usize,
    /// Largest response (event stream or error body) the client reads.
    pub max_response_bytes: u64,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8000/v1".into(),
            model: "default".into(),
            api_key_env: Some("OPENAI_API_KEY".into()),
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(60),
            first_byte_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(600),
            retries: 3,
            max_line_bytes: 1 << 20,
            max_response_bytes: 64 << 20,
        }
    }
}

/// What a write timeout is called in [`BackendError::Timeout`] (retried at most once).
const WRITE_STALL: &str =
    "progress sending the request (the server stopped reading it, or the link is too slow for its size)";
/// What the deadline is called in [`BackendError::Timeout`].
const DEADLINE: &str = "complete answer (--deadline)";
/// Most of an error response's body the client reads before quoting it.
const ERROR_BODY_BYTES: u64 = 64 << 10;

pub struct RemoteBackend {
    opts: RemoteOptions,
    endpoint: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for RemoteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBackend")
            .field("endpoint", &self.endpoint)
            .field("model", &self.opts.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl RemoteBackend {
    pub fn new(opts: RemoteOptions) -> Result<Self, BackendError> {
        let base = opts.url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(BackendError::Request(format!(
                "--url must start with http:// or https://, not {:?}",
                opts.url
            )));
        }
        let endpoint = if base.ends_with("/v1") {
            format!("{base}/chat/completions")
        } else {
            format!("{base}/v1/chat/completions")
        };
        let api_key = opts.api_key_env.as_ref().and_then(|name| std::env::var(name).ok()).filter(|k| !k.is_empty());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_per_write(Some(opts.write_timeout))
            .timeout_send_request(Some(opts.write_timeout))
            .timeout_send_body(Some(opts.write_timeout))
            .timeout_recv_response(Some(opts.first_byte_timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self { opts, endpoint, api_key, agent })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Extra attempts allowed after `e`: a write timeout is retried once, so that a server that never
    /// reads a request fails after two write timeouts.
    fn retries_after(&self, e: &BackendError) -> u32 {
        match e {
            BackendError::Timeout { what, .. } if *what == WRITE_STALL => self.opts.retries.min(1),
            BackendError::Timeout { what, .. } if *what == DEADLINE => 0,
            _ => self.opts.retries,
        }
    }

    /// POST the request within `budget` (what is left of the deadline); the streaming body's reader
    /// on success.
    fn open(&self, body: &str, budget: Duration) -> Result<ureq::BodyReader<'static>, BackendError> {
        let url = &self.endpoint;
        let mut request = self.agent.post(url).header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let request = request.config().timeout_global(Some(budget)).build();
        let response = request.send(body).map_err(|e| match e {
            ureq::Error::Timeout(t) => {
                use ureq::Timeout as T;
                let (what, secs) = match t {
                    T::Connect | T::Resolve => ("connection", self.opts.connect_timeout),
                    T::PerWrite | T::SendRequest | T::SendBody => (WRITE_STALL, self.opts.write_timeout),
                    T::Global | T::PerCall => (DEADLINE, self.opts.deadline),
                    _ => ("response", self.opts.first_byte_timeout),
                };
                BackendError::Timeout { url: url.clone(), what, secs: secs.as_secs_f64() }
            }
            other => BackendError::Connect { url: url.clone(), reason: other.to_string() },
        })?;
        let status = response.status().as_u16();
        if status != 200 {
            let mut text = Vec::new();
            let _ = response.into_body().into_reader().take(ERROR_BODY_BYTES).read_to_end(&mut text);
            return Err(BackendError::Http { url: url.clone(), status, body: quote(&text) });
        }
        Ok(response.into_body().into_reader())
    }
}

/// Reads the event stream into lines on its own thread, so that cancel and the timeouts stay
/// responsive; a line over `max_line` bytes or a stream over `max_total` ends it with an error
/// (holding at most `max_line` bytes). Lines are sent without their line ending.
fn spawn_line_reader(
    reader: ureq::BodyReader<'static>,
    max_line: usize,
    max_total: u64,
) -> Result<mpsc::Receiver<std::io::Result<String>>, BackendError> {
    let (tx, rx) = mpsc::channel::<std::io::Result<String>>();
    std::thread::Builder::new()
        .name("sse-reader".into())
        .spawn(move || {
            let mut r = std::io::BufReader::with_capacity(64 << 10, reader);
            let mut total = 0u64;
            loop {
                let line = read_line_capped(&mut r, max_line).and_then(|line| {
                    total += line.as_ref().map_or(0, |l| l.len() as u64);
                    if total > max_total {
                        return Err(std::io::Error::other(format!(
                            "the response passed {} MiB without finishing",
                            max_total >> 20
                        )));
                    }
                    Ok(line)
                });
                let (item, last) = match line {
                    Ok(None) => break,
                    Ok(Some(bytes)) => {
                        let text = String::from_utf8_lossy(&bytes);
                        (Ok(text.trim_end_matches(['\r', '\n']).to_string()), false)
                    }
                    Err(e) => (Err(e), true),
                };
                if tx.send(item).is_err() || last {
                    break;
                }
            }
        })
        .map_err(|e| BackendError::Request(format!("cannot start a reader thread: {e}")))?;
    Ok(rx)
}

/// One line (with its `\n`) of at most `cap` bytes; `None` at the end of the stream.
fn read_line_capped(r: &mut impl BufRead, cap: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok((!line.is_empty()).then_some(line));
        }
        let (take, done) = buf.iter().position(|&b| b == b'\n').map_or((buf.len(), false), |i| (i + 1, true));
        if line.len() + take > cap.saturating_add(1) {
            let room = cap.saturating_sub(line.len()).min(take);
            line.extend_from_slice(&buf[..room]);
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the server sent a line longer than {} KiB: {}", cap >> 10, quote(&line)),
            ));
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            return Ok(Some(line));
        }
    }
}

impl ChatBackend for RemoteBackend {
    fn describe(&self) -> String {
        format!("remote {} ({})", self.endpoint, self.opts.model)
    }

    fn chat(
        &self,
        req: &ChatRequest,
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(ChatToken<'_>),
    ) -> Result<ChatReply, BackendError> {
        let start = Instant::now();
        let url = &self.endpoint;
        let deadline = self.opts.deadline;
        let past_deadline = || BackendError::Timeout { url: url.clone(), what: DEADLINE, secs: deadline.as_secs_f64() };
        let body = openai::request_body(&self.opts.model, req, true)?.to_string();
        let mut reply = ChatReply {
            text: String::new(),
            logprobs: Vec::new(),
            token_bytes: Vec::new(),
            top_logprobs: Vec::new(),
            finish: Finish::Stop,
            prompt_tokens: None,
            first_token_secs: None,
            total_secs: 0.0,
            domain: None,
        };
        let mut attempt = 0;
        let reader = loop {
            if cancel.load(Ordering::Relaxed) {
                reply.finish = Finish::Cancelled;
                reply.total_secs = start.elapsed().as_secs_f64();
                return Ok(reply);
            }
            let budget = deadline.checked_sub(start.elapsed()).filter(|b| !b.is_zero()).ok_or_else(past_deadline)?;
            match self.open(&body, budget) {
                Ok(r) => break r,
                Err(e) if e.retryable() && attempt < self.retries_after(&e) => {
                    attempt += 1;
                    tracing::warn!("{e}; retry {attempt} of {}", self.retries_after(&e));
                    let wait = Duration::from_millis(250 * (1 << attempt.min(6)));
                    let until = Instant::now() + wait;
                    while Instant::now() < until && !cancel.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Err(e) => return Err(e),
            }
        };
        let rx = spawn_line_reader(reader, self.opts.max_line_bytes, self.opts.max_response_bytes)?;
        let stream_err = |reason: String| BackendError::Stream { url: url.clone(), reason };
        let mut finish: Option<Finish> = None;
        let mut tokens = 0usize;
        // Silence is measured between tokens: keep-alive comments and empty events do not reset it.
        let mut last_token = Instant::now();
        loop {
            if cancel.load(Ordering::Relaxed) {
                reply.finish = Finish::Cancelled;
                break;
            }
            if start.elapsed() > deadline {
                return Err(past_deadline());
            }
            // Checked on every line, not only in silence: comments can arrive forever.
            if last_token.elapsed() > self.opts.idle_timeout {
                return Err(BackendError::Timeout {
                    url: url.clone(),
                    what: "streamed token",
                    secs: self.opts.idle_timeout.as_secs_f64(),
                });
            }
            let line = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(line)) => line,
                // The reader's own deadline (ureq's global timeout) can fire a moment before this
                // loop sees the deadline pass: it is the same deadline.
                Ok(Err(_)) if start.elapsed() + Duration::from_millis(250) >= deadline => return Err(past_deadline()),
                Ok(Err(e)) => return Err(stream_err(format!("the stream failed mid-answer: {e}"))),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    if finish.is_some() {
                        break;
                    }
                    return Err(stream_err(format!(
                        "the server closed the stream before the answer finished ({} characters received)",
                        reply.text.len()
                    )));
                }
            };
            let Some(data) = line.strip_prefix("data:") else { continue };
            let data = data.trim();
            if data == "[DONE]" {
                break;
            }
            let value: serde_json::Value = serde_json::from_str(data)
                .map_err(|e| stream_err(format!("unreadable event {}: {e}", quote(data.as_bytes()))))?;
            if let Some(err) = value.get("error") {
                return Err(stream_err(format!("the server reported an error: {}", quote(err.to_string().as_bytes()))));
            }
            let chunk: Chunk = serde_json::from_value(value)
                .map_err(|e| stream_err(format!("unexpected event {}: {e}", quote(data.as_bytes()))))?;
            if let Some(u) = chunk.usage {
                reply.prompt_tokens = Some(u.prompt_tokens);
            }
            let Some(choice) = chunk.choices.into_iter().next() else { continue };
            let logprobs = choice.logprobs.map(|l| l.content).unwrap_or_default();
            let text = choice.delta.content.filter(|t| !t.is_empty());
            if text.is_some() || !logprobs.is_empty() {
                // A server that keeps sending past max_tokens is cut off at the first token too many.
                if tokens >= req.max_tokens {
                    finish = Some(Finish::Length);
                    break;
                }
                last_token = Instant::now();
                tokens += logprobs.len().max(1);
            }
            let tops: Vec<Vec<Alternative>> =
                logprobs.iter().map(|t| t.top_logprobs.iter().map(|a| a.alternative()).collect()).collect();
            let bytes: Vec<Vec<u8>> = logprobs.iter().map(openai::TokenLogprob::raw_bytes).collect();
            if let Some(text) = text {
                reply.first_token_secs.get_or_insert_with(|| start.elapsed().as_secs_f64());
                let (token, logprob, bytes, top) = match (logprobs.as_slice(), bytes.as_slice(), tops.as_slice()) {
                    ([one], [b], [top]) => {
                        (Some(one.token.as_str()), Some(one.logprob), Some(b.as_slice()), top.as_slice())
                    }
                    _ => (None, None, None, &[][..]),
                };
                on_token(ChatToken { text: &text, token, logprob, bytes, top });
                reply.text.push_str(&text);
            }
            if req.top_logprobs > 0 {
                reply.top_logprobs.extend(tops);
            }
            reply.token_bytes.extend(bytes);
            reply.logprobs.extend(logprobs.into_iter().map(|t| (t.token, t.logprob)));
            if let Some(reason) = choice.finish_reason {
                finish = Some(if reason == "length" { Finish::Length } else { Finish::Stop });
            }
        }
        if reply.finish != Finish::Cancelled {
            reply.finish = finish.unwrap_or(Finish::Stop);
        }
        reply.total_secs = start.elapsed().as_secs_f64();
        Ok(reply)
    }
}
