//! The images after a TIFF's first: a cloud-optimised GeoTIFF's overviews (reduced-resolution
//! copies, NewSubfileType 1) and GDAL's internal masks (NewSubfileType 4, or 5 for an overview's
//! mask; one bit a pixel, 0 where there is no data). Every read of an image applies its mask (the
//! full read, the streamed overview, a window); the viewer's first look at a large image is the
//! file's overview of about the texture's size, read by itself. Runs on worker threads.

use std::path::Path;

use tiff::decoder::Decoder;
use tiff::tags::Tag;

use super::{Layout, Overlay, Source, TiffDecoder, decode_chunks, limits, meta_of, read_image, sample_at, tiff_error};
use crate::io::{IoError, LoadOptions, Look, Preview};
use crate::types::Raster;

/// Most directories followed after the first; a longer chain (no real pyramid has one) is not read.
const MAX_IMAGES: usize = 64;

/// Most pixels an overview may hold to be read for a first look, in texture-sized squares: a file
/// whose overviews are all finer than that gets none (its averaged overview streams instead).
const OVERVIEW_AREAS_MAX: usize = 16;

/// One image after the first, as its directory describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SubImage {
    /// Position in the chain of directories (the first image is 0).
    pub index: usize,
    /// Offset of its directory in the file.
    pub ifd: u64,
    pub width: usize,
    pub height: usize,
    pub samples: usize,
    /// NewSubfileType bit 0: a reduced-resolution copy of the first image.
    pub reduced: bool,
    /// NewSubfileType bit 2: a transparency mask (GDAL's nodata mask).
    pub mask: bool,
}

/// Every image after the first, in the file's order; a directory that cannot be read ends the
/// list (the first image does not depend on it).
pub(super) fn sub_images(bytes: Source<'_>, opts: &LoadOptions) -> Vec<SubImage> {
    let Ok(dec) = Decoder::new(Overlay::plain(bytes)) else { return Vec::new() };
    let mut dec = dec.with_limits(limits(opts));
    let mut out = Vec::new();
    for index in 1..=MAX_IMAGES {
        if !dec.more_images() || dec.next_image().is_err() {
            break;
        }
        let (Ok((w, h)), Some(ifd)) = (dec.dimensions(), dec.ifd_pointer()) else { break };
        let kind = dec.find_tag_unsigned::<u32>(Tag::NewSubfileType).ok().flatten().unwrap_or(0);
        let samples = dec.find_tag_unsigned::<u16>(Tag::SamplesPerPixel).ok().flatten().unwrap_or(1);
        out.push(SubImage {
            index,
            ifd: ifd.0,
            width: w as usize,
            height: h as usize,
            samples: usize::from(samples),
            reduced: kind & 1 != 0,
            mask: kind & 4 != 0,
        });
    }
    out
}

/// What the file holds after its first image, for the notes of a full read; None when nothing.
pub(super) fn describe(subs: &[SubImage]) -> Option<String> {
    let overviews = subs.iter().filter(|s| s.reduced && !s.mask).count();
    let masks = subs.iter().filter(|s| s.mask).count();
    let other = subs.len() - overviews - masks;
    let mut parts = Vec::new();
    if overviews > 0 {
        parts.push(format!("{overviews} overview(s), a first look while an image too large for one texture loads"));
    }
    if masks > 0 {
        parts.push(format!("{masks} mask(s), the full-resolution one applied"));
    }
    if other > 0 {
        parts.push(format!("{other} other image(s), not read"));
    }
    (!parts.is_empty()).then(|| format!("after the first image the file holds {}", parts.join("; ")))
}

/// The internal mask of image `index` (`width` x `height`) over `window` (`[x0, y0, w, h]`, within
/// the image), true where a pixel has data: the first mask after the image in the chain with its
/// size, only its strips or tiles that meet the window decoded. None when the image has none.
pub(super) fn mask_of(
    path: &Path,
    bytes: Source<'_>,
    opts: &LoadOptions,
    subs: &[SubImage],
    (index, width, height): (usize, usize, usize),
    [x0, y0, w, h]: [usize; 4],
) -> Result<Option<(SubImage, Vec<bool>)>, IoError> {
    let Some(&sub) = subs.iter().find(|s| s.index > index && s.mask && (s.width, s.height) == (width, height)) else {
        return Ok(None);
    };
    let which = || format!("the mask (image {} of the file)", sub.index + 1);
    // A mask's PhotometricInterpretation is 4, which the crate refuses: read it as grey.
    let grey = Overlay::with_short(bytes, Some(sub.ifd), Tag::PhotometricInterpretation.to_u16(), 1);
    let mut dec: TiffDecoder<'_> = Decoder::new(grey.unwrap_or_else(|| Overlay::plain(bytes)))
        .map_err(|e| tiff_error(path, e))?
        .with_limits(limits(opts));
    dec.seek_to_image(sub.index).map_err(|e| tiff_error(path, e))?;
    let layout = Layout::read(&mut dec, path)?;
    if layout.samples != 1 {
        return Err(IoError::corrupt(path, format!("{} has {} samples a pixel, not 1", which(), layout.samples)));
    }
    let mut valid = vec![false; w * h];
    decode_chunks(&mut dec, path, &layout, Some([x0, y0, w, h]), |chunk| {
        let r = chunk.rect;
        let (ax, bx) = (r.col0.max(x0), (r.col0 + r.width).min(x0 + w));
        for y in r.row0.max(y0)..(r.row0 + r.height).min(y0 + h) {
            let row = chunk.bytes.get((y - r.row0) * chunk.row_bytes..)?;
            let out = valid.get_mut((y - y0) * w..)?;
            for x in ax..bx {
                *out.get_mut(x - x0)? = sample_at(chunk.sample, chunk.bits, row, x - r.col0)? != 0.0;
            }
        }
        Some(())
    })
    .map_err(|e| IoError::corrupt(path, format!("{}: {e}", which())))?;
    Ok(Some((sub, valid)))
}

/// The block size `k` of an overview of a `w` x `h` image: GDAL makes it `ceil(w / k)` or
/// `floor(w / k)` wide (and so high) for an integer `k`; None for other sizes.
fn block_of(sub: &SubImage, w: usize, h: usize) -> Option<usize> {
    if sub.width == 0 || sub.height == 0 {
        return None;
    }
    let ratio = (w as f64 / sub.width as f64).max(h as f64 / sub.height as f64);
    let k = ratio.round() as usize;
    let fits = |n: usize, side: usize| side == n.div_ceil(k) || side == n / k;
    (k >= 2 && fits(w, sub.width) && fits(h, sub.height)).then_some(k)
}

/// A first look at the TIFF in `file` when it is larger than `max_dim` on a side, holds at least
/// `min_samples` samples and carries an overview of its bands: the coarsest overview whose block
/// size `k` still fits the texture (else the coarsest, averaged until it fits, when it holds at
/// most [`OVERVIEW_AREAS_MAX`] texture squares), read by itself with its mask, nodata as NaN, laid
/// on the `ceil(w / k)` x `ceil(h / k)` grid of blocks. The file's overview is the file's own
/// resampling (GDAL's default is the nearest pixel), which is why the viewer replaces it with the
/// averaged overview. None for other files and when `cancelled` turns true.
pub fn glance_file(
    path: &Path,
    file: &std::fs::File,
    opts: &LoadOptions,
    [max_dim, min_samples]: [usize; 2],
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Preview>, IoError> {
    let len = file.metadata().map_err(|source| IoError::Read { path: path.to_path_buf(), source })?.len();
    let bytes = Source::File { file, len };
    let mut dec = Decoder::new(Overlay::plain(bytes)).map_err(|e| tiff_error(path, e))?.with_limits(limits(opts));
    let layout = Layout::read(&mut dec, path)?;
    let (w, h) = (layout.width, layout.height);
    let need = crate::stats::downsample_factor(w, h, max_dim);
    if need == 1 || w.saturating_mul(h).saturating_mul(layout.samples) < min_samples || !dec.more_images() {
        return Ok(None);
    }
    opts.check(path, w as u64, h as u64, layout.samples as u64, 0)?;
    let subs = sub_images(bytes, opts);
    let levels: Vec<(SubImage, usize)> = subs
        .iter()
        .filter(|s| s.reduced && !s.mask && s.samples == layout.samples)
        .filter_map(|s| Some((*s, block_of(s, w, h)?)))
        .collect();
    let fitting = levels.iter().filter(|(_, k)| *k >= need).min_by_key(|(_, k)| *k);
    let coarsest = levels.iter().max_by_key(|(_, k)| *k);
    let area_max = OVERVIEW_AREAS_MAX.saturating_mul(max_dim.saturating_mul(max_dim));
    let Some(&(sub, k)) = fitting.or(coarsest.filter(|(s, _)| s.width.saturating_mul(s.height) <= area_max)) else {
        return Ok(None);
    };
    if cancelled() {
        return Ok(None);
    }
    let level = read_image(path, bytes, opts, sub.index)?;
    if cancelled() {
        return Ok(None);
    }
    let on_grid = on_block_grid(&level, w.div_ceil(k), h.div_ceil(k));
    let (fitted, extra) = crate::stats::downsample_to_fit(&on_grid, max_dim);
    let shown = fitted.masked_as_nan().unwrap_or(fitted);
    let nodata = super::gdal_nodata(&mut dec).filter(|v| !v.is_nan());
    let dtype = level.meta.dtype.unwrap_or(crate::types::SampleType::F32);
    let meta = meta_of(&mut dec, &layout, dtype, shown.band_count(), None, nodata, Vec::new());
    let factor = k * extra;
    let overview = Raster { meta: crate::stats::downsampled_meta(&meta, factor), ..shown };
    let windows = super::preview::windowable(path, file, opts);
    Ok(Some(Preview { overview, meta, width: w, height: h, factor, look: Look::FileOverview, windows }))
}

/// `level` laid on a `gw` x `gh` grid: its pixels where they exist, the last row or column repeated
/// where GDAL's overview is one short (it rounds some sides down).
fn on_block_grid(level: &Raster, gw: usize, gh: usize) -> Raster {
    if (level.width, level.height) == (gw, gh) {
        return level.clone();
    }
    let (lw, lh) = (level.width, level.height);
    let at = |x: usize, y: usize| y.min(lh - 1) * lw + x.min(lw - 1);
    let resample = |band: &Vec<f32>| (0..gh).flat_map(|y| (0..gw).map(move |x| band[at(x, y)])).collect();
    let bands = level.bands.iter().map(resample).collect();
    let mut out = Raster::new(gw, gh, bands, level.meta.clone());
    out.valid = level.valid.as_ref().map(|m| (0..gh).flat_map(|y| (0..gw).map(move |x| m[at(x, y)])).collect());
    out
}

#[cfg(test)]
#[path = "levels_tests.rs"]
mod tests;
