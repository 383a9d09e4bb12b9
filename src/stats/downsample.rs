//! Integer block-mean downsampling for images larger than the GPU's texture limit. Runs on worker
//! threads; the result is an ordinary [`Raster`] the renderer uploads instead of the original.

use crate::types::{GeoTransform, PixelSize, Raster, RasterMeta};

/// Smallest integer factor that brings both sides to at most `max_dim` (treated as >= 1).
pub fn downsample_factor(width: usize, height: usize, max_dim: usize) -> usize {
    let max_dim = max_dim.max(1);
    width.div_ceil(max_dim).max(height.div_ceil(max_dim)).max(1)
}

/// Shrinks `raster` by the smallest integer factor that makes both sides `<= max_dim`, averaging
/// `factor x factor` blocks (partial blocks at the right and bottom edges average what they cover).
///
/// NaN/mask-aware: each output pixel is the mean of the block's valid pixels in that band, NaN when
/// there are none. The output has a `valid` mask only when the input has one: a pixel is valid when
/// any pixel of its block is. Metadata is kept, with the pixel size and geotransform scaled by the
/// factor so coordinates stay right, and a note "shown downsampled by N". Returns the factor; with
/// factor 1 the raster is returned as a plain clone.
pub fn downsample_to_fit(raster: &Raster, max_dim: usize) -> (Raster, usize) {
    let factor = downsample_factor(raster.width, raster.height, max_dim);
    if factor == 1 {
        return (raster.clone(), 1);
    }
    let (w, h) = (raster.width, raster.height);
    let (out_w, out_h) = (w.div_ceil(factor), h.div_ceil(factor));
    let mask = raster.valid.as_deref().filter(|m| m.len() == w * h);

    let bands = raster.bands.iter().map(|band| block_mean(band, mask, w, h, factor)).collect();
    let valid = mask.map(|m| block_any(m, w, h, factor));

    let out = Raster { width: out_w, height: out_h, bands, valid, meta: downsampled_meta(&raster.meta, factor) };
    (out, factor)
}

/// The metadata of an image shown `factor` times smaller: pixel size and geotransform scaled so
/// coordinates stay right, and the note "shown downsampled by N".
pub fn downsampled_meta(meta: &RasterMeta, factor: usize) -> RasterMeta {
    let mut meta = meta.clone();
    meta.notes.push(format!("shown downsampled by {factor}"));
    let f = factor as f64;
    if let Some(ps) = &meta.pixel_size {
        meta.pixel_size = Some(PixelSize { x: ps.x * f, y: ps.y * f, ..ps.clone() });
    }
    if let Some(GeoTransform(c)) = meta.transform {
        meta.transform = Some(GeoTransform([c[0], c[1] * f, c[2] * f, c[3], c[4] * f, c[5] * f]));
    }
    meta
}

/// [`downsample_to_fit`]'s averaging fed a band of rows at a time, as a file is read: only the
/// overview and fewer than `factor` carried rows a band are held, never the whole image. The
/// blocks, and so the result, are those of `downsample_to_fit` on the whole image (no mask: the
/// caller marks nodata as NaN). Rows arrive top to bottom, every band's together.
pub struct StreamedOverview {
    width: usize,
    height: usize,
    factor: usize,
    /// Rows pushed so far.
    rows: usize,
    /// Rows short of a whole block row, a band each.
    carry: Vec<Vec<f32>>,
    out: Vec<Vec<f32>>,
}

impl StreamedOverview {
    /// An overview of a `width` x `height` image of `bands` bands at most `max_dim` on a side.
    pub fn new(width: usize, height: usize, bands: usize, max_dim: usize) -> Self {
        let factor = downsample_factor(width, height, max_dim);
        let out_len = width.div_ceil(factor) * height.div_ceil(factor);
        Self {
            width,
            height,
            factor,
            rows: 0,
            carry: vec![Vec::new(); bands],
            out: (0..bands).map(|_| Vec::with_capacity(out_len)).collect(),
        }
    }

    pub fn factor(&self) -> usize {
        self.factor
    }

    /// Rows still to come.
    pub fn rows_left(&self) -> usize {
        self.height - self.rows
    }

    /// The next rows of every band (`bands[b]` holds whole rows, the same count in each band).
    /// Panics when the bands disagree or overrun the image: callers own the layout.
    pub fn push(&mut self, bands: &[&[f32]]) {
        let w = self.width;
        let n = bands.first().map_or(0, |b| b.len() / w.max(1));
        assert!(bands.len() == self.out.len() && bands.iter().all(|b| b.len() == n * w), "rows of unequal bands");
        assert!(n <= self.rows_left(), "more rows than the image holds");
        self.rows += n;
        let (f, last) = (self.factor, self.rows == self.height);
        for ((rows, carry), out) in bands.iter().zip(&mut self.carry).zip(&mut self.out) {
            let mut rows: &[f32] = rows;
            if !carry.is_empty() {
                let take = ((f - carry.len() / w) * w).min(rows.len());
                carry.extend_from_slice(&rows[..take]);
                rows = &rows[take..];
                if carry.len() == f * w || last {
                    out.extend(block_mean_rows(carry, None, w, [0, 0, w, carry.len() / w], f));
                    carry.clear();
                }
            }
            let whole = if last { rows.len() / w } else { rows.len() / w / f * f };
            if whole > 0 {
                out.extend(block_mean_in(rows, None, w, [0, 0, w, whole], f));
            }
            carry.extend_from_slice(&rows[whole * w..]);
        }
    }

    /// The overview, once every row arrived (None before).
    pub fn finish(self, meta: &RasterMeta) -> Option<Raster> {
        (self.rows == self.height).then(|| Raster {
            width: self.width.div_ceil(self.factor),
            height: self.height.div_ceil(self.factor),
            bands: self.out,
            valid: None,
            meta: if self.factor > 1 { downsampled_meta(meta, self.factor) } else { meta.clone() },
        })
    }
}

/// Mean of the valid pixels of each block of one band.
fn block_mean(band: &[f32], mask: Option<&[bool]>, w: usize, h: usize, factor: usize) -> Vec<f32> {
    block_mean_in(band, mask, w, [0, 0, w, h], factor)
}

/// A window of a raster for the GPU: `[x0, y0, width, height]` in pixels (clipped to the image), each
/// texel the mean of the valid pixels of a `factor x factor` block (NaN when none), nodata as NaN and
/// no mask: what the viewer draws over the overview when zoomed in. Metadata is not copied.
pub fn window_mean(raster: &Raster, window: [usize; 4], factor: usize) -> Raster {
    let factor = factor.max(1);
    let x0 = window[0].min(raster.width);
    let y0 = window[1].min(raster.height);
    let w = window[2].min(raster.width - x0);
    let h = window[3].min(raster.height - y0);
    let mask = raster.valid.as_deref().filter(|m| m.len() == raster.width * raster.height);
    let bands =
        raster.bands.iter().map(|band| block_mean_in(band, mask, raster.width, [x0, y0, w, h], factor)).collect();
    Raster::new(w.div_ceil(factor), h.div_ceil(factor), bands, crate::types::RasterMeta::default())
}

/// [`block_mean`] over the window `[x0, y0, w, h]` of a band `stride` pixels wide (a large window on
/// up to four threads).
fn block_mean_in(band: &[f32], mask: Option<&[bool]>, stride: usize, window: [usize; 4], factor: usize) -> Vec<f32> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(4);
    block_mean_split(band, mask, stride, window, factor, threads, SPLIT_PIXELS)
}

/// Windows of at least this many pixels are averaged on several threads (an overview of a 20000^2
/// band took 0.9 s on one).
const SPLIT_PIXELS: usize = 1 << 23;

/// [`block_mean_rows`] of a window of at least `min_pixels`, its block rows split over `threads`
/// scoped threads (each part starts on a block row, so the blocks and the result are the same).
fn block_mean_split(
    band: &[f32],
    mask: Option<&[bool]>,
    stride: usize,
    [wx, wy, w, h]: [usize; 4],
    factor: usize,
    threads: usize,
    min_pixels: usize,
) -> Vec<f32> {
    let block_rows = h.div_ceil(factor);
    let parts = threads.min(block_rows).max(1);
    if parts == 1 || w * h < min_pixels {
        return block_mean_rows(band, mask, stride, [wx, wy, w, h], factor);
    }
    let per = block_rows.div_ceil(parts);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..block_rows)
            .step_by(per)
            .map(|first| {
                let (y0, y1) = (first * factor, ((first + per) * factor).min(h));
                scope.spawn(move || block_mean_rows(band, mask, stride, [wx, wy + y0, w, y1 - y0], factor))
            })
            .collect();
        let mut out = Vec::with_capacity(w.div_ceil(factor) * block_rows);
        for handle in handles {
            // A part that panicked panics here, as it would have on one thread.
            out.extend(handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

/// Mean of the valid pixels of each `factor x factor` block of the window `[x0, y0, w, h]`.
fn block_mean_rows(
    band: &[f32],
    mask: Option<&[bool]>,
    stride: usize,
    [wx, wy, w, h]: [usize; 4],
    factor: usize,
) -> Vec<f32> {
    let out_w = w.div_ceil(factor);
    let mut out = Vec::with_capacity(out_w * h.div_ceil(factor));
    let mut sums = vec![0f64; out_w];
    let mut counts = vec![0u32; out_w];
    for row0 in (0..h).step_by(factor) {
        sums.fill(0.0);
        counts.fill(0);
        for row in row0..h.min(row0 + factor) {
            let start = (wy + row) * stride + wx;
            let line = &band[start..start + w];
            let blocks = line.chunks(factor).zip(sums.iter_mut().zip(counts.iter_mut()));
            // Each block's pixels in order, so the sums are the same with or without a mask.
            match mask.map(|m| &m[start..start + w]) {
                None => {
                    for (block, (sum, count)) in blocks {
                        for &v in block.iter().filter(|v| v.is_finite()) {
                            *sum += f64::from(v);
                            *count += 1;
                        }
                    }
                }
                Some(line_mask) => {
                    for ((block, (sum, count)), valid) in blocks.zip(line_mask.chunks(factor)) {
                        for (&v, _) in block.iter().zip(valid).filter(|(v, ok)| **ok && v.is_finite()) {
                            *sum += f64::from(v);
                            *count += 1;
                        }
                    }
                }
            }
        }
        out.extend(sums.iter().zip(&counts).map(|(&s, &c)| if c == 0 { f32::NAN } else { (s / f64::from(c)) as f32 }));
    }
    out
}

/// Block-wise "any pixel valid" of a mask.
fn block_any(mask: &[bool], w: usize, h: usize, factor: usize) -> Vec<bool> {
    let (out_w, out_h) = (w.div_ceil(factor), h.div_ceil(factor));
    let mut out = vec![false; out_w * out_h];
    for (row, line) in mask.chunks_exact(w.max(1)).enumerate() {
        let out_line = &mut out[(row / factor) * out_w..(row / factor + 1) * out_w];
        for (x, &m) in line.iter().enumerate() {
            out_line[x / factor] |= m;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PixelUnit;

    fn raster(w: usize, h: usize, band: Vec<f32>) -> Raster {
        Raster::new(w, h, vec![band], RasterMeta::default())
    }

    #[test]
    fn averaging_split_over_threads_gives_the_same_blocks() {
        let (w, h) = (37, 53);
        let band: Vec<f32> =
            (0..w * h).map(|i| if i % 11 == 0 { f32::NAN } else { ((i * 7919) % 1000) as f32 * 0.37 }).collect();
        let mask: Vec<bool> = (0..w * h).map(|i| i % 13 != 0).collect();
        for factor in [1, 2, 3, 5] {
            for window in [[0, 0, w, h], [3, 4, 30, 47]] {
                for m in [None, Some(mask.as_slice())] {
                    let one = block_mean_rows(&band, m, w, window, factor);
                    for threads in [2, 3, 7] {
                        let split = block_mean_split(&band, m, w, window, factor, threads, 0);
                        let same = one.iter().zip(&split).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same && one.len() == split.len(), "factor {factor}, {window:?}, {threads} threads");
                    }
                }
            }
        }
    }

    #[test]
    fn a_window_averages_its_blocks_and_carries_nodata_as_nan() {
        let (w, h) = (7, 5);
        let mut r = raster(w, h, (0..w * h).map(|i| i as f32).collect());
        r.valid = Some((0..w * h).map(|i| i != 2 * w + 3).collect());
        // Full resolution: a copy of the window, the masked pixel NaN.
        let win = window_mean(&r, [2, 1, 3, 3], 1);
        assert_eq!((win.width, win.height), (3, 3));
        assert_eq!(win.bands[0][0], (w + 2) as f32);
        assert!(win.bands[0][4].is_nan());
        assert!(win.valid.is_none());
        // 2 x 2 blocks from (2, 0): the first block holds 2, 3, 9, 10.
        let win = window_mean(&r, [2, 0, 4, 4], 2);
        assert_eq!((win.width, win.height), (2, 2));
        assert_eq!(win.bands[0][0], 6.0);
        // Clipped at the image's edge.
        let win = window_mean(&r, [5, 3, 10, 10], 1);
        assert_eq!((win.width, win.height), (2, 2));
        assert_eq!(win.bands[0][3], (4 * w + 6) as f32);
    }

    #[test]
    fn factor_rule() {
        assert_eq!(downsample_factor(100, 50, 100), 1);
        assert_eq!(downsample_factor(101, 50, 100), 2);
        assert_eq!(downsample_factor(20_000, 300, 8192), 3);
        assert_eq!(downsample_factor(10, 10, 0), 10);
        assert_eq!(downsample_factor(0, 0, 16), 1);
    }

    #[test]
    fn small_raster_is_cloned() {
        let r = raster(2, 2, vec![1.0, 2.0, 3.0, 4.0]);
        let (out, f) = downsample_to_fit(&r, 2);
        assert_eq!(f, 1);
        assert_eq!(out, r);
    }

    #[test]
    fn block_means_skip_nodata() {
        // 5 x 3 image, max_dim 3 -> factor 2, output 3 x 2 (partial blocks at right and bottom).
        #[rustfmt::skip]
        let band = vec![
            1.0, 3.0,      5.0, f32::NAN,   9.0,
            5.0, 7.0, f32::NAN, f32::NAN,  11.0,
            2.0, 4.0, f32::INFINITY, 6.0, f32::NAN,
        ];
        let mut r = raster(5, 3, band);
        r.meta.pixel_size =
            Some(PixelSize { x: 10.0, y: 20.0, unit: PixelUnit::Metres, source: "test".into(), approximate: false });
        r.meta.transform = Some(GeoTransform([100.0, 10.0, 0.0, 500.0, 0.0, -20.0]));
        let (out, f) = downsample_to_fit(&r, 3);
        assert_eq!((f, out.width, out.height), (2, 3, 2));
        let b = &out.bands[0];
        assert_eq!(&b[..5], &[4.0, 5.0, 10.0, 3.0, 6.0]);
        assert!(b[5].is_nan());
        assert!(out.valid.is_none());
        assert_eq!(out.meta.notes, vec!["shown downsampled by 2".to_string()]);
        assert_eq!(out.meta.pixel_size.as_ref().map(|p| (p.x, p.y)), Some((20.0, 40.0)));
        assert_eq!(out.meta.transform, Some(GeoTransform([100.0, 20.0, 0.0, 500.0, 0.0, -40.0])));
    }

    #[test]
    fn mask_is_respected_and_reduced() {
        let mut r = raster(4, 2, vec![1.0, 100.0, 2.0, 4.0, 3.0, 100.0, 6.0, 8.0]);
        r.valid = Some(vec![true, false, false, false, true, false, false, false]);
        let (out, f) = downsample_to_fit(&r, 2);
        assert_eq!(f, 2);
        assert_eq!(out.bands[0][0], 2.0);
        assert!(out.bands[0][1].is_nan());
        assert_eq!(out.valid, Some(vec![true, false]));
    }

    #[test]
    fn an_overview_fed_rows_in_any_bands_equals_the_whole_image_averaged() {
        let (w, h) = (23, 41);
        let band = |k: usize| -> Vec<f32> {
            (0..w * h)
                .map(|i| if (i + k).is_multiple_of(17) { f32::NAN } else { ((i * 7919 + k) % 1000) as f32 * 0.37 })
                .collect()
        };
        let bands = vec![band(0), band(5)];
        let whole = Raster::new(w, h, bands.clone(), RasterMeta::default());
        for max_dim in [4, 9, 12, 23] {
            let (expected, factor) = downsample_to_fit(&whole, max_dim);
            for step in [1, 2, 3, 7, 40, 41] {
                let mut s = StreamedOverview::new(w, h, 2, max_dim);
                assert_eq!(s.factor(), factor);
                let mut y = 0;
                while y < h {
                    let n = step.min(h - y);
                    let rows: Vec<&[f32]> = bands.iter().map(|b| &b[y * w..(y + n) * w]).collect();
                    s.push(&rows);
                    y += n;
                    if y < h {
                        assert_eq!(s.rows_left(), h - y);
                    }
                }
                let got = s.finish(&RasterMeta::default()).expect("every row pushed");
                assert_eq!((got.width, got.height), (expected.width, expected.height));
                for (a, b) in got.bands.iter().zip(&expected.bands) {
                    assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "max {max_dim}, step {step}");
                }
                assert_eq!(got.meta.notes, expected.meta.notes);
            }
        }
        let unfinished = StreamedOverview::new(w, h, 1, 8);
        assert!(unfinished.finish(&RasterMeta::default()).is_none());
    }
}
