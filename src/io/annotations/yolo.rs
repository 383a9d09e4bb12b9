//! YOLO text labels: one object per line, `class cx cy w h [conf]` with the box centre and size
//! normalized to 0..1 by the image's width and height, or a segmentation polygon
//! `class x1 y1 x2 y2 x3 y3 ... [conf]`. Class names come from `classes.txt`, `obj.names` or the
//! `names:` of `data.yaml` / `dataset.yaml` in the file's folder or its parent. Any thread.

use std::path::{Path, PathBuf};

use super::{AnnotationError, Collect, ImageContext, as_boxes, num};
use crate::types::{Annotation, AnnotationFormat, AnnotationSet, AnnotationShape};

const FORMAT: &str = "YOLO";
/// The class list the writer puts beside a label file, one name per line in index order.
pub(super) const CLASSES_FILE: &str = "classes.txt";
/// Name files larger than this are not read.
const MAX_NAMES_BYTES: u64 = 4 * 1024 * 1024;

/// True when `line` is a YOLO label line: at least five numbers.
pub(super) fn looks_like(line: &str) -> bool {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    tokens.len() >= 5 && tokens.iter().all(|t| t.parse::<f64>().is_ok())
}

pub(super) fn read(path: &Path, text: &str, image: &ImageContext) -> Result<AnnotationSet, AnnotationError> {
    let mut out = Collect::new(path);
    let names = class_names(path);
    if let Some((_, from)) = &names {
        out.note(format!("class names from {}", from.display()));
    }
    let names = names.map(|(n, _)| n).unwrap_or_default();
    let (w, h) = (image.width as f64, image.height as f64);
    if w <= 0.0 || h <= 0.0 {
        let what = "YOLO coordinates are fractions of the image size, and the image's size is unknown";
        return Err(AnnotationError::malformed(path, FORMAT, what));
    }
    let mut unnamed = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: String| AnnotationError::malformed(path, FORMAT, format!("line {}: {what}", i + 1));
        let values = line
            .split_whitespace()
            .map(|t| t.parse::<f64>().map_err(|_| bad(format!("'{t}' is not a number"))))
            .collect::<Result<Vec<f64>, _>>()?;
        let class = values[0];
        if !(class >= 0.0 && class.fract() == 0.0 && class < 1e9) {
            return Err(bad(format!("the class '{class}' is not a non-negative whole number")));
        }
        let class = class as usize;
        let (shape, score) = match values.len() {
            n @ (5 | 6) => {
                let [cx, cy, bw, bh] = [values[1] * w, values[2] * h, values[3] * w, values[4] * h];
                if bw < 0.0 || bh < 0.0 {
                    out.reject();
                    continue;
                }
                let shape = AnnotationShape::rect(cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0);
                (shape, (n == 6).then(|| values[5]))
            }
            n if n >= 7 => {
                // An odd count is class + points; an even one has a confidence at the end.
                let coords = if n % 2 == 1 { &values[1..] } else { &values[1..n - 1] };
                let points = coords.chunks_exact(2).map(|p| [p[0] * w, p[1] * h]).collect();
                (AnnotationShape::Polygon(points), (n % 2 == 0).then(|| values[n - 1]))
            }
            n => {
                let what = format!(
                    "{n} numbers; expected `class cx cy w h [conf]` or a polygon `class x1 y1 x2 y2 x3 y3 ...`"
                );
                return Err(bad(what));
            }
        };
        let label = match names.get(class) {
            Some(name) => name.clone(),
            None => {
                unnamed += usize::from(!names.is_empty());
                format!("class {class}")
            }
        };
        out.push(Annotation { label, shape, score, difficult: false })?;
    }
    if unnamed > 0 {
        out.note(format!("{unnamed} objects have a class beyond the {} names; labelled \"class N\"", names.len()));
    }
    if out.len() == 0 && text.trim().is_empty() {
        out.note("the file is empty: the image has no objects");
    }
    Ok(out.finish(AnnotationFormat::Yolo))
}

/// The class names for a label file and the file they came from: `classes.txt`, `obj.names`,
/// `data.yaml` or `dataset.yaml` in its folder, else in the folder above.
fn class_names(label_file: &Path) -> Option<(Vec<String>, PathBuf)> {
    let folder = match label_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let folders = [Some(folder.clone()), folder.parent().map(Path::to_path_buf)];
    for dir in folders.iter().flatten() {
        for name in [CLASSES_FILE, "obj.names", "data.yaml", "dataset.yaml"] {
            let candidate = dir.join(name);
            let small = std::fs::metadata(&candidate).is_ok_and(|m| m.is_file() && m.len() <= MAX_NAMES_BYTES);
            if !small || candidate == label_file {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&candidate) else { continue };
            let names = if name.ends_with(".yaml") {
                yaml_names(&text)
            } else {
                Some(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
            };
            if let Some(names) = names.filter(|n: &Vec<String>| !n.is_empty()) {
                return Some((names, candidate));
            }
        }
    }
    None
}

/// The `names:` of an Ultralytics / Darknet dataset YAML: a list (`[a, b]` or `- a` lines) or a
/// mapping (`{0: a}` or `0: a` lines). Gaps in a mapping are named "class N".
pub(super) fn yaml_names(text: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("names:"))?;
    let rest = strip_comment(&lines[start]["names:".len()..]).trim().to_string();
    let entries: Vec<String> = if rest.starts_with('[') || rest.starts_with('{') {
        // A flow collection, perhaps over several lines.
        let close = if rest.starts_with('[') { ']' } else { '}' };
        let mut flow = rest.clone();
        for line in &lines[start + 1..] {
            if flow.contains(close) {
                break;
            }
            flow.push(' ');
            flow.push_str(strip_comment(line).trim());
        }
        let inner = flow.trim_start_matches(['[', '{']);
        let inner = inner.split(close).next().unwrap_or("");
        inner.split(',').map(str::trim).filter(|e| !e.is_empty()).map(String::from).collect()
    } else if rest.is_empty() {
        lines[start + 1..]
            .iter()
            .map(|l| strip_comment(l))
            .take_while(|l| l.trim().is_empty() || l.starts_with([' ', '\t', '-']))
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    } else {
        return None;
    };
    let mut mapped: Vec<(usize, String)> = Vec::new();
    let mut listed: Vec<String> = Vec::new();
    for e in entries {
        if let Some(item) = e.strip_prefix('-') {
            listed.push(unquote(item));
        } else if let Some((k, v)) = e.split_once(':')
            && let Ok(k) = k.trim().parse::<usize>()
        {
            mapped.push((k, unquote(v)));
        } else {
            listed.push(unquote(&e));
        }
    }
    if mapped.is_empty() {
        return Some(listed);
    }
    let len = mapped.iter().map(|(k, _)| k + 1).max().unwrap_or(0).min(100_000);
    let mut names: Vec<String> = (0..len).map(|k| format!("class {k}")).collect();
    for (k, v) in mapped {
        if let Some(slot) = names.get_mut(k) {
            *slot = v;
        }
    }
    Some(names)
}

/// A YAML line without its comment (a `#` outside quotes, at the start or after a space).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('#', None) if prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

fn unquote(text: &str) -> String {
    let t = text.trim();
    let inner = t
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| t.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')));
    inner.unwrap_or(t).to_string()
}

/// A YOLO label file, the class list for `classes.txt` and notes.
pub(super) struct Written {
    pub text: String,
    pub classes: String,
    pub notes: Vec<String>,
}

/// Classes are numbered in label order (the order of [`AnnotationSet::counts`]).
pub(super) fn write(set: &AnnotationSet, image: &ImageContext, path: &Path) -> Result<Written, AnnotationError> {
    if image.width == 0 || image.height == 0 {
        return Err(AnnotationError::unwritable(path, FORMAT, "YOLO needs the image's width and height"));
    }
    let (w, h) = (image.width as f64, image.height as f64);
    let classes: Vec<String> = set.counts().into_keys().collect();
    let (boxes, notes) = as_boxes(set, FORMAT);
    let mut text = String::new();
    for (a, [x0, y0, x1, y1]) in boxes {
        let class = classes.iter().position(|c| *c == a.label).unwrap_or(0);
        let values = [(x0 + x1) / 2.0 / w, (y0 + y1) / 2.0 / h, (x1 - x0) / w, (y1 - y0) / h];
        text += &format!("{class} {}", values.map(num).join(" "));
        if let Some(score) = a.score {
            text += &format!(" {}", num(score));
        }
        text.push('\n');
    }
    let classes = classes.iter().map(|c| format!("{c}\n")).collect();
    Ok(Written { text, classes, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_yaml_names_in_every_form() {
        let list = "path: .\nnames: ['tree', \"dead tree\"]  # two\nnc: 2\n";
        assert_eq!(yaml_names(list), Some(vec!["tree".to_string(), "dead tree".to_string()]));
        let block = "names:\n  - tree\n  - 'snag' # dead\ntrain: x\n";
        assert_eq!(yaml_names(block), Some(vec!["tree".to_string(), "snag".to_string()]));
        let map = "train: a\nnames:\n  0: tree\n  2: snag\nval: b\n";
        assert_eq!(yaml_names(map), Some(vec!["tree".to_string(), "class 1".to_string(), "snag".to_string()]));
        assert_eq!(yaml_names("names: {0: a, 1: b}\n"), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(yaml_names("nc: 3\n"), None);
    }
}
