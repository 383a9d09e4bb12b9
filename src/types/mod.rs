//! Plain data shared by every layer: rasters and their metadata, SpectrumQA-sim records. Depends on nothing else in the crate;
//! any thread may hold these values.

mod annotation;
mod number;
mod qa;
mod raster;
mod wcs;

pub use annotation::{Annotation, AnnotationFormat, AnnotationSet, AnnotationShape};
pub use number::{fmt_num, xml_escape};
pub use qa::{
    EVIDENCE, Level, MITIGATIONS, NO_REGION, Prediction, QaRecord, QuestionKind, REGIONS, SEVERITY_CLASSES, SOURCES,
    ScenePaths, Split, box_answer, concepts_in, parse_box_answer,
};
pub use raster::{Axes, Axis, Beam, GeoTransform, PixelSize, PixelUnit, Raster, RasterMeta, SampleType};
pub use wcs::{CelestialWcs, Projection, sexagesimal};
