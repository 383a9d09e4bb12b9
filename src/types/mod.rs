//! Plain data shared by every layer: rasters and their metadata. Depends on nothing else in the crate;
//! any thread may hold these values.

mod raster;
mod wcs;

pub use raster::{Beam, GeoTransform, PixelSize, PixelUnit, Raster, RasterMeta, SampleType};
pub use wcs::{CelestialWcs, Projection, sexagesimal};
