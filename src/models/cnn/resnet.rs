//! heatscope's own ResNet-18 family for single-channel heatmaps, with batch norm in training and
//! evaluation modes and every operation differentiable (no max-pool: the stem downsamples with a
//! strided convolution), and the SpectrumQA heads: L1 severity, L3 box with a "none" output,
//! per-region L2 outputs, and a dense head that says, for every cell of a grid at the stem's
//! resolution, which share of it exceeds the protection criterion (the quantity all labels come from). Runs on whichever thread owns the model (a worker or the trainer).

use candle_core::{D, Module, ModuleT, Result, Tensor};
use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, Linear, VarBuilder, batch_norm, conv2d_no_bias, linear};
use serde::{Deserialize, Serialize};

use super::eval_conv::EvalConv;

/// Architecture of a CNN checkpoint (saved as `config.json` beside the weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    /// Channels of the first stage (64 in the classic ResNet-18); stages use 1x, 2x, 4x, 8x.
    pub width: usize,
    /// Residual blocks per stage (ResNet-18: [2, 2, 2, 2]).
    pub blocks: [usize; 4],
    /// Input side in pixels (the observed grid is resized to it).
    pub input: usize,
    pub in_channels: usize,
    /// L1 classes.
    pub classes: usize,
    /// L2 regions.
    pub regions: usize,
    /// Downsampling of the stem convolution (1, 2 or 4); the exceedance mask has `input / stem_stride`
    /// cells a side.
    #[serde(default = "default_stem_stride")]
    pub stem_stride: usize,
    /// The one scenario the model was trained on (`train cnn --scenario`); absent: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_on: Option<String>,
}

fn default_stem_stride() -> usize {
    2
}

impl Default for CnnConfig {
    fn default() -> Self {
        CnnConfig {
            width: 32,
            blocks: [2, 2, 2, 2],
            input: 128,
            in_channels: 1,
            classes: 4,
            regions: 5,
            stem_stride: 4,
            trained_on: None,
        }
    }
}

impl CnnConfig {
    /// Reject configurations the network cannot be built from, with the reason.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.width == 0 || self.width > 512 {
            return Err(format!("width {} is outside 1-512", self.width));
        }
        if ![1, 2, 4].contains(&self.stem_stride) {
            return Err(format!("stem_stride {} must be 1, 2 or 4", self.stem_stride));
        }
        let unit = 8 * self.stem_stride;
        if self.input < 32 || self.input > 1024 || !self.input.is_multiple_of(unit) {
            return Err(format!("input {} must be a multiple of {unit} in 32-1024", self.input));
        }
        if self.blocks.contains(&0) {
            return Err(format!("every stage needs at least one block, got {:?}", self.blocks));
        }
        if self.in_channels == 0 || self.classes < 2 || self.regions == 0 {
            return Err("in_channels, classes (>= 2) and regions must be positive".into());
        }
        Ok(())
    }

    /// Cells a side of the exceedance mask.
    pub fn mask_side(&self) -> usize {
        self.input / self.stem_stride
    }
}

/// Conv + batch norm (+ ReLU by the caller, or fused by [`ConvBn::forward_relu_t`]). Once folded, eval
/// mode on the CPU runs [`EvalConv`] (weights laid out at fold time, bias and ReLU in the same pass);
/// training and other devices keep candle's ops.
#[derive(Debug, Clone)]
pub(crate) struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
    /// The convolution with the batch norm's running statistics folded in, used in eval mode once
    /// [`SpectrumResNet::fold_batch_norm`] made it (inference only: training does not update it).
    folded: Option<Conv2d>,
    /// The same folded convolution as a fused CPU kernel (f32 on the CPU only; other devices use `folded`).
    eval: Option<EvalConv>,
}

impl ConvBn {
    pub(crate) fn new(c_in: usize, c_out: usize, k: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        ConvBn::named(c_in, c_out, k, stride, vb.pp("conv"), vb.pp("bn"))
    }

    /// A k x k convolution (padding k / 2, no bias) and its batch norm, read from any two prefixes
    /// (torchvision names them `conv1` and `bn1`).
    pub(crate) fn named(
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        conv: VarBuilder,
        bn: VarBuilder,
    ) -> Result<Self> {
        let cfg = Conv2dConfig { padding: k / 2, stride, ..Default::default() };
        Ok(ConvBn {
            conv: conv2d_no_bias(c_in, c_out, k, cfg, conv)?,
            bn: batch_norm(c_out, 1e-5, bn)?,
            folded: None,
            eval: None,
        })
    }

    pub(crate) fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self.fast(x, train) {
            Some(e) => e.forward(x, None, false),
            None => self.slow_t(x, train),
        }
    }

    /// `forward_t` then ReLU, in one pass over the output on the CPU in eval mode.
    pub(crate) fn forward_relu_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self.fast(x, train) {
            Some(e) => e.forward(x, None, true),
            None => self.slow_t(x, train)?.relu(),
        }
    }

    /// relu(`forward_t(x)` + `residual`), the add and ReLU inside the kernel on the CPU in eval mode.
    pub(crate) fn forward_residual_relu_t(&self, x: &Tensor, residual: &Tensor, train: bool) -> Result<Tensor> {
        match self.fast(x, train) {
            Some(e) => e.forward(x, Some(residual), true),
            None => (self.slow_t(x, train)? + residual)?.relu(),
        }
    }

    /// The fused CPU kernel, when it applies to `x` (eval mode, folded, an f32 CPU tensor).
    fn fast(&self, x: &Tensor, train: bool) -> Option<&EvalConv> {
        self.eval.as_ref().filter(|_| !train && EvalConv::accepts(x))
    }

    /// Candle's layers: the folded convolution in eval mode once folded, else conv + batch norm.
    fn slow_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match (&self.folded, train) {
            (Some(f), false) => f.forward(x),
            _ => self.bn.forward_t(&self.conv.forward(x)?, train),
        }
    }

    /// W' = W * g / sqrt(var + eps) per output channel, b' = beta - mean * g / sqrt(var + eps).
    pub(crate) fn fold(&mut self) -> Result<()> {
        let scale = (self.bn.running_var() + self.bn.eps())?.sqrt()?.recip()?;
        let (shift, scale) = match self.bn.weight_and_bias() {
            Some((g, b)) => {
                let scale = (scale * g)?;
                ((b - (self.bn.running_mean() * &scale)?)?, scale)
            }
            None => ((self.bn.running_mean() * &scale)?.neg()?, scale),
        };
        let w = self.conv.weight().broadcast_mul(&scale.reshape(((), 1, 1, 1))?)?;
        self.eval = EvalConv::new(&w, &shift, self.conv.config().stride)?;
        self.folded = Some(Conv2d::new(w, Some(shift), *self.conv.config()));
        Ok(())
    }
}

/// The basic residual block: two 3x3 conv-bn, a 1x1 projection when the shape changes.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    a: ConvBn,
    b: ConvBn,
    skip: Option<ConvBn>,
}

impl Block {
    pub(crate) fn new(c_in: usize, c_out: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let skip =
            if stride != 1 || c_in != c_out { Some(ConvBn::new(c_in, c_out, 1, stride, vb.pp("skip"))?) } else { None };
        Ok(Block {
            a: ConvBn::new(c_in, c_out, 3, stride, vb.pp("a"))?,
            b: ConvBn::new(c_out, c_out, 3, 1, vb.pp("b"))?,
            skip,
        })
    }

    /// Fold every batch norm of the block into its convolution (inference copies only).
    pub(crate) fn fold(&mut self) -> Result<()> {
        self.a.fold()?;
        self.b.fold()?;
        if let Some(s) = self.skip.as_mut() {
            s.fold()?;
        }
        Ok(())
    }

    pub(crate) fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if let (Some(a), Some(b)) = (self.a.fast(x, train), self.b.eval.as_ref()) {
            // Eval on the CPU: bias and ReLU inside each convolution, the residual added inside b's.
            let s = match &self.skip {
                Some(p) => p.forward_t(x, train)?,
                None => x.clone(),
            };
            return b.forward(&a.forward(x, None, true)?, Some(&s), true);
        }
        let y = self.a.forward_t(x, train)?.relu()?;
        let y = self.b.forward_t(&y, train)?;
        let s = match &self.skip {
            Some(p) => p.forward_t(x, train)?,
            None => x.clone(),
        };
        (y + s)?.relu()
    }
}

/// The four residual stages of the ResNet-18 family (`stage{i}.{j}.*`): `width << i` channels, the
/// first block of every stage after the first at stride 2; with the channels of the last stage.
/// The spectrum and radio CNNs build theirs with it.
pub(crate) fn stages(width: usize, blocks: &[usize; 4], vb: &VarBuilder) -> Result<(Vec<Vec<Block>>, usize)> {
    let mut stages = Vec::new();
    let mut c_in = width;
    for (i, &n) in blocks.iter().enumerate() {
        let c_out = width << i;
        let vs = vb.pp(format!("stage{i}"));
        let mut stage = Vec::new();
        for j in 0..n {
            let stride = if j == 0 && i > 0 { 2 } else { 1 };
            stage.push(Block::new(c_in, c_out, stride, vs.pp(j.to_string()))?);
            c_in = c_out;
        }
        stages.push(stage);
    }
    Ok((stages, c_in))
}

/// What the network says about a batch (raw outputs; `cnn::decode` turns them into answers).
#[derive(Debug, Clone)]
pub struct CnnOutput {
    /// L1 class logits, (batch, classes).
    pub severity: Tensor,
    /// L3 box, (batch, 4): sigmoid of (cx, cy, w, h) in [0, 1].
    pub bbox: Tensor,
    /// L3 "there is a region" logit, (batch,).
    pub objectness: Tensor,
    /// L2 "region affected" logits, (batch, regions).
    pub region_affected: Tensor,
    /// L2 region 95th-percentile I/N estimate in units of 10 dB, (batch, regions).
    pub region_level: Tensor,
    /// Exceedance logits per cell, (batch, mask_side, mask_side).
    pub mask: Tensor,
    /// The last feature map (batch, channels, h, w), for saliency.
    pub features: Tensor,
}

/// ResNet-18-style network with the SpectrumQA heads.
#[derive(Debug, Clone)]
pub struct SpectrumResNet {
    pub config: CnnConfig,
    stem: ConvBn,
    stages: Vec<Vec<Block>>,
    severity: Linear,
    bbox: Linear,
    regions: Linear,
    /// 1x1 convolutions onto stages 0, 2 and 3; their maps are upsampled to stage 0's and summed.
    mask: [Conv2d; 3],
}

impl SpectrumResNet {
    /// Build the network; tensor names follow `stem.*`, `stage{i}.{j}.*`, `head.{severity,box,regions}`.
    pub fn new(config: &CnnConfig, vb: VarBuilder) -> Result<Self> {
        config.validate().map_err(candle_core::Error::msg)?;
        let w = config.width;
        // Kernel 3 at stride 1 or 2, 7 at stride 4, so every input pixel is seen.
        let stem =
            ConvBn::new(config.in_channels, w, 2 * config.stem_stride.max(2) - 1, config.stem_stride, vb.pp("stem"))?;
        let (stages, c_in) = stages(w, &config.blocks, &vb)?;
        let head = vb.pp("head");
        let one = |c: usize, name: &str| candle_nn::conv2d(c, 1, 1, Conv2dConfig::default(), head.pp(name));
        let mask = [one(w, "mask0")?, one(w << 2, "mask2")?, one(w << 3, "mask3")?];
        Ok(SpectrumResNet {
            config: config.clone(),
            stem,
            stages,
            severity: linear(c_in, config.classes, head.pp("severity"))?,
            bbox: linear(c_in, 5, head.pp("box"))?,
            regions: linear(c_in, 2 * config.regions, head.pp("regions"))?,
            mask,
        })
    }

    /// Forward a batch (batch, in_channels, input, input); `train` switches batch norm to batch statistics
    /// (and updates its running averages).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<CnnOutput> {
        let mut h = self.stem.forward_relu_t(x, train)?;
        let mut taps = Vec::with_capacity(4);
        for stage in &self.stages {
            for block in stage {
                h = block.forward_t(&h, train)?;
            }
            taps.push(h.clone());
        }
        let side = taps[0].dim(3)?;
        let mut mask = self.mask[0].forward(&taps[0])?;
        for (conv, tap) in self.mask[1..].iter().zip([&taps[2], &taps[3]]) {
            mask = (mask + conv.forward(tap)?.upsample_nearest2d(side, side)?)?;
        }
        let pooled = h.mean(D::Minus1)?.mean(D::Minus1)?;
        let b = self.bbox.forward(&pooled)?;
        let r = self.regions.forward(&pooled)?;
        let n = self.config.regions;
        Ok(CnnOutput {
            severity: self.severity.forward(&pooled)?,
            bbox: candle_nn::ops::sigmoid(&b.narrow(1, 0, 4)?)?,
            objectness: b.narrow(1, 4, 1)?.squeeze(1)?,
            region_affected: r.narrow(1, 0, n)?,
            region_level: r.narrow(1, n, n)?,
            mask: mask.squeeze(1)?,
            features: h,
        })
    }
}

impl SpectrumResNet {
    /// The same network with every batch norm folded into its convolution for eval-mode inference
    /// (fewer passes over the feature maps; outputs equal to float rounding). Training mode still uses
    /// the unfolded layers, so fold a copy that is only used for inference.
    pub fn fold_batch_norm(&self) -> Result<SpectrumResNet> {
        let mut net = self.clone();
        net.stem.fold()?;
        for block in net.stages.iter_mut().flatten() {
            block.a.fold()?;
            block.b.fold()?;
            if let Some(s) = block.skip.as_mut() {
                s.fold()?;
            }
        }
        Ok(net)
    }

    /// Class activation map of `class` on a feature map (1, channels, h, w): the severity head's
    /// weights for that class applied at every position, (h, w). With global average pooling before a
    /// linear head this equals Grad-CAM (the gradient of the logit with respect to each feature map is
    /// the class weight over h*w), without a backward pass. Negative values mean evidence against.
    pub fn class_activation(&self, features: &Tensor, class: usize) -> Result<Tensor> {
        let (_, c, h, w) = features.dims4()?;
        let weights = self.severity.weight().narrow(0, class, 1)?.reshape((c, 1))?;
        features.reshape((c, h * w))?.t()?.matmul(&weights)?.reshape((h, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    fn small() -> CnnConfig {
        CnnConfig { width: 8, blocks: [1, 1, 1, 1], input: 64, stem_stride: 2, ..CnnConfig::default() }
    }

    #[test]
    fn shapes_of_every_head() -> Result<()> {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let net = SpectrumResNet::new(&small(), vb)?;
        let x = Tensor::randn(0f32, 1.0, (3, 1, 64, 64), &Device::Cpu)?;
        let out = net.forward_t(&x, false)?;
        assert_eq!(out.severity.dims(), &[3, 4]);
        assert_eq!(out.bbox.dims(), &[3, 4]);
        assert_eq!(out.objectness.dims(), &[3]);
        assert_eq!(out.region_affected.dims(), &[3, 5]);
        assert_eq!(out.region_level.dims(), &[3, 5]);
        // Stem /2 then three /2 stages: 64 -> 4.
        assert_eq!(out.features.dims(), &[3, 64, 4, 4]);
        assert_eq!(out.mask.dims(), &[3, 32, 32]);
        // A stride-4 stem: 128 -> 32-cell mask, 4 x 4 features.
        let cfg = CnnConfig { width: 8, blocks: [1, 1, 1, 1], ..CnnConfig::default() };
        let net = SpectrumResNet::new(&cfg, VarBuilder::from_varmap(&VarMap::new(), DType::F32, &Device::Cpu))?;
        let out = net.forward_t(&Tensor::zeros((1, 1, 128, 128), DType::F32, &Device::Cpu)?, false)?;
        assert_eq!((out.mask.dims(), out.features.dims()), (&[1, 32, 32][..], &[1, 64, 4, 4][..]));
        let b = out.bbox.flatten_all()?.to_vec1::<f32>()?;
        assert!(b.iter().all(|v| (0.0..=1.0).contains(v)));
        Ok(())
    }

    #[test]
    fn gradients_reach_every_trainable_tensor_and_train_mode_updates_running_stats() -> Result<()> {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let net = SpectrumResNet::new(&small(), vb)?;
        let x = Tensor::randn(0f32, 1.0, (4, 1, 64, 64), &Device::Cpu)?;
        let out = net.forward_t(&x, true)?;
        let loss = (out.severity.sqr()?.mean_all()?
            + out.bbox.mean_all()?
            + out.objectness.mean_all()?
            + out.region_affected.mean_all()?
            + out.region_level.mean_all()?
            + out.mask.mean_all()?)?;
        let grads = loss.backward()?;
        let data = vm.data().lock().map_err(|e| candle_core::Error::msg(e.to_string()))?;
        let mut missing = Vec::new();
        for (name, var) in data.iter() {
            if name.ends_with("running_mean") || name.ends_with("running_var") {
                continue;
            }
            if grads.get(var.as_tensor()).is_none() {
                missing.push(name.clone());
            }
        }
        assert!(missing.is_empty(), "no gradient for {missing:?}");
        let mean = data.get("stem.bn.running_mean").map(|v| v.as_tensor().abs().map(|t| t.sum_all()));
        let moved = mean.and_then(|r| r.ok()).and_then(|r| r.ok()).and_then(|t| t.to_scalar::<f32>().ok());
        assert!(moved.is_some_and(|m| m > 0.0), "running mean did not move: {moved:?}");
        Ok(())
    }

    #[test]
    fn eval_mode_is_deterministic_and_independent_of_the_batch() -> Result<()> {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let net = SpectrumResNet::new(&small(), vb)?;
        let x = Tensor::randn(0f32, 1.0, (2, 1, 64, 64), &Device::Cpu)?;
        let both = net.forward_t(&x, false)?.severity;
        let first = net.forward_t(&x.narrow(0, 0, 1)?, false)?.severity;
        let diff = (both.narrow(0, 0, 1)? - first)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        Ok(())
    }

    #[test]
    fn class_activation_averages_to_the_logit_minus_bias() -> Result<()> {
        let vm = VarMap::new();
        let net = SpectrumResNet::new(&small(), VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))?;
        let x = Tensor::randn(0f32, 1.0, (1, 1, 64, 64), &Device::Cpu)?;
        let out = net.forward_t(&x, false)?;
        for class in 0..4 {
            let cam = net.class_activation(&out.features, class)?;
            assert_eq!(cam.dims(), &[4, 4]);
            let bias = net.severity.bias().map(|b| b.get(class)).transpose()?;
            let bias = bias.map_or(Ok(0.0), |b| b.to_scalar::<f32>())?;
            let logit = out.severity.get(0)?.get(class)?.to_scalar::<f32>()?;
            let mean = cam.mean_all()?.to_scalar::<f32>()?;
            assert!((mean + bias - logit).abs() < 1e-4, "class {class}: {mean} + {bias} vs {logit}");
        }
        Ok(())
    }

    #[test]
    fn folded_batch_norm_gives_the_same_outputs() -> Result<()> {
        let vm = VarMap::new();
        let net = SpectrumResNet::new(&small(), VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))?;
        // Move the running statistics away from 0 / 1 so the fold has something to fold.
        for _ in 0..3 {
            let x = ((Tensor::randn(0f32, 1.0, (4, 1, 64, 64), &Device::Cpu)? * 3.0)? + 1.0)?;
            net.forward_t(&x, true)?;
        }
        let folded = net.fold_batch_norm()?;
        let x = Tensor::randn(0f32, 1.0, (2, 1, 64, 64), &Device::Cpu)?;
        let (a, b) = (net.forward_t(&x, false)?, folded.forward_t(&x, false)?);
        for (p, q) in [(&a.severity, &b.severity), (&a.mask, &b.mask), (&a.region_level, &b.region_level)] {
            let diff = (p - q)?.abs()?.max_all()?.to_scalar::<f32>()?;
            let size = p.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff <= 1e-4 * size.max(1.0), "{diff} vs {size}");
        }
        Ok(())
    }

    /// The fused CPU kernel against candle's layers, on every head of the shipped architecture:
    /// within 1e-5 of each output's largest magnitude, both of the unfolded network (conv + batch norm
    /// with trained running statistics) and of the folded network on candle's conv2d (the path before
    /// the kernel existed).
    #[test]
    fn fused_kernel_gives_every_head_of_the_reference() -> Result<()> {
        let cfg = CnnConfig { width: 16, ..CnnConfig::default() };
        let vm = VarMap::new();
        let net = SpectrumResNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))?;
        for _ in 0..3 {
            let x = ((Tensor::randn(0f32, 1.0, (4, 1, 128, 128), &Device::Cpu)? * 3.0)? + 1.0)?;
            net.forward_t(&x, true)?;
        }
        let fast = net.fold_batch_norm()?;
        let mut folded = fast.clone();
        folded.stem.eval = None;
        for block in folded.stages.iter_mut().flatten() {
            for conv in [Some(&mut block.a), Some(&mut block.b), block.skip.as_mut()].into_iter().flatten() {
                conv.eval = None;
            }
        }
        for batch in [1, 3, 16] {
            let x = Tensor::randn(0f32, 1.0, (batch, 1, 128, 128), &Device::Cpu)?;
            let got = fast.forward_t(&x, false)?;
            for (name, want) in [("unfolded", net.forward_t(&x, false)?), ("folded", folded.forward_t(&x, false)?)] {
                let heads = [
                    ("severity", &got.severity, &want.severity),
                    ("bbox", &got.bbox, &want.bbox),
                    ("objectness", &got.objectness, &want.objectness),
                    ("region_affected", &got.region_affected, &want.region_affected),
                    ("region_level", &got.region_level, &want.region_level),
                    ("mask", &got.mask, &want.mask),
                    ("features", &got.features, &want.features),
                ];
                for (head, p, q) in heads {
                    assert_eq!(p.dims(), q.dims(), "{head}");
                    let diff = (p - q)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
                    let size = q.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
                    assert!(diff <= 1e-5 * size, "batch {batch}, {head} vs {name}: {diff} (largest {size})");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let bad = CnnConfig { input: 100, ..CnnConfig::default() };
        assert!(bad.validate().unwrap_err().contains("multiple of 32"));
        let bad_stride = CnnConfig { stem_stride: 3, ..CnnConfig::default() };
        assert!(bad_stride.validate().unwrap_err().contains("stem_stride"));
        // Old configs without the field read as stride 2.
        let old: CnnConfig = serde_json::from_str(
            r#"{"width":8,"blocks":[1,1,1,1],"input":64,"in_channels":1,"classes":4,"regions":5}"#,
        )
        .unwrap();
        assert_eq!(old.stem_stride, 2);
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        assert!(SpectrumResNet::new(&bad, vb).is_err());
    }
}
