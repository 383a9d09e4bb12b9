//! FITS tiled image compression (FITS 4.0 section 10, CFITSIO's "Tiled Image Compression"
//! convention: the `.fits.fz` files surveys publish) -> the image's raw samples.
//!
//! A compressed image is a BINTABLE with ZIMAGE = T and one row per tile: tiles of ZTILEn pixels,
//! first axis fastest, cut short at the image's edges, each tile's bytes in the heap behind a 'P'
//! or 'Q' descriptor of the COMPRESSED_DATA column. This module reads that table, decodes each tile
//! (RICE_1, GZIP_1, GZIP_2, HCOMPRESS_1, PLIO_1, NOCOMPRESS; the bit-level codecs, the table's
//! formats and the quantization are submodules), falls back to GZIP_COMPRESSED_DATA or UNCOMPRESSED_DATA where a tile has no
//! compressed bytes, undoes the quantization of floats (ZSCALE, ZZERO, subtractive dithering with
//! the standard's random numbers), marks ZBLANK pixels, and writes the samples big-endian in ZBITPIX
//! order as an uncompressed HDU holds them, so `fits` converts them like any image. It also builds
//! the uncompressed image's header. Values match astropy's CompImageHDU (CFITSIO's codecs) exactly.
//! Every size is checked, streams are read with bounds and inflated only up to the tile's size.
//! Pure functions of the bytes; worker threads.

mod hcompress;
mod plio;
mod quantize;
mod rice;
mod table;

use std::io::Read;
use std::path::Path;

use super::IoError;
use super::fits::{Hdu, Value};
use quantize::{Dither, Quantized, unquantize};
use table::{Column, Form, PerTile, Samples, descriptor, elem_size, per_tile, values};

/// What a decoder found wrong with one tile; the caller names the file, the tile and the codec.
type Fault = String;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Codec {
    Rice { block: usize, bytepix: usize },
    Gzip1,
    Gzip2,
    NoCompress,
    Plio,
    Hcompress { smooth: bool },
}

/// A compressed image HDU, its table and heap located and its keywords read; nothing decoded yet.
#[derive(Debug)]
pub(super) struct Tiled<'a> {
    /// ZCMPTYPE as written.
    name: String,
    codec: Codec,
    bitpix: i64,
    axes: Vec<u64>,
    tile: Vec<u64>,
    rows: &'a [u8],
    row_len: usize,
    heap: &'a [u8],
    data: Column,
    gzip: Option<Column>,
    raw: Option<Column>,
    quantized: Option<Quantized>,
    /// The value that marks a blank pixel in a decoded tile.
    zblank: Option<PerTile>,
    /// The uncompressed image's BLANK (integer images): what a blank pixel becomes.
    blank: Option<i64>,
    /// HCOMPRESS SCALE, for the note (above 1: lossy).
    hscale: Option<f64>,
}

/// Keywords of the table and of the compression, which do not describe the uncompressed image.
const RESERVED: [&str; 23] = [
    "XTENSION", "BITPIX", "PCOUNT", "GCOUNT", "TFIELDS", "THEAP", "ZIMAGE", "ZCMPTYPE", "ZBITPIX", "ZMASKCMP",
    "ZSIMPLE", "ZTENSION", "ZEXTEND", "ZBLOCKED", "ZPCOUNT", "ZGCOUNT", "ZHECKSUM", "ZDATASUM", "ZQUANTIZ", "ZDITHER0",
    "ZSCALE", "ZZERO", "ZBLANK",
];

/// Stems of the indexed ones (NAXISn, ZTILEn, TFORMn ...).
const RESERVED_INDEXED: [&str; 13] = [
    "NAXIS", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL", "TTYPE", "TFORM", "TUNIT", "TSCAL", "TZERO", "TNULL", "TDISP", "TDIM",
];

fn reserved(key: &str) -> bool {
    let indexed = |stem: &str| key.strip_prefix(stem).is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
    RESERVED.contains(&key) || RESERVED_INDEXED.into_iter().any(indexed)
}

/// The uncompressed image's header as the convention defines it: BITPIX, NAXIS and NAXISn from
/// ZBITPIX, ZNAXIS and ZNAXISn, the table's other keywords (BUNIT, WCS, BSCALE, BZERO, BLANK ...),
/// and for integer images a BLANK from ZBLANK when the header has none.
pub(super) fn image_header(path: &Path, table: &Hdu) -> Result<Hdu, IoError> {
    let bitpix = table.int("ZBITPIX").ok_or_else(|| IoError::corrupt(path, "the compressed image lacks ZBITPIX"))?;
    let naxis = table.count(path, "ZNAXIS")?;
    if naxis > 999 {
        return Err(IoError::corrupt(path, format!("the compressed image has ZNAXIS = {naxis}")));
    }
    let mut cards = vec![("BITPIX".to_string(), Value::Int(bitpix)), ("NAXIS".into(), Value::Int(naxis as i64))];
    for i in 1..=naxis {
        let n = table.count(path, &format!("ZNAXIS{i}"))?;
        cards.push((format!("NAXIS{i}"), Value::Int(i64::try_from(n).unwrap_or(i64::MAX))));
    }
    cards.extend(table.cards.iter().filter(|(k, _)| !reserved(k)).cloned());
    if bitpix > 0 && table.get("BLANK").is_none() {
        if let Some(b) = table.int("ZBLANK") {
            cards.push(("BLANK".into(), Value::Int(b)));
        } else if column_index(table, "ZBLANK").is_some() {
            // The most negative value of the sample type, as astropy assumes.
            cards.push(("BLANK".into(), Value::Int(i64::MIN >> (64 - bitpix.clamp(8, 64)))));
        }
    }
    Ok(Hdu { cards, data_start: 0 })
}

/// 1-based index of the column named `name` (TTYPEn, case-insensitive).
fn column_index(table: &Hdu, name: &str) -> Option<usize> {
    let fields = usize::try_from(table.int("TFIELDS")?).ok()?.min(999);
    (1..=fields).find(|i| table.text(&format!("TTYPE{i}")).is_some_and(|t| t.trim().eq_ignore_ascii_case(name)))
}

/// A number-valued keyword.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// The value of compression parameter `key` (ZNAMEi = key, ZVALi = value).
fn parameter<'h>(table: &'h Hdu, key: &str) -> Option<&'h Value> {
    for i in 1..1000 {
        let name = table.text(&format!("ZNAME{i}"))?;
        if name.trim().eq_ignore_ascii_case(key) {
            return table.get(&format!("ZVAL{i}"));
        }
    }
    None
}

impl<'a> Tiled<'a> {
    /// Read the keywords and locate the table and heap of the compressed image `table` in `bytes`.
    /// Allocates nothing that depends on the declared image size.
    pub(super) fn new(path: &Path, bytes: &'a [u8], table: &Hdu) -> Result<Self, IoError> {
        let corrupt = |what: String| IoError::corrupt(path, what);
        let name = table.text("ZCMPTYPE").map(|s| s.trim().to_string());
        let name = name.ok_or_else(|| corrupt("the compressed image has no ZCMPTYPE".into()))?;
        let bitpix = table.int("ZBITPIX").ok_or_else(|| corrupt("the compressed image lacks ZBITPIX".into()))?;
        if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
            return Err(IoError::unsupported(path, format!("FITS ZBITPIX = {bitpix}")));
        }
        let naxis = table.count(path, "ZNAXIS")?.min(999);
        let axes: Vec<u64> = (1..=naxis).map(|i| table.count(path, &format!("ZNAXIS{i}"))).collect::<Result<_, _>>()?;
        let tile = (1..=naxis)
            .map(|i| match table.get(&format!("ZTILE{i}")) {
                None if i == 1 => Ok(axes.first().copied().unwrap_or(1)),
                None => Ok(1),
                Some(_) => table.count(path, &format!("ZTILE{i}")).and_then(|t| {
                    if t == 0 { Err(corrupt(format!("the compressed image has ZTILE{i} = 0"))) } else { Ok(t) }
                }),
            })
            .collect::<Result<Vec<u64>, _>>()?;
        let codec = codec(path, &name, table)?;

        // The table: NAXIS2 rows of NAXIS1 bytes, then the heap at THEAP (PCOUNT bytes from the
        // end of the rows).
        let size = |n: u64| usize::try_from(n).map_err(|_| corrupt("the compressed table's size overflows".into()));
        let row_len = size(table.count(path, "NAXIS1")?)?;
        let nrows = size(table.count(path, "NAXIS2")?)?;
        let rows_len =
            row_len.checked_mul(nrows).ok_or_else(|| corrupt("the compressed table's size overflows".into()))?;
        let pcount = size(if table.get("PCOUNT").is_some() { table.count(path, "PCOUNT")? } else { 0 })?;
        let theap = if table.get("THEAP").is_some() { size(table.count(path, "THEAP")?)? } else { rows_len };
        let start = table.data_start;
        let end = rows_len.checked_add(pcount).and_then(|n| n.checked_add(start));
        let end = end.ok_or_else(|| corrupt("the compressed table's size overflows".into()))?;
        if end > bytes.len() {
            return Err(corrupt(format!(
                "the compressed image's table and heap are truncated: {} bytes of rows and heap declared, {} present",
                end - start,
                bytes.len().saturating_sub(start)
            )));
        }
        let rows = bytes.get(start..start + rows_len).unwrap_or_default();
        let heap_start = start.checked_add(theap).filter(|&h| h >= start + rows_len && h <= end);
        let heap = heap_start.and_then(|h| bytes.get(h..end)).ok_or_else(|| {
            corrupt(format!("THEAP = {theap} puts the heap outside the table's {} bytes", end - start))
        })?;

        // The columns, their offsets in a row from the TFORMs before them.
        let fields = table.count(path, "TFIELDS")?;
        if fields > 999 {
            return Err(corrupt(format!("the compressed table has TFIELDS = {fields}")));
        }
        let mut columns = Vec::new();
        let mut offset = 0u64;
        for i in 1..=fields {
            let tform = table.text(&format!("TFORM{i}")).unwrap_or_default();
            let form = Form::parse(tform).filter(|f| f.width().is_some());
            let form = form.ok_or_else(|| corrupt(format!("the compressed table has TFORM{i} = '{tform}'")))?;
            let name = table.text(&format!("TTYPE{i}")).unwrap_or_default().trim().to_ascii_uppercase();
            columns.push((name, Column { offset: size(offset)?, form }));
            offset = offset.saturating_add(form.width().unwrap_or(0));
        }
        if offset > row_len as u64 {
            return Err(corrupt(format!("the compressed table's columns take {offset} bytes, its rows are {row_len}")));
        }
        let find = |name: &str| columns.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
        let array = |name: &str, elems: &[u8]| -> Result<Option<Column>, IoError> {
            match find(name) {
                Some(c) if c.form.array.is_some_and(|(_, e)| elems.contains(&e)) => Ok(Some(c)),
                Some(c) => Err(corrupt(format!("the {name} column is not a variable-length array of numbers ({c:?})"))),
                None => Ok(None),
            }
        };
        let scalar = |name: &str| -> Result<Option<Column>, IoError> {
            match find(name) {
                Some(c) if c.form.array.is_none() && c.form.repeat > 0 && b"BIJKED".contains(&c.form.code) => {
                    Ok(Some(c))
                }
                Some(c) => Err(corrupt(format!("the {name} column is not a number ({c:?})"))),
                None => Ok(None),
            }
        };
        let data = array("COMPRESSED_DATA", b"BIJ")?
            .ok_or_else(|| corrupt("the compressed image has no COMPRESSED_DATA column".into()))?;
        let per_tile = |name: &str| -> Result<Option<PerTile>, IoError> {
            Ok(match scalar(name)? {
                Some(c) => Some(PerTile::Column(c)),
                None => table.get(name).and_then(number).map(PerTile::Keyword),
            })
        };
        let zscale = per_tile("ZSCALE")?;
        let quantized = match zscale {
            Some(scale) if bitpix < 0 => {
                let dither = match table.text("ZQUANTIZ").map(str::trim) {
                    None | Some("NO_DITHER") => Dither::No,
                    Some("SUBTRACTIVE_DITHER_1") => Dither::Subtractive1,
                    Some("SUBTRACTIVE_DITHER_2") => Dither::Subtractive2,
                    Some(other) => {
                        return Err(IoError::unsupported(path, format!("the float quantization ZQUANTIZ = '{other}'")));
                    }
                };
                let zero = per_tile("ZZERO")?.unwrap_or(PerTile::Keyword(0.0));
                Some(Quantized { scale, zero, dither, seed: table.int("ZDITHER0").unwrap_or(1) })
            }
            _ => None,
        };
        let zblank = match per_tile("ZBLANK")? {
            Some(z) => Some(z),
            None => table.get("BLANK").and_then(number).map(PerTile::Keyword),
        };
        let blank = if bitpix > 0 { image_header(path, table)?.int("BLANK") } else { None };
        Ok(Tiled {
            name,
            codec,
            bitpix,
            axes,
            tile,
            rows,
            row_len,
            heap,
            data,
            gzip: array("GZIP_COMPRESSED_DATA", b"BIJKED")?,
            raw: array("UNCOMPRESSED_DATA", b"BIJKED")?,
            quantized,
            zblank,
            blank,
            hscale: parameter(table, "SCALE").and_then(number),
        })
    }

    /// Bytes a decode holds besides the output: one tile (as the largest, edge-cut, may be) in
    /// its decoded forms.
    pub(super) fn scratch_bytes(&self) -> u64 {
        let px = self.axes.iter().zip(&self.tile).fold(1u64, |n, (&a, &t)| n.saturating_mul(a.min(t)));
        px.saturating_mul(32)
    }

    /// What the user should know: the compression, the tiles, and whether values are approximate.
    pub(super) fn notes(&self) -> Vec<String> {
        let tiles: Vec<String> = self.tile.iter().map(u64::to_string).collect();
        let mut notes = vec![format!("tile-compressed image ({}, tiles of {} pixels)", self.name, tiles.join(" x "))];
        if let Some(q) = &self.quantized {
            let how = match q.dither {
                Dither::No => "NO_DITHER",
                Dither::Subtractive1 => "SUBTRACTIVE_DITHER_1",
                Dither::Subtractive2 => "SUBTRACTIVE_DITHER_2",
            };
            notes.push(format!("floats were quantized to integers for compression ({how}): values are approximate"));
        }
        if matches!(self.codec, Codec::Hcompress { .. }) && self.hscale.is_some_and(|s| s > 1.0) {
            notes.push(format!("HCOMPRESS scale {}: lossy compression", self.hscale.unwrap_or(0.0)));
        }
        notes
    }

    /// Decode every tile into the image's samples: big-endian ZBITPIX values, first axis fastest.
    /// Call after the declared size has passed the load limits.
    pub(super) fn decode(&self, path: &Path) -> Result<Vec<u8>, IoError> {
        let corrupt = |what: String| IoError::corrupt(path, what);
        let size = |n: u64| usize::try_from(n).map_err(|_| corrupt("the compressed image's size overflows".into()));
        let axes: Vec<usize> = self.axes.iter().map(|&a| size(a)).collect::<Result<_, _>>()?;
        let tile: Vec<usize> =
            self.axes.iter().zip(&self.tile).map(|(&a, &t)| size(a.min(t))).collect::<Result<_, _>>()?;
        let counts: Vec<usize> = axes.iter().zip(&tile).map(|(&a, &t)| a.div_ceil(t.max(1))).collect();
        let overflow = || corrupt("the compressed image's size overflows".into());
        let ntiles = counts.iter().try_fold(1usize, |n, &c| n.checked_mul(c)).ok_or_else(overflow)?;
        let nrows = self.rows.len().checked_div(self.row_len).unwrap_or(0);
        if ntiles > nrows {
            return Err(corrupt(format!("the compressed table has {nrows} rows for the image's {ntiles} tiles")));
        }
        let bpp = (self.bitpix.unsigned_abs() / 8) as usize;
        let samples = axes.iter().try_fold(1usize, |n, &a| n.checked_mul(a)).ok_or_else(overflow)?;
        let mut out = vec![0u8; samples.checked_mul(bpp).ok_or_else(overflow)?];
        let mut strides = vec![1usize; axes.len()];
        for i in 1..axes.len() {
            strides[i] = strides[i - 1] * axes[i - 1];
        }
        for t in 0..ntiles {
            // The tile's corner and extent along each axis (cut short at the image's edge).
            let mut index = t;
            let mut origin = vec![0usize; axes.len()];
            let mut extent = vec![1usize; axes.len()];
            for i in 0..axes.len() {
                origin[i] = index % counts[i] * tile[i];
                index /= counts[i];
                extent[i] = tile[i].min(axes[i] - origin[i]);
            }
            let px: usize = extent.iter().product();
            let fault = |f: Fault| corrupt(format!("FITS tile {} of {ntiles} ({}): {f}", t + 1, self.name));
            let values = self.tile(t, px).map_err(fault)?;
            // Copy runs along the first axis to their place in the image.
            let run = extent.first().copied().unwrap_or(1).max(1);
            for r in 0..px / run {
                let mut left = r;
                let mut at = origin.first().copied().unwrap_or(0);
                for i in 1..axes.len() {
                    at += (origin[i] + left % extent[i]) * strides[i];
                    left /= extent[i];
                }
                let dst =
                    out.get_mut(at * bpp..(at + run) * bpp).ok_or_else(|| fault("lands outside the image".into()))?;
                write(dst, self.bitpix, &values, r * run);
            }
        }
        Ok(out)
    }

    /// Decode tile `t` (0-based) of `px` pixels, with the fallbacks, blanks and quantization.
    fn tile(&self, t: usize, px: usize) -> Result<Samples, Fault> {
        let row = self.rows.get(t * self.row_len..(t + 1) * self.row_len).ok_or("the table row is missing")?;
        let (count, offset) = descriptor(row, self.data)?;
        if count == 0 {
            // A tile of floats that would not quantize, stored losslessly.
            if let Some(col) = self.gzip {
                let (count, offset) = descriptor(row, col)?;
                let raw = gunzip(self.array(count, offset, col, "GZIP_COMPRESSED_DATA")?, px)?;
                return from_bytes(&raw, px, self.bitpix < 0);
            }
            if let Some(col) = self.raw {
                let (count, offset) = descriptor(row, col)?;
                if count != px as u64 {
                    return Err(format!("UNCOMPRESSED_DATA holds {count} values for {px} pixels"));
                }
                let bytes = self.array(count, offset, col, "UNCOMPRESSED_DATA")?;
                return Ok(values(bytes, col.form.array.map_or(b'B', |(_, e)| e)));
            }
            return Err(
                "COMPRESSED_DATA is empty and there is no GZIP_COMPRESSED_DATA or UNCOMPRESSED_DATA column".into()
            );
        }
        let stream = self.array(count, offset, self.data, "COMPRESSED_DATA")?;
        let float = self.bitpix < 0 && self.quantized.is_none();
        let decoded = match self.codec {
            Codec::Rice { block, bytepix } => Samples::Int(rice::decode(stream, px, block, bytepix)?),
            Codec::Plio => {
                let words: Vec<i16> = stream.chunks_exact(2).map(|w| i16::from_be_bytes([w[0], w[1]])).collect();
                Samples::Int(plio::decode(&words, px)?)
            }
            Codec::Hcompress { smooth } => Samples::Int(hcompress::decode(stream, px, smooth)?),
            Codec::Gzip1 => from_bytes(&gunzip(stream, px)?, px, float)?,
            Codec::Gzip2 => {
                let raw = gunzip(stream, px)?;
                let item = raw.len() / px;
                if raw.len() != item * px || ![1, 2, 4, 8].contains(&item) {
                    return Err(format!("GZIP_2 inflates to {} bytes for {px} pixels", raw.len()));
                }
                // Bytes were shuffled most significant first: byte b of pixel i is at b * px + i.
                let mut plain = vec![0u8; raw.len()];
                for (k, &byte) in raw.iter().enumerate() {
                    plain[(k % px) * item + k / px] = byte;
                }
                from_bytes(&plain, px, float)?
            }
            Codec::NoCompress => from_bytes(stream, px, float)?,
        };
        let zblank = match self.zblank {
            Some(z) => Some(per_tile(row, z)?),
            None => None,
        };
        let is_blank = |v: f64| zblank.is_some_and(|z| z == v);
        Ok(match decoded {
            Samples::Int(v) => {
                if let Some(q) = &self.quantized {
                    let (scale, zero) = (per_tile(row, q.scale)?, per_tile(row, q.zero)?);
                    Samples::Float(unquantize(&v, t, q, scale, zero, zblank))
                } else if self.bitpix < 0 {
                    Samples::Float(v.iter().map(|&x| if is_blank(x as f64) { f64::NAN } else { x as f64 }).collect())
                } else {
                    let to = self.blank;
                    Samples::Int(v.into_iter().map(|x| if is_blank(x as f64) { to.unwrap_or(x) } else { x }).collect())
                }
            }
            Samples::Float(v) => {
                Samples::Float(v.into_iter().map(|x| if is_blank(x) { f64::NAN } else { x }).collect())
            }
        })
    }

    /// The heap bytes of an array of `count` elements at byte `offset` of column `col`.
    fn array(&self, count: u64, offset: u64, col: Column, name: &str) -> Result<&'a [u8], Fault> {
        let elem = col.form.array.and_then(|(_, e)| elem_size(e)).unwrap_or(1);
        let end = count.checked_mul(elem).and_then(|n| n.checked_add(offset));
        let range = end.and_then(|e| Some(usize::try_from(offset).ok()?..usize::try_from(e).ok()?));
        range.and_then(|r| self.heap.get(r)).ok_or_else(|| {
            format!(
                "its {name} descriptor ({count} elements at byte {offset}) points outside the {}-byte heap",
                self.heap.len()
            )
        })
    }
}

/// The compression named by ZCMPTYPE, with its ZNAMEi / ZVALi parameters.
fn codec(path: &Path, name: &str, table: &Hdu) -> Result<Codec, IoError> {
    let int = |key: &str, default: i64| -> Result<i64, IoError> {
        match parameter(table, key) {
            None => Ok(default),
            Some(v) => number(v)
                .filter(|f| f.fract() == 0.0)
                .map(|f| f as i64)
                .ok_or_else(|| IoError::corrupt(path, format!("the compression parameter {key} is {v:?}"))),
        }
    };
    let bytepix = int("BYTEPIX", 4)?;
    if ![1, 2, 4, 8].contains(&bytepix) {
        return Err(IoError::unsupported(
            path,
            format!("tile compression with BYTEPIX = {bytepix} (1, 2, 4 or 8 expected)"),
        ));
    }
    Ok(match name {
        "RICE_1" | "RICE_ONE" => {
            if bytepix == 8 {
                return Err(IoError::unsupported(
                    path,
                    "RICE_1 of 8-byte pixels (BYTEPIX = 8), which neither CFITSIO nor astropy decodes",
                ));
            }
            let block = int("BLOCKSIZE", 32)?;
            if !(1..=1 << 16).contains(&block) {
                return Err(IoError::corrupt(path, format!("the RICE_1 BLOCKSIZE is {block}")));
            }
            Codec::Rice { block: block as usize, bytepix: bytepix as usize }
        }
        "GZIP_1" => Codec::Gzip1,
        "GZIP_2" => Codec::Gzip2,
        "NOCOMPRESS" => Codec::NoCompress,
        "PLIO_1" => Codec::Plio,
        "HCOMPRESS_1" => Codec::Hcompress { smooth: int("SMOOTH", 0)? != 0 },
        other => {
            return Err(IoError::unsupported(
                path,
                format!(
                    "the tile compression ZCMPTYPE = '{other}' (heatscope reads RICE_1, GZIP_1, GZIP_2, HCOMPRESS_1, PLIO_1 and NOCOMPRESS)"
                ),
            ));
        }
    })
}

/// Inflate a gzip stream, stopping as soon as it passes the most a tile of `px` pixels can hold
/// (8 bytes a pixel): a bomb costs no more than a real tile.
fn gunzip(data: &[u8], px: usize) -> Result<Vec<u8>, Fault> {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return Err("the tile's bytes are not a gzip stream".into());
    }
    let limit = px.saturating_mul(8);
    let mut out = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(data).take(limit as u64 + 1);
    reader.read_to_end(&mut out).map_err(|e| format!("the gzip stream is corrupt or cut ({e})"))?;
    if out.len() > limit {
        return Err(format!("the gzip stream inflates past {limit} bytes, more than the tile's {px} pixels hold"));
    }
    Ok(out)
}

/// A GZIP or uncompressed tile's bytes as samples: the width follows from the byte count (as
/// CFITSIO and astropy decide it); 4- and 8-byte pixels are floats in a lossless float image.
fn from_bytes(raw: &[u8], px: usize, float: bool) -> Result<Samples, Fault> {
    let n = raw.len();
    Ok(if n == 2 * px {
        values(raw, b'I')
    } else if n == 4 * px {
        values(raw, if float { b'E' } else { b'J' })
    } else if n == 8 * px {
        values(raw, if float { b'D' } else { b'K' })
    } else if n == px {
        values(raw, b'B')
    } else {
        return Err(format!("the tile holds {n} bytes for {px} pixels (1, 2, 4 or 8 bytes a pixel expected)"));
    })
}

/// Write `dst.len() / bytes-per-sample` samples of `values` from index `from` as big-endian
/// ZBITPIX samples (integers wrap and floats convert as a C cast would).
fn write(dst: &mut [u8], bitpix: i64, values: &Samples, from: usize) {
    let bpp = (bitpix.unsigned_abs() / 8) as usize;
    for (k, out) in dst.chunks_exact_mut(bpp).enumerate() {
        let (int, float) = match values {
            Samples::Int(v) => (v.get(from + k).copied().unwrap_or(0), None),
            Samples::Float(v) => (0, Some(v.get(from + k).copied().unwrap_or(f64::NAN))),
        };
        let bytes: [u8; 8] = match (bitpix, float) {
            (8, None) => pad([int as u8]),
            (16, None) => pad((int as i16).to_be_bytes()),
            (32, None) => pad((int as i32).to_be_bytes()),
            (64, None) => int.to_be_bytes(),
            (-32, None) => pad((int as f32).to_be_bytes()),
            (-64, None) => (int as f64).to_be_bytes(),
            (8, Some(f)) => pad([f as u8]),
            (16, Some(f)) => pad((f as i16).to_be_bytes()),
            (32, Some(f)) => pad((f as i32).to_be_bytes()),
            (64, Some(f)) => (f as i64).to_be_bytes(),
            (-32, Some(f)) => pad((f as f32).to_be_bytes()),
            (_, Some(f)) => f.to_be_bytes(),
            (_, None) => (int as f64).to_be_bytes(),
        };
        out.copy_from_slice(&bytes[..bpp]);
    }
}

fn pad<const N: usize>(b: [u8; N]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a[..N].copy_from_slice(&b);
    a
}

#[cfg(test)]
mod tests;
