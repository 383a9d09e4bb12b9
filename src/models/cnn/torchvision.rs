//! A user's own CNN: a torchvision-style ResNet (18/34/50, or any depth and width of the same two
//! block kinds) trained in PyTorch and saved as safetensors, with `heatscope.json` saying how its
//! outputs map onto heatscope's (the L1 class names, an optional L3 box head) and what input it
//! expects (side, channels, the dB range and the per-channel normalization). The architecture is
//! read off the tensors: the block kind, blocks per stage and every width. Inference only, batch
//! norms folded at load. Any thread that owns the model.

use std::collections::HashMap;

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};
use serde::{Deserialize, Serialize};

use super::resnet::ConvBn;
use crate::types::SEVERITY_CLASSES;

/// The file beside the weights that makes a folder an imported torchvision CNN.
pub const IMPORT_FILE: &str = "heatscope.json";

/// `heatscope.json`: what heatscope needs to know about a model it did not train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSpec {
    /// "resnet18", "resnet34" or "resnet50": checked against the tensors when given (other depths
    /// and widths load without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// The weights file in the folder.
    #[serde(default = "default_weights")]
    pub weights: String,
    /// The name of each output of `fc`, in order: each one of heatscope's L1 classes
    /// ([`SEVERITY_CLASSES`]), at least two, no repeats. Classes the model lacks read as 0 %.
    pub classes: Vec<String>,
    pub input: InputSpec,
    /// The stem: torchvision's is a stride-2 convolution and a 3x3 stride-2 max pool; models for
    /// small images often use stride 1 and no pool.
    #[serde(default)]
    pub stem: StemSpec,
    /// An L3 box head on the pooled features, when the model has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#box: Option<BoxSpec>,
}

fn default_weights() -> String {
    "model.safetensors".into()
}

/// How a dB grid becomes the model's input tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Side in pixels: the grid is resized to it bilinearly (pixel centres aligned, edges clamped).
    pub size: usize,
    /// 1, or 3 (the grey value repeated, as a picture of the map would be).
    pub channels: usize,
    /// dB mapped linearly onto [0, 1] and clamped (NaN and infinities read as the low end).
    pub db_range: [f32; 2],
    /// Then (x - mean[c]) / std[c] per channel (defaults 0 and 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StemSpec {
    pub stride: usize,
    pub maxpool: bool,
}

impl Default for StemSpec {
    fn default() -> Self {
        StemSpec { stride: 2, maxpool: true }
    }
}

/// A linear layer on the pooled features with five outputs: the box (as `format` says, each through
/// a sigmoid into [0, 1] of the image) and a logit that there is a region at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxSpec {
    /// Tensor prefix: `<tensor>.weight` (5, features) and `<tensor>.bias`.
    #[serde(default = "default_box_tensor")]
    pub tensor: String,
    /// "cxcywh" (centre, width, height) or "xyxy" (corners).
    pub format: BoxFormat,
}

fn default_box_tensor() -> String {
    "box_head".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxFormat {
    Cxcywh,
    Xyxy,
}

impl ImportSpec {
    /// Parse and check `heatscope.json`; errors say which field is wrong and why.
    pub fn parse(bytes: &[u8]) -> std::result::Result<ImportSpec, String> {
        let spec: ImportSpec = serde_json::from_slice(bytes).map_err(|e| format!("{IMPORT_FILE}: {e}"))?;
        spec.validate().map_err(|e| format!("{IMPORT_FILE}: {e}"))?;
        Ok(spec)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.classes.len() < 2 {
            return Err(format!("classes needs at least two of {SEVERITY_CLASSES:?}, got {:?}", self.classes));
        }
        for (i, c) in self.classes.iter().enumerate() {
            if !SEVERITY_CLASSES.contains(&c.as_str()) {
                return Err(format!("class {i} {c:?} is not one of heatscope's L1 classes {SEVERITY_CLASSES:?}"));
            }
            if self.classes[..i].contains(c) {
                return Err(format!("class {c:?} is listed twice"));
            }
        }
        let i = &self.input;
        if !(8..=2048).contains(&i.size) {
            return Err(format!("input.size {} is outside 8-2048", i.size));
        }
        if !matches!(i.channels, 1 | 3) {
            return Err(format!("input.channels {} must be 1 or 3", i.channels));
        }
        let [lo, hi] = i.db_range;
        if !(lo.is_finite() && hi.is_finite() && hi > lo) {
            return Err(format!("input.db_range [{lo}, {hi}] must be two finite numbers, low first"));
        }
        for (name, v) in [("mean", &i.mean), ("std", &i.std)] {
            if let Some(v) = v {
                if v.len() != i.channels {
                    return Err(format!("input.{name} has {} values for {} channels", v.len(), i.channels));
                }
                if v.iter().any(|x| !x.is_finite()) || (name == "std" && v.iter().any(|&x| x <= 0.0)) {
                    return Err(format!("input.{name} {v:?} must be finite (std positive)"));
                }
            }
        }
        if !matches!(self.stem.stride, 1 | 2 | 4) {
            return Err(format!("stem.stride {} must be 1, 2 or 4", self.stem.stride));
        }
        if let Some(a) = &self.architecture
            && Depth::named(a).is_none()
        {
            return Err(format!("architecture {a:?} is not resnet18, resnet34 or resnet50"));
        }
        Ok(())
    }

    /// The model's input for square dB grids of side `n`: (batch, channels, size, size).
    pub fn input_tensor(&self, grids: &[&[f32]], n: usize, device: &Device) -> Result<Tensor> {
        let i = &self.input;
        let [lo, hi] = i.db_range;
        let m = i.size;
        let mut x = Vec::with_capacity(grids.len() * i.channels * m * m);
        for g in grids {
            let unit: Vec<f32> =
                g.iter().map(|&v| if v.is_finite() { ((v - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.0 }).collect();
            let plane = super::data::resize(&unit, n, m);
            for c in 0..i.channels {
                let mean = i.mean.as_ref().map_or(0.0, |v| v[c]);
                let std = i.std.as_ref().map_or(1.0, |v| v[c]);
                x.extend(plane.iter().map(|v| (v - mean) / std));
            }
        }
        Tensor::from_vec(x, (grids.len(), i.channels, m, m), device)
    }
}

/// torchvision's named depths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Depth {
    bottleneck: bool,
    blocks: [usize; 4],
}

impl Depth {
    fn named(name: &str) -> Option<Depth> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "resnet18" => Some(Depth { bottleneck: false, blocks: [2, 2, 2, 2] }),
            "resnet34" => Some(Depth { bottleneck: false, blocks: [3, 4, 6, 3] }),
            "resnet50" => Some(Depth { bottleneck: true, blocks: [3, 4, 6, 3] }),
            _ => None,
        }
    }
}

/// A residual block as torchvision names it (`conv1`/`bn1` ..., `downsample.0`/`.1`).
#[derive(Debug, Clone)]
struct TvBlock {
    /// Two 3x3 convolutions (basic) or 1x1, 3x3 (carrying the stride), 1x1 (bottleneck).
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl TvBlock {
    /// Every convolution but the last with its ReLU, the last with the residual add and ReLU (fused
    /// into the convolution on the CPU).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = match &self.downsample {
            Some(d) => d.forward_t(x, false)?,
            None => x.clone(),
        };
        let (last, inner) =
            self.convs.split_last().ok_or_else(|| candle_core::Error::msg("a block without convolutions"))?;
        let mut y = x.clone();
        for c in inner {
            y = c.forward_relu_t(&y, false)?;
        }
        last.forward_residual_relu_t(&y, &s, false)
    }
}

/// What the imported network says about a batch.
#[derive(Debug, Clone)]
pub struct TorchOutput {
    /// `fc` logits, (batch, classes in heatscope.json order).
    pub logits: Tensor,
    /// (batch, 4) corners x0, y0, x1, y1 in [0, 1], when the model has a box head.
    pub bbox: Option<Tensor>,
    /// (batch,) logit that there is a region, with the box.
    pub objectness: Option<Tensor>,
    /// The last feature map (batch, channels, h, w).
    pub features: Tensor,
}

/// A torchvision ResNet read from its state dict, batch norms folded.
#[derive(Debug, Clone)]
pub struct TorchResNet {
    pub spec: ImportSpec,
    /// Whether the blocks are bottlenecks (ResNet-50 family) and how many each stage has.
    pub bottleneck: bool,
    pub blocks: [usize; 4],
    /// Channels of the pooled features.
    pub features: usize,
    stem: ConvBn,
    stages: Vec<Vec<TvBlock>>,
    fc: Linear,
    box_head: Option<Linear>,
}

/// The shape of `name`, or an error naming it.
fn shape(tensors: &HashMap<String, Tensor>, name: &str) -> Result<Vec<usize>> {
    tensors
        .get(name)
        .map(|t| t.dims().to_vec())
        .ok_or_else(|| candle_core::Error::msg(format!("tensor {name} is missing (is this a torchvision ResNet?)")))
}

/// (out, in, k) of a square convolution's weight, or an error naming it.
fn conv_dims(tensors: &HashMap<String, Tensor>, name: &str) -> Result<(usize, usize, usize)> {
    match shape(tensors, name)?.as_slice() {
        &[o, i, k, k2] if k == k2 => Ok((o, i, k)),
        other => Err(candle_core::Error::msg(format!("tensor {name} is {other:?}, not a square convolution"))),
    }
}

impl TorchResNet {
    /// Build from the state dict's tensors (any float type; computed in f32 on `device`).
    pub fn new(spec: &ImportSpec, tensors: HashMap<String, Tensor>, device: &Device) -> Result<TorchResNet> {
        let bottleneck = tensors.contains_key("layer1.0.conv3.weight");
        let mut blocks = [0usize; 4];
        for (i, n) in blocks.iter_mut().enumerate() {
            while tensors.contains_key(&format!("layer{}.{}.conv1.weight", i + 1, *n)) {
                *n += 1;
            }
            if *n == 0 {
                return Err(candle_core::Error::msg(format!(
                    "tensor layer{}.0.conv1.weight is missing (is this a torchvision ResNet?)",
                    i + 1
                )));
            }
        }
        // A block whose first convolution is missing would silently end its stage early.
        for name in tensors.keys() {
            let Some(rest) = name.strip_prefix("layer") else { continue };
            let mut parts = rest.splitn(3, '.');
            let (Some(i), Some(j)) = (parts.next(), parts.next()) else { continue };
            let (Ok(i), Ok(j)) = (i.parse::<usize>(), j.parse::<usize>()) else { continue };
            if (1..=4).contains(&i) && j >= blocks[i - 1] {
                return Err(candle_core::Error::msg(format!(
                    "tensor {name} belongs to block layer{i}.{j}, but tensor layer{i}.{j}.conv1.weight is missing"
                )));
            }
        }
        if let Some(name) = &spec.architecture
            && let Some(want) = Depth::named(name)
            && want != (Depth { bottleneck, blocks })
        {
            let kind = |b: bool| if b { "bottleneck" } else { "basic" };
            return Err(candle_core::Error::msg(format!(
                "{IMPORT_FILE} says {name} ({} blocks {:?}) but the tensors hold {} blocks {blocks:?}",
                kind(want.bottleneck),
                want.blocks,
                kind(bottleneck)
            )));
        }
        let (w, c_in, _) = conv_dims(&tensors, "conv1.weight")?;
        if c_in != spec.input.channels {
            return Err(candle_core::Error::msg(format!(
                "tensor conv1.weight takes {c_in} input channels but {IMPORT_FILE} says input.channels {}",
                spec.input.channels
            )));
        }
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, device);
        // Output channels are read off each weight; input channels and kernel sizes are what
        // torchvision's blocks use, so a tensor of another shape is named with the shape expected.
        let conv_bn = |prefix: &str, bn: &str, c_in: usize, k: usize, stride: usize| -> Result<ConvBn> {
            let out = shape(&tensors, &format!("{prefix}.weight"))?[0];
            let mut c = ConvBn::named(c_in, out, k, stride, vb.pp(prefix), vb.pp(bn))?;
            c.fold()?;
            Ok(c)
        };
        let stem = conv_bn("conv1", "bn1", c_in, conv_dims(&tensors, "conv1.weight")?.2, spec.stem.stride)?;
        let mut stages = Vec::with_capacity(4);
        let mut channels = w;
        for (i, &n) in blocks.iter().enumerate() {
            let mut stage = Vec::with_capacity(n);
            for j in 0..n {
                let p = format!("layer{}.{j}", i + 1);
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                // (kernel, stride) of each convolution; torchvision puts a bottleneck's stride on its
                // 3x3 convolution (ResNet v1.5).
                let layout: &[(usize, usize)] =
                    if bottleneck { &[(1, 1), (3, stride), (1, 1)] } else { &[(3, stride), (3, 1)] };
                let mut convs = Vec::with_capacity(layout.len());
                let mut c = channels;
                for (n, &(k, s)) in layout.iter().enumerate() {
                    let conv = conv_bn(&format!("{p}.conv{}", n + 1), &format!("{p}.bn{}", n + 1), c, k, s)?;
                    c = shape(&tensors, &format!("{p}.conv{}.weight", n + 1))?[0];
                    convs.push(conv);
                }
                let out = c;
                let downsample = if tensors.contains_key(&format!("{p}.downsample.0.weight")) {
                    Some(conv_bn(&format!("{p}.downsample.0"), &format!("{p}.downsample.1"), channels, 1, stride))
                } else {
                    None
                }
                .transpose()?;
                if downsample.is_none() && (stride != 1 || out != channels) {
                    return Err(candle_core::Error::msg(format!(
                        "block {p} changes the shape ({channels} -> {out} channels, stride {stride}) but has no \
                         {p}.downsample.0.weight"
                    )));
                }
                channels = out;
                stage.push(TvBlock { convs, downsample });
            }
            stages.push(stage);
        }
        let fc = linear(channels, spec.classes.len(), vb.pp("fc"))?;
        let box_head = match &spec.r#box {
            Some(b) => Some(linear(channels, 5, vb.pp(&b.tensor))?),
            None => None,
        };
        Ok(TorchResNet { spec: spec.clone(), bottleneck, blocks, features: channels, stem, stages, fc, box_head })
    }

    /// "ResNet-18", "ResNet-50", or the blocks when the depth has no torchvision name.
    pub fn name(&self) -> String {
        let named = ["resnet18", "resnet34", "resnet50"]
            .into_iter()
            .find(|n| Depth::named(n).is_some_and(|d| d == Depth { bottleneck: self.bottleneck, blocks: self.blocks }));
        match named {
            Some(n) => format!("ResNet-{}", &n[6..]),
            None => {
                let kind = if self.bottleneck { "bottleneck" } else { "basic" };
                format!("ResNet ({kind} blocks {:?})", self.blocks)
            }
        }
    }

    /// Forward a batch (batch, channels, size, size).
    pub fn forward(&self, x: &Tensor) -> Result<TorchOutput> {
        let mut h = self.stem.forward_relu_t(x, false)?;
        if self.spec.stem.maxpool {
            // 3x3, stride 2, padding 1; zero padding is the same as -inf here: h >= 0 after the ReLU.
            h = h.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?.max_pool2d_with_stride(3, 2)?;
        }
        for block in self.stages.iter().flatten() {
            h = block.forward(&h)?;
        }
        let pooled = h.mean(D::Minus1)?.mean(D::Minus1)?;
        let logits = self.fc.forward(&pooled)?;
        let (bbox, objectness) = match (&self.box_head, &self.spec.r#box) {
            (Some(head), Some(spec)) => {
                let b = head.forward(&pooled)?;
                let unit = candle_nn::ops::sigmoid(&b.narrow(1, 0, 4)?)?;
                let corners = match spec.format {
                    BoxFormat::Xyxy => unit,
                    BoxFormat::Cxcywh => super::loss::corners(&unit)?.clamp(0f32, 1f32)?,
                };
                (Some(corners), Some(b.narrow(1, 4, 1)?.squeeze(1)?))
            }
            _ => (None, None),
        };
        Ok(TorchOutput { logits, bbox, objectness, features: h })
    }

    /// Class activation of output `class` of `fc` on a feature map (1, channels, h, w), (h, w).
    pub fn class_activation(&self, features: &Tensor, class: usize) -> Result<Tensor> {
        let (_, c, h, w) = features.dims4()?;
        let weights = self.fc.weight().narrow(0, class, 1)?.reshape((c, 1))?;
        features.reshape((c, h * w))?.t()?.matmul(&weights)?.reshape((h, w))
    }

    /// For each of heatscope's L1 classes, the `fc` output that names it.
    pub fn class_outputs(&self) -> [Option<usize>; 4] {
        std::array::from_fn(|k| self.spec.classes.iter().position(|c| c == SEVERITY_CLASSES[k]))
    }
}

/// One reference case of an import fixture (`tools/make_torch_cnn_fixtures.py`): the largest logit
/// difference from PyTorch's relative to the largest logit (at least 1), and the same for the box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixtureCase {
    pub logit_error: f32,
    pub box_error: Option<f32>,
}

/// Relative error bound of an import fixture's logits and box (f32 on any device).
pub const FIXTURE_TOLERANCE: f32 = 1e-5;

/// Run an import fixture folder (`heatscope.json`, weights, `reference.json`) on `device`.
pub fn check_fixture(dir: &std::path::Path, device: &Device) -> std::result::Result<Vec<FixtureCase>, String> {
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()));
    let spec = ImportSpec::parse(&read(IMPORT_FILE)?)?;
    let (tensors, _) = super::decode::float_tensors(&read(&spec.weights)?, &spec.weights).map_err(|e| e.to_string())?;
    let net = TorchResNet::new(&spec, tensors, device).map_err(|e| e.to_string())?;
    let refs: serde_json::Value =
        serde_json::from_slice(&read("reference.json")?).map_err(|e| format!("reference.json: {e}"))?;
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array().into_iter().flatten().filter_map(serde_json::Value::as_f64).map(|x| x as f32).collect()
    };
    let rel = |got: &[f32], want: &[f32]| {
        let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
        let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        if got.len() == want.len() { worst / scale } else { f32::INFINITY }
    };
    let side = refs["side"].as_u64().unwrap_or(0) as usize;
    let mut out = Vec::new();
    for case in refs["cases"].as_array().into_iter().flatten() {
        let grid = floats(&case["grid_db"]);
        let run = || -> Result<(Vec<f32>, Option<Vec<f32>>)> {
            let x = spec.input_tensor(&[&grid], side, device)?;
            let o = net.forward(&x)?;
            let cpu = |t: &Tensor| t.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>();
            Ok((cpu(&o.logits)?, o.bbox.as_ref().map(cpu).transpose()?))
        };
        let (logits, bbox) = run().map_err(|e| e.to_string())?;
        let box_error = case.get("box_xyxy").map(|b| {
            let want: Vec<f32> = floats(b).iter().map(|v| v.clamp(0.0, 1.0)).collect();
            bbox.as_deref().map_or(f32::INFINITY, |got| rel(got, &want))
        });
        out.push(FixtureCase { logit_error: rel(&logits, &floats(&case["logits"])), box_error });
    }
    Ok(out)
}
