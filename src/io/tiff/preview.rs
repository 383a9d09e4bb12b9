//! The overview of a large TIFF averaged from its strips or tiles as they are decoded, a row of
//! tiles at a time, without holding the image: what the app shows while the full read goes on.

use std::path::Path;

use tiff::decoder::Decoder;

use super::{
    Layout, Overlay, Source, decode_chunks, gdal_nodata, levels, limits, meta_of, raw, tiff_error, ycbcr_to_rgb,
};
use crate::io::{IoError, LoadOptions, Preview};
use crate::stats::StreamedOverview;

/// Most samples a row of tiles (or a strip) may hold to be buffered for the overview.
const ROW_SAMPLES_MAX: usize = 1 << 26;

/// The overview of the TIFF in `file` when it is larger than `max_dim` and laid out so it can be
/// averaged as it is decoded: real samples the `tiff` crate decodes, grey, RGB or 8-bit YCbCr (as
/// RGB), chunky or planar,
/// rows of tiles or strips of at most [`ROW_SAMPLES_MAX`] samples. Its pixels are
/// those `downsample_to_fit` gives for the whole image read by [`super::read_file`], nodata (every
/// band at GDAL_NODATA), the internal mask's holes and, when a band tagged alpha holds two levels,
/// its zeros left out as NaN (both overviews are kept until the band is seen whole). None for other
/// files and when `cancelled` turns true.
pub fn preview_file(
    path: &Path,
    file: &std::fs::File,
    opts: &LoadOptions,
    max_dim: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Preview>, IoError> {
    let Some(Plain { mut dec, layout, bytes, subs }) = open_plain(path, file, opts)? else { return Ok(None) };
    let (w, h) = (layout.width, layout.height);
    if crate::stats::downsample_factor(w, h, max_dim) == 1 {
        return Ok(None);
    }
    let band_rows = (dec.chunk_dimensions().1 as usize).min(h);
    let nodata = gdal_nodata(&mut dec).filter(|v| !v.is_nan()).map(|v| v as f32);
    let bands = layout.samples;
    let mut overview = StreamedOverview::new(w, h, bands, max_dim);
    let mut alpha = layout.alpha_band().filter(|&a| a < bands && bands > 1).map(|band| AlphaTrack {
        band,
        other: None,
        two_level: true,
        masked: StreamedOverview::new(w, h, bands, max_dim),
    });
    // The row of tiles (or strip) being filled: its first image row and its samples, a band each.
    let mut row0 = 0;
    let mut buffer = vec![vec![0f32; band_rows * w]; bands];
    // Rows `row0..row0 + rows` into the overview (and the alpha-masked one), nodata and the internal
    // mask's holes as NaN; None when the mask cannot be read (the full read then shows the image
    // unmasked, with a note).
    let ycbcr = layout.is_ycbcr8();
    let flush = |buffer: &mut [Vec<f32>],
                 [row0, rows]: [usize; 2],
                 overview: &mut StreamedOverview,
                 alpha: &mut Option<AlphaTrack>| {
        let n = rows * w;
        if ycbcr {
            ycbcr_to_rgb(buffer);
        }
        if let Some(track) = alpha.as_mut() {
            track.see(&buffer[track.band][..n]);
        }
        let mask = levels::mask_of(path, bytes, opts, &subs, (0, w, h), [0, row0, w, rows]).ok()?;
        blank_out(buffer, n, nodata, mask.as_ref().map(|(_, m)| m.as_slice()));
        overview.push(&buffer.iter().map(|b| &b[..n]).collect::<Vec<_>>());
        if let Some(track) = alpha.as_mut() {
            // As the full read masks with a two-level alpha band: 0 = no data.
            for i in 0..n {
                if buffer[track.band][i] == 0.0 {
                    buffer.iter_mut().for_each(|b| b[i] = f32::NAN);
                }
            }
            if track.two_level {
                track.masked.push(&buffer.iter().map(|b| &b[..n]).collect::<Vec<_>>());
            }
        }
        Some(())
    };
    let (mut stopped, mut mask_failed) = (false, false);
    let dtype = decode_chunks(&mut dec, path, &layout, None, |chunk| {
        if cancelled() {
            stopped = true;
            return None;
        }
        if chunk.rect.row0 != row0 {
            let rows = chunk.rect.row0.checked_sub(row0)?.min(band_rows);
            if flush(&mut buffer, [row0, rows], &mut overview, &mut alpha).is_none() {
                mask_failed = true;
                return None;
            }
            row0 = chunk.rect.row0;
        }
        chunk.place(&mut buffer, w, [0, row0])
    });
    if stopped || mask_failed {
        return Ok(None);
    }
    let dtype = dtype?;
    if flush(&mut buffer, [row0, h - row0], &mut overview, &mut alpha).is_none() {
        return Ok(None);
    }
    // A band tagged alpha masks only when it holds two levels (the full read's rule, over the band).
    let named = alpha.as_ref().map(|t| (t.band, t.two_level));
    if let Some(track) = alpha.filter(|t| t.two_level) {
        overview = track.masked;
    }
    let meta = meta_of(&mut dec, &layout, dtype, bands, named, nodata.map(f64::from), Vec::new());
    Ok(Preview::averaged(overview, meta, (w, h), named.is_none()))
}

/// The first `n` pixels of `bands` that the full read masks, as NaN in every band: nodata (every
/// band at `nodata`) and the internal mask's holes (`mask` covers the same `n` pixels).
fn blank_out(bands: &mut [Vec<f32>], n: usize, nodata: Option<f32>, mask: Option<&[bool]>) {
    for i in 0..n {
        let hole = mask.is_some_and(|m| m.get(i) == Some(&false))
            || nodata.is_some_and(|nd| bands.iter().all(|b| b.get(i) == Some(&nd)));
        if hole {
            bands.iter_mut().for_each(|b| b[i] = f32::NAN);
        }
    }
}

/// A band tagged alpha as the overview streams: whether it holds two levels (0 and one other value,
/// `super::is_two_level`) so far, and the overview with its zeros masked, kept while it may.
struct AlphaTrack {
    band: usize,
    other: Option<f32>,
    two_level: bool,
    masked: StreamedOverview,
}

impl AlphaTrack {
    fn see(&mut self, values: &[f32]) {
        for &v in values.iter().filter(|v| **v != 0.0) {
            match self.other {
                _ if !self.two_level => return,
                None => self.other = Some(v),
                Some(o) if o.to_bits() == v.to_bits() => {}
                Some(_) => self.two_level = false,
            }
        }
    }
}

/// A TIFF [`open_plain`] accepts: its decoder, layout, bytes and the images after its first.
struct Plain<'a> {
    dec: super::TiffDecoder<'a>,
    layout: Layout,
    bytes: Source<'a>,
    subs: Vec<levels::SubImage>,
}

/// The decoder of a TIFF whose first image can be read a strip or tile at a time into the pixels
/// [`super::read_file`] gives (see [`preview_file`]), checked against `opts`; None for other files.
fn open_plain<'a>(path: &Path, file: &'a std::fs::File, opts: &LoadOptions) -> Result<Option<Plain<'a>>, IoError> {
    let len = file.metadata().map_err(|source| IoError::Read { path: path.to_path_buf(), source })?.len();
    let bytes = Source::File { file, len };
    let mut dec = Decoder::new(Overlay::plain(bytes)).map_err(|e| tiff_error(path, e))?.with_limits(limits(opts));
    let layout = Layout::read(&mut dec, path)?;
    // Palette colour: its indices as a grey band, as the full read gives them (the crate refuses the
    // colour map itself).
    if layout.is_palette() {
        let tag = tiff::tags::Tag::PhotometricInterpretation.to_u16();
        let Some(grey) = Overlay::with_short(bytes, None, tag, 1) else { return Ok(None) };
        dec = Decoder::new(grey).map_err(|e| tiff_error(path, e))?.with_limits(limits(opts));
    }
    let decoded_samples = dec.colortype().map_or(0, |c| usize::from(c.num_samples()));
    // Planar files arrive a strip or tile of every plane at a time (`decode_chunks`), as chunky ones;
    // 8-bit YCbCr is converted to RGB as the full read converts it.
    let plain = !layout.is_complex()
        && (matches!(layout.photometric, 1 | 2) || layout.is_ycbcr8() || layout.is_palette())
        && decoded_samples == layout.samples
        && !raw::needed(&layout, &raw::first_chunk(&mut dec, bytes));
    if !plain {
        return Ok(None);
    }
    opts.check(path, layout.width as u64, layout.height as u64, layout.samples as u64, 0)?;
    let (tw, th) = dec.chunk_dimensions();
    let rows = (th as usize).min(layout.height);
    let row_of_chunks = rows.saturating_mul((tw as usize).max(layout.width)).saturating_mul(layout.samples);
    if row_of_chunks > ROW_SAMPLES_MAX {
        return Ok(None);
    }
    let subs = if dec.more_images() { levels::sub_images(bytes, opts) } else { Vec::new() };
    Ok(Some(Plain { dec, layout, bytes, subs }))
}

/// Whether [`window_file`] reads the TIFF in `file`.
pub(super) fn windowable(path: &Path, file: &std::fs::File, opts: &LoadOptions) -> bool {
    matches!(open_plain(path, file, opts), Ok(Some(plain)) if plain.layout.alpha_band().is_none())
}

/// The window `[x0, y0, w, h]` (clipped to the image) of a TIFF [`preview_file`] streams, decoding
/// only the strips or tiles it meets; nodata (every band at GDAL_NODATA) and the internal mask's
/// holes as NaN, no metadata but the sample type. None for other files.
pub fn window_file(
    path: &Path,
    file: &std::fs::File,
    opts: &LoadOptions,
    [x0, y0, w, h]: [usize; 4],
) -> Result<Option<crate::types::Raster>, IoError> {
    let Some(Plain { mut dec, layout, bytes, subs }) = open_plain(path, file, opts)? else { return Ok(None) };
    // Whether a band tagged alpha masks is known from the whole band only.
    if layout.alpha_band().is_some() {
        return Ok(None);
    }
    let (x0, y0) = (x0.min(layout.width), y0.min(layout.height));
    let (w, h) = (w.min(layout.width - x0), h.min(layout.height - y0));
    let bands = layout.samples;
    let (tw, th) = dec.chunk_dimensions();
    let mut chunk_px = vec![vec![0f32; tw as usize * th as usize]; bands];
    let mut out = vec![vec![f32::NAN; w * h]; bands];
    let dtype = decode_chunks(&mut dec, path, &layout, Some([x0, y0, w, h]), |chunk| {
        let r = chunk.rect;
        chunk.place(&mut chunk_px, r.width, [r.col0, r.row0])?;
        let (ax, bx) = (r.col0.max(x0), (r.col0 + r.width).min(x0 + w));
        let (ay, by) = (r.row0.max(y0), (r.row0 + r.height).min(y0 + h));
        for (from, to) in chunk_px.iter().zip(&mut out) {
            for y in ay..by {
                let src = from.get((y - r.row0) * r.width + ax - r.col0..)?.get(..bx - ax)?;
                to.get_mut((y - y0) * w + ax - x0..)?.get_mut(..bx - ax)?.copy_from_slice(src);
            }
        }
        Some(())
    })?;
    if layout.is_ycbcr8() {
        ycbcr_to_rgb(&mut out);
    }
    let nodata = gdal_nodata(&mut dec).filter(|v| !v.is_nan()).map(|v| v as f32);
    // A mask that cannot be read masks nothing in the full read either.
    let dims = (0, layout.width, layout.height);
    let mask = levels::mask_of(path, bytes, opts, &subs, dims, [x0, y0, w, h]).ok().flatten();
    blank_out(&mut out, w * h, nodata, mask.as_ref().map(|(_, m)| m.as_slice()));
    let meta = crate::types::RasterMeta { dtype: Some(dtype), ..Default::default() };
    Ok(Some(crate::types::Raster::new(w, h, out, meta)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiff::encoder::{Compression, TiffEncoder, colortype};
    use tiff::tags::Tag;

    /// `preview_file` of `bytes` (written to a file) with `max_dim`.
    fn preview_of(bytes: &[u8], max_dim: usize) -> (Result<Option<Preview>, IoError>, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let path = dir.join("image.tif");
        std::fs::write(&path, bytes).expect("write the TIFF");
        let file = std::fs::File::open(&path).expect("open the TIFF");
        (preview_file(&path, &file, &LoadOptions::default(), max_dim, &|| false), path)
    }

    /// The preview of the file at `path` equals its full read averaged, bit for bit.
    fn assert_same_as_full_read(preview: &Preview, path: &Path, max_dim: usize) {
        let full = crate::io::load(path, &LoadOptions::default()).expect("the full read");
        let (small, factor) = crate::stats::downsample_to_fit(&full, max_dim);
        let shown = small.masked_as_nan().unwrap_or(small);
        assert_eq!((preview.width, preview.height, preview.factor), (full.width, full.height, factor));
        assert_eq!((preview.overview.width, preview.overview.height), (shown.width, shown.height));
        for (a, b) in preview.overview.bands.iter().zip(&shown.bands) {
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{a:?}\n{b:?}");
        }
        assert_eq!(preview.meta.dtype, full.meta.dtype);
        assert_eq!(preview.meta.band_names, full.meta.band_names);
        assert_eq!(preview.meta.nodata, full.meta.nodata);
    }

    #[test]
    fn striped_float_with_nodata_and_nan_streams_the_overview_of_the_full_read() {
        let (w, h) = (100u32, 61u32);
        let data: Vec<f32> = (0..w * h)
            .map(|i| match i % 29 {
                0 => -9999.0,
                5 => f32::NAN,
                _ => (i % 97) as f32 * 0.5 - 7.0,
            })
            .collect();
        let mut bytes = std::io::Cursor::new(Vec::new());
        let mut enc = TiffEncoder::new(&mut bytes).expect("encoder");
        let mut img = enc.new_image::<colortype::Gray32Float>(w, h).expect("image");
        img.rows_per_strip(7).expect("rows");
        img.encoder().write_tag(Tag::Unknown(42113), "-9999").expect("nodata tag");
        img.write_data(&data).expect("write");
        let (preview, path) = preview_of(bytes.get_ref(), 16);
        let preview = preview.expect("reads").expect("streams");
        assert_eq!(preview.factor, 7);
        assert_same_as_full_read(&preview, &path, 16);
        assert!(preview.overview.bands[0].iter().all(|v| *v != -9999.0), "nodata is left out");
        let full = crate::io::load(&path, &LoadOptions::default()).expect("the full read");
        for window in [[3, 5, 40, 20], [90, 55, 30, 30], [0, 0, 100, 61]] {
            let file = std::fs::File::open(&path).expect("open");
            let win = window_file(&path, &file, &LoadOptions::default(), window).expect("reads").expect("by window");
            let expected = crate::stats::window_mean(&full, window, 1);
            assert_eq!((win.width, win.height), (expected.width, expected.height));
            let same = win.bands[0].iter().zip(&expected.bands[0]).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "window {window:?}");
        }
    }

    #[test]
    fn compressed_rgb_streams_and_small_images_do_not() {
        let (w, h) = (90u32, 50u32);
        let data: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let mut bytes = std::io::Cursor::new(Vec::new());
        let mut enc = TiffEncoder::new(&mut bytes).expect("encoder").with_compression(Compression::Lzw);
        let mut img = enc.new_image::<colortype::RGB8>(w, h).expect("image");
        img.rows_per_strip(4).expect("rows");
        img.write_data(&data).expect("write");
        let (preview, path) = preview_of(bytes.get_ref(), 20);
        let preview = preview.expect("reads").expect("streams");
        assert_eq!(preview.overview.band_count(), 3);
        assert_same_as_full_read(&preview, &path, 20);
        // It fits the texture: nothing to stream.
        assert!(preview_of(bytes.get_ref(), 90).0.expect("reads").is_none());
    }

    /// A band tagged alpha is a mask only when it holds two levels, known from the whole band: the
    /// stream keeps both overviews and gives the one the full read shows. Windows leave it to the full read.
    #[test]
    fn a_band_tagged_alpha_streams_as_data_or_as_a_mask_as_the_full_read_decides() {
        let (w, h) = (90u32, 50u32);
        let rgba = |alpha: &dyn Fn(u32) -> u8| -> Vec<u8> {
            (0..w * h * 4).map(|i| if i % 4 == 3 { alpha(i / 4) } else { (i * 37 % 251) as u8 }).collect()
        };
        let naip_like = rgba(&|p| (p % 200) as u8);
        let real_alpha = rgba(&|p| if (p % w) < 30 || p / w > 40 { 0 } else { 255 });
        for (data, masks) in [(naip_like, false), (real_alpha, true)] {
            let mut bytes = std::io::Cursor::new(Vec::new());
            let mut enc = TiffEncoder::new(&mut bytes).expect("encoder");
            let mut img = enc.new_image::<colortype::RGB8>(w, h).expect("image");
            img.extra_samples(&[tiff::tags::ExtraSamples::UnassociatedAlpha]).expect("alpha");
            img.rows_per_strip(3).expect("rows");
            img.write_data(&data).expect("write");
            let (preview, path) = preview_of(bytes.get_ref(), 20);
            let preview = preview.expect("reads").expect("streams");
            assert_same_as_full_read(&preview, &path, 20);
            let full = crate::io::load(&path, &LoadOptions::default()).expect("the full read");
            assert_eq!(full.valid.is_some(), masks);
            assert_eq!(preview.overview.bands[0].iter().any(|v| v.is_nan()), masks);
            let file = std::fs::File::open(&path).expect("open");
            assert!(window_file(&path, &file, &LoadOptions::default(), [0, 0, 10, 10]).expect("reads").is_none());
            assert!(!preview.windows, "the app is told windows are not read");
        }
    }

    #[test]
    fn a_truncated_file_fails_and_a_cancelled_read_gives_nothing() {
        let (w, h) = (64u32, 64u32);
        let data: Vec<f32> = (0..w * h).map(|i| i as f32).collect();
        let mut bytes = std::io::Cursor::new(Vec::new());
        let mut enc = TiffEncoder::new(&mut bytes).expect("encoder");
        let mut img = enc.new_image::<colortype::Gray32Float>(w, h).expect("image");
        img.rows_per_strip(8).expect("rows");
        img.write_data(&data).expect("write");
        let whole = bytes.into_inner();
        let (_, path) = preview_of(&whole, 16);
        let file = std::fs::File::open(&path).expect("open");
        let cancelled = preview_file(&path, &file, &LoadOptions::default(), 16, &|| true);
        assert!(cancelled.expect("no error").is_none());
        // The strips are written before the directory: cut into them and keep the directory.
        let mut cut = whole.clone();
        cut.drain(100..4100);
        let (preview, _) = preview_of(&cut, 16);
        assert!(preview.is_err(), "a file whose strips point past its end is refused: {preview:?}");
    }
}
