//! The flags of `heatscope eval --model vlm`: which VLM answers (a local Qwen-VL folder, a server, or
//! the bundled model), with k in-context examples (the manifest's same-kind train questions) and
//! chain of thought; they build a `backend::predictor::VlmPredictor` that the runner drives like any
//! other model. `--levels` and `--limit` choose the questions for every model. Runs on the main thread.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::backend::predictor::{VlmAsk, VlmPredictor};
use crate::types::{Level, QaRecord};

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
    /// Constrained decoding on closed questions (L1 classes, L2 yes/no and regions): the answer is
    /// exactly one of the question's options. The local engine masks every other token; a server must
    /// accept vLLM's `guided_choice` (vLLM, heatscope serve). Recorded in the run's settings.
    #[arg(long)]
    pub constrain: bool,
}

impl VlmEvalArgs {
    /// The VLM these flags name (a folder, a server, or the bundled model), ready to answer.
    pub fn predictor(&self, model_dir: Option<&PathBuf>, records: &[QaRecord]) -> anyhow::Result<VlmPredictor> {
        if self.shots > 3 {
            bail!("--shots must be 0-3 (the manifest lists three examples per question)");
        }
        let source = self.server.source(model_dir)?;
        let backend = crate::backend::open(&source).with_context(|| format!("opening {}", source.describe()))?;
        if self.constrain && self.cot {
            bail!("--constrain and --cot do not go together: chain of thought reasons in free text before its answer");
        }
        let ask = VlmAsk { shots: self.shots, cot: self.cot, max_tokens: self.max_tokens, constrain: self.constrain };
        Ok(VlmPredictor::new(backend, &source, records, ask, self.parallel))
    }

    /// The levels asked (`--levels`, default all four).
    pub fn levels(&self) -> anyhow::Result<Vec<Level>> {
        match &self.levels {
            None => Ok(Level::ALL.to_vec()),
            Some(s) => s
                .split(',')
                .map(|l| Level::parse(l.trim()).ok_or_else(|| anyhow::anyhow!("--levels: unknown level {l:?}")))
                .collect(),
        }
    }
}
