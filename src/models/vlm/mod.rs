//! heatscope's vision-language engine: Qwen2-VL and Qwen3-VL implemented in candle and checked against
//! the reference implementation (tests/vlm_parity.rs, tests/vlm_train.rs). A model folder is loaded
//! exactly as published (config, safetensors single or sharded, tokenizer.json, processor settings);
//! images are preprocessed like the reference processor; generation streams tokens with their
//! log-probabilities and can be cancelled; `train` fits either family (masked loss, AdamW, clipping,
//! checkpoints). Both families share weights, layers, rotary positions, KV cache, chat prompts and
//! generation. Runs on a worker thread or in the CLI, never on the UI thread.

pub mod bundled;
pub mod chat;
pub mod config;
pub mod generate;
mod kernels;
mod layers;
pub mod model;
pub mod parity;
pub mod preprocess;
pub mod text;
pub mod train;
pub mod vision;
pub mod weights;

use std::path::{Path, PathBuf};

pub use chat::{Message, Part};
pub use config::{Family, QwenVlConfig};
pub use generate::{AnswerPattern, Fit, GenerateOptions, Generation, StopReason, TokenEvent, generate};
pub use model::{Prepared, QwenVl};

/// Everything that can go wrong loading or running a VLM, each with what a user needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum VlmError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} {reason}")]
    File { path: PathBuf, reason: String },
    #[error("config.json: {key}: {reason}")]
    Config { key: String, reason: String },
    #[error("config.json: {key} = {value} is not supported: {reason}")]
    Unsupported { key: String, value: String, reason: String },
    #[error("tensor {name} (shape {expected:?}) is missing from the weights in {dir}")]
    MissingTensor { name: String, expected: Vec<usize>, dir: PathBuf },
    #[error("tensor {name} has shape {found:?}, the config expects {expected:?}")]
    TensorShape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("tensor {name} has dtype {found}; weights must be floating point (f32, f16, bf16)")]
    TensorDtype { name: String, found: String },
    #[error("tensor {name} cannot be read: {reason}")]
    TensorRead { name: String, reason: String },
    #[error("image: {0}")]
    Image(String),
    #[error("prompt: {0}")]
    Prompt(String),
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
}

impl VlmError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    pub fn file(path: &Path, reason: impl Into<String>) -> Self {
        Self::File { path: path.to_path_buf(), reason: reason.into() }
    }

    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config { key: key.into(), reason: reason.into() }
    }

    pub fn unsupported(key: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Unsupported { key: key.into(), value: value.into(), reason: reason.into() }
    }
}
