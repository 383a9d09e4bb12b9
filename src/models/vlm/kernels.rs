//! CPU inference kernels for the Qwen towers, behind candle's custom-op interface. A linear layer
//! through candle is a matmul against the transposed weight (which asks the machine for its core
//! count on every call), then a bias add, an activation and a residual add or gating product, each a
//! pass over the output and a new buffer handed to candle's own thread pool, whose workers then spin
//! beside the GEMM's; here it is one GEMM onto the bias (and the residual) on the rayon pool, with the
//! activation and product applied to the output in place on the same pool. Attention reads grouped
//! key/value heads and image frames where they lie, with no repeated or sliced copies. Inference
//! only: the ops record no backward pass, so training keeps candle's.

use std::sync::Arc;

use candle_core::op::{GeluErf, UnaryOpT};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::config::Activation;
use crate::models::gemm::{self, Matrix, Threads};

/// Output values one task of the in-place epilogue takes.
const EPILOGUE_CHUNK: usize = 16 * 1024;

/// `e^x` for f32 in plain arithmetic the compiler turns into vector code (libm's `expf` is a call per
/// value): `2^n e^r` with `n = round(x / ln 2)`, `|r| <= ln 2 / 2`, and a degree-6 Taylor polynomial
/// for `e^r`: relative error below 3e-7 (a few units in the last place) against libm. Inputs are
/// clamped to [-87, 88] (so results are normal numbers); NaN stays NaN.
#[inline(always)]
pub(super) fn fast_exp(x: f32) -> f32 {
    // ln 2 split so that n * LN2_HI is exact for |n| <= 128 (Cody and Waite's reduction).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// The activation of every value in `values`, each as candle computes it in f32 (the exponential by
/// [`fast_exp`], within a few units in the last place of candle's), one loop per activation so that the
/// compiler can vectorize it.
pub(super) fn activate_in_place(values: &mut [f32], act: Activation) {
    match act {
        Activation::QuickGelu => values.iter_mut().for_each(|v| *v /= 1.0 + fast_exp(-1.702 * *v)),
        Activation::Silu => values.iter_mut().for_each(|v| *v /= 1.0 + fast_exp(-*v)),
        Activation::Gelu => values.iter_mut().for_each(|v| *v = GeluErf::f32(*v)),
        Activation::GeluTanh => values.iter_mut().for_each(|v| *v = gelu_tanh(*v)),
    }
}

/// GELU with the tanh approximation, `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`, the tanh
/// written as `1 - 2 / (e^(2y) + 1)` on [`fast_exp`] (absolute error about 1e-7, where libm's `tanhf`
/// is a call per value).
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
    let y = SQRT_TWO_OVER_PI * x * (1.0 + 0.044_715 * x * x);
    let tanh = 1.0 - 2.0 / (fast_exp(2.0 * y) + 1.0);
    0.5 * x * (1.0 + tanh)
}

/// What the optional third input of a fused linear does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Third {
    /// Added to the output (a residual connection): `x W^T + b + r`.
    Residual,
    /// Multiplies the activated output (a gated MLP): `act(x W^T + b) * g`.
    Product,
}

/// `y = act(x W^T + b)`, plus a residual or times a gate, for an f32 `[out, in]` weight on the CPU.
pub(super) struct CpuLinear {
    bias: Option<Arc<[f32]>>,
    act: Option<Activation>,
}

/// The op with a third input: the layer and what that input does.
struct WithThird<'a> {
    linear: &'a CpuLinear,
    how: Third,
}

impl CpuLinear {
    /// `None` unless the weight (and bias) are f32 on the CPU: other devices and dtypes keep candle's.
    pub(super) fn new(weight: &Tensor, bias: Option<&Tensor>, act: Option<Activation>) -> Result<Option<Self>> {
        if !weight.device().is_cpu() || weight.dtype() != DType::F32 || weight.rank() != 2 {
            return Ok(None);
        }
        let bias = match bias {
            Some(b) if b.dtype() != DType::F32 => return Ok(None),
            Some(b) => Some(b.to_vec1::<f32>()?.into()),
            None => None,
        };
        Ok(Some(Self { bias, act }))
    }

    /// Whether [`CpuLinear::forward`] takes `x` (f32 on the CPU).
    pub(super) fn accepts(x: &Tensor) -> bool {
        x.device().is_cpu() && x.dtype() == DType::F32
    }

    /// `x` (`[..., in]`) times the weight's transpose, plus the bias, activated; then `third` (the
    /// output's shape) added or multiplied as its [`Third`] says.
    pub(super) fn forward(&self, x: &Tensor, weight: &Tensor, third: Option<(&Tensor, Third)>) -> Result<Tensor> {
        let x = x.contiguous()?;
        let weight = weight.contiguous()?;
        match third {
            None => x.apply_op2_no_bwd(&weight, self),
            Some((t, how)) => x.apply_op3_no_bwd(&weight, &t.contiguous()?, &WithThird { linear: self, how }),
        }
    }

    /// The output shape and (rows, in, out), checking `x` against the weight and the bias.
    fn shapes(&self, x: &Layout, w: &Layout) -> Result<(Shape, (usize, usize, usize))> {
        let (out_dim, in_dim) = w.shape().dims2()?;
        let dims = x.shape().dims();
        match dims.last() {
            Some(&d) if d == in_dim => {}
            _ => candle_core::bail!("linear: input {:?} for a [{out_dim}, {in_dim}] weight", x.shape()),
        }
        if let Some(b) = &self.bias
            && b.len() != out_dim
        {
            candle_core::bail!("linear: {} biases for {out_dim} outputs", b.len());
        }
        let mut out = dims.to_vec();
        if let Some(last) = out.last_mut() {
            *last = out_dim;
        }
        Ok((Shape::from(out), (x.shape().elem_count() / in_dim.max(1), in_dim, out_dim)))
    }

    /// `out` (rows x out, holding zeros or the residual) plus the bias, plus x W^T, then activated
    /// and multiplied by `gate` when given.
    fn run(&self, x: &[f32], w: &[f32], dims: (usize, usize, usize), out: &mut [f32], gate: Option<&[f32]>) {
        let (rows, in_dim, out_dim) = dims;
        if let Some(bias) = &self.bias {
            for row in out.chunks_exact_mut(out_dim) {
                row.iter_mut().zip(bias.iter()).for_each(|(o, b)| *o += b);
            }
        }
        gemm::multiply_add(
            out,
            Matrix::row_major(x, rows, in_dim),
            Matrix::transposed(w, in_dim, out_dim),
            Threads::Pool,
        );
        if self.act.is_none() && gate.is_none() {
            return;
        }
        let act = self.act;
        let finish = |(i, chunk): (usize, &mut [f32])| {
            if let Some(act) = act {
                activate_in_place(chunk, act);
            }
            if let Some(g) = gate {
                let g = &g[i * EPILOGUE_CHUNK..][..chunk.len()];
                chunk.iter_mut().zip(g).for_each(|(v, g)| *v *= g);
            }
        };
        if out.len() > EPILOGUE_CHUNK {
            out.par_chunks_mut(EPILOGUE_CHUNK).enumerate().for_each(finish);
        } else {
            finish((0, out));
        }
    }
}

/// An input of these ops (made contiguous before the op runs).
fn slice<'s>(s: &'s CpuStorage, l: &Layout, what: &str) -> Result<&'s [f32]> {
    gemm::contiguous_f32(s, l, &format!("kernel: the {what}"))
}

impl CustomOp2 for CpuLinear {
    fn name(&self) -> &'static str {
        "linear-bias-act"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, xl: &Layout, ws: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (shape, dims) = self.shapes(xl, wl)?;
        let mut out = vec![0f32; shape.elem_count()];
        self.run(slice(xs, xl, "input")?, slice(ws, wl, "weight")?, dims, &mut out, None);
        Ok((CpuStorage::F32(out), shape))
    }
}

impl CustomOp3 for WithThird<'_> {
    fn name(&self) -> &'static str {
        "linear-bias-act-residual-or-gate"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (shape, dims) = self.linear.shapes(xl, wl)?;
        if tl.shape() != &shape {
            candle_core::bail!("linear: {:?} {:?} for an output of {:?}", self.how, tl.shape(), shape);
        }
        let third = slice(ts, tl, "third input")?;
        let (x, w) = (slice(xs, xl, "input")?, slice(ws, wl, "weight")?);
        let out = match self.how {
            Third::Residual => {
                let mut out = third.to_vec();
                self.linear.run(x, w, dims, &mut out, None);
                out
            }
            Third::Product => {
                let mut out = vec![0f32; shape.elem_count()];
                self.linear.run(x, w, dims, &mut out, Some(third));
                out
            }
        };
        Ok((CpuStorage::F32(out), shape))
    }
}

/// Query rows one score block holds: the scores of a block are `rows x keys` values per thread, so a
/// long prompt's attention stays within a few MiB whatever its length.
const QUERY_BLOCK: usize = 256;

/// Softmax attention on the CPU for f32 `q` `[b, heads, tq, d]` and `k`, `v` `[b, kv_heads, tk, d]`
/// (all contiguous): query head `h` reads key/value head `h / (heads / kv_heads)` without copying
/// them; with `causal`, query `i` sees keys up to `tk - tq + i`; with `segments` (lengths along the
/// sequence, `tq == tk`), queries attend only to keys of their own segment (one image frame each).
/// Heads run in parallel on the rayon pool, each product on its own thread. Returns `[b, tq, heads *
/// d]`, the layout the output projection reads.
pub(super) struct CpuAttention<'a> {
    pub causal: bool,
    pub segments: Option<&'a [usize]>,
}

impl CpuAttention<'_> {
    pub(super) fn accepts(t: &Tensor) -> bool {
        t.device().is_cpu() && t.dtype() == DType::F32
    }

    pub(super) fn forward(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        q.contiguous()?.apply_op3_no_bwd(&k.contiguous()?, &v.contiguous()?, self)
    }

    /// The query and key spans that attend to each other: the segments, or everything.
    fn spans(&self, tq: usize, tk: usize) -> Result<Vec<(usize, usize, usize, usize)>> {
        match self.segments {
            None => Ok(vec![(0, tq, 0, tk)]),
            Some(lengths) => {
                if tq != tk || lengths.iter().sum::<usize>() != tq {
                    candle_core::bail!("attention: segments {lengths:?} for {tq} queries and {tk} keys");
                }
                let mut start = 0;
                Ok(lengths
                    .iter()
                    .map(|&n| {
                        start += n;
                        (start - n, n, start - n, n)
                    })
                    .collect())
            }
        }
    }

    /// One head: `q` `[tq, d]`, `k` and `v` `[tk, d]`, into `out` `[tq, d]`.
    fn head(&self, q: &[f32], k: &[f32], v: &[f32], (tq, tk, d): (usize, usize, usize), out: &mut [f32]) -> Result<()> {
        #[allow(clippy::cast_precision_loss)]
        let scale = 1.0 / (d as f32).sqrt();
        let offset = tk - tq;
        let mut scores = Vec::new();
        for (q0, nq, k0, nk) in self.spans(tq, tk)? {
            let keys = Matrix::transposed(&k[k0 * d..(k0 + nk) * d], d, nk);
            let values = Matrix::row_major(&v[k0 * d..(k0 + nk) * d], nk, d);
            let mut first = q0;
            while first < q0 + nq {
                let rows = QUERY_BLOCK.min(q0 + nq - first);
                scores.clear();
                scores.resize(rows * nk, 0.0);
                let queries = Matrix::row_major(&q[first * d..(first + rows) * d], rows, d);
                gemm::multiply_add(&mut scores, queries, keys, Threads::One);
                for (i, row) in scores.chunks_exact_mut(nk).enumerate() {
                    // Keys this query may see: all of its span, or (causal) up to its own position.
                    let seen = if self.causal { (offset + first + i + 1).saturating_sub(k0).min(nk) } else { nk };
                    softmax_row(row, seen, scale);
                }
                let dst = &mut out[first * d..(first + rows) * d];
                gemm::multiply_add(dst, Matrix::row_major(&scores, rows, nk), values, Threads::One);
                first += rows;
            }
        }
        Ok(())
    }
}

/// `row[..seen] = softmax(row[..seen] * scale)`, `row[seen..] = 0` (masked keys).
fn softmax_row(row: &mut [f32], seen: usize, scale: f32) {
    let (live, masked) = row.split_at_mut(seen);
    masked.fill(0.0);
    let max = live.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) * scale;
    // Three simple loops (exponentials, their sum, the division) rather than one: the first and last
    // vectorize.
    live.iter_mut().for_each(|x| *x = fast_exp(*x * scale - max));
    let sum: f32 = live.iter().sum();
    if sum > 0.0 {
        let inv = 1.0 / sum;
        live.iter_mut().for_each(|x| *x *= inv);
    }
}

impl CustomOp3 for CpuAttention<'_> {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, heads, tq, d) = ql.shape().dims4()?;
        let (kb, kv_heads, tk, kd) = kl.shape().dims4()?;
        if kl.shape() != vl.shape() || kb != b || kd != d || kv_heads == 0 || heads % kv_heads != 0 || tk < tq {
            candle_core::bail!("attention: queries {:?}, keys {:?}, values {:?}", ql.shape(), kl.shape(), vl.shape());
        }
        let (q, k, v) = (slice(qs, ql, "queries")?, slice(ks, kl, "keys")?, slice(vs, vl, "values")?);
        let group = heads / kv_heads;
        let per_head: Vec<Vec<f32>> = (0..b * heads)
            .into_par_iter()
            .map(|task| {
                let (bi, h) = (task / heads, task % heads);
                let kv = (bi * kv_heads + h / group) * tk * d;
                let mut out = vec![0f32; tq * d];
                let q = &q[task * tq * d..(task + 1) * tq * d];
                self.head(q, &k[kv..kv + tk * d], &v[kv..kv + tk * d], (tq, tk, d), &mut out)?;
                Ok(out)
            })
            .collect::<Result<_>>()?;
        // [b, heads, tq, d] -> [b, tq, heads * d]
        let mut out = vec![0f32; b * heads * tq * d];
        for (task, values) in per_head.iter().enumerate() {
            let (bi, h) = (task / heads, task % heads);
            for (i, row) in values.chunks_exact(d).enumerate() {
                let at = ((bi * tq + i) * heads + h) * d;
                out[at..at + d].copy_from_slice(row);
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((b, tq, heads * d))))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Module};

    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).expect("sub").abs().expect("abs").max_all().expect("max").to_scalar().expect("f32")
    }

    #[test]
    fn fast_exp_agrees_with_libm_to_a_few_units_in_the_last_place() {
        let mut worst = 0f32;
        for i in -86_999..=87_999 {
            let x = i as f32 * 1e-3 + 1.3e-4;
            let (got, want) = (fast_exp(x), x.exp());
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(fast_exp(0.0), 1.0);
        assert!(fast_exp(f32::NAN).is_nan());
        assert!(fast_exp(-1e4) >= 0.0 && fast_exp(-1e4) < 1e-37);
        assert!(fast_exp(1e4).is_finite());
    }

    #[test]
    fn gelu_tanh_agrees_with_candles() {
        use candle_core::op::Gelu;
        for i in -20_000..=20_000 {
            let x = i as f32 * 1e-3;
            let (got, want) = (gelu_tanh(x), Gelu::f32(x));
            assert!((got - want).abs() <= 2e-7 * x.abs().max(1.0), "{x}: {got} vs {want}");
        }
        assert_eq!(gelu_tanh(-100.0), 0.0);
        assert_eq!(gelu_tanh(100.0), 100.0);
    }

    #[test]
    fn the_fused_attention_equals_the_composed_one() {
        let dev = Device::Cpu;
        let composed = |q: &Tensor, k: &Tensor, v: &Tensor, causal: bool| {
            let group = q.dim(1).expect("heads") / k.dim(1).expect("kv");
            let k = crate::models::vlm::layers::repeat_kv(k, group).expect("k");
            let v = crate::models::vlm::layers::repeat_kv(v, group).expect("v");
            let o = crate::models::vlm::layers::attention(q, &k, &v, causal, false).expect("attention");
            let (b, h, t, d) = o.dims4().expect("dims");
            o.transpose(1, 2).expect("t").reshape((b, t, h * d)).expect("reshape")
        };
        // Grouped-query, causal, with a cache (more keys than queries), and more queries than one block.
        for (tq, tk, causal) in [(5, 5, true), (3, 9, true), (300, 300, true), (7, 7, false)] {
            let q = Tensor::randn(0f32, 1.0, (1, 4, tq, 8), &dev).expect("q");
            let k = Tensor::randn(0f32, 1.0, (1, 2, tk, 8), &dev).expect("k");
            let v = Tensor::randn(0f32, 1.0, (1, 2, tk, 8), &dev).expect("v");
            let got = CpuAttention { causal, segments: None }.forward(&q, &k, &v).expect("fused");
            assert!(max_diff(&got, &composed(&q, &k, &v, causal)) < 1e-5, "{tq} {tk} {causal}");
        }
        // Segments: each attends only within itself.
        let q = Tensor::randn(0f32, 1.0, (1, 2, 10, 8), &dev).expect("q");
        let k = Tensor::randn(0f32, 1.0, (1, 2, 10, 8), &dev).expect("k");
        let v = Tensor::randn(0f32, 1.0, (1, 2, 10, 8), &dev).expect("v");
        let got = CpuAttention { causal: false, segments: Some(&[4, 6]) }.forward(&q, &k, &v).expect("fused");
        let part = |s: usize, n: usize| {
            let t = |x: &Tensor| x.narrow(2, s, n).expect("narrow");
            composed(&t(&q), &t(&k), &t(&v), false)
        };
        let want = Tensor::cat(&[part(0, 4), part(4, 6)], 1).expect("cat");
        assert!(max_diff(&got, &want) < 1e-5);
        assert!(CpuAttention { causal: false, segments: Some(&[4, 5]) }.forward(&q, &k, &v).is_err());
    }

    #[test]
    fn the_fused_linear_equals_candles_with_bias_activation_residual_and_gate() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (24, 40), &dev).expect("w");
        let b = Tensor::randn(0f32, 1.0, 24, &dev).expect("b");
        let reference = candle_nn::Linear::new(w.clone(), Some(b.clone()));
        let op = CpuLinear::new(&w, Some(&b), None).expect("new").expect("f32 on the CPU");
        for shape in [vec![1, 40], vec![7, 40], vec![1, 130, 40], vec![700, 40]] {
            let x = Tensor::randn(0f32, 1.0, shape.as_slice(), &dev).expect("x");
            let want = reference.forward(&x).expect("candle");
            let got = op.forward(&x, &w, None).expect("fused");
            assert_eq!(got.dims(), want.dims());
            assert!(max_diff(&got, &want) < 1e-4, "{shape:?}");
            let r = Tensor::randn(0f32, 1.0, want.dims(), &dev).expect("r");
            let got = op.forward(&x, &w, Some((&r, Third::Residual))).expect("fused + residual");
            assert!(max_diff(&got, &(&want + &r).expect("add")) < 1e-4, "{shape:?} + residual");
            let composed = [
                (
                    Activation::QuickGelu,
                    (&want * candle_nn::ops::sigmoid(&(&want * 1.702).expect("s")).expect("sig")).expect("q"),
                ),
                (Activation::Gelu, want.gelu_erf().expect("gelu")),
                (Activation::GeluTanh, want.gelu().expect("gelu tanh")),
                (Activation::Silu, want.silu().expect("silu")),
            ];
            for (act, activated) in composed {
                let op = CpuLinear::new(&w, Some(&b), Some(act)).expect("new").expect("op");
                assert!(max_diff(&op.forward(&x, &w, None).expect("act"), &activated) < 1e-4, "{act:?}");
                let gated = op.forward(&x, &w, Some((&r, Third::Product))).expect("gated");
                assert!(max_diff(&gated, &(&activated * &r).expect("mul")) < 1e-4, "{act:?} gated");
            }
        }
        // A transposed (non-contiguous) input is made contiguous first.
        let x = Tensor::randn(0f32, 1.0, (40, 5), &dev).expect("x").t().expect("t");
        assert!(max_diff(&op.forward(&x, &w, None).expect("fused"), &reference.forward(&x).expect("candle")) < 1e-4);
    }

    #[test]
    fn mismatched_shapes_are_errors_not_panics() {
        let dev = Device::Cpu;
        let w = Tensor::zeros((8, 16), DType::F32, &dev).expect("w");
        let op = CpuLinear::new(&w, None, None).expect("new").expect("op");
        let x = Tensor::zeros((3, 15), DType::F32, &dev).expect("x");
        assert!(op.forward(&x, &w, None).is_err());
        let x = Tensor::zeros((3, 16), DType::F32, &dev).expect("x");
        let r = Tensor::zeros((3, 9), DType::F32, &dev).expect("r");
        assert!(op.forward(&x, &w, Some((&r, Third::Residual))).is_err());
        assert!(op.forward(&x, &w, Some((&r, Third::Product))).is_err());
        let b = Tensor::zeros(5, DType::F32, &dev).expect("b");
        let bad = CpuLinear::new(&w, Some(&b), None).expect("new").expect("op");
        assert!(bad.forward(&x, &w, None).is_err());
        // Other dtypes keep candle's path.
        assert!(CpuLinear::new(&w.to_dtype(DType::F16).expect("f16"), None, None).expect("new").is_none());
    }
}
