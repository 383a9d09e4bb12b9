//! Annotation files from other tools -> [`AnnotationSet`] in the image's pixel coordinates, and
//! back: COCO JSON (`coco.rs`), YOLO text (`yolo.rs`), Pascal VOC XML (`voc.rs`), GeoJSON in map
//! coordinates (`geojson.rs`, with the lon/lat -> UTM / Web Mercator projections in `project.rs`) and
//! DeepForest CSV (`csv.rs`). No UI, no GPU; runs on worker threads and in the CLI.
//!
//! [`read`] picks the format from the content (falling back to the extension) and keeps only the
//! entries of the image it is given; a file naming other images is matched by file name, where a
//! prefix ending in `_` on the image's name is allowed (`deepforest_SOAP_061.png` matches an entry
//! `SOAP_061.png`). Entries that cannot be placed (NaN, negative sizes) are skipped with a note,
//! never a panic. [`write`] replaces its output atomically.

mod coco;
mod csv;
mod error;
mod geojson;
mod project;
mod voc;
mod yolo;

use std::path::{Path, PathBuf};

use crate::types::{Annotation, AnnotationFormat, AnnotationSet, GeoTransform, Raster};

pub use error::AnnotationError;
pub use project::{Crs, utm_from_lonlat, web_mercator_from_lonlat};

/// Files larger than this are refused before they are read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Most annotations one file may hold.
pub const MAX_ANNOTATIONS: usize = 1_000_000;

/// What the readers need to know about the image the annotations belong to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageContext {
    /// The image's file name, e.g. "SOAP_061.png" (empty when unknown).
    pub file_name: String,
    pub width: usize,
    pub height: usize,
    /// Pixel -> map coordinates (GDAL order), for GeoJSON.
    pub transform: Option<GeoTransform>,
    /// The map coordinates' CRS, e.g. "EPSG:32618".
    pub crs: Option<String>,
}

impl ImageContext {
    /// An image known only by name and size (no georeference).
    pub fn new(file_name: impl Into<String>, width: usize, height: usize) -> Self {
        Self { file_name: file_name.into(), width, height, transform: None, crs: None }
    }

    /// The context of a loaded raster: its file name, size and georeference.
    pub fn of(raster: &Raster) -> Self {
        Self {
            file_name: file_name_of(&raster.meta.path),
            width: raster.width,
            height: raster.height,
            transform: raster.meta.transform,
            crs: raster.meta.crs.clone(),
        }
    }
}

fn file_name_of(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Annotation files beside `image_path` with its stem and the extension .xml, .json, .geojson,
/// .txt or .csv (only those that exist, in that order; never the image itself).
pub fn sidecars(image_path: &Path) -> Vec<PathBuf> {
    ["xml", "json", "geojson", "txt", "csv"]
        .iter()
        .map(|ext| image_path.with_extension(ext))
        .filter(|p| p != image_path && p.is_file())
        .collect()
}

/// Read the annotations of `image` from the file at `path`.
pub fn read(path: &Path, image: &ImageContext) -> Result<AnnotationSet, AnnotationError> {
    use std::io::Read;
    let read_err = |source| AnnotationError::Read { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    let too_large = |size| AnnotationError::TooLarge { path: path.to_path_buf(), size, limit: MAX_FILE_BYTES };
    if size > MAX_FILE_BYTES {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The file may grow while it is read: never take more than the limit.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    parse(path, &bytes, image)
}

/// Read annotations from bytes already in memory; `path` names the file in errors and in the set.
pub fn parse(path: &Path, bytes: &[u8], image: &ImageContext) -> Result<AnnotationSet, AnnotationError> {
    let text = text_of(path, bytes)?;
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let first_line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
    let mut set = match text.trim_start().chars().next() {
        Some('{' | '[') => {
            let kind = if ext == "geojson" { "GeoJSON" } else { "JSON" };
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| AnnotationError::malformed(path, kind, e.to_string()))?;
            if coco::looks_like(&value) {
                coco::read(path, &value, image)?
            } else if geojson::looks_like(&value) {
                geojson::read(path, &value, image)?
            } else {
                return Err(AnnotationError::unrecognized(
                    path,
                    "JSON without COCO \"images\"/\"annotations\" or a GeoJSON \"type\"",
                ));
            }
        }
        Some('<') => voc::read(path, &text, image)?,
        _ if first_line.is_some_and(csv::looks_like) => csv::read(path, &text, image)?,
        _ if first_line.is_some_and(yolo::looks_like) => yolo::read(path, &text, image)?,
        _ => match ext.as_str() {
            "txt" => yolo::read(path, &text, image)?,
            "csv" => csv::read(path, &text, image)?,
            "xml" => voc::read(path, &text, image)?,
            _ if first_line.is_none() => return Err(AnnotationError::unrecognized(path, "the file is empty")),
            _ => {
                return Err(AnnotationError::unrecognized(
                    path,
                    "text that is neither JSON, XML, a CSV with xmin,ymin,xmax,ymax nor YOLO lines",
                ));
            }
        },
    };
    let outside = set.outside(image.width, image.height);
    if outside > 0 && image.width > 0 && image.height > 0 {
        set.notes.push(format!(
            "{outside} of {} annotations lie wholly outside the {} x {} image",
            set.items.len(),
            image.width,
            image.height
        ));
    }
    Ok(set)
}

/// Whether `head` (a file's first bytes) reads as annotations by its content alone: JSON, an XML
/// `<annotation>`, a CSV header with xmin,ymin,xmax,ymax or YOLO lines. The sidecar search uses it to
/// tell a data CSV or a readme beside an image from a broken annotation file.
pub fn recognizes(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head));
    let first_line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
    match text.trim_start().chars().next() {
        Some('{' | '[') => true,
        Some('<') => text.contains("<annotation"),
        _ => first_line.is_some_and(|l| csv::looks_like(l) || yolo::looks_like(l)),
    }
}

/// The file as text: UTF-8 (a byte-order mark dropped; other encodings read lossily), binary files
/// refused.
fn text_of(path: &Path, bytes: &[u8]) -> Result<String, AnnotationError> {
    let head = &bytes[..bytes.len().min(8192)];
    if let Some(format) = super::detect(Path::new(""), head) {
        let why = format!("binary data: this looks like a {} file", format.name().to_uppercase());
        return Err(AnnotationError::unrecognized(path, why));
    }
    if head.contains(&0) {
        return Err(AnnotationError::unrecognized(path, "binary data, not text"));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// Write `set` as `format` for `image` to `path`, replacing it atomically (YOLO also writes
/// `classes.txt` beside it). Returns notes on what the format could not hold (polygons written as
/// their bounding boxes ...).
pub fn write(
    set: &AnnotationSet,
    format: AnnotationFormat,
    image: &ImageContext,
    path: &Path,
) -> Result<Vec<String>, AnnotationError> {
    let (text, notes) = match format {
        AnnotationFormat::Coco => coco::write(set, image, path)?,
        AnnotationFormat::Voc => voc::write(set, image, path)?,
        AnnotationFormat::GeoJson => geojson::write(set, image, path)?,
        AnnotationFormat::Csv => csv::write(set, image, path)?,
        AnnotationFormat::Yolo => {
            let out = yolo::write(set, image, path)?;
            let classes = path.with_file_name(yolo::CLASSES_FILE);
            if classes == path {
                let why = format!("the labels go to {} beside the file: name the file otherwise", yolo::CLASSES_FILE);
                return Err(AnnotationError::unwritable(path, "YOLO", why));
            }
            super::atomic::write(&classes, out.classes)
                .map_err(|source| AnnotationError::Write { path: classes, source })?;
            (out.text, out.notes)
        }
    };
    super::atomic::write(path, text).map_err(|source| AnnotationError::Write { path: path.to_path_buf(), source })?;
    Ok(notes)
}

/// Collects a reader's annotations: skips entries that cannot be placed (counted for a note) and
/// enforces [`MAX_ANNOTATIONS`].
pub(crate) struct Collect<'a> {
    path: &'a Path,
    items: Vec<Annotation>,
    notes: Vec<String>,
    invalid: usize,
}

impl<'a> Collect<'a> {
    pub(crate) fn new(path: &'a Path) -> Self {
        Self { path, items: Vec::new(), notes: Vec::new(), invalid: 0 }
    }

    /// Keep `a` unless a coordinate or its score is NaN or infinite.
    pub(crate) fn push(&mut self, a: Annotation) -> Result<(), AnnotationError> {
        if !a.shape.is_finite() || a.score.is_some_and(|s| !s.is_finite()) {
            self.invalid += 1;
            return Ok(());
        }
        if self.items.len() >= MAX_ANNOTATIONS {
            return Err(AnnotationError::TooMany { path: self.path.to_path_buf(), limit: MAX_ANNOTATIONS });
        }
        self.items.push(a);
        Ok(())
    }

    /// Count an entry the reader skipped itself (a negative width, a missing box).
    pub(crate) fn reject(&mut self) {
        self.invalid += 1;
    }

    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Scale every coordinate collected so far by (sx, sy).
    pub(crate) fn scale(&mut self, sx: f64, sy: f64) {
        for a in &mut self.items {
            a.shape = a.shape.map(|x, y| [x * sx, y * sy]);
        }
    }

    pub(crate) fn finish(mut self, format: AnnotationFormat) -> AnnotationSet {
        if self.invalid > 0 {
            self.notes.push(format!(
                "skipped {} entries with NaN or infinite coordinates, a negative width or height, or no shape",
                self.invalid
            ));
        }
        AnnotationSet { source: self.path.to_path_buf(), format, items: self.items, notes: self.notes }
    }
}

/// How well an entry's image name `entry` fits the image file name `image`: 0 equal, 1 the image's
/// name ends with `_<entry>`, 2 the stems are equal (or one ends with `_<other stem>`); None when
/// they differ. Folders in `entry` are ignored; case is ignored.
pub(crate) fn name_rank(entry: &str, image: &str) -> Option<u8> {
    let entry = entry.rsplit(['/', '\\']).next().unwrap_or(entry).trim().to_lowercase();
    let image = image.trim().to_lowercase();
    if entry.is_empty() || image.is_empty() {
        return None;
    }
    if entry == image {
        return Some(0);
    }
    if image.ends_with(&format!("_{entry}")) {
        return Some(1);
    }
    let stem = |s: &str| s.rsplit_once('.').map_or(s, |(stem, _)| stem).to_string();
    let (es, is) = (stem(&entry), stem(&image));
    (!es.is_empty() && (es == is || is.ends_with(&format!("_{es}")) || es.ends_with(&format!("_{is}")))).then_some(2)
}

/// Which of a file's image `names` is the image: the best [`name_rank`], else the only name there
/// is (with a note in `Choice::Only`), else none.
pub(crate) enum Choice {
    Match(usize),
    Only(usize),
    NoMatch,
}

pub(crate) fn choose(names: &[String], image: &str) -> Choice {
    let best = names.iter().enumerate().filter_map(|(i, n)| name_rank(n, image).map(|r| (r, i))).min();
    match best {
        Some((_, i)) => Choice::Match(i),
        None if names.len() == 1 => Choice::Only(0),
        None => Choice::NoMatch,
    }
}

/// A short list of names for an error message: the first five and how many more.
pub(crate) fn list_names(names: &[String]) -> String {
    if names.is_empty() {
        return "no images".into();
    }
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    let more = names.len().saturating_sub(shown.len());
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!("{} image(s): {}{more}", names.len(), shown.join(", "))
}

/// The note for annotations of a differently named image accepted because the file has only one.
pub(crate) fn only_image_note(name: &str, image: &ImageContext) -> String {
    format!("the file describes one image, {name}, not {}; its annotations are used for this image", image.file_name)
}

/// When a file declares an image size other than the image's, the factors that scale its
/// coordinates to the image and the note saying so; None when the sizes agree or one is unknown.
pub(crate) fn rescale(declared_w: f64, declared_h: f64, image: &ImageContext) -> Option<(f64, f64, String)> {
    let (w, h) = (image.width as f64, image.height as f64);
    let known = declared_w > 0.0 && declared_h > 0.0 && w > 0.0 && h > 0.0;
    if !known || (declared_w == w && declared_h == h) {
        return None;
    }
    let note = format!(
        "the file declares a {declared_w} x {declared_h} image but the image is {w} x {h}; coordinates scaled by {:.4} x {:.4}",
        w / declared_w,
        h / declared_h
    );
    Some((w / declared_w, h / declared_h, note))
}

/// The annotations as boxes `[x0, y0, x1, y1]` for formats that hold only boxes: polygons become
/// their bounds, points zero-size boxes (each counted in the returned notes).
pub(crate) fn as_boxes<'s>(set: &'s AnnotationSet, format: &str) -> (Vec<(&'s Annotation, [f64; 4])>, Vec<String>) {
    let (mut polygons, mut points, mut empty) = (0, 0, 0);
    let mut out = Vec::with_capacity(set.items.len());
    for a in &set.items {
        match (&a.shape, a.shape.bounds()) {
            (_, None) => empty += 1,
            (crate::types::AnnotationShape::Polygon(_), Some(b)) => {
                polygons += 1;
                out.push((a, b));
            }
            (crate::types::AnnotationShape::Point(_), Some(b)) => {
                points += 1;
                out.push((a, b));
            }
            (_, Some(b)) => out.push((a, b)),
        }
    }
    let mut notes = Vec::new();
    if polygons > 0 {
        notes.push(format!("{polygons} polygons written as their bounding boxes ({format} holds boxes only)"));
    }
    if points > 0 {
        notes.push(format!("{points} points written as zero-size boxes ({format} holds boxes only)"));
    }
    if empty > 0 {
        notes.push(format!("{empty} polygons without vertices left out"));
    }
    (out, notes)
}

/// A JSON object with the `head` members first and then `list_key`, one list entry per line (the
/// readable middle between one line and serde's pretty printing, which puts each number on a line).
pub(crate) fn json_document(head: &[(&str, serde_json::Value)], list_key: &str, items: &[serde_json::Value]) -> String {
    let key = |k: &str| serde_json::Value::from(k).to_string();
    let mut s = String::from("{\n");
    for (k, v) in head {
        s += &format!("  {}: {v},\n", key(k));
    }
    s += &format!("  {}: [\n", key(list_key));
    for (i, item) in items.iter().enumerate() {
        let comma = if i + 1 < items.len() { "," } else { "" };
        s += &format!("    {item}{comma}\n");
    }
    s + "  ]\n}\n"
}

/// A coordinate as text: the shortest form that reads back as the same number.
pub(crate) fn num(v: f64) -> String {
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_names_match_with_a_prefix_and_stems() {
        assert_eq!(name_rank("SOAP_061.png", "SOAP_061.png"), Some(0));
        assert_eq!(name_rank("data/SOAP_061.png", "deepforest_SOAP_061.png"), Some(1));
        assert_eq!(name_rank("OSBS_029.png", "deepforest_OSBS_029.tif"), Some(2));
        assert_eq!(name_rank("SOAP_061.png", "SOAP_031.png"), None);
        assert_eq!(name_rank("", "a.png"), None);
        let names = vec!["b.png".to_string(), "x_a.png".to_string(), "a.png".to_string()];
        assert!(matches!(choose(&names, "a.png"), Choice::Match(2)));
        assert!(matches!(choose(&names[..1], "a.png"), Choice::Only(0)));
        assert!(matches!(choose(&names[..2], "c.png"), Choice::NoMatch));
        let many: Vec<String> = (0..8).map(|i| format!("{i}.png")).collect();
        assert_eq!(list_names(&many), "8 image(s): 0.png, 1.png, 2.png, 3.png, 4.png and 3 more");
    }
}
