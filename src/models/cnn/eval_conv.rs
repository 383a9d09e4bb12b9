//! The CPU kernel behind [`super::resnet::ConvBn`]'s eval mode: a convolution with its batch norm
//! already folded in, plus the bias, an optional residual add and an optional ReLU, in one pass over
//! the output. Candle's CPU conv2d repacks the kernel, converts the input to NHWC on one thread and
//! gathers im2col tiles element by element on every call; here the weights are laid out once (at
//! fold time), the input stays NCHW, and each image is one im2col (row copies) plus one GEMM on the
//! `gemm` crate, whose output rows already are the NCHW output channels. Inference only: the op
//! records no backward pass. Runs on the thread that calls the model, spreading images (or, for a
//! single image, halves of the output channels) over the current rayon pool.

use std::cell::Cell;
use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::models::gemm::{self, Matrix, Threads};

/// Below this many multiply-adds a single image's convolution runs on one thread: waking the other
/// threads costs more than it saves for the stem and the 1x1 projections (the 3x3 convolutions of
/// the spectrum CNN, ~2.4 M each at every stage, are split).
const SPLIT_MIN_WORK: usize = 1 << 21;

thread_local! {
    /// The im2col matrix of the image this thread convolves, kept between calls (up to ~600 kB for the
    /// 32 px stage). Taken out while in use, so a nested call just allocates its own.
    static COLUMNS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// A k x k convolution (padding k / 2) with bias, weights (c_out, c_in * k * k) row-major: the
/// layout of candle's conv weight, which is also the left operand of the GEMM.
#[derive(Debug, Clone)]
pub(crate) struct EvalConv {
    weight: Arc<[f32]>,
    bias: Arc<[f32]>,
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
}

impl EvalConv {
    /// From a folded weight (c_out, c_in, k, k) and bias (c_out); `None` unless both are f32 on the
    /// CPU (other devices keep candle's conv2d).
    pub(crate) fn new(weight: &Tensor, bias: &Tensor, stride: usize) -> Result<Option<Self>> {
        if !weight.device().is_cpu() || weight.dtype() != DType::F32 {
            return Ok(None);
        }
        let (c_out, c_in, k, k_w) = weight.dims4()?;
        if k != k_w || stride == 0 {
            return Ok(None);
        }
        let weight: Vec<f32> = weight.flatten_all()?.to_vec1()?;
        let bias: Vec<f32> = bias.to_dtype(DType::F32)?.to_vec1()?;
        if bias.len() != c_out {
            candle_core::bail!("eval conv: {} biases for {c_out} output channels", bias.len());
        }
        Ok(Some(EvalConv { weight: weight.into(), bias: bias.into(), c_in, c_out, k, stride }))
    }

    /// Whether [`EvalConv::forward`] takes `x` (an f32 tensor on the CPU).
    pub(crate) fn accepts(x: &Tensor) -> bool {
        x.device().is_cpu() && x.dtype() == DType::F32
    }

    /// relu?(conv(x) + bias + residual?) for x (batch, c_in, h, w); the residual has the output's shape.
    pub(crate) fn forward(&self, x: &Tensor, residual: Option<&Tensor>, relu: bool) -> Result<Tensor> {
        let op = Apply { conv: self, relu };
        let x = x.contiguous()?;
        match residual {
            None => x.apply_op1_no_bwd(&op),
            Some(r) => x.apply_op2_no_bwd(&r.contiguous()?, &op),
        }
    }

    fn pad(&self) -> usize {
        self.k / 2
    }

    fn out_side(&self, side: usize) -> usize {
        (side + 2 * self.pad() - self.k) / self.stride + 1
    }

    /// Output shape and the input's dims, checking the input against the weights.
    fn shapes(&self, x: &Layout) -> Result<(Shape, (usize, usize, usize, usize))> {
        let (b, c, h, w) = x.shape().dims4()?;
        if c != self.c_in {
            candle_core::bail!("eval conv: input has {c} channels, the weights {}", self.c_in);
        }
        if h + 2 * self.pad() < self.k || w + 2 * self.pad() < self.k {
            candle_core::bail!("eval conv: a {h} x {w} input is smaller than the {0} x {0} kernel", self.k);
        }
        Ok((Shape::from((b, self.c_out, self.out_side(h), self.out_side(w))), (b, c, h, w)))
    }

    /// The whole batch: `out` (batch, c_out, oh, ow) holds the residual (or anything, without one).
    fn run(&self, x: &[f32], dims: (usize, usize, usize, usize), out: &mut [f32], residual: bool, relu: bool) {
        let (b, c, h, w) = dims;
        let image = c * h * w;
        let per_out = out.len() / b.max(1);
        if b > 1 {
            out.par_chunks_mut(per_out)
                .zip(x.par_chunks(image))
                .for_each(|(o, x)| self.image(x, h, w, o, residual, relu, false));
        } else if b == 1 {
            self.image(x, h, w, out, residual, relu, true);
        }
    }

    /// One image (c_in, h, w) into `out` (c_out, oh, ow); `split` spreads it over the pool.
    #[allow(clippy::too_many_arguments)]
    fn image(&self, x: &[f32], h: usize, w: usize, out: &mut [f32], residual: bool, relu: bool, split: bool) {
        let (oh, ow) = (self.out_side(h), self.out_side(w));
        let n = oh * ow;
        let depth = self.c_in * self.k * self.k;
        let split = split && rayon::current_num_threads() > 1 && self.c_out * n * depth >= SPLIT_MIN_WORK;
        // The bias (and residual) first: the GEMM accumulates onto them.
        for (row, &bias) in out.chunks_exact_mut(n).zip(self.bias.iter()) {
            if residual {
                row.iter_mut().for_each(|v| *v += bias);
            } else {
                row.fill(bias);
            }
        }
        let direct = self.k == 1 && self.stride == 1;
        let mut columns = if direct { Vec::new() } else { COLUMNS.take() };
        let rhs: &[f32] = if direct {
            x
        } else {
            columns.resize(depth * n, 0.0);
            im2col(x, (h, w), (self.k, self.stride, self.pad()), (oh, ow), &mut columns);
            &columns
        };
        if split {
            // Whole rows of the output (channels) per task: disjoint slices, the same columns.
            let tasks = rayon::current_num_threads();
            let rows = self.c_out.div_ceil(tasks);
            out.par_chunks_mut(rows * n)
                .zip(self.weight.par_chunks(rows * depth))
                .for_each(|(o, wt)| multiply_add(o, wt, rhs, (o.len() / n, n, depth), relu));
        } else {
            multiply_add(out, &self.weight, rhs, (self.c_out, n, depth), relu);
        }
        if !direct {
            COLUMNS.set(columns);
        }
    }
}

/// The candle op: one input (no residual) or two (input, residual).
struct Apply<'a> {
    conv: &'a EvalConv,
    relu: bool,
}

/// The op's input (or residual), which [`EvalConv::forward`] made contiguous.
fn input<'s>(s: &'s CpuStorage, l: &Layout) -> Result<&'s [f32]> {
    gemm::contiguous_f32(s, l, "eval conv: the input")
}

impl CustomOp1 for Apply<'_> {
    fn name(&self) -> &'static str {
        "conv-bias-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (shape, dims) = self.conv.shapes(l)?;
        let mut out = vec![0f32; shape.elem_count()];
        self.conv.run(input(s, l)?, dims, &mut out, false, self.relu);
        Ok((CpuStorage::F32(out), shape))
    }
}

impl CustomOp2 for Apply<'_> {
    fn name(&self) -> &'static str {
        "conv-bias-add-relu"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (shape, dims) = self.conv.shapes(l1)?;
        if l2.shape() != &shape {
            candle_core::bail!("eval conv: residual {:?}, output {:?}", l2.shape(), shape);
        }
        let mut out = input(s2, l2)?.to_vec();
        self.conv.run(input(s1, l1)?, dims, &mut out, true, self.relu);
        Ok((CpuStorage::F32(out), shape))
    }
}

/// The im2col matrix of one image (c, h, w): row (ci, ky, kx) holds, for every output pixel, the input
/// it sees through that kernel tap (zero in the padding); the row order is the weights' column order.
fn im2col(
    x: &[f32],
    (h, w): (usize, usize),
    (k, stride, pad): (usize, usize, usize),
    (oh, ow): (usize, usize),
    columns: &mut [f32],
) {
    let n = oh * ow;
    let channel = |(ci, rows): (usize, &mut [f32])| {
        let plane = &x[ci * h * w..][..h * w];
        for (tap, row) in rows.chunks_exact_mut(n).enumerate() {
            let (ky, kx) = (tap / k, tap % k);
            // Output columns whose input column lies inside the image.
            let lo = pad.saturating_sub(kx).div_ceil(stride).min(ow);
            let hi = if w + pad > kx { ((w + pad - kx - 1) / stride + 1).min(ow) } else { 0 }.max(lo);
            for (oy, dst) in row.chunks_exact_mut(ow).enumerate() {
                let iy = (oy * stride + ky).wrapping_sub(pad);
                if iy >= h {
                    dst.fill(0.0);
                    continue;
                }
                let src = &plane[iy * w..][..w];
                dst[..lo].fill(0.0);
                dst[hi..].fill(0.0);
                if lo == hi {
                    continue;
                }
                let first = lo * stride + kx - pad;
                let dst = &mut dst[lo..hi];
                if stride == 1 {
                    // Rows are 4-32 values: a plain loop beats a memcpy call.
                    for (d, s) in dst.iter_mut().zip(&src[first..]) {
                        *d = *s;
                    }
                } else {
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = src[first + i * stride];
                    }
                }
            }
        }
    };
    columns.chunks_mut(k * k * n).enumerate().for_each(channel);
}

/// out (m x n) = relu?(out + lhs (m x depth) * rhs (depth x n)), all row-major and contiguous, on
/// the calling thread.
fn multiply_add(out: &mut [f32], lhs: &[f32], rhs: &[f32], (m, n, depth): (usize, usize, usize), relu: bool) {
    gemm::multiply_add(out, Matrix::row_major(lhs, m, depth), Matrix::row_major(rhs, depth, n), Threads::One);
    if relu {
        out.iter_mut().for_each(|v| *v = v.max(0.0));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::{Device, Module};
    use candle_nn::{BatchNorm, ModuleT, VarBuilder};

    use super::*;
    use crate::models::cnn::resnet::{Block, ConvBn};

    /// Random conv weights and batch-norm parameters with running statistics far from 0 / 1.
    fn conv_bn_tensors(
        prefix: &str,
        c_in: usize,
        c_out: usize,
        k: usize,
        t: &mut HashMap<String, Tensor>,
    ) -> Result<()> {
        let cpu = &Device::Cpu;
        t.insert(format!("{prefix}conv.weight"), Tensor::randn(0f32, 0.3, (c_out, c_in, k, k), cpu)?);
        t.insert(format!("{prefix}bn.weight"), Tensor::rand(0.5f32, 1.5, c_out, cpu)?);
        t.insert(format!("{prefix}bn.bias"), Tensor::randn(0f32, 0.5, c_out, cpu)?);
        t.insert(format!("{prefix}bn.running_mean"), Tensor::randn(0.5f32, 1.0, c_out, cpu)?);
        t.insert(format!("{prefix}bn.running_var"), Tensor::rand(0.2f32, 3.0, c_out, cpu)?);
        Ok(())
    }

    /// The unfolded reference: candle's conv2d, then batch norm in eval mode (running statistics).
    fn reference(t: &HashMap<String, Tensor>, prefix: &str, x: &Tensor, k: usize, stride: usize) -> Result<Tensor> {
        let cfg = candle_nn::Conv2dConfig { padding: k / 2, stride, ..Default::default() };
        let conv = candle_nn::Conv2d::new(t[&format!("{prefix}conv.weight")].clone(), None, cfg);
        let get = |n: &str| t[&format!("{prefix}bn.{n}")].clone();
        let bn = BatchNorm::new(
            get("weight").dim(0)?,
            get("running_mean"),
            get("running_var"),
            get("weight"),
            get("bias"),
            1e-5,
        )?;
        bn.forward_t(&conv.forward(x)?, false)
    }

    /// max |a - b| <= 1e-5 max |a| (exact equality for an all-zero reference: a ReLU of negatives).
    fn assert_close(fast: &Tensor, reference: &Tensor, what: &str) -> Result<()> {
        assert_eq!(fast.dims(), reference.dims(), "{what}");
        let diff = (fast - reference)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
        let size = reference.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
        assert!(diff <= 1e-5 * size, "{what}: max difference {diff}, largest output {size}");
        Ok(())
    }

    #[test]
    fn fused_conv_equals_candle_conv_then_batch_norm() -> Result<()> {
        let channels = [1, 3, 16, 33];
        let sides = [5, 8, 13, 32, 9, 16];
        let mut case = 0;
        for (k, stride) in [(1, 1), (1, 2), (3, 1), (3, 2), (7, 4), (3, 4), (7, 1), (1, 4), (7, 2)] {
            for (i, &c_in) in channels.iter().enumerate() {
                case += 1;
                let c_out = channels[(i + case) % 4];
                let batch = [1, 3, 16][case % 3];
                let side = sides[case % sides.len()];
                let (h, w) = if case % 2 == 0 { (side, side) } else { (side, side + 3) };
                let mut t = HashMap::new();
                conv_bn_tensors("", c_in, c_out, k, &mut t)?;
                let x = Tensor::randn(0f32, 1.0, (batch, c_in, h, w), &Device::Cpu)?;
                let want = reference(&t, "", &x, k, stride)?;
                let mut layer =
                    ConvBn::new(c_in, c_out, k, stride, VarBuilder::from_tensors(t, DType::F32, &Device::Cpu))?;
                layer.fold()?;
                let what = format!("k {k} stride {stride} {c_in}->{c_out} batch {batch} {h}x{w}");
                assert_close(&layer.forward_t(&x, false)?, &want, &what)?;
                assert_close(&layer.forward_relu_t(&x, false)?, &want.relu()?, &format!("{what} relu"))?;
            }
        }
        Ok(())
    }

    #[test]
    fn a_single_large_image_split_over_threads_equals_the_reference() -> Result<()> {
        // 33 channels of 32 x 32: above SPLIT_MIN_WORK, so the channels are shared between threads.
        let mut t = HashMap::new();
        conv_bn_tensors("", 33, 33, 3, &mut t)?;
        let x = Tensor::randn(0f32, 1.0, (1, 33, 32, 32), &Device::Cpu)?;
        let want = reference(&t, "", &x, 3, 1)?;
        let mut layer = ConvBn::new(33, 33, 3, 1, VarBuilder::from_tensors(t, DType::F32, &Device::Cpu))?;
        layer.fold()?;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().map_err(candle_core::Error::wrap)?;
        assert_close(&pool.install(|| layer.forward_t(&x, false))?, &want, "3 threads")
    }

    #[test]
    fn fused_block_equals_the_unfolded_block() -> Result<()> {
        for (c_in, c_out, stride, batch, side) in [(16, 16, 1, 1, 32), (16, 32, 2, 3, 13), (3, 33, 1, 16, 8)] {
            let mut t = HashMap::new();
            conv_bn_tensors("a.", c_in, c_out, 3, &mut t)?;
            conv_bn_tensors("b.", c_out, c_out, 3, &mut t)?;
            if stride != 1 || c_in != c_out {
                conv_bn_tensors("skip.", c_in, c_out, 1, &mut t)?;
            }
            let vb = VarBuilder::from_tensors(t, DType::F32, &Device::Cpu);
            let mut block = Block::new(c_in, c_out, stride, vb)?;
            // A non-contiguous input (a transposed view) too.
            let x = Tensor::randn(0f32, 1.0, (batch, c_in, side, side), &Device::Cpu)?.transpose(2, 3)?;
            let want = block.forward_t(&x, false)?;
            block.fold()?;
            assert_close(&block.forward_t(&x, false)?, &want, &format!("block {c_in}->{c_out} /{stride}"))?;
        }
        Ok(())
    }

    #[test]
    fn a_wrong_input_is_an_error_not_a_panic() -> Result<()> {
        let mut t = HashMap::new();
        conv_bn_tensors("", 3, 4, 3, &mut t)?;
        let mut layer = ConvBn::new(3, 4, 3, 1, VarBuilder::from_tensors(t, DType::F32, &Device::Cpu))?;
        layer.fold()?;
        assert!(layer.forward_t(&Tensor::zeros((1, 2, 8, 8), DType::F32, &Device::Cpu)?, false).is_err());
        Ok(())
    }
}
