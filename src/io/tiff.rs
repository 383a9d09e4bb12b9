//! TIFF and GeoTIFF -> [`Raster`]. Decodes the first (full-resolution) image of a TIFF with its
//! internal mask (a cloud-optimised GeoTIFF's overviews give the viewer a first look, see
//! `levels`): integer, float and complex samples, chunky or planar, striped or tiled, with any
//! compression the `tiff` crate handles (JPEG-in-TIFF included). GeoTIFF tags are interpreted by
//! [`super::geotiff`]. Runs on worker threads.

use std::path::Path;

use tiff::TiffError;
use tiff::decoder::{ChunkType, Decoder, DecodingSampleType, Limits, TiffCodingUnit};
use tiff::tags::Tag;

mod levels;
mod preview;
mod raw;

pub use levels::glance_file;
pub use preview::{preview_file, window_file};

use super::geotiff::{self, GeoTags};
use super::tiff_overlay::{Overlay, Source};
use super::{IoError, LoadOptions};
use crate::types::{Raster, RasterMeta, SampleType};

type TiffDecoder<'a> = Decoder<Overlay<'a>>;
/// Decoded bands and the sample type they were stored as.
type Decoded = (Vec<Vec<f32>>, SampleType);

/// Tags that decide how samples are stored, as the file declares them.
#[derive(Clone, Debug)]
struct Layout {
    width: usize,
    height: usize,
    samples: usize,
    bits: u16,
    /// SampleFormat: 1 uint, 2 int, 3 float, 5 complex int, 6 complex float.
    format: u16,
    photometric: u16,
    compression: u16,
    planar: bool,
    extra_samples: Vec<u16>,
}

impl Layout {
    fn read(dec: &mut TiffDecoder, path: &Path) -> Result<Self, IoError> {
        let err = |e| tiff_error(path, e);
        let (w, h) = dec.dimensions().map_err(err)?;
        let first = |v: Option<Vec<u16>>, default| v.and_then(|v| v.first().copied()).unwrap_or(default);
        let mut short = |tag| dec.find_tag_unsigned::<u16>(tag).map_err(err);
        let photometric = short(Tag::PhotometricInterpretation)?.unwrap_or(1);
        let compression = short(Tag::Compression)?.unwrap_or(1);
        let planar = short(Tag::PlanarConfiguration)? == Some(2);
        let samples = usize::from(short(Tag::SamplesPerPixel)?.unwrap_or(1));
        let mut shorts = |tag| dec.find_tag_unsigned_vec::<u16>(tag).map_err(err);
        Ok(Self {
            width: w as usize,
            height: h as usize,
            samples,
            bits: first(shorts(Tag::BitsPerSample)?, 1),
            format: first(shorts(Tag::SampleFormat)?, 1),
            photometric,
            compression,
            planar,
            extra_samples: shorts(Tag::ExtraSamples)?.unwrap_or_default(),
        })
    }

    /// 8-bit YCbCr of at least three samples: what the full read converts to RGB.
    fn is_ycbcr8(&self) -> bool {
        self.photometric == 6 && self.bits == 8 && self.format == 1 && self.samples >= 3
    }

    /// Palette colour of one sample: colour-map indices (class values), read as a grey band.
    fn is_palette(&self) -> bool {
        self.photometric == 3 && self.samples == 1
    }

    fn is_complex(&self) -> bool {
        matches!(self.format, 5 | 6)
    }

    /// Index of a band the file declares as alpha (ExtraSamples 1 or 2), if any.
    fn alpha_band(&self) -> Option<usize> {
        let first_extra = self.samples.checked_sub(self.extra_samples.len())?;
        matches!(self.extra_samples.first(), Some(1 | 2)).then_some(first_extra)
    }
}

/// Reads the first image of a TIFF.
/// The georeferencing of an embedded TIFF (GeoJP2's degenerate GeoTIFF) applied to a `w` x `h` image.
pub(super) fn embedded_georef(bytes: &[u8], w: usize, h: usize) -> Option<geotiff::Georef> {
    let mut dec = Decoder::new(std::io::Cursor::new(bytes)).ok()?;
    let tags = GeoTags::read(&mut dec);
    (!tags.is_empty()).then(|| geotiff::georeference(&tags, w, h))
}

/// Reads the first image of a TIFF held in memory.
pub fn read(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<Raster, IoError> {
    read_source(path, Source::Memory(bytes), opts)
}

/// Reads the first image of a TIFF from its file, strip by strip or tile by tile: only the
/// decoded raster is held, never the file's bytes.
pub fn read_file(path: &Path, file: &std::fs::File, opts: &LoadOptions) -> Result<Raster, IoError> {
    let len = file.metadata().map_err(|source| IoError::Read { path: path.to_path_buf(), source })?.len();
    read_source(path, Source::File { file, len }, opts)
}

fn read_source(path: &Path, bytes: Source<'_>, opts: &LoadOptions) -> Result<Raster, IoError> {
    read_image(path, bytes, opts, 0)
}

/// Reads image `index` of the TIFF's chain of directories (0: the first, full-resolution image; a
/// cloud-optimised GeoTIFF's overviews and masks follow it), with its internal mask applied.
fn read_image(path: &Path, bytes: Source<'_>, opts: &LoadOptions, index: usize) -> Result<Raster, IoError> {
    if bytes.len() == 0 {
        return Err(IoError::corrupt(path, "the file is empty"));
    }
    let open = |source| -> Result<TiffDecoder<'_>, IoError> {
        let mut dec = Decoder::new(source).map_err(|e| tiff_error(path, e))?.with_limits(limits(opts));
        if index > 0 {
            dec.seek_to_image(index).map_err(|e| tiff_error(path, e))?;
        }
        Ok(dec)
    };
    let short = |tag: Tag| super::tiff_overlay::first_short(bytes, tag.to_u16());
    if index == 0
        && (matches!(short(Tag::Compression), Some(34676 | 34677))
            || matches!(short(Tag::PhotometricInterpretation), Some(32844 | 32845)))
    {
        return Err(IoError::unsupported(
            path,
            "SGI LogL / LogLuv high-dynamic-range encoding (tifffile refuses it too; convert it to a float TIFF, e.g. with \
             gdal_translate -ot Float32)",
        ));
    }
    let mut dec = open(Overlay::plain(bytes))?;
    let ifd = if index > 0 { dec.ifd_pointer().map(|p| p.0) } else { None };
    let photometric_grey = || Overlay::with_short(bytes, ifd, Tag::PhotometricInterpretation.to_u16(), 1);
    let layout = Layout::read(&mut dec, path)?;
    // The `tiff` crate decodes RGB as three samples (four with alpha) and drops any other extra
    // sample; read such a file as multiband (PhotometricInterpretation 1) so every band arrives.
    let decoded_samples = dec.colortype().map_or(layout.samples, |c| usize::from(c.num_samples()));
    let drops_samples = layout.photometric == 2 && !layout.planar && decoded_samples < layout.samples;
    if drops_samples
        && layout.compression != 7
        && let Some(overlay) = photometric_grey()
    {
        dec = open(overlay)?;
    }
    // Palette colour (a classified map): the crate refuses it; its samples are colour-map indices,
    // which is what tifffile and GDAL return too, so read them as a grey band.
    let palette = layout.is_palette();
    if palette && let Some(overlay) = photometric_grey() {
        dec = open(overlay)?;
    }
    let (w, h) = (layout.width, layout.height);
    opts.check(path, w as u64, h as u64, layout.samples as u64, bytes.held())?;
    let (tw, th) = dec.chunk_dimensions();
    if u64::from(tw) * u64::from(th.min(h as u32)) * layout.samples as u64 > opts.max_samples {
        return Err(IoError::corrupt(path, format!("a TIFF tile or strip of {tw} x {th} pixels is implausibly large")));
    }

    let mut notes = Vec::new();
    if palette {
        notes.push(
            "palette colour: the band holds the colour map's indices (class values), as tifffile and GDAL read them"
                .to_string(),
        );
    }
    let (mut bands, dtype) = if layout.is_complex() {
        notes.push("complex samples shown as magnitude".to_string());
        if layout.format == 5 {
            notes.push("complex integer samples: the sample type names each real/imaginary part".to_string());
        }
        read_complex(&mut dec, bytes, path, &layout)?
    } else if raw::needed(&layout, &raw::first_chunk(&mut dec, bytes)) {
        raw::read(&mut dec, bytes, path, &layout, &mut notes)?
    } else {
        read_samples(&mut dec, path, &layout)?
    };
    if layout.photometric == 6 && dtype == SampleType::U8 && bands.len() >= 3 {
        ycbcr_to_rgb(&mut bands);
        notes.push("YCbCr converted to RGB".to_string());
    }

    let mut valid = None;
    let alpha = layout.alpha_band().filter(|&a| a < bands.len() && bands.len() > 1);
    // Every band stays a band: tools write NAIP's near-infrared band with ExtraSamples = alpha, so
    // the tag alone does not make a mask. A tagged band that holds two levels (0 and one other
    // value) is a real alpha and also masks; any other is data.
    let mask_like = alpha.is_some_and(|a| is_two_level(&bands[a]));
    if let Some(a) = alpha {
        if mask_like {
            valid = Some(bands[a].iter().map(|&v| v != 0.0).collect::<Vec<bool>>());
            notes.push(format!(
                "band {} is an alpha mask: kept as a band and used as the validity mask (0 = no data)",
                a + 1
            ));
        } else {
            notes.push(format!(
                "band {} is tagged as alpha but holds continuous values (e.g. NAIP near-infrared): kept as a data band, not used as a mask",
                a + 1
            ));
        }
    }
    let nodata = gdal_nodata(&mut dec);
    if let Some(nd) = nodata.filter(|v| !v.is_nan()) {
        apply_nodata(&bands, nd as f32, &mut valid);
    }
    let subs = if dec.more_images() { levels::sub_images(bytes, opts) } else { Vec::new() };
    match levels::mask_of(path, bytes, opts, &subs, (index, w, h), [0, 0, w, h]) {
        Ok(Some((sub, mask))) => {
            let hidden = mask.iter().filter(|&&m| !m).count();
            let valid = valid.get_or_insert_with(|| vec![true; w * h]);
            valid.iter_mut().zip(&mask).for_each(|(v, m)| *v &= m);
            notes.push(format!(
                "internal mask (image {} of the file) applied: {hidden} of {} pixels ({:.1} %) have no data",
                sub.index + 1,
                w * h,
                100.0 * hidden as f64 / (w * h).max(1) as f64
            ));
        }
        Ok(None) => {}
        Err(e) => notes.push(format!("the internal mask could not be read, so it masks nothing: {e}")),
    }
    if index == 0
        && let Some(text) = levels::describe(&subs)
    {
        notes.push(text);
    }
    if valid.as_ref().is_some_and(|m| m.iter().all(|&v| v)) {
        valid = None;
    }
    let alpha = alpha.map(|a| (a, mask_like));
    let meta = meta_of(&mut dec, &layout, dtype, bands.len(), alpha, nodata, notes);
    let mut raster = Raster::new(w, h, bands, meta);
    raster.valid = valid;
    Ok(raster)
}

/// The metadata of the first image: georeferencing, band names (`alpha`: the band tagged alpha and
/// whether it is a real mask), sample type and nodata, after the `notes` made while decoding.
fn meta_of(
    dec: &mut TiffDecoder,
    layout: &Layout,
    dtype: SampleType,
    band_count: usize,
    alpha: Option<(usize, bool)>,
    nodata: Option<f64>,
    mut notes: Vec<String>,
) -> RasterMeta {
    let tags = GeoTags::read(dec);
    let geo = geotiff::georeference(&tags, layout.width, layout.height);
    notes.extend(geo.notes);
    let rgb = matches!(layout.photometric, 2 | 6);
    let band_names = (0..band_count)
        .map(|i| match (rgb, i, alpha) {
            (true, 0..=2, _) => ["R", "G", "B"][i].to_string(),
            (_, _, Some((a, true))) if a == i => "alpha".to_string(),
            (_, _, Some((a, false))) if a == i => format!("band {} (tagged alpha)", i + 1),
            _ => format!("band {}", i + 1),
        })
        .collect();
    RasterMeta {
        format: if tags.is_empty() { "TIFF" } else { "GeoTIFF" }.to_string(),
        dtype: Some(dtype),
        band_names,
        pixel_size: geo.pixel_size,
        crs: geo.crs,
        transform: geo.transform,
        nodata,
        notes,
        ..RasterMeta::default()
    }
}

/// True when a band holds at most two values, one of them 0 (a mask, not a measurement).
fn is_two_level(band: &[f32]) -> bool {
    let mut other: Option<f32> = None;
    for &v in band {
        if v == 0.0 {
            continue;
        }
        match other {
            None => other = Some(v),
            Some(o) if o.to_bits() == v.to_bits() => {}
            Some(_) => return false,
        }
    }
    true
}

/// The GDAL_NODATA tag (ASCII text holding a number), if present and readable.
fn gdal_nodata(dec: &mut TiffDecoder) -> Option<f64> {
    let text = dec.find_tag(Tag::GdalNodata).ok()??.into_string().ok()?;
    text.trim_matches(|c: char| c == '\0' || c.is_whitespace()).parse().ok()
}

/// Decoder limits derived from the load budget (8 bytes per sample at most).
fn limits(opts: &LoadOptions) -> Limits {
    let mut limits = Limits::default();
    limits.decoding_buffer_size = usize::try_from(opts.max_samples.saturating_mul(8)).unwrap_or(usize::MAX);
    limits.ifd_value_size = 16 << 20;
    limits
}

fn tiff_error(path: &Path, e: TiffError) -> IoError {
    match e {
        TiffError::UnsupportedError(u) => IoError::unsupported(path, format!("TIFF feature: {u}")),
        TiffError::LimitsExceeded => {
            IoError::unsupported(path, "a TIFF strip or tile exceeds the decoder's memory limits")
        }
        TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            IoError::corrupt(path, "TIFF data ends early")
        }
        other => IoError::corrupt(path, format!("TIFF: {other}")),
    }
}

/// The sample type the `tiff` crate decodes to (`bits` < 8 are packed unsigned integers).
fn sample_type(decoded: DecodingSampleType, bits: u16) -> SampleType {
    use DecodingSampleType as D;
    match decoded {
        D::U8 if bits == 1 => SampleType::Bool,
        D::U8 => SampleType::U8,
        D::I8 => SampleType::I8,
        D::U16 => SampleType::U16,
        D::I16 => SampleType::I16,
        D::U32 => SampleType::U32,
        D::I32 => SampleType::I32,
        D::U64 => SampleType::U64,
        D::I64 => SampleType::I64,
        D::F16 => SampleType::F16,
        D::F32 => SampleType::F32,
        D::F64 => SampleType::F64,
    }
}

/// Sample `i` of a decoded (native-endian) row; None when the row is too short.
fn sample_at(t: SampleType, bits: u16, row: &[u8], i: usize) -> Option<f32> {
    fn arr<const N: usize>(row: &[u8], i: usize) -> Option<[u8; N]> {
        row.get(i.checked_mul(N)?..)?.get(..N)?.try_into().ok()
    }
    Some(match t {
        SampleType::U8 | SampleType::Bool if bits < 8 => {
            // Packed samples, most significant bit first; one may straddle two bytes.
            let bit = i.checked_mul(usize::from(bits))?;
            let word = u16::from_be_bytes([*row.get(bit / 8)?, row.get(bit / 8 + 1).map_or(0, |b| *b)]);
            let shift = 16 - u32::from(bits) - (bit % 8) as u32;
            f32::from((word >> shift) & ((1 << bits) - 1))
        }
        SampleType::U8 | SampleType::Bool => f32::from(*row.get(i)?),
        SampleType::I8 => f32::from(i8::from_ne_bytes(arr(row, i)?)),
        SampleType::U16 => f32::from(u16::from_ne_bytes(arr(row, i)?)),
        SampleType::I16 => f32::from(i16::from_ne_bytes(arr(row, i)?)),
        SampleType::U32 => u32::from_ne_bytes(arr(row, i)?) as f32,
        SampleType::I32 => i32::from_ne_bytes(arr(row, i)?) as f32,
        SampleType::U64 => u64::from_ne_bytes(arr(row, i)?) as f32,
        SampleType::I64 => i64::from_ne_bytes(arr(row, i)?) as f32,
        SampleType::F16 => f16_to_f32(u16::from_ne_bytes(arr(row, i)?)),
        SampleType::F32 => f32::from_ne_bytes(arr(row, i)?),
        SampleType::F64 => f64::from_ne_bytes(arr(row, i)?) as f32,
        SampleType::C64 | SampleType::C128 => return None,
    })
}

/// IEEE half-precision bits to f32.
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let frac = f32::from(h & 0x3ff);
    sign * match i32::from((h >> 10) & 0x1f) {
        0 => frac * 2f32.powi(-24),
        31 if frac == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// Where a strip or tile lies in the image, clipped to it.
#[derive(Clone, Copy, Debug)]
struct Rect {
    col0: usize,
    row0: usize,
    width: usize,
    height: usize,
}

impl Rect {
    /// Chunk `unit` (within one plane) of `(tw, th)` chunks tiling a `w` x `h` image.
    fn of_chunk(unit: usize, (tw, th): (usize, usize), w: usize, h: usize) -> Option<Self> {
        let across = (tw > 0 && th > 0).then(|| w.div_ceil(tw)).filter(|&a| a > 0)?;
        let (col0, row0) = ((unit % across).checked_mul(tw)?, (unit / across).checked_mul(th)?);
        (col0 < w && row0 < h).then(|| Self { col0, row0, width: tw.min(w - col0), height: th.min(h - row0) })
    }
}

/// Copies one chunk into `bands` (`w` wide): `sample(r, i)` is sample `i` of the chunk's row `r`,
/// with `spp` interleaved samples per pixel, or only band `plane` for planar data.
fn place(
    bands: &mut [Vec<f32>],
    w: usize,
    rect: Rect,
    plane: Option<usize>,
    spp: usize,
    mut sample: impl FnMut(usize, usize) -> Option<f32>,
) -> Option<()> {
    for r in 0..rect.height {
        let out_row = (rect.row0 + r) * w + rect.col0;
        for c in 0..rect.width {
            for s in 0..spp {
                let v = sample(r, c * spp + s)?;
                let band = bands.get_mut(plane.unwrap_or(s))?;
                *band.get_mut(out_row + c)? = v;
            }
        }
    }
    Some(())
}

/// [`place`] for native-endian f32 samples (`row_bytes` apart), a row of a band at a time: the
/// common float GeoTIFF decodes ~10x faster than through a call per sample.
fn place_f32(
    bands: &mut [Vec<f32>],
    w: usize,
    rect: Rect,
    plane: Option<usize>,
    spp: usize,
    bytes: &[u8],
    row_bytes: usize,
) -> Option<()> {
    for r in 0..rect.height {
        let row = bytes.get(r.checked_mul(row_bytes)?..)?.get(..rect.width.checked_mul(spp * 4)?)?;
        let out_row = (rect.row0 + r) * w + rect.col0;
        for s in 0..spp {
            let band = bands.get_mut(plane.unwrap_or(s))?;
            let out = band.get_mut(out_row..out_row + rect.width)?;
            for (o, px) in out.iter_mut().zip(row.chunks_exact(spp * 4)) {
                *o = f32::from_ne_bytes([px[4 * s], px[4 * s + 1], px[4 * s + 2], px[4 * s + 3]]);
            }
        }
    }
    Some(())
}

/// Decodes every strip or tile with the `tiff` crate into f32 bands.
fn read_samples(dec: &mut TiffDecoder, path: &Path, layout: &Layout) -> Result<Decoded, IoError> {
    let (w, h) = (layout.width, layout.height);
    let band_count = usize::from(dec.colortype().map_err(|e| tiff_error(path, e))?.num_samples());
    let mut bands = vec![vec![0f32; w * h]; band_count];
    let dtype = decode_chunks(dec, path, layout, None, |chunk| chunk.place(&mut bands, w, [0, 0]))?;
    Ok((bands, dtype))
}

/// One decoded strip or tile: where it lies, which band (planar) or how many interleaved samples a
/// pixel (chunky), its samples' type, and its rows, `row_bytes` apart.
struct Chunk<'a> {
    rect: Rect,
    plane: Option<usize>,
    spp: usize,
    sample: SampleType,
    bits: u16,
    bytes: &'a [u8],
    row_bytes: usize,
}

impl Chunk<'_> {
    /// Copies the chunk into `bands`, `w` wide, whose first pixel is image pixel `[col0, row0]`.
    fn place(&self, bands: &mut [Vec<f32>], w: usize, [col0, row0]: [usize; 2]) -> Option<()> {
        let rect =
            Rect { col0: self.rect.col0.checked_sub(col0)?, row0: self.rect.row0.checked_sub(row0)?, ..self.rect };
        if self.sample == SampleType::F32 {
            place_f32(bands, w, rect, self.plane, self.spp, self.bytes, self.row_bytes)
        } else {
            let at = |r: usize| self.bytes.get(r * self.row_bytes..);
            place(bands, w, rect, self.plane, self.spp, |r, i| sample_at(self.sample, self.bits, at(r)?, i))
        }
    }
}

/// Decodes every strip or tile with the `tiff` crate (only those meeting the window `[x0, y0, w, h]`
/// when `within` is given), in the file's order (rows of tiles top to bottom; planar files plane by
/// plane), handing each to `sink`; a sink that answers None stops the read as corrupt. Returns the
/// samples' type.
fn decode_chunks(
    dec: &mut TiffDecoder,
    path: &Path,
    layout: &Layout,
    within: Option<[usize; 4]>,
    mut sink: impl FnMut(&Chunk<'_>) -> Option<()>,
) -> Result<SampleType, IoError> {
    let err = |e| tiff_error(path, e);
    let (w, h) = (layout.width, layout.height);
    let band_count = usize::from(dec.colortype().map_err(err)?.num_samples());
    let chunks = match dec.get_chunk_type() {
        ChunkType::Strip => dec.strip_count().map_err(err)?,
        ChunkType::Tile => dec.tile_count().map_err(err)?,
    } as usize;
    let per_plane = if layout.planar { chunks / layout.samples.max(1) } else { chunks };
    let (tw, th) = dec.chunk_dimensions();
    let mut dtype = None;
    let short = || IoError::corrupt(path, "a TIFF strip or tile decoded to less data than declared");
    let mut buffer = tiff::decoder::DecodingResult::U8(Vec::new());

    for unit in 0..per_plane {
        let Some(rect) = Rect::of_chunk(unit, (tw as usize, th as usize), w, h) else {
            break;
        };
        if let Some([x0, y0, ww, wh]) = within
            && (rect.col0 >= x0 + ww
                || rect.col0 + rect.width <= x0
                || rect.row0 >= y0 + wh
                || rect.row0 + rect.height <= y0)
        {
            continue;
        }
        let code = TiffCodingUnit(unit as u32);
        let info = dec.image_coding_unit_layout(code).map_err(err)?;
        let decoded = info.sample_type.ok_or_else(|| IoError::unsupported(path, "TIFF sample type"))?;
        let t = *dtype.insert(sample_type(decoded, layout.bits));
        let planes = if layout.planar { band_count } else { 1 };
        for p in 0..planes {
            let (plane, spp) = if layout.planar { (Some(p), 1) } else { (None, band_count) };
            // Whole chunk rows (padding included) in one read: the crate's row-by-row path for
            // clipped edge tiles stalls the LZW decoder on short rows ("no lzw end code found").
            let row_bytes = (tw as usize)
                .checked_mul(spp)
                .and_then(|n| n.checked_mul(usize::from(layout.bits)))
                .map(|n| n.div_ceil(8))
                .ok_or_else(|| IoError::corrupt(path, "TIFF chunk rows overflow"))?;
            let chunk = u32::try_from(unit + p * per_plane).map_err(|_| short())?;
            dec.read_chunk_to_buffer(&mut buffer, chunk, row_bytes).map_err(err)?;
            let buf = buffer.as_buffer(0);
            let chunk = Chunk { rect, plane, spp, sample: t, bits: layout.bits, bytes: buf.as_bytes(), row_bytes };
            sink(&chunk).ok_or_else(short)?;
        }
    }
    dtype.ok_or_else(|| IoError::corrupt(path, "the TIFF has no strips or tiles"))
}

/// Reads complex samples (which the `tiff` crate refuses) straight from uncompressed chunks.
fn read_complex(dec: &mut TiffDecoder, bytes: Source<'_>, path: &Path, layout: &Layout) -> Result<Decoded, IoError> {
    if layout.compression != 1 {
        return Err(IoError::unsupported(path, "compressed complex TIFF samples"));
    }
    // Bytes per real or imaginary part, the dtype to report, and whether parts are floats.
    let (part, dtype, float) = match (layout.format, layout.bits) {
        (6, 64) => (4, SampleType::C64, true),
        (6, 128) => (8, SampleType::C128, true),
        (5, 32) => (2, SampleType::I16, false),
        (5, 64) => (4, SampleType::I32, false),
        (f, b) => {
            return Err(IoError::unsupported(path, format!("complex TIFF samples of {b} bits (format {f})")));
        }
    };
    let little = bytes.little_endian();
    let tiled = dec.get_chunk_type() == ChunkType::Tile;
    let tag = if tiled { Tag::TileOffsets } else { Tag::StripOffsets };
    let offsets = dec.get_tag_u64_vec(tag).map_err(|e| tiff_error(path, e))?;
    let (w, h, samples) = (layout.width, layout.height, layout.samples);
    let (tw, th) = dec.chunk_dimensions();
    let (tw, th) = (tw as usize, th as usize);
    if tw == 0 || th == 0 {
        return Err(IoError::corrupt(path, "the TIFF declares empty strips or tiles"));
    }
    let (spp, planes) = if layout.planar { (1, samples) } else { (samples, 1) };
    let row_bytes = tw * spp * 2 * part;
    let per_plane = w.div_ceil(tw) * h.div_ceil(th);
    if offsets.len() < per_plane * planes {
        return Err(IoError::corrupt(path, "the TIFF lists fewer strips or tiles than the image needs"));
    }
    let outside = || IoError::corrupt(path, "a TIFF strip or tile lies outside the file");
    let mut bands = vec![vec![0f32; w * h]; samples];
    for (k, &offset) in offsets.iter().enumerate().take(per_plane * planes) {
        let Some(rect) = Rect::of_chunk(k % per_plane, (tw, th), w, h) else {
            continue;
        };
        // Tiles are stored full-size; strips hold only their own rows.
        let len = if tiled { th } else { rect.height }.checked_mul(row_bytes).ok_or_else(outside)?;
        let chunk = bytes.get(offset, len).filter(|c| c.len() == len).ok_or_else(outside)?;
        let plane = layout.planar.then_some(k / per_plane);
        place(&mut bands, w, rect, plane, spp, |r, i| {
            let at = r * row_bytes + i * 2 * part;
            let (re, im) = (chunk.get(at..at + part)?, chunk.get(at + part..at + 2 * part)?);
            Some(part_value(re, float, little).hypot(part_value(im, float, little)) as f32)
        })
        .ok_or_else(outside)?;
    }
    Ok((bands, dtype))
}

/// One real or imaginary part (2, 4 or 8 bytes, integer or float) in the file's byte order.
fn part_value(b: &[u8], float: bool, little: bool) -> f64 {
    let mut buf = [0u8; 8];
    let n = b.len().min(8);
    buf[..n].copy_from_slice(&b[..n]);
    if !little {
        buf[..n].reverse();
    }
    let [a, b, c, d, ..] = buf;
    match (n, float) {
        (2, false) => f64::from(i16::from_le_bytes([a, b])),
        (4, false) => f64::from(i32::from_le_bytes([a, b, c, d])),
        (4, true) => f64::from(f32::from_le_bytes([a, b, c, d])),
        (8, true) => f64::from_le_bytes(buf),
        _ => f64::NAN,
    }
}

/// JPEG-style (full-range BT.601) YCbCr to RGB on the first three bands, in place.
fn ycbcr_to_rgb(bands: &mut [Vec<f32>]) {
    let [y, cb, cr, ..] = bands else { return };
    for ((y, cb), cr) in y.iter_mut().zip(cb.iter_mut()).zip(cr.iter_mut()) {
        let (l, b, r) = (*y, *cb - 128.0, *cr - 128.0);
        *y = (l + 1.402 * r).round().clamp(0.0, 255.0);
        *cb = (l - 0.344_136 * b - 0.714_136 * r).round().clamp(0.0, 255.0);
        *cr = (l + 1.772 * b).round().clamp(0.0, 255.0);
    }
}

/// Marks pixels whose every band equals the nodata value as invalid.
fn apply_nodata(bands: &[Vec<f32>], nodata: f32, valid: &mut Option<Vec<bool>>) {
    let Some(first) = bands.first() else { return };
    let mask = valid.get_or_insert_with(|| vec![true; first.len()]);
    for (i, v) in mask.iter_mut().enumerate() {
        if bands.iter().all(|b| b.get(i) == Some(&nodata)) {
            *v = false;
        }
    }
}

#[cfg(test)]
mod tests;
