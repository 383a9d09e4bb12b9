//! Where the VLM answers come from, behind one trait: the local engine (`local`), any
//! OpenAI-compatible server (`remote`: vLLM, Ollama, llama.cpp server, or `heatscope serve`), and the
//! server that puts the local engine behind that API (`server`). The wire format lives in `openai`.
//! The GSD sentence (`gsd_prompt`) and the spoofing sweep (`gsd_sweep`) work with any of them.
//! Every call streams tokens with their log-probabilities, can be cancelled from another thread, and
//! fails with an error that says what to do. Runs on worker threads and in the CLI.

pub mod fewshot;
pub mod gsd_prompt;
pub mod gsd_sweep;
pub mod local;
pub mod openai;
pub mod openai_request;
pub mod predictor;
pub mod remote;
pub mod server;

use std::sync::atomic::AtomicBool;

use image::RgbImage;

use crate::models::vlm::{Message, VlmError};

pub use local::LocalBackend;

/// Where VLM answers come from.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum VlmSource {
    /// The bundled vlm-spectrum-tiny.
    #[default]
    Bundled,
    /// A Qwen-VL folder as published.
    Folder(std::path::PathBuf),
    /// An OpenAI-compatible server, its model name, the environment variable with its key, and the
    /// longest one request may take (retries and the streamed answer included).
    Server { url: String, model: String, api_key_env: String, deadline: std::time::Duration },
}

impl VlmSource {
    pub fn describe(&self) -> String {
        match self {
            Self::Bundled => "bundled vlm-spectrum-tiny".into(),
            Self::Folder(d) => d.display().to_string(),
            Self::Server { url, model, .. } => format!("{url} ({model})"),
        }
    }
}

/// Open a backend: load a local model (f32, on the compute device) or set up the client.
pub fn open(source: &VlmSource) -> Result<std::sync::Arc<dyn ChatBackend>, BackendError> {
    use std::sync::Arc;
    let device = crate::models::compute_device().device;
    let local = |m: crate::models::vlm::QwenVl| -> Arc<dyn ChatBackend> { Arc::new(LocalBackend::new(Arc::new(m))) };
    Ok(match source {
        VlmSource::Bundled => local(crate::models::vlm::bundled::load(candle_core::DType::F32, &device)?),
        VlmSource::Folder(dir) => local(crate::models::vlm::QwenVl::load(dir, candle_core::DType::F32, &device)?),
        VlmSource::Server { url, model, api_key_env, deadline } => Arc::new(RemoteBackend::new(RemoteOptions {
            url: url.clone(),
            model: model.clone(),
            api_key_env: Some(api_key_env.clone()),
            deadline: *deadline,
            ..RemoteOptions::default()
        })?),
    })
}
pub use remote::{RemoteBackend, RemoteOptions};

/// At most 200 bytes of what a server sent, for an error message: lossy UTF-8 with control
/// characters escaped, and the full length when it was cut.
pub(crate) fn quote(bytes: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    let shown: String =
        text.chars().flat_map(|c| if c.is_control() { c.escape_debug().collect() } else { vec![c] }).collect();
    if bytes.len() > MAX { format!("{shown}... ({} bytes in all)", bytes.len()) } else { shown }
}

/// What chain-of-thought prompting appends to a question.
pub const COT_INSTRUCTION: &str = "Think step by step about what the heatmap shows, then give the final answer on \
                                   the last line as \"Answer: <answer>\".";

/// The text after the last "Answer:" (case-insensitive), or the whole reply when there is none.
pub fn final_answer(text: &str) -> String {
    let lower = text.to_lowercase();
    match lower.rfind("answer:") {
        Some(i) => text[i + "answer:".len()..].trim().trim_end_matches('.').trim().to_string(),
        None => text.trim().to_string(),
    }
}

/// A conversation to answer; `images` fill the messages' image parts in order.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub images: Vec<RgbImage>,
    pub max_tokens: usize,
    /// 0 = greedy.
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u64,
    /// Texts that end the answer where they first appear (left out of it).
    pub stop: Vec<String>,
    /// How many of the most likely alternatives to report with each token (0: none).
    pub top_logprobs: usize,
    /// A closed question's options: the local engine constrains its answer to exactly one of them
    /// (empty: free text). Servers get the question as it is (see the README).
    pub choices: Vec<String>,
    /// A text format the answer must follow (e.g. an L3 box): the local engine keeps only tokens that
    /// fit it; a server gets it as vLLM's `guided_regex`.
    pub pattern: Option<crate::models::vlm::AnswerPattern>,
}

/// What a constrained answer must be: one of `choices`, or text of `pattern`'s format (neither: free).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnswerFormat {
    pub choices: Vec<String>,
    pub pattern: Option<crate::models::vlm::AnswerPattern>,
}

impl AnswerFormat {
    /// The format of a SpectrumQA question of `kind` (`regions`: the two a which-is-worse question
    /// names): a severity class, yes/no, a region, the L3 box or "none", the L4 answer sentence
    /// with its slots filled from the vocabularies.
    pub fn for_kind(kind: crate::types::QuestionKind, regions: &[String]) -> AnswerFormat {
        use crate::types::{MITIGATIONS, QuestionKind, REGIONS, SEVERITY_CLASSES, SOURCES};
        let owned = |xs: &[&str]| xs.iter().map(|x| (*x).to_string()).collect();
        let choices = match kind {
            QuestionKind::Severity => owned(&SEVERITY_CLASSES),
            QuestionKind::RegionAffected => owned(&["yes", "no"]),
            QuestionKind::WhichWorse if regions.len() == 2 => regions.to_vec(),
            QuestionKind::WhichWorse | QuestionKind::Localize => Vec::new(),
            QuestionKind::WorstRegion => owned(&REGIONS),
            QuestionKind::Morphology
            | QuestionKind::Extended
            | QuestionKind::Fr
            | QuestionKind::Galaxy
            | QuestionKind::Artefact
            | QuestionKind::Anomaly => owned(kind.radio_classes()),
            QuestionKind::Explain => {
                let mut all = Vec::new();
                for source in SOURCES {
                    for evidence in crate::types::EVIDENCE {
                        for severity in 0..SEVERITY_CLASSES.len() {
                            for region in 0..REGIONS.len() {
                                for mitigation in MITIGATIONS {
                                    all.push(crate::sim::labels::explanation_text(
                                        source, evidence, severity, region, mitigation,
                                    ));
                                }
                            }
                        }
                    }
                }
                all
            }
        };
        let pattern = (kind == QuestionKind::Localize).then_some(crate::models::vlm::AnswerPattern::Box);
        AnswerFormat { choices, pattern }
    }

    pub fn is_free(&self) -> bool {
        self.choices.is_empty() && self.pattern.is_none()
    }

    /// In words, for a note beside the answer.
    pub fn describe(&self) -> String {
        match (&self.pattern, self.choices.len()) {
            (Some(_), _) => "answer constrained to a box or \"none\"".into(),
            (None, 0) => "free answer".into(),
            (None, n) if n > 8 => format!("answer constrained to the answer sentence's form ({n} fillings)"),
            (None, _) => format!("answer constrained to {}", self.choices.join(" / ")),
        }
    }
}

impl Default for ChatRequest {
    fn default() -> Self {
        Self {
            messages: Vec::new(),
            images: Vec::new(),
            max_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            stop: Vec::new(),
            top_logprobs: 0,
            choices: Vec::new(),
            pattern: None,
        }
    }
}

/// One streamed piece of the answer.
#[derive(Clone, Copy, Debug)]
pub struct ChatToken<'a> {
    /// New answer text (may be empty while a multi-byte character is incomplete).
    pub text: &'a str,
    /// The token itself as text, when the backend knows it (for log-probability displays).
    pub token: Option<&'a str>,
    /// Natural log of the token's probability, when the backend reports it.
    pub logprob: Option<f32>,
    /// The bytes the token stands for (a token may hold part of a character, which its text cannot
    /// show), when the backend knows them.
    pub bytes: Option<&'a [u8]>,
    /// The most likely tokens at this step, when asked for ([`ChatRequest::top_logprobs`]) and the
    /// backend reports them.
    pub top: &'a [Alternative],
}

/// One of the most likely tokens at a step.
#[derive(Clone, Debug, PartialEq)]
pub struct Alternative {
    pub token: String,
    pub bytes: Vec<u8>,
    pub logprob: f32,
}

/// Why the answer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its turn.
    Stop,
    /// `max_tokens` reached.
    Length,
    Cancelled,
}

/// A finished answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatReply {
    pub text: String,
    /// Each answer token with its log-probability (empty when the backend reports none).
    pub logprobs: Vec<(String, f32)>,
    /// For each answer token, the bytes it stands for (empty when the backend does not say).
    pub token_bytes: Vec<Vec<u8>>,
    /// For each answer token, the most likely alternatives (empty unless asked for).
    pub top_logprobs: Vec<Vec<Alternative>>,
    pub finish: Finish,
    pub prompt_tokens: Option<usize>,
    /// Seconds until the first token arrived.
    pub first_token_secs: Option<f64>,
    pub total_secs: f64,
    /// Whether the (first) image is the kind the model was trained on, when the model has a domain
    /// check (`domain.json` in its folder; the local engine only).
    pub domain: Option<crate::models::cnn::DomainVerdict>,
}

impl ChatReply {
    pub fn mean_logprob(&self) -> Option<f32> {
        #[allow(clippy::cast_precision_loss)]
        (!self.logprobs.is_empty())
            .then(|| self.logprobs.iter().map(|(_, l)| l).sum::<f32>() / self.logprobs.len() as f32)
    }

    /// Tokens per second after the first.
    pub fn tokens_per_second(&self) -> Option<f64> {
        let first = self.first_token_secs?;
        let n = self.logprobs.len();
        #[allow(clippy::cast_precision_loss)]
        (n > 1 && self.total_secs > first).then(|| (n - 1) as f64 / (self.total_secs - first))
    }
}

/// What went wrong, and whether trying again may help.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("bad request: {0}")]
    Request(String),
    #[error("cannot reach {url}: {reason} (is the server running? check --url)")]
    Connect { url: String, reason: String },
    #[error("{url} answered HTTP {status}: {body}")]
    Http { url: String, status: u16, body: String },
    #[error("{url}: no {what} within {secs:.0} s (the server may be overloaded or stuck)")]
    Timeout { url: String, what: &'static str, secs: f64 },
    #[error("{url}: {reason}")]
    Stream { url: String, reason: String },
    #[error(transparent)]
    Model(#[from] VlmError),
}

impl BackendError {
    /// Worth another attempt (before any token arrived)?
    pub fn retryable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } => true,
            Self::Http { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// A source of answers.
pub trait ChatBackend: Send + Sync + std::fmt::Debug {
    /// E.g. "local Qwen2-VL (…/Qwen2-VL-2B-Instruct)" or "remote http://gpu:8000/v1 (qwen2-vl-7b)".
    fn describe(&self) -> String;

    /// The one scenario the model was trained on, when its config says (`train vlm --scenario`).
    fn trained_on(&self) -> Option<String> {
        None
    }

    /// Answer `req`, calling `on_token` as tokens arrive; returns early with [`Finish::Cancelled`] once
    /// `cancel` is set.
    fn chat(
        &self,
        req: &ChatRequest,
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(ChatToken<'_>),
    ) -> Result<ChatReply, BackendError>;
}

/// Answer many requests with up to `parallel` in flight (batch evaluation); results in input order.
pub fn chat_many(
    backend: &dyn ChatBackend,
    requests: &[ChatRequest],
    parallel: usize,
    cancel: &AtomicBool,
) -> Vec<Result<ChatReply, BackendError>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<ChatReply, BackendError>>>> =
        Mutex::new((0..requests.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for i in 0..parallel.clamp(1, requests.len().max(1)) {
            let (next, results) = (&next, &results);
            let spawned = std::thread::Builder::new().name(format!("chat-{i}")).spawn_scoped(scope, move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(req) = requests.get(index) else { break };
                    let reply = backend.chat(req, cancel, &mut |_| {});
                    if let Ok(mut r) = results.lock() {
                        r[index] = Some(reply);
                    }
                }
            });
            if spawned.is_err() {
                break;
            }
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(BackendError::Request("not run".into()))))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_of_server_text_are_short_and_printable() {
        assert_eq!(super::quote(b"wrong model"), "wrong model");
        assert_eq!(super::quote(b"a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        let long = super::quote(&vec![b'x'; 5000]);
        assert!(long.starts_with(&"x".repeat(200)) && long.ends_with("... (5000 bytes in all)") && long.len() < 240);
        assert_eq!(super::quote(&[0xff, b'a']), "\u{fffd}a");
    }

    #[test]
    fn final_answer_takes_the_last_answer_line() {
        assert_eq!(super::final_answer("The east is red.\nAnswer: high."), "high");
        assert_eq!(super::final_answer("answer: yes\nWait. ANSWER: no"), "no");
        assert_eq!(super::final_answer("  severe  "), "severe");
    }
}
