//! The Qwen-VL vision towers: a linear patch embedding (the reference's Conv3d with stride = kernel;
//! Qwen3 adds a bias and learned positions interpolated to the image grid), 2-D rotary positions
//! (height and width halves), pre-norm transformer blocks whose attention stays within each image, the
//! patch merger that turns each 2x2 block of patches into one language-model token, and Qwen3's
//! deepstack mergers on intermediate blocks. Input comes from [`super::preprocess`]; output rows are in the same block-major order as the
//! image tokens in the prompt. Runs on the model's thread.

use candle_core::{Device, Tensor};

use super::VlmError;
use super::config::{Activation, Family, VisionConfig};
use super::layers::{LayerNorm, Linear, Tower, apply_rotary, attend};
use super::weights::Weights;

/// Patches along time, height and width for one image (time is 1 for a still image).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub t: usize,
    pub h: usize,
    pub w: usize,
}

impl Grid {
    pub fn patches(self) -> usize {
        self.t * self.h * self.w
    }

    /// Language-model tokens the image becomes after the merger.
    pub fn tokens(self, merge: usize) -> usize {
        self.patches() / (merge * merge)
    }
}

struct Block {
    norm1: LayerNorm,
    norm2: LayerNorm,
    qkv: Linear,
    proj: Linear,
    fc1: Linear,
    fc2: Linear,
}

/// Turns each `m x m` block of patches into one language-model token. Qwen2's and Qwen3's main merger
/// normalize each patch first; Qwen3's deepstack mergers normalize the concatenated block.
struct Merger {
    norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    norm_after_shuffle: bool,
}

impl Merger {
    fn load(w: &Weights, cfg: &VisionConfig, prefix: &str, norm_after_shuffle: bool) -> Result<Self, VlmError> {
        let merged = cfg.embed_dim * cfg.spatial_merge_size * cfg.spatial_merge_size;
        let qwen2 = cfg.family == Family::Qwen2Vl;
        let (norm, fc1, fc2) = if qwen2 { ("ln_q", "mlp.0", "mlp.2") } else { ("norm", "linear_fc1", "linear_fc2") };
        let norm_dim = if norm_after_shuffle { merged } else { cfg.embed_dim };
        Ok(Self {
            norm: LayerNorm::load(w, Tower::Vision, &format!("{prefix}.{norm}"), norm_dim, 1e-6)?,
            fc1: Linear::load(w, Tower::Vision, &format!("{prefix}.{fc1}"), merged, merged, true)?
                .activated(Activation::Gelu)?,
            fc2: Linear::load(w, Tower::Vision, &format!("{prefix}.{fc2}"), merged, cfg.out_dim, true)?,
            norm_after_shuffle,
        })
    }

    fn forward(&self, x: &Tensor, merged: usize) -> candle_core::Result<Tensor> {
        let n = x.dim(0)? * x.dim(1)? / merged;
        let x = if self.norm_after_shuffle {
            self.norm.forward(&x.reshape((n, merged))?)?
        } else {
            self.norm.forward(x)?.reshape((n, merged))?
        };
        self.fc2.forward(&self.fc1.forward(&x)?)
    }
}

/// The vision tower's output: one row per language-model image token, and (Qwen3) the deepstack
/// features to add to the first decoder layers' outputs at the image tokens.
pub struct VisionOutput {
    pub tokens: Tensor,
    pub deepstack: Vec<Tensor>,
}

pub struct VisionTower {
    cfg: VisionConfig,
    patch_embed: Tensor,
    patch_bias: Option<Tensor>,
    pos_embed: Option<Tensor>,
    blocks: Vec<Block>,
    merger: Merger,
    deepstack: Vec<Merger>,
    /// Fused kernels (inference) or ops with a backward pass (training).
    fused: bool,
}

impl VisionTower {
    pub fn load(w: &Weights, cfg: &VisionConfig) -> Result<Self, VlmError> {
        let e = cfg.embed_dim;
        let patch_dim = cfg.in_channels * cfg.temporal_patch_size * cfg.patch_size * cfg.patch_size;
        let conv = w.vision(
            "patch_embed.proj.weight",
            &[e, cfg.in_channels, cfg.temporal_patch_size, cfg.patch_size, cfg.patch_size],
        )?;
        let patch_embed = conv.reshape((e, patch_dim)).map_err(VlmError::Candle)?;
        let patch_bias = if cfg.patch_bias { Some(w.vision("patch_embed.proj.bias", &[e])?) } else { None };
        let pos_embed = match cfg.position_embeddings {
            Some(n) => Some(w.vision("pos_embed.weight", &[n, e])?),
            None => None,
        };
        let (fc1, fc2) = match cfg.family {
            Family::Qwen2Vl => ("fc1", "fc2"),
            Family::Qwen3Vl => ("linear_fc1", "linear_fc2"),
        };
        let mut blocks = Vec::with_capacity(cfg.depth);
        for i in 0..cfg.depth {
            let p = format!("blocks.{i}");
            blocks.push(Block {
                norm1: LayerNorm::load(w, Tower::Vision, &format!("{p}.norm1"), e, 1e-6)?,
                norm2: LayerNorm::load(w, Tower::Vision, &format!("{p}.norm2"), e, 1e-6)?,
                qkv: Linear::load(w, Tower::Vision, &format!("{p}.attn.qkv"), e, 3 * e, true)?,
                proj: Linear::load(w, Tower::Vision, &format!("{p}.attn.proj"), e, e, true)?,
                fc1: Linear::load(w, Tower::Vision, &format!("{p}.mlp.{fc1}"), e, cfg.mlp_hidden, true)?
                    .activated(cfg.act)?,
                fc2: Linear::load(w, Tower::Vision, &format!("{p}.mlp.{fc2}"), cfg.mlp_hidden, e, true)?,
            });
        }
        let deepstack = (0..cfg.deepstack.len())
            .map(|k| Merger::load(w, cfg, &format!("deepstack_merger_list.{k}"), true))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            cfg: cfg.clone(),
            patch_embed,
            patch_bias,
            pos_embed,
            blocks,
            merger: Merger::load(w, cfg, "merger", false)?,
            deepstack,
            fused: !w.trainable(),
        })
    }

    /// `pixels` is `[patches, C*T*P*P]` for all images in order.
    pub fn forward(&self, pixels: &Tensor, grids: &[Grid]) -> candle_core::Result<VisionOutput> {
        let total: usize = grids.iter().map(|g| g.patches()).sum();
        if pixels.dim(0)? != total {
            candle_core::bail!("{} pixel rows for image grids that hold {total} patches", pixels.dim(0)?);
        }
        let dtype = self.patch_embed.dtype();
        let mut x = pixels.to_dtype(dtype)?.matmul(&self.patch_embed.t()?)?;
        if let Some(b) = &self.patch_bias {
            x = x.broadcast_add(b)?;
        }
        if let Some(table) = &self.pos_embed {
            x = (x + self.interpolated_positions(table, grids)?)?;
        }
        let (cos, sin) = self.rotary(grids, pixels.device())?;
        let (cos, sin) = (cos.to_dtype(dtype)?, sin.to_dtype(dtype)?);
        let heads = self.cfg.num_heads;
        let hd = self.cfg.embed_dim / heads;
        let merged = self.cfg.embed_dim * self.cfg.spatial_merge_size * self.cfg.spatial_merge_size;
        let frames: Vec<usize> = grids.iter().flat_map(|g| std::iter::repeat_n(g.h * g.w, g.t)).collect();
        let mut deepstack = Vec::new();
        for (index, block) in self.blocks.iter().enumerate() {
            let h = block.norm1.forward(&x)?;
            let qkv = block.qkv.forward(&h)?.reshape((total, 3, heads, hd))?;
            // [patches, heads, hd] -> [1, heads, patches, hd]
            let part = |i: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(1, i, 1)?.squeeze(1)?.transpose(0, 1)?.unsqueeze(0)?.contiguous()
            };
            let q = apply_rotary(&part(0)?, &cos, &sin, self.fused)?;
            let k = apply_rotary(&part(1)?, &cos, &sin, self.fused)?;
            let v = part(2)?;
            // Attention stays within each image (and each frame).
            let attn = attend(&q, &k, &v, false, Some(&frames), self.fused)?;
            x = block.proj.forward_add(&attn, &x)?;
            let h = block.norm2.forward(&x)?;
            let h = block.fc1.forward(&h)?;
            x = block.fc2.forward_add(&h, &x)?;
            if let Some(k) = self.cfg.deepstack.iter().position(|&d| d == index) {
                deepstack.push(self.deepstack[k].forward(&x, merged)?);
            }
        }
        Ok(VisionOutput { tokens: self.merger.forward(&x, merged)?, deepstack })
    }

    /// Qwen3's learned positions, bilinearly interpolated (corners aligned) from the square table to
    /// each image's patch grid, in the block-major patch order: `[patches, embed_dim]`.
    fn interpolated_positions(&self, table: &Tensor, grids: &[Grid]) -> candle_core::Result<Tensor> {
        let side = (table.dim(0)? as f64).sqrt().round() as usize;
        let mut index = Vec::new();
        let mut weight = Vec::new();
        for g in grids {
            let rows = axis_taps(g.h, side);
            let cols = axis_taps(g.w, side);
            for _ in 0..g.t {
                for (r, c) in block_major_positions(g.h, g.w, self.cfg.spatial_merge_size) {
                    for (ri, rw) in rows[r] {
                        for (ci, cw) in cols[c] {
                            index.push(u32::try_from(ri * side + ci).unwrap_or(0));
                            weight.push(rw * cw);
                        }
                    }
                }
            }
        }
        let n = weight.len() / 4;
        let device = table.device();
        let picked = table.index_select(&Tensor::from_vec(index, n * 4, device)?, 0)?;
        let e = table.dim(1)?;
        let weights = Tensor::from_vec(weight, (n, 4, 1), device)?.to_dtype(table.dtype())?;
        picked.reshape((n, 4, e))?.broadcast_mul(&weights)?.sum(1)
    }
    /// Cos and sin `[patches, head_dim / 2]`: the first half of the frequencies turns with the row, the
    /// second with the column (the rotary kernel repeats them over both halves of the head).
    fn rotary(&self, grids: &[Grid], device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
        let hd = self.cfg.embed_dim / self.cfg.num_heads;
        let inv = inverse_frequencies(hd / 2, self.cfg.rope_theta);
        let m = self.cfg.spatial_merge_size;
        let mut cos = Vec::new();
        let mut sin = Vec::new();
        for g in grids {
            let positions = block_major_positions(g.h, g.w, m);
            for _ in 0..g.t {
                for &(row, col) in &positions {
                    #[allow(clippy::cast_precision_loss)]
                    let angles: Vec<f32> =
                        inv.iter().map(|f| row as f32 * f).chain(inv.iter().map(|f| col as f32 * f)).collect();
                    cos.extend(angles.iter().map(|a| a.cos()));
                    sin.extend(angles.iter().map(|a| a.sin()));
                }
            }
        }
        let n = cos.len() / (hd / 2);
        Ok((Tensor::from_vec(cos, (n, hd / 2), device)?, Tensor::from_vec(sin, (n, hd / 2), device)?))
    }
}

/// For each of `size` positions on an axis, the two table cells (clamped to the edge) and weights of a
/// corner-aligned bilinear resampling from `side` cells, in f32 as the reference computes them.
fn axis_taps(size: usize, side: usize) -> Vec<[(usize, f32); 2]> {
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (0..size)
        .map(|i| {
            let src = i as f32 * (side - 1) as f32 / (size.max(2) - 1) as f32;
            let floor = src.floor();
            // Hat-kernel weights written as the reference does, so they agree to the last bit.
            let w0 = (1.0 - (src - floor).abs()).max(0.0);
            let w1 = (1.0 - (src - floor - 1.0).abs()).max(0.0);
            let f = floor as usize;
            [(f.min(side - 1), w0), ((f + 1).min(side - 1), w1)]
        })
        .collect()
}

/// `1 / theta^(2i / dim)` for `i < dim / 2`, computed in f32 as the reference does.
pub fn inverse_frequencies(dim: usize, theta: f64) -> Vec<f32> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    (0..dim).step_by(2).map(|i| 1.0 / (theta as f32).powf(i as f32 / dim as f32)).collect()
}

/// (row, column) of each patch in the order the processor emits them: merge blocks row-major, and
/// within a block its `m x m` patches row-major.
pub fn block_major_positions(h: usize, w: usize, m: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(h * w);
    for bh in 0..h / m {
        for bw in 0..w / m {
            for ih in 0..m {
                for iw in 0..m {
                    out.push((bh * m + ih, bw * m + iw));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_block_major() {
        let p = block_major_positions(2, 4, 2);
        assert_eq!(p, vec![(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (0, 3), (1, 2), (1, 3)]);
    }

    #[test]
    fn inverse_frequencies_start_at_one() {
        let f = inverse_frequencies(8, 10_000.0);
        assert_eq!(f.len(), 4);
        assert!((f[0] - 1.0).abs() < 1e-7);
        assert!((f[1] - 0.1).abs() < 1e-6, "{f:?}");
    }
}
