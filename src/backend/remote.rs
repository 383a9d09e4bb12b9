//! Any OpenAI-compatible chat-completions server as a [`ChatBackend`] (vLLM, Ollama, llama.cpp
//! server, `heatscope serve`): images sent as PNG data URLs, answers streamed over server-sent events
//! with per-token log-probabilities, connect / first-byte / idle timeouts, retries with exponential
//! backoff before the first token, cancellation that returns within ~0.1 s, TLS through rustls. The API
//! key is read from an environment variable at construction and never written anywhere (Debug
//! redacts it). Runs on the caller's (worker) thread plus one reader thread per request.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::openai::{self, Chunk};
use super::{BackendError, ChatBackend, ChatReply, ChatRequest, ChatToken, Finish};

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
    /// Until the response headers arrive (includes the server's queueing and prefill).
    pub first_byte_timeout: Duration,
    /// Longest silence between two streamed chunks.
    pub idle_timeout: Duration,
    /// Extra attempts after a connection failure, a timeout, HTTP 429 or 5xx (never after a token).
    pub retries: u32,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8000/v1".into(),
            model: "default".into(),
            api_key_env: Some("OPENAI_API_KEY".into()),
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            retries: 3,
        }
    }
}

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
            .timeout_recv_response(Some(opts.first_byte_timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self { opts, endpoint, api_key, agent })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// POST the request; the streaming body's reader on success.
    fn open(&self, body: &str) -> Result<ureq::BodyReader<'static>, BackendError> {
        let url = &self.endpoint;
        let mut request = self.agent.post(url).header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let response = request.send(body).map_err(|e| match e {
            ureq::Error::Timeout(t) => BackendError::Timeout {
                url: url.clone(),
                what: if matches!(t, ureq::Timeout::Connect | ureq::Timeout::Resolve) {
                    "connection"
                } else {
                    "response"
                },
                secs: if matches!(t, ureq::Timeout::Connect) {
                    self.opts.connect_timeout.as_secs_f64()
                } else {
                    self.opts.first_byte_timeout.as_secs_f64()
                },
            },
            other => BackendError::Connect { url: url.clone(), reason: other.to_string() },
        })?;
        let status = response.status().as_u16();
        if status != 200 {
            let mut text = response.into_body().read_to_string().unwrap_or_default();
            text.truncate(500);
            return Err(BackendError::Http { url: url.clone(), status, body: text });
        }
        Ok(response.into_body().into_reader())
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
        let body = openai::request_body(&self.opts.model, req, true)?.to_string();
        let cancelled = || ChatReply {
            text: String::new(),
            logprobs: Vec::new(),
            finish: Finish::Cancelled,
            prompt_tokens: None,
            first_token_secs: None,
            total_secs: start.elapsed().as_secs_f64(),
        };
        let mut attempt = 0;
        let reader = loop {
            if cancel.load(Ordering::Relaxed) {
                return Ok(cancelled());
            }
            match self.open(&body) {
                Ok(r) => break r,
                Err(e) if e.retryable() && attempt < self.opts.retries => {
                    attempt += 1;
                    tracing::warn!("{e}; retry {attempt} of {}", self.opts.retries);
                    let wait = Duration::from_millis(250 * (1 << attempt.min(6)));
                    let until = Instant::now() + wait;
                    while Instant::now() < until && !cancel.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Err(e) => return Err(e),
            }
        };
        // A reader thread turns the body into lines so that cancel and the idle timeout stay responsive.
        let (tx, rx) = mpsc::channel::<std::io::Result<String>>();
        std::thread::Builder::new()
            .name("sse-reader".into())
            .spawn(move || {
                for line in std::io::BufReader::new(reader).lines() {
                    let failed = line.is_err();
                    if tx.send(line).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| BackendError::Request(format!("cannot start a reader thread: {e}")))?;
        let url = &self.endpoint;
        let stream_err = |reason: String| BackendError::Stream { url: url.clone(), reason };
        let mut reply = ChatReply {
            text: String::new(),
            logprobs: Vec::new(),
            finish: Finish::Stop,
            prompt_tokens: None,
            first_token_secs: None,
            total_secs: 0.0,
        };
        let mut finish: Option<Finish> = None;
        let mut last = Instant::now();
        loop {
            if cancel.load(Ordering::Relaxed) {
                reply.finish = Finish::Cancelled;
                break;
            }
            let line = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(line)) => line,
                Ok(Err(e)) => return Err(stream_err(format!("the connection failed mid-answer: {e}"))),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if last.elapsed() > self.opts.idle_timeout {
                        return Err(BackendError::Timeout {
                            url: url.clone(),
                            what: "streamed token",
                            secs: self.opts.idle_timeout.as_secs_f64(),
                        });
                    }
                    continue;
                }
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
            last = Instant::now();
            let Some(data) = line.strip_prefix("data:") else { continue };
            let data = data.trim();
            if data == "[DONE]" {
                break;
            }
            let value: serde_json::Value =
                serde_json::from_str(data).map_err(|e| stream_err(format!("unreadable event {data:?}: {e}")))?;
            if let Some(err) = value.get("error") {
                return Err(stream_err(format!("the server reported an error: {err}")));
            }
            let chunk: Chunk =
                serde_json::from_value(value).map_err(|e| stream_err(format!("unexpected event {data:?}: {e}")))?;
            if let Some(u) = chunk.usage {
                reply.prompt_tokens = Some(u.prompt_tokens);
            }
            let Some(choice) = chunk.choices.into_iter().next() else { continue };
            let tokens = choice.logprobs.map(|l| l.content).unwrap_or_default();
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                reply.first_token_secs.get_or_insert_with(|| start.elapsed().as_secs_f64());
                let (token, logprob) = match tokens.as_slice() {
                    [one] => (Some(one.token.as_str()), Some(one.logprob)),
                    _ => (None, None),
                };
                on_token(ChatToken { text: &text, token, logprob });
                reply.text.push_str(&text);
            }
            reply.logprobs.extend(tokens.into_iter().map(|t| (t.token, t.logprob)));
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
