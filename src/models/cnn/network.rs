//! The network inside a [`super::CnnModel`]: heatscope's own SpectrumQA ResNet (every head), or a
//! user's torchvision ResNet imported with `heatscope.json` (L1 classes, and an L3 box when it has a
//! box head). What each can answer, how it is described, what input it takes. Any thread that owns
//! the model.

use candle_core::{Result, Tensor};

use super::resnet::{CnnOutput, SpectrumResNet};
use super::torchvision::{TorchOutput, TorchResNet};
use crate::types::QuestionKind;

#[derive(Debug, Clone)]
pub enum CnnNet {
    Spectrum(SpectrumResNet),
    Torchvision(TorchResNet),
}

/// A batch's raw outputs, of whichever network.
#[derive(Debug, Clone)]
pub enum RawOutput {
    Spectrum(CnnOutput),
    Torchvision(TorchOutput),
}

/// Which SpectrumQA answers a network has a head for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heads {
    /// L2: per-region affected and level (heatscope's region head or exceedance mask).
    pub regions: bool,
    /// L3: a box with a "there is a region" output.
    pub bbox: bool,
    /// The exceedance mask overlay.
    pub mask: bool,
}

impl Heads {
    /// Whether a question of `kind` gets an answer from these heads (L1 always; never L4 or radio).
    pub fn answer(&self, kind: QuestionKind) -> bool {
        match kind {
            QuestionKind::Severity => true,
            QuestionKind::RegionAffected | QuestionKind::WhichWorse | QuestionKind::WorstRegion => self.regions,
            QuestionKind::Localize => self.bbox,
            _ => false,
        }
    }
}

impl CnnNet {
    /// Side of the network's input in pixels.
    pub fn input_side(&self) -> usize {
        match self {
            CnnNet::Spectrum(n) => n.config.input,
            CnnNet::Torchvision(n) => n.spec.input.size,
        }
    }

    pub fn input_channels(&self) -> usize {
        match self {
            CnnNet::Spectrum(n) => n.config.in_channels,
            CnnNet::Torchvision(n) => n.spec.input.channels,
        }
    }

    /// Channels of the pooled features (the first part of the domain check's vector).
    pub fn feature_dims(&self) -> usize {
        match self {
            CnnNet::Spectrum(n) => n.config.width << (n.config.blocks.len() - 1),
            CnnNet::Torchvision(n) => n.features,
        }
    }

    /// The one scenario heatscope trained it on, when it was trained on one.
    pub fn trained_on(&self) -> Option<&str> {
        match self {
            CnnNet::Spectrum(n) => n.config.trained_on.as_deref(),
            CnnNet::Torchvision(_) => None,
        }
    }

    pub fn heads(&self) -> Heads {
        match self {
            CnnNet::Spectrum(_) => Heads { regions: true, bbox: true, mask: true },
            CnnNet::Torchvision(n) => Heads { regions: false, bbox: n.spec.r#box.is_some(), mask: false },
        }
    }

    /// One line for panels and benchmarks: the architecture and its input.
    pub fn describe(&self) -> String {
        match self {
            CnnNet::Spectrum(n) => {
                let c = &n.config;
                format!(
                    "ResNet width {} blocks {:?}, {} px input (stem stride {})",
                    c.width, c.blocks, c.input, c.stem_stride
                )
            }
            CnnNet::Torchvision(n) => {
                let i = &n.spec.input;
                let heads = if n.spec.r#box.is_some() { "L1 classes and an L3 box" } else { "L1 classes" };
                format!(
                    "imported torchvision {}, {} px x {} channel{} input, {} features; {heads}",
                    n.name(),
                    i.size,
                    i.channels,
                    if i.channels == 1 { "" } else { "s" },
                    n.features
                )
            }
        }
    }

    /// Forward a batch already in the network's input form (batch, channels, side, side).
    pub fn forward(&self, x: &Tensor) -> Result<RawOutput> {
        match self {
            CnnNet::Spectrum(n) => n.forward_t(x, false).map(RawOutput::Spectrum),
            CnnNet::Torchvision(n) => n.forward(x).map(RawOutput::Torchvision),
        }
    }
}

impl RawOutput {
    /// The last feature map (batch, channels, h, w).
    pub fn features(&self) -> &Tensor {
        match self {
            RawOutput::Spectrum(o) => &o.features,
            RawOutput::Torchvision(o) => &o.features,
        }
    }
}
