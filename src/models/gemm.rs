//! The one place heatscope calls the `gemm` crate (runtime-dispatched SIMD matrix kernels) itself,
//! for the CPU inference kernels that lay their operands out once instead of going through candle's
//! matmul on every call: the CNN's fused convolution, the VLM's linear layers and attention. Operands are
//! f32 slices with explicit row and column strides; every call is checked against the slices' lengths
//! before the kernel sees a pointer. Also how those ops read their inputs' data from candle's storage.

use candle_core::{CpuStorage, Layout, Result};

/// An f32 matrix in a slice: element (r, c) is `data[r * row + c * col]`.
#[derive(Clone, Copy)]
pub(crate) struct Matrix<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row: usize,
    pub col: usize,
}

impl<'a> Matrix<'a> {
    /// A contiguous row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, row: cols, col: 1 }
    }

    /// The transpose of a contiguous row-major `cols x rows` matrix (a linear layer's `[out, in]`
    /// weight read as the `[in, out]` right operand), without copying it.
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, row: 1, col: rows }
    }

    /// Whether every element the strides reach lies inside the slice.
    fn fits(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1).checked_mul(self.row).zip((self.cols - 1).checked_mul(self.col));
        last.and_then(|(a, b)| a.checked_add(b)).is_some_and(|i| i < self.data.len())
    }
}

/// The f32 values a custom op's input holds, which the op requires contiguous; `what` names the input
/// in the error (e.g. "linear: the weight").
pub(crate) fn contiguous_f32<'s>(s: &'s CpuStorage, l: &Layout, what: &str) -> Result<&'s [f32]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&s.as_slice::<f32>()?[start..end]),
        None => candle_core::bail!("{what} must be contiguous"),
    }
}

/// Threads one product may use: the calling thread alone, or the current rayon pool (the kernel
/// splits the work itself and stays on one thread when the product is too small to share).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Threads {
    One,
    Pool,
}

/// `out (m x n, contiguous row-major) += lhs (m x k) * rhs (k x n)`.
///
/// # Panics
/// When the shapes disagree or a stride reaches past its slice: callers check shapes first and turn
/// them into errors; this is the last guard before the kernel's raw pointers.
pub(crate) fn multiply_add(out: &mut [f32], lhs: Matrix<'_>, rhs: Matrix<'_>, threads: Threads) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert!(rhs.rows == k && out.len() == m * n, "gemm: {m}x{k} times {}x{n} into {} values", rhs.rows, out.len());
    assert!(lhs.fits() && rhs.fits(), "gemm: an operand's strides reach past its data");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let parallelism = match threads {
        Threads::Pool if rayon::current_num_threads() > 1 => gemm::Parallelism::Rayon(rayon::current_num_threads()),
        _ => gemm::Parallelism::None,
    };
    kernel(out, lhs, rhs, parallelism);
}

/// This is heatscope's second `unsafe` call (the first maps safetensors files): `gemm::gemm` takes raw
/// pointers and strides. It is sound because [`multiply_add`] checked that `out` holds exactly m x n
/// values written row-major, and that every element the strides of `lhs` (m x k) and `rhs` (k x n)
/// reach lies inside their slices; `out` is borrowed mutably, so it aliases neither input; all are f32.
#[allow(unsafe_code, clippy::cast_possible_wrap)]
fn kernel(out: &mut [f32], lhs: Matrix<'_>, rhs: Matrix<'_>, parallelism: gemm::Parallelism) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    // SAFETY: see above; every index the kernel forms stays inside the three slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            true,
            lhs.data.as_ptr(),
            lhs.col as isize,
            lhs.row as isize,
            rhs.data.as_ptr(),
            rhs.col as isize,
            rhs.row as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(out: &mut [f32], a: Matrix<'_>, b: Matrix<'_>) {
        for r in 0..a.rows {
            for c in 0..b.cols {
                let dot: f32 = (0..a.cols).map(|i| a.data[r * a.row + i * a.col] * b.data[i * b.row + c * b.col]).sum();
                out[r * b.cols + c] += dot;
            }
        }
    }

    #[test]
    fn products_accumulate_onto_the_output_for_every_layout_and_thread_choice() {
        let (m, k, n) = (37, 70, 23);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 5) % 11) as f32 * 0.25 - 1.0).collect();
        let lhs = Matrix::row_major(&a, m, k);
        // `w` is an [n, k] weight: its transpose is the k x n right operand.
        let rhs = Matrix::transposed(&w, k, n);
        let start: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.5).collect();
        let mut want = start.clone();
        naive(&mut want, lhs, rhs);
        for threads in [Threads::One, Threads::Pool] {
            let mut got = start.clone();
            multiply_add(&mut got, lhs, rhs, threads);
            let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs() / w.abs().max(1.0)).fold(0f32, f32::max);
            assert!(worst < 1e-5, "{threads:?}: relative error {worst}");
        }
    }

    #[test]
    #[should_panic(expected = "reach past")]
    fn a_stride_past_the_data_is_refused_before_the_kernel() {
        let a = vec![1f32; 6];
        let mut out = vec![0f32; 4];
        let bad = Matrix { data: &a, rows: 2, cols: 3, row: 4, col: 1 };
        multiply_add(&mut out, bad, Matrix::row_major(&a[..6], 3, 2), Threads::One);
    }
}
