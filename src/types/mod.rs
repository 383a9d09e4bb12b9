//! Plain data shared by every layer: rasters and their metadata, SpectrumQA-sim and RadioQA-sim
//! records. Depends on nothing else in the crate; any thread may hold these values.

mod annotation;
mod number;
mod qa;
mod raster;
mod wcs;

pub use annotation::{Annotation, AnnotationFormat, AnnotationSet, AnnotationShape};
pub use number::{fmt_num, xml_escape};
pub use qa::{
    ANOMALY_CLASSES, EVIDENCE, EXTENDED_CLASSES, FR_CLASSES, Level, MITIGATIONS, MORPHOLOGY_CLASSES, NO_REGION,
    Prediction, QaRecord, QuestionKind, REGIONS, SEVERITY_CLASSES, SOURCES, ScenePaths, Split, YES_NO, box_answer,
    concepts_in, parse_box_answer, radio_answer,
};
pub use raster::{Axes, Axis, Beam, GeoTransform, PixelSize, PixelUnit, Raster, RasterMeta, SampleType};
pub use wcs::{CelestialWcs, Projection, sexagesimal};
