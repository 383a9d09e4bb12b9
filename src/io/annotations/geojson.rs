//! GeoJSON annotations in map coordinates: a FeatureCollection, a Feature or a bare geometry;
//! Polygon (outer ring), MultiPolygon (one annotation per polygon), Point and MultiPoint (lines are
//! skipped with a note). Coordinates are in the CRS of a legacy `"crs"` member, else WGS84 lon/lat
//! (RFC 7946), converted to the image's CRS (`project.rs`) and then to pixels through the inverse
//! of its geotransform. A ring that is an axis-aligned rectangle in pixels reads as a box. The
//! label is the first of the properties label, name, class, category, type. Any thread.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::project::{Convert, Crs, invert};
use super::{AnnotationError, Collect, ImageContext, json_document};
use crate::types::{Annotation, AnnotationFormat, AnnotationSet, AnnotationShape};

const FORMAT: &str = "GeoJSON";
const GEOMETRIES: [&str; 7] =
    ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"];
/// How far (in pixels) a ring's corners may be from a rectangle's to read as a box.
const BOX_TOLERANCE_PX: f64 = 1e-6;

/// True for a GeoJSON object: a FeatureCollection, a Feature or a geometry.
pub(super) fn looks_like(v: &Value) -> bool {
    v.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t == "FeatureCollection" || t == "Feature" || GEOMETRIES.contains(&t))
}

/// The CRS the file declares: None without a `crs` member, Err(its text) for one heatscope does not know.
fn declared_crs(v: &Value) -> Option<Result<Crs, String>> {
    let crs = v.get("crs").filter(|c| !c.is_null())?;
    let name = crs.pointer("/properties/name").and_then(Value::as_str);
    Some(name.and_then(Crs::parse).ok_or_else(|| name.map_or_else(|| crs.to_string(), String::from)))
}

pub(super) fn read(path: &Path, v: &Value, image: &ImageContext) -> Result<AnnotationSet, AnnotationError> {
    let no_geo = |why: &str| AnnotationError::NoGeoreference { path: path.to_path_buf(), why: why.into() };
    let transform =
        image.transform.ok_or_else(|| no_geo("GeoJSON holds map coordinates and the image has no geotransform"))?;
    let to_pixel = invert(&transform).ok_or_else(|| no_geo("its geotransform is singular"))?;
    let image_crs_text = image.crs.clone().unwrap_or_else(|| "(unknown)".into());
    let mismatch = |from: String, why: &str| AnnotationError::CrsMismatch {
        path: path.to_path_buf(),
        from,
        to: image_crs_text.clone(),
        why: why.into(),
    };
    let declared = declared_crs(v);
    let from = match &declared {
        None => Crs::LonLat,
        Some(Ok(crs)) => *crs,
        Some(Err(text)) => return Err(mismatch(text.clone(), "heatscope does not know this CRS")),
    };
    let Some(to) = image.crs.as_deref().and_then(Crs::parse) else {
        return Err(mismatch(from.name(), "the image's CRS is not an EPSG code heatscope knows"));
    };
    let convert = Convert::between(from, to).map_err(|why| mismatch(from.name(), &why))?;
    let mut features = Vec::new();
    let mut no_geometry = 0;
    collect(v, None, &mut features, &mut no_geometry);
    let mut out = Collect::new(path);
    let mut lines = 0;
    let mut out_of_range = false;
    for (i, (props, geometry)) in features.into_iter().enumerate() {
        let bad = |what: String| AnnotationError::malformed(path, FORMAT, format!("feature {i}: {what}"));
        let kind = geometry.get("type").and_then(Value::as_str).unwrap_or("");
        let label = props.and_then(label_of).unwrap_or_else(|| kind.to_string());
        let score = props.and_then(|p| p.get("score").or_else(|| p.get("confidence"))).and_then(Value::as_f64);
        let difficult = props
            .and_then(|p| p.get("difficult"))
            .is_some_and(|d| d.as_bool() == Some(true) || d.as_f64().is_some_and(|x| x != 0.0));
        let coords = geometry.get("coordinates").ok_or_else(|| bad(format!("the {kind} has no coordinates")))?;
        let mut place = |pos: &Value| -> Result<[f64; 2], AnnotationError> {
            let [x, y] = position(pos).ok_or_else(|| bad("a position is not a list of two numbers".into()))?;
            if declared.is_none() && (x.abs() > 180.0 || y.abs() > 90.0) {
                out_of_range = true;
            }
            let [mx, my] = convert.apply(x, y);
            Ok(to_pixel(mx, my))
        };
        let shapes: Vec<AnnotationShape> = match kind {
            "Point" => vec![AnnotationShape::Point(place(coords)?)],
            "MultiPoint" => {
                list(coords).iter().map(|p| place(p).map(AnnotationShape::Point)).collect::<Result<_, _>>()?
            }
            "Polygon" => vec![ring(list(coords).first(), &mut place)?],
            "MultiPolygon" => {
                list(coords).iter().map(|poly| ring(list(poly).first(), &mut place)).collect::<Result<_, _>>()?
            }
            "LineString" | "MultiLineString" => {
                lines += 1;
                Vec::new()
            }
            other => return Err(bad(format!("unknown geometry type '{other}'"))),
        };
        for shape in shapes {
            let empty = matches!(&shape, AnnotationShape::Polygon(p) if p.len() < 3);
            if empty {
                out.reject();
                continue;
            }
            out.push(Annotation { label: label.clone(), shape, score, difficult })?;
        }
    }
    if out_of_range {
        return Err(AnnotationError::UndeclaredCrs { path: path.to_path_buf() });
    }
    if from != to {
        out.note(format!("coordinates converted from {} to the image's {}", from.name(), to.name()));
    }
    if lines > 0 {
        out.note(format!("skipped {lines} line features (lines mark no region)"));
    }
    if no_geometry > 0 {
        out.note(format!("skipped {no_geometry} features without a geometry"));
    }
    Ok(out.finish(AnnotationFormat::GeoJson))
}

/// Every (properties, geometry) pair in `v`, geometry collections flattened.
fn collect<'v>(
    v: &'v Value,
    props: Option<&'v Map<String, Value>>,
    out: &mut Vec<(Option<&'v Map<String, Value>>, &'v Value)>,
    no_geometry: &mut usize,
) {
    match v.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {
            for f in list(v.get("features").unwrap_or(&Value::Null)) {
                collect(f, None, out, no_geometry);
            }
        }
        Some("Feature") => match v.get("geometry") {
            Some(g) if g.is_object() => collect(g, v.get("properties").and_then(Value::as_object), out, no_geometry),
            _ => *no_geometry += 1,
        },
        Some("GeometryCollection") => {
            for g in list(v.get("geometries").unwrap_or(&Value::Null)) {
                collect(g, props, out, no_geometry);
            }
        }
        _ => out.push((props, v)),
    }
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// The first two numbers of a position (null reads as NaN: the entry is then skipped).
fn position(v: &Value) -> Option<[f64; 2]> {
    let a = v.as_array()?;
    let num = |x: &Value| if x.is_null() { Some(f64::NAN) } else { x.as_f64() };
    Some([num(a.first()?)?, num(a.get(1)?)?])
}

fn label_of(props: &Map<String, Value>) -> Option<String> {
    ["label", "name", "class", "category", "type"].iter().find_map(|key| match props.get(*key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A polygon's outer ring in pixels, the closing vertex dropped; a box when it is an axis-aligned
/// rectangle.
fn ring(
    coords: Option<&Value>,
    place: &mut impl FnMut(&Value) -> Result<[f64; 2], AnnotationError>,
) -> Result<AnnotationShape, AnnotationError> {
    let mut points = list(coords.unwrap_or(&Value::Null)).iter().map(place).collect::<Result<Vec<_>, _>>()?;
    if points.len() > 1 && points.first() == points.last() {
        points.pop();
    }
    Ok(as_box(&points).unwrap_or(AnnotationShape::Polygon(points)))
}

/// The box a 4-vertex ring traces when its edges are horizontal and vertical.
fn as_box(points: &[[f64; 2]]) -> Option<AnnotationShape> {
    if points.len() != 4 {
        return None;
    }
    let shape = AnnotationShape::Polygon(points.to_vec());
    let [x0, y0, x1, y1] = shape.bounds()?;
    let near = |a: f64, b: f64| (a - b).abs() <= BOX_TOLERANCE_PX;
    let corner = |p: &[f64; 2]| (near(p[0], x0) || near(p[0], x1)) && (near(p[1], y0) || near(p[1], y1));
    let edges_straight = (0..4).all(|i| {
        let (a, b) = (points[i], points[(i + 1) % 4]);
        near(a[0], b[0]) != near(a[1], b[1])
    });
    (x1 - x0 > BOX_TOLERANCE_PX && y1 - y0 > BOX_TOLERANCE_PX && points.iter().all(corner) && edges_straight)
        .then_some(AnnotationShape::Box { x0, y0, x1, y1 })
}

/// A FeatureCollection in the image's CRS: a legacy `crs` member names it unless it is WGS84 lon/lat.
pub(super) fn write(
    set: &AnnotationSet,
    image: &ImageContext,
    path: &Path,
) -> Result<(String, Vec<String>), AnnotationError> {
    let transform = image.transform.ok_or_else(|| {
        AnnotationError::unwritable(path, FORMAT, "the image has no georeference to place the annotations on the map")
    })?;
    let crs = image.crs.as_deref().and_then(Crs::parse).ok_or_else(|| {
        let name = image.crs.as_deref().unwrap_or("unknown");
        AnnotationError::unwritable(path, FORMAT, format!("the image's CRS ({name}) is not an EPSG code"))
    })?;
    let at = |x: f64, y: f64| {
        let (mx, my) = transform.apply(x, y);
        json!([mx, my])
    };
    let mut features = Vec::with_capacity(set.items.len());
    let mut empty = 0;
    for a in &set.items {
        let geometry = match &a.shape {
            AnnotationShape::Point([x, y]) => json!({"type": "Point", "coordinates": at(*x, *y)}),
            AnnotationShape::Box { x0, y0, x1, y1 } => {
                let ring = [[*x0, *y0], [*x1, *y0], [*x1, *y1], [*x0, *y1], [*x0, *y0]].map(|[x, y]| at(x, y));
                json!({"type": "Polygon", "coordinates": [ring]})
            }
            AnnotationShape::Polygon(p) if p.is_empty() => {
                empty += 1;
                continue;
            }
            AnnotationShape::Polygon(p) => {
                let ring: Vec<Value> = p.iter().chain(p.first()).map(|[x, y]| at(*x, *y)).collect();
                json!({"type": "Polygon", "coordinates": [ring]})
            }
        };
        let mut properties = json!({"label": a.label});
        if let Some(score) = a.score {
            properties["score"] = json!(score);
        }
        if a.difficult {
            properties["difficult"] = json!(true);
        }
        features.push(json!({"type": "Feature", "properties": properties, "geometry": geometry}));
    }
    let mut head = vec![("type", json!("FeatureCollection"))];
    if let Crs::Epsg(code) = crs {
        head.push(("crs", json!({"type": "name", "properties": {"name": format!("urn:ogc:def:crs:EPSG::{code}")}})));
    }
    let notes = if empty > 0 { vec![format!("{empty} polygons without vertices left out")] } else { Vec::new() };
    Ok((json_document(&head, "features", &features), notes))
}
