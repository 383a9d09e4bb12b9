//! Reading a `.npy` a part at a time, without holding the array: a window of it, its overview
//! averaged as the rows go by, and (one band) a first look from one row in a block. An array in
//! Fortran (column-major) order is read as what its bytes hold, the transposed image, and turned.

use std::io::{Read, Seek};
use std::path::Path;

use super::{Axes, Header, Layout, meta_of, read_prefix, read_samples};
use crate::io::{IoError, LoadOptions};
use crate::types::Raster;

/// How the samples lie in the file: an image of `width` x `height` (the array's own, or in Fortran
/// order its transpose) stored row after row, either a plane per band (`interleaved` false) or
/// each pixel's bands side by side.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stored {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) interleaved: bool,
    pub(super) transposed: bool,
}

impl Stored {
    pub(super) fn of(header: &Header, layout: &Layout) -> Self {
        let (w, h, c) = (layout.width, layout.height, layout.bands);
        if header.fortran {
            // Column-major: (C, H, W) holds each column's pixels with their bands side by side,
            // (H, W, C) a column-major plane per band.
            let interleaved = c > 1 && layout.axes == Axes::ChannelsFirst;
            Self { width: h, height: w, interleaved, transposed: true }
        } else {
            let interleaved = c > 1 && layout.axes == Axes::ChannelsLast;
            Self { width: w, height: h, interleaved, transposed: false }
        }
    }
}

/// Each band (and the mask) of a `width` x `height` raster turned to `height` x `width` (its
/// transpose).
fn transposed(mut r: Raster) -> Raster {
    let (w, h) = (r.width, r.height);
    fn turn<T: Copy>(v: &[T], w: usize, h: usize) -> Vec<T> {
        (0..w).flat_map(|x| (0..h).map(move |y| v[y * w + x])).collect()
    }
    for band in &mut r.bands {
        *band = turn(band, w, h);
    }
    if let Some(valid) = &mut r.valid {
        *valid = turn(valid, w, h);
    }
    (r.width, r.height) = (h, w);
    r
}

/// The window `[x0, y0, w, h]` (clipped to the image) of a `.npy`, read row by row of its storage
/// from `reader` (only the window's rows and columns, of each band).
pub fn window_npy(
    path: &Path,
    reader: &mut (impl Read + Seek),
    opts: &LoadOptions,
    [x0, y0, w, h]: [usize; 4],
) -> Result<Option<Raster>, IoError> {
    let read_err = |e: std::io::Error| IoError::corrupt(path, format!("cannot read the array: {e}"));
    let (header, layout) = read_prefix(path, reader, 0, opts, read_err)?;
    let stored = Stored::of(&header, &layout);
    let start = reader.stream_position().map_err(read_err)?;
    let (x0, y0) = (x0.min(layout.width), y0.min(layout.height));
    let (w, h) = (w.min(layout.width - x0), h.min(layout.height - y0));
    // The window as the file stores it.
    let (x0, y0, w, h) = if stored.transposed { (y0, x0, h, w) } else { (x0, y0, w, h) };
    let (item, c, sw, sh) = (header.dtype.bytes() as u64, layout.bands, stored.width, stored.height);
    let mut bands = vec![Vec::with_capacity(w * h); c];
    for y in y0..y0 + h {
        if stored.interleaved {
            // Pixels hold their channels side by side: the row's window is one read.
            let at = start + ((y * sw + x0) * c) as u64 * item;
            reader.seek(std::io::SeekFrom::Start(at)).map_err(read_err)?;
            let pixels = read_samples(path, &header, w * c, reader)?;
            for (b, band) in bands.iter_mut().enumerate() {
                band.extend(pixels.iter().skip(b).step_by(c));
            }
            continue;
        }
        for (b, band) in bands.iter_mut().enumerate() {
            let at = start + (((b * sh + y) * sw + x0) as u64) * item;
            reader.seek(std::io::SeekFrom::Start(at)).map_err(read_err)?;
            band.extend(read_samples(path, &header, w, reader)?);
        }
    }
    let raster = Raster::new(w, h, bands, meta_of(&header, &layout, "NumPy .npy".into()));
    Ok(Some(if stored.transposed { transposed(raster) } else { raster }))
}

/// The overview of a `.npy` that is larger than `max_dim`, averaged from the stored rows as they
/// are read (32 MiB of samples at a time; a stack of planes plane after plane) without holding the
/// array: the same pixels [`crate::stats::downsample_to_fit`] gives for the whole array (its blocks
/// are square, so averaging the stored transpose of a Fortran-order array and turning the result
/// gives them too). None for arrays that fit, and when `cancelled` turns true.
pub fn preview_npy(
    path: &Path,
    reader: &mut impl Read,
    opts: &LoadOptions,
    max_dim: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<crate::io::Preview>, IoError> {
    let read_err = |e: std::io::Error| IoError::corrupt(path, format!("cannot read the array: {e}"));
    let (header, layout) = read_prefix(path, reader, 0, opts, read_err)?;
    let stored = Stored::of(&header, &layout);
    let (w, h, c) = (stored.width, stored.height, layout.bands);
    if crate::stats::downsample_factor(w, h, max_dim) == 1 {
        return Ok(None);
    }
    // One overview of every band for pixels holding their channels, else one a plane, in file order.
    let (overviews, per_pixel) = if stored.interleaved { (1, c) } else { (c, 1) };
    let meta = meta_of(&header, &layout, "NumPy .npy".into());
    // 32 MiB of samples a read: bands of rows large enough to be averaged on several threads.
    let rows_per_read = ((1 << 23) / (w * per_pixel)).max(1);
    let mut bands = Vec::with_capacity(c);
    let mut averaged = None;
    for _ in 0..overviews {
        let mut overview = crate::stats::StreamedOverview::new(w, h, per_pixel, max_dim);
        while overview.rows_left() > 0 {
            if cancelled() {
                return Ok(None);
            }
            let n = rows_per_read.min(overview.rows_left());
            let rows = read_samples(path, &header, n * w * per_pixel, reader)?;
            if stored.interleaved {
                let split: Vec<Vec<f32>> = (0..c).map(|b| rows.iter().skip(b).step_by(c).copied().collect()).collect();
                overview.push(&split.iter().map(Vec::as_slice).collect::<Vec<_>>());
            } else {
                overview.push(&[&rows]);
            }
        }
        let image = (layout.width, layout.height);
        let Some(mut preview) = crate::io::Preview::averaged(overview, meta.clone(), image, true) else {
            return Ok(None);
        };
        bands.append(&mut preview.overview.bands);
        averaged = Some(preview);
    }
    // The planes' overviews side by side, as the bands of one.
    Ok(averaged.map(|mut preview| {
        preview.overview.bands = bands;
        if stored.transposed {
            preview.overview = transposed(preview.overview);
        }
        preview
    }))
}

/// A first look at a one-band `.npy` that holds at least `min_samples` samples: the centre pixel of
/// each `step x step` block (`step` at least 2, making the longer side at most `max_side`), read a
/// stored row in `step` at a time (a small part of the file). None for other arrays and when
/// `cancelled` turns true.
pub fn glance_npy(
    path: &Path,
    reader: &mut (impl Read + Seek),
    opts: &LoadOptions,
    [max_side, min_samples]: [usize; 2],
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<crate::io::Preview>, IoError> {
    let read_err = |e: std::io::Error| IoError::corrupt(path, format!("cannot read the array: {e}"));
    let (header, layout) = read_prefix(path, reader, 0, opts, read_err)?;
    let stored = Stored::of(&header, &layout);
    let (w, h) = (stored.width, stored.height);
    if layout.bands != 1 || w.saturating_mul(h) < min_samples {
        return Ok(None);
    }
    let start = reader.stream_position().map_err(read_err)?;
    let item = header.dtype.bytes() as u64;
    let step = w.max(h).div_ceil(max_side.max(1)).max(2);
    // The centre of each block (of the part of one the image's edge leaves): the same blocks either
    // way round, so the stored transpose's samples turned are the image's.
    let centres = |n: usize| (0..n.div_ceil(step)).map(move |b| b * step + (step.min(n - b * step)) / 2);
    let columns: Vec<usize> = centres(w).collect();
    let mut band = Vec::with_capacity(columns.len() * h.div_ceil(step));
    for y in centres(h) {
        if cancelled() {
            return Ok(None);
        }
        reader.seek(std::io::SeekFrom::Start(start + (y * w) as u64 * item)).map_err(read_err)?;
        let row = read_samples(path, &header, w, reader)?;
        band.extend(columns.iter().map(|&x| row[x]));
    }
    let meta = meta_of(&header, &layout, "NumPy .npy".into());
    let (gw, gh) = (columns.len(), h.div_ceil(step));
    let overview = Raster::new(gw, gh, vec![band], crate::stats::downsampled_meta(&meta, step));
    Ok(Some(crate::io::Preview {
        overview: if stored.transposed { transposed(overview) } else { overview },
        meta,
        width: layout.width,
        height: layout.height,
        factor: step,
        look: crate::io::Look::Sampled,
        windows: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::npy::read_npy;
    use std::io::Cursor;

    /// A `.npy` file's bytes: `descr`, Fortran `order` ("True"/"False"), `shape` as Python writes it.
    fn npy_in(order: &str, descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut head = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
        head.push_str(&" ".repeat(63 - (10 + head.len()) % 64));
        head.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((head.len() as u16).to_le_bytes());
        out.extend(head.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn a_row_ordered_array_streams_a_first_look_and_the_overview_of_its_full_read() {
        let npy = |descr: &str, shape: &str, data: &[u8]| npy_in("False", descr, shape, data);
        let (w, h) = (45usize, 33usize);
        let values: Vec<f32> = (0..w * h).map(|i| if i % 13 == 0 { f32::NAN } else { (i % 71) as f32 }).collect();
        let f32s: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let u16s: Vec<u8> = (0..w * h).flat_map(|i| ((i * 7) as u16).to_le_bytes()).collect();
        let opts = LoadOptions::default();
        for (descr, data) in [("<f4", &f32s), ("<u2", &u16s)] {
            let bytes = npy(descr, &format!("({h}, {w})"), data);
            let full = read_npy(Path::new("a.npy"), &bytes, &opts).expect("full read");
            let preview = preview_npy(Path::new("a.npy"), &mut Cursor::new(&bytes), &opts, 10, &|| false);
            let preview = preview.expect("reads").expect("streams");
            let (small, factor) = crate::stats::downsample_to_fit(&full, 10);
            assert_eq!((preview.factor, factor, preview.width, preview.height), (5, 5, w, h));
            let same = preview.overview.bands[0].iter().zip(&small.bands[0]).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same && preview.overview.bands[0].len() == small.bands[0].len(), "{descr}");
            assert_eq!(preview.meta.dtype, full.meta.dtype);
            for window in [[3, 4, 20, 10], [40, 30, 10, 10]] {
                let win = window_npy(Path::new("a.npy"), &mut Cursor::new(&bytes), &opts, window).expect("reads");
                let (win, expected) = (win.expect("by window"), crate::stats::window_mean(&full, window, 1));
                assert_eq!((win.width, win.height), (expected.width, expected.height));
                assert!(win.bands[0].iter().zip(&expected.bands[0]).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
            // Fits: nothing to stream; cancelled: nothing.
            let fits = preview_npy(Path::new("a.npy"), &mut Cursor::new(&bytes), &opts, 64, &|| false);
            assert!(fits.expect("reads").is_none());
            let cancelled = preview_npy(Path::new("a.npy"), &mut Cursor::new(&bytes), &opts, 10, &|| true);
            assert!(cancelled.expect("reads").is_none());
            // Truncated: the same error the full read gives.
            let cut = &bytes[..bytes.len() - 7];
            let err = preview_npy(Path::new("a.npy"), &mut Cursor::new(cut), &opts, 10, &|| false);
            assert!(err.expect_err("truncated").to_string().contains("truncated"));
        }
        // A first look: the centre pixel of each 5 x 5 block (of the 3 rows the bottom edge leaves), as read in full.
        let bytes = npy("<f4", &format!("({h}, {w})"), &f32s);
        let glance = |bytes: &[u8], min: usize, cancelled: bool| {
            glance_npy(Path::new("a.npy"), &mut Cursor::new(bytes), &opts, [10, min], &|| cancelled)
        };
        let look = glance(&bytes, w * h, false).expect("reads").expect("large enough");
        assert_eq!(look.look, crate::io::Look::Sampled);
        assert_eq!((look.factor, look.width, look.height, look.overview.width, look.overview.height), (5, w, h, 9, 7));
        let (xs, ys) = ([2, 7, 12, 17, 22, 27, 32, 37, 42], [2, 7, 12, 17, 22, 27, 31]);
        let expected: Vec<u32> = ys
            .iter()
            .flat_map(|&y| xs.iter().map(move |&x| (y, x)))
            .map(|(y, x)| values[y * w + x].to_bits())
            .collect();
        assert_eq!(look.overview.bands[0].iter().map(|v| v.to_bits()).collect::<Vec<_>>(), expected);
        assert!(glance(&bytes, w * h + 1, false).expect("reads").is_none(), "too small to need a first look");
        assert!(glance(&bytes, 1, true).expect("reads").is_none(), "cancelled");
        let err = glance(&bytes[..bytes.len() - 200], 1, false).expect_err("truncated in its last sampled row");
        assert!(err.to_string().contains("truncated"), "{err}");
        // Several bands: no first look.
        let three = npy("<f4", &format!("(3, {h}, {w})"), &[f32s.clone(), f32s.clone(), f32s.clone()].concat());
        assert!(glance(&three, 1, false).expect("reads").is_none());
    }

    /// The same image stored column by column (Fortran order) streams the same overview, windows and
    /// first look as its full read, which equals the row-ordered array's.
    #[test]
    fn a_column_ordered_array_streams_like_a_row_ordered_one() {
        let (w, h) = (45usize, 33usize);
        let value =
            |y: usize, x: usize| if (y * 7 + x).is_multiple_of(13) { f32::NAN } else { ((y * 31 + x * 3) % 71) as f32 };
        let rows: Vec<u8> = (0..h).flat_map(|y| (0..w).flat_map(move |x| value(y, x).to_le_bytes())).collect();
        let columns: Vec<u8> = (0..w).flat_map(|x| (0..h).flat_map(move |y| value(y, x).to_le_bytes())).collect();
        let opts = LoadOptions::default();
        let c_order = npy_in("False", "<f4", &format!("({h}, {w})"), &rows);
        let fortran = npy_in("True", "<f4", &format!("({h}, {w})"), &columns);
        let full = read_npy(Path::new("a.npy"), &fortran, &opts).expect("full read");
        let same =
            |a: &[f32], b: &[f32]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same(&full.bands[0], &read_npy(Path::new("a.npy"), &c_order, &opts).expect("reads").bands[0]));
        let preview = preview_npy(Path::new("a.npy"), &mut Cursor::new(&fortran), &opts, 10, &|| false);
        let preview = preview.expect("reads").expect("streams");
        let (small, factor) = crate::stats::downsample_to_fit(&full, 10);
        assert_eq!((preview.factor, factor, preview.width, preview.height), (5, 5, w, h));
        assert_eq!((preview.overview.width, preview.overview.height), (small.width, small.height));
        assert!(same(&preview.overview.bands[0], &small.bands[0]));
        for window in [[3, 4, 20, 10], [40, 30, 10, 10], [0, 0, w, h]] {
            let win = window_npy(Path::new("a.npy"), &mut Cursor::new(&fortran), &opts, window).expect("reads");
            let (win, expected) = (win.expect("by window"), crate::stats::window_mean(&full, window, 1));
            assert_eq!((win.width, win.height), (expected.width, expected.height), "{window:?}");
            assert!(same(&win.bands[0], &expected.bands[0]), "{window:?}");
        }
        let glance = |bytes: &[u8]| {
            glance_npy(Path::new("a.npy"), &mut Cursor::new(bytes), &opts, [10, 1], &|| false).expect("reads")
        };
        let (a, b) = (glance(&fortran).expect("a first look"), glance(&c_order).expect("a first look"));
        assert_eq!((a.overview.width, a.overview.height, a.factor), (b.overview.width, b.overview.height, b.factor));
        assert!(same(&a.overview.bands[0], &b.overview.bands[0]));
        // Truncated: the same error the full read gives.
        let err =
            preview_npy(Path::new("a.npy"), &mut Cursor::new(&fortran[..fortran.len() - 7]), &opts, 10, &|| false);
        assert!(err.expect_err("truncated").to_string().contains("truncated"));
    }

    /// Stacks of planes and pixels of channels stream the overview of their full read, band for
    /// band, and read by window.
    #[test]
    fn several_bands_stream_the_overview_of_their_full_read() {
        let (w, h) = (45usize, 33usize);
        let value =
            |b: usize, i: usize| if (i + b).is_multiple_of(17) { f32::NAN } else { ((i * (b + 3)) % 89) as f32 - 20.0 };
        let planes: Vec<u8> = (0..3).flat_map(|b| (0..w * h).flat_map(move |i| value(b, i).to_le_bytes())).collect();
        let pixels: Vec<u8> = (0..w * h).flat_map(|i| (0..3).flat_map(move |b| value(b, i).to_le_bytes())).collect();
        let opts = LoadOptions::default();
        // The same stack in Fortran order: (3, H, W) keeps each column's pixels with their bands side
        // by side, (H, W, 3) a column-major plane per band.
        let at = |b: usize, y: usize, x: usize| value(b, y * w + x).to_le_bytes();
        let pixel_columns: Vec<u8> =
            (0..w).flat_map(|x| (0..h).flat_map(move |y| (0..3).flat_map(move |b| at(b, y, x)))).collect();
        let plane_columns: Vec<u8> =
            (0..3).flat_map(|b| (0..w).flat_map(move |x| (0..h).flat_map(move |y| at(b, y, x)))).collect();
        let reference =
            read_npy(Path::new("a.npy"), &npy_in("False", "<f4", &format!("(3, {h}, {w})"), &planes), &opts)
                .expect("full read");
        for (order, shape, data) in [
            ("False", format!("(3, {h}, {w})"), &planes),
            ("False", format!("({h}, {w}, 3)"), &pixels),
            ("True", format!("(3, {h}, {w})"), &pixel_columns),
            ("True", format!("({h}, {w}, 3)"), &plane_columns),
        ] {
            let bytes = npy_in(order, "<f4", &shape, data);
            let shape = format!("{shape} fortran {order}");
            let full = read_npy(Path::new("a.npy"), &bytes, &opts).expect("full read");
            assert_eq!(full.band_count(), 3, "{shape}");
            for (a, b) in full.bands.iter().zip(&reference.bands) {
                assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{shape}: the full read");
            }
            let preview = preview_npy(Path::new("a.npy"), &mut Cursor::new(&bytes), &opts, 10, &|| false);
            let preview = preview.expect("reads").expect("streams");
            let (small, factor) = crate::stats::downsample_to_fit(&full, 10);
            assert_eq!((preview.factor, preview.overview.band_count()), (factor, 3), "{shape}");
            for (a, b) in preview.overview.bands.iter().zip(&small.bands) {
                assert!(a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{shape}");
            }
            for window in [[3, 4, 20, 10], [40, 30, 10, 10]] {
                let win = window_npy(Path::new("a.npy"), &mut Cursor::new(&bytes), &opts, window).expect("reads");
                let (win, expected) = (win.expect("by window"), crate::stats::window_mean(&full, window, 1));
                for (a, b) in win.bands.iter().zip(&expected.bands) {
                    assert!(a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{shape}");
                }
            }
        }
    }
}
