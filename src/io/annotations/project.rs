//! Map coordinates for GeoJSON annotations: CRS names as files spell them, WGS84 lon/lat ->
//! UTM (transverse Mercator by the Krüger series in n, to order n^4: well under a millimetre within
//! a zone) and -> spherical Web Mercator, and the inverse of an image's affine transform. Any thread.

use crate::types::GeoTransform;

/// A coordinate reference system heatscope can tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crs {
    /// WGS84 longitude, latitude in degrees (EPSG:4326 and OGC CRS84, always lon first as in GeoJSON).
    LonLat,
    /// Any other EPSG code; 326zz / 327zz are WGS84 UTM north / south zone zz, 3857 Web Mercator.
    Epsg(u32),
}

impl Crs {
    /// Parse "EPSG:32618", "urn:ogc:def:crs:EPSG::32618", "urn:ogc:def:crs:OGC:1.3:CRS84", "CRS84",
    /// "WGS84" ...; None for anything else (a WKT string, a user-defined CRS).
    pub fn parse(text: &str) -> Option<Crs> {
        let t = text.trim().to_ascii_uppercase();
        if t.ends_with("CRS84") || t == "WGS84" || t == "WGS 84" {
            return Some(Crs::LonLat);
        }
        let code = if let Some(rest) = t.strip_prefix("URN:OGC:DEF:CRS:EPSG:") {
            // The version between the colons may be empty ("EPSG::32618") or given ("EPSG:6.6:4326").
            rest.rsplit(':').next()?
        } else if let Some(rest) = t.strip_prefix("EPSG:") {
            rest
        } else if let Some(rest) = t.strip_prefix("HTTP://WWW.OPENGIS.NET/DEF/CRS/EPSG/") {
            rest.rsplit('/').next()?
        } else {
            return None;
        };
        match code.trim().parse::<u32>().ok()? {
            4326 => Some(Crs::LonLat),
            // Old names of Web Mercator.
            900_913 | 3785 | 102_100 => Some(Crs::Epsg(3857)),
            code => Some(Crs::Epsg(code)),
        }
    }

    /// The name to show and to write, e.g. "EPSG:32618".
    pub fn name(self) -> String {
        match self {
            Crs::LonLat => "EPSG:4326".into(),
            Crs::Epsg(code) => format!("EPSG:{code}"),
        }
    }

    /// The UTM zone and hemisphere (true for south) of a WGS84 UTM code.
    pub fn utm_zone(self) -> Option<(u32, bool)> {
        match self {
            Crs::Epsg(code @ 32601..=32660) => Some((code - 32600, false)),
            Crs::Epsg(code @ 32701..=32760) => Some((code - 32700, true)),
            _ => None,
        }
    }
}

/// How map coordinates of one CRS become the image's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Convert {
    Identity,
    Utm { zone: u32, south: bool },
    WebMercator,
}

impl Convert {
    /// The conversion from `from` to `to`, or why there is none.
    pub(crate) fn between(from: Crs, to: Crs) -> Result<Convert, String> {
        if from == to {
            return Ok(Convert::Identity);
        }
        if from != Crs::LonLat {
            return Err("heatscope converts only from WGS84 lon/lat; reproject the file to the image's CRS".into());
        }
        if let Some((zone, south)) = to.utm_zone() {
            return Ok(Convert::Utm { zone, south });
        }
        if to == Crs::Epsg(3857) {
            return Ok(Convert::WebMercator);
        }
        Err("heatscope projects lon/lat only to WGS84 UTM (EPSG:326xx/327xx) and Web Mercator (EPSG:3857)".into())
    }

    pub(crate) fn apply(self, x: f64, y: f64) -> [f64; 2] {
        match self {
            Convert::Identity => [x, y],
            Convert::Utm { zone, south } => {
                let (e, n) = utm_from_lonlat(x, y, zone, south);
                [e, n]
            }
            Convert::WebMercator => {
                let (e, n) = web_mercator_from_lonlat(x, y);
                [e, n]
            }
        }
    }
}

/// WGS84 semi-major axis (m) and flattening.
const WGS84_A: f64 = 6_378_137.0;
const WGS84_F: f64 = 1.0 / 298.257_223_563;
const UTM_K0: f64 = 0.9996;

/// WGS84 longitude / latitude (degrees) -> UTM easting / northing (m) in `zone` (1..=60), with the
/// 10 000 km false northing when `south`. Outside the zone the series still converges but loses
/// accuracy beyond a few degrees from its central meridian.
pub fn utm_from_lonlat(lon: f64, lat: f64, zone: u32, south: bool) -> (f64, f64) {
    let n = WGS84_F / (2.0 - WGS84_F);
    let (n2, n3, n4) = (n * n, n * n * n, n * n * n * n);
    // Rectifying radius: the meridian arc from the equator to a pole is A * pi / 2.
    let big_a = WGS84_A / (1.0 + n) * (1.0 + n2 / 4.0 + n4 / 64.0);
    let alpha = [
        n / 2.0 - 2.0 * n2 / 3.0 + 5.0 * n3 / 16.0 + 41.0 * n4 / 180.0,
        13.0 * n2 / 48.0 - 3.0 * n3 / 5.0 + 557.0 * n4 / 1440.0,
        61.0 * n3 / 240.0 - 103.0 * n4 / 140.0,
        49561.0 * n4 / 161_280.0,
    ];
    let e = (WGS84_F * (2.0 - WGS84_F)).sqrt();
    let central = f64::from(zone) * 6.0 - 183.0;
    let phi = lat.to_radians();
    let dlambda = (lon - central).to_radians();
    // Conformal latitude, as its tangent.
    let sin_phi = phi.sin();
    let t = (sin_phi.atanh() - e * (e * sin_phi).atanh()).sinh();
    let xi = t.atan2(dlambda.cos());
    let eta = (dlambda.sin() / (1.0 + t * t).sqrt()).atanh();
    let (mut x, mut y) = (eta, xi);
    for (j, a) in alpha.iter().enumerate() {
        let k = 2.0 * (j as f64 + 1.0);
        x += a * (k * xi).cos() * (k * eta).sinh();
        y += a * (k * xi).sin() * (k * eta).cosh();
    }
    let false_northing = if south { 10_000_000.0 } else { 0.0 };
    (500_000.0 + UTM_K0 * big_a * x, false_northing + UTM_K0 * big_a * y)
}

/// WGS84 longitude / latitude (degrees) -> spherical Web Mercator (EPSG:3857) x / y in metres.
/// The poles map to infinity (such entries are then skipped as not finite).
pub fn web_mercator_from_lonlat(lon: f64, lat: f64) -> (f64, f64) {
    let x = WGS84_A * lon.to_radians();
    let y = WGS84_A * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln();
    (x, y)
}

/// Map coordinates -> (col, row) through the inverse of `t`; None when `t` is singular.
pub(crate) fn invert(t: &GeoTransform) -> Option<impl Fn(f64, f64) -> [f64; 2]> {
    let [c0, c1, c2, c3, c4, c5] = t.0;
    let det = c1 * c5 - c2 * c4;
    if det == 0.0 || !det.is_finite() || !t.0.iter().all(|v| v.is_finite()) {
        return None;
    }
    Some(move |x: f64, y: f64| {
        let (dx, dy) = (x - c0, y - c3);
        [(c5 * dx - c2 * dy) / det, (c1 * dy - c4 * dx) / det]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_crs_names_parse() {
        assert_eq!(Crs::parse("urn:ogc:def:crs:EPSG::32618"), Some(Crs::Epsg(32618)));
        assert_eq!(Crs::parse("EPSG:32618"), Some(Crs::Epsg(32618)));
        assert_eq!(Crs::parse("urn:ogc:def:crs:OGC:1.3:CRS84"), Some(Crs::LonLat));
        assert_eq!(Crs::parse("urn:ogc:def:crs:EPSG:6.6:4326"), Some(Crs::LonLat));
        assert_eq!(Crs::parse("EPSG:900913"), Some(Crs::Epsg(3857)));
        assert_eq!(Crs::parse("user-defined: State Plane, feet"), None);
        assert_eq!(Crs::Epsg(32733).utm_zone(), Some((33, true)));
        assert_eq!(Crs::Epsg(3857).utm_zone(), None);
    }

    #[test]
    fn annotation_affine_inverse_round_trips_a_rotated_transform() {
        let t = GeoTransform([500_000.0, 0.5, 0.1, 4_400_000.0, 0.2, -0.5]);
        let inv = invert(&t).unwrap();
        let (x, y) = t.apply(123.25, 77.5);
        let [c, r] = inv(x, y);
        assert!((c - 123.25).abs() < 1e-6 && (r - 77.5).abs() < 1e-6, "{c} {r}");
        assert!(invert(&GeoTransform([0.0, 1.0, 2.0, 0.0, 2.0, 4.0])).is_none());
    }
}
