//! JPEG 2000: JP2 files and raw codestreams (`.j2k`), decoded by OpenJPEG (the standard's reference
//! implementation, through the `jpeg2k` crate) at each component's full bit depth. The size comes
//! from the header (the JP2 `ihdr` box or the codestream's SIZ marker) and is checked against the
//! limits before anything is decoded. Georeferencing, where present: GeoJP2 (a `uuid` box holding a
//! degenerate GeoTIFF, read by the GeoTIFF code) first, else GMLJP2 (the `RectifiedGrid` of the GML
//! in an `asoc`/`xml ` box: origin at the first pixel's centre, two offset vectors, an EPSG code).

use std::path::Path;

use super::{IoError, LoadOptions};
use crate::types::{GeoTransform, PixelSize, PixelUnit, Raster, RasterMeta, SampleType};

/// The GeoJP2 box's UUID.
const GEOJP2_UUID: [u8; 16] =
    [0xb1, 0x4b, 0xf8, 0xbd, 0x08, 0x3d, 0x4b, 0x43, 0xa5, 0xae, 0x8c, 0xd7, 0xd5, 0xa6, 0xce, 0x03];

/// Whether `head` starts a JP2 file or a raw JPEG 2000 codestream.
pub(super) fn is_jp2(head: &[u8]) -> bool {
    head.starts_with(b"\0\0\0\x0cjP  \r\n\x87\n") || head.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
}

/// One box: its type and its contents.
struct Jp2Box<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

/// The boxes in `data` (one level); a box running past the end is an error.
fn boxes<'a>(path: &Path, mut data: &'a [u8]) -> Result<Vec<Jp2Box<'a>>, IoError> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let len32 = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let kind = [data[4], data[5], data[6], data[7]];
        let (len, header) = match len32 {
            0 => (data.len(), 8),
            1 => {
                let l = data.get(8..16).ok_or_else(|| IoError::corrupt(path, "JP2 box header cut short"))?;
                let l = u64::from_be_bytes(l.try_into().map_err(|_| IoError::corrupt(path, "JP2 box length"))?);
                (usize::try_from(l).unwrap_or(usize::MAX), 16)
            }
            n => (n as usize, 8),
        };
        if len < header || len > data.len() {
            return Err(IoError::corrupt(
                path,
                format!("JP2 box '{}' runs past the end of the file", String::from_utf8_lossy(&kind)),
            ));
        }
        out.push(Jp2Box { kind, body: &data[header..len] });
        data = &data[len..];
    }
    Ok(out)
}

/// What the header declares: width, height, components, bits per component and the number of tiles.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Size {
    w: u64,
    h: u64,
    nc: u64,
    bits: u32,
    tiles: u64,
}

/// OpenJPEG's bookkeeping per tile and component (measured: about 12 KiB on 2 x 8 px tiles).
const TILE_OVERHEAD: u64 = 16 << 10;

/// The size from the header, without decoding.
fn header_size(path: &Path, bytes: &[u8], top: &[Jp2Box<'_>]) -> Result<Size, IoError> {
    if bytes.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return siz(path, bytes);
    }
    let jp2h =
        top.iter().find(|b| &b.kind == b"jp2h").ok_or_else(|| IoError::corrupt(path, "JP2 without a header box"))?;
    let inner = boxes(path, jp2h.body)?;
    let ihdr = inner.iter().find(|b| &b.kind == b"ihdr").ok_or_else(|| IoError::corrupt(path, "JP2 without ihdr"))?;
    let b = ihdr.body;
    if b.len() < 14 {
        return Err(IoError::corrupt(path, "JP2 ihdr box cut short"));
    }
    let h = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let w = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    let nc = u16::from_be_bytes([b[8], b[9]]);
    // The codestream's own size is what the decoder allocates for: it must say the same.
    let jp2c =
        top.iter().find(|b| &b.kind == b"jp2c").ok_or_else(|| IoError::corrupt(path, "JP2 without a codestream"))?;
    if !jp2c.body.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return Err(IoError::corrupt(path, "the JP2 codestream does not start with SOC and SIZ"));
    }
    let s = siz(path, jp2c.body)?;
    if (s.w, s.h, s.nc) != (u64::from(w), u64::from(h), u64::from(nc)) {
        return Err(IoError::corrupt(
            path,
            format!("the JP2 header says {w} x {h} x {nc} but its codestream says {} x {} x {}", s.w, s.h, s.nc),
        ));
    }
    Ok(s)
}

/// The SIZ marker of a raw codestream.
fn siz(path: &Path, b: &[u8]) -> Result<Size, IoError> {
    let word = |i: usize| b.get(i..i + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
    let short = || IoError::corrupt(path, "JPEG 2000 SIZ marker cut short");
    let [xsiz, ysiz, xo, yo, tw, th] = [8, 12, 16, 20, 24, 28].map(word);
    let (xsiz, ysiz, xo, yo) =
        (xsiz.ok_or_else(short)?, ysiz.ok_or_else(short)?, xo.ok_or_else(short)?, yo.ok_or_else(short)?);
    let (tw, th) = (tw.ok_or_else(short)?, th.ok_or_else(short)?);
    let csiz = b.get(40..42).map(|s| u16::from_be_bytes([s[0], s[1]])).ok_or_else(short)?;
    let ssiz = *b.get(42).ok_or_else(short)?;
    if xo > xsiz || yo > ysiz || tw == 0 || th == 0 {
        return Err(IoError::corrupt(path, "JPEG 2000 SIZ: image offset past its size, or empty tiles"));
    }
    let (w, h) = (u64::from(xsiz - xo), u64::from(ysiz - yo));
    let tiles = w.div_ceil(u64::from(tw)).max(1).saturating_mul(h.div_ceil(u64::from(th)).max(1));
    Ok(Size { w, h, nc: u64::from(csiz), bits: u32::from(ssiz & 0x7f) + 1, tiles })
}

pub(super) fn read(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<Raster, IoError> {
    let top = if bytes.starts_with(&[0xFF, 0x4F]) { Vec::new() } else { boxes(path, bytes)? };
    let Size { w, h, nc, bits, tiles } = header_size(path, bytes, &top)?;
    if w == 0 || h == 0 || nc == 0 {
        return Err(IoError::corrupt(path, format!("JPEG 2000 declares a {w} x {h} image with {nc} components")));
    }
    // OpenJPEG holds one i32 per sample while decoding, beside the file, plus its bookkeeping per tile.
    let decoder = w.saturating_mul(h).saturating_mul(nc).saturating_mul(4);
    let held = (bytes.len() as u64)
        .saturating_add(decoder)
        .saturating_add(tiles.saturating_mul(nc).saturating_mul(TILE_OVERHEAD));
    opts.check(path, w, h, nc, held)?;
    let image = jpeg2k::Image::from_bytes(bytes)
        .map_err(|e| IoError::corrupt(path, format!("JPEG 2000 could not be decoded: {e}")))?;
    let (iw, ih) = (image.width() as usize, image.height() as usize);
    if u64::try_from(iw).ok() != Some(w) || u64::try_from(ih).ok() != Some(h) {
        return Err(IoError::corrupt(
            path,
            format!("JPEG 2000 header says {w} x {h} but the codestream decodes to {iw} x {ih}"),
        ));
    }
    let comps = image.components();
    let mut bands = Vec::with_capacity(comps.len());
    let mut notes = Vec::new();
    for (k, c) in comps.iter().enumerate() {
        let (cw, ch) = (c.width() as usize, c.height() as usize);
        let data = c.data();
        if cw == 0 || ch == 0 || data.len() < cw * ch {
            return Err(IoError::corrupt(path, format!("JPEG 2000 component {} decoded to no data", k + 1)));
        }
        if (cw, ch) == (iw, ih) {
            bands.push(data[..iw * ih].iter().map(|&v| v as f32).collect());
        } else {
            // A subsampled component (YCbCr 4:2:0 and the like): nearest sample on the full grid.
            notes.push(format!("component {} is subsampled ({cw} x {ch}); shown at full size", k + 1));
            let band: Vec<f32> = (0..iw * ih)
                .map(|i| {
                    let (x, y) = (i % iw * cw / iw, i / iw * ch / ih);
                    data[y.min(ch - 1) * cw + x.min(cw - 1)] as f32
                })
                .collect();
            bands.push(band);
        }
    }
    let precision = comps.iter().map(|c| c.precision()).max().unwrap_or(bits);
    let signed = comps.iter().any(|c| c.is_signed());
    let dtype = match (precision, signed) {
        (0..=8, false) => SampleType::U8,
        (0..=8, true) => SampleType::I8,
        (9..=16, false) => SampleType::U16,
        (9..=16, true) => SampleType::I16,
        (_, false) => SampleType::U32,
        (_, true) => SampleType::I32,
    };
    if precision % 8 != 0 {
        notes.push(format!("{precision}-bit samples"));
    }
    let band_names = match (comps.len(), image.color_space()) {
        (3 | 4, jpeg2k::ColorSpace::SRGB | jpeg2k::ColorSpace::Unspecified) if precision <= 8 => {
            ["R", "G", "B", "A"].iter().take(comps.len()).map(|s| (*s).to_string()).collect()
        }
        _ => Vec::new(),
    };
    let mut meta =
        RasterMeta { format: "JPEG 2000".into(), dtype: Some(dtype), band_names, notes, ..RasterMeta::default() };
    georeference(path, &top, iw, ih, &mut meta);
    Ok(Raster::new(iw, ih, bands, meta))
}

/// GeoJP2, else GMLJP2, into `meta`; a box that cannot be read becomes a note, never an error.
fn georeference(path: &Path, top: &[Jp2Box<'_>], w: usize, h: usize, meta: &mut RasterMeta) {
    if let Some(b) = top.iter().find(|b| &b.kind == b"uuid" && b.body.starts_with(&GEOJP2_UUID)) {
        match super::tiff::embedded_georef(&b.body[16..], w, h) {
            Some(g) if g.transform.is_some() => {
                meta.format = "JPEG 2000 (GeoJP2)".into();
                meta.crs = g.crs;
                meta.transform = g.transform;
                meta.pixel_size = g.pixel_size;
                meta.notes.extend(g.notes);
                return;
            }
            _ => meta.notes.push("the GeoJP2 box could not be read; trying GMLJP2".into()),
        }
    }
    let mut xml = Vec::new();
    collect_xml(path, top, &mut xml, 0);
    for text in xml {
        if let Some(g) = gml_grid(&text) {
            meta.format = "JPEG 2000 (GMLJP2)".into();
            meta.pixel_size = Some(g.pixel_size(w, h));
            meta.crs = Some(format!("EPSG:{}", g.epsg));
            meta.transform = Some(GeoTransform(g.corner_transform()));
            return;
        }
    }
}

/// The text of every `xml ` box, inside association boxes too.
fn collect_xml(path: &Path, list: &[Jp2Box<'_>], out: &mut Vec<String>, depth: usize) {
    for b in list {
        match &b.kind {
            b"xml " => out.push(String::from_utf8_lossy(b.body).into_owned()),
            b"asoc" if depth < 8 => {
                if let Ok(inner) = boxes(path, b.body) {
                    collect_xml(path, &inner, out, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// A GML RectifiedGrid: the first pixel's centre and the two offset vectors, in the EPSG CRS's axis
/// order as written; `geographic` when the CRS is latitude/longitude.
#[derive(Debug, PartialEq)]
struct GmlGrid {
    epsg: u32,
    origin: [f64; 2],
    offsets: [[f64; 2]; 2],
    geographic: bool,
}

impl GmlGrid {
    /// The GDAL-style transform of pixel corners, x = easting or longitude.
    fn corner_transform(&self) -> [f64; 6] {
        let swap = |v: [f64; 2]| if self.geographic { [v[1], v[0]] } else { v };
        let (o, a, b) = (swap(self.origin), swap(self.offsets[0]), swap(self.offsets[1]));
        // Offsets: the first moves along columns, the second along rows.
        [o[0] - 0.5 * (a[0] + b[0]), a[0], b[0], o[1] - 0.5 * (a[1] + b[1]), a[1], b[1]]
    }

    fn pixel_size(&self, w: usize, h: usize) -> PixelSize {
        let t = self.corner_transform();
        let (sx, sy) = (t[1].hypot(t[4]), t[2].hypot(t[5]));
        if self.geographic {
            // Degrees to metres at the centre latitude.
            let (_, lat) = GeoTransform(t).apply(w as f64 / 2.0, h as f64 / 2.0);
            let m = 111_320.0;
            PixelSize {
                x: sx * m * lat.to_radians().cos(),
                y: sy * m,
                unit: PixelUnit::Metres,
                source: format!("GMLJP2 offset vectors (EPSG:{}, degrees at the centre)", self.epsg),
                approximate: true,
            }
        } else {
            PixelSize {
                x: sx,
                y: sy,
                unit: PixelUnit::Metres,
                source: format!("GMLJP2 offset vectors (EPSG:{})", self.epsg),
                approximate: false,
            }
        }
    }
}

/// The numbers inside the first `<tag ...>...</tag>` after `from`.
fn numbers_in(text: &str, tag: &str, from: usize) -> Option<(Vec<f64>, usize)> {
    let start = from + text.get(from..)?.find(&format!("<{tag}"))?;
    let open_end = start + text[start..].find('>')? + 1;
    let close = open_end + text[open_end..].find(&format!("</{tag}"))?;
    let nums: Vec<f64> = text[open_end..close].split_whitespace().filter_map(|s| s.parse().ok()).collect();
    Some((nums, close))
}

fn gml_grid(text: &str) -> Option<GmlGrid> {
    let grid = text.find("RectifiedGrid")?;
    let epsg_at = text[grid..].find("EPSG").map(|i| grid + i).or_else(|| text.find("EPSG"))?;
    let digits: String =
        text[epsg_at..].chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    let epsg: u32 = digits.parse().ok()?;
    let (pos, after) = numbers_in(text, "gml:pos", grid)?;
    let (a, after) = numbers_in(text, "gml:offsetVector", after)?;
    let (b, _) = numbers_in(text, "gml:offsetVector", after)?;
    let [ox, oy] = pos.get(..2)?.try_into().ok()?;
    let geographic = matches!(epsg, 4326 | 4258 | 4269 | 4267 | 4283 | 4617 | 4674 | 4979 | 4937);
    let grid = GmlGrid {
        epsg,
        origin: [ox, oy],
        offsets: [a.get(..2)?.try_into().ok()?, b.get(..2)?.try_into().ok()?],
        geographic,
    };
    grid.corner_transform().iter().all(|v| v.is_finite()).then_some(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GML: &str = r#"<gml:FeatureCollection><gml:featureMember><gml:FeatureCollection>
      <gml:featureMember><gml:RectifiedGridCoverage dimension="2" gml:id="RGC0001">
      <gml:rectifiedGridDomain><gml:RectifiedGrid dimension="2">
      <gml:limits><gml:GridEnvelope><gml:low>0 0</gml:low><gml:high>1829 1829</gml:high></gml:GridEnvelope></gml:limits>
      <gml:axisName>x</gml:axisName><gml:axisName>y</gml:axisName>
      <gml:origin><gml:Point gml:id="P0001" srsName="urn:ogc:def:crs:EPSG::32629">
      <gml:pos>499980.0 5900040.0</gml:pos></gml:Point></gml:origin>
      <gml:offsetVector srsName="urn:ogc:def:crs:EPSG::32629">60.0 0.0</gml:offsetVector>
      <gml:offsetVector srsName="urn:ogc:def:crs:EPSG::32629">0.0 -60.0</gml:offsetVector>
      </gml:RectifiedGrid></gml:rectifiedGridDomain></gml:RectifiedGridCoverage></gml:featureMember>
      </gml:FeatureCollection></gml:featureMember></gml:FeatureCollection>"#;

    #[test]
    fn a_gml_rectified_grid_gives_corner_transform_crs_and_pixel_size() {
        let g = gml_grid(GML).expect("a grid");
        assert_eq!(g.epsg, 32629);
        // The origin is the first pixel's centre: the corner is half a pixel up and left.
        assert_eq!(g.corner_transform(), [499950.0, 60.0, 0.0, 5900070.0, 0.0, -60.0]);
        let p = g.pixel_size(1830, 1830);
        assert_eq!((p.x, p.y, p.approximate), (60.0, 60.0, false));
        // Geographic CRS: GML writes latitude first.
        let geo = GML
            .replace("32629", "4326")
            .replace("499980.0 5900040.0", "45.0 7.0")
            .replace("60.0 0.0", "0.0 0.001")
            .replace("0.0 -60.0", "-0.001 0.0");
        let g = gml_grid(&geo).expect("a geographic grid");
        let t = g.corner_transform();
        assert!(
            (t[0] - 6.9995).abs() < 1e-9 && (t[3] - 45.0005).abs() < 1e-9 && t[1] == 0.001 && t[5] == -0.001,
            "{t:?}"
        );
        let p = g.pixel_size(100, 100);
        assert!(p.approximate && (p.y - 111.32).abs() < 0.01 && p.x < p.y, "{p:?}");
        assert_eq!(gml_grid("<gml:RectifiedGrid>no numbers</gml:RectifiedGrid>"), None);
    }

    #[test]
    fn lying_or_cut_headers_are_errors_before_decoding() {
        let path = Path::new("x.jp2");
        // A box claiming more bytes than the file has.
        let mut b = b"\0\0\0\x0cjP  \r\n\x87\n".to_vec();
        b.extend_from_slice(&[0, 0, 0x10, 0, b'j', b'p', b'2', b'h']);
        let e = read(path, &b, &LoadOptions::default()).expect_err("cut");
        assert!(e.to_string().contains("runs past the end"), "{e}");
        // A codestream declaring 100000 x 100000 px: refused by the limits, nothing decoded.
        let mut siz = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 41, 0, 0];
        for v in [100_000u32, 100_000, 0, 0, 100_000, 100_000, 0, 0] {
            siz.extend_from_slice(&v.to_be_bytes());
        }
        siz.extend_from_slice(&[0, 1, 7, 1, 1]);
        let e = read(path, &siz, &LoadOptions::default()).expect_err("too large");
        assert!(matches!(e, IoError::TooLarge { .. } | IoError::OverBudget { .. }), "{e}");
    }
}
