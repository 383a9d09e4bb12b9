//! File formats -> [`Raster`]. No UI, no GPU; runs on worker threads (and in the CLI).
//!
//! [`load`] picks a reader from the file's magic bytes, falling back to the extension. Every reader
//! checks the declared size against [`LoadOptions::max_samples`] before it allocates, and reports
//! truncated, corrupt or lying files as an [`IoError`] naming the file.

pub mod annotations;
pub mod atomic;
mod axes_sidecar;
pub mod checksum;
mod csv;
mod dynspec;
mod error;
mod fits;
mod fits_tiles;
pub mod fits_write;
mod geotiff;
mod jp2;
mod npy;
mod options;
mod raster_image;
mod tiff;
mod tiff_overlay;

use std::path::Path;

use crate::types::Raster;

pub use error::IoError;
pub use options::{
    LoadOptions, human_bytes, machine_memory, memory_budget, own_status_mib, parse_size, set_memory_budget, status_mib,
};
pub use raster_image::{decode_rgb, read_rgb};

/// The formats heatscope reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Tiff,
    Npy,
    Npz,
    Fits,
    Csv,
    Jp2,
    Dynspec,
}

impl Format {
    pub const ALL: [Format; 9] = [
        Format::Png,
        Format::Jpeg,
        Format::Tiff,
        Format::Npy,
        Format::Npz,
        Format::Fits,
        Format::Csv,
        Format::Jp2,
        Format::Dynspec,
    ];

    /// Lower-case name, as `heatscope fuzz --format` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::Tiff => "tiff",
            Self::Npy => "npy",
            Self::Npz => "npz",
            Self::Fits => "fits",
            Self::Csv => "csv",
            Self::Jp2 => "jp2",
            Self::Dynspec => "dynspec",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Tiff => "tif",
            other => other.name(),
        }
    }

    /// The format a file name's extension names (without looking inside).
    pub fn of_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "png" => Self::Png,
            "jpg" | "jpeg" => Self::Jpeg,
            "tif" | "tiff" => Self::Tiff,
            "npy" => Self::Npy,
            "npz" => Self::Npz,
            "fits" | "fit" | "fts" | "fz" => Self::Fits,
            "csv" | "tsv" | "txt" => Self::Csv,
            "jp2" | "j2k" | "j2c" | "jpx" | "jpf" => Self::Jp2,
            "dynspec" => Self::Dynspec,
            _ => return None,
        })
    }
}

/// File extensions offered in the open dialog.
pub const EXTENSIONS: &[&str] = &[
    "tif", "tiff", "png", "jpg", "jpeg", "jp2", "j2k", "npy", "npz", "fits", "fit", "fts", "fz", "csv", "tsv", "txt",
    "dynspec",
];

/// Guess the format from the first bytes, then from the extension.
pub fn detect(path: &Path, head: &[u8]) -> Option<Format> {
    if head.starts_with(b"\x89PNG") {
        return Some(Format::Png);
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Format::Jpeg);
    }
    if head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
        || head.starts_with(b"II+\0")
        || head.starts_with(b"MM\0+")
    {
        return Some(Format::Tiff);
    }
    if head.starts_with(b"\x93NUMPY") {
        return Some(Format::Npy);
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Some(Format::Npz);
    }
    if head.starts_with(b"SIMPLE  =") {
        return Some(Format::Fits);
    }
    if jp2::is_jp2(head) {
        return Some(Format::Jp2);
    }
    if dynspec::is_dynspec(head) {
        return Some(Format::Dynspec);
    }
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" | "tsv" | "txt" => Some(Format::Csv),
        "fits" | "fit" | "fts" => Some(Format::Fits),
        "dynspec" => Some(Format::Dynspec),
        _ => None,
    }
}

/// Load any supported file into a [`Raster`]. NumPy arrays, TIFFs and uncompressed FITS images are
/// read from the file as they are decoded (the file is never held whole beside its raster); other
/// formats are read into memory first.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Raster, IoError> {
    use std::io::{Read, Seek};
    let read_err = |source| IoError::Read { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let mut head = Vec::with_capacity(16);
    (&mut file).take(16).read_to_end(&mut head).map_err(read_err)?;
    file.rewind().map_err(read_err)?;
    let mut raster = match detect(path, &head) {
        Some(Format::Npy) => {
            let mut raster = npy::read_npy_from(path, &mut std::io::BufReader::new(file), 0, opts)?;
            axes_sidecar::attach(path, &mut raster);
            raster
        }
        Some(Format::Npz) => npy::read_npz_from(path, std::io::BufReader::new(file), 0, opts)?,
        Some(Format::Tiff) => tiff::read_file(path, &file, opts)?,
        Some(Format::Fits) if let Some(raster) = fits::stream::read_file(path, &file, opts)? => raster,
        _ => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(read_err)?;
            return load_bytes(path, &bytes, opts);
        }
    };
    raster.meta.path = path.to_path_buf();
    Ok(raster)
}

/// A first look at an image too large for one texture, read from its file before (and without) the
/// whole image being in memory: its overview averaged as the file is read ([`preview`]), or before
/// that, a sample of its pixels ([`glance`]).
#[derive(Clone, Debug)]
pub struct Preview {
    /// The image in `factor` x `factor` blocks, nodata as NaN: each block's mean, the pixels
    /// `stats::downsample_to_fit` gives for the image [`load`] reads, or a first look (`look`).
    pub overview: Raster,
    /// What the file's header says of the full image.
    pub meta: crate::types::RasterMeta,
    pub width: usize,
    pub height: usize,
    pub factor: usize,
    /// What `overview` holds: each block's mean, or a first look the mean replaces.
    pub look: Look,
    /// Whether [`read_window`] reads the file's pixels (as [`load`] gives them) while the full read
    /// goes on; when not, they are known once it is in.
    pub windows: bool,
}

impl Preview {
    /// The averaged overview streamed of a `width` x `height` image with header `meta`, once every
    /// row is in (None before); `windows`: see [`Preview::windows`].
    pub(crate) fn averaged(
        overview: crate::stats::StreamedOverview,
        meta: crate::types::RasterMeta,
        (width, height): (usize, usize),
        windows: bool,
    ) -> Option<Self> {
        let factor = overview.factor();
        let averaged = overview.finish(&meta)?;
        Some(Self { overview: averaged, meta, width, height, factor, look: Look::Averaged, windows })
    }
}

/// What a [`Preview`] shows of each block of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    /// The mean of its pixels: the overview the full read gives.
    Averaged,
    /// Its centre pixel, read from a small part of the file (a first look, [`glance`]).
    Sampled,
    /// The file's own reduced-resolution copy of it (a cloud-optimised GeoTIFF's overview, made
    /// with whatever resampling its writer chose), read by itself (a first look, [`glance`]).
    FileOverview,
}

impl Look {
    /// Whether the averaged overview is still to come.
    pub fn is_first_look(self) -> bool {
        self != Look::Averaged
    }
}

/// Longest side of a [`glance`].
pub const GLANCE_MAX: usize = 512;

/// Samples an image holds at least for a [`glance`] to be taken (64 MiB of f32): below, its overview
/// is read about as fast.
pub const GLANCE_MIN_SAMPLES: usize = 1 << 24;

/// A first look at a large image, read from a small part of its file, for images of at least
/// [`GLANCE_MIN_SAMPLES`] samples: for one-band NumPy arrays in row order and one-plane FITS images,
/// the centre pixel of each block of a grid at most [`GLANCE_MAX`] a side (a row in `factor`
/// read); for TIFFs larger than
/// `max_dim` with overviews (cloud-optimised GeoTIFFs), the overview that fits `max_dim` (see
/// `tiff::glance_file`). What a viewer shows while [`preview`] averages the whole file. None for
/// other files and when `cancelled` turns true.
pub fn glance(
    path: &Path,
    opts: &LoadOptions,
    max_dim: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Preview>, IoError> {
    match Streamable::open(path)? {
        Some(Streamable::Npy(mut reader)) => {
            npy::glance_npy(path, &mut reader, opts, [GLANCE_MAX, GLANCE_MIN_SAMPLES], cancelled)
        }
        Some(Streamable::Tiff(file)) => tiff::glance_file(path, &file, opts, [max_dim, GLANCE_MIN_SAMPLES], cancelled),
        Some(Streamable::Fits(file)) => {
            fits::stream::glance_file(path, &file, opts, [GLANCE_MAX, GLANCE_MIN_SAMPLES], cancelled)
        }
        None => Ok(None),
    }
}

/// The overview of a file larger than `max_dim` on a side, streamed from it: one-band NumPy arrays
/// in row order, TIFFs of real grey or RGB samples, striped or tiled (see `tiff::preview_file`),
/// and uncompressed one-plane FITS images (`fits::stream`). None for files that fit, other layouts and formats, and when `cancelled`
/// turns true; errors are those [`load`] would meet too.
pub fn preview(
    path: &Path,
    opts: &LoadOptions,
    max_dim: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Preview>, IoError> {
    match Streamable::open(path)? {
        Some(Streamable::Npy(mut reader)) => npy::preview_npy(path, &mut reader, opts, max_dim, cancelled),
        Some(Streamable::Tiff(file)) => tiff::preview_file(path, &file, opts, max_dim, cancelled),
        Some(Streamable::Fits(file)) => fits::stream::preview_file(path, &file, opts, max_dim, cancelled),
        None => Ok(None),
    }
}

/// The window `[x0, y0, w, h]` of a file [`preview`] streams, read from the file alone (the strips or
/// tiles of a TIFF it meets, the rows of an array), nodata as NaN: the pixels [`load`] gives there.
/// None for other files.
pub fn read_window(path: &Path, opts: &LoadOptions, window: [usize; 4]) -> Result<Option<Raster>, IoError> {
    match Streamable::open(path)? {
        Some(Streamable::Npy(mut reader)) => npy::window_npy(path, &mut reader, opts, window),
        Some(Streamable::Tiff(file)) => tiff::window_file(path, &file, opts, window),
        Some(Streamable::Fits(file)) => fits::stream::window_file(path, &file, opts, window),
        None => Ok(None),
    }
}

/// Folder `sub` of the shared real data (`$HEATSCOPE_REAL_DATA`, else `../shared/data/real`), or None,
/// said loudly, when it is absent: for unit tests that read real files.
#[cfg(test)]
pub(crate) fn real_data(sub: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("HEATSCOPE_REAL_DATA")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real"), Into::into)
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: real data not found at {} (set HEATSCOPE_REAL_DATA)", dir.display());
        None
    }
}

/// A file of a format [`preview`] and [`read_window`] may read a part at a time, opened.
enum Streamable {
    Npy(std::io::BufReader<std::fs::File>),
    Tiff(std::fs::File),
    Fits(std::fs::File),
}

impl Streamable {
    /// The file at `path` when its first bytes say NumPy or TIFF (None for other formats).
    fn open(path: &Path) -> Result<Option<Self>, IoError> {
        use std::io::{Read, Seek};
        let read_err = |source| IoError::Read { path: path.to_path_buf(), source };
        let mut file = std::fs::File::open(path).map_err(read_err)?;
        let mut head = Vec::with_capacity(16);
        (&mut file).take(16).read_to_end(&mut head).map_err(read_err)?;
        file.rewind().map_err(read_err)?;
        Ok(match detect(path, &head) {
            Some(Format::Npy) => Some(Self::Npy(std::io::BufReader::new(file))),
            Some(Format::Tiff) => Some(Self::Tiff(file)),
            Some(Format::Fits) => Some(Self::Fits(file)),
            _ => None,
        })
    }
}

/// Load from bytes already in memory; `path` names the file in errors and metadata.
pub fn load_bytes(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<Raster, IoError> {
    if bytes.is_empty() {
        return Err(IoError::corrupt(path, "the file is empty"));
    }
    let head = &bytes[..bytes.len().min(16)];
    let format = detect(path, head).ok_or_else(|| {
        // A FITS file compressed whole (lzw.fits.Z, image.fits.gz) is named as such.
        fits::compressed_file(path, head).unwrap_or_else(|| IoError::Unsupported {
            path: path.to_path_buf(),
            what:
                "unknown file type (not PNG, JPEG, TIFF, JPEG 2000, NPY, NPZ, FITS, CSV or a psrflux dynamic spectrum)"
                    .into(),
        })
    })?;
    let mut raster = match format {
        Format::Png | Format::Jpeg => raster_image::read(path, bytes, format, opts),
        Format::Tiff => tiff::read(path, bytes, opts),
        Format::Npy => npy::read_npy(path, bytes, opts).map(|mut r| {
            axes_sidecar::attach(path, &mut r);
            r
        }),
        Format::Npz => npy::read_npz(path, bytes, opts),
        Format::Fits => fits::read(path, bytes, opts),
        Format::Csv => csv::read(path, bytes, opts),
        Format::Jp2 => jp2::read(path, bytes, opts),
        Format::Dynspec => dynspec::read(path, bytes, opts),
    }?;
    raster.meta.path = path.to_path_buf();
    Ok(raster)
}
