//! A FITS image read from its file a part at a time: its header alone, then rows as they are
//! needed. `io::load` reads an uncompressed image this way (the file is never held whole beside its
//! raster), and the viewer streams a large image's overview and windows from it. Anything else
//! (tile-compressed images, random groups, truncated or odd files) is left to [`super::read`],
//! which holds the file and gives the errors. Runs on worker threads.

use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{BLOCK, CARD, Hdu, Scaling, Shape, Value, meta_of, next_hdu, parse_header, sample_type};
use crate::io::{IoError, LoadOptions, Look, Preview};
use crate::types::Raster;

/// Most header blocks read looking for the END card (28 MB of cards is no real header).
const HEADER_BLOCKS_MAX: usize = 10_000;

/// Most HDUs walked looking for the image.
const HDUS_MAX: usize = 1000;

/// Bytes of samples read at a time.
const READ_BYTES: usize = 8 << 20;

/// The image HDU [`super::read`] would choose, found from the headers alone.
struct Image {
    hdu: Hdu,
    shape: Shape,
    scaling: Scaling,
    /// Its index when it is an extension.
    extension: Option<usize>,
}

impl Image {
    /// The image of the FITS file `file` when it is an uncompressed image whose samples are all
    /// in the file; None for anything else.
    fn open(path: &Path, file: &std::fs::File, opts: &LoadOptions) -> Option<Self> {
        let len = file.metadata().ok()?.len();
        let mut first = [0u8; 9];
        file.read_exact_at(&mut first, 0).ok()?;
        let primary = header_at(path, file, len, 0)?;
        if &first != b"SIMPLE  =" || primary.get("SIMPLE") != Some(&Value::Bool(true)) {
            return None;
        }
        let (hdu, extension) = if !primary.random_groups(path) && primary.has_image(path).ok()? {
            (primary, None)
        } else {
            let mut at = u64::try_from(next_hdu(path, &primary).ok()?).ok()?;
            let mut found = None;
            for index in 1..=HDUS_MAX {
                let hdu = header_at(path, file, len, at)?;
                match hdu.text("XTENSION").map(str::trim_end) {
                    Some("IMAGE") if hdu.has_image(path).ok()? => {
                        found = Some((hdu, Some(index)));
                        break;
                    }
                    Some("BINTABLE") if hdu.get("ZIMAGE") == Some(&Value::Bool(true)) => return None,
                    Some(_) => at = u64::try_from(next_hdu(path, &hdu).ok()?).ok()?,
                    None => return None,
                }
            }
            found?
        };
        let scaling = Scaling::of(&hdu);
        sample_type(path, scaling.bitpix).ok()?;
        let shape = Shape::of(path, hdu.axes(path).ok()?, opts, |_| 0).ok()?;
        let need = shape.samples().checked_mul(scaling.bytes())?;
        let end = (hdu.data_start as u64).checked_add(need as u64)?;
        (end <= len).then_some(Self { hdu, shape, scaling, extension })
    }

    /// Rows `row0..row0 + rows` of the image (top row 0) of plane `plane`, appended to `out`: values,
    /// BLANK as NaN; with `blank`, whether each is BLANK appended to it.
    fn rows(
        &self,
        path: &Path,
        file: &std::fs::File,
        (plane, [row0, rows]): (usize, [usize; 2]),
        out: &mut Vec<f32>,
        mut blank: Option<&mut Vec<bool>>,
    ) -> Result<(), IoError> {
        let (w, h, bpp) = (self.shape.w, self.shape.h, self.scaling.bytes());
        // FITS rows run bottom to top: image rows row0.. are FITS rows h - row0 - rows .. h - row0.
        let first = h - row0 - rows;
        let at = self.hdu.data_start + (plane * h + first) * w * bpp;
        let mut bytes = vec![0u8; rows * w * bpp];
        file.read_exact_at(&mut bytes, at as u64)
            .map_err(|e| IoError::corrupt(path, format!("cannot read the FITS data: {e}")))?;
        let plain_f32 = self.scaling.is_plain_f32();
        for fits_row in bytes.chunks_exact(w * bpp).rev() {
            if plain_f32 {
                // The common radio image: big-endian floats as they are.
                out.extend(fits_row.chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])));
                continue;
            }
            for c in fits_row.chunks_exact(bpp) {
                let (v, is_blank) = self.scaling.value(c);
                out.push(v);
                if let Some(b) = blank.as_mut() {
                    b.push(is_blank);
                }
            }
        }
        Ok(())
    }

    /// Image rows read at a time: about [`READ_BYTES`] of samples.
    fn rows_per_read(&self) -> usize {
        (READ_BYTES / (self.shape.w * self.scaling.bytes()).max(1)).max(1)
    }
}

/// The header at file offset `at`, read a block at a time up to its END card; `data_start` is
/// absolute. None when the file ends first or the header never ends.
fn header_at(path: &Path, file: &std::fs::File, len: u64, at: u64) -> Option<Hdu> {
    let mut buf = Vec::new();
    for _ in 0..HEADER_BLOCKS_MAX {
        let from = at.checked_add(buf.len() as u64)?;
        let n = usize::try_from(len.checked_sub(from)?).map_or(BLOCK, |left| left.min(BLOCK));
        if n < CARD {
            return None;
        }
        let mut block = vec![0u8; n];
        file.read_exact_at(&mut block, from).ok()?;
        let ends =
            block.chunks_exact(CARD).any(|card| card.starts_with(b"END") && card[3..8].iter().all(|&b| b == b' '));
        buf.extend(block);
        if ends {
            let mut hdu = parse_header(path, &buf, 0).ok()?;
            hdu.data_start = hdu.data_start.checked_add(usize::try_from(at).ok()?)?;
            return Some(hdu);
        }
    }
    None
}

/// The image of the FITS file `file` read a band of rows at a time, the same raster
/// [`super::read`] gives; None for files it leaves to that reader (see [`Image::open`]).
pub fn read_file(path: &Path, file: &std::fs::File, opts: &LoadOptions) -> Result<Option<Raster>, IoError> {
    let Some(image) = Image::open(path, file, opts) else { return Ok(None) };
    let (w, h, planes) = (image.shape.w, image.shape.h, image.shape.planes);
    let mut valid = image.scaling.blank.map(|_| vec![false; w * h]);
    let mut bands = Vec::with_capacity(planes);
    let mut blank = Vec::new();
    for plane in 0..planes {
        let mut band = Vec::with_capacity(w * h);
        for row0 in (0..h).step_by(image.rows_per_read()) {
            let rows = image.rows_per_read().min(h - row0);
            blank.clear();
            image.rows(path, file, (plane, [row0, rows]), &mut band, valid.is_some().then_some(&mut blank))?;
            if let Some(valid) = valid.as_mut() {
                for (m, b) in valid[row0 * w..].iter_mut().zip(&blank) {
                    *m |= !b;
                }
            }
        }
        bands.push(band);
    }
    let meta = meta_of(&image.hdu, &image.shape, image.extension, Vec::new());
    let mut raster = Raster::new(w, h, bands, meta);
    raster.valid = valid;
    Ok(Some(raster))
}

/// The overview of a one-plane FITS image larger than `max_dim`, averaged from its rows as they
/// are read (top row first, so from the end of the data) without holding the image: the pixels
/// `downsample_to_fit` gives for the image [`read_file`] reads, BLANK as NaN. None for other files
/// and when `cancelled` turns true.
pub fn preview_file(
    path: &Path,
    file: &std::fs::File,
    opts: &LoadOptions,
    max_dim: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Preview>, IoError> {
    let Some(image) = Image::open(path, file, opts).filter(|i| i.shape.planes == 1) else { return Ok(None) };
    let (w, h) = (image.shape.w, image.shape.h);
    if crate::stats::downsample_factor(w, h, max_dim) == 1 {
        return Ok(None);
    }
    let mut overview = crate::stats::StreamedOverview::new(w, h, 1, max_dim);
    let mut values = Vec::with_capacity(image.rows_per_read() * w);
    for row0 in (0..h).step_by(image.rows_per_read()) {
        if cancelled() {
            return Ok(None);
        }
        let rows = image.rows_per_read().min(h - row0);
        values.clear();
        image.rows(path, file, (0, [row0, rows]), &mut values, None)?;
        overview.push(&[&values]);
    }
    let meta = meta_of(&image.hdu, &image.shape, image.extension, Vec::new());
    Ok(Preview::averaged(overview, meta, (w, h), true))
}

/// A first look at a one-plane FITS image of at least `min_samples` samples: the centre pixel of
/// each block of a grid at most `max_side` a side (blocks of at least 2), read a row in a block at a
/// time (a small part of the file), BLANK as NaN. None for other files and when `cancelled` turns
/// true.
pub fn glance_file(
    path: &Path,
    file: &std::fs::File,
    opts: &LoadOptions,
    [max_side, min_samples]: [usize; 2],
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Preview>, IoError> {
    let Some(image) = Image::open(path, file, opts).filter(|i| i.shape.planes == 1) else { return Ok(None) };
    let (w, h) = (image.shape.w, image.shape.h);
    if w.saturating_mul(h) < min_samples {
        return Ok(None);
    }
    let step = w.max(h).div_ceil(max_side.max(1)).max(2);
    // The centre of each block (of the part of one the image's edge leaves).
    let centres = |n: usize| (0..n.div_ceil(step)).map(move |b| b * step + (step.min(n - b * step)) / 2);
    let columns: Vec<usize> = centres(w).collect();
    let mut band = Vec::with_capacity(columns.len() * h.div_ceil(step));
    let mut row = Vec::with_capacity(w);
    for y in centres(h) {
        if cancelled() {
            return Ok(None);
        }
        row.clear();
        image.rows(path, file, (0, [y, 1]), &mut row, None)?;
        band.extend(columns.iter().map(|&x| row[x]));
    }
    let meta = meta_of(&image.hdu, &image.shape, image.extension, Vec::new());
    let (gw, gh) = (columns.len(), h.div_ceil(step));
    let overview = Raster::new(gw, gh, vec![band], crate::stats::downsampled_meta(&meta, step));
    Ok(Some(Preview { overview, meta, width: w, height: h, factor: step, look: Look::Sampled, windows: true }))
}

/// The window `[x0, y0, w, h]` (clipped to the image) of a one-plane FITS image [`preview_file`]
/// streams, read from its rows alone: the pixels [`read_file`] gives there, BLANK as NaN, no
/// metadata but the sample type. None for other files.
pub fn window_file(
    path: &Path,
    file: &std::fs::File,
    opts: &LoadOptions,
    [x0, y0, w, h]: [usize; 4],
) -> Result<Option<Raster>, IoError> {
    let Some(image) = Image::open(path, file, opts).filter(|i| i.shape.planes == 1) else { return Ok(None) };
    let (x0, y0) = (x0.min(image.shape.w), y0.min(image.shape.h));
    let (w, h) = (w.min(image.shape.w - x0), h.min(image.shape.h - y0));
    let full = image.shape.w;
    let mut band = Vec::with_capacity(w * h);
    let mut values = Vec::new();
    for row0 in (y0..y0 + h).step_by(image.rows_per_read()) {
        let rows = image.rows_per_read().min(y0 + h - row0);
        values.clear();
        image.rows(path, file, (0, [row0, rows]), &mut values, None)?;
        for row in values.chunks_exact(full.max(1)) {
            band.extend_from_slice(&row[x0..x0 + w]);
        }
    }
    let dtype = meta_of(&image.hdu, &image.shape, None, Vec::new()).dtype;
    let meta = crate::types::RasterMeta { dtype, ..Default::default() };
    Ok(Some(Raster::new(w, h, vec![band], meta)))
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
