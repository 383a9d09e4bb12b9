//! The binary table under a compressed image: TFORMn column formats and widths, 'P' / 'Q' array
//! descriptors, and numbers read from a row (ZSCALE, ZZERO, ZBLANK columns) or from keywords.
//! Every read is bounds-checked and reports what lies outside. Pure; worker threads.

use super::Fault;

/// A decoded tile, before it is written as ZBITPIX samples.
#[derive(Debug, PartialEq)]
pub(super) enum Samples {
    Int(Vec<i64>),
    Float(Vec<f64>),
}

/// A table column: where it sits in a row and its TFORM.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Column {
    pub(super) offset: usize,
    pub(super) form: Form,
}

/// A TFORMn: repeat count, type code and, for 'P' / 'Q' arrays, the element type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Form {
    pub(super) repeat: u64,
    pub(super) code: u8,
    /// (64-bit 'Q' descriptor, element type) of a variable-length array.
    pub(super) array: Option<(bool, u8)>,
}

impl Form {
    pub(super) fn parse(text: &str) -> Option<Form> {
        let t = text.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let repeat = if digits == 0 { 1 } else { t.get(..digits)?.parse().ok()? };
        let mut rest = t.bytes().skip(digits);
        let code = rest.next()?.to_ascii_uppercase();
        let array = match code {
            b'P' | b'Q' => Some((code == b'Q', rest.next()?.to_ascii_uppercase())),
            _ => None,
        };
        Some(Form { repeat, code, array })
    }

    /// Bytes the column takes in a row.
    pub(super) fn width(&self) -> Option<u64> {
        let each = match self.code {
            b'X' => return Some(self.repeat.div_ceil(8)),
            b'P' => 8,
            b'Q' => 16,
            c => elem_size(c)?,
        };
        self.repeat.checked_mul(each)
    }
}

/// Bytes of one element of a type code.
pub(super) fn elem_size(code: u8) -> Option<u64> {
    Some(match code {
        b'L' | b'B' | b'A' => 1,
        b'I' => 2,
        b'J' | b'E' => 4,
        b'K' | b'D' | b'C' => 8,
        b'M' => 16,
        _ => return None,
    })
}

/// A per-tile number: one keyword for every tile, or a column.
#[derive(Clone, Copy, Debug)]
pub(super) enum PerTile {
    Keyword(f64),
    Column(Column),
}

/// A row's array descriptor for `col`: (element count, byte offset in the heap).
pub(super) fn descriptor(row: &[u8], col: Column) -> Result<(u64, u64), Fault> {
    let wide = col.form.array.is_some_and(|(q, _)| q);
    let len = if wide { 16 } else { 8 };
    let d = row.get(col.offset..col.offset + len).ok_or("the descriptor lies outside its row")?;
    let (count, offset) = if wide {
        (i64::from_be_bytes(arr(&d[..8])), i64::from_be_bytes(arr(&d[8..])))
    } else {
        (i64::from(i32::from_be_bytes(arr(&d[..4]))), i64::from(i32::from_be_bytes(arr(&d[4..]))))
    };
    match (u64::try_from(count), u64::try_from(offset)) {
        (Ok(c), Ok(o)) => Ok((c, o)),
        _ => Err(format!("a descriptor holds a negative count or offset ({count}, {offset})")),
    }
}

pub(super) fn arr<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(src) = c.get(..N) {
        a.copy_from_slice(src);
    }
    a
}

/// A per-tile number for the tile in `row`.
pub(super) fn per_tile(row: &[u8], source: PerTile) -> Result<f64, Fault> {
    match source {
        PerTile::Keyword(v) => Ok(v),
        PerTile::Column(col) => {
            let size = elem_size(col.form.code).unwrap_or(1) as usize;
            let bytes = row.get(col.offset..col.offset + size).ok_or("a scalar column lies outside its row")?;
            match values(bytes, col.form.code) {
                Samples::Int(v) => Ok(v.first().copied().unwrap_or(0) as f64),
                Samples::Float(v) => Ok(v.first().copied().unwrap_or(0.0)),
            }
        }
    }
}

/// Big-endian values of type `code` (B, I, J, K, E, D).
pub(super) fn values(bytes: &[u8], code: u8) -> Samples {
    match code {
        b'I' => Samples::Int(bytes.chunks_exact(2).map(|c| i64::from(i16::from_be_bytes(arr(c)))).collect()),
        b'J' => Samples::Int(bytes.chunks_exact(4).map(|c| i64::from(i32::from_be_bytes(arr(c)))).collect()),
        b'K' => Samples::Int(bytes.chunks_exact(8).map(|c| i64::from_be_bytes(arr(c))).collect()),
        b'E' => Samples::Float(bytes.chunks_exact(4).map(|c| f64::from(f32::from_be_bytes(arr(c)))).collect()),
        b'D' => Samples::Float(bytes.chunks_exact(8).map(|c| f64::from_be_bytes(arr(c))).collect()),
        _ => Samples::Int(bytes.iter().map(|&b| i64::from(b)).collect()),
    }
}
