//! Building blocks shared by the Qwen vision towers and decoders: linear layers fetched with their
//! expected shapes, RMS and layer norms, rotary application, and scaled-dot-product attention with an
//! optional causal mask. Pure tensor functions; they run on whichever thread runs the model.

use candle_core::{D, DType, Device, Tensor};
use candle_nn::Module;

use super::VlmError;
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

/// `y = x W^T + b`.
pub struct Linear(candle_nn::Linear);

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
        Ok(Self(candle_nn::Linear::new(weight, bias)))
    }

    pub fn from_weight(weight: Tensor) -> Self {
        Self(candle_nn::Linear::new(weight, None))
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.0.forward(x)
    }
}

/// Root-mean-square norm (Qwen2RMSNorm).
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn load(w: &Weights, name: &str, dim: usize, eps: f64) -> Result<Self, VlmError> {
        Ok(Self { weight: w.text(&format!("{name}.weight"), &[dim])?, eps })
    }

    /// Fused (candle's CPU/CUDA kernel; no backward: training will need the composed form).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps as f32)
    }
}

/// Layer norm with weight and bias (the vision tower's, eps 1e-6).
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn load(w: &Weights, tower: Tower, name: &str, dim: usize, eps: f64) -> Result<Self, VlmError> {
        Ok(Self {
            weight: fetch(w, tower, &format!("{name}.weight"), &[dim])?,
            bias: fetch(w, tower, &format!("{name}.bias"), &[dim])?,
            eps,
        })
    }

    /// Fused, like [`RmsNorm::forward`].
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, &self.bias, self.eps as f32)
    }
}

/// Rotate-half rotary embedding: `x * cos + rotate_half(x) * sin` for `x` `[b, heads, t, d]`, where
/// `cos`/`sin` are `[t, d / 2]` (the angles of one half; the other half repeats them). Fused kernel.
pub fn apply_rotary(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin)
}

/// Softmax attention over `[b, heads, tq, d]` queries and `[b, heads, tk, d]` keys and values. With
/// `causal`, query `i` sees keys up to `offset + i` (the keys before the queries are the KV cache).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool) -> candle_core::Result<Tensor> {
    let d = q.dim(D::Minus1)?;
    #[allow(clippy::cast_precision_loss)]
    let scale = 1.0 / (d as f64).sqrt();
    let dtype = q.dtype();
    let mut scores = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? * scale)?.to_dtype(DType::F32)?;
    let (tq, tk) = (q.dim(2)?, k.dim(2)?);
    if causal && tq > 1 {
        scores = scores.broadcast_add(&causal_mask(tq, tk, q.device())?)?;
    }
    let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(dtype)?;
    probs.matmul(&v.contiguous()?)
}

/// `[tq, tk]` additive mask: 0 where query `i` may see key `j` (j <= tk - tq + i), -inf elsewhere.
fn causal_mask(tq: usize, tk: usize, device: &Device) -> candle_core::Result<Tensor> {
    let offset = tk - tq;
    let mask: Vec<f32> =
        (0..tq).flat_map(|i| (0..tk).map(move |j| if j <= offset + i { 0.0 } else { f32::NEG_INFINITY })).collect();
    Tensor::from_vec(mask, (tq, tk), device)
}

/// Repeat each key/value head `n` times (grouped-query attention): `[b, kv, t, d]` to `[b, kv*n, t, d]`.
pub fn repeat_kv(x: &Tensor, n: usize) -> candle_core::Result<Tensor> {
    if n == 1 {
        return Ok(x.clone());
    }
    let (b, kv, t, d) = x.dims4()?;
    x.unsqueeze(2)?.expand((b, kv, n, t, d))?.reshape((b, kv * n, t, d))
}
