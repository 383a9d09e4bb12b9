//! The radio morphology CNN: the same residual blocks as the spectrum CNN (`cnn::resnet`), a
//! two-channel input (the display stretch and the significance), and one linear head whose outputs
//! are the logits of the six RadioQA tasks side by side ([`TASKS`]). Runs on whichever thread owns
//! the model.

use candle_core::{D, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};
use serde::{Deserialize, Serialize};

use crate::models::cnn::resnet::{Block, ConvBn, stages};
use crate::types::QuestionKind;

/// The tasks the network answers, in the order of its outputs.
pub const TASKS: [QuestionKind; 6] = QuestionKind::RADIO;

/// Where each task's logits start in the output row, and how many classes it has.
pub fn task_span(task: usize) -> (usize, usize) {
    let start = TASKS[..task].iter().map(|k| k.radio_classes().len()).sum();
    (start, TASKS[task].radio_classes().len())
}

/// All outputs: the sum of the tasks' class counts.
pub fn outputs() -> usize {
    TASKS.iter().map(|k| k.radio_classes().len()).sum()
}

/// Architecture (saved as `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RadioConfig {
    /// Channels of the first stage; stages use 1x, 2x, 4x, 8x.
    pub width: usize,
    pub blocks: [usize; 4],
    /// Input side in pixels (cutouts are cropped square and resized to it).
    pub input: usize,
    /// Stride of the 3x3 (stride 1-2) or 5x5 (stride 3-4) stem.
    pub stem_stride: usize,
    /// Input channels: 2 (the display stretch and the significance) or 4 (also the source finder's
    /// islands and peaks, `input::radio_input`).
    #[serde(default = "two")]
    pub channels: usize,
}

fn two() -> usize {
    2
}

impl Default for RadioConfig {
    fn default() -> Self {
        Self { width: 16, blocks: [1, 1, 1, 1], input: 96, stem_stride: 2, channels: 4 }
    }
}

impl RadioConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.width == 0 || self.width > 256 {
            return Err(format!("width {} is outside 1-256", self.width));
        }
        if !(1..=4).contains(&self.stem_stride) {
            return Err(format!("stem_stride {} must be 1-4", self.stem_stride));
        }
        let unit = 8 * self.stem_stride;
        if self.input < 32 || self.input > 512 || !self.input.is_multiple_of(unit) {
            return Err(format!("input {} must be a multiple of {unit} in 32-512", self.input));
        }
        if ![2, 4].contains(&self.channels) {
            return Err(format!("channels {} must be 2 or 4", self.channels));
        }
        if self.blocks.contains(&0) {
            return Err(format!("every stage needs at least one block, got {:?}", self.blocks));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct RadioNet {
    pub config: RadioConfig,
    stem: ConvBn,
    stages: Vec<Vec<Block>>,
    head: Linear,
}

impl RadioNet {
    /// Tensor names: `stem.*`, `stage{i}.{j}.*`, `head.*`.
    pub fn new(config: &RadioConfig, vb: VarBuilder) -> Result<Self> {
        config.validate().map_err(candle_core::Error::msg)?;
        let w = config.width;
        let k = if config.stem_stride <= 2 { 3 } else { 5 };
        let stem = ConvBn::new(config.channels, w, k, config.stem_stride, vb.pp("stem"))?;
        let (stages, c_in) = stages(w, &config.blocks, &vb)?;
        let head = linear(c_in, outputs(), vb.pp("head"))?;
        Ok(Self { config: config.clone(), stem, stages, head })
    }

    /// Logits of every task, (batch, [`outputs`]), from (batch, channels, input, input).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_features(x, train).map(|(logits, _)| logits)
    }

    /// Logits and the pooled features the head reads, (batch, last stage's channels).
    pub fn forward_features(&self, x: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        let mut h = self.stem.forward_relu_t(x, train)?;
        for block in self.stages.iter().flatten() {
            h = block.forward_t(&h, train)?;
        }
        let pooled = h.mean(D::Minus1)?.mean(D::Minus1)?;
        Ok((self.head.forward(&pooled)?, pooled))
    }

    /// The same network with batch norms folded into the convolutions (inference only).
    pub fn folded(&self) -> Result<RadioNet> {
        let mut net = self.clone();
        net.stem.fold()?;
        for block in net.stages.iter_mut().flatten() {
            block.fold()?;
        }
        Ok(net)
    }
}
