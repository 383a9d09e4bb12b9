//! Tile compression's edge cases and bad input on hand-built files: the fallback columns, keyword
//! ZSCALE / ZZERO, 'Q' descriptors, blanks, and every way a table, heap or stream can lie.

use std::io::Write;
use std::path::Path;

use super::quantize::{RANDOM, ZERO_VALUE, random_table};
use super::*;
use crate::io::{LoadOptions, load_bytes};
use crate::types::Raster;

/// One 80-character card; `value` goes in as written (strings with their quotes).
fn card(key: &str, value: &str) -> Vec<u8> {
    let mut c = if key == "END" { key.to_string() } else { format!("{key:<8}= {value:>20}") }.into_bytes();
    c.resize(80, b' ');
    c
}

fn header(cards: &[(String, String)]) -> Vec<u8> {
    let mut h: Vec<u8> = cards.iter().flat_map(|(k, v)| card(k, v)).collect();
    h.extend(card("END", ""));
    h.resize(h.len().div_ceil(2880) * 2880, b' ');
    h
}

/// A compressed image HDU under construction: columns, rows, heap and keywords.
struct Table {
    cards: Vec<(String, String)>,
    columns: Vec<(&'static str, &'static str)>,
    rows: Vec<Vec<u8>>,
    heap: Vec<u8>,
}

impl Table {
    /// A 4 x 3 int16 image, one tile a row, with no tiles yet.
    fn new(cmp: &str) -> Self {
        let cards = [("ZIMAGE", "T"), ("ZBITPIX", "16"), ("ZNAXIS", "2"), ("ZNAXIS1", "4"), ("ZNAXIS2", "3")];
        let mut cards: Vec<(String, String)> = cards.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        cards.push(("ZCMPTYPE".into(), format!("'{cmp}'")));
        Table { cards, columns: vec![("COMPRESSED_DATA", "1PB")], rows: Vec::new(), heap: Vec::new() }
    }

    fn set(mut self, key: &str, value: &str) -> Self {
        self.cards.retain(|(k, _)| k != key);
        self.cards.push((key.into(), value.into()));
        self
    }

    /// Append `bytes` to the heap; its 'P' descriptor (count in elements of `elem` bytes).
    fn put(&mut self, bytes: &[u8], elem: usize) -> Vec<u8> {
        let offset = self.heap.len() as i32;
        self.heap.extend_from_slice(bytes);
        [((bytes.len() / elem) as i32).to_be_bytes(), offset.to_be_bytes()].concat()
    }

    fn file(&self) -> Vec<u8> {
        let row_len = self.rows.first().map_or(8, Vec::len);
        let mut cards: Vec<(String, String)> = vec![
            ("XTENSION".into(), "'BINTABLE'".into()),
            ("BITPIX".into(), "8".into()),
            ("NAXIS".into(), "2".into()),
            ("NAXIS1".into(), row_len.to_string()),
            ("NAXIS2".into(), self.rows.len().to_string()),
            ("PCOUNT".into(), self.heap.len().to_string()),
            ("GCOUNT".into(), "1".into()),
            ("TFIELDS".into(), self.columns.len().to_string()),
        ];
        for (i, (name, form)) in self.columns.iter().enumerate() {
            cards.push((format!("TTYPE{}", i + 1), format!("'{name}'")));
            cards.push((format!("TFORM{}", i + 1), format!("'{form}'")));
        }
        cards.extend(self.cards.iter().cloned());
        let primary = [("SIMPLE", "T"), ("BITPIX", "8"), ("NAXIS", "0")].map(|(k, v)| (k.to_string(), v.to_string()));
        let mut out = header(&primary);
        out.extend(header(&cards));
        let mut data: Vec<u8> = self.rows.concat();
        data.extend_from_slice(&self.heap);
        data.resize(data.len().div_ceil(2880) * 2880, 0);
        out.extend(data);
        out
    }
}

/// The test image's raw values, FITS order (bottom row first).
fn values() -> Vec<i16> {
    (0..12).map(|i| (i / 4) * 10 + i % 4 - 5).collect()
}

/// A NOCOMPRESS table of the test image: each tile its row's big-endian bytes.
fn nocompress() -> Table {
    let mut t = Table::new("NOCOMPRESS");
    for row in values().chunks(4) {
        let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_be_bytes()).collect();
        let d = t.put(&bytes, 1);
        t.rows.push(d);
    }
    t
}

fn load(bytes: &[u8]) -> Result<Raster, IoError> {
    load_bytes(Path::new("t.fits"), bytes, &LoadOptions::default())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Rows in the other order: FITS order (bottom row first) <-> the raster's (top row first).
fn flip_rows(v: &[f32]) -> Vec<f32> {
    v.chunks(4).rev().flatten().copied().collect()
}

#[test]
fn the_random_table_is_the_standards() {
    assert_eq!(random_table().1, 1_043_618_065.0, "the 10000th seed the standard gives");
    assert_eq!(RANDOM[0], (16807.0 / 2_147_483_647.0) as f32);
    assert!(RANDOM.iter().all(|&r| (0.0..1.0).contains(&r)));
}

#[test]
fn tforms_parse_with_and_without_repeat_and_maximum() {
    let f = |s| Form::parse(s).unwrap();
    assert_eq!(f("1PB(6)"), Form { repeat: 1, code: b'P', array: Some((false, b'B')) });
    assert_eq!(f("PI"), Form { repeat: 1, code: b'P', array: Some((false, b'I')) });
    assert_eq!(f("1QB(12)").array, Some((true, b'B')));
    assert_eq!(
        (f("1D").width(), f("8A").width(), f("12X").width(), f("1QB").width()),
        (Some(8), Some(8), Some(2), Some(16))
    );
    assert!(Form::parse("").is_none() && Form::parse("1P").is_none() && f("2Z").width().is_none());
}

#[test]
fn a_hand_built_table_reads_back() {
    let r = load(&nocompress().file()).unwrap();
    let want: Vec<f32> = values().iter().map(|&v| f32::from(v)).collect();
    assert_eq!((r.width, r.height), (4, 3));
    assert_eq!(r.bands[0], flip_rows(&want));
    // The same bytes through 'Q' descriptors.
    let mut q = nocompress();
    q.columns = vec![("COMPRESSED_DATA", "1QB")];
    for (i, row) in q.rows.iter_mut().enumerate() {
        *row = [8i64.to_be_bytes(), (8 * i as i64).to_be_bytes()].concat();
    }
    assert_eq!(load(&q.file()).unwrap().bands[0], r.bands[0]);
}

#[test]
fn fallback_columns_keyword_scaling_and_blanks() {
    // Floats quantized with ZSCALE / ZZERO keywords (no columns), the middle tile stored in
    // UNCOMPRESSED_DATA instead, and a ZBLANK keyword.
    let mut t = Table::new("GZIP_1")
        .set("ZBITPIX", "-32")
        .set("ZSCALE", "0.5")
        .set("ZZERO", "10.0")
        .set("ZQUANTIZ", "'NO_DITHER'")
        .set("ZBLANK", "-7");
    t.columns.push(("UNCOMPRESSED_DATA", "1PE"));
    let q: Vec<i32> = vec![0, 1, 2, -7, 0, 0, 0, 0, 4, 5, 6, 7];
    for (i, tile) in q.chunks(4).enumerate() {
        let mut row = if i == 1 {
            vec![0; 8]
        } else {
            t.put(&gzip(&tile.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<_>>()), 1)
        };
        let raw: Vec<u8> =
            if i == 1 { [1.5f32, 2.5, -0.0, 1e30].iter().flat_map(|v| v.to_be_bytes()).collect() } else { vec![] };
        row.extend(if i == 1 { t.put(&raw, 4) } else { vec![0; 8] });
        t.rows.push(row);
    }
    let r = load(&t.file()).unwrap();
    let got = flip_rows(&r.bands[0]);
    assert_eq!(&got[..3], &[10.0, 10.5, 11.0]);
    assert!(got[3].is_nan(), "ZBLANK -> NaN");
    assert_eq!(&got[4..], &[1.5, 2.5, -0.0, 1e30, 12.0, 12.5, 13.0, 13.5]);
    assert!(r.meta.notes.iter().any(|n| n.contains("NO_DITHER")));
}

#[test]
fn dither_2_keeps_zero_exact_and_integer_blanks_become_nan() {
    let how = Quantized {
        scale: PerTile::Keyword(0.25),
        zero: PerTile::Keyword(3.0),
        dither: Dither::Subtractive2,
        seed: 10_000,
    };
    let out = unquantize(&[ZERO_VALUE, 4, -3, 99], 1, &how, 0.25, 3.0, Some(99.0));
    assert_eq!(out[0], 0.0);
    // Tile 2 with ZDITHER0 = 10000 wraps to the start of the table; the second pixel takes the
    // offset after the tile's first.
    let r = f64::from(RANDOM[(RANDOM[0] * 500.0) as usize + 1]);
    assert_eq!(out[1], (4.0 - r + 0.5) * 0.25 + 3.0);
    assert!(out[3].is_nan());

    let t = nocompress().set("ZBLANK", "15").set("BSCALE", "2.0");
    let r = load(&t.file()).unwrap();
    let got = flip_rows(&r.bands[0]);
    assert!(got[8].is_nan() && got[0] == -10.0, "{got:?}");
    assert_eq!(r.valid.as_ref().map(|v| v.iter().filter(|x| !**x).count()), Some(1));
}

#[test]
fn a_zblank_column_marks_blanks_tile_by_tile() {
    // Each tile names its own blank value; with no BLANK keyword the image's BLANK is the most
    // negative int16, which the blank pixels become (and so NaN, masked).
    let mut t = nocompress();
    t.columns.push(("ZBLANK", "1J"));
    for (row, blank) in t.rows.iter_mut().zip([-5i32, 99, 18]) {
        row.extend(blank.to_be_bytes());
    }
    let r = load(&t.file()).unwrap();
    let got = flip_rows(&r.bands[0]);
    let nan: Vec<usize> = (0..12).filter(|&i| got[i].is_nan()).collect();
    assert_eq!(nan, [0, 11], "{got:?}");
    assert_eq!(r.meta.nodata, Some(-32768.0));
}

#[test]
fn a_lying_size_is_refused_before_anything_is_allocated() {
    let t = nocompress().set("ZNAXIS1", "4000000000").set("ZNAXIS2", "4000000000");
    assert!(matches!(load(&t.file()), Err(IoError::TooLarge { .. })));
    let t = nocompress().set("ZNAXIS", "3").set("ZNAXIS3", "900000000000");
    assert!(matches!(load(&t.file()), Err(IoError::TooLarge { .. })));
    // Under the sample limit but over the memory budget (the decoded copy counts).
    let small = LoadOptions { max_bytes: 64 << 10, ..LoadOptions::default() };
    let t = nocompress().set("ZNAXIS1", "100").set("ZNAXIS2", "100").set("ZTILE1", "100");
    assert!(matches!(load_bytes(Path::new("t.fits"), &t.file(), &small), Err(IoError::OverBudget { .. })));
}

/// The error for `bytes`, which must be a refusal of `kind` mentioning `words`.
fn refused(bytes: &[u8], corrupt: bool, words: &[&str]) {
    let e = load(bytes).unwrap_err();
    let text = e.to_string();
    let kind = if corrupt { matches!(e, IoError::Corrupt { .. }) } else { matches!(e, IoError::Unsupported { .. }) };
    assert!(kind && words.iter().all(|w| text.contains(w)) && e.path() == Path::new("t.fits"), "{text}");
}

#[test]
fn lying_tables_and_heaps_are_corrupt() {
    let good = nocompress().file();
    // Cut in the heap.
    refused(&good[..5760 + 30], true, &["truncated", "48 bytes"]);
    // A descriptor past the heap's end.
    let mut t = nocompress();
    t.rows[2] = [8i32.to_be_bytes(), 100i32.to_be_bytes()].concat();
    refused(&t.file(), true, &["tile 3 of 3", "outside the 24-byte heap"]);
    // Negative counts, too few rows for the tiles, THEAP beyond the data, ZTILE 0.
    let mut t = nocompress();
    t.rows[0] = [(-8i32).to_be_bytes(), 0i32.to_be_bytes()].concat();
    refused(&t.file(), true, &["negative"]);
    let mut t = nocompress();
    t.rows.pop();
    refused(&t.file(), true, &["2 rows", "3 tiles"]);
    refused(&nocompress().set("THEAP", "9999").file(), true, &["THEAP = 9999"]);
    refused(&nocompress().set("ZTILE2", "0").file(), true, &["ZTILE2 = 0"]);
    // A tile of the wrong size, and a table without its data column.
    let mut t = nocompress();
    t.rows[1] = [6i32.to_be_bytes(), 8i32.to_be_bytes()].concat();
    refused(&t.file(), true, &["tile 2 of 3", "6 bytes for 4 pixels"]);
    let mut t = nocompress();
    t.columns = vec![("OTHER", "1PB")];
    refused(&t.file(), true, &["no COMPRESSED_DATA"]);
    let mut t = nocompress();
    t.rows[0] = vec![0; 8];
    refused(&t.file(), true, &["COMPRESSED_DATA is empty"]);
}

#[test]
fn unknown_or_unsupported_settings_say_which() {
    refused(&nocompress().set("ZCMPTYPE", "'JPEG_1'").file(), false, &["ZCMPTYPE = 'JPEG_1'", "RICE_1"]);
    let rice =
        |bytepix: &str| nocompress().set("ZCMPTYPE", "'RICE_1'").set("ZNAME1", "'BYTEPIX'").set("ZVAL1", bytepix);
    refused(&rice("3").file(), false, &["BYTEPIX = 3"]);
    refused(&rice("8").file(), false, &["BYTEPIX = 8"]);
    let t = nocompress().set("ZBITPIX", "-32").set("ZSCALE", "1.0").set("ZQUANTIZ", "'SUBTRACTIVE_DITHER_9'");
    refused(&t.file(), false, &["SUBTRACTIVE_DITHER_9"]);
    refused(&nocompress().set("ZBITPIX", "24").file(), false, &["ZBITPIX = 24"]);
}

#[test]
fn corrupt_streams_name_the_tile_and_the_codec() {
    // Rice: the first tile's stream cut to 3 bytes, then with a byte too many.
    let mut t = nocompress().set("ZCMPTYPE", "'RICE_1'").set("ZNAME1", "'BYTEPIX'").set("ZVAL1", "2");
    t.heap = vec![0, 5, 0x80, 0, 0];
    for row in &mut t.rows {
        *row = [3i32.to_be_bytes(), 0i32.to_be_bytes()].concat();
    }
    refused(&t.file(), true, &["tile 1 of 3 (RICE_1)", "ends early"]);
    // fs code 0 (all differences zero) for 4 pixels, then one stray byte.
    t.heap = vec![0, 5, 0x00, 0xAA];
    for row in &mut t.rows {
        *row = [4i32.to_be_bytes(), 0i32.to_be_bytes()].concat();
    }
    refused(&t.file(), true, &["RICE_1", "1 byte(s) left"]);
    // GZIP: garbage, and a bomb stopped at the tile's size.
    let mut t = nocompress().set("ZCMPTYPE", "'GZIP_1'");
    let d = t.put(&[0x1f, 0x8b, 8, 0, 1, 2, 3], 1);
    t.rows[0] = d;
    refused(&t.file(), true, &["GZIP_1", "corrupt or cut"]);
    let mut t = nocompress().set("ZCMPTYPE", "'GZIP_2'");
    let d = t.put(&gzip(&vec![0u8; 8 << 20]), 1);
    t.rows[0] = d;
    refused(&t.file(), true, &["GZIP_2", "inflates past 32 bytes"]);
    // HCOMPRESS and PLIO streams that lie about their size.
    let mut t = nocompress().set("ZCMPTYPE", "'HCOMPRESS_1'");
    let mut hc = vec![0xDD, 0x99];
    hc.extend(2i32.to_be_bytes());
    hc.extend(3i32.to_be_bytes());
    t.heap = hc;
    t.rows[0] = [10i32.to_be_bytes(), 0i32.to_be_bytes()].concat();
    refused(&t.file(), true, &["HCOMPRESS_1", "header"]);
    let mut t = nocompress().set("ZCMPTYPE", "'PLIO_1'");
    t.columns = vec![("COMPRESSED_DATA", "1PI")];
    let words: Vec<u8> = [0i16, 7, -100, 500, 0, 0, 0].iter().flat_map(|w| w.to_be_bytes()).collect();
    let d = t.put(&words, 2);
    t.rows[0] = d;
    refused(&t.file(), true, &["PLIO_1", "500 words"]);
}

#[test]
fn gunzip_stops_at_the_limit_and_widths_follow_the_byte_count() {
    let bomb = gzip(&vec![7u8; 1 << 20]);
    assert!(gunzip(&bomb, 10).unwrap_err().contains("inflates past 80 bytes"));
    assert_eq!(gunzip(&gzip(&[1, 2, 3]), 1).unwrap(), [1, 2, 3]);
    assert!(gunzip(&[1, 2, 3], 4).unwrap_err().contains("not a gzip stream"));
    assert_eq!(from_bytes(&[1, 2], 2, false).unwrap(), Samples::Int(vec![1, 2]));
    assert_eq!(from_bytes(&[0xFF, 0xFE], 1, false).unwrap(), Samples::Int(vec![-2]));
    assert_eq!(from_bytes(&1.5f32.to_be_bytes(), 1, true).unwrap(), Samples::Float(vec![1.5]));
    assert_eq!(from_bytes(&7i32.to_be_bytes(), 1, false).unwrap(), Samples::Int(vec![7]));
    assert!(from_bytes(&[1, 2, 3], 1, false).is_err());
}
