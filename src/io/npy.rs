//! NumPy `.npy` and `.npz` files -> [`Raster`].
//!
//! Owns the `.npy` header reader (a small parser for the Python-dict literal NumPy writes), the
//! conversion of every numeric dtype to f32, the mapping of 2-D and 3-D shapes onto bands, and the
//! choice of one array out of an `.npz` zip. Arrays are read as a stream (from the file, or from the
//! archive member as it unpacks) and converted 1 MiB at a time, so a load holds the f32 raster and
//! little else. A one-band array in row order is also read a part at a time (`stream.rs`). No shared
//! state: runs on worker threads.

mod stream;

pub use stream::{glance_npy, preview_npy, window_npy};

use std::io::{Cursor, Read, Seek};
use std::path::Path;

use super::{IoError, LoadOptions};
use crate::types::{Raster, RasterMeta, SampleType};

const MAGIC: &[u8] = b"\x93NUMPY";
/// Longest header accepted; NumPy writes a few hundred bytes.
const MAX_HEADER: usize = 1 << 20;
/// Deepest nesting accepted in the header literal.
const MAX_DEPTH: usize = 16;

/// What a `.npy` header declares.
#[derive(Debug, PartialEq)]
struct Header {
    dtype: SampleType,
    big_endian: bool,
    fortran: bool,
    shape: Vec<u64>,
}

/// Read a `.npy` file held in memory.
pub fn read_npy(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<Raster, IoError> {
    read_npy_from(path, &mut Cursor::new(bytes), bytes.len() as u64, opts)
}

/// Read a `.npy` array from a stream (a file as it is read); `held` bytes are already in memory
/// for it (the file's bytes when they were read whole) and count against the budget.
pub fn read_npy_from(path: &Path, reader: &mut impl Read, held: u64, opts: &LoadOptions) -> Result<Raster, IoError> {
    let read_err = |e: std::io::Error| IoError::corrupt(path, format!("cannot read the array: {e}"));
    let (header, layout) = read_prefix(path, reader, held, opts, read_err)?;
    decode(path, &header, &layout, reader, "NumPy .npy".into())
}

/// Read the preamble and header from the stream, choose the layout and check it against the budget
/// (the f32 raster, `held`, and the reordering copy when the stored order needs one).
fn read_prefix(
    path: &Path,
    reader: &mut impl Read,
    held: u64,
    opts: &LoadOptions,
    read_err: impl Fn(std::io::Error) -> IoError,
) -> Result<(Header, Layout), IoError> {
    let mut head = Vec::new();
    reader.take(12).read_to_end(&mut head).map_err(&read_err)?;
    let (_, header_end) = preamble(path, &head)?;
    let more = header_end.saturating_sub(head.len()) as u64;
    reader.take(more).read_to_end(&mut head).map_err(&read_err)?;
    let (header, _) = parse_prefix(path, &head)?;
    let layout = Layout::of(path, &header, held, opts)?;
    Ok((header, layout))
}

/// Read the first `.npy` member (in archive order) of an `.npz` zip.
///
/// The member's header is read and checked with [`LoadOptions::check`] before its data is read, and
/// never more than the data it declares is unpacked, so a zip bomb or a lying header costs nothing.
pub fn read_npz(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<Raster, IoError> {
    read_npz_from(path, Cursor::new(bytes), bytes.len() as u64, opts)
}

/// [`read_npz`] from a seekable stream (the file itself); `held` bytes are already in memory for it.
pub fn read_npz_from(path: &Path, source: impl Read + Seek, held: u64, opts: &LoadOptions) -> Result<Raster, IoError> {
    let mut zip = zip::ZipArchive::new(source).map_err(|e| zip_error(path, e))?;
    let members: Vec<(usize, String)> = (0..zip.len())
        .filter_map(|i| Some((i, zip.name_for_index(i)?.ok()?.into_owned())))
        .filter(|(_, name)| name.to_ascii_lowercase().ends_with(".npy"))
        .collect();
    let Some(((index, name), others)) = members.split_first() else {
        return Err(IoError::unsupported(path, "the .npz archive holds no .npy array"));
    };
    let mut file = zip.by_index(*index).map_err(|e| zip_error(path, e))?;
    let read_err = |e: std::io::Error| IoError::corrupt(path, format!("cannot unpack '{name}': {e}"));
    // The header is checked before any data is unpacked, and never more than the data it declares
    // is read, so a zip bomb or a lying header costs nothing.
    let (header, layout) = read_prefix(path, &mut file, held, opts, read_err)?;
    let mut raster = decode(path, &header, &layout, &mut file, format!("NumPy .npz (member {name})"))?;
    raster.meta.notes.push(format!("showing array '{name}', the first .npy member of the archive"));
    if !others.is_empty() {
        let list: Vec<&str> = others.iter().take(20).map(|(_, n)| n.as_str()).collect();
        let more = if others.len() > 20 { ", ..." } else { "" };
        raster.meta.notes.push(format!("other arrays in the archive: {}{more}", list.join(", ")));
    }
    Ok(raster)
}

fn zip_error(path: &Path, e: zip::result::ZipError) -> IoError {
    use zip::result::ZipError as Z;
    match e {
        Z::UnsupportedArchive(_) | Z::CompressionMethodNotSupported(_) | Z::InvalidPassword => {
            IoError::unsupported(path, format!(".npz archive: {e}"))
        }
        _ => IoError::corrupt(path, format!("not a readable .npz (zip) archive: {e}")),
    }
}

/// Check the magic and version; returns where the header text starts and ends.
fn preamble(path: &Path, bytes: &[u8]) -> Result<(usize, usize), IoError> {
    if !bytes.starts_with(MAGIC) {
        return Err(IoError::corrupt(path, "not a .npy array (the \\x93NUMPY magic is missing)"));
    }
    let short = || IoError::corrupt(path, "the .npy preamble is truncated");
    let major = *bytes.get(6).ok_or_else(short)?;
    let (len, start) = match major {
        1 => (le_uint(bytes.get(8..10).ok_or_else(short)?), 10),
        2 | 3 => (le_uint(bytes.get(8..12).ok_or_else(short)?), 12),
        v => {
            return Err(IoError::unsupported(path, format!(".npy format version {v}")));
        }
    };
    if len > MAX_HEADER {
        return Err(IoError::corrupt(path, format!("the .npy header claims {len} bytes, which is implausible")));
    }
    Ok((start, start + len))
}

/// A little-endian unsigned integer of up to 8 bytes.
fn le_uint(b: &[u8]) -> usize {
    b.iter().rev().fold(0, |acc, &x| acc << 8 | usize::from(x))
}

/// Parse the preamble and header; returns the header and the offset of the data.
fn parse_prefix(path: &Path, bytes: &[u8]) -> Result<(Header, usize), IoError> {
    let (start, end) = preamble(path, bytes)?;
    let text = bytes.get(start..end).ok_or_else(|| {
        IoError::corrupt(
            path,
            format!(
                "the .npy header is truncated: {} bytes expected, {} present",
                end - start,
                bytes.len().saturating_sub(start)
            ),
        )
    })?;
    Ok((parse_header(path, text)?, end))
}

/// Interpret the header dict: `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
fn parse_header(path: &Path, text: &[u8]) -> Result<Header, IoError> {
    let shown = String::from_utf8_lossy(text.get(..200).unwrap_or(text)).trim_end().to_string();
    let bad = |why: &str| IoError::corrupt(path, format!("bad .npy header ({why}): {shown}"));
    let mut parser = Parser { s: text, pos: 0, depth: 0 };
    let Some(Lit::Dict(entries)) = parser.value() else {
        return Err(bad("not a dict"));
    };
    let get = |key: &str| entries.iter().find(|(k, _)| matches!(k, Lit::Str(s) if s == key)).map(|(_, v)| v);
    let (dtype, big_endian) = match get("descr") {
        Some(Lit::Str(d)) => parse_descr(path, d)?,
        Some(Lit::Seq(_)) => {
            return Err(IoError::unsupported(path, "structured dtype (record fields); save a plain numeric array"));
        }
        _ => return Err(bad("no 'descr'")),
    };
    let fortran = match get("fortran_order") {
        Some(Lit::Bool(b)) => *b,
        _ => return Err(bad("no 'fortran_order'")),
    };
    let Some(Lit::Seq(dims)) = get("shape") else {
        return Err(bad("no 'shape'"));
    };
    let shape = dims
        .iter()
        .map(|d| match d {
            Lit::Int(n) => u64::try_from(*n).map_err(|_| bad("negative dimension")),
            _ => Err(bad("shape is not a tuple of integers")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Header { dtype, big_endian, fortran, shape })
}

/// NumPy type codes (after the byte-order character) that heatscope reads.
const DTYPES: [(&str, SampleType); 15] = [
    ("b1", SampleType::Bool),
    ("?", SampleType::Bool),
    ("i1", SampleType::I8),
    ("u1", SampleType::U8),
    ("i2", SampleType::I16),
    ("u2", SampleType::U16),
    ("i4", SampleType::I32),
    ("u4", SampleType::U32),
    ("i8", SampleType::I64),
    ("u8", SampleType::U64),
    ("f2", SampleType::F16),
    ("f4", SampleType::F32),
    ("f8", SampleType::F64),
    ("c8", SampleType::C64),
    ("c16", SampleType::C128),
];

/// Map a dtype string such as `<f4`, `>i2`, `|u1` to a sample type and byte order.
fn parse_descr(path: &Path, descr: &str) -> Result<(SampleType, bool), IoError> {
    let (order, code) = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => descr.split_at(1),
        _ => ("=", descr),
    };
    let big = match order {
        ">" => true,
        "<" => false,
        _ => cfg!(target_endian = "big"),
    };
    let Some(&(_, t)) = DTYPES.iter().find(|(c, _)| *c == code) else {
        let kind = match code.chars().next() {
            Some('O') => "Python objects",
            Some('U') => "unicode strings",
            Some('S' | 'a') => "byte strings",
            Some('V') => "raw void records",
            Some('M' | 'm') => "dates/times",
            Some('f' | 'c') => "float of an unusual size",
            _ => "unknown",
        };
        return Err(IoError::unsupported(
            path,
            format!("NumPy dtype '{descr}' ({kind}); heatscope reads bool, integer, float and complex arrays"),
        ));
    };
    Ok((t, big))
}

/// A value of the Python literal subset NumPy headers use.
#[derive(Debug, PartialEq)]
enum Lit {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Seq(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

/// Recursive-descent parser over the header bytes; every method returns None on malformed input.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> Option<u8> {
        while self.s.get(self.pos).is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.pos += usize::from(hit);
        hit
    }

    fn value(&mut self) -> Option<Lit> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let v = match self.peek()? {
            q @ (b'\'' | b'"') => self.string(q),
            b'(' => self.seq(b')').map(Lit::Seq),
            b'[' => self.seq(b']').map(Lit::Seq),
            b'{' => self.dict(),
            c if c == b'-' || c.is_ascii_digit() => self.int(),
            _ => self.word(),
        };
        self.depth -= 1;
        v
    }

    fn string(&mut self, quote: u8) -> Option<Lit> {
        let start = self.pos + 1;
        let len = self.s.get(start..)?.iter().position(|&c| c == quote)?;
        self.pos = start + len + 1;
        Some(Lit::Str(String::from_utf8_lossy(self.s.get(start..start + len)?).into_owned()))
    }

    fn int(&mut self) -> Option<Lit> {
        let start = self.pos;
        self.pos += 1;
        while self.s.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        let n = std::str::from_utf8(self.s.get(start..self.pos)?).ok()?.parse().ok()?;
        if self.s.get(self.pos).is_some_and(|&c| c == b'L') {
            self.pos += 1; // Python 2 long suffix
        }
        Some(Lit::Int(n))
    }

    fn word(&mut self) -> Option<Lit> {
        let rest = self.s.get(self.pos..)?;
        let len = rest.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        self.pos += len;
        match rest.get(..len)? {
            b"True" => Some(Lit::Bool(true)),
            b"False" => Some(Lit::Bool(false)),
            b"None" => Some(Lit::None),
            _ => None,
        }
    }

    /// Items up to `close`, commas between and optionally after.
    fn seq(&mut self, close: u8) -> Option<Vec<Lit>> {
        self.pos += 1;
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.value()?);
            if !self.eat(b',') && self.peek() != Some(close) {
                return None;
            }
        }
        Some(items)
    }

    fn dict(&mut self) -> Option<Lit> {
        self.pos += 1;
        let mut entries = Vec::new();
        while !self.eat(b'}') {
            let key = self.value()?;
            if !self.eat(b':') {
                return None;
            }
            entries.push((key, self.value()?));
            if !self.eat(b',') && self.peek() != Some(b'}') {
                return None;
            }
        }
        Some(Lit::Dict(entries))
    }
}

/// Which array axis holds bands, rows and columns.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Axes {
    /// (rows, cols)
    Plane,
    /// (rows, cols, channels)
    ChannelsLast,
    /// (channels, rows, cols)
    ChannelsFirst,
}

/// Raster dimensions chosen for an array shape.
#[derive(Debug)]
struct Layout {
    width: usize,
    height: usize,
    bands: usize,
    axes: Axes,
}

impl Layout {
    /// Choose the layout for `shape` and check it against `opts` before anything is allocated.
    ///
    /// 2-D `(H, W)` is one band. 3-D is `(H, W, C)` when the last axis is at most 4 long and the first
    /// longer than 4 (an RGB(A)-style image), otherwise `(C, H, W)` (a stack of planes; `(1, H, W)` is
    /// one band). Leading axes of length 1 beyond the third are dropped; other shapes are refused.
    fn of(path: &Path, header: &Header, held: u64, opts: &LoadOptions) -> Result<Self, IoError> {
        let shape = &header.shape[..];
        let mut dims = shape;
        while let [1, rest @ ..] = dims
            && rest.len() >= 3
        {
            dims = rest;
        }
        let (w, h, c, axes) = match *dims {
            [h, w] => (w, h, 1, Axes::Plane),
            [a, b, c] if c <= 4 && a > 4 => (b, a, c, Axes::ChannelsLast),
            [a, b, c] => (c, b, a, Axes::ChannelsFirst),
            _ => {
                let what = format!("a {}-D array of shape {shape:?}; heatscope reads 2-D and 3-D arrays", dims.len());
                return Err(IoError::unsupported(path, what));
            }
        };
        opts.check(path, w, h, c, held)?;
        if w == 0 || h == 0 || c == 0 {
            return Err(IoError::unsupported(path, format!("the array is empty (shape {shape:?})")));
        }
        let size =
            |n: u64| usize::try_from(n).map_err(|_| IoError::corrupt(path, "array dimension does not fit in memory"));
        Ok(Self { width: size(w)?, height: size(h)?, bands: size(c)?, axes })
    }

    fn note(&self, shape: &[u64]) -> Option<String> {
        let how = match self.axes {
            Axes::Plane => return None,
            Axes::ChannelsLast => "(rows, cols, channels)",
            Axes::ChannelsFirst => "(channels, rows, cols)",
        };
        Some(format!("3-D array of shape {shape:?} read as {how}"))
    }
}

/// Read `count` samples of `header`'s dtype from the stream as f32, converting 1 MiB at a time.
fn read_samples(path: &Path, header: &Header, count: usize, reader: &mut impl Read) -> Result<Vec<f32>, IoError> {
    let item = header.dtype.bytes();
    // Complex samples are two parts and give one value each.
    let per_value = item;
    let mut out = Vec::with_capacity(count);
    // Up to 1 MiB a read; no more buffer than the samples asked for (a window reads rows of a few kB).
    let chunk_values = ((1 << 20) / per_value).clamp(1, count.max(1));
    let mut buf = vec![0u8; chunk_values * per_value];
    let mut left = count;
    while left > 0 {
        let n = left.min(chunk_values);
        let piece = &mut buf[..n * per_value];
        let got =
            fill(reader, piece).map_err(|e| IoError::corrupt(path, format!("cannot read the array data: {e}")))?;
        if got < piece.len() {
            let present = (count - left) * per_value + got;
            return Err(IoError::corrupt(
                path,
                format!(
                    "the array data is truncated: shape {:?} of {} needs {} bytes, {present} present",
                    header.shape,
                    header.dtype.name(),
                    count.saturating_mul(per_value),
                ),
            ));
        }
        out.extend(to_f32(header.dtype, header.big_endian, piece));
        left -= n;
    }
    Ok(out)
}

/// Read until `buf` is full or the stream ends; how many bytes arrived.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Convert the data to f32 bands and fill in the metadata.
fn decode(
    path: &Path,
    header: &Header,
    layout: &Layout,
    reader: &mut impl Read,
    format: String,
) -> Result<Raster, IoError> {
    let (w, h, c) = (layout.width, layout.height, layout.bands);
    let stored = stream::Stored::of(header, layout);
    let bands = if !stored.interleaved && !stored.transposed {
        // Bands stored one after another, rows in order: read each straight into its band.
        (0..c).map(|_| read_samples(path, header, w * h, reader)).collect::<Result<Vec<_>, _>>()?
    } else {
        // Samples in another order are put in their place as they arrive, 1 Mi at a time: no copy
        // of the whole array beside the bands.
        let mut bands = vec![vec![0f32; w * h]; c];
        let (sw, plane) = (stored.width, stored.width * stored.height);
        let total = plane * c;
        let mut i = 0;
        while i < total {
            let chunk = read_samples(path, header, (1 << 20).min(total - i), reader)?;
            for v in chunk {
                let (b, p) = if stored.interleaved { (i % c, i / c) } else { (i / plane, i % plane) };
                let (sy, sx) = (p / sw, p % sw);
                let (y, x) = if stored.transposed { (sx, sy) } else { (sy, sx) };
                bands[b][y * w + x] = v;
                i += 1;
            }
        }
        bands
    };

    Ok(Raster::new(w, h, bands, meta_of(header, layout, format)))
}

/// What the header says of the image: the layout read, the storage order, the sample type.
fn meta_of(header: &Header, layout: &Layout, format: String) -> RasterMeta {
    let mut notes: Vec<String> = layout.note(&header.shape).into_iter().collect();
    if header.fortran {
        notes.push("array stored in Fortran (column-major) order".into());
    }
    if matches!(header.dtype, SampleType::C64 | SampleType::C128) {
        notes.push("complex samples shown as magnitude".into());
    }
    let band_names =
        if layout.bands > 1 { (0..layout.bands).map(|i| format!("channel {i}")).collect() } else { Vec::new() };
    RasterMeta { format, dtype: Some(header.dtype), band_names, notes, ..RasterMeta::default() }
}

/// Samples of N bytes, reordered to little-endian.
fn words<const N: usize>(data: &[u8], big: bool) -> impl Iterator<Item = [u8; N]> + '_ {
    data.chunks_exact(N).map(move |c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        if big {
            a.reverse();
        }
        a
    })
}

/// Every sample of `data` as f32; complex samples become their magnitude.
fn to_f32(t: SampleType, big: bool, data: &[u8]) -> Vec<f32> {
    use SampleType::*;
    match t {
        Bool => data.iter().map(|&b| f32::from(u8::from(b != 0))).collect(),
        U8 => data.iter().map(|&b| f32::from(b)).collect(),
        I8 => data.iter().map(|&b| f32::from(b as i8)).collect(),
        U16 => words(data, big).map(|a| f32::from(u16::from_le_bytes(a))).collect(),
        I16 => words(data, big).map(|a| f32::from(i16::from_le_bytes(a))).collect(),
        U32 => words(data, big).map(|a| u32::from_le_bytes(a) as f32).collect(),
        I32 => words(data, big).map(|a| i32::from_le_bytes(a) as f32).collect(),
        U64 => words(data, big).map(|a| u64::from_le_bytes(a) as f32).collect(),
        I64 => words(data, big).map(|a| i64::from_le_bytes(a) as f32).collect(),
        F16 => words(data, big).map(|a| f16_to_f32(u16::from_le_bytes(a))).collect(),
        F32 => words(data, big).map(f32::from_le_bytes).collect(),
        F64 => words(data, big).map(|a| f64::from_le_bytes(a) as f32).collect(),
        C64 => {
            let parts: Vec<f32> = words(data, big).map(f32::from_le_bytes).collect();
            parts.chunks_exact(2).map(|p| if let [re, im] = p { re.hypot(*im) } else { f32::NAN }).collect()
        }
        C128 => {
            let parts: Vec<f64> = words(data, big).map(f64::from_le_bytes).collect();
            parts.chunks_exact(2).map(|p| if let [re, im] = p { re.hypot(*im) as f32 } else { f32::NAN }).collect()
        }
    }
}

/// IEEE 754 half precision to f32, exactly (every f16 is representable as f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    match exp {
        0 => sign * frac as f32 * (1.0 / 16_777_216.0), // zero and subnormals: frac * 2^-24
        0x1f if frac == 0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        _ => f32::from_bits((u32::from(h & 0x8000) << 16) | ((exp + 112) << 23) | (frac << 13)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> Result<Header, IoError> {
        parse_header(Path::new("t.npy"), text.as_bytes())
    }

    #[test]
    fn parses_numpy_headers() {
        let h = header("{'descr': '<f4', 'fortran_order': False, 'shape': (512, 121), }          \n").unwrap();
        assert_eq!(h, Header { dtype: SampleType::F32, big_endian: false, fortran: false, shape: vec![512, 121] });
        let h = header("{\"shape\": (2L, 3L, 4L), \"fortran_order\": True, \"descr\": \">c16\"}").unwrap();
        assert_eq!((h.dtype, h.big_endian, h.fortran, h.shape), (SampleType::C128, true, true, vec![2, 3, 4]));
        assert_eq!(header("{'descr': '|b1', 'fortran_order': False, 'shape': (7,), }").unwrap().shape, vec![7]);
    }

    #[test]
    fn rejects_bad_headers() {
        for text in [
            "",
            "{",
            "{'descr': '<f4'",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (1, 2)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2)}",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            "{'a' 'b'}",
        ] {
            assert!(matches!(header(text), Err(IoError::Corrupt { .. })), "{text}");
        }
        for descr in ["|O", "<U10", "|S5", "<M8[ns]", "<f16", "|V8"] {
            let text = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2, 2)}}");
            assert!(matches!(header(&text), Err(IoError::Unsupported { .. })), "{descr}");
        }
        let text = "{'descr': [('x', '<f4'), ('y', '<i2')], 'fortran_order': False, 'shape': (2, 2)}";
        assert!(matches!(header(text), Err(IoError::Unsupported { .. })));
    }

    #[test]
    fn half_floats_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn layouts_follow_the_documented_rule() {
        let o = LoadOptions::default();
        let p = Path::new("t.npy");
        let of = |shape: &[u64], o: &LoadOptions| {
            let header = Header { dtype: SampleType::F32, big_endian: false, fortran: false, shape: shape.to_vec() };
            Layout::of(p, &header, 0, o)
        };
        let l = of(&[10, 20, 3], &o).unwrap();
        assert_eq!((l.width, l.height, l.bands, l.axes), (20, 10, 3, Axes::ChannelsLast));
        let l = of(&[3, 10, 20], &o).unwrap();
        assert_eq!((l.width, l.height, l.bands, l.axes), (20, 10, 3, Axes::ChannelsFirst));
        let l = of(&[1, 1, 1, 8, 9], &o).unwrap();
        assert_eq!((l.width, l.height, l.bands), (9, 8, 1));
        assert!(matches!(of(&[5], &o), Err(IoError::Unsupported { .. })));
        assert!(matches!(of(&[2, 2, 2, 2], &o), Err(IoError::Unsupported { .. })));
        assert!(matches!(of(&[0, 4], &o), Err(IoError::Unsupported { .. })));
        assert!(matches!(of(&[u64::MAX, 4], &o), Err(IoError::TooLarge { .. })));
        // Within the sample limit but over a small memory budget; samples in any order are put in
        // place as they are read, with no copy of the array beside the bands.
        let small = LoadOptions { max_bytes: 100 << 20, ..o };
        assert!(of(&[4096, 4096], &small).is_ok());
        assert!(of(&[2048, 2048, 4], &small).is_ok(), "64 MiB, channels side by side: no copy");
        assert!(of(&[4, 2048, 2048], &small).is_ok(), "stored plane by plane: no copy");
        assert!(matches!(of(&[4096, 4096, 2], &small), Err(IoError::OverBudget { .. })), "128 MiB");
    }
}
