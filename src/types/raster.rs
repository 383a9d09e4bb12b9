//! The one in-memory image type every loader produces and every view and model consumes.
//!
//! Pixels are stored as f32 bands, row-major, `width * height` samples per band. A pixel is "no data"
//! when its value is NaN or when the optional `valid` mask says so; both are kept so that a file's own
//! NaNs and a declared nodata value are treated alike downstream.

use std::path::PathBuf;

/// The sample type a file stored, before conversion to f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F16,
    F32,
    F64,
    /// Complex with f32 parts; stored as its magnitude.
    C64,
    /// Complex with f64 parts; stored as its magnitude.
    C128,
    Bool,
}

impl SampleType {
    /// Short lower-case name as users know it from numpy ("uint16", "complex64").
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "uint8",
            Self::I8 => "int8",
            Self::U16 => "uint16",
            Self::I16 => "int16",
            Self::U32 => "uint32",
            Self::I32 => "int32",
            Self::U64 => "uint64",
            Self::I64 => "int64",
            Self::F16 => "float16",
            Self::F32 => "float32",
            Self::F64 => "float64",
            Self::C64 => "complex64",
            Self::C128 => "complex128",
            Self::Bool => "bool",
        }
    }

    /// Size of one stored sample in bytes.
    pub fn bytes(self) -> usize {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 | Self::F16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 | Self::C64 => 8,
            Self::C128 => 16,
        }
    }
}

/// Unit of a pixel size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelUnit {
    /// Ground metres (remote sensing, simulated maps).
    Metres,
    /// Arc-seconds on the sky (FITS images).
    Arcsec,
}

impl PixelUnit {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Metres => "m",
            Self::Arcsec => "arcsec",
        }
    }
}

/// Size of one pixel along x (columns) and y (rows), with where the number came from.
#[derive(Clone, Debug, PartialEq)]
pub struct PixelSize {
    pub x: f64,
    pub y: f64,
    pub unit: PixelUnit,
    /// Human-readable provenance, e.g. "GeoTIFF ModelPixelScale" or "FITS CDELT1/CDELT2".
    pub source: String,
    /// True when the number is a local approximation (geographic CRS converted at the centre,
    /// Web Mercator scaled by cos(latitude)).
    pub approximate: bool,
}

impl PixelSize {
    /// Geometric mean of the two axes: the single number shown as "pixel size".
    pub fn mean(&self) -> f64 {
        (self.x * self.y).sqrt()
    }
}

/// Affine map from pixel (col, row) at the pixel's upper-left corner to CRS coordinates:
/// `X = c[0] + c[1]*col + c[2]*row`, `Y = c[3] + c[4]*col + c[5]*row` (GDAL order).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoTransform(pub [f64; 6]);

impl GeoTransform {
    /// CRS coordinates of a (fractional) pixel position.
    pub fn apply(&self, col: f64, row: f64) -> (f64, f64) {
        let c = &self.0;
        (c[0] + c[1] * col + c[2] * row, c[3] + c[4] * col + c[5] * row)
    }
}

/// Restoring beam of a radio image (FITS BMAJ/BMIN/BPA), in arcsec and degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Beam {
    pub major_arcsec: f64,
    pub minor_arcsec: f64,
    pub pa_deg: f64,
}

/// Everything known about a raster besides its pixels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RasterMeta {
    /// File the raster came from (empty for generated rasters).
    pub path: PathBuf,
    /// Format name shown to the user, e.g. "GeoTIFF", "FITS", "NumPy .npy".
    pub format: String,
    /// Stored sample type before conversion to f32 (None for generated rasters).
    pub dtype: Option<SampleType>,
    /// Physical unit of the values, e.g. "Jy/beam" or "dB".
    pub unit: Option<String>,
    pub band_names: Vec<String>,
    pub pixel_size: Option<PixelSize>,
    /// Coordinate reference system as text, e.g. "EPSG:32618" or "RA---NCP / DEC--NCP".
    pub crs: Option<String>,
    pub transform: Option<GeoTransform>,
    /// Nodata value declared by the file (already applied to `Raster::valid`).
    pub nodata: Option<f64>,
    pub beam: Option<Beam>,
    /// Sky coordinates (FITS images with a TAN, SIN or NCP projection).
    pub wcs: Option<super::CelestialWcs>,
    /// Physical axes of a spectrogram-like raster (a dynamic spectrum: time across, frequency down).
    pub axes: Option<Axes>,
    /// Anything the loader wants the user to know (e.g. "complex samples shown as magnitude").
    pub notes: Vec<String>,
}

/// One physical axis of a raster: the value at pixel centre `i` is `start + step * i`, or, when the
/// file lists one value per pixel (`values`, monotonic), that list, interpolated between centres and
/// continued linearly past the ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub name: String,
    pub unit: String,
    pub start: f64,
    pub step: f64,
    pub values: Vec<f64>,
}

impl Axis {
    /// A linear axis.
    pub fn linear(name: &str, unit: &str, start: f64, step: f64) -> Self {
        Self { name: name.into(), unit: unit.into(), start, step, values: Vec::new() }
    }

    /// An axis listing the value at each pixel centre; None unless there are at least two values,
    /// all finite and strictly monotonic. `start` and `step` hold the straight line through the ends.
    pub fn tabulated(name: &str, unit: &str, values: Vec<f64>) -> Option<Self> {
        let (&first, &last) = (values.first()?, values.last()?);
        let rising = last > first;
        let monotonic = values.windows(2).all(|p| if rising { p[1] > p[0] } else { p[1] < p[0] });
        if values.len() < 2 || !monotonic || !values.iter().all(|v| v.is_finite()) {
            return None;
        }
        let step = (last - first) / (values.len() - 1) as f64;
        Some(Self { name: name.into(), unit: unit.into(), start: first, step, values })
    }

    /// The axis value at (fractional) pixel index `i`.
    pub fn at(&self, i: f64) -> f64 {
        let n = self.values.len();
        if n < 2 {
            return self.start + self.step * i;
        }
        let k = (i.floor().max(0.0) as usize).min(n - 2);
        let (a, b) = (self.values[k], self.values[k + 1]);
        a + (b - a) * (i - k as f64)
    }

    /// The (fractional) pixel index whose value is `v`: the inverse of [`Self::at`].
    pub fn index_of(&self, v: f64) -> f64 {
        let n = self.values.len();
        if n < 2 {
            return if self.step == 0.0 { 0.0 } else { (v - self.start) / self.step };
        }
        let rising = self.values[n - 1] > self.values[0];
        // The segment holding v (the first or last one when v lies outside the table).
        let below = self.values.partition_point(|&x| if rising { x < v } else { x > v });
        let k = below.clamp(1, n - 1) - 1;
        let (a, b) = (self.values[k], self.values[k + 1]);
        k as f64 + (v - a) / (b - a)
    }
}

/// The axes across (x, columns) and down (y, rows).
#[derive(Clone, Debug, PartialEq)]
pub struct Axes {
    pub x: Axis,
    pub y: Axis,
}

/// An image as f32 bands plus metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Raster {
    pub width: usize,
    pub height: usize,
    /// One `Vec` per band, each `width * height` long, row-major (row 0 at the top).
    pub bands: Vec<Vec<f32>>,
    /// Optional nodata mask, `width * height` long, `false` where the pixel has no data in any band.
    pub valid: Option<Vec<bool>>,
    pub meta: RasterMeta,
}

impl Raster {
    /// A raster from bands that must all be `width * height` long.
    ///
    /// # Panics
    /// Panics when a band has the wrong length: that is a bug in the caller, not bad input.
    pub fn new(width: usize, height: usize, bands: Vec<Vec<f32>>, meta: RasterMeta) -> Self {
        for band in &bands {
            assert_eq!(band.len(), width * height, "band length must be width * height");
        }
        Self { width, height, bands, valid: None, meta }
    }

    pub fn band_count(&self) -> usize {
        self.bands.len()
    }

    /// Index of (col, row) in a band, or None outside the image.
    pub fn index(&self, col: i64, row: i64) -> Option<usize> {
        if col < 0 || row < 0 || col as usize >= self.width || row as usize >= self.height {
            return None;
        }
        Some(row as usize * self.width + col as usize)
    }

    /// True when the pixel at linear index `i` holds data in `band` (finite and not masked).
    pub fn is_valid(&self, band: usize, i: usize) -> bool {
        self.valid.as_ref().is_none_or(|m| m[i]) && self.bands[band][i].is_finite()
    }

    /// Raw value at (col, row) in `band`; None outside the image or for nodata.
    pub fn value(&self, band: usize, col: i64, row: i64) -> Option<f32> {
        let i = self.index(col, row)?;
        self.is_valid(band, i).then(|| self.bands[band][i])
    }

    /// A copy with masked pixels set to NaN in every band and no mask, so a consumer (the shader)
    /// sees one nodata convention. None when there is no mask (use the raster as it is).
    pub fn masked_as_nan(&self) -> Option<Raster> {
        let mask = self.valid.as_ref()?;
        let mut out = self.clone();
        for band in &mut out.bands {
            for (v, ok) in band.iter_mut().zip(mask) {
                if !ok {
                    *v = f32::NAN;
                }
            }
        }
        out.valid = None;
        Some(out)
    }

    /// Bytes the pixel data occupies in memory.
    pub fn memory_bytes(&self) -> usize {
        self.bands.len() * self.width * self.height * 4 + self.valid.as_ref().map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::Axis;

    #[test]
    fn a_linear_axis_and_its_inverse() {
        let a = Axis::linear("frequency", "MHz", 1581.6, -0.78);
        assert!((a.at(10.0) - (1581.6 - 7.8)).abs() < 1e-9);
        assert!((a.index_of(a.at(37.25)) - 37.25).abs() < 1e-9);
    }

    #[test]
    fn a_table_interpolates_continues_past_its_ends_and_refuses_non_monotonic_lists() {
        let a = Axis::tabulated("time", "min", vec![0.2, 0.6665, 1.2, 1.8]).unwrap_or_else(|| panic!("table"));
        assert!((a.at(1.0) - 0.6665).abs() < 1e-12);
        assert!((a.at(3.5) - 2.1).abs() < 1e-12, "continued along the last segment");
        assert!((a.at(-0.5) - (0.2 - 0.23325)).abs() < 1e-12, "and the first");
        for i in [-0.5, 0.0, 0.3, 1.0, 2.7, 3.5] {
            assert!((a.index_of(a.at(i)) - i).abs() < 1e-9, "{i}");
        }
        assert!(Axis::tabulated("t", "s", vec![1.0, 1.0]).is_none());
        assert!(Axis::tabulated("t", "s", vec![1.0, 2.0, 1.5]).is_none());
        assert!(Axis::tabulated("t", "s", vec![1.0]).is_none());
        assert!(Axis::tabulated("t", "s", vec![1.0, f64::NAN]).is_none());
    }
}
