//! A minimal FITS writer: one primary HDU holding a 2-D float32 image (BITPIX = -32, big-endian
//! IEEE floats, NaN as the standard's undefined value), its header as fixed-format 80-character
//! cards, header and data each padded to whole 2880-byte blocks (FITS 4.0, sections 3-5). Rows are
//! given top row first, as a [`crate::types::Raster`] holds them, and written bottom row first, as
//! FITS counts rows upwards. RadioQA-sim writes its cutouts with it. Pure; any thread.

const BLOCK: usize = 2880;
const CARD: usize = 80;

/// A header value as [`image_f32`] writes it.
#[derive(Clone, Debug, PartialEq)]
pub enum CardValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

/// One `KEY = value / comment` card.
#[derive(Clone, Debug, PartialEq)]
pub struct Card {
    pub key: String,
    pub value: CardValue,
    pub comment: String,
}

impl Card {
    pub fn new(key: &str, value: CardValue, comment: &str) -> Card {
        Card { key: key.to_string(), value, comment: comment.to_string() }
    }
}

/// Why a header could not be written.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitsWriteError {
    #[error("FITS keyword {0:?} is not 1-8 characters of A-Z, 0-9, '-' and '_'")]
    Keyword(String),
    #[error("FITS keyword {0} is written by the writer itself")]
    Reserved(String),
    #[error("the value of FITS keyword {key} cannot be written: {why}")]
    Value { key: String, why: &'static str },
    #[error("a {width} x {height} image needs {need} samples, got {got}")]
    Size { width: usize, height: usize, need: usize, got: usize },
}

/// Keywords the writer sets from the image itself.
const STRUCTURAL: [&str; 7] = ["SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "END"];

/// The bytes of a FITS file holding the `width` x `height` image `rows` (top row first) with the
/// structural keywords and then `cards` in order.
///
/// # Errors
/// A keyword that is not a FITS keyword or is structural, a string that is not printable ASCII or too
/// long for one card, a non-finite float, or `rows` of the wrong length.
pub fn image_f32(width: usize, height: usize, rows: &[f32], cards: &[Card]) -> Result<Vec<u8>, FitsWriteError> {
    let need = width * height;
    if rows.len() != need || width == 0 || height == 0 {
        return Err(FitsWriteError::Size { width, height, need, got: rows.len() });
    }
    let data_len = (need * 4).next_multiple_of(BLOCK);
    let mut out = header_f32(width, height, cards)?;
    out.reserve(data_len);
    // FITS row 1 is the bottom of the image.
    for row in rows.chunks_exact(width).rev() {
        for v in row {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    out.resize(out.len().next_multiple_of(BLOCK), 0);
    Ok(out)
}

/// The header [`image_f32`] writes, padded to whole blocks: what precedes the `width` x `height`
/// samples (bottom row first, big-endian) and the zeros that pad them to a block, for a writer
/// that writes the rows itself.
///
/// # Errors
/// As [`image_f32`], but for the rows.
pub fn header_f32(width: usize, height: usize, cards: &[Card]) -> Result<Vec<u8>, FitsWriteError> {
    let mut header = Vec::with_capacity(BLOCK);
    let structural = [
        Card::new("SIMPLE", CardValue::Bool(true), "conforms to the FITS standard"),
        Card::new("BITPIX", CardValue::Int(-32), "IEEE 754 single precision"),
        Card::new("NAXIS", CardValue::Int(2), "a 2-D image"),
        Card::new("NAXIS1", CardValue::Int(i64::try_from(width).unwrap_or(i64::MAX)), "columns"),
        Card::new("NAXIS2", CardValue::Int(i64::try_from(height).unwrap_or(i64::MAX)), "rows"),
    ];
    for c in &structural {
        header.extend_from_slice(&card_bytes(c)?);
    }
    for c in cards {
        if STRUCTURAL.contains(&c.key.as_str()) {
            return Err(FitsWriteError::Reserved(c.key.clone()));
        }
        header.extend_from_slice(&card_bytes(c)?);
    }
    header.extend_from_slice(format!("{:<CARD$}", "END").as_bytes());
    header.resize(header.len().next_multiple_of(BLOCK), b' ');
    Ok(header)
}

/// One card: keyword in columns 1-8, `= ` in 9-10, the value fixed-format (strings from column 11,
/// numbers and logicals right-justified to column 30), then ` / comment` as far as it fits.
fn card_bytes(c: &Card) -> Result<[u8; CARD], FitsWriteError> {
    let key_ok = |k: &str| {
        (1..=8).contains(&k.len())
            && k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    if !key_ok(&c.key) {
        return Err(FitsWriteError::Keyword(c.key.clone()));
    }
    let bad = |why| FitsWriteError::Value { key: c.key.clone(), why };
    let value = match &c.value {
        CardValue::Str(s) => {
            if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                return Err(bad("not printable ASCII"));
            }
            // At least 8 characters between the quotes; a quote is written twice.
            let quoted = format!("'{:<8}'", s.replace('\'', "''"));
            if quoted.len() > CARD - 10 {
                return Err(bad("longer than one card holds"));
            }
            quoted
        }
        CardValue::Bool(b) => format!("{:>20}", if *b { "T" } else { "F" }),
        CardValue::Int(i) => format!("{i:>20}"),
        CardValue::Float(f) => {
            if !f.is_finite() {
                return Err(bad("not a finite number"));
            }
            format!("{:>20}", float_text(*f))
        }
    };
    let mut text = format!("{:<8}= {value}", c.key);
    let comment = c.comment.trim();
    if !comment.is_empty() && comment.bytes().all(|b| (0x20..0x7f).contains(&b)) && text.len() + 3 < CARD {
        text.push_str(" / ");
        text.push_str(comment);
    }
    let mut card = [b' '; CARD];
    for (dst, src) in card.iter_mut().zip(text.bytes()) {
        *dst = src;
    }
    Ok(card)
}

/// A float in exponent form with a decimal point, at most 20 characters, round-tripping where 20
/// characters allow (fewer digits otherwise).
fn float_text(f: f64) -> String {
    let with_point = |s: String| {
        let (mantissa, exp) = s.split_once('E').unwrap_or((&s, "0"));
        if mantissa.contains('.') { format!("{mantissa}E{exp}") } else { format!("{mantissa}.0E{exp}") }
    };
    let shortest = with_point(format!("{f:E}"));
    if shortest.len() <= 20 { shortest } else { with_point(format!("{f:.12E}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_fixed_format_and_blocks_whole() {
        let cards = [
            Card::new("BUNIT", CardValue::Str("JY/BEAM".into()), "brightness"),
            Card::new("OBJECT", CardValue::Str("it's".into()), ""),
            Card::new("CDELT1", CardValue::Float(-4.166_666_666_666_666_4e-4), ""),
            Card::new("BPA", CardValue::Float(30.0), "deg"),
        ];
        let bytes = image_f32(3, 2, &[1.0, 2.0, 3.0, 4.0, f32::NAN, 6.0], &cards).unwrap();
        assert_eq!(bytes.len() % BLOCK, 0);
        let header = String::from_utf8_lossy(&bytes[..BLOCK]).into_owned();
        let card = |i: usize| header[i * CARD..(i + 1) * CARD].to_string();
        assert_eq!(card(0), format!("{:<80}", "SIMPLE  =                    T / conforms to the FITS standard"));
        assert!(card(5).starts_with("BUNIT   = 'JY/BEAM ' / brightness   "));
        assert!(card(6).starts_with("OBJECT  = 'it''s   '"));
        let cdelt: f64 = card(7)[10..30].trim().parse().unwrap();
        assert!((cdelt + 4.166_666_666_666_666_4e-4).abs() < 1e-15 && card(7)[10..30].starts_with(' '));
        assert_eq!(card(8)[10..30].trim(), "3.0E1");
        assert!(card(9).starts_with("END     "));
        // The bottom row comes first.
        assert_eq!(&bytes[BLOCK..BLOCK + 4], &4.0f32.to_be_bytes());
        assert!(f32::from_be_bytes([bytes[BLOCK + 4], bytes[BLOCK + 5], bytes[BLOCK + 6], bytes[BLOCK + 7]]).is_nan());
        assert_eq!(&bytes[BLOCK + 12..BLOCK + 16], &1.0f32.to_be_bytes());
    }

    #[test]
    fn bad_headers_are_refused() {
        let one = |c: Card| image_f32(1, 1, &[0.0], &[c]);
        assert!(matches!(one(Card::new("lower", CardValue::Int(1), "")), Err(FitsWriteError::Keyword(_))));
        assert!(matches!(one(Card::new("NAXIS", CardValue::Int(3), "")), Err(FitsWriteError::Reserved(_))));
        assert!(matches!(one(Card::new("X", CardValue::Float(f64::NAN), "")), Err(FitsWriteError::Value { .. })));
        assert!(matches!(one(Card::new("X", CardValue::Str("é".into()), "")), Err(FitsWriteError::Value { .. })));
        assert!(matches!(image_f32(2, 2, &[0.0], &[]), Err(FitsWriteError::Size { .. })));
    }

    #[test]
    fn floats_round_trip_in_twenty_characters() {
        for f in [-4.166_666_666_666_666_4e-4, 1.0, 0.1, 123_456.789, -1.0e-300, 6.02e23] {
            let t = float_text(f);
            assert!(t.len() <= 20 && t.contains('.') && t.contains('E'), "{t}");
            let back: f64 = t.parse().unwrap();
            assert!((back - f).abs() <= f.abs() * 1e-12, "{f} -> {t}");
        }
    }
}
