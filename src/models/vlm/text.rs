//! The Qwen2 language model of Qwen2-VL: token embeddings, pre-norm decoder layers with grouped-query
//! attention and multimodal rotary positions (M-RoPE: each rotary frequency follows the temporal, row
//! or column position according to `mrope_section`), a KV cache for generation, and the output head
//! (tied to the embeddings or not). Runs on the model's thread.

use candle_core::{D, Device, Tensor};

use super::VlmError;
use super::config::{Activation, TextConfig};
use super::layers::{Linear, RmsNorm, Tower, apply_rotary, attend};
use super::vision::inverse_frequencies;
use super::weights::Weights;

struct Layer {
    /// Qwen3's per-head norms on queries and keys.
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    input_norm: RmsNorm,
    post_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// Keys and values of every layer for the tokens seen so far.
#[derive(Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// Tokens held.
    pub fn len(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Positions of each token on the three rotary axes (temporal, row, column).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Positions {
    pub axes: [Vec<i64>; 3],
}

impl Positions {
    /// Text-only positions `start..start+n` on all three axes.
    pub fn text(start: i64, n: usize) -> Self {
        #[allow(clippy::cast_possible_wrap)]
        let p: Vec<i64> = (0..n as i64).map(|i| start + i).collect();
        Self { axes: [p.clone(), p.clone(), p] }
    }

    pub fn len(&self) -> usize {
        self.axes[0].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One past the largest position (where text after this span continues).
    pub fn next(&self) -> i64 {
        self.axes.iter().flat_map(|a| a.iter().copied()).max().map_or(0, |m| m + 1)
    }
}

pub struct TextModel {
    cfg: TextConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Linear,
    inv_freq: Vec<f32>,
    /// Fused kernels (inference) or ops with a backward pass (training).
    fused: bool,
}

impl TextModel {
    pub fn load(w: &Weights, cfg: &TextConfig) -> Result<Self, VlmError> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let (q_dim, kv_dim) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
        let embed = w.text("embed_tokens.weight", &[cfg.vocab_size, h])?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("layers.{i}");
            let lin = |name: &str, i: usize, o: usize, bias: bool| {
                Linear::load(w, Tower::Text, &format!("{p}.{name}"), i, o, bias)
            };
            let head_norm = |name: &str| -> Result<Option<RmsNorm>, VlmError> {
                if cfg.qk_norm {
                    Ok(Some(RmsNorm::load(w, &format!("{p}.self_attn.{name}"), hd, cfg.rms_norm_eps)?))
                } else {
                    Ok(None)
                }
            };
            layers.push(Layer {
                q_norm: head_norm("q_norm")?,
                k_norm: head_norm("k_norm")?,
                input_norm: RmsNorm::load(w, &format!("{p}.input_layernorm"), h, cfg.rms_norm_eps)?,
                post_norm: RmsNorm::load(w, &format!("{p}.post_attention_layernorm"), h, cfg.rms_norm_eps)?,
                q: lin("self_attn.q_proj", h, q_dim, cfg.qkv_bias)?,
                k: lin("self_attn.k_proj", h, kv_dim, cfg.qkv_bias)?,
                v: lin("self_attn.v_proj", h, kv_dim, cfg.qkv_bias)?,
                o: lin("self_attn.o_proj", q_dim, h, cfg.o_bias)?,
                gate: lin("mlp.gate_proj", h, cfg.intermediate_size, false)?.activated(Activation::Silu)?,
                up: lin("mlp.up_proj", h, cfg.intermediate_size, false)?,
                down: lin("mlp.down_proj", cfg.intermediate_size, h, false)?,
            });
        }
        // A tied checkpoint may still carry lm_head.weight; an untied one must.
        let lm_head = if cfg.tie_word_embeddings && !w.contains("lm_head.weight") {
            Linear::new(embed.clone(), None, !w.trainable())
        } else {
            Linear::new(w.get("lm_head.weight", &[cfg.vocab_size, h])?, None, !w.trainable())
        }
        .map_err(VlmError::Candle)?;
        Ok(Self {
            cfg: cfg.clone(),
            embed,
            layers,
            norm: RmsNorm::load(w, "norm", h, cfg.rms_norm_eps)?,
            lm_head,
            inv_freq: inverse_frequencies(hd, cfg.rope_theta),
            fused: !w.trainable(),
        })
    }

    pub fn config(&self) -> &TextConfig {
        &self.cfg
    }

    /// Embeddings `[n, hidden]` of token ids.
    pub fn embed(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
        let ids = Tensor::from_slice(ids, ids.len(), self.embed.device())?;
        self.embed.index_select(&ids, 0)
    }

    /// Run `embeds` (`[n, hidden]`) at `positions` after what `cache` holds, appending to the cache.
    /// `deepstack[i]` (`[n, hidden]`, zero outside image tokens) is added to layer `i`'s output (Qwen3).
    /// Returns logits `[n, vocab]`, or `[1, vocab]` for the last token only when `last_only`.
    pub fn forward(
        &self,
        embeds: &Tensor,
        positions: &Positions,
        cache: &mut KvCache,
        last_only: bool,
        deepstack: &[Tensor],
    ) -> candle_core::Result<Tensor> {
        let n = embeds.dim(0)?;
        if positions.len() != n {
            candle_core::bail!("{} positions for {n} tokens", positions.len());
        }
        let (cos, sin) = self.rotary(positions, embeds.device())?;
        let dtype = embeds.dtype();
        let (cos, sin) = (cos.to_dtype(dtype)?, sin.to_dtype(dtype)?);
        if cache.layers.len() != self.layers.len() {
            cache.layers = vec![None; self.layers.len()];
        }
        let (heads, kv_heads, hd) = (self.cfg.num_attention_heads, self.cfg.num_key_value_heads, self.cfg.head_dim);
        let mut x = embeds.unsqueeze(0)?;
        for (index, (layer, slot)) in self.layers.iter().zip(cache.layers.iter_mut()).enumerate() {
            let h = layer.input_norm.forward(&x)?;
            let heads_of = |t: Tensor, nh: usize, norm: &Option<RmsNorm>| -> candle_core::Result<Tensor> {
                let t = t.reshape((1, n, nh, hd))?;
                let t = match norm {
                    Some(norm) => norm.forward(&t)?,
                    None => t,
                };
                t.transpose(1, 2)?.contiguous()
            };
            let split = |t: Tensor, nh: usize| heads_of(t, nh, &None);
            let q = apply_rotary(&heads_of(layer.q.forward(&h)?, heads, &layer.q_norm)?, &cos, &sin, self.fused)?;
            let k = apply_rotary(&heads_of(layer.k.forward(&h)?, kv_heads, &layer.k_norm)?, &cos, &sin, self.fused)?;
            let v = split(layer.v.forward(&h)?, kv_heads)?;
            let (k, v) = match slot.take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            *slot = Some((k.clone(), v.clone()));
            let out = attend(&q, &k, &v, true, None, self.fused)?.unsqueeze(0)?;
            x = layer.o.forward_add(&out, &x)?;
            let h = layer.post_norm.forward(&x)?;
            x = layer.down.forward_add(&layer.up.forward_mul(&h, &layer.gate.forward(&h)?)?, &x)?;
            if let Some(extra) = deepstack.get(index) {
                x = x.broadcast_add(&extra.unsqueeze(0)?)?;
            }
        }
        let x = x.squeeze(0)?;
        let x = if last_only { x.narrow(0, n - 1, 1)? } else { x };
        self.lm_head.forward(&self.norm.forward(&x)?)
    }

    /// Cos and sin `[n, head_dim / 2]`: frequency `i` turns with the axis its `mrope_section` assigns.
    fn rotary(&self, positions: &Positions, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let axis_of = axis_of_frequency(&self.cfg.mrope_section, half, self.cfg.mrope_interleaved);
        let n = positions.len();
        let mut cos = Vec::with_capacity(n * half);
        let mut sin = Vec::with_capacity(n * half);
        for t in 0..n {
            for (&f, &axis) in self.inv_freq.iter().zip(&axis_of) {
                #[allow(clippy::cast_precision_loss)]
                let angle = positions.axes[axis][t] as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok((Tensor::from_vec(cos, (n, half), device)?, Tensor::from_vec(sin, (n, half), device)?))
    }
}

/// Which position axis (0 temporal, 1 row, 2 column) each of the `half` rotary frequencies follows.
/// Qwen2-VL: consecutive blocks of `section[0]`, `section[1]`, `section[2]` frequencies. Qwen3-VL
/// (interleaved): frequency `i` follows the row when `i % 3 == 1 && i < 3 * section[1]`, the column
/// when `i % 3 == 2 && i < 3 * section[2]`, the temporal axis otherwise.
pub fn axis_of_frequency(section: &[usize], half: usize, interleaved: bool) -> Vec<usize> {
    if interleaved {
        (0..half)
            .map(|i| match i % 3 {
                1 if i < 3 * section[1] => 1,
                2 if i < 3 * section[2] => 2,
                _ => 0,
            })
            .collect()
    } else {
        let mut axes = Vec::with_capacity(half);
        for (axis, &count) in section.iter().enumerate() {
            axes.extend(std::iter::repeat_n(axis, count));
        }
        axes
    }
}

/// Log-softmax over the last dimension, in f32.
pub fn log_softmax(logits: &Tensor) -> candle_core::Result<Tensor> {
    let l = logits.to_dtype(candle_core::DType::F32)?;
    let max = l.max_keepdim(D::Minus1)?;
    let shifted = l.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_axes_follow_the_sections() {
        assert_eq!(axis_of_frequency(&[1, 1, 2], 4, false), vec![0, 1, 2, 2]);
        // Qwen3-VL's [24, 20, 20] over 64 frequencies: t h w t h w ... and the tail on t.
        let axes = axis_of_frequency(&[24, 20, 20], 64, true);
        assert_eq!(&axes[..6], &[0, 1, 2, 0, 1, 2]);
        assert_eq!(axes.iter().filter(|&&a| a == 1).count(), 20);
        assert_eq!(axes.iter().filter(|&&a| a == 2).count(), 20);
        assert_eq!(&axes[60..], &[0, 0, 0, 0]);
    }
}
