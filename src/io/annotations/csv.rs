//! DeepForest-style CSV: a header naming `xmin,ymin,xmax,ymax` (pixel edges) and optionally `label`,
//! `image_path` and `score`; other columns are ignored. Rows of other images are skipped with a note,
//! and so are rows whose four coordinates are all 0 (DeepForest's mark of an image without objects).
//! Any thread.

use std::path::Path;

use super::{AnnotationError, Choice, Collect, ImageContext, as_boxes, choose, list_names, num, only_image_note};
use crate::types::{Annotation, AnnotationFormat, AnnotationSet, AnnotationShape};

const FORMAT: &str = "CSV";

/// True when `header` is a CSV header with the four box columns.
pub(super) fn looks_like(header: &str) -> bool {
    let names: Vec<String> = split(header).iter().map(|f| f.trim().to_ascii_lowercase()).collect();
    ["xmin", "ymin", "xmax", "ymax"].iter().all(|c| names.iter().any(|n| n == c))
}

pub(super) fn read(path: &Path, text: &str, image: &ImageContext) -> Result<AnnotationSet, AnnotationError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(AnnotationError::malformed(path, FORMAT, "the file is empty"));
    };
    let names: Vec<String> = split(header).iter().map(|f| f.trim().to_ascii_lowercase()).collect();
    let col = |name: &str| names.iter().position(|n| n == name);
    let (Some(xmin), Some(ymin), Some(xmax), Some(ymax)) = (col("xmin"), col("ymin"), col("xmax"), col("ymax")) else {
        let what = format!("line 1: the header needs xmin,ymin,xmax,ymax columns, found '{}'", header.trim());
        return Err(AnnotationError::malformed(path, FORMAT, what));
    };
    let label_col = col("label").or_else(|| col("class")).or_else(|| col("name"));
    let image_col = col("image_path").or_else(|| col("image")).or_else(|| col("filename"));
    let score_col = col("score").or_else(|| col("confidence"));
    // Rows by image name, in the order the names first appear.
    let mut images: Vec<String> = Vec::new();
    let mut rows: Vec<(usize, Vec<String>, usize)> = Vec::new();
    for (i, line) in lines {
        let fields = split(line);
        if fields.len() < names.len() {
            let what = format!("line {}: {} fields where the header has {}", i + 1, fields.len(), names.len());
            return Err(AnnotationError::malformed(path, FORMAT, what));
        }
        let name = image_col.map(|c| fields[c].trim().to_string()).unwrap_or_default();
        let k = match images.iter().position(|n| *n == name) {
            Some(k) => k,
            None => {
                images.push(name);
                images.len() - 1
            }
        };
        rows.push((i + 1, fields, k));
    }
    let mut out = Collect::new(path);
    let wanted = if image_col.is_none() || images.is_empty() || (image.file_name.is_empty() && images.len() == 1) {
        0
    } else {
        match choose(&images, &image.file_name) {
            Choice::Match(k) => k,
            Choice::Only(k) => {
                out.note(only_image_note(&images[k], image));
                k
            }
            Choice::NoMatch => {
                return Err(AnnotationError::NoEntry {
                    path: path.to_path_buf(),
                    image: image.file_name.clone(),
                    found: list_names(&images),
                });
            }
        }
    };
    let (mut other, mut empty) = (0, 0);
    for (line, fields, k) in rows {
        if k != wanted {
            other += 1;
            continue;
        }
        let number = |c: usize| {
            let text = fields[c].trim();
            text.parse::<f64>().map_err(|_| {
                let what = format!("line {line}: {} is not a number: '{text}'", names[c]);
                AnnotationError::malformed(path, FORMAT, what)
            })
        };
        let corners = [number(xmin)?, number(ymin)?, number(xmax)?, number(ymax)?];
        if corners == [0.0; 4] {
            empty += 1;
            continue;
        }
        let shape = AnnotationShape::rect(corners[0], corners[1], corners[2], corners[3]);
        let label = label_col.map(|c| fields[c].trim()).filter(|l| !l.is_empty()).unwrap_or("object");
        let score = match score_col {
            Some(c) if !fields[c].trim().is_empty() => Some(number(c)?),
            _ => None,
        };
        out.push(Annotation { label: label.to_string(), shape, score, difficult: false })?;
    }
    if empty > 0 {
        out.note(format!("skipped {empty} rows with an all-zero box (DeepForest's mark of an image without objects)"));
    }
    if other > 0 {
        out.note(format!("skipped {other} rows of {} other image(s)", images.len() - 1));
    }
    Ok(out.finish(AnnotationFormat::Csv))
}

/// The fields of one CSV line; double quotes group commas and `""` is a quote.
fn split(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches(['\r', '\n']).chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// A field, quoted when it holds a comma, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

pub(super) fn write(
    set: &AnnotationSet,
    image: &ImageContext,
    _path: &Path,
) -> Result<(String, Vec<String>), AnnotationError> {
    let (boxes, notes) = as_boxes(set, FORMAT);
    let scored = boxes.iter().any(|(a, _)| a.score.is_some());
    let mut s = String::from("image_path,xmin,ymin,xmax,ymax,label");
    s += if scored { ",score\n" } else { "\n" };
    for (a, [x0, y0, x1, y1]) in boxes {
        s +=
            &format!("{},{},{},{},{},{}", field(&image.file_name), num(x0), num(y0), num(x1), num(y1), field(&a.label));
        if scored {
            s += ",";
            s += &a.score.map(num).unwrap_or_default();
        }
        s += "\n";
    }
    Ok((s, notes))
}
