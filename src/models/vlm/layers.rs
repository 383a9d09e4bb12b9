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

/// Statistics and softmax run in f32, or f64 when the model runs in f64 (gradient checks).
fn stat_dtype(dtype: DType) -> DType {
    if dtype == DType::F64 { DType::F64 } else { DType::F32 }
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
}
