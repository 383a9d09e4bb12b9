//! The local engine as a [`ChatBackend`]: prompt preparation and generation of a loaded Qwen-VL model
//! on this machine's CPU or GPU. Requests run one at a time (a second caller waits), since two
//! generations on the same cores only slow each other. Runs on the caller's (worker) thread.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Alternative, BackendError, ChatBackend, ChatReply, ChatRequest, ChatToken, Finish};
use crate::models::vlm::{GenerateOptions, Prepared, QwenVl, StopReason, generate};

/// Why an image fails the VLM's domain check.
const IMAGE_UNLIKE: &str = "the image is unlike the maps the VLM was trained on";

pub struct LocalBackend {
    model: Arc<QwenVl>,
    busy: Mutex<()>,
    /// Every token's text (invalid UTF-8 alone: empty), made on the first request with a format.
    token_texts: std::sync::OnceLock<Arc<Vec<String>>>,
    /// The image domain check (`domain.json` in the model's folder), read on first use; `None` when
    /// the folder has none or it cannot be read (said once in the log).
    domain: std::sync::OnceLock<Option<crate::models::cnn::DomainModel>>,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalBackend({})", self.describe())
    }
}

impl LocalBackend {
    pub fn new(model: Arc<QwenVl>) -> Self {
        Self {
            model,
            busy: Mutex::new(()),
            token_texts: std::sync::OnceLock::new(),
            domain: std::sync::OnceLock::new(),
        }
    }

    pub fn model(&self) -> &QwenVl {
        &self.model
    }

    fn domain(&self) -> Option<&crate::models::cnn::DomainModel> {
        self.domain
            .get_or_init(|| {
                let path = self.model.dir.join("domain.json");
                let bytes = std::fs::read(&path).ok()?;
                match serde_json::from_slice(&bytes) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        tracing::warn!("{}: {e}; the VLM's domain check is off", path.display());
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Whether `image` is the kind of image the model was trained on (None: no domain check). A chat
    /// judges its image from the prefill's vision tokens instead (see `chat_prepared`).
    pub fn image_domain(
        &self,
        image: &image::RgbImage,
    ) -> Result<Option<crate::models::cnn::DomainVerdict>, BackendError> {
        let Some(d) = self.domain() else { return Ok(None) };
        let v = self.model.image_features(image).map_err(|e| BackendError::Request(e.to_string()))?;
        Ok(Some(d.verdict_named(&v, &[], IMAGE_UNLIKE)))
    }

    fn token_texts(&self) -> &Arc<Vec<String>> {
        self.token_texts.get_or_init(|| {
            let t = &self.model.tokenizer;
            let n = u32::try_from(t.vocab_size()).unwrap_or(u32::MAX);
            Arc::new((0..n).map(|id| String::from_utf8(t.token_bytes(id)).unwrap_or_default()).collect())
        })
    }

    /// Answer a prompt already prepared from `req` (the server prepares once, to answer 400 on bad
    /// input before it commits to a 200, and generates from the same preparation).
    pub fn chat_prepared(
        &self,
        prompt: &Prepared,
        req: &ChatRequest,
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(ChatToken<'_>),
    ) -> Result<ChatReply, BackendError> {
        let start = Instant::now();
        let _turn = self.busy.lock().map_err(|_| BackendError::Request("the model crashed earlier".into()))?;
        let opts = GenerateOptions {
            max_tokens: req.max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            seed: req.seed,
            stop_tokens: None,
            stop_strings: req.stop.clone(),
            top_logprobs: req.top_logprobs,
            choices: (!req.choices.is_empty())
                .then(|| req.choices.iter().map(|c| self.model.tokenizer.encode(c)).collect::<Result<Vec<_>, _>>())
                .transpose()
                .map_err(|e| BackendError::Request(format!("cannot tokenize the answer options: {e}")))?,
            pattern: req.pattern.map(|p| (Arc::clone(self.token_texts()), p)),
        };
        let mut first = None;
        let mut logprobs = Vec::new();
        let mut top_logprobs = Vec::new();
        let mut token_bytes = Vec::new();
        let tokenizer = &self.model.tokenizer;
        let stops = self.model.stop_tokens.clone();
        let g = generate(&self.model, prompt, &opts, cancel, &mut |e| {
            first.get_or_insert_with(|| start.elapsed().as_secs_f64());
            if !stops.contains(&e.token) {
                let token = tokenizer.decode(&[e.token]).unwrap_or_default();
                let bytes = tokenizer.token_bytes(e.token);
                let top: Vec<Alternative> = e
                    .top
                    .iter()
                    .map(|&(t, logprob)| Alternative {
                        token: tokenizer.decode(&[t]).unwrap_or_default(),
                        bytes: tokenizer.token_bytes(t),
                        logprob,
                    })
                    .collect();
                on_token(ChatToken {
                    text: e.text_delta,
                    token: Some(&token),
                    logprob: Some(e.logprob),
                    bytes: Some(&bytes),
                    top: &top,
                });
                logprobs.push((token, e.logprob));
                token_bytes.push(bytes);
                top_logprobs.push(top);
            }
        })?;
        // Is the image asked about (the last; earlier ones are examples) the kind the model was trained
        // on? Judged on the vision tokens the prefill already computed; only a run that stopped before
        // its prefill runs the vision tower again.
        let domain = match (req.images.last(), self.domain(), &g.image_features) {
            (Some(_), Some(d), Some(v)) => Some(d.verdict_named(v, &[], IMAGE_UNLIKE)),
            (Some(image), Some(_), None) => self.image_domain(image)?,
            _ => None,
        };
        Ok(ChatReply {
            text: g.text,
            logprobs,
            token_bytes,
            top_logprobs: if req.top_logprobs > 0 { top_logprobs } else { Vec::new() },
            finish: match g.stop {
                StopReason::StopToken(_) | StopReason::StopString => Finish::Stop,
                StopReason::MaxTokens => Finish::Length,
                StopReason::Cancelled => Finish::Cancelled,
            },
            prompt_tokens: Some(g.prompt_tokens),
            first_token_secs: first,
            total_secs: start.elapsed().as_secs_f64(),
            domain,
        })
    }
}

impl ChatBackend for LocalBackend {
    fn describe(&self) -> String {
        format!("local {:?} ({})", self.model.config.family, self.model.dir.display())
    }

    fn trained_on(&self) -> Option<String> {
        self.model.config.trained_on.clone()
    }

    fn chat(
        &self,
        req: &ChatRequest,
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(ChatToken<'_>),
    ) -> Result<ChatReply, BackendError> {
        let prompt = self.model.prepare(&req.messages, &req.images)?;
        self.chat_prepared(&prompt, req, cancel, on_token)
    }
}
