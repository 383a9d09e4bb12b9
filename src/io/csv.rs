//! CSV/TSV grids of numbers -> single-band [`Raster`].
//!
//! Owns reading a text grid: separator detection (tab, semicolon, comma or whitespace), an optional
//! header row, missing-value tokens, and precise errors for ragged rows and non-numeric cells. Each
//! line is one raster row, top first. Pure functions of the bytes with no shared state: they run on
//! worker threads.

use std::path::Path;

use super::{IoError, LoadOptions};
use crate::types::{Raster, RasterMeta};

/// How cells are separated on a line.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sep {
    Char(char),
    Whitespace,
}

impl Sep {
    /// The first of tab, semicolon, comma found on the line; else runs of whitespace.
    fn detect(line: &str) -> Self {
        ['\t', ';', ','].into_iter().find(|&c| line.contains(c)).map_or(Self::Whitespace, Self::Char)
    }

    fn split(self, line: &str) -> Vec<&str> {
        match self {
            Self::Char(c) => line.split(c).map(str::trim).collect(),
            Self::Whitespace => line.split_whitespace().collect(),
        }
    }
}

/// A number, or NaN for an empty cell or a missing-value token; None for anything else.
fn parse_cell(cell: &str, sep: Sep) -> Option<f32> {
    let cell = cell.strip_prefix('"').and_then(|c| c.strip_suffix('"')).unwrap_or(cell).trim();
    if cell.is_empty() || ["nan", "na", "n/a", "null"].iter().any(|t| cell.eq_ignore_ascii_case(t)) {
        return Some(f32::NAN);
    }
    match cell.parse::<f64>() {
        Ok(v) => Some(v as f32),
        // Semicolon-separated files often use a decimal comma ("1,5").
        Err(_) if sep == Sep::Char(';') => cell.replacen(',', ".", 1).parse::<f64>().ok().map(|v| v as f32),
        Err(_) => None,
    }
}

/// Lines that hold data: blank lines and `#` comments are skipped. Yields (1-based line number, text).
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> + Clone {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

/// Read a grid of numbers; each line is a row of the raster.
pub fn read(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<Raster, IoError> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = data_lines(text).peekable();
    let Some(&(_, first)) = lines.peek() else {
        return Err(IoError::corrupt(path, "the text file holds no numbers"));
    };
    let sep = Sep::detect(first);

    // A first line with no number in it and at least one word is a header.
    let mut notes = Vec::new();
    let cells = sep.split(first);
    if cells.iter().all(|c| parse_cell(c, sep).is_none_or(f32::is_nan))
        && cells.iter().any(|c| parse_cell(c, sep).is_none())
    {
        let shown: String = first.chars().take(60).collect();
        notes.push(format!("first line taken as a header and skipped: {shown}"));
        lines.next();
    }
    let Some(&(first_no, first)) = lines.peek() else {
        return Err(IoError::corrupt(path, "the text file has a header but no rows of numbers"));
    };
    let sep = Sep::detect(first);
    let width = sep.split(first).len();
    let height = lines.clone().count();
    opts.check(path, width as u64, height as u64, 1, bytes.len() as u64)?;

    let mut values = Vec::with_capacity(width * height);
    for (no, line) in lines {
        let cells = sep.split(line);
        if cells.len() != width {
            return Err(IoError::corrupt(
                path,
                format!("line {no} has {} values, but line {first_no} has {width}", cells.len()),
            ));
        }
        for (col, cell) in cells.iter().enumerate() {
            let v = parse_cell(cell, sep).ok_or_else(|| {
                let shown: String = cell.chars().take(40).collect();
                IoError::corrupt(path, format!("line {no}, column {}: '{shown}' is not a number", col + 1))
            })?;
            values.push(v);
        }
    }

    let format = if sep == Sep::Char('\t') { "TSV grid" } else { "CSV grid" };
    if sep == Sep::Whitespace && width > 1 {
        notes.push("columns separated by whitespace".into());
    }
    let meta = RasterMeta { format: format.into(), notes, ..RasterMeta::default() };
    Ok(Raster::new(width, height, vec![values], meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Raster, IoError> {
        read(Path::new("g.csv"), text.as_bytes(), &LoadOptions::default())
    }

    #[test]
    fn detects_separators() {
        assert_eq!(Sep::detect("1\t2,5"), Sep::Char('\t'));
        assert_eq!(Sep::detect("1,5;2,5"), Sep::Char(';'));
        assert_eq!(Sep::detect("1,2"), Sep::Char(','));
        assert_eq!(Sep::detect(" 1  2 "), Sep::Whitespace);
        let r = load("1,5;2\n3;4,25\n").unwrap();
        assert_eq!(r.bands[0], vec![1.5, 2.0, 3.0, 4.25]);
    }

    #[test]
    fn header_comments_and_missing_values() {
        let r = load("\u{feff}a,b,c\r\n# note\r\n1,,NA\r\n\r\nnan,-2e1, 3 \r\n").unwrap();
        assert_eq!((r.width, r.height), (3, 2));
        let v = &r.bands[0];
        assert_eq!((v[0], v[4], v[5]), (1.0, -20.0, 3.0));
        assert!(v[1].is_nan() && v[2].is_nan() && v[3].is_nan());
        assert_eq!(r.meta.notes.len(), 1);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = load("1,2\n3,4\n5\n").unwrap_err().to_string();
        assert!(e.contains("line 3 has 1 values, but line 1 has 2"), "{e}");
        let e = load("x,y\n1,2\n3,oops\n").unwrap_err().to_string();
        assert!(e.contains("line 3, column 2: 'oops'"), "{e}");
        assert!(matches!(load("\n# only\n"), Err(IoError::Corrupt { .. })));
        assert!(matches!(load("a,b\n"), Err(IoError::Corrupt { .. })));
    }
}
