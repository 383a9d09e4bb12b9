//! A loaded Qwen2-VL or Qwen3-VL model: the folder's config, weights, tokenizer and processor settings; turning
//! messages and images into a [`Prepared`] prompt (token ids, pixel rows, image grids and the 3-axis
//! rotary positions of the reference's `get_rope_index`); and the forward passes generation uses
//! (prefill over the prompt, then one token at a time through the KV cache). Runs on a worker or the CLI.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use image::RgbImage;

use super::VlmError;
use super::chat::{self, Message, Tokenizer};
use super::config::QwenVlConfig;
use super::preprocess::{self, PreprocessConfig};
use super::text::{KvCache, Positions, TextModel};
use super::vision::{Grid, VisionTower};
use super::weights::Weights;

/// A prompt ready to run.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub input_ids: Vec<u32>,
    /// `[patches, C*T*P*P]` pixel rows of all images, in order.
    pub pixels: Option<Tensor>,
    pub grids: Vec<Grid>,
    pub positions: Positions,
}

impl Prepared {
    pub fn image_tokens(&self, image_token_id: u32) -> usize {
        self.input_ids.iter().filter(|&&t| t == image_token_id).count()
    }
}

pub struct QwenVl {
    pub config: QwenVlConfig,
    pub preprocess: PreprocessConfig,
    pub tokenizer: Tokenizer,
    /// Tokens that end an answer: the config's and generation_config.json's eos ids.
    pub stop_tokens: Vec<u32>,
    pub dir: PathBuf,
    vision: VisionTower,
    text: TextModel,
    dtype: DType,
    device: Device,
    parameters: usize,
}

impl QwenVl {
    /// Load a model folder as transformers publishes it.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self, VlmError> {
        Self::assemble(dir, || Weights::open(dir, dtype, device)).map(|(m, _)| m)
    }

    /// Load a folder for training: every weight becomes a variable, returned by its published name.
    pub fn load_trainable(dir: &Path, dtype: DType, device: &Device) -> Result<(Self, Vec<(String, Var)>), VlmError> {
        Self::assemble(dir, || Weights::open_trainable(dir, dtype, device))
    }

    /// Like [`QwenVl::load_trainable`] with the weights from `weights` (a checkpoint file) instead of
    /// the folder's own.
    pub fn load_trainable_checkpoint(
        dir: &Path,
        weights: &Path,
        dtype: DType,
        device: &Device,
    ) -> Result<(Self, Vec<(String, Var)>), VlmError> {
        Self::assemble(dir, || Weights::open_trainable_files(dir, &[weights.to_path_buf()], dtype, device))
    }

    /// A freshly initialised model (N(0, 0.02) weights, seeded) of the architecture, tokenizer and
    /// processor in `dir` (its weight files, if any, are not read); for training from scratch.
    pub fn new_random(
        dir: &Path,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<(Self, Vec<(String, Var)>), VlmError> {
        Self::assemble(dir, || Ok(Weights::random(seed, 0.02, dtype, device)))
    }

    fn assemble(
        dir: &Path,
        weights: impl FnOnce() -> Result<Weights, VlmError>,
    ) -> Result<(Self, Vec<(String, Var)>), VlmError> {
        if !dir.is_dir() {
            return Err(VlmError::file(dir, "is not a folder (expected a model folder with config.json)"));
        }
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| VlmError::io(&config_path, e))?;
        let config = QwenVlConfig::from_json(&text)?;
        let tokenizer = Tokenizer::from_dir(dir)?;
        if tokenizer.vocab_size() > config.text.vocab_size {
            return Err(VlmError::file(
                &dir.join("tokenizer.json"),
                format!(
                    "has {} tokens but the model's vocabulary holds {}",
                    tokenizer.vocab_size(),
                    config.text.vocab_size
                ),
            ));
        }
        let preprocess = PreprocessConfig::from_dir(dir)?;
        if preprocess.patch_size != config.vision.patch_size
            || preprocess.merge_size != config.vision.spatial_merge_size
            || preprocess.temporal_patch_size != config.vision.temporal_patch_size
        {
            return Err(VlmError::file(
                dir,
                format!(
                    "has processor settings (patch {}, merge {}, temporal {}) that differ from config.json's vision \
                     tower (patch {}, merge {}, temporal {})",
                    preprocess.patch_size,
                    preprocess.merge_size,
                    preprocess.temporal_patch_size,
                    config.vision.patch_size,
                    config.vision.spatial_merge_size,
                    config.vision.temporal_patch_size
                ),
            ));
        }
        let weights = weights()?;
        let vision = VisionTower::load(&weights, &config.vision)?;
        let text_model = TextModel::load(&weights, &config.text)?;
        let mut stop_tokens = config.eos_token_ids.clone();
        stop_tokens.extend(generation_eos(dir));
        stop_tokens.sort_unstable();
        stop_tokens.dedup();
        let model = Self {
            parameters: weights.parameters_loaded(),
            config,
            preprocess,
            tokenizer,
            stop_tokens,
            dir: dir.to_path_buf(),
            vision,
            text: text_model,
            dtype: weights.dtype(),
            device: weights.device().clone(),
        };
        Ok((model, weights.take_vars()))
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Parameters loaded from the weights.
    pub fn parameter_count(&self) -> usize {
        self.parameters
    }

    /// Render, preprocess and tokenize a conversation; `images` fill the messages' image parts in order.
    /// A model trained with the question first gets each user turn's text before its images.
    /// The mean of an image's merged vision tokens (what the language model sees of it), in f32: the
    /// vector the domain check compares with the training images'.
    pub fn image_features(&self, image: &RgbImage) -> Result<Vec<f32>, VlmError> {
        let p = self.prepare(&[Message::user(vec![super::Part::Image])], std::slice::from_ref(image))?;
        let pixels = p.pixels.as_ref().ok_or_else(|| VlmError::Prompt("the image gave no pixels".into()))?;
        let vision = self.vision.forward(pixels, &p.grids)?;
        Ok(vision.tokens.to_dtype(DType::F32)?.mean(0)?.to_vec1::<f32>()?)
    }

    pub fn prepare(&self, messages: &[Message], images: &[RgbImage]) -> Result<Prepared, VlmError> {
        let wanted: usize = messages.iter().map(Message::images).sum();
        if wanted != images.len() {
            return Err(VlmError::Prompt(format!(
                "the messages have {wanted} image parts but {} images were given",
                images.len()
            )));
        }
        let mut rows = Vec::new();
        let mut grids = Vec::new();
        let mut row_len = 0;
        for image in images {
            let p = preprocess::preprocess(image, &self.preprocess)?;
            rows.extend_from_slice(&p.values);
            grids.push(p.grid);
            row_len = p.row_len;
        }
        let merge = self.config.vision.spatial_merge_size;
        let tokens: Vec<usize> = grids.iter().map(|g| g.tokens(merge)).collect();
        let laid_out;
        let messages = if self.config.question_first {
            laid_out = chat::question_first(messages);
            &laid_out[..]
        } else {
            messages
        };
        let text = chat::expand_image_pads(&chat::render(messages, true, self.config.family), &tokens)?;
        let ids = self.tokenizer.encode(&text)?;
        let pixels = if grids.is_empty() {
            None
        } else {
            let n = rows.len() / row_len;
            Some(Tensor::from_vec(rows, (n, row_len), &self.device)?)
        };
        self.prepare_ids(ids, pixels, grids)
    }

    /// A prompt from token ids and already-preprocessed pixels (the parity tests feed the reference's).
    pub fn prepare_ids(
        &self,
        input_ids: Vec<u32>,
        pixels: Option<Tensor>,
        grids: Vec<Grid>,
    ) -> Result<Prepared, VlmError> {
        if input_ids.is_empty() {
            return Err(VlmError::Prompt("the prompt is empty".into()));
        }
        let vocab = self.config.text.vocab_size;
        if let Some(bad) = input_ids.iter().find(|&&t| t as usize >= vocab) {
            return Err(VlmError::Prompt(format!("token id {bad} is outside the vocabulary of {vocab}")));
        }
        let positions = self.rope_positions(&input_ids, &grids)?;
        Ok(Prepared { input_ids, pixels, grids, positions })
    }

    /// The reference's `get_rope_index`: text advances all three axes together; an image's tokens sit
    /// at (start, start + row, start + column) of its merged grid, and text resumes after the larger side.
    pub fn rope_positions(&self, ids: &[u32], grids: &[Grid]) -> Result<Positions, VlmError> {
        let merge = self.config.vision.spatial_merge_size;
        let image = self.config.image_token_id;
        let mut axes: [Vec<i64>; 3] = Default::default();
        let mut next_grid = grids.iter();
        let mut pos: i64 = 0;
        let mut i = 0;
        while i < ids.len() {
            if ids[i] != image {
                for a in &mut axes {
                    a.push(pos);
                }
                pos += 1;
                i += 1;
                continue;
            }
            let g = next_grid
                .next()
                .ok_or_else(|| VlmError::Prompt("the prompt has more image tokens than the images provide".into()))?;
            let (gh, gw) = (g.h / merge, g.w / merge);
            let n = g.tokens(merge);
            if ids.len() < i + n || ids[i..i + n].iter().any(|&t| t != image) {
                return Err(VlmError::Prompt(format!(
                    "an image of {}x{} patches needs {n} consecutive image tokens",
                    g.h, g.w
                )));
            }
            #[allow(clippy::cast_possible_wrap)]
            for t in 0..g.t as i64 {
                for r in 0..gh as i64 {
                    for c in 0..gw as i64 {
                        axes[0].push(pos + t);
                        axes[1].push(pos + r);
                        axes[2].push(pos + c);
                    }
                }
            }
            #[allow(clippy::cast_possible_wrap)]
            {
                pos += gh.max(gw) as i64;
            }
            i += n;
        }
        if next_grid.next().is_some() {
            return Err(VlmError::Prompt("more images were given than the prompt has image tokens for".into()));
        }
        Ok(Positions { axes })
    }

    /// Token embeddings with each image's merged vision features in place of its image tokens, and
    /// the deepstack additions (`[n, hidden]`, zero at text tokens) for the first decoder layers.
    pub fn input_embeddings(&self, p: &Prepared) -> Result<(Tensor, Vec<Tensor>), VlmError> {
        self.input_embeddings_observed(p).map(|(embeds, deepstack, _)| (embeds, deepstack))
    }

    /// [`QwenVl::input_embeddings`] and, when the prompt has images, the mean of the last image's merged
    /// vision tokens in f32 (what [`QwenVl::image_features`] gives for it alone), so a domain check of
    /// the image asked about needs no second pass through the vision tower.
    #[allow(clippy::type_complexity)]
    pub fn input_embeddings_observed(&self, p: &Prepared) -> Result<(Tensor, Vec<Tensor>, Option<Vec<f32>>), VlmError> {
        let text = self.text.embed(&p.input_ids)?;
        let Some(pixels) = &p.pixels else {
            if p.image_tokens(self.config.image_token_id) > 0 {
                return Err(VlmError::Prompt("the prompt has image tokens but no image was given".into()));
            }
            return Ok((text, Vec::new(), None));
        };
        let vision = self.vision.forward(pixels, &p.grids)?;
        let needed = p.image_tokens(self.config.image_token_id);
        if vision.tokens.dim(0)? != needed {
            return Err(VlmError::Prompt(format!(
                "the images give {} tokens but the prompt has {needed} image tokens",
                vision.tokens.dim(0)?
            )));
        }
        let last = match p.grids.last() {
            Some(g) => {
                let n = g.tokens(self.config.vision.spatial_merge_size);
                let rows = vision.tokens.narrow(0, needed.saturating_sub(n), n.min(needed))?;
                Some(rows.to_dtype(DType::F32)?.mean(0)?.to_vec1::<f32>()?)
            }
            None => None,
        };
        let dtype = text.dtype();
        let embeds = self.splice(&p.input_ids, &text, &vision.tokens.to_dtype(dtype)?)?;
        let zeros = text.zeros_like()?;
        let deepstack = vision
            .deepstack
            .iter()
            .map(|d| self.splice(&p.input_ids, &zeros, &d.to_dtype(dtype)?))
            .collect::<Result<_, _>>()?;
        Ok((embeds, deepstack, last))
    }

    /// Rows of `text` at text tokens and consecutive rows of `image` at image tokens, in prompt order.
    fn splice(&self, ids: &[u32], text: &Tensor, image: &Tensor) -> Result<Tensor, VlmError> {
        let image_id = self.config.image_token_id;
        let mut pieces = Vec::new();
        let (mut i, mut v) = (0, 0);
        while i < ids.len() {
            let is_image = ids[i] == image_id;
            let run = ids[i..].iter().take_while(|&&t| (t == image_id) == is_image).count();
            if is_image {
                pieces.push(image.narrow(0, v, run)?);
                v += run;
            } else {
                pieces.push(text.narrow(0, i, run)?);
            }
            i += run;
        }
        Ok(Tensor::cat(&pieces, 0)?)
    }

    /// Run the whole prompt into an empty cache. Logits `[n, vocab]` (or the last row when `last_only`).
    pub fn prefill(&self, p: &Prepared, cache: &mut KvCache, last_only: bool) -> Result<Tensor, VlmError> {
        self.prefill_observed(p, cache, last_only).map(|(logits, _)| logits)
    }

    /// [`QwenVl::prefill`] and the last image's mean vision token (see
    /// [`QwenVl::input_embeddings_observed`]).
    pub fn prefill_observed(
        &self,
        p: &Prepared,
        cache: &mut KvCache,
        last_only: bool,
    ) -> Result<(Tensor, Option<Vec<f32>>), VlmError> {
        if !cache.is_empty() {
            return Err(VlmError::Prompt("prefill needs an empty KV cache".into()));
        }
        let (embeds, deepstack, last) = self.input_embeddings_observed(p)?;
        let embeds = embeds.to_dtype(self.dtype)?;
        Ok((self.text.forward(&embeds, &p.positions, cache, last_only, &deepstack)?, last))
    }

    /// One more token at `position` (on all three axes) after the cache. Logits `[1, vocab]`.
    pub fn step(&self, token: u32, position: i64, cache: &mut KvCache) -> Result<Tensor, VlmError> {
        let embeds = self.text.embed(&[token])?;
        Ok(self.text.forward(&embeds, &Positions::text(position, 1), cache, true, &[])?)
    }
}

/// eos ids from generation_config.json, when present and readable.
fn generation_eos(dir: &Path) -> Vec<u32> {
    let Ok(text) = std::fs::read_to_string(dir.join("generation_config.json")) else { return Vec::new() };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    super::config::token_ids(v.get("eos_token_id"))
}
