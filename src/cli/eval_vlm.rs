//! `heatscope eval --model vlm`: a VLM answers the dataset's questions through any backend (a local
//! Qwen-VL folder or an OpenAI-compatible server), optionally with k in-context examples (the
//! manifest's same-kind train questions, as earlier chat turns with their images) and chain of thought
//! (the model reasons, then ends with "Answer: ..."; the text after the last "Answer:" is scored).
//! Answers become ordinary predictions, scored like any other. Runs on the main thread plus the
//! backend's request threads.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};

use crate::backend::fewshot::conversation;
use crate::backend::{ChatReply, ChatRequest, chat_many, final_answer};
use crate::types::{Level, Prediction, QaRecord, QuestionKind, Split};

/// What `--model vlm` needs beyond the dataset.
#[derive(Debug, Clone, clap::Args)]
pub struct VlmEvalArgs {
    #[command(flatten)]
    pub server: super::vlm_cmd::ServerArgs,
    /// In-context examples per question (0-3): same-kind train questions shown as earlier turns.
    #[arg(long, default_value_t = 0)]
    pub shots: usize,
    /// Chain of thought: ask for reasoning first and score the text after the last "Answer:".
    #[arg(long)]
    pub cot: bool,
    /// Levels to ask, comma-separated (default: all four).
    #[arg(long, value_name = "L1,L2,...")]
    pub levels: Option<String>,
    /// Ask only the first N questions (after the split and level filters): a quick look.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Requests in flight (a server batches them; the local engine runs one at a time).
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    #[arg(long, default_value_t = 200)]
    pub max_tokens: usize,
}

fn load_image(dataset: &Path, rel: &str) -> anyhow::Result<image::RgbImage> {
    let path = dataset.join(rel);
    Ok(crate::io::read_rgb(&path, &crate::io::LoadOptions::default())?)
}

/// The chat for one question: its examples as earlier turns, then the question with its image.
fn request_for(
    r: &QaRecord,
    by_id: &HashMap<&str, &QaRecord>,
    dataset: &Path,
    a: &VlmEvalArgs,
) -> anyhow::Result<ChatRequest> {
    let image = |x: &QaRecord| load_image(dataset, &x.images.png).map_err(|e| format!("{e:#}"));
    let c = conversation(r, a.shots, a.cot, |id| by_id.get(id).copied(), image)?;
    Ok(ChatRequest { messages: c.messages, images: c.images, max_tokens: a.max_tokens, ..ChatRequest::default() })
}

fn prediction(r: &QaRecord, reply: &ChatReply, cot: bool) -> Prediction {
    let answer = if cot { final_answer(&reply.text) } else { reply.text.trim().to_string() };
    // L1: the probability the model gave the first token of its answer (the class names differ in
    // their first token), when the answer is given directly.
    let confidence =
        (r.kind == QuestionKind::Severity && !cot).then(|| reply.logprobs.first().map(|(_, l)| l.exp())).flatten();
    Prediction { id: r.id.clone(), answer, bbox: None, confidence }
}

/// Ask the VLM every selected question; returns the records asked and the predictions.
pub fn vlm_predictions(
    dataset: &Path,
    model_dir: Option<&PathBuf>,
    a: &VlmEvalArgs,
    records: &[QaRecord],
    split: Option<Split>,
) -> anyhow::Result<(Vec<QaRecord>, Vec<Prediction>)> {
    if a.shots > 3 {
        bail!("--shots must be 0-3 (the manifest lists three examples per question)");
    }
    let levels: Vec<Level> = match &a.levels {
        None => Level::ALL.to_vec(),
        Some(s) => s
            .split(',')
            .map(|l| Level::parse(l.trim()).ok_or_else(|| anyhow::anyhow!("--levels: unknown level {l:?}")))
            .collect::<anyhow::Result<_>>()?,
    };
    let source = a.server.source(model_dir)?;
    let backend = crate::backend::open(&source).with_context(|| format!("opening {}", source.describe()))?;
    let by_id: HashMap<&str, &QaRecord> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut asked: Vec<QaRecord> =
        records.iter().filter(|r| split.is_none_or(|s| r.split == s) && levels.contains(&r.level)).cloned().collect();
    if let Some(n) = a.limit {
        asked.truncate(n);
    }
    if asked.is_empty() {
        bail!("no questions match the split and --levels");
    }
    eprintln!(
        "asking {} ({} questions, {} shots{}, {} in flight)",
        backend.describe(),
        asked.len(),
        a.shots,
        if a.cot { ", chain of thought" } else { "" },
        a.parallel
    );
    let start = std::time::Instant::now();
    let cancel = AtomicBool::new(false);
    let mut preds = Vec::with_capacity(asked.len());
    let mut failures = 0;
    // Batches keep the progress line moving and the memory of pending requests bounded.
    for (b, chunk) in asked.chunks(a.parallel.max(1) * 4).enumerate() {
        let requests: Vec<ChatRequest> =
            chunk.iter().map(|r| request_for(r, &by_id, dataset, a)).collect::<anyhow::Result<_>>()?;
        for (r, reply) in chunk.iter().zip(chat_many(backend.as_ref(), &requests, a.parallel, &cancel)) {
            match reply {
                Ok(reply) => preds.push(prediction(r, &reply, a.cot)),
                Err(e) => {
                    failures += 1;
                    if failures == 1 || !e.retryable() {
                        eprintln!("\n{}: {e}", r.id);
                    }
                    if failures > 3 && preds.is_empty() {
                        bail!("the first {failures} questions all failed; last error: {e}");
                    }
                }
            }
        }
        let done = preds.len() + failures;
        let el = start.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let eta = el / done as f64 * (asked.len() - done) as f64;
        eprint!("\r{done}/{} questions, {el:.0} s, about {eta:.0} s left (batch {})   ", asked.len(), b + 1);
        let _ = std::io::stderr().flush();
    }
    eprintln!();
    if failures > 0 {
        eprintln!("{failures} questions got no answer and count as wrong");
    }
    Ok((asked, preds))
}
