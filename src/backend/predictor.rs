//! The VLM as an `eval::Predictor`, through any [`ChatBackend`] (the local engine or an
//! OpenAI-compatible server): each question becomes the shared few-shot conversation
//! (`fewshot::conversation`) with its scene's rendered map, the reply's text is the raw output and
//! its answer (the text after the last "Answer:" under chain of thought) the prediction; L1 answers
//! carry the probability of their first token. A server that cannot be reached or dies stops the run
//! (a resumed run asks again); a question the model fails on is recorded with the reason. Runs on
//! the runner's threads.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::fewshot::conversation;
use super::{BackendError, ChatBackend, ChatReply, ChatRequest, VlmSource, final_answer};
use crate::eval::predictor::{Answer, Fatal, ModelIdentity, Predictor, SceneQuestions};
use crate::types::{Prediction, QaRecord, QuestionKind};

/// How the VLM is asked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VlmAsk {
    /// In-context examples per question.
    pub shots: usize,
    /// Chain of thought: reason first, then "Answer: ...".
    pub cot: bool,
    pub max_tokens: usize,
    /// Closed questions answered under constrained decoding: exactly one of the question's options
    /// (the local engine masks every other token; a server gets vLLM's `guided_choice`). Not with
    /// chain of thought, whose answer comes after free reasoning.
    #[serde(default)]
    pub constrain: bool,
}

pub struct VlmPredictor {
    backend: Arc<dyn ChatBackend>,
    /// Every question of the manifest, for the examples.
    by_id: HashMap<String, QaRecord>,
    ask: VlmAsk,
    in_flight: usize,
    identity: ModelIdentity,
}

impl VlmPredictor {
    /// `records`: the whole manifest (examples come from its train split); `in_flight`: requests at
    /// once (a server batches them; the local engine answers one at a time).
    pub fn new(
        backend: Arc<dyn ChatBackend>,
        source: &VlmSource,
        records: &[QaRecord],
        ask: VlmAsk,
        in_flight: usize,
    ) -> Self {
        let identity = ModelIdentity {
            kind: "vlm".into(),
            name: backend.describe(),
            checksum: source_checksum(source),
            trained_on: backend.trained_on(),
        };
        let by_id = records.iter().map(|r| (r.id.clone(), r.clone())).collect();
        Self { backend, by_id, ask, in_flight, identity }
    }

    fn request(&self, dataset: &Path, r: &QaRecord) -> Result<ChatRequest, String> {
        let image = |x: &QaRecord| {
            crate::io::read_rgb(&dataset.join(&x.images.png), &crate::io::LoadOptions::default())
                .map_err(|e| e.to_string())
        };
        let c =
            conversation(r, self.ask.shots, self.ask.cot, |id| self.by_id.get(id), image).map_err(|e| e.to_string())?;
        let format = if self.ask.constrain && !self.ask.cot {
            super::AnswerFormat::for_kind(r.kind, &r.choices)
        } else {
            super::AnswerFormat::default()
        };
        Ok(ChatRequest {
            messages: c.messages,
            images: c.images,
            max_tokens: self.ask.max_tokens,
            choices: format.choices,
            pattern: format.pattern,
            ..ChatRequest::default()
        })
    }
}

/// The prediction a reply makes for `r`.
pub fn prediction(r: &QaRecord, reply: &ChatReply, cot: bool) -> Prediction {
    let answer = if cot { final_answer(&reply.text) } else { reply.text.trim().to_string() };
    // L1: the probability the model gave the first token of its answer (the class names differ in
    // their first token), when the answer is given directly.
    let confidence =
        (r.kind == QuestionKind::Severity && !cot).then(|| reply.logprobs.first().map(|(_, l)| l.exp())).flatten();
    let out_of_domain = reply.domain.as_ref().map(|d| d.out_of_domain);
    Prediction { id: r.id.clone(), answer, bbox: None, confidence, out_of_domain }
}

/// Whether a backend error means the model cannot go on (rather than failing one question).
fn stops_the_run(e: &BackendError) -> bool {
    match e {
        BackendError::Connect { .. } | BackendError::Timeout { .. } | BackendError::Stream { .. } => true,
        // Bad key, wrong URL or model name, overload after retries: every question would fail.
        BackendError::Http { status, .. } => matches!(status, 401 | 403 | 404 | 429) || *status >= 500,
        BackendError::Request(_) | BackendError::Model(_) => false,
    }
}

impl Predictor for VlmPredictor {
    fn identity(&self) -> ModelIdentity {
        self.identity.clone()
    }

    fn asks(&self, _: &QaRecord) -> bool {
        true
    }

    fn in_flight(&self) -> usize {
        self.in_flight.max(1)
    }

    /// Every question has the in-context examples asked for, in the manifest, of its own kind.
    fn check(&self, asked: &[&QaRecord]) -> Result<(), String> {
        for r in asked {
            conversation(r, self.ask.shots, self.ask.cot, |id| self.by_id.get(id), |_| Ok(()))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn predict(
        &self,
        dataset: &Path,
        scenes: &[SceneQuestions<'_>],
        cancel: &AtomicBool,
    ) -> Result<Vec<Answer>, Fatal> {
        let mut out = Vec::new();
        for r in scenes.iter().flat_map(|s| s.questions.iter()) {
            let request = match self.request(dataset, r) {
                Ok(req) => req,
                Err(why) => {
                    out.push(Answer::failed(r, why));
                    continue;
                }
            };
            match self.backend.chat(&request, cancel, &mut |_| {}) {
                Ok(reply) if reply.finish == super::Finish::Cancelled => break,
                Ok(reply) => {
                    let ms = reply.total_secs * 1000.0;
                    out.push(Answer::ok(prediction(r, &reply, self.ask.cot), reply.text, ms));
                }
                Err(e) if stops_the_run(&e) => return Err(Fatal { reason: e.to_string(), answered: out }),
                Err(e) => out.push(Answer::failed(r, e.to_string())),
            }
        }
        Ok(out)
    }
}

/// A checksum of what a VLM source is: the bundled model's files, or a folder's config and weight
/// files (their lengths and headers); none for a server.
pub fn source_checksum(source: &VlmSource) -> Option<String> {
    match source {
        VlmSource::Bundled => Some(crate::models::vlm::bundled::checksum()),
        VlmSource::Folder(dir) => folder_checksum(dir),
        VlmSource::Server { .. } => None,
    }
}

fn folder_checksum(dir: &Path) -> Option<String> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "safetensors"))
        .collect();
    files.sort();
    let mut f = crate::io::checksum::Fnv::default();
    for path in files {
        // Weights: their length and first MiB (the header, which names every tensor and its place).
        let limit = (path.extension().is_some_and(|e| e == "safetensors")).then_some(1 << 20);
        let (len, hash) = crate::io::checksum::of_file(&path, limit).ok()?;
        f.update(path.file_name()?.as_encoded_bytes());
        f.update(&len.to_le_bytes());
        f.update(hash.as_bytes());
    }
    Some(f.hex())
}
