//! FITS images -> [`Raster`].
//!
//! Owns the FITS header reader (2880-byte blocks of 80-character cards), the choice of the image
//! HDU (the primary when it holds data, else the first extension holding an image: an IMAGE with
//! data or a tile-compressed image, whose tiles `fits_tiles` decodes), the conversion of every
//! BITPIX to f32 with BSCALE/BZERO/BLANK, the bottom-up row order, 1-D arrays as one row, the
//! metadata radio astronomers expect (BUNIT, CDELT or CD pixel scale, restoring beam, CTYPE), and
//! the refusals that say what a file holds instead of an image (tables, random groups, nothing).
//! Pure functions of the bytes with no shared state: they run on worker threads.

use std::path::Path;

use super::fits_tiles::{self, Tiled};

pub(super) mod stream;
use super::{IoError, LoadOptions};
use crate::types::{Beam, CelestialWcs, PixelSize, PixelUnit, Projection, Raster, RasterMeta, SampleType};

const BLOCK: usize = 2880;
const CARD: usize = 80;

/// A keyword value as written in a card.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Str(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    Other,
}

/// One header: its keyword cards and where its data starts.
#[derive(Debug)]
pub(super) struct Hdu {
    pub(super) cards: Vec<(String, Value)>,
    pub(super) data_start: usize,
}

impl Hdu {
    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.cards.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(super) fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    fn float(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub(super) fn text(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// A mandatory non-negative integer keyword.
    pub(super) fn count(&self, path: &Path, key: &str) -> Result<u64, IoError> {
        let v = self.int(key).ok_or_else(|| IoError::corrupt(path, format!("FITS header lacks an integer {key}")))?;
        u64::try_from(v).map_err(|_| IoError::corrupt(path, format!("FITS header has {key} = {v}")))
    }

    /// NAXIS1..NAXISn.
    fn axes(&self, path: &Path) -> Result<Vec<u64>, IoError> {
        let naxis = self.count(path, "NAXIS")?;
        if naxis > 999 {
            return Err(IoError::corrupt(path, format!("FITS header has NAXIS = {naxis}")));
        }
        (1..=naxis).map(|i| self.count(path, &format!("NAXIS{i}"))).collect()
    }

    /// Random groups (GROUPS = T with NAXIS1 = 0, or no axes at all): interferometer
    /// visibilities, not an image.
    fn random_groups(&self, path: &Path) -> bool {
        self.get("GROUPS") == Some(&Value::Bool(true))
            && self.axes(path).is_ok_and(|a| a.first().is_none_or(|&n| n == 0))
    }

    /// Whether the HDU declares an array with no axis of length 0 (its size is checked later).
    fn has_image(&self, path: &Path) -> Result<bool, IoError> {
        let axes = self.axes(path)?;
        Ok(!axes.is_empty() && !axes.contains(&0))
    }

    /// Bytes of data that follow the header, without the padding.
    fn data_len(&self, path: &Path) -> Result<usize, IoError> {
        let bits = self.int("BITPIX").ok_or_else(|| IoError::corrupt(path, "FITS header lacks BITPIX"))?;
        let axes = self.axes(path)?;
        if axes.is_empty() {
            return Ok(0);
        }
        // Random groups leave NAXIS1 (= 0) out of the product.
        let dims = if self.random_groups(path) { &axes[1..] } else { &axes[..] };
        let pcount = u64::try_from(self.int("PCOUNT").unwrap_or(0)).unwrap_or(0);
        let gcount = u64::try_from(self.int("GCOUNT").unwrap_or(1)).unwrap_or(1);
        dims.iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .and_then(|n| n.checked_add(pcount))
            .and_then(|n| n.checked_mul(gcount))
            .and_then(|n| n.checked_mul(bits.unsigned_abs() / 8))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| IoError::corrupt(path, "FITS data size overflows"))
    }
}

/// Read the image of a FITS file held in memory: the primary HDU when it holds data, else the
/// first extension that holds an image (an IMAGE with data, or a tile-compressed image).
pub fn read(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<Raster, IoError> {
    if !bytes.starts_with(b"SIMPLE  =") {
        let misnamed = compressed_file(path, bytes);
        return Err(misnamed.unwrap_or_else(|| IoError::corrupt(path, "not a FITS file: the first card is not SIMPLE")));
    }
    let primary = parse_header(path, bytes, 0)?;
    if primary.get("SIMPLE") != Some(&Value::Bool(true)) {
        return Err(IoError::unsupported(path, "SIMPLE = F: the file does not follow the FITS standard"));
    }
    if !primary.random_groups(path) && primary.has_image(path)? {
        return image(path, bytes, &primary, opts, None);
    }
    let mut offset = next_hdu(path, &primary)?;
    let mut index = 0;
    // What the other HDUs hold, for the refusal.
    let mut kinds = Vec::new();
    while bytes.get(offset..).is_some_and(|rest| rest.starts_with(b"XTENSION")) {
        index += 1;
        let hdu = parse_header(path, bytes, offset)?;
        let kind = hdu.text("XTENSION").unwrap_or("").trim_end().to_string();
        if kind == "IMAGE" && hdu.has_image(path)? {
            return image(path, bytes, &hdu, opts, Some(index));
        }
        if kind == "BINTABLE" && hdu.get("ZIMAGE") == Some(&Value::Bool(true)) {
            return compressed_image(path, bytes, &hdu, opts, index);
        }
        kinds.push(if kind == "IMAGE" { "empty IMAGE".to_string() } else { kind });
        offset = next_hdu(path, &hdu)?;
    }
    Err(no_image(path, &primary, &kinds))
}

/// The refusal for a whole file compressed by compress(1) (`.Z`, LZW) or gzip (`.gz`), which
/// FITS archives often hand out: say what it is and how to open it.
pub(super) fn compressed_file(path: &Path, head: &[u8]) -> Option<IoError> {
    let what = if head.starts_with(&[0x1f, 0x9d]) {
        "a compress(1) .Z file (Unix LZW); uncompress it first (uncompress or gunzip), then open the FITS file inside"
    } else if head.starts_with(&[0x1f, 0x8b]) {
        "a gzip-compressed file; gunzip it first, then open the file inside"
    } else {
        return None;
    };
    Some(IoError::unsupported(path, what))
}

/// Why a file with no image is refused: what its HDUs hold instead.
fn no_image(path: &Path, primary: &Hdu, kinds: &[String]) -> IoError {
    let mut listed: Vec<(&str, usize)> = Vec::new();
    for k in kinds {
        match listed.iter_mut().find(|(name, _)| name == k) {
            Some((_, n)) => *n += 1,
            None => listed.push((k, 1)),
        }
    }
    let listing = listed
        .iter()
        .map(|&(k, n)| if n == 1 { k.to_string() } else { format!("{n} x {k}") })
        .collect::<Vec<_>>()
        .join(", ");
    let others = if kinds.is_empty() { String::new() } else { format!("; the other HDUs hold no image ({listing})") };
    let axes = primary.axes(path).unwrap_or_default();
    let why = if primary.random_groups(path) {
        if axes.is_empty() {
            format!(
                "the file is an empty random-groups file (GROUPS = T, the layout of an interferometer's uv data) \
                 and holds no image; heatscope reads images{others}"
            )
        } else {
            format!(
                "the file holds random-groups visibilities (an interferometer's uv data, not an image: GROUPS = T, \
                 NAXIS1 = 0); heatscope reads images{others}"
            )
        }
    } else if !axes.is_empty() {
        format!("the FITS image is empty (axes {axes:?}){others}")
    } else if kinds.is_empty() {
        "the file is empty: the primary HDU holds no data (NAXIS = 0) and no extension follows".to_string()
    } else if kinds.iter().all(|k| matches!(k.as_str(), "BINTABLE" | "TABLE" | "A3DTABLE")) {
        format!("the file holds only tables ({listing}) and no image; heatscope reads images")
    } else {
        format!("no image data: the primary HDU is empty and no extension holds an image ({listing})")
    };
    IoError::unsupported(path, why)
}

/// Offset of the header after `hdu`'s padded data.
fn next_hdu(path: &Path, hdu: &Hdu) -> Result<usize, IoError> {
    hdu.data_len(path)?
        .checked_next_multiple_of(BLOCK)
        .and_then(|n| n.checked_add(hdu.data_start))
        .ok_or_else(|| IoError::corrupt(path, "FITS data size overflows"))
}

/// Parse the header starting at block offset `start`, up to its END card.
fn parse_header(path: &Path, bytes: &[u8], start: usize) -> Result<Hdu, IoError> {
    let mut cards = Vec::new();
    let mut pos = start;
    loop {
        let Some(card) = bytes.get(pos..pos + CARD) else {
            return Err(IoError::corrupt(path, "the FITS header has no END card (truncated header?)"));
        };
        pos += CARD;
        let key = String::from_utf8_lossy(card.get(..8).unwrap_or_default()).trim().to_string();
        if key == "END" {
            break;
        }
        let commentary = matches!(key.as_str(), "" | "COMMENT" | "HISTORY");
        if !commentary && card.get(8..10) == Some(b"= ") {
            cards.push((key, parse_value(card.get(10..).unwrap_or_default())));
        }
    }
    let data_start = (pos - start).next_multiple_of(BLOCK) + start;
    Ok(Hdu { cards, data_start })
}

/// Parse a card's value field: a quoted string (`''` is a quote), T/F, an integer or a float
/// (`D` exponents allowed); anything after `/` is a comment.
fn parse_value(field: &[u8]) -> Value {
    let text = String::from_utf8_lossy(field);
    let text = text.trim_start();
    if let Some(rest) = text.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\'' {
                out.push(c);
            } else if chars.next_if_eq(&'\'').is_some() {
                out.push('\'');
            } else {
                break;
            }
        }
        return Value::Str(out.trim_end().to_string());
    }
    let v = text.split('/').next().unwrap_or_default().trim();
    match v {
        "T" => Value::Bool(true),
        "F" => Value::Bool(false),
        _ => match v.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => v.replace(['D', 'd'], "E").parse().map_or(Value::Other, Value::Float),
        },
    }
}

/// Stored sample type and its size in bytes for a BITPIX.
fn sample_type(path: &Path, bitpix: i64) -> Result<SampleType, IoError> {
    Ok(match bitpix {
        8 => SampleType::U8,
        16 => SampleType::I16,
        32 => SampleType::I32,
        64 => SampleType::I64,
        -32 => SampleType::F32,
        -64 => SampleType::F64,
        b => return Err(IoError::unsupported(path, format!("FITS BITPIX = {b}"))),
    })
}

/// An image's dimensions from its axes, checked against the load limits before anything is
/// allocated: NAXIS1 x NAXIS2, further axes as planes, a 1-D array as one row.
struct Shape {
    w: usize,
    h: usize,
    planes: usize,
    axes: Vec<u64>,
}

impl Shape {
    /// `held` gives the bytes the reader holds besides the raster for a count of samples.
    fn of(path: &Path, axes: Vec<u64>, opts: &LoadOptions, held: impl FnOnce(u64) -> u64) -> Result<Self, IoError> {
        let (w, h, extra) = match axes.as_slice() {
            [w] => (*w, 1, &[][..]),
            [w, h, extra @ ..] => (*w, *h, extra),
            [] => return Err(IoError::unsupported(path, "the FITS image is empty (NAXIS = 0)")),
        };
        let planes = extra.iter().try_fold(1u64, |n, &d| n.checked_mul(d)).unwrap_or(u64::MAX);
        opts.check(path, w, h, planes, held(w.saturating_mul(h).saturating_mul(planes)))?;
        if w == 0 || h == 0 || planes == 0 {
            return Err(IoError::unsupported(path, format!("the FITS image is empty (axes {axes:?})")));
        }
        let size = |n: u64| usize::try_from(n).map_err(|_| IoError::corrupt(path, "FITS axis does not fit in memory"));
        Ok(Self { w: size(w)?, h: size(h)?, planes: size(planes)?, axes })
    }

    fn samples(&self) -> usize {
        self.w * self.h * self.planes
    }
}

/// Convert one image HDU; `extension` is its index when it is not the primary.
fn image(
    path: &Path,
    bytes: &[u8],
    hdu: &Hdu,
    opts: &LoadOptions,
    extension: Option<usize>,
) -> Result<Raster, IoError> {
    let bitpix = hdu.int("BITPIX").ok_or_else(|| IoError::corrupt(path, "FITS header lacks BITPIX"))?;
    let stored = sample_type(path, bitpix)?;
    let shape = Shape::of(path, hdu.axes(path)?, opts, |_| bytes.len() as u64)?;
    let need = shape.samples().checked_mul(stored.bytes());
    let need = need.ok_or_else(|| IoError::corrupt(path, "FITS data size overflows"))?;
    let data = bytes.get(hdu.data_start..).unwrap_or_default();
    let Some(data) = data.get(..need) else {
        return Err(IoError::corrupt(
            path,
            format!(
                "the FITS data is truncated: axes {:?} at BITPIX {bitpix} need {need} bytes, {} present",
                shape.axes,
                data.len()
            ),
        ));
    };
    Ok(convert(hdu, data, &shape, extension, Vec::new()))
}

/// Decode a tile-compressed image (a BINTABLE with ZIMAGE = T, extension `index`) and convert it
/// as the uncompressed image its header describes.
fn compressed_image(
    path: &Path,
    bytes: &[u8],
    table: &Hdu,
    opts: &LoadOptions,
    index: usize,
) -> Result<Raster, IoError> {
    let header = fits_tiles::image_header(path, table)?;
    let tiled = Tiled::new(path, bytes, table)?;
    let bitpix = header.int("BITPIX").unwrap_or(0);
    let bpp = sample_type(path, bitpix)?.bytes() as u64;
    // The file, the decoded samples and one tile's working copies.
    let held = |samples: u64| {
        (bytes.len() as u64).saturating_add(samples.saturating_mul(bpp)).saturating_add(tiled.scratch_bytes())
    };
    let shape = Shape::of(path, header.axes(path)?, opts, held)?;
    let data = tiled.decode(path)?;
    Ok(convert(&header, &data, &shape, Some(index), tiled.notes()))
}

/// The raster of an image HDU whose raw samples (big-endian BITPIX, FITS order) are `data`.
fn convert(hdu: &Hdu, data: &[u8], shape: &Shape, extension: Option<usize>, notes: Vec<String>) -> Raster {
    let scaling = Scaling::of(hdu);
    let (bands, valid) = pixels(data, shape.w, shape.h, &scaling);
    let mut raster = Raster::new(shape.w, shape.h, bands, meta_of(hdu, shape, extension, notes));
    raster.valid = valid;
    raster
}

/// The metadata of an image HDU of `shape` (`extension`: its index when it is not the primary),
/// after the `notes` made while decoding.
fn meta_of(hdu: &Hdu, shape: &Shape, extension: Option<usize>, notes: Vec<String>) -> RasterMeta {
    let Scaling { bitpix, bscale, bzero, blank } = Scaling::of(hdu);
    let stored = sample_type(Path::new(""), bitpix).unwrap_or(SampleType::F32);
    let (w, h, planes, axes) = (shape.w, shape.h, shape.planes, &shape.axes);
    let mut meta = RasterMeta { format: "FITS".into(), ..RasterMeta::default() };
    meta.dtype = Some(unsigned_convention(bitpix, bscale, bzero).unwrap_or(stored));
    if meta.dtype == Some(stored) && (bscale != 1.0 || bzero != 0.0) {
        meta.notes.push(format!("values scaled: raw x BSCALE ({bscale}) + BZERO ({bzero})"));
    }
    // The declared nodata in physical units (the raw BLANK scaled like every sample).
    meta.nodata = blank.map(|b| b as f64 * bscale + bzero);
    meta.notes.push("rows flipped: FITS y axis points up".into());
    if let Some(i) = extension {
        let name = hdu.text("EXTNAME").map(|n| format!(" '{}'", n.trim_end())).unwrap_or_default();
        meta.notes.push(format!("image read from extension HDU {i}{name} (the primary HDU has no data)"));
    }
    meta.notes.extend(notes);
    if axes.len() == 1 {
        meta.notes.push(format!("a 1-D array of {w} samples, shown as an image 1 pixel high"));
    }
    if planes > 1 {
        meta.band_names = (1..=planes).map(|i| format!("plane {i}")).collect();
        meta.notes.push(format!("{planes} image planes (axes {axes:?}) shown as bands"));
    } else if axes.len() > 2 {
        meta.notes.push(format!("degenerate axes 3..{} (length 1) ignored", axes.len()));
    }
    meta.unit = hdu.text("BUNIT").map(normalise_unit);
    meta.pixel_size = pixel_size(hdu);
    if meta.pixel_size.is_none() && (hdu.get("CDELT1").is_some() || hdu.get("CD1_1").is_some()) {
        meta.notes.push("pixel size unknown: the image axes are not angular sky coordinates".into());
    }
    meta.beam = beam(hdu);
    let ctypes: Vec<&str> = ["CTYPE1", "CTYPE2"].iter().filter_map(|k| hdu.text(k)).map(str::trim_end).collect();
    meta.crs = (!ctypes.is_empty()).then(|| ctypes.join(" / "));
    meta.wcs = celestial_wcs(hdu, h);
    meta
}

/// How an HDU's raw samples become values: `raw x bscale + bzero`, BLANK (integers only) as no data.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scaling {
    pub bitpix: i64,
    bscale: f64,
    bzero: f64,
    pub blank: Option<i64>,
}

impl Scaling {
    pub(super) fn of(hdu: &Hdu) -> Self {
        let bitpix = hdu.int("BITPIX").unwrap_or(-32);
        let bscale = hdu.float("BSCALE").unwrap_or(1.0);
        let bzero = hdu.float("BZERO").unwrap_or(0.0);
        let blank = if bitpix > 0 { hdu.int("BLANK") } else { None };
        Self { bitpix, bscale, bzero, blank }
    }

    /// Whether samples are floats taken as they are (BITPIX -32, no scaling).
    pub(super) fn is_plain_f32(&self) -> bool {
        self.bitpix == -32 && self.bscale == 1.0 && self.bzero == 0.0
    }

    /// Bytes a sample.
    pub(super) fn bytes(&self) -> usize {
        (self.bitpix.unsigned_abs() as usize / 8).max(1)
    }

    /// One big-endian sample's value (NaN for BLANK) and whether it is BLANK.
    pub(super) fn value(&self, c: &[u8]) -> (f32, bool) {
        let (raw, is_blank) = match self.bitpix {
            8 => int_sample(i64::from(u8::from_be_bytes(arr(c))), self.blank),
            16 => int_sample(i64::from(i16::from_be_bytes(arr(c))), self.blank),
            32 => int_sample(i64::from(i32::from_be_bytes(arr(c))), self.blank),
            64 => int_sample(i64::from_be_bytes(arr(c)), self.blank),
            -32 => (f64::from(f32::from_be_bytes(arr(c))), false),
            _ => (f64::from_be_bytes(arr(c)), false),
        };
        (if is_blank { f32::NAN } else { (raw * self.bscale + self.bzero) as f32 }, is_blank)
    }
}

/// Convert big-endian samples (plane after plane, bottom row first) to f32 bands with the top row
/// first, applying `raw x bscale + bzero`. BLANK samples become NaN, and the mask (present when BLANK
/// is declared) is false where a pixel is BLANK in every plane.
fn pixels(data: &[u8], w: usize, h: usize, scaling: &Scaling) -> (Vec<Vec<f32>>, Option<Vec<bool>>) {
    let bpp = scaling.bytes();
    let mut valid = scaling.blank.map(|_| vec![false; w * h]);
    let mut bands = Vec::new();
    for plane in data.chunks_exact((w * h * bpp).max(1)) {
        let mut band = vec![f32::NAN; w * h];
        // FITS row 0 is the bottom of the image: it becomes the raster's last row.
        for (r, row) in plane.chunks_exact((w * bpp).max(1)).enumerate() {
            let dst = h.saturating_sub(r + 1) * w;
            for (x, c) in row.chunks_exact(bpp).enumerate() {
                let (v, is_blank) = scaling.value(c);
                if let Some(out) = band.get_mut(dst + x) {
                    *out = v;
                }
                if let Some(m) = valid.as_mut().and_then(|m| m.get_mut(dst + x)) {
                    *m |= !is_blank;
                }
            }
        }
        bands.push(band);
    }
    (bands, valid)
}

/// A big-endian sample's bytes (chunks come from `chunks_exact`, so the length always matches).
fn arr<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(src) = c.get(..N) {
        a.copy_from_slice(src);
    }
    a
}

fn int_sample(raw: i64, blank: Option<i64>) -> (f64, bool) {
    (raw as f64, blank == Some(raw))
}

/// The FITS convention for unsigned (or signed bytes) integers: BSCALE = 1 with a half-range BZERO.
fn unsigned_convention(bitpix: i64, bscale: f64, bzero: f64) -> Option<SampleType> {
    if bscale != 1.0 {
        return None;
    }
    match (bitpix, bzero) {
        (8, -128.0) => Some(SampleType::I8),
        (16, 32768.0) => Some(SampleType::U16),
        (32, 2_147_483_648.0) => Some(SampleType::U32),
        (64, 9_223_372_036_854_775_808.0) => Some(SampleType::U64),
        _ => None,
    }
}

/// Spell the common radio units as people write them ("JY/BEAM" -> "Jy/beam").
fn normalise_unit(unit: &str) -> String {
    let unit = unit.trim();
    match unit.to_ascii_lowercase().as_str() {
        "jy/beam" => "Jy/beam".into(),
        "jy/pixel" => "Jy/pixel".into(),
        "jy" => "Jy".into(),
        _ => unit.to_string(),
    }
}

/// Arc-seconds per unit of world axis `i`, when the axis is an angle on the sky.
fn arcsec_per_unit(hdu: &Hdu, i: u8) -> Option<f64> {
    if let Some(ctype) = hdu.text(&format!("CTYPE{i}")) {
        let head = ctype.split('-').next().unwrap_or_default().trim();
        let sky = matches!(head, "RA" | "DEC")
            || (head.len() == 4 && ["LON", "LAT", "LN", "LT"].iter().any(|s| head.ends_with(s)));
        if !sky {
            return None;
        }
    }
    match hdu.text(&format!("CUNIT{i}")).map_or("deg".into(), |u| u.trim().to_ascii_lowercase()).as_str() {
        "deg" => Some(3600.0),
        "arcmin" => Some(60.0),
        "arcsec" => Some(1.0),
        "mas" => Some(1e-3),
        "rad" => Some(180.0 / std::f64::consts::PI * 3600.0),
        _ => None,
    }
}

/// The pixel -> intermediate-world matrix [m11, m12, m21, m22] in header units per pixel: the CD
/// matrix, or else CDELTi times PCi_j (identity when absent), with the name of its source.
fn pixel_matrix(hdu: &Hdu) -> Option<([f64; 4], &'static str)> {
    let val = |k: &str, default: f64| hdu.float(k).unwrap_or(default);
    let has_cd = ["CD1_1", "CD1_2", "CD2_1", "CD2_2"].iter().any(|k| hdu.get(k).is_some());
    if has_cd {
        return Some(([val("CD1_1", 0.0), val("CD1_2", 0.0), val("CD2_1", 0.0), val("CD2_2", 0.0)], "FITS CD matrix"));
    }
    let (c1, c2) = (hdu.float("CDELT1")?, hdu.float("CDELT2")?);
    let pc = [val("PC1_1", 1.0), val("PC1_2", 0.0), val("PC2_1", 0.0), val("PC2_2", 1.0)];
    Some(([c1 * pc[0], c1 * pc[1], c2 * pc[2], c2 * pc[3]], "FITS CDELT1/CDELT2"))
}

/// Pixel size from the CD matrix, or else CDELTi (times PCi_j when present), in arcsec.
fn pixel_size(hdu: &Hdu) -> Option<PixelSize> {
    let (f1, f2) = (arcsec_per_unit(hdu, 1)?, arcsec_per_unit(hdu, 2)?);
    let (m, source) = pixel_matrix(hdu)?;
    // Column j of the matrix is the sky step of one pixel along image axis j.
    let x = (m[0] * f1).hypot(m[2] * f2);
    let y = (m[1] * f1).hypot(m[3] * f2);
    let ok = |v: f64| v.is_finite() && v > 0.0;
    (ok(x) && ok(y)).then(|| PixelSize { x, y, unit: PixelUnit::Arcsec, source: source.into(), approximate: false })
}

/// Sky coordinates when both axes are RA/Dec in a projection heatscope converts (TAN, SIN, NCP)
/// with the CD matrix or CDELT (times PC). Anything else (rotations by CROTA, other projections)
/// gets no coordinates rather than wrong ones.
fn celestial_wcs(hdu: &Hdu, height: usize) -> Option<CelestialWcs> {
    let (c1, c2) = (hdu.text("CTYPE1")?.trim_end(), hdu.text("CTYPE2")?.trim_end());
    let projection = match (c1.get(..5)?, c2.get(..5)?, c1.get(5..)?, c2.get(5..)?) {
        ("RA---", "DEC--", p, q) if p == q => match p {
            "TAN" => Projection::Tan,
            "SIN" => Projection::Sin,
            "NCP" => Projection::Ncp,
            _ => return None,
        },
        _ => return None,
    };
    if hdu.float("CROTA2").is_some_and(|r| r != 0.0) {
        return None;
    }
    let (cd, _) = pixel_matrix(hdu)?;
    let wcs = CelestialWcs {
        crpix: [hdu.float("CRPIX1")?, hdu.float("CRPIX2")?],
        crval: [hdu.float("CRVAL1")?, hdu.float("CRVAL2")?],
        cd,
        projection,
        height,
    };
    let finite = wcs.crpix.iter().chain(&wcs.crval).chain(&wcs.cd).all(|v| v.is_finite());
    finite.then_some(wcs)
}

/// Restoring beam from BMAJ/BMIN (degrees) and BPA.
fn beam(hdu: &Hdu) -> Option<Beam> {
    let (major, minor) = (hdu.float("BMAJ")?, hdu.float("BMIN")?);
    let ok = |v: f64| v.is_finite() && v > 0.0;
    (ok(major) && ok(minor)).then(|| Beam {
        major_arcsec: major * 3600.0,
        minor_arcsec: minor * 3600.0,
        pa_deg: hdu.float("BPA").filter(|v| v.is_finite()).unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Value {
        parse_value(s.as_bytes())
    }

    #[test]
    fn parses_card_values() {
        assert_eq!(value("'JY/BEAM '  / unit"), Value::Str("JY/BEAM".into()));
        assert_eq!(value("'O''HARA'"), Value::Str("O'HARA".into()));
        assert_eq!(value("'it''s / here' / comment"), Value::Str("it's / here".into()));
        assert_eq!(value("                   T / flag"), Value::Bool(true));
        assert_eq!(value("F"), Value::Bool(false));
        assert_eq!(value("                 -32 /"), Value::Int(-32));
        assert_eq!(value("   -4.16666682546E-04  /"), Value::Float(-4.16666682546e-4));
        assert_eq!(value("1.5D+02"), Value::Float(150.0));
        assert_eq!(value("(1.0, 2.0)"), Value::Other);
        assert_eq!(value(""), Value::Other);
    }

    #[test]
    fn units_and_axes() {
        assert_eq!(normalise_unit("JY/BEAM "), "Jy/beam");
        assert_eq!(normalise_unit("K"), "K");
        let hdu = |cards: Vec<(&str, Value)>| Hdu {
            cards: cards.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            data_start: 0,
        };
        let h = hdu(vec![("CTYPE1", Value::Str("FREQ".into()))]);
        assert_eq!(arcsec_per_unit(&h, 1), None);
        let h = hdu(vec![("CTYPE1", Value::Str("GLON-CAR".into())), ("CUNIT1", Value::Str("arcmin".into()))]);
        assert_eq!(arcsec_per_unit(&h, 1), Some(60.0));
        assert_eq!(arcsec_per_unit(&h, 2), Some(3600.0));
        assert_eq!(unsigned_convention(16, 1.0, 32768.0), Some(SampleType::U16));
        assert_eq!(unsigned_convention(16, 2.0, 32768.0), None);
    }

    #[test]
    fn missing_end_or_simple_is_corrupt() {
        let mut bytes = format!("{:<80}", "SIMPLE  =                    T").into_bytes();
        bytes.resize(BLOCK, b' ');
        let err = read(Path::new("x.fits"), &bytes, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, IoError::Corrupt { .. }), "{err}");
        let mut bytes = format!("{:<80}{:<80}", "BITPIX  =                  -32", "END").into_bytes();
        bytes.resize(BLOCK, b' ');
        let err = read(Path::new("x.fits"), &bytes, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, IoError::Corrupt { .. }) && err.to_string().contains("SIMPLE"), "{err}");
    }
}
