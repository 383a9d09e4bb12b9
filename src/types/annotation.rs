//! Annotations drawn by other tools (boxes, polygons, points with a label), in the image's own pixel
//! coordinates, and the set read from one file. Plain data; any thread may hold these values.
//!
//! Coordinates are continuous full-resolution pixel coordinates: (0, 0) is the top-left corner of
//! the top-left pixel and (width, height) the bottom-right corner of the image, so pixel (col, row)
//! covers `[col, col + 1) x [row, row + 1)`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The region an annotation marks, in pixel coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationShape {
    /// An axis-aligned box from (x0, y0) to (x1, y1); [`AnnotationShape::rect`] keeps x0 <= x1, y0 <= y1.
    Box {
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
    },
    /// A closed polygon given by its vertices (the closing vertex is not repeated).
    Polygon(Vec<[f64; 2]>),
    Point([f64; 2]),
}

impl AnnotationShape {
    /// A box with its corners put in order (x0 <= x1, y0 <= y1). A NaN stays in the box (for
    /// [`AnnotationShape::is_finite`] to catch), unlike with `f64::min`.
    pub fn rect(xa: f64, ya: f64, xb: f64, yb: f64) -> Self {
        let ([x0, x1], [y0, y1]) = (ordered(xa, xb), ordered(ya, yb));
        Self::Box { x0, y0, x1, y1 }
    }

    /// The bounding box `[x0, y0, x1, y1]`; None for a polygon without vertices.
    pub fn bounds(&self) -> Option<[f64; 4]> {
        match self {
            Self::Box { x0, y0, x1, y1 } => {
                let ([x0, x1], [y0, y1]) = (ordered(*x0, *x1), ordered(*y0, *y1));
                Some([x0, y0, x1, y1])
            }
            Self::Point([x, y]) => Some([*x, *y, *x, *y]),
            Self::Polygon(points) => {
                let first = points.first()?;
                let mut b = [first[0], first[1], first[0], first[1]];
                for p in points {
                    b = [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])];
                }
                Some(b)
            }
        }
    }

    /// True when every coordinate is a finite number.
    pub fn is_finite(&self) -> bool {
        match self {
            Self::Box { x0, y0, x1, y1 } => [x0, y0, x1, y1].iter().all(|v| v.is_finite()),
            Self::Point(p) => p.iter().all(|v| v.is_finite()),
            Self::Polygon(points) => points.iter().flatten().all(|v| v.is_finite()),
        }
    }

    /// True when the shape lies wholly outside a `width` x `height` image: a region that shares no
    /// area with it, or a point beyond its edges (a point on an edge is inside).
    pub fn outside(&self, width: f64, height: f64) -> bool {
        let Some([x0, y0, x1, y1]) = self.bounds() else { return true };
        if x0 == x1 || y0 == y1 {
            x1 < 0.0 || y1 < 0.0 || x0 > width || y0 > height
        } else {
            x1 <= 0.0 || y1 <= 0.0 || x0 >= width || y0 >= height
        }
    }

    /// The same shape with every coordinate mapped by `f(x, y)`.
    pub fn map(&self, f: impl Fn(f64, f64) -> [f64; 2]) -> Self {
        match self {
            Self::Box { x0, y0, x1, y1 } => {
                let ([xa, ya], [xb, yb]) = (f(*x0, *y0), f(*x1, *y1));
                Self::rect(xa, ya, xb, yb)
            }
            Self::Point([x, y]) => Self::Point(f(*x, *y)),
            Self::Polygon(points) => Self::Polygon(points.iter().map(|p| f(p[0], p[1])).collect()),
        }
    }
}

/// The two values, the smaller first (a NaN kept).
fn ordered(a: f64, b: f64) -> [f64; 2] {
    if b < a { [b, a] } else { [a, b] }
}

/// One labelled region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub label: String,
    pub shape: AnnotationShape,
    /// A detector's confidence, when the file is a prediction rather than a ground truth.
    pub score: Option<f64>,
    /// Pascal VOC's "difficult" flag (COCO's `iscrowd`): left out of most evaluations.
    pub difficult: bool,
}

impl Annotation {
    /// An annotation without a score and not marked difficult.
    pub fn new(label: impl Into<String>, shape: AnnotationShape) -> Self {
        Self { label: label.into(), shape, score: None, difficult: false }
    }
}

/// The annotation file formats heatscope reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnotationFormat {
    /// COCO JSON: `images`, `annotations` with `bbox` [x, y, w, h], `categories`.
    Coco,
    /// YOLO text: `class cx cy w h [conf]` per line, normalized to 0..1.
    Yolo,
    /// Pascal VOC XML: `<annotation>` with `<object><bndbox>`.
    Voc,
    /// GeoJSON features in map coordinates.
    GeoJson,
    /// DeepForest-style CSV: `image_path,xmin,ymin,xmax,ymax,label`.
    Csv,
}

impl AnnotationFormat {
    pub const ALL: [AnnotationFormat; 5] = [Self::Coco, Self::Yolo, Self::Voc, Self::GeoJson, Self::Csv];

    /// Lower-case name, as `--to` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Coco => "coco",
            Self::Yolo => "yolo",
            Self::Voc => "voc",
            Self::GeoJson => "geojson",
            Self::Csv => "csv",
        }
    }

    /// The name users know the format by.
    pub fn title(self) -> &'static str {
        match self {
            Self::Coco => "COCO JSON",
            Self::Yolo => "YOLO text",
            Self::Voc => "Pascal VOC XML",
            Self::GeoJson => "GeoJSON",
            Self::Csv => "DeepForest CSV",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Coco => "json",
            Self::Yolo => "txt",
            Self::Voc => "xml",
            Self::GeoJson => "geojson",
            Self::Csv => "csv",
        }
    }
}

impl std::fmt::Display for AnnotationFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for AnnotationFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|f| f.name() == lower).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
            format!("unknown annotation format '{s}' (one of {})", names.join(", "))
        })
    }
}

/// The annotations read from one file for one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnotationSet {
    /// The file they came from (or go to).
    pub source: PathBuf,
    pub format: AnnotationFormat,
    pub items: Vec<Annotation>,
    /// What the reader changed or left out, for the user (skipped rows, rescaled boxes ...).
    pub notes: Vec<String>,
}

impl AnnotationSet {
    /// How many annotations carry each label, sorted by label.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for a in &self.items {
            *counts.entry(a.label.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// How many annotations lie wholly outside a `width` x `height` image.
    pub fn outside(&self, width: usize, height: usize) -> usize {
        self.items.iter().filter(|a| a.shape.outside(width as f64, height as f64)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_bounds_order_and_outside() {
        let b = AnnotationShape::rect(5.0, 8.0, 1.0, 2.0);
        assert_eq!(b, AnnotationShape::Box { x0: 1.0, y0: 2.0, x1: 5.0, y1: 8.0 });
        assert_eq!(b.bounds(), Some([1.0, 2.0, 5.0, 8.0]));
        let poly = AnnotationShape::Polygon(vec![[3.0, 1.0], [7.0, 4.0], [2.0, 9.0]]);
        assert_eq!(poly.bounds(), Some([2.0, 1.0, 7.0, 9.0]));
        assert_eq!(AnnotationShape::Polygon(vec![]).bounds(), None);
        assert!(!b.outside(10.0, 10.0));
        // Touching the right edge from outside shares no area.
        assert!(AnnotationShape::rect(10.0, 0.0, 12.0, 3.0).outside(10.0, 10.0));
        assert!(!AnnotationShape::Point([10.0, 10.0]).outside(10.0, 10.0));
        assert!(AnnotationShape::Point([10.5, 3.0]).outside(10.0, 10.0));
        assert!(!AnnotationShape::Point([f64::NAN, 0.0]).is_finite());
        assert!(!AnnotationShape::rect(f64::NAN, 0.0, 2.0, 1.0).is_finite());
    }

    #[test]
    fn annotation_counts_sorted_by_label_and_format_names() {
        let set = AnnotationSet {
            source: PathBuf::from("a.xml"),
            format: AnnotationFormat::Voc,
            items: ["Tree", "Dead", "Tree"]
                .iter()
                .map(|l| Annotation::new(*l, AnnotationShape::Point([1.0, 1.0])))
                .collect(),
            notes: vec![],
        };
        let counts: Vec<(String, usize)> = set.counts().into_iter().collect();
        assert_eq!(counts, vec![("Dead".to_string(), 1), ("Tree".to_string(), 2)]);
        for f in AnnotationFormat::ALL {
            assert_eq!(f.name().parse::<AnnotationFormat>(), Ok(f));
        }
        assert!("shapefile".parse::<AnnotationFormat>().unwrap_err().contains("coco, yolo, voc, geojson, csv"));
    }
}
