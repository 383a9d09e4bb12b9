//! COCO JSON: `images` (id, file_name, width, height), `annotations` (image_id, category_id, bbox
//! [x, y, w, h], optional polygon `segmentation`, `score`, `iscrowd`) and `categories` (id, name);
//! also a bare results array of `{image_id, category_id, bbox, score}`. Only the annotations of the
//! image entry matching the image's file name are kept. `iscrowd` is read as "difficult". Any thread.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Value, json};

use super::{
    AnnotationError, Choice, Collect, ImageContext, choose, json_document, list_names, only_image_note, rescale,
};
use crate::types::{Annotation, AnnotationFormat, AnnotationSet, AnnotationShape};

const FORMAT: &str = "COCO";

/// True for a COCO dataset object or a results array.
pub(super) fn looks_like(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key("images") || o.contains_key("annotations"),
        Value::Array(a) => a.iter().all(|e| e.get("image_id").is_some() && e.get("bbox").is_some()),
        _ => false,
    }
}

/// An id as text, so that 3 and 3.0 and "3" compare equal.
fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => n
            .as_i64()
            .map(|i| i.to_string())
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| format!("{f:.0}"))),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn array<'v>(path: &Path, v: &'v Value, key: &str) -> Result<&'v [Value], AnnotationError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(AnnotationError::malformed(path, FORMAT, format!("\"{key}\" is not a list"))),
    }
}

pub(super) fn read(path: &Path, v: &Value, image: &ImageContext) -> Result<AnnotationSet, AnnotationError> {
    let mut out = Collect::new(path);
    let (annotations, images, categories) = match v {
        Value::Array(a) => (a.as_slice(), &[][..], &[][..]),
        _ => (array(path, v, "annotations")?, array(path, v, "images")?, array(path, v, "categories")?),
    };
    let names: HashMap<String, String> =
        categories.iter().filter_map(|c| Some((id_of(c.get("id"))?, c.get("name")?.as_str()?.to_string()))).collect();
    // The image entry of this image: its id, and the size it declares.
    let mut declared = None;
    let wanted: Option<String> = if images.is_empty() {
        let ids: Vec<String> = unique(annotations.iter().filter_map(|a| id_of(a.get("image_id"))));
        match ids.as_slice() {
            [] => None,
            [only] => {
                out.note(format!(
                    "the file names its image only by id ({only}); its annotations are used for this image"
                ));
                Some(only.clone())
            }
            _ => {
                return Err(AnnotationError::NoEntry {
                    path: path.to_path_buf(),
                    image: image.file_name.clone(),
                    found: format!("images only by id ({}), without file names", list_names(&ids)),
                });
            }
        }
    } else {
        let file_names: Vec<String> =
            images.iter().map(|i| i.get("file_name").and_then(Value::as_str).unwrap_or("").to_string()).collect();
        let k = match choose(&file_names, &image.file_name) {
            Choice::Match(k) => k,
            Choice::Only(k) => {
                if !image.file_name.is_empty() {
                    out.note(only_image_note(&file_names[k], image));
                }
                k
            }
            Choice::NoMatch => {
                return Err(AnnotationError::NoEntry {
                    path: path.to_path_buf(),
                    image: image.file_name.clone(),
                    found: list_names(&file_names),
                });
            }
        };
        let entry = &images[k];
        let size = |key: &str| entry.get(key).and_then(Value::as_f64).unwrap_or(0.0);
        declared = Some((size("width"), size("height")));
        Some(id_of(entry.get("id")).ok_or_else(|| {
            let what = format!("the image entry of {} has no id", file_names[k]);
            AnnotationError::malformed(path, FORMAT, what)
        })?)
    };
    let (mut rle, mut several) = (0, 0);
    for (i, a) in annotations.iter().enumerate() {
        if id_of(a.get("image_id")) != wanted {
            continue;
        }
        let category = id_of(a.get("category_id")).unwrap_or_else(|| "?".into());
        let label = names.get(&category).cloned().unwrap_or_else(|| format!("category {category}"));
        let bbox = match a.get("bbox") {
            None | Some(Value::Null) => None,
            Some(b) => Some(numbers(b).filter(|b| b.len() == 4).ok_or_else(|| {
                let what = format!("annotation {i}: \"bbox\" is not a list of four numbers [x, y, width, height]");
                AnnotationError::malformed(path, FORMAT, what)
            })?),
        };
        let polygons: Vec<Vec<f64>> = match a.get("segmentation") {
            Some(Value::Array(p)) => p.iter().filter_map(numbers).filter(|p| p.len() >= 6).collect(),
            Some(Value::Object(_)) => {
                rle += 1;
                Vec::new()
            }
            _ => Vec::new(),
        };
        let shape = match (bbox, polygons.as_slice()) {
            (_, [one]) => AnnotationShape::Polygon(one.chunks_exact(2).map(|p| [p[0], p[1]]).collect()),
            (Some(b), _) if b[2] < 0.0 || b[3] < 0.0 => {
                out.reject();
                continue;
            }
            (Some(b), polys) => {
                several += usize::from(polys.len() > 1);
                AnnotationShape::rect(b[0], b[1], b[0] + b[2], b[1] + b[3])
            }
            (None, _) => {
                out.reject();
                continue;
            }
        };
        let score = a.get("score").and_then(Value::as_f64);
        let difficult = a.get("iscrowd").and_then(Value::as_f64).is_some_and(|c| c != 0.0);
        out.push(Annotation { label, shape, score, difficult })?;
    }
    if rle > 0 {
        out.note(format!("{rle} run-length-encoded masks kept as their boxes"));
    }
    if several > 0 {
        out.note(format!("{several} annotations made of several polygons kept as their boxes"));
    }
    if let Some((sx, sy, note)) = declared.and_then(|(w, h)| rescale(w, h, image)) {
        out.scale(sx, sy);
        out.note(note);
    }
    Ok(out.finish(AnnotationFormat::Coco))
}

/// A JSON list of numbers (null entries read as NaN, so the entry is skipped, not the file refused).
fn numbers(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(|x| if x.is_null() { Some(f64::NAN) } else { x.as_f64() }).collect()
}

fn unique(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// One image (id 1) and its annotations; categories are numbered from 1 in label order. Points
/// are written as zero-size boxes.
pub(super) fn write(
    set: &AnnotationSet,
    image: &ImageContext,
    _path: &Path,
) -> Result<(String, Vec<String>), AnnotationError> {
    let labels: Vec<String> = set.counts().into_keys().collect();
    let mut notes = Vec::new();
    let mut annotations = Vec::with_capacity(set.items.len());
    let (mut points, mut empty) = (0, 0);
    for a in &set.items {
        let Some([x0, y0, x1, y1]) = a.shape.bounds() else {
            empty += 1;
            continue;
        };
        let category = labels.iter().position(|l| *l == a.label).unwrap_or(0) + 1;
        let mut entry = json!({
            "id": annotations.len() + 1,
            "image_id": 1,
            "category_id": category,
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": (x1 - x0) * (y1 - y0),
            "iscrowd": u8::from(a.difficult),
        });
        match &a.shape {
            AnnotationShape::Polygon(p) => {
                entry["segmentation"] = json!([p.iter().flatten().collect::<Vec<_>>()]);
            }
            AnnotationShape::Point(_) => points += 1,
            AnnotationShape::Box { .. } => {}
        }
        if let Some(score) = a.score {
            entry["score"] = json!(score);
        }
        annotations.push(entry);
    }
    if points > 0 {
        notes.push(format!("{points} points written as zero-size boxes (COCO boxes hold no points)"));
    }
    if empty > 0 {
        notes.push(format!("{empty} polygons without vertices left out"));
    }
    let categories: Vec<Value> =
        labels.iter().enumerate().map(|(i, name)| json!({"id": i + 1, "name": name})).collect();
    let images = json!([{"id": 1, "file_name": image.file_name, "width": image.width, "height": image.height}]);
    let head = [("images", images), ("categories", Value::Array(categories))];
    Ok((json_document(&head, "annotations", &annotations), notes))
}
