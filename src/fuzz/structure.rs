//! Mutations that know each format's structure, so that mutants get past the first checks and reach
//! the code behind them: PNG chunks (IHDR sizes, depths and colour types, lying lengths, corrupted
//! data with a valid CRC, chunks dropped, doubled or swapped), JPEG segments (frame sizes, component
//! counts, lying lengths, tables), TIFF directory entries (types, counts, values and offsets of the
//! tags a reader trusts), NPY headers (shapes, dtypes, order, header lengths), NPZ archives (the
//! member mutated as NPY, or the zip's own sizes, methods and CRCs), FITS cards (NAXIS, BITPIX,
//! BSCALE, BLANK, END), CSV text (cells, separators, ragged rows) and JPEG 2000 (the ihdr box's and
//! the SIZ marker's sizes, box lengths, bytes of the codestream after its header). Falls back to byte mutations
//! where the input does not parse. Pure functions; any thread.

use std::io::{Cursor, Read, Write};

use super::Target;
use super::mutate::generic;
use crate::sim::rng::Rng;

/// One structure-aware mutation of `data` (a fresh buffer).
pub fn mutate(target: Target, data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let out = match target {
        Target::Png => png(data, rng),
        Target::Jpeg => jpeg(data, rng),
        Target::Tiff => tiff(data, rng),
        Target::Npy => npy(data, rng),
        Target::Npz => npz(data, rng),
        Target::Fits => fits(data, rng),
        Target::Csv => Some(csv(data, rng)),
        Target::Jp2 => jp2(data, rng),
        // Text lines like CSV: cells, separators and ragged rows.
        Target::Dynspec => Some(csv(data, rng)),
    };
    out.unwrap_or_else(|| {
        let mut d = data.to_vec();
        generic(&mut d, rng, &[]);
        d
    })
}

/// Sizes that trip size arithmetic: zero, one, the edges of 16 and 32 bits, and large ones.
fn interesting_size(rng: &mut Rng) -> u32 {
    const SIZES: [u32; 10] = [0, 1, 2, 255, 65535, 65536, 1 << 20, 0x7fff_ffff, 0xffff_ffff, 46341];
    if rng.chance(0.7) { SIZES[rng.below(SIZES.len())] } else { rng.next_u64() as u32 >> rng.below(32) }
}

// ---------------------------------------------------------------- PNG

/// CRC-32 (IEEE, as PNG and zip use it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG chunk: its type and data.
struct Chunk {
    kind: [u8; 4],
    data: Vec<u8>,
}

fn png_chunks(data: &[u8]) -> Option<Vec<Chunk>> {
    let mut at = 8;
    let mut out = Vec::new();
    if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return None;
    }
    while at + 12 <= data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().ok()?) as usize;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().ok()?;
        let body = data.get(at + 8..at + 8 + len)?.to_vec();
        out.push(Chunk { kind, data: body });
        at += 12 + len;
    }
    (!out.is_empty()).then_some(out)
}

fn png_bytes(chunks: &[Chunk], lie: Option<(usize, u32)>) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (i, c) in chunks.iter().enumerate() {
        let len = match lie {
            Some((k, v)) if k == i => v,
            _ => c.data.len() as u32,
        };
        out.extend(len.to_be_bytes());
        let mut typed = c.kind.to_vec();
        typed.extend(&c.data);
        out.extend(&typed);
        out.extend(crc32(&typed).to_be_bytes());
    }
    out
}

fn png(data: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    let mut chunks = png_chunks(data)?;
    let mut lie = None;
    match rng.below(6) {
        // IHDR: sizes, bit depth, colour type, interlace (CRC fixed, so the decoder believes it).
        0 => {
            let ihdr = chunks.iter_mut().find(|c| &c.kind == b"IHDR")?;
            if ihdr.data.len() < 13 {
                return None;
            }
            match rng.below(4) {
                0 => ihdr.data[0..4].copy_from_slice(&interesting_size(rng).to_be_bytes()),
                1 => ihdr.data[4..8].copy_from_slice(&interesting_size(rng).to_be_bytes()),
                2 => ihdr.data[8] = [1, 2, 4, 8, 16, 0, 3, 32][rng.below(8)],
                _ => ihdr.data[9 + rng.below(4)] = [0, 2, 3, 4, 6, 1, 7, 255][rng.below(8)],
            }
        }
        // A chunk's length field lies.
        1 => lie = Some((rng.below(chunks.len()), interesting_size(rng))),
        // A chunk's data corrupted, its CRC valid.
        2 => {
            let k = rng.below(chunks.len());
            let other = chunks[rng.below(chunks.len())].data.clone();
            generic(&mut chunks[k].data, rng, &other);
        }
        // A chunk dropped, doubled or two swapped.
        3 => {
            let k = rng.below(chunks.len());
            match rng.below(3) {
                0 => drop(chunks.remove(k)),
                1 => {
                    let copy = Chunk { kind: chunks[k].kind, data: chunks[k].data.clone() };
                    chunks.insert(rng.below(chunks.len() + 1), copy);
                }
                _ => {
                    let j = rng.below(chunks.len());
                    chunks.swap(k, j);
                }
            }
        }
        // A palette or transparency chunk of a random size.
        4 => {
            let kind = if rng.chance(0.5) { *b"PLTE" } else { *b"tRNS" };
            let data = (0..rng.below(800)).map(|_| rng.next_u64() as u8).collect();
            chunks.insert(1.min(chunks.len()), Chunk { kind, data });
        }
        // The image data ends early (the last IDAT cut).
        _ => {
            let idat = chunks.iter_mut().rev().find(|c| &c.kind == b"IDAT")?;
            let keep = rng.below(idat.data.len().max(1));
            idat.data.truncate(keep);
        }
    }
    Some(png_bytes(&chunks, lie))
}

// ---------------------------------------------------------------- JPEG

/// Offsets of the JPEG marker segments that carry a length (start, marker, length).
fn jpeg_segments(data: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut out = Vec::new();
    let mut at = 2;
    while at + 4 <= data.len() && data[at] == 0xff {
        let marker = data[at + 1];
        if matches!(marker, 0xd8 | 0x01 | 0xd0..=0xd7) {
            at += 2;
            continue;
        }
        if marker == 0xd9 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        out.push((at, marker, len));
        if marker == 0xda {
            break; // entropy-coded data follows
        }
        at += 2 + len;
    }
    out
}

fn jpeg(data: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    if !data.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let segments = jpeg_segments(data);
    let &(at, marker, len) = rng.pick(&segments)?;
    let mut out = data.to_vec();
    let u16_at = |out: &mut Vec<u8>, i: usize, v: u16| {
        if i + 2 <= out.len() {
            out[i..i + 2].copy_from_slice(&v.to_be_bytes());
        }
    };
    match rng.below(5) {
        // A frame's height, width or component count.
        0 => {
            let sof = segments.iter().find(|s| matches!(s.1, 0xc0..=0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb))?.0;
            match rng.below(3) {
                0 => u16_at(&mut out, sof + 5, interesting_size(rng) as u16),
                1 => u16_at(&mut out, sof + 7, interesting_size(rng) as u16),
                _ => {
                    if let Some(b) = out.get_mut(sof + 9) {
                        *b = [0, 1, 3, 4, 255, 2][rng.below(6)];
                    }
                }
            }
        }
        // A segment's length lies.
        1 => u16_at(&mut out, at + 2, interesting_size(rng) as u16),
        // A segment's body corrupted (tables, scan headers, sampling factors).
        2 => {
            let end = (at + 2 + len).min(out.len());
            let mut body = out[at + 4..end.max(at + 4)].to_vec();
            generic(&mut body, rng, &[]);
            out.splice(at + 4..end.max(at + 4), body);
        }
        // A segment dropped.
        3 if marker != 0xda => {
            let end = (at + 2 + len).min(out.len());
            out.drain(at..end);
        }
        // The scan data cut short.
        _ => {
            let sos = segments.iter().find(|s| s.1 == 0xda)?.0;
            let cut = sos + rng.below(out.len().saturating_sub(sos).max(1));
            out.truncate(cut);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- TIFF

/// Tags a TIFF reader trusts for sizes and offsets, GeoTIFF's included.
const TIFF_TAGS: [u16; 20] =
    [256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 322, 323, 324, 325, 338, 339, 33550, 33922, 34264, 34735];

fn tiff(data: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    let big_endian = match data.get(..4)? {
        b"II*\0" => false,
        b"MM\0*" => true,
        _ => return None,
    };
    let rd16 = |d: &[u8], i: usize| -> Option<u16> {
        let b: [u8; 2] = d.get(i..i + 2)?.try_into().ok()?;
        Some(if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let rd32 = |d: &[u8], i: usize| -> Option<u32> {
        let b: [u8; 4] = d.get(i..i + 4)?.try_into().ok()?;
        Some(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let w16 = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let w32 = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let ifd = rd32(data, 4)? as usize;
    let count = usize::from(rd16(data, ifd)?);
    if count == 0 || ifd + 2 + 12 * count > data.len() {
        return None;
    }
    let mut out = data.to_vec();
    let entry = |k: usize| ifd + 2 + 12 * k;
    // Prefer the tags that decide sizes and offsets.
    let trusted: Vec<usize> =
        (0..count).filter(|&k| rd16(data, entry(k)).is_some_and(|t| TIFF_TAGS.contains(&t))).collect();
    let k = if !trusted.is_empty() && rng.chance(0.8) { trusted[rng.below(trusted.len())] } else { rng.below(count) };
    let e = entry(k);
    match rng.below(6) {
        // The value (or the offset of the values).
        0 | 1 => {
            let v = interesting_size(rng);
            let short = rd16(data, e + 2) == Some(3) && rd32(data, e + 4) == Some(1);
            if short {
                out[e + 8..e + 10].copy_from_slice(&w16(v as u16));
            } else {
                out[e + 8..e + 12].copy_from_slice(&w32(v));
            }
        }
        // The count.
        2 => out[e + 4..e + 8].copy_from_slice(&w32(interesting_size(rng))),
        // The type (1-12 are defined, others are not).
        3 => out[e + 2..e + 4].copy_from_slice(&w16([1, 2, 3, 4, 5, 11, 12, 16, 0, 99][rng.below(10)])),
        // The entry count of the directory.
        4 => out[ifd..ifd + 2].copy_from_slice(&w16(interesting_size(rng) as u16)),
        // The values an offset points at (strip offsets, byte counts, geo tags) corrupted.
        _ => {
            let at = rd32(data, e + 8)? as usize;
            let len = (rd32(data, e + 4)? as usize).saturating_mul(4).min(4096);
            if at >= out.len() || len == 0 {
                return None;
            }
            let end = (at + len).min(out.len());
            let mut body = out[at..end].to_vec();
            generic(&mut body, rng, &[]);
            body.resize(end - at, 0);
            out[at..end].copy_from_slice(&body);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- NPY

/// The parts of a `.npy` file: the header text and the data after it.
fn npy_parts(data: &[u8]) -> Option<(String, &[u8])> {
    if !data.starts_with(b"\x93NUMPY") {
        return None;
    }
    let (len, start) = match data.get(6)? {
        1 => (usize::from(u16::from_le_bytes(data.get(8..10)?.try_into().ok()?)), 10),
        _ => (u32::from_le_bytes(data.get(8..12)?.try_into().ok()?) as usize, 12),
    };
    let header = String::from_utf8(data.get(start..start + len)?.to_vec()).ok()?;
    Some((header, &data[start + len..]))
}

/// A version-1 `.npy` file from a header text (padded as NumPy pads it) and data.
pub fn npy_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.trim_end().to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend(u16::try_from(h.len()).unwrap_or(u16::MAX).to_le_bytes());
    out.extend(h.as_bytes());
    out.extend(data);
    out
}

fn npy(data: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    let (header, body) = npy_parts(data)?;
    const DESCRS: [&str; 16] =
        ["<f4", ">f8", "<i2", "|u1", "<c8", ">c16", "<f2", "|b1", "<u8", "<f3", "|O", "<U8", "<M8[s]", "", "f4", "<V4"];
    let shape = |rng: &mut Rng| -> String {
        match rng.below(7) {
            0 => "()".into(),
            1 => "(0,)".into(),
            2 => format!("({}, {})", interesting_size(rng), interesting_size(rng)),
            3 => format!("(-1, {})", rng.below(9)),
            4 => format!("({}, {}, {}, {})", rng.int_in(1, 5), rng.int_in(1, 5), rng.int_in(1, 5), rng.int_in(1, 5)),
            5 => format!("({}, {}, {})", rng.int_in(1, 6), rng.int_in(1, 40), rng.int_in(1, 40)),
            _ => format!("({}, {})", rng.int_in(1, 64), rng.int_in(1, 64)),
        }
    };
    let mut body = body.to_vec();
    let header = match rng.below(5) {
        0 => format!(
            "{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}",
            DESCRS[rng.below(DESCRS.len())],
            if rng.chance(0.5) { "True" } else { "False" },
            shape(rng)
        ),
        1 => header.replacen("False", "True", 1).replacen("'<", "'>", 1),
        // The header text itself mangled (quotes, brackets, nesting).
        2 => {
            let mut h = header.into_bytes();
            generic(&mut h, rng, b"{'(['\"),]}:");
            String::from_utf8_lossy(&h).into_owned()
        }
        // The header's length field lies (returned directly).
        3 => {
            let mut out = npy_file(&header, &body);
            out[8..10].copy_from_slice(&(interesting_size(rng) as u16).to_le_bytes());
            return Some(out);
        }
        // The data cut or padded.
        _ => {
            if rng.chance(0.5) {
                body.truncate(rng.below(body.len() + 1));
            } else {
                body.extend((0..rng.below(64)).map(|_| rng.next_u64() as u8));
            }
            header
        }
    };
    Some(npy_file(&header, &body))
}

// ---------------------------------------------------------------- NPZ

/// A zip holding `member` as `name`, stored or deflated.
pub fn npz_file(name: &str, member: &[u8], deflate: bool) -> Option<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let method = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    zip.start_file(name, zip::write::SimpleFileOptions::default().compression_method(method)).ok()?;
    zip.write_all(member).ok()?;
    zip.finish().ok().map(Cursor::into_inner)
}

fn npz(data: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    if rng.chance(0.5) {
        // The member mutated as NPY and packed again.
        let mut zip = zip::ZipArchive::new(Cursor::new(data)).ok()?;
        let mut member = Vec::new();
        let name = zip.by_index(0).ok()?.name().ok()?.to_string();
        zip.by_index(0).ok()?.take(1 << 24).read_to_end(&mut member).ok()?;
        let mutated = npy(&member, rng).unwrap_or(member);
        return npz_file(&name, &mutated, rng.chance(0.5));
    }
    // The zip's own fields: sizes, method, CRC and name length of the local header or the
    // central directory, or the directory's offset.
    let mut out = data.to_vec();
    let find = |sig: &[u8]| out.windows(4).position(|w| w == sig);
    let (at, fields): (usize, &[usize]) = match rng.below(3) {
        0 => (find(b"PK\x03\x04")?, &[8, 14, 18, 22, 26]),
        1 => (find(b"PK\x01\x02")?, &[10, 16, 20, 24, 28, 42]),
        _ => (find(b"PK\x05\x06")?, &[10, 12, 16]),
    };
    let f = at + fields[rng.below(fields.len())];
    let v = interesting_size(rng);
    let end = (f + 4).min(out.len());
    let bytes = v.to_le_bytes();
    out[f.min(end)..end].copy_from_slice(&bytes[..end - f.min(end)]);
    Some(out)
}

// ---------------------------------------------------------------- FITS

fn fits(data: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    if !data.starts_with(b"SIMPLE  =") {
        return None;
    }
    let mut out = data.to_vec();
    let cards: Vec<usize> = (0..out.len().min(2880 * 4) / 80).map(|k| k * 80).collect();
    let card_named = |out: &[u8], key: &str| -> Option<usize> {
        cards.iter().copied().find(|&c| out.get(c..c + 8).is_some_and(|k| k.starts_with(key.as_bytes())))
    };
    let set = |out: &mut Vec<u8>, at: usize, key: &str, value: &str| {
        let card = format!("{key:<8}= {value:>20}");
        let mut bytes = card.into_bytes();
        bytes.resize(80, b' ');
        if at + 80 <= out.len() {
            out[at..at + 80].copy_from_slice(&bytes);
        }
    };
    match rng.below(6) {
        0 => {
            let at = card_named(&out, "NAXIS ")?;
            set(&mut out, at, "NAXIS", ["0", "1", "2", "3", "4", "999", "-2"][rng.below(7)]);
        }
        1 => {
            let key = ["NAXIS1", "NAXIS2", "NAXIS3"][rng.below(3)];
            let at = card_named(&out, key).or_else(|| card_named(&out, "NAXIS2"))?;
            set(&mut out, at, key, ["0", "-1", "1", "2147483647", "99999999999", "65536", "3"][rng.below(7)]);
        }
        2 => {
            let at = card_named(&out, "BITPIX")?;
            set(&mut out, at, "BITPIX", ["8", "16", "32", "64", "-32", "-64", "7", "0", "-16"][rng.below(9)]);
        }
        // Scaling and blanking values a converter divides by or compares with.
        3 => {
            let at = card_named(&out, "END")?;
            let key = ["BSCALE", "BZERO", "BLANK", "CDELT1", "BMAJ"][rng.below(5)];
            out.splice(at..at, std::iter::repeat_n(b' ', 80));
            set(&mut out, at, key, ["NaN", "0", "1E300", "-1E-300", "'text'", "T", "2147483648"][rng.below(7)]);
            out.truncate(out.len() - 80);
        }
        // END removed, or the data cut.
        4 => {
            if rng.chance(0.5) {
                let at = card_named(&out, "END")?;
                out[at..at + 3].copy_from_slice(b"   ");
            } else {
                let header_end = card_named(&out, "END").map_or(2880, |e| (e / 2880 + 1) * 2880);
                out.truncate(header_end + rng.below(out.len().saturating_sub(header_end) + 1));
            }
        }
        // A card's text mangled.
        _ => {
            let at = *rng.pick(&cards)?;
            let mut card = out.get(at..at + 80)?.to_vec();
            generic(&mut card, rng, b"= '/");
            card.resize(80, b' ');
            out[at..at + 80].copy_from_slice(&card);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- CSV

fn csv(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push("1,2,3".into());
    }
    const CELLS: [&str; 14] = [
        "nan",
        "inf",
        "-inf",
        "1e999",
        "",
        "abc",
        "0x10",
        "-",
        "1,5",
        "\"7\"",
        "99999999999999999999",
        "1e-400",
        " 3 ",
        "\u{0}",
    ];
    let k = rng.below(lines.len());
    match rng.below(6) {
        // A cell replaced.
        0 => {
            let sep = if lines[k].contains('\t') { '\t' } else { ',' };
            let mut cells: Vec<String> = lines[k].split(sep).map(str::to_string).collect();
            let c = rng.below(cells.len());
            cells[c] = CELLS[rng.below(CELLS.len())].to_string();
            lines[k] = cells.join(&sep.to_string());
        }
        // A ragged row: a cell added or removed.
        1 => {
            if rng.chance(0.5) {
                lines[k].push_str(",7");
            } else if let Some(i) = lines[k].rfind([',', '\t', ' ']) {
                lines[k].truncate(i);
            }
        }
        // Another separator, a BOM, or a header line.
        2 => match rng.below(3) {
            0 => lines[k] = lines[k].replace(',', if rng.chance(0.5) { ";" } else { "\t" }),
            1 => lines[0].insert(0, '\u{feff}'),
            _ => lines.insert(0, "x,y,value".into()),
        },
        // A row repeated many times, or a very long row.
        3 => {
            let row = lines[k].clone();
            if rng.chance(0.5) {
                for _ in 0..rng.int_in(2, 500) {
                    lines.push(row.clone());
                }
            } else {
                lines[k] = std::iter::repeat_n(row.as_str(), rng.int_in(2, 200)).collect::<Vec<_>>().join(",");
            }
        }
        // Rows dropped.
        4 => {
            let keep = rng.below(lines.len() + 1);
            lines.truncate(keep);
        }
        _ => {
            let mut bytes = lines.join("\n").into_bytes();
            generic(&mut bytes, rng, b",\t\n;.-e");
            return bytes;
        }
    }
    let newline = if rng.chance(0.2) { "\r\n" } else { "\n" };
    lines.join(newline).into_bytes()
}

// ---------------------------------------------------------------- JPEG 2000

/// One JPEG 2000 mutation: a size in the ihdr box or the SIZ marker, a box length, or the coded data.
fn jp2(data: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    let mut d = data.to_vec();
    let find = |pat: &[u8]| d.windows(pat.len()).position(|w| w == pat);
    let siz = find(&[0xFF, 0x51]);
    let ihdr = find(b"ihdr");
    match rng.below(4) {
        // ihdr: height, width (u32), components (u16), bits.
        0 if ihdr.is_some() => {
            let at = ihdr? + 4 + 4 * rng.below(2);
            d.get_mut(at..at + 4)?.copy_from_slice(&interesting_size(rng).to_be_bytes());
        }
        // SIZ: Xsiz, Ysiz, offsets, tile sizes (u32 each from byte 6), or Csiz.
        1 if siz.is_some() => {
            let at = siz? + 6 + 4 * rng.below(8);
            d.get_mut(at..at + 4)?.copy_from_slice(&interesting_size(rng).to_be_bytes());
        }
        // A box length (the first four bytes of a box whose type follows).
        2 => {
            let kinds: [&[u8]; 4] = [b"jp2h", b"jp2c", b"ihdr", b"colr"];
            let at = find(kinds[rng.below(kinds.len())])?.checked_sub(4)?;
            d.get_mut(at..at + 4)?.copy_from_slice(&interesting_size(rng).to_be_bytes());
        }
        // The coded data after the main header.
        _ => {
            let start = siz.map_or(0, |s| s + 40).min(d.len());
            let tail = d.get_mut(start..)?;
            generic_into(tail, rng);
        }
    }
    Some(d)
}

/// Byte mutations in place, keeping the length.
fn generic_into(bytes: &mut [u8], rng: &mut Rng) {
    if bytes.is_empty() {
        return;
    }
    for _ in 0..=rng.below(4) {
        let i = rng.below(bytes.len());
        bytes[i] = rng.next_u64() as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_chunks_round_trip_with_valid_crcs() {
        let img = image::GrayImage::from_fn(9, 7, |x, y| image::Luma([(x * 20 + y) as u8]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let chunks = png_chunks(&png).expect("chunks");
        assert_eq!(&chunks[0].kind, b"IHDR");
        assert_eq!(png_bytes(&chunks, None), png, "rebuilt byte for byte, CRCs included");
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
    }

    #[test]
    fn every_format_mutates_its_structure() {
        let npy_seed = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", &[0u8; 24]);
        let (header, data) = npy_parts(&npy_seed).expect("parts");
        assert!(header.contains("(2, 3)") && data.len() == 24);
        let npz_seed = npz_file("a.npy", &npy_seed, true).expect("zip");
        let mut rng = Rng::new(9);
        for (target, seed) in
            [(Target::Npy, npy_seed.clone()), (Target::Npz, npz_seed), (Target::Csv, b"1,2\n3,4\n".to_vec())]
        {
            let changed = (0..40).filter(|_| mutate(target, &seed, &mut rng) != seed).count();
            assert!(changed > 30, "{target:?}: {changed} of 40 mutants differ");
        }
    }
}
