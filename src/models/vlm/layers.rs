//! Building blocks shared by the Qwen vision towers and decoders: linear layers fetched with their
//! expected shapes, RMS and layer norms, rotary application, and scaled-dot-product attention with an
//! optional causal mask. Pure tensor functions; they run on whichever thread runs the model.

use candle_core::{D, DType, Device, Tensor};
use candle_nn::Module;

use super::VlmError;
use super::config::Activation;
use super::kernels::{CpuAttention, CpuLinear, Third};
use super::weights::Weights;

/// Which tower a tensor belongs to (they live under different prefixes).
#[derive(Clone, Copy)]
pub enum Tower {
    Text,
    Vision,
}

fn fetch(w: &Weights, tower: Tower, name: &str, shape: &[usize]) -> Result<Tensor, VlmError> {
    match tower {
        Tower::Text => w.text(name, shape),
        Tower::Vision => w.vision(name, shape),
    }
}

/// Statistics and softmax run in f32, or f64 when the model runs in f64 (gradient checks).
fn stat_dtype(dtype: DType) -> DType {
    if dtype == DType::F64 { DType::F64 } else { DType::F32 }
}

/// `y = act(x W^T + b)`: candle's layer and ops when training (they have a backward pass) or off the
/// CPU, heatscope's fused CPU kernel for inference in f32.
pub struct Linear {
    layer: candle_nn::Linear,
    act: Option<Activation>,
    cpu: Option<CpuLinear>,
}

impl Linear {
    pub fn load(
        w: &Weights,
        tower: Tower,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
    ) -> Result<Self, VlmError> {
        let weight = fetch(w, tower, &format!("{name}.weight"), &[out_dim, in_dim])?;
        let bias = if bias { Some(fetch(w, tower, &format!("{name}.bias"), &[out_dim])?) } else { None };
        Self::new(weight, bias, !w.trainable()).map_err(VlmError::Candle)
    }

    /// A layer from its weight (and bias); `fused` picks the CPU kernel where it applies.
    pub fn new(weight: Tensor, bias: Option<Tensor>, fused: bool) -> candle_core::Result<Self> {
        let cpu = if fused { CpuLinear::new(&weight, bias.as_ref(), None)? } else { None };
        Ok(Self { layer: candle_nn::Linear::new(weight, bias), act: None, cpu })
    }

    /// The same layer followed by `act`.
    pub fn activated(self, act: Activation) -> candle_core::Result<Self> {
        let cpu = match self.cpu {
            Some(_) => CpuLinear::new(self.layer.weight(), self.layer.bias(), Some(act))?,
            None => None,
        };
        Ok(Self { act: Some(act), cpu, ..self })
    }

    fn composed(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = self.layer.forward(x)?;
        match self.act {
            Some(act) => activate(&y, act),
            None => Ok(y),
        }
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match &self.cpu {
            Some(cpu) if CpuLinear::accepts(x) => cpu.forward(x, self.layer.weight(), None),
            _ => self.composed(x),
        }
    }

    /// `residual + act(x W^T + b)`: in one pass over the output on the CPU kernel.
    pub fn forward_add(&self, x: &Tensor, residual: &Tensor) -> candle_core::Result<Tensor> {
        self.with(x, residual, Third::Residual)
    }

    /// `act(x W^T + b) * gate` (a gated MLP's branch), in one pass over the output on the CPU kernel.
    pub fn forward_mul(&self, x: &Tensor, gate: &Tensor) -> candle_core::Result<Tensor> {
        self.with(x, gate, Third::Product)
    }

    fn with(&self, x: &Tensor, third: &Tensor, how: Third) -> candle_core::Result<Tensor> {
        match &self.cpu {
            Some(cpu) if CpuLinear::accepts(x) && CpuLinear::accepts(third) => {
                cpu.forward(x, self.layer.weight(), Some((third, how)))
            }
            _ => match how {
                Third::Residual => third + self.composed(x)?,
                Third::Product => self.composed(x)? * third,
            },
        }
    }
}

/// An activation through candle's ops (the training path; the CPU kernel computes the same values).
pub fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        // x * sigmoid(1.702 x)
        Activation::QuickGelu => x.broadcast_mul(&candle_nn::ops::sigmoid(&(x * 1.702)?)?),
        Activation::Gelu => x.gelu_erf(),
        Activation::GeluTanh => x.gelu(),
        Activation::Silu => x.silu(),
    }
}

/// Root-mean-square norm (Qwen2RMSNorm).
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
    fused: bool,
}

impl RmsNorm {
    pub fn load(w: &Weights, name: &str, dim: usize, eps: f64) -> Result<Self, VlmError> {
        Ok(Self { weight: w.text(&format!("{name}.weight"), &[dim])?, eps, fused: !w.trainable() })
    }

    /// Fused kernel for inference; composed ops (which have a backward pass) when training.
    /// Statistics in f32 whatever the run dtype.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.fused {
            #[allow(clippy::cast_possible_truncation)]
            return candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps as f32);
        }
        let dtype = x.dtype();
        let xf = x.to_dtype(stat_dtype(dtype))?;
        let var = xf.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = xf.broadcast_div(&(var + self.eps)?.sqrt()?)?.to_dtype(dtype)?;
        normed.broadcast_mul(&self.weight)
    }
}

/// Layer norm with weight and bias (the vision tower's, eps 1e-6).
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    fused: bool,
}

impl LayerNorm {
    pub fn load(w: &Weights, tower: Tower, name: &str, dim: usize, eps: f64) -> Result<Self, VlmError> {
        Ok(Self {
            weight: fetch(w, tower, &format!("{name}.weight"), &[dim])?,
            bias: fetch(w, tower, &format!("{name}.bias"), &[dim])?,
            eps,
            fused: !w.trainable(),
        })
    }

    /// Fused or composed, like [`RmsNorm::forward`].
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.fused {
            #[allow(clippy::cast_possible_truncation)]
            return candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, &self.bias, self.eps as f32);
        }
        let dtype = x.dtype();
        let xf = x.to_dtype(stat_dtype(dtype))?;
        let mean = xf.mean_keepdim(D::Minus1)?;
        let centred = xf.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?.to_dtype(dtype)?;
        normed.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }
}

/// Rotate-half rotary embedding: `x * cos + rotate_half(x) * sin` for `x` `[b, heads, t, d]`, where
/// `cos`/`sin` are `[t, d / 2]` (the angles of one half; the other half repeats them). Fused kernel,
/// or composed ops with a backward pass when `fused` is false.
pub fn apply_rotary(x: &Tensor, cos: &Tensor, sin: &Tensor, fused: bool) -> candle_core::Result<Tensor> {
    if fused {
        return candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin);
    }
    let d = x.dim(D::Minus1)?;
    let cos = Tensor::cat(&[cos, cos], D::Minus1)?;
    let sin = Tensor::cat(&[sin, sin], D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(&cos)?.add(&rotated.broadcast_mul(&sin)?)
}

/// Score elements one attention chunk may hold (64 M f32 = 256 MiB); longer prompts and large images
/// are processed in blocks of queries so memory stays bounded.
const MAX_SCORES: usize = 64 << 20;

/// Softmax attention over `[b, heads, tq, d]` queries and `[b, heads, tk, d]` keys and values. With
/// `causal`, query `i` sees keys up to `tk - tq + i` (the keys before the queries are the KV cache).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, fused: bool) -> candle_core::Result<Tensor> {
    let (b, heads, tq, _) = q.dims4()?;
    let tk = k.dim(2)?;
    let k_t = k.t()?.contiguous()?;
    let v = v.contiguous()?;
    let rows = (MAX_SCORES / (b * heads * tk).max(1)).max(1);
    if rows >= tq {
        return attention_block(&q.contiguous()?, &k_t, &v, causal.then_some((0, tq, tk)), fused);
    }
    let mut outs = Vec::new();
    let mut start = 0;
    while start < tq {
        let n = rows.min(tq - start);
        let block = q.narrow(2, start, n)?.contiguous()?;
        outs.push(attention_block(&block, &k_t, &v, causal.then_some((start, tq, tk)), fused)?);
        start += n;
    }
    Tensor::cat(&outs, 2)
}

/// One block of queries; `causal` = (index of the block's first query, all queries, keys).
fn attention_block(
    q: &Tensor,
    k_t: &Tensor,
    v: &Tensor,
    causal: Option<(usize, usize, usize)>,
    fused: bool,
) -> candle_core::Result<Tensor> {
    let d = q.dim(D::Minus1)?;
    #[allow(clippy::cast_precision_loss)]
    let scale = 1.0 / (d as f64).sqrt();
    let dtype = q.dtype();
    let mut scores = (q.matmul(k_t)? * scale)?.to_dtype(stat_dtype(dtype))?;
    if let Some((first, tq, tk)) = causal
        && tq > 1
    {
        let mask = causal_mask(first, q.dim(2)?, tq, tk, q.device())?.to_dtype(scores.dtype())?;
        scores = scores.broadcast_add(&mask)?;
    }
    let probs =
        if fused { candle_nn::ops::softmax_last_dim(&scores)? } else { candle_nn::ops::softmax(&scores, D::Minus1)? };
    let probs = probs.to_dtype(dtype)?;
    probs.matmul(v)
}

/// `[n, tk]` additive mask for queries `first..first + n` of `tq`: 0 where query `i` may see key `j`
/// (`j <= tk - tq + i`), -inf elsewhere.
fn causal_mask(first: usize, n: usize, tq: usize, tk: usize, device: &Device) -> candle_core::Result<Tensor> {
    let offset = tk - tq;
    let mask: Vec<f32> = (first..first + n)
        .flat_map(|i| (0..tk).map(move |j| if j <= offset + i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    Tensor::from_vec(mask, (n, tk), device)
}

/// Attention of `q` `[1, heads, tq, d]` over `k`, `v` `[1, kv_heads, tk, d]` (grouped-query when there
/// are fewer key/value heads), over every key (`causal` as in [`attention`]) or, with `segments`
/// (lengths along the sequence, `tq == tk`), within each segment only. Returns `[tq, heads * d]`, the
/// heads side by side as the output projection reads them: the fused CPU kernel for f32 inference,
/// composed ops otherwise.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    causal: bool,
    segments: Option<&[usize]>,
    fused: bool,
) -> candle_core::Result<Tensor> {
    if fused && [q, k, v].iter().all(|t| CpuAttention::accepts(t)) {
        return CpuAttention { causal, segments }.forward(q, k, v)?.squeeze(0);
    }
    let group = q.dim(1)? / k.dim(1)?.max(1);
    let (k, v) = (repeat_kv(k, group)?, repeat_kv(v, group)?);
    let out = match segments {
        None => attention(q, &k, &v, causal, fused)?,
        Some(lengths) => {
            let mut outs = Vec::with_capacity(lengths.len());
            let mut start = 0;
            for &n in lengths {
                let take = |t: &Tensor| t.narrow(2, start, n);
                outs.push(attention(&take(q)?, &take(&k)?, &take(&v)?, causal, fused)?);
                start += n;
            }
            Tensor::cat(&outs, 2)?
        }
    };
    let (_, heads, tq, d) = out.dims4()?;
    out.squeeze(0)?.transpose(0, 1)?.reshape((tq, heads * d))
}

/// Repeat each key/value head `n` times (grouped-query attention): `[b, kv, t, d]` to `[b, kv*n, t, d]`.
pub fn repeat_kv(x: &Tensor, n: usize) -> candle_core::Result<Tensor> {
    if n == 1 {
        return Ok(x.clone());
    }
    let (b, kv, t, d) = x.dims4()?;
    x.unsqueeze(2)?.expand((b, kv, n, t, d))?.reshape((b, kv * n, t, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_attention_equals_one_block() {
        let dev = Device::Cpu;
        let q = Tensor::randn(0f32, 1.0, (1, 2, 9, 4), &dev).expect("q");
        let k = Tensor::randn(0f32, 1.0, (1, 2, 12, 4), &dev).expect("k");
        let v = Tensor::randn(0f32, 1.0, (1, 2, 12, 4), &dev).expect("v");
        for causal in [false, true] {
            let whole = attention_block(
                &q,
                &k.t().expect("t").contiguous().expect("c"),
                &v,
                causal.then_some((0, 9, 12)),
                true,
            )
            .expect("whole");
            let mut parts = Vec::new();
            for (start, n) in [(0, 4), (4, 4), (8, 1)] {
                let block = q.narrow(2, start, n).expect("narrow").contiguous().expect("c");
                let kt = k.t().expect("t").contiguous().expect("c");
                parts.push(attention_block(&block, &kt, &v, causal.then_some((start, 9, 12)), true).expect("part"));
            }
            let chunked = Tensor::cat(&parts, 2).expect("cat");
            let diff: f32 =
                (whole - chunked).expect("sub").abs().expect("abs").max_all().expect("max").to_scalar().expect("f32");
            assert!(diff < 1e-6, "causal {causal}: {diff}");
        }
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).expect("sub").abs().expect("abs").max_all().expect("max").to_scalar().expect("f32")
    }

    #[test]
    fn composed_ops_equal_the_fused_kernels() {
        // Training runs the composed versions (they have a backward pass); inference the fused ones.
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (1, 2, 5, 8), &dev).expect("x");
        let cos = Tensor::randn(0f32, 1.0, (5, 4), &dev).expect("cos");
        let sin = Tensor::randn(0f32, 1.0, (5, 4), &dev).expect("sin");
        let d = max_diff(
            &apply_rotary(&x, &cos, &sin, true).expect("fused"),
            &apply_rotary(&x, &cos, &sin, false).expect("composed"),
        );
        assert!(d < 1e-6, "rotary {d}");
        let k = Tensor::randn(0f32, 1.0, (1, 2, 7, 8), &dev).expect("k");
        let v = Tensor::randn(0f32, 1.0, (1, 2, 7, 8), &dev).expect("v");
        let d = max_diff(
            &attention(&x, &k, &v, true, true).expect("fused"),
            &attention(&x, &k, &v, true, false).expect("composed"),
        );
        assert!(d < 1e-6, "attention {d}");
        let w = Tensor::randn(0f32, 1.0, 8, &dev).expect("w");
        let b = Tensor::randn(0f32, 1.0, 8, &dev).expect("b");
        let rms = |fused| RmsNorm { weight: w.clone(), eps: 1e-6, fused }.forward(&x).expect("rms");
        assert!(max_diff(&rms(true), &rms(false)) < 1e-5);
        let ln = |fused| LayerNorm { weight: w.clone(), bias: b.clone(), eps: 1e-6, fused }.forward(&x).expect("ln");
        assert!(max_diff(&ln(true), &ln(false)) < 1e-5);
    }

    #[test]
    fn causal_mask_lets_each_query_see_the_cache_and_its_past() {
        // 2 cached keys, 3 new queries: query 0 sees keys 0..=2, query 2 sees all 5.
        let m: Vec<Vec<f32>> = causal_mask(0, 3, 3, 5, &Device::Cpu).expect("mask").to_vec2().expect("vec");
        let visible: Vec<usize> = m.iter().map(|r| r.iter().filter(|x| x.is_finite()).count()).collect();
        assert_eq!(visible, vec![3, 4, 5]);
        let tail: Vec<Vec<f32>> = causal_mask(2, 1, 3, 5, &Device::Cpu).expect("mask").to_vec2().expect("vec");
        assert_eq!(tail[0].iter().filter(|x| x.is_finite()).count(), 5);
    }

    #[test]
    fn quick_gelu_matches_formula() {
        let x = Tensor::new(&[-2.0f32, 0.0, 1.5], &Device::Cpu).expect("tensor");
        let y: Vec<f32> = activate(&x, Activation::QuickGelu).expect("act").to_vec1().expect("vec");
        for (xi, yi) in [-2.0f32, 0.0, 1.5].iter().zip(y) {
            let want = xi / (1.0 + (-1.702 * xi).exp());
            assert!((want - yi).abs() < 1e-6);
        }
    }
}
