//! PNG and JPEG -> [`Raster`] through the `image` crate: bands hold the stored values (0-255 or
//! 0-65535, not normalised), an alpha channel becomes the validity mask instead of a band, and the
//! declared size is checked against the load budget before anything is decoded. Runs on worker
//! threads.

use std::io::Cursor;
use std::path::Path;

use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::PngDecoder;
use image::metadata::Orientation;
use image::{ImageDecoder, ImageError, Limits};

use super::{Format, IoError, LoadOptions};
use crate::types::{Raster, RasterMeta, SampleType};

/// Slack on top of the output buffer for the decoders' own working memory.
const DECODER_SLACK_BYTES: u64 = 64 << 20;

/// Reads a PNG or JPEG file.
pub fn read(path: &Path, bytes: &[u8], format: Format, opts: &LoadOptions) -> Result<Raster, IoError> {
    let err = |e| image_error(path, e);
    let mut notes = Vec::new();
    match format {
        Format::Png => {
            let header = PngHeader::parse(bytes)
                .ok_or_else(|| IoError::corrupt(path, "PNG header (IHDR) missing or truncated"))?;
            // The decoder's own buffer (every stored channel at its depth) is held beside the raster.
            let held = header.decoded_bytes().saturating_add(bytes.len() as u64);
            opts.check(path, header.width.into(), header.height.into(), header.bands(), held)?;
            if header.color_type == 3 {
                // The png crate indexes the palette without checking its length (png 0.18.1 panics on
                // a PLTE of 398 bytes, found by `heatscope fuzz`): check it first.
                if let Some(problem) = palette_problem(bytes) {
                    return Err(IoError::corrupt(path, problem));
                }
                notes.push("palette expanded to RGB".to_string());
            }
            let limits = limits(header.width, header.height, 8);
            let decoder = PngDecoder::with_limits(Cursor::new(bytes), limits).map_err(err)?;
            decode(path, decoder, "PNG", notes)
        }
        Format::Jpeg => {
            let mut decoder = JpegDecoder::new(Cursor::new(bytes)).map_err(err)?;
            let (w, h) = decoder.dimensions();
            let color = decoder.color_type();
            let bands = color.channel_count() - u8::from(color.has_alpha());
            let decoded = u64::from(w) * u64::from(h) * u64::from(color.channel_count());
            opts.check(path, w.into(), h.into(), bands.into(), decoded.saturating_add(bytes.len() as u64))?;
            decoder.set_limits(limits(w, h, 4)).map_err(err)?;
            match decoder.orientation() {
                Ok(Orientation::NoTransforms) | Err(_) => {}
                Ok(o) => notes.push(format!("EXIF orientation ({o:?}) not applied: pixels are shown as stored")),
            }
            decode(path, decoder, "JPEG", notes)
        }
        _ => Err(IoError::unsupported(path, "not a PNG or JPEG file")),
    }
}

/// Decode any image the `image` crate reads (PNG, JPEG, TIFF...) to 8-bit RGB for a VLM prompt, with
/// the same guards as [`read`]: the palette checked, the size checked against `opts` before decoding,
/// the decoder's allocations limited. `path` names the file in errors.
pub fn decode_rgb(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<image::RgbImage, IoError> {
    let err = |e| image_error(path, e);
    if bytes.starts_with(b"\x89PNG")
        && let Some(problem) = palette_problem(bytes)
    {
        return Err(IoError::corrupt(path, problem));
    }
    let reader = || {
        image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| IoError::corrupt(path, format!("cannot read the image: {e}")))
    };
    let (w, h) = reader()?.into_dimensions().map_err(err)?;
    opts.check(path, w.into(), h.into(), 3, bytes.len() as u64)?;
    let mut r = reader()?;
    r.limits(limits(w, h, 4));
    Ok(r.decode().map_err(err)?.to_rgb8())
}

/// [`decode_rgb`] of a file.
pub fn read_rgb(path: &Path, opts: &LoadOptions) -> Result<image::RgbImage, IoError> {
    let bytes = std::fs::read(path).map_err(|source| IoError::Read { path: path.to_path_buf(), source })?;
    decode_rgb(path, &bytes, opts)
}

/// What is wrong with a PNG's palette chunks (read up to the first IDAT), if anything: a PLTE must
/// hold 1-256 whole RGB entries, a tRNS no more alphas than the palette has entries.
fn palette_problem(bytes: &[u8]) -> Option<String> {
    let mut at = 8;
    let mut entries = None;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().ok()?) as usize;
        let kind = &bytes[at + 4..at + 8];
        match kind {
            b"PLTE" if !len.is_multiple_of(3) || len == 0 || len > 768 => {
                return Some(format!("the PNG palette (PLTE) holds {len} bytes, not 1-256 RGB entries"));
            }
            b"PLTE" => entries = Some(len / 3),
            b"tRNS" if entries.is_some_and(|n| len > n) => {
                return Some(format!(
                    "the PNG transparency (tRNS) holds {len} alphas for {} palette entries",
                    entries.unwrap_or(0)
                ));
            }
            b"IDAT" => break,
            _ => {}
        }
        at = at.checked_add(12)?.checked_add(len)?;
    }
    None
}

/// Decoder limits for a `width` x `height` image of up to `channels` 16-bit channels.
fn limits(width: u32, height: u32, channels: u64) -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    let output = u64::from(width) * u64::from(height) * channels * 2;
    limits.max_alloc = Some(output.saturating_add(DECODER_SLACK_BYTES));
    limits
}

fn image_error(path: &Path, e: ImageError) -> IoError {
    match e {
        ImageError::Unsupported(u) => IoError::unsupported(path, u.to_string()),
        ImageError::Limits(l) => {
            IoError::corrupt(path, format!("the image needs more memory than its size implies ({l})"))
        }
        other => IoError::corrupt(path, other.to_string()),
    }
}

/// The fields of a PNG's IHDR chunk this reader needs before decoding.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PngHeader {
    width: u32,
    height: u32,
    bit_depth: u8,
    color_type: u8,
}

impl PngHeader {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let ihdr = bytes.get(8..26)?;
        if &ihdr[4..8] != b"IHDR" {
            return None;
        }
        let be = |at: usize| ihdr.get(at..at + 4)?.try_into().ok().map(u32::from_be_bytes);
        Some(Self { width: be(8)?, height: be(12)?, bit_depth: *ihdr.get(16)?, color_type: *ihdr.get(17)? })
    }

    /// Bytes of the decoded image: every channel (a palette expanded to RGBA at most) at 8 or 16 bits.
    fn decoded_bytes(self) -> u64 {
        let channels: u64 = match self.color_type {
            0 => 1,
            4 => 2,
            2 => 3,
            _ => 4,
        };
        let depth = if self.bit_depth == 16 { 2 } else { 1 };
        // Saturating: a lying header may claim 2^32 - 1 a side (the budget refuses it next).
        u64::from(self.width).saturating_mul(u64::from(self.height)).saturating_mul(channels * depth)
    }

    /// Bands kept after decoding (alpha goes to the mask; a palette expands to RGB).
    fn bands(self) -> u64 {
        match self.color_type {
            0 | 4 => 1,
            _ => 3,
        }
    }
}

/// Decodes the whole image and splits it into f32 bands plus an alpha mask.
fn decode(path: &Path, decoder: impl ImageDecoder, format: &str, mut notes: Vec<String>) -> Result<Raster, IoError> {
    let (w, h) = decoder.dimensions();
    let (w, h) = (w as usize, h as usize);
    let color = decoder.color_type();
    let channels = usize::from(color.channel_count());
    let pixel_bytes = usize::from(color.bytes_per_pixel());
    let has_alpha = color.has_alpha();
    let (bytes_per_sample, dtype) = match pixel_bytes.checked_div(channels) {
        Some(1) => (1, SampleType::U8),
        Some(2) => (2, SampleType::U16),
        Some(4) => (4, SampleType::F32),
        _ => {
            return Err(IoError::unsupported(path, format!("{format} colour type {color:?}")));
        }
    };
    let total = usize::try_from(decoder.total_bytes()).map_err(|_| IoError::corrupt(path, "image size overflows"))?;
    let pixels = w.checked_mul(h).filter(|p| p.checked_mul(pixel_bytes) == Some(total));
    let pixels = pixels.ok_or_else(|| IoError::corrupt(path, "decoder buffer size does not match the image size"))?;
    let mut buf = vec![0u8; total];
    decoder.read_image(&mut buf).map_err(|e| image_error(path, e))?;

    let data_bands = channels - usize::from(has_alpha);
    let mut bands = vec![Vec::with_capacity(pixels); data_bands];
    let mut valid = Vec::with_capacity(if has_alpha { pixels } else { 0 });
    for px in buf.chunks_exact(pixel_bytes) {
        for (ch, s) in px.chunks_exact(bytes_per_sample).enumerate() {
            let v = match *s {
                [a] => f32::from(a),
                [a, b] => f32::from(u16::from_ne_bytes([a, b])),
                [a, b, c, d] => f32::from_ne_bytes([a, b, c, d]),
                _ => f32::NAN,
            };
            match bands.get_mut(ch) {
                Some(band) => band.push(v),
                None => valid.push(v != 0.0),
            }
        }
    }
    let valid = if has_alpha {
        notes.push("alpha channel used as the validity mask (alpha 0 = no data)".to_string());
        Some(valid).filter(|m| m.iter().any(|&v| !v))
    } else {
        None
    };
    let band_names = match data_bands {
        1 => vec!["gray".to_string()],
        3 => ["R", "G", "B"].map(String::from).to_vec(),
        n => (1..=n).map(|i| format!("band {i}")).collect(),
    };
    let meta =
        RasterMeta { format: format.to_string(), dtype: Some(dtype), band_names, notes, ..RasterMeta::default() };
    let mut raster = Raster::new(w, h, bands, meta);
    raster.valid = valid;
    Ok(raster)
}

#[cfg(test)]
mod tests {
    use image::codecs::jpeg::JpegEncoder;
    use image::codecs::png::PngEncoder;
    use image::{ExtendedColorType, ImageEncoder};

    use super::*;

    fn png(data: &[u8], w: u32, h: u32, color: ExtendedColorType) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out).write_image(data, w, h, color).expect("encode test PNG");
        out
    }

    fn load(bytes: &[u8], format: Format) -> Result<Raster, IoError> {
        read(Path::new("test.img"), bytes, format, &LoadOptions::default())
    }

    #[test]
    fn rgba_png_alpha_becomes_mask() {
        let data = [10, 20, 30, 255, 40, 50, 60, 0, 70, 80, 90, 128];
        let r = load(&png(&data, 3, 1, ExtendedColorType::Rgba8), Format::Png).expect("decode");
        assert_eq!((r.width, r.height, r.band_count()), (3, 1, 3));
        assert_eq!(r.bands[0], vec![10.0, 40.0, 70.0]);
        assert_eq!(r.bands[2], vec![30.0, 60.0, 90.0]);
        assert_eq!(r.valid, Some(vec![true, false, true]));
        assert_eq!(r.meta.dtype, Some(SampleType::U8));
        assert_eq!(r.meta.band_names, ["R", "G", "B"]);
        assert_eq!(r.meta.format, "PNG");
        assert!(r.meta.notes.iter().any(|n| n.contains("alpha")));
    }

    #[test]
    fn sixteen_bit_png_keeps_raw_values() {
        let values: [u16; 4] = [0, 1000, 40000, 65535];
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let r = load(&png(&data, 2, 2, ExtendedColorType::L16), Format::Png).expect("decode");
        assert_eq!(r.bands, vec![vec![0.0, 1000.0, 40000.0, 65535.0]]);
        assert_eq!(r.meta.dtype, Some(SampleType::U16));
        assert_eq!(r.valid, None);
    }

    #[test]
    fn png_claiming_huge_size_is_too_large_before_decoding() {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend_from_slice(&100_000u32.to_be_bytes());
        bytes.extend_from_slice(&100_000u32.to_be_bytes());
        bytes.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]); // depth, RGB, methods, (unchecked) CRC
        let e = load(&bytes, Format::Png).expect_err("must refuse");
        assert!(matches!(e, IoError::TooLarge { width: 100_000, height: 100_000, .. }), "{e}");
    }

    #[test]
    fn truncated_png_is_corrupt_not_panic() {
        let data = vec![7u8; 64 * 64 * 3];
        let full = png(&data, 64, 64, ExtendedColorType::Rgb8);
        for cut in [0, 8, 20, 33, full.len() / 2, full.len() * 3 / 4] {
            assert!(load(&full[..cut], Format::Png).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn jpeg_decodes_as_uint8_rgb() {
        let data: Vec<u8> = (0..16 * 8 * 3).map(|i| (i % 251) as u8).collect();
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 90)
            .write_image(&data, 16, 8, ExtendedColorType::Rgb8)
            .expect("encode");
        let r = load(&bytes, Format::Jpeg).expect("decode");
        assert_eq!((r.width, r.height, r.band_count()), (16, 8, 3));
        assert_eq!(r.meta.dtype, Some(SampleType::U8));
        assert_eq!(r.meta.format, "JPEG");
        assert!(r.bands.iter().flatten().all(|v| (0.0..=255.0).contains(v)));
        // A truncated JPEG may decode leniently (grey fill) or fail, but must not panic.
        let _ = load(&bytes[..bytes.len() / 3], Format::Jpeg);
    }
}
