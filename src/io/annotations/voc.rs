//! Pascal VOC XML: `<annotation>` with `<filename>`, `<size><width><height>` and one `<object>` per
//! box (`<name>`, `<difficult>`, `<bndbox><xmin><ymin><xmax><ymax>`). Any thread.
//!
//! The VOC devkit counts pixels from 1 with xmax inclusive, but DeepForest and most exporters write
//! 0-based edges; heatscope takes the numbers as they are, as continuous coordinates (xmin..xmax),
//! and writes them back unchanged. When `<size>` differs from the image, boxes are scaled to the
//! image with a note.

use std::path::Path;

use roxmltree::{Document, Node};

use super::{AnnotationError, Choice, Collect, ImageContext, as_boxes, choose, num, only_image_note, rescale};
use crate::types::{Annotation, AnnotationFormat, AnnotationSet, AnnotationShape};

const FORMAT: &str = "Pascal VOC";

pub(super) fn read(path: &Path, text: &str, image: &ImageContext) -> Result<AnnotationSet, AnnotationError> {
    let doc = Document::parse(text).map_err(|e| AnnotationError::malformed(path, "XML", e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "annotation" {
        let why = format!("XML whose root is <{}>, not a Pascal VOC <annotation>", root.tag_name().name());
        return Err(AnnotationError::unrecognized(path, why));
    }
    let line = |node: Node| doc.text_pos_at(node.range().start).row;
    let bad =
        |node: Node, what: String| AnnotationError::malformed(path, FORMAT, format!("line {}: {what}", line(node)));
    // A number in a child element; None when the element is absent, an error when it is not a number.
    let number = |parent: Node, tag: &str| -> Result<Option<f64>, AnnotationError> {
        let Some(node) = child(parent, tag) else { return Ok(None) };
        let text = node.text().unwrap_or("").trim();
        text.parse::<f64>().map(Some).map_err(|_| bad(node, format!("<{tag}> is not a number: '{text}'")))
    };
    let mut out = Collect::new(path);
    if let Some(name) = child(root, "filename").and_then(|n| n.text()).map(str::trim).filter(|n| !n.is_empty())
        && !image.file_name.is_empty()
        && matches!(choose(&[name.to_string()], &image.file_name), Choice::Only(_))
    {
        out.note(only_image_note(name, image));
    }
    for object in root.children().filter(|n| n.has_tag_name("object")) {
        let label = child(object, "name").and_then(|n| n.text()).map(str::trim).unwrap_or("").to_string();
        let label = if label.is_empty() { "object".to_string() } else { label };
        let difficult = number(object, "difficult")?.is_some_and(|v| v != 0.0);
        let score = match number(object, "score")? {
            Some(s) => Some(s),
            None => number(object, "confidence")?,
        };
        let Some(bndbox) = child(object, "bndbox") else {
            out.reject();
            continue;
        };
        let corners =
            [number(bndbox, "xmin")?, number(bndbox, "ymin")?, number(bndbox, "xmax")?, number(bndbox, "ymax")?];
        let [Some(x0), Some(y0), Some(x1), Some(y1)] = corners else {
            return Err(bad(bndbox, "<bndbox> needs <xmin>, <ymin>, <xmax> and <ymax>".into()));
        };
        out.push(Annotation { label, shape: AnnotationShape::rect(x0, y0, x1, y1), score, difficult })?;
    }
    if let Some(size) = child(root, "size") {
        let (w, h) = (number(size, "width")?.unwrap_or(0.0), number(size, "height")?.unwrap_or(0.0));
        if let Some((sx, sy, note)) = rescale(w, h, image) {
            out.scale(sx, sy);
            out.note(note);
        }
    }
    Ok(out.finish(AnnotationFormat::Voc))
}

fn child<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(tag))
}

pub(super) fn write(
    set: &AnnotationSet,
    image: &ImageContext,
    _path: &Path,
) -> Result<(String, Vec<String>), AnnotationError> {
    let (boxes, notes) = as_boxes(set, FORMAT);
    let mut s = String::from("<annotation>\n");
    s += &format!("    <filename>{}</filename>\n", crate::types::xml_escape(&image.file_name));
    s += &format!(
        "    <size>\n        <width>{}</width>\n        <height>{}</height>\n    </size>\n",
        image.width, image.height
    );
    s += "    <segmented>0</segmented>\n";
    for (a, [x0, y0, x1, y1]) in boxes {
        s += "    <object>\n";
        s += &format!("        <name>{}</name>\n", crate::types::xml_escape(&a.label));
        s += &format!("        <difficult>{}</difficult>\n", u8::from(a.difficult));
        if let Some(score) = a.score {
            s += &format!("        <score>{}</score>\n", num(score));
        }
        s += "        <bndbox>\n";
        for (tag, v) in [("xmin", x0), ("ymin", y0), ("xmax", x1), ("ymax", y1)] {
            s += &format!("            <{tag}>{}</{tag}>\n", num(v));
        }
        s += "        </bndbox>\n    </object>\n";
    }
    s += "</annotation>\n";
    Ok((s, notes))
}
