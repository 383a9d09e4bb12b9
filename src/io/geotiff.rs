//! GeoTIFF georeferencing: turns the GeoTIFF tags of a TIFF's first image into a CRS name, a
//! GDAL-order affine transform and a pixel size in metres (with where it came from and whether it
//! is only a local approximation). Called by the TIFF reader on worker threads; never touches pixels.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use tiff::decoder::Decoder;
use tiff::decoder::ifd::Value;
use tiff::tags::Tag;

use crate::types::{GeoTransform, PixelSize, PixelUnit};

/// Sphere radius of Web Mercator (EPSG:3857) in metres.
const WEB_MERCATOR_RADIUS: f64 = 6_378_137.0;
/// Metres per degree of latitude (and of longitude at the equator): the usual rounded value.
const METRES_PER_DEGREE: f64 = 111_320.0;
/// GeoKey value meaning "user-defined" (described by citations and parameters, not a code).
const USER_DEFINED: u16 = 32767;
/// EPSG codes of spherical Web Mercator (the old alias 900913 does not fit a GeoKey; see citations).
const WEB_MERCATOR_CODES: [u16; 2] = [3857, 3785];
/// Citation fragments (lower case) naming Web Mercator in user-defined CRSs.
const WEB_MERCATOR_NAMES: [&str; 3] = ["pseudo-mercator", "pseudo mercator", "900913"];

// GeoKey ids used here (GeoTIFF 1.1, section 7).
const GT_MODEL_TYPE: u16 = 1024;
const GT_RASTER_TYPE: u16 = 1025;
const GT_CITATION: u16 = 1026;
const GEOGRAPHIC_TYPE: u16 = 2048;
const GEOG_CITATION: u16 = 2049;
const GEOG_ANGULAR_UNITS: u16 = 2054;
const PROJECTED_CS_TYPE: u16 = 3072;
const PCS_CITATION: u16 = 3073;
const PROJ_COORD_TRANS: u16 = 3075;
const PROJ_LINEAR_UNITS: u16 = 3076;
const PROJ_LINEAR_UNIT_SIZE: u16 = 3077;

/// The GeoTIFF tags of one image, as stored.
#[derive(Clone, Debug, Default)]
pub(super) struct GeoTags {
    pub pixel_scale: Option<Vec<f64>>,
    pub tiepoints: Option<Vec<f64>>,
    pub transformation: Option<Vec<f64>>,
    pub key_directory: Option<Vec<u16>>,
    pub double_params: Vec<f64>,
    pub ascii_params: String,
}

impl GeoTags {
    /// Reads the tags of the decoder's current image; unreadable tags count as absent.
    pub fn read<R: Read + Seek>(dec: &mut Decoder<R>) -> Self {
        let mut find = |tag| dec.find_tag(tag).ok().flatten();
        Self {
            pixel_scale: find(Tag::ModelPixelScaleTag).and_then(to_f64s),
            tiepoints: find(Tag::ModelTiepointTag).and_then(to_f64s),
            transformation: find(Tag::ModelTransformationTag).and_then(to_f64s),
            key_directory: find(Tag::GeoKeyDirectoryTag).and_then(|v| v.into_u16_vec().ok()),
            double_params: find(Tag::GeoDoubleParamsTag).and_then(to_f64s).unwrap_or_default(),
            ascii_params: find(Tag::GeoAsciiParamsTag).and_then(|v| v.into_string().ok()).unwrap_or_default(),
        }
    }

    /// True when the image carries no georeferencing at all.
    pub fn is_empty(&self) -> bool {
        self.pixel_scale.is_none()
            && self.tiepoints.is_none()
            && self.transformation.is_none()
            && self.key_directory.is_none()
    }
}

/// Any numeric tag value (or list of them) as f64s.
fn to_f64s(value: Value) -> Option<Vec<f64>> {
    fn one(v: &Value) -> Option<f64> {
        Some(match *v {
            Value::Double(x) => x,
            Value::Float(x) => f64::from(x),
            Value::Short(x) => f64::from(x),
            Value::Unsigned(x) => f64::from(x),
            Value::Signed(x) => f64::from(x),
            Value::Byte(x) => f64::from(x),
            _ => return None,
        })
    }
    match &value {
        Value::List(items) => items.iter().map(one).collect(),
        v => one(v).map(|x| vec![x]),
    }
}

/// Where the raster lies, as far as the tags tell.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Georef {
    pub crs: Option<String>,
    pub transform: Option<GeoTransform>,
    pub pixel_size: Option<PixelSize>,
    pub notes: Vec<String>,
}

/// One GeoKey value: inline short, doubles from GeoDoubleParams, or text from GeoAsciiParams.
#[derive(Clone, Debug, PartialEq)]
enum KeyValue {
    Short(u16),
    Doubles(Vec<f64>),
    Text(String),
}

/// The parsed GeoKeyDirectory.
#[derive(Debug, Default)]
struct GeoKeys(BTreeMap<u16, KeyValue>);

impl GeoKeys {
    /// Parses the directory; malformed entries are skipped (a note says so).
    fn parse(tags: &GeoTags, notes: &mut Vec<String>) -> Self {
        let mut keys = BTreeMap::new();
        let Some(dir) = &tags.key_directory else {
            return Self(keys);
        };
        let count = dir.get(3).map_or(0, |&n| usize::from(n));
        let mut skipped = 0;
        for i in 0..count {
            let Some(entry) = dir.get(4 + 4 * i..8 + 4 * i) else {
                skipped += count - i;
                break;
            };
            let (id, location, n, offset) = (entry[0], entry[1], usize::from(entry[2]), usize::from(entry[3]));
            let value = match location {
                0 => Some(KeyValue::Short(entry[3])),
                34736 => tags.double_params.get(offset..offset + n).map(|d| KeyValue::Doubles(d.to_vec())),
                34737 => tags
                    .ascii_params
                    .get(offset..offset + n)
                    .map(|s| KeyValue::Text(s.trim_end_matches(['|', '\0']).trim().to_string())),
                34735 => dir.get(offset..offset + n).and_then(|s| s.first()).map(|&v| KeyValue::Short(v)),
                _ => None,
            };
            match value {
                Some(v) => {
                    keys.insert(id, v);
                }
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            notes.push(format!("{skipped} malformed GeoKey(s) ignored"));
        }
        Self(keys)
    }

    fn short(&self, id: u16) -> Option<u16> {
        match self.0.get(&id) {
            Some(KeyValue::Short(v)) => Some(*v),
            _ => None,
        }
    }

    fn double(&self, id: u16) -> Option<f64> {
        match self.0.get(&id) {
            Some(KeyValue::Doubles(v)) => v.first().copied(),
            _ => None,
        }
    }

    fn text(&self, id: u16) -> Option<&str> {
        match self.0.get(&id) {
            Some(KeyValue::Text(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// All citations, for keyword searches.
    fn citations(&self) -> String {
        [GT_CITATION, PCS_CITATION, GEOG_CITATION].iter().filter_map(|&id| self.text(id)).collect::<Vec<_>>().join(" ")
    }
}

/// What kind of coordinates the model space holds, which decides how pixel sizes become metres.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Model {
    /// Projected metres (or another linear unit); the scale holds everywhere (to map distortion).
    Projected,
    /// Spherical Web Mercator: nominal metres, true ground is nominal x cos(latitude).
    WebMercator,
    /// Geographic degrees.
    Geographic,
    /// Geocentric or unknown: no pixel size in metres.
    Unknown,
}

/// Turns GeoTIFF tags into a CRS name, transform and pixel size for a `width` x `height` raster.
pub(super) fn georeference(tags: &GeoTags, width: usize, height: usize) -> Georef {
    let mut out = Georef::default();
    let keys = GeoKeys::parse(tags, &mut out.notes);
    let Some((mut c, origin)) = transform(tags, &mut out.notes) else {
        out.crs = crs_name(&keys);
        return out;
    };
    if keys.short(GT_RASTER_TYPE) == Some(2) {
        // PixelIsPoint: the tie point is a pixel centre; move it to the corner as GDAL does.
        c[0] -= 0.5 * (c[1] + c[2]);
        c[3] -= 0.5 * (c[4] + c[5]);
    }
    let transform = GeoTransform(c);
    out.transform = Some(transform);
    out.crs = crs_name(&keys);

    let source = origin.source();
    let fitted = matches!(origin, Origin::Gcps(_));
    // Column norms: the ground step for one column and for one row.
    let (sx, sy) = (c[1].hypot(c[4]), c[2].hypot(c[5]));
    let (_, cy) = transform.apply(width as f64 / 2.0, height as f64 / 2.0);
    let citations = keys.citations().to_ascii_lowercase();
    let notes = &mut out.notes;

    let (x, y, source, approximate) = match model(&keys) {
        Model::Unknown => return out,
        Model::Geographic => {
            let deg = angular_unit_degrees(keys.short(GEOG_ANGULAR_UNITS));
            let lat = cy * deg;
            notes.push(format!(
                "geographic CRS: {:.3e} x {:.3e} deg pixels converted to metres at the image \
                 centre (latitude {lat:.2} deg)",
                sx * deg,
                sy * deg
            ));
            // A degree of longitude is cos(latitude) as long on the ground; a rotated transform
            // (a swath fitted to control points) mixes both axes in each step.
            let k = lat.to_radians().cos();
            let (x, y) = ((c[1] * k).hypot(c[4]), (c[2] * k).hypot(c[5]));
            (
                x * deg * METRES_PER_DEGREE,
                y * deg * METRES_PER_DEGREE,
                format!("{source} (degrees at the image centre)"),
                true,
            )
        }
        Model::WebMercator => {
            let lat = (cy / WEB_MERCATOR_RADIUS).sinh().atan();
            let k = lat.cos();
            notes.push(format!(
                "Web Mercator: nominal pixel {sx:.4} x {sy:.4} m is about {:.4} x {:.4} m on the \
                 ground at the image centre (latitude {:.2} deg)",
                sx * k,
                sy * k,
                lat.to_degrees()
            ));
            (sx * k, sy * k, format!("{source} x cos(latitude) (Web Mercator)"), true)
        }
        Model::Projected => {
            let Some(f) = linear_unit_metres(&keys) else {
                notes.push("unknown linear unit: pixel size not converted to metres".into());
                return out;
            };
            let geostationary = citations.contains("geostationary") || citations.contains("+proj=geos");
            if geostationary {
                notes.push(
                    "geostationary projection: the pixel size holds only near the sub-satellite \
                     point; ground pixels grow toward the limb"
                        .into(),
                );
            }
            (sx * f, sy * f, source.to_string(), geostationary)
        }
    };
    if ["mars", "moon", "lunar"].iter().any(|b| citations.contains(b)) {
        notes.push("the CRS is not on Earth: metres are on that body's surface".into());
    }
    let approximate = approximate || fitted;
    out.pixel_size = Some(PixelSize { x, y, unit: PixelUnit::Metres, source, approximate });
    out
}

/// Which tags the transform came from.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Origin {
    PixelScale,
    Matrix,
    /// A least-squares affine fit to this many ground control points.
    Gcps(usize),
}

impl Origin {
    fn source(self) -> String {
        match self {
            Self::PixelScale => "GeoTIFF ModelPixelScale".into(),
            Self::Matrix => "GeoTIFF ModelTransformation".into(),
            Self::Gcps(n) => format!("affine fit to {n} GeoTIFF ground control points"),
        }
    }
}

/// The GDAL-order transform and where it came from: ModelTransformation, ModelPixelScale + a tie
/// point, or an affine fit to ground control points (several tie points and no scale).
fn transform(tags: &GeoTags, notes: &mut Vec<String>) -> Option<([f64; 6], Origin)> {
    let finite = |c: [f64; 6]| c.iter().all(|v| v.is_finite()).then_some(c);
    if let Some(m) = tags.transformation.as_deref().filter(|m| m.len() >= 16) {
        return finite([m[3], m[0], m[1], m[7], m[4], m[5]]).map(|c| (c, Origin::Matrix));
    }
    let tie = tags.tiepoints.as_deref().filter(|t| t.len() >= 6);
    match (tags.pixel_scale.as_deref().filter(|s| s.len() >= 2), tie) {
        (Some(s), Some(t)) => {
            let (i, j, x, y) = (t[0], t[1], t[3], t[4]);
            finite([x - i * s[0], s[0], 0.0, y + j * s[1], 0.0, -s[1]]).map(|c| (c, Origin::PixelScale))
        }
        (None, Some(t)) if t.len() >= 12 => {
            let points = t.len() / 6;
            let Some((c, rms_pixels)) = fit_gcps(t) else {
                notes.push(format!(
                    "georeferenced by {points} ground control points that no affine transform fits (fewer than \
                     3, or all on one line): no transform or pixel size"
                ));
                return None;
            };
            notes.push(format!(
                "georeferenced only by {points} ground control points: an affine fit gives the transform and \
                 pixel size (RMS residual {rms_pixels:.2} pixel); approximate where the terrain or the \
                 sensor geometry bends the mapping"
            ));
            Some((c, Origin::Gcps(points)))
        }
        _ => None,
    }
}

/// A least-squares affine fit (GDAL order) to tie points `(col, row, _, x, y, _)`, with the RMS
/// residual in pixels; None with fewer than 3 points, collinear points or non-finite values.
fn fit_gcps(t: &[f64]) -> Option<([f64; 6], f64)> {
    let pts: Vec<[f64; 4]> = t.chunks_exact(6).map(|p| [p[0], p[1], p[3], p[4]]).collect();
    if pts.len() < 3 || pts.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let n = pts.len() as f64;
    let mean = |k: usize| pts.iter().map(|p| p[k]).sum::<f64>() / n;
    let (mc, mr, mx, my) = (mean(0), mean(1), mean(2), mean(3));
    // Centred normal equations of [col, row] -> x and -> y.
    let (mut scc, mut scr, mut srr, mut scx, mut srx, mut scy, mut sry) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for p in &pts {
        let (c, r, x, y) = (p[0] - mc, p[1] - mr, p[2] - mx, p[3] - my);
        (scc, scr, srr) = (scc + c * c, scr + c * r, srr + r * r);
        (scx, srx, scy, sry) = (scx + c * x, srx + r * x, scy + c * y, sry + r * y);
    }
    let det = scc * srr - scr * scr;
    if det.abs() <= 1e-12 * (scc * srr).max(f64::MIN_POSITIVE) {
        return None;
    }
    let solve = |sx: f64, sy: f64| ((srr * sx - scr * sy) / det, (scc * sy - scr * sx) / det);
    let (a1, a2) = solve(scx, srx);
    let (b1, b2) = solve(scy, sry);
    let c = [mx - a1 * mc - a2 * mr, a1, a2, my - b1 * mc - b2 * mr, b1, b2];
    let step = (a1.hypot(b1) * a2.hypot(b2)).sqrt();
    let sq: f64 = pts
        .iter()
        .map(|p| {
            let (x, y) = (c[0] + c[1] * p[0] + c[2] * p[1], c[3] + c[4] * p[0] + c[5] * p[1]);
            (x - p[2]).powi(2) + (y - p[3]).powi(2)
        })
        .sum();
    let rms = (sq / n).sqrt() / step;
    (c.iter().all(|v| v.is_finite()) && step > 0.0 && rms.is_finite()).then_some((c, rms))
}

/// The kind of model space the keys describe.
fn model(keys: &GeoKeys) -> Model {
    let pcs = keys.short(PROJECTED_CS_TYPE);
    let citations = keys.citations().to_ascii_lowercase();
    if pcs.is_some_and(|c| WEB_MERCATOR_CODES.contains(&c)) || WEB_MERCATOR_NAMES.iter().any(|n| citations.contains(n))
    {
        return Model::WebMercator;
    }
    match keys.short(GT_MODEL_TYPE) {
        Some(1) => Model::Projected,
        Some(2) => Model::Geographic,
        Some(3) => Model::Unknown,
        // User-defined or absent model type: decide from the other keys.
        _ if pcs.is_some() || keys.short(PROJ_LINEAR_UNITS).is_some() => Model::Projected,
        _ if keys.short(GEOGRAPHIC_TYPE).is_some() => Model::Geographic,
        _ => Model::Unknown,
    }
}

/// Metres per linear unit (ProjLinearUnitsGeoKey; metre when absent).
fn linear_unit_metres(keys: &GeoKeys) -> Option<f64> {
    match keys.short(PROJ_LINEAR_UNITS) {
        None | Some(9001) => Some(1.0),
        Some(9002) => Some(0.3048),
        Some(9003) => Some(1200.0 / 3937.0),
        Some(9036) => Some(1000.0),
        Some(_) => keys.double(PROJ_LINEAR_UNIT_SIZE).filter(|f| f.is_finite() && *f > 0.0),
    }
}

/// Degrees per angular unit (GeogAngularUnitsGeoKey; degree when absent or unknown).
fn angular_unit_degrees(code: Option<u16>) -> f64 {
    match code {
        Some(9101) => 180.0 / std::f64::consts::PI,
        Some(9105) => 0.9,
        _ => 1.0,
    }
}

/// "EPSG:32618", "user-defined: UTM Zone 18, Northern Hemisphere", or None without keys.
fn crs_name(keys: &GeoKeys) -> Option<String> {
    let code = |id| keys.short(id).filter(|&c| c != 0 && c != USER_DEFINED);
    if let Some(pcs) = code(PROJECTED_CS_TYPE) {
        return Some(format!("EPSG:{pcs}"));
    }
    let model = keys.short(GT_MODEL_TYPE);
    let projected = model == Some(1) || keys.short(PROJECTED_CS_TYPE).is_some();
    if !projected
        && model != Some(USER_DEFINED)
        && let Some(gcs) = code(GEOGRAPHIC_TYPE)
    {
        return Some(format!("EPSG:{gcs}"));
    }
    if keys.0.is_empty() {
        return None;
    }
    Some(format!("user-defined: {}", user_defined_name(keys)))
}

/// The most telling name for a user-defined CRS: a citation, else the projection method.
fn user_defined_name(keys: &GeoKeys) -> String {
    let telling = |s: &str| !s.is_empty() && !s.eq_ignore_ascii_case("unnamed") && !s.eq_ignore_ascii_case("unknown");
    for id in [PCS_CITATION, GT_CITATION] {
        let Some(text) = keys.text(id) else { continue };
        // ESRI-style citations embed WKT: prefer its PROJCS name, then its PROJECTION.
        let mut wkt_names = ["PROJCS[\"", "PROJECTION[\""].into_iter().filter_map(|k| quoted_after(text, k));
        if let Some(name) = wkt_names.find(|n| telling(n)) {
            return name.to_string();
        }
        let first = text.split('|').next().unwrap_or_default().trim();
        if telling(first) && !first.contains('[') {
            return first.to_string();
        }
    }
    if let Some(method) = keys.short(PROJ_COORD_TRANS).and_then(projection_method) {
        return method.to_string();
    }
    keys.text(GEOG_CITATION)
        .map(|g| g.split('|').next().unwrap_or(g).trim().to_string())
        .filter(|g| telling(g))
        .unwrap_or_else(|| "no name given".to_string())
}

/// The text between `key` and the next double quote.
fn quoted_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let rest = text.get(start..)?;
    rest.get(..rest.find('"')?)
}

/// Name of a ProjCoordTransGeoKey code (the common ones).
fn projection_method(code: u16) -> Option<&'static str> {
    Some(match code {
        1 => "Transverse Mercator",
        7 => "Mercator",
        8 => "Lambert Conformal Conic (2SP)",
        10 => "Lambert Azimuthal Equal Area",
        11 => "Albers Equal Area",
        12 => "Azimuthal Equidistant",
        14 => "Stereographic",
        15 => "Polar Stereographic",
        17 => "Equirectangular",
        24 => "Sinusoidal",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::path::Path;

    use tiff::encoder::{TiffEncoder, colortype};

    use super::*;
    use crate::io::LoadOptions;

    /// A GeoKeyDirectory of inline short keys plus ASCII keys pointing into `ascii`.
    fn keys(shorts: &[(u16, u16)], ascii: &[(u16, &str)]) -> (Vec<u16>, String) {
        let mut dir = vec![1, 1, 0, (shorts.len() + ascii.len()) as u16];
        let mut text = String::new();
        for &(id, v) in shorts {
            dir.extend([id, 0, 1, v]);
        }
        for &(id, s) in ascii {
            dir.extend([id, 34737, s.len() as u16 + 1, text.len() as u16]);
            text.push_str(s);
            text.push('|');
        }
        (dir, text)
    }

    fn tags(scale: [f64; 2], tie: [f64; 2], shorts: &[(u16, u16)], ascii: &[(u16, &str)]) -> GeoTags {
        let (dir, text) = keys(shorts, ascii);
        GeoTags {
            pixel_scale: Some(vec![scale[0], scale[1], 0.0]),
            tiepoints: Some(vec![0.0, 0.0, 0.0, tie[0], tie[1], 0.0]),
            key_directory: Some(dir),
            ascii_params: text,
            ..GeoTags::default()
        }
    }

    /// A 4 x 2 grey GeoTIFF written with the `tiff` crate's encoder, then read back.
    fn geotiff_file(t: &GeoTags) -> crate::types::Raster {
        let mut file = Cursor::new(Vec::new());
        let mut enc = TiffEncoder::new(&mut file).expect("encoder");
        let mut img = enc.new_image::<colortype::Gray8>(4, 2).expect("image");
        let dir = img.encoder();
        let doubles = [
            (Tag::ModelPixelScaleTag, &t.pixel_scale),
            (Tag::ModelTiepointTag, &t.tiepoints),
            (Tag::ModelTransformationTag, &t.transformation),
        ];
        for (tag, values) in doubles.into_iter().filter_map(|(tag, v)| Some((tag, v.as_ref()?))) {
            dir.write_tag(tag, &values[..]).expect("tag");
        }
        if let Some(k) = &t.key_directory {
            dir.write_tag(Tag::GeoKeyDirectoryTag, &k[..]).expect("tag");
            dir.write_tag(Tag::GeoAsciiParamsTag, t.ascii_params.as_str()).expect("tag");
        }
        img.write_data(&[0u8; 8]).expect("pixels");
        let bytes = file.into_inner();
        super::super::tiff::read(Path::new("geo.tif"), &bytes, &LoadOptions::default()).expect("read GeoTIFF")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn utm_scale_and_tiepoint_from_a_file() {
        let keys = [(1024, 1), (1025, 1), (3072, 32618), (3076, 9001)];
        let r = geotiff_file(&tags([10.0, 10.0], [5e5, 4.5e6], &keys, &[]));
        assert_eq!(r.meta.format, "GeoTIFF");
        assert_eq!(r.meta.crs.as_deref(), Some("EPSG:32618"));
        let want = [5e5, 10.0, 0.0, 4.5e6, 0.0, -10.0];
        assert_eq!(r.meta.transform, Some(GeoTransform(want)));
        let ps = r.meta.pixel_size.expect("pixel size");
        assert_eq!((ps.x, ps.y, ps.approximate), (10.0, 10.0, false));
        assert_eq!((ps.unit, ps.source.as_str()), (PixelUnit::Metres, "GeoTIFF ModelPixelScale"));
    }

    #[test]
    fn rotated_model_transformation_uses_column_norms() {
        let (a, b, d, e) = (0.6, -0.8 * 3.0, 0.8, 0.6 * 3.0); // 1 m columns, 3 m rows, rotated
        let (dir, _) = keys(&[(1024, 1), (3072, 32759)], &[]);
        let mut m = vec![a, b, 0.0, 1e3, d, e, 0.0, 2e3];
        m.extend([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let t = GeoTags { transformation: Some(m), key_directory: Some(dir), ..GeoTags::default() };
        let r = geotiff_file(&t);
        assert_eq!(r.meta.transform, Some(GeoTransform([1e3, a, b, 2e3, d, e])));
        let ps = r.meta.pixel_size.expect("pixel size");
        assert!(close(ps.x, 1.0) && close(ps.y, 3.0), "{ps:?}");
        assert_eq!(ps.source, "GeoTIFF ModelTransformation");
    }

    #[test]
    fn web_mercator_is_scaled_by_cos_latitude() {
        // Centre of a 4 x 2 image at 60 deg north: y = R * asinh(tan(lat)).
        let y_centre = WEB_MERCATOR_RADIUS * 60f64.to_radians().tan().asinh();
        let keys = [(1024, 1), (3072, 3857)];
        let r = geotiff_file(&tags([2.0, 2.0], [0.0, y_centre + 2.0], &keys, &[]));
        assert_eq!(r.meta.crs.as_deref(), Some("EPSG:3857"));
        let ps = r.meta.pixel_size.expect("pixel size");
        assert!(close(ps.x, 1.0) && close(ps.y, 1.0) && ps.approximate, "{ps:?}");
        let notes = r.meta.notes;
        assert!(notes.iter().any(|n| n.contains("nominal pixel 2.0000")), "{notes:?}");
    }

    #[test]
    fn geographic_degrees_are_converted_at_the_centre() {
        let keys = [(1024, 2), (2048, 4326)];
        let g = georeference(&tags([0.001, 0.001], [10.0, 45.001], &keys, &[]), 2, 2);
        assert_eq!(g.crs.as_deref(), Some("EPSG:4326"));
        let ps = g.pixel_size.expect("pixel size");
        let x = 0.001 * METRES_PER_DEGREE * 45f64.to_radians().cos();
        assert!(close(ps.x, x) && close(ps.y, 111.32) && ps.approximate, "{ps:?}");
    }

    #[test]
    fn ground_control_points_alone_are_fitted() {
        // A swath rotated 30 degrees in a geographic CRS at 60 deg south: one column steps
        // (cos 30, sin 30) x 0.002 deg and one row (-sin 30, cos 30) x 0.001 deg, before the
        // longitude shrinks by cos(latitude). Nine control points with a little noise.
        let (th, k) = (30f64.to_radians(), 60f64.to_radians().cos());
        let (a1, a2, b1, b2) = (0.002 * th.cos() / k, -0.001 * th.sin() / k, -0.002 * th.sin(), -0.001 * th.cos());
        let mut tie = Vec::new();
        for (i, (col, row)) in [(0, 0), (50, 0), (100, 0), (0, 40), (50, 40), (100, 40), (0, 80), (50, 80), (100, 80)]
            .into_iter()
            .enumerate()
        {
            let noise = if i % 2 == 0 { 1e-6 } else { -1e-6 };
            let (c, r) = (f64::from(col), f64::from(row));
            tie.extend([
                c,
                r,
                0.0,
                20.0 + a1 * (c - 50.0) + a2 * (r - 40.0) + noise,
                -60.0 + b1 * (c - 50.0) + b2 * (r - 40.0),
                0.0,
            ]);
        }
        let (dir, text) = keys(&[(1024, 2), (2048, 4326)], &[]);
        let t = GeoTags { tiepoints: Some(tie), key_directory: Some(dir), ascii_params: text, ..GeoTags::default() };
        let g = georeference(&t, 100, 80);
        let ps = g.pixel_size.expect("a fitted pixel size");
        let (x, y) = (0.002 * METRES_PER_DEGREE, 0.001 * METRES_PER_DEGREE);
        assert!((ps.x / x - 1.0).abs() < 1e-3 && (ps.y / y - 1.0).abs() < 1e-3, "{ps:?} vs {x} x {y}");
        assert!(ps.approximate && ps.source.contains("9 GeoTIFF ground control points"), "{ps:?}");
        assert!(g.notes.iter().any(|n| n.contains("RMS residual")), "{:?}", g.notes);
        let (lon, lat) = g.transform.expect("transform").apply(50.0, 40.0);
        assert!((lon - 20.0).abs() < 1e-5 && (lat + 60.0).abs() < 1e-5, "{lon} {lat}");
        // Points on one line fit no affine transform.
        let line: Vec<f64> = (0..4).flat_map(|i| [f64::from(i), f64::from(i), 0.0, f64::from(i), 0.0, 0.0]).collect();
        let t = GeoTags { tiepoints: Some(line), ..t };
        let g = georeference(&t, 4, 4);
        assert!(g.pixel_size.is_none() && g.notes.iter().any(|n| n.contains("one line")), "{:?}", g.notes);
    }

    #[test]
    fn user_defined_crs_in_us_survey_feet() {
        let keys = [(1024, 1), (3072, USER_DEFINED), (3076, 9003)];
        let t = tags([10.0, 10.0], [0.0, 0.0], &keys, &[(1026, "State Plane, feet")]);
        let g = georeference(&t, 4, 4);
        assert_eq!(g.crs.as_deref(), Some("user-defined: State Plane, feet"));
        let ps = g.pixel_size.expect("pixel size");
        assert!(close(ps.x, 10.0 * 1200.0 / 3937.0) && !ps.approximate, "{ps:?}");
    }

    #[test]
    fn geostationary_and_pixel_is_point() {
        let pcs = "ESRI PE String = PROJCS[\"unnamed\",PROJECTION[\"Geostationary_Satellite\"]]";
        let keys = [(1024, USER_DEFINED), (1025, 2), (3076, 9001)];
        let t = tags([2e3, 2e3], [0.0, 0.0], &keys, &[(1026, "unnamed"), (3073, pcs)]);
        let g = georeference(&t, 4, 4);
        assert_eq!(g.crs.as_deref(), Some("user-defined: Geostationary_Satellite"));
        let want = [-1e3, 2e3, 0.0, 1e3, 0.0, -2e3];
        assert_eq!(g.transform, Some(GeoTransform(want)));
        let ps = g.pixel_size.expect("pixel size");
        assert_eq!((ps.x, ps.approximate), (2000.0, true));
        assert!(g.notes.iter().any(|n| n.contains("sub-satellite point")));
    }

    #[test]
    fn malformed_keys_do_not_fail() {
        let mut t = tags([1.0, 1.0], [0.0, 0.0], &[(1024, 1), (3072, 32618)], &[]);
        if let Some(dir) = t.key_directory.as_mut() {
            dir[3] = 40; // claims more keys than it holds
            dir.extend([3073, 34737, 500, 9999]); // text out of range
        }
        let g = georeference(&t, 1, 1);
        assert_eq!(g.crs.as_deref(), Some("EPSG:32618"));
        assert!(g.notes.iter().any(|n| n.contains("malformed GeoKey")));
        assert_eq!(georeference(&GeoTags::default(), 1, 1), Georef::default());
    }
}
