//! The radio morphology CNN: the same residual blocks as the spectrum CNN (`cnn::resnet`), a
//! two-channel input (the display stretch and the significance), and one linear head whose outputs
//! are the logits of the six RadioQA tasks side by side ([`TASKS`]). Runs on whichever thread owns
//! the model.

use candle_core::{D, Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};
use serde::{Deserialize, Serialize};

use super::train::input_tensor;
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
    /// Symmetries of the square each cutout is read in at inference, logits and pooled features
    /// averaged: 1 (as it is) or 8 (every rotation and mirror image; the network is trained on all
    /// eight, and a source's classes do not depend on its orientation).
    #[serde(default = "one")]
    pub symmetries: usize,
}

fn two() -> usize {
    2
}

fn one() -> usize {
    1
}

impl Default for RadioConfig {
    fn default() -> Self {
        Self { width: 16, blocks: [1, 1, 1, 1], input: 96, stem_stride: 2, channels: 4, symmetries: 8 }
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
        if ![1, 8].contains(&self.symmetries) {
            return Err(format!("symmetries {} must be 1 or 8", self.symmetries));
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

    /// Per input (`config.channels` planes of `config.input` squared, channel-major), the logits and
    /// the pooled features in eval mode, each averaged over the config's [`RadioConfig::symmetries`].
    pub fn infer(&self, xs: &[&[f32]], device: &Device) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        let side = self.config.input;
        let views = self.config.symmetries;
        let mut out = Vec::with_capacity(xs.len());
        // 16 inputs of 8 views, or 64 of one, per forward pass.
        for chunk in xs.chunks(128 / views.max(1)) {
            let batch: Vec<Vec<f32>> =
                chunk.iter().flat_map(|x| (0..8u8).take(views).map(move |k| square_symmetry(x, side, k))).collect();
            let refs: Vec<&[f32]> = batch.iter().map(Vec::as_slice).collect();
            let (logits, pooled) = self.forward_features(&input_tensor(&refs, side, device)?, false)?;
            let (logits, pooled) = (logits.to_vec2::<f32>()?, pooled.to_vec2::<f32>()?);
            for (l, p) in logits.chunks(views).zip(pooled.chunks(views)) {
                out.push((mean_rows(l), mean_rows(p)));
            }
        }
        Ok(out)
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

/// Element-wise mean of equal-length rows.
fn mean_rows(rows: &[Vec<f32>]) -> Vec<f32> {
    let mut sum = vec![0f32; rows.first().map_or(0, Vec::len)];
    for row in rows {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += v;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let n = rows.len().max(1) as f32;
    sum.iter().map(|s| s / n).collect()
}

/// Symmetry `k` of the square (0-7: rotations by k % 4 quarter turns, mirrored when k >= 4) of a
/// channel-major input whose planes are `side` x `side`.
pub fn square_symmetry(input: &[f32], side: usize, k: u8) -> Vec<f32> {
    let n = side;
    let mut x = Vec::with_capacity(input.len());
    for channel in input.chunks(n * n) {
        for r in 0..n {
            for c in 0..n {
                let (mut sr, mut sc) = (r, c);
                if k >= 4 {
                    sc = n - 1 - sc;
                }
                for _ in 0..k % 4 {
                    (sr, sc) = (n - 1 - sc, sr);
                }
                x.push(channel[sr * n + sc]);
            }
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    fn net(symmetries: usize) -> RadioNet {
        let config = RadioConfig { width: 4, blocks: [1, 1, 1, 1], input: 32, stem_stride: 1, channels: 2, symmetries };
        let vm = VarMap::new();
        RadioNet::new(&config, VarBuilder::from_varmap(&vm, candle_core::DType::F32, &Device::Cpu)).unwrap()
    }

    #[test]
    fn eight_views_make_the_reading_the_same_in_every_orientation_and_one_view_does_not() {
        let side = 32;
        // An asymmetric input: a ramp and a blob off centre.
        let x: Vec<f32> = (0..2 * side * side)
            .map(|i| {
                let (r, c) = ((i % (side * side)) / side, i % side);
                let d = ((r as f32 - 8.0).powi(2) + (c as f32 - 20.0).powi(2)) / 8.0;
                0.01 * r as f32 + (-d).exp()
            })
            .collect();
        let views: Vec<Vec<f32>> = (0..8).map(|k| square_symmetry(&x, side, k)).collect();
        let refs: Vec<&[f32]> = views.iter().map(Vec::as_slice).collect();
        let averaged = net(8).infer(&refs, &Device::Cpu).unwrap();
        for (logits, pooled) in &averaged[1..] {
            for (a, b) in logits.iter().chain(pooled).zip(averaged[0].0.iter().chain(&averaged[0].1)) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
        // One view: a rotated input reads differently (the check above is not vacuous).
        let single = net(1).infer(&refs, &Device::Cpu).unwrap();
        let spread = single[1].0.iter().zip(&single[0].0).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(spread > 1e-4, "an untrained net read a rotated input identically");
        assert_eq!(averaged.len(), 8);
        assert_eq!(averaged[0].0.len(), outputs());
    }
}
