//! TIFF layouts the `tiff` crate refuses, decoded from the strips' and tiles' own bytes: samples of
//! any depth from 1 to 64 bits (10-, 12-, 14- and 24-bit grey and RGB, 3- to 7-bit grey),
//! WhiteIsZero at any depth, CCITT T.4 (Group 3, one-dimensional) and T.6 (Group 4) fax, and the
//! old-style LZW that libtiff before 1995 wrote (codes least significant bit first). Values come
//! back as stored, which is what tifffile and GDAL return. Pure functions of the bytes.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use tiff::decoder::ChunkType;
use tiff::tags::Tag;

use super::{Decoded, Layout, Rect, Source, TiffDecoder, f16_to_f32, place, tiff_error};
use crate::io::IoError;
use crate::types::SampleType;

/// Compressions decoded here: none, CCITT T.4 and T.6, LZW, Deflate (both codes), PackBits, ZSTD.
const CODECS: [u16; 8] = [1, 3, 4, 5, 8, 32946, 32773, 50000];
const T4_OPTIONS: u16 = 292;

/// Whether `layout` needs this module: the crate refuses it and the codec is one decoded here.
/// `first_chunk` is the first strip's or tile's stored bytes (to tell old-style LZW).
pub(super) fn needed(layout: &Layout, first_chunk: &[u8]) -> bool {
    if !CODECS.contains(&layout.compression) || layout.is_complex() {
        return false;
    }
    let odd_bits = !matches!(layout.bits, 1 | 2 | 4 | 8 | 16 | 32 | 64);
    let fax = matches!(layout.compression, 3 | 4);
    let old_lzw = layout.compression == 5 && is_old_style_lzw(first_chunk);
    // The crate inverts WhiteIsZero samples (and refuses most depths): read them as stored.
    odd_bits || fax || old_lzw || layout.photometric == 0
}

/// The stored bytes of the first strip or tile (empty when the table is missing or lies).
pub(super) fn first_chunk<'a>(dec: &mut TiffDecoder, bytes: Source<'a>) -> Cow<'a, [u8]> {
    let tiled = dec.get_chunk_type() == ChunkType::Tile;
    let mut table = |tag| dec.find_tag_unsigned_vec::<u64>(tag).ok().flatten().and_then(|v| v.first().copied());
    let offset = table(if tiled { Tag::TileOffsets } else { Tag::StripOffsets });
    let count = table(if tiled { Tag::TileByteCounts } else { Tag::StripByteCounts });
    // Only its first bytes are looked at.
    match (offset, count.and_then(|c| usize::try_from(c).ok())) {
        (Some(o), Some(c)) => bytes.get(o, c.min(64)).unwrap_or_default(),
        _ => Cow::Borrowed(&[]),
    }
}

/// libtiff's test for old-style LZW: a stream that opens with a clear code written LSB first.
fn is_old_style_lzw(data: &[u8]) -> bool {
    matches!(data, [0, second, ..] if second & 1 == 1)
}

/// Decodes every strip or tile of `layout` into f32 bands; adds what it did to `notes`.
pub(super) fn read(
    dec: &mut TiffDecoder,
    bytes: Source<'_>,
    path: &Path,
    layout: &Layout,
    notes: &mut Vec<String>,
) -> Result<Decoded, IoError> {
    let corrupt = |why: String| IoError::corrupt(path, why);
    let mut short = |tag| dec.find_tag_unsigned::<u16>(tag).map_err(|e| tiff_error(path, e));
    let predictor = short(Tag::Predictor)?.unwrap_or(1);
    let fill_order = short(Tag::FillOrder)?.unwrap_or(1);
    let t4 = dec.find_tag_unsigned::<u32>(Tag::Unknown(T4_OPTIONS)).map_err(|e| tiff_error(path, e))?.unwrap_or(0);
    let format = Format::of(layout).ok_or_else(|| {
        IoError::unsupported(path, format!("TIFF samples of {} bits with SampleFormat {}", layout.bits, layout.format))
    })?;
    if predictor == 3 {
        return Err(IoError::unsupported(path, format!("the floating-point predictor on {}-bit samples", layout.bits)));
    }
    if layout.compression == 3 && t4 & 1 != 0 {
        return Err(IoError::unsupported(path, "two-dimensional CCITT T.4 (Group 3 2-D) fax"));
    }

    let tiled = dec.get_chunk_type() == ChunkType::Tile;
    let table = |dec: &mut TiffDecoder, tag| dec.get_tag_u64_vec(tag).map_err(|e| tiff_error(path, e));
    let offsets = table(dec, if tiled { Tag::TileOffsets } else { Tag::StripOffsets })?;
    let counts = table(dec, if tiled { Tag::TileByteCounts } else { Tag::StripByteCounts })?;
    let (w, h) = (layout.width, layout.height);
    let (tw, th) = dec.chunk_dimensions();
    let (tw, th) = (tw as usize, (th as usize).min(if tiled { usize::MAX } else { h }));
    if tw == 0 || th == 0 {
        return Err(corrupt("the TIFF declares empty strips or tiles".into()));
    }
    let (spp, planes) = if layout.planar { (1, layout.samples) } else { (layout.samples, 1) };
    let row_bytes = tw
        .checked_mul(spp)
        .and_then(|n| n.checked_mul(usize::from(layout.bits)))
        .map(|bits| bits.div_ceil(8))
        .ok_or_else(|| corrupt("TIFF chunk rows overflow".into()))?;
    let per_plane = w.div_ceil(tw) * h.div_ceil(th);
    if offsets.len() < per_plane * planes || counts.len() < per_plane * planes {
        return Err(corrupt(format!(
            "the TIFF lists {} strips or tiles where the image needs {}",
            offsets.len().min(counts.len()),
            per_plane * planes
        )));
    }

    let codec = Codec { compression: layout.compression, fill_order, width: tw };
    let little = bytes.little_endian();
    let mut bands = vec![vec![0f32; w * h]; layout.samples];
    let mut values = Vec::new();
    let mut old_lzw = false;
    for k in 0..per_plane * planes {
        let Some(rect) = Rect::of_chunk(k % per_plane, (tw, th), w, h) else {
            continue;
        };
        // Tiles are stored full-size; a strip holds only its own rows.
        let rows = if tiled { th } else { rect.height };
        let expected = rows.checked_mul(row_bytes).ok_or_else(|| corrupt("TIFF chunk size overflows".into()))?;
        // No codec here expands a chunk 16-fold, so a lying byte count reads no more than that.
        let stored = bytes
            .get(offsets[k], usize::try_from(counts[k]).unwrap_or(usize::MAX).min(expected.saturating_mul(16) + 4096))
            .ok_or_else(|| corrupt(format!("TIFF strip or tile {k} lies outside the file")))?;
        let stored = stored.as_ref();
        old_lzw |= layout.compression == 5 && is_old_style_lzw(stored);
        let data =
            codec.decode(stored, expected, rows).map_err(|why| corrupt(format!("TIFF strip or tile {k}: {why}")))?;
        if data.len() < expected {
            return Err(corrupt(format!(
                "TIFF strip or tile {k} decoded to {} bytes where its {rows} rows need {expected}",
                data.len()
            )));
        }
        // Row by row: one row of u64 samples at a time, never a whole strip of them.
        let plane = layout.planar.then_some(k / per_plane);
        for (r, row) in data.chunks_exact(row_bytes).take(rect.height).enumerate() {
            values.clear();
            unpack_row(row, layout.bits, tw * spp, little, &mut values);
            if predictor == 2 {
                undo_horizontal_differencing(&mut values, spp, layout.bits);
            }
            let line = Rect { row0: rect.row0 + r, height: 1, ..rect };
            let bits = layout.bits;
            place(&mut bands, w, line, plane, spp, |_, i| {
                values.get(i).map(|&v| format.value(finish(format, bits, v)))
            })
            .ok_or_else(|| corrupt(format!("TIFF strip or tile {k} does not fit the image")))?;
        }
    }

    if !matches!(layout.bits, 1 | 8 | 16 | 32 | 64) {
        notes.push(format!("{}-bit samples, read as stored", layout.bits));
    }
    if layout.photometric == 0 {
        notes.push("WhiteIsZero: values as stored (0 is white), as tifffile and GDAL read them".into());
    }
    if old_lzw {
        notes.push("old-style LZW (codes least significant bit first, written by libtiff before 1995)".into());
    }
    Ok((bands, format.sample_type(layout.bits)))
}

/// How stored samples become numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Unsigned,
    Signed,
    Float,
}

impl Format {
    fn of(layout: &Layout) -> Option<Self> {
        match (layout.format, layout.bits) {
            (_, 0 | 65..) => None,
            // 4 is "undefined data": shown as unsigned, as tifffile does.
            (0 | 1 | 4, _) | (2, 1) => Some(Self::Unsigned),
            (2, _) => Some(Self::Signed),
            (3, 16 | 32 | 64) => Some(Self::Float),
            _ => None,
        }
    }

    /// A stored sample (`bits` wide, in the low bits of `raw`) as f32.
    fn value(self, raw: u64) -> f32 {
        match self {
            Self::Unsigned => raw as f32,
            Self::Signed => raw as i64 as f32,
            Self::Float => f64::from_bits(raw) as f32,
        }
    }

    /// The sample type shown to the user: the smallest standard type holding `bits`.
    fn sample_type(self, bits: u16) -> SampleType {
        match (self, bits) {
            (Self::Unsigned, 1) => SampleType::Bool,
            (Self::Unsigned, 2..=8) => SampleType::U8,
            (Self::Unsigned, 9..=16) => SampleType::U16,
            (Self::Unsigned, 17..=32) => SampleType::U32,
            (Self::Unsigned, _) => SampleType::U64,
            (Self::Signed, ..=8) => SampleType::I8,
            (Self::Signed, 9..=16) => SampleType::I16,
            (Self::Signed, 17..=32) => SampleType::I32,
            (Self::Signed, _) => SampleType::I64,
            (Self::Float, 16) => SampleType::F16,
            (Self::Float, 32) => SampleType::F32,
            (Self::Float, _) => SampleType::F64,
        }
    }
}

/// Appends `n` samples of `bits` each from a stored row: 8-, 16-, 32- and 64-bit samples in the
/// file's byte order, every other width (24 included) as a bit stream, most significant bit first,
/// as TIFF packs them and tifffile reads them.
/// Signed samples are sign-extended later by [`finish`]; floats are widened to f64 bits there.
fn unpack_row(row: &[u8], bits: u16, n: usize, little: bool, out: &mut Vec<u64>) {
    let bits_usize = usize::from(bits);
    if matches!(bits, 8 | 16 | 32 | 64) {
        let size = bits_usize / 8;
        for sample in row.chunks_exact(size).take(n) {
            let fold = |v: u64, &b: &u8| (v << 8) | u64::from(b);
            out.push(if little { sample.iter().rev().fold(0, fold) } else { sample.iter().fold(0, fold) });
        }
    } else {
        let mut acc: u128 = 0;
        let mut held = 0usize;
        let mut bytes = row.iter();
        for _ in 0..n {
            while held < bits_usize {
                acc = (acc << 8) | u128::from(bytes.next().copied().unwrap_or(0));
                held += 8;
            }
            held -= bits_usize;
            out.push(((acc >> held) as u64) & mask(bits));
        }
    }
}

fn mask(bits: u16) -> u64 {
    if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

/// Horizontal differencing (Predictor 2) undone on one row of unpacked samples, modulo 2^bits.
fn undo_horizontal_differencing(row: &mut [u64], spp: usize, bits: u16) {
    for i in spp..row.len() {
        row[i] = row[i].wrapping_add(row[i - spp]) & mask(bits);
    }
}

/// A raw unpacked sample made readable by [`Format::value`]: sign extension for signed samples, and half or single
/// floats widened to f64 bits, so [`Format::value`] reads every kind the same way.
fn finish(format: Format, bits: u16, raw: u64) -> u64 {
    match format {
        Format::Unsigned => raw,
        Format::Signed if bits < 64 => (((raw << (64 - bits)) as i64) >> (64 - bits)) as u64,
        Format::Signed => raw,
        Format::Float => match bits {
            16 => f64::from(f16_to_f32(raw as u16)).to_bits(),
            32 => f64::from(f32::from_bits(raw as u32)).to_bits(),
            _ => raw,
        },
    }
}

/// One chunk's decompression settings.
struct Codec {
    compression: u16,
    fill_order: u16,
    /// Pixels across a row (for fax, which codes whole rows).
    width: usize,
}

impl Codec {
    /// The chunk's stored bytes decompressed, at most `expected` bytes (`rows` rows).
    fn decode(&self, stored: &[u8], expected: usize, rows: usize) -> Result<Vec<u8>, String> {
        let reversed;
        let stored = if self.fill_order == 2 {
            reversed = stored.iter().map(|b| b.reverse_bits()).collect::<Vec<u8>>();
            &reversed[..]
        } else {
            stored
        };
        match self.compression {
            1 => Ok(stored[..expected.min(stored.len())].to_vec()),
            3 | 4 => self.fax(stored, rows),
            5 => lzw(stored, expected),
            8 | 32946 => bounded(flate2::read::ZlibDecoder::new(stored), expected, "Deflate"),
            32773 => Ok(packbits(stored, expected)),
            50000 => bounded(zstd::stream::read::Decoder::new(stored).map_err(|e| e.to_string())?, expected, "ZSTD"),
            c => Err(format!("compression {c}")),
        }
    }

    /// CCITT fax rows as 1-bit samples, black as 1 whatever the photometric tag says (libtiff's and
    /// tifffile's convention). Rows an encoder left out at the end (trailing white) are white.
    fn fax(&self, stored: &[u8], rows: usize) -> Result<Vec<u8>, String> {
        let width =
            u16::try_from(self.width).map_err(|_| format!("fax rows of {} pixels (at most 65535)", self.width))?;
        let ink = fax::Color::Black;
        let row_bytes = self.width.div_ceil(8);
        let limit = rows * row_bytes;
        let mut out = Vec::with_capacity(limit);
        // Adds one decoded row; true once every row is there.
        let mut push = |transitions: &[u16]| {
            if out.len() < limit {
                let mut row = vec![0u8; row_bytes];
                for (x, colour) in fax::decoder::pels(transitions, width).enumerate() {
                    if colour == ink {
                        row[x / 8] |= 0x80 >> (x % 8);
                    }
                }
                out.extend_from_slice(&row);
            }
            out.len() >= limit
        };
        let input = stored.iter().map(|&b| Ok::<u8, std::convert::Infallible>(b));
        if self.compression == 3 {
            let mut decoder = fax::decoder::Group3Decoder::new(input).map_err(|_| "no CCITT T.4 start-of-line code")?;
            loop {
                let status = decoder.advance().map_err(|_| "corrupt CCITT T.4 data")?;
                if push(decoder.transitions()) || status == fax::decoder::DecodeStatus::End {
                    break;
                }
            }
        } else {
            let mut decoder = fax::decoder::Group4Decoder::new(input, width).map_err(|_| "empty CCITT T.6 data")?;
            let mut rows_done = 0;
            loop {
                match decoder.advance() {
                    Ok(fax::decoder::DecodeStatus::Incomplete) => {
                        rows_done += 1;
                        if push(decoder.transition()) {
                            break;
                        }
                    }
                    Ok(fax::decoder::DecodeStatus::End) => break,
                    Err(_) if rows_done > 0 => break,
                    Err(_) => return Err("corrupt CCITT T.6 data".into()),
                }
            }
        }
        out.resize(limit, 0);
        Ok(out)
    }
}

/// Reads a decompressing reader up to `expected` bytes (a bomb stops there).
fn bounded(reader: impl Read, expected: usize, name: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(expected);
    match reader.take(expected as u64).read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) if out.len() >= expected => Err(format!("{name}: {e}")).or(Ok(out)),
        Err(e) => Err(format!("corrupt {name} data ({e})")),
    }
}

/// TIFF LZW, new style (MSB first, the code width grows one code early) or old style (LSB first).
fn lzw(stored: &[u8], expected: usize) -> Result<Vec<u8>, String> {
    use weezl::{BitOrder, LzwStatus, decode::Decoder};
    let mut decoder = if is_old_style_lzw(stored) {
        Decoder::new(BitOrder::Lsb, 8)
    } else {
        Decoder::with_tiff_size_switch(BitOrder::Msb, 8)
    };
    let mut out = vec![0u8; expected];
    let (mut filled, mut input) = (0, stored);
    while filled < expected {
        let step = decoder.decode_bytes(input, &mut out[filled..]);
        filled += step.consumed_out;
        input = &input[step.consumed_in..];
        match step.status {
            Ok(LzwStatus::Done | LzwStatus::NoProgress) => break,
            Ok(LzwStatus::Ok) if step.consumed_in == 0 && step.consumed_out == 0 => break,
            Ok(LzwStatus::Ok) => {}
            Err(e) => return Err(format!("corrupt LZW data ({e:?})")),
        }
    }
    out.truncate(filled);
    Ok(out)
}

/// PackBits (Apple's run-length code), stopping at `expected` bytes.
fn packbits(stored: &[u8], expected: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(expected);
    let mut i = 0;
    while out.len() < expected && i < stored.len() {
        let n = stored[i] as i8;
        i += 1;
        if n >= 0 {
            let end = (i + n as usize + 1).min(stored.len());
            out.extend_from_slice(&stored[i..end]);
            i = end;
        } else if n != -128 {
            if let Some(&b) = stored.get(i) {
                out.extend(std::iter::repeat_n(b, (1 - isize::from(n)) as usize));
            }
            i += 1;
        }
    }
    out.truncate(expected);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_widths_unpack_most_significant_bit_first() {
        // Three 12-bit samples: 0xABC, 0x123, 0xFFF.
        let mut out = Vec::new();
        unpack_row(&[0xAB, 0xC1, 0x23, 0xFF, 0xF0], 12, 3, true, &mut out);
        assert_eq!(out, [0xABC, 0x123, 0xFFF]);
        out.clear();
        unpack_row(&[0b1010_0111, 0b0100_0000], 3, 4, false, &mut out);
        assert_eq!(out, [0b101, 0b001, 0b110, 0b100]);
    }

    #[test]
    fn power_of_two_byte_samples_follow_the_file_byte_order_and_24_bits_are_a_bit_stream() {
        let mut out = Vec::new();
        unpack_row(&[1, 2], 16, 1, true, &mut out);
        unpack_row(&[1, 2], 16, 1, false, &mut out);
        unpack_row(&[1, 2, 3], 24, 1, true, &mut out);
        assert_eq!(out, [0x0201, 0x0102, 0x010203]);
    }

    #[test]
    fn signed_and_float_samples_finish_to_their_values() {
        assert_eq!(Format::Signed.value(finish(Format::Signed, 12, 0xFFF)), -1.0);
        assert_eq!(Format::Signed.value(finish(Format::Signed, 24, 0x7FFFFF)), 8_388_607.0);
        assert_eq!(Format::Float.value(finish(Format::Float, 16, 0x3C00)), 1.0);
        assert_eq!(Format::Float.value(finish(Format::Float, 32, 2.5f32.to_bits().into())), 2.5);
    }

    #[test]
    fn horizontal_differencing_wraps_at_the_sample_width() {
        let mut row = vec![4000, 200, 0xFFF];
        undo_horizontal_differencing(&mut row, 1, 12);
        assert_eq!(row, [4000, (4000 + 200) & 0xFFF, (4200 + 0xFFF) & 0xFFF]);
    }

    #[test]
    fn packbits_runs_and_literals_stop_at_the_expected_size() {
        // A literal of 2, a run of 3, a no-op, then a run that would overflow the output.
        let stored = [1, 7, 8, (-2i8) as u8, 9, 0x80, (-100i8) as u8, 1];
        assert_eq!(packbits(&stored, 8), [7, 8, 9, 9, 9, 1, 1, 1]);
        assert_eq!(packbits(&[5, 1], 10), [1], "a literal cut by the end of the data");
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_expected_size() {
        use std::io::Write;
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 10 << 20]).unwrap_or_default();
        let bomb = enc.finish().unwrap_or_default();
        let out = bounded(flate2::read::ZlibDecoder::new(&bomb[..]), 4096, "Deflate");
        assert_eq!(out.map(|v| v.len()), Ok(4096));
        assert!(bounded(flate2::read::ZlibDecoder::new(&[1u8, 2, 3][..]), 64, "Deflate").is_err());
    }

    #[test]
    fn old_style_lzw_is_told_from_its_first_bytes() {
        assert!(is_old_style_lzw(&[0x00, 0x01, 0x20]));
        assert!(!is_old_style_lzw(&[0x80, 0x00]));
        assert!(!is_old_style_lzw(&[0x00]));
    }

    #[test]
    fn lzw_in_both_bit_orders_round_trips() {
        use weezl::{BitOrder, encode::Encoder};
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
        let new_style = Encoder::with_tiff_size_switch(BitOrder::Msb, 8).encode(&data).unwrap_or_default();
        assert_eq!(lzw(&new_style, data.len()).as_deref(), Ok(&data[..]));
        let old_style = Encoder::new(BitOrder::Lsb, 8).encode(&data).unwrap_or_default();
        assert!(is_old_style_lzw(&old_style));
        assert_eq!(lzw(&old_style, data.len()).as_deref(), Ok(&data[..]));
        // Codes that were never defined: an error, or output too short (which the caller reports).
        assert!(lzw(&[0x80, 0xff, 0xff, 0xff, 0xff], 100).map_or(true, |v| v.len() < 100));
    }
}
