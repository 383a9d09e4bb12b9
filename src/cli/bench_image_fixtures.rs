//! The files `heatscope bench view --make-fixtures DIR` writes: a 20000 x 20000 float32 GeoTIFF in
//! 512 x 512 tiles (UTM 18N, 10 m pixels), the same with five overviews (blocks 2 to 32, as a
//! cloud-optimised GeoTIFF carries them), an 8192 x 8192 float32 `.npy` and the same as a FITS
//! image, all holding a field that looks measured: smooth value noise over four scales, three hot
//! spots and a winding ridge on a gentle slope. Written a band of rows at a time (a band of tiles for the TIFF, rows computed
//! on rayon's threads), so the whole array is never in memory, into a `.part` file renamed when
//! complete. Runs on the CLI thread.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rayon::prelude::*;

/// The TIFF fixture's name, side and tile side; the same with overviews (block sizes); the `.npy`
/// fixture's name and side.
pub const TIFF_NAME: &str = "big_20000.tif";
pub const COG_NAME: &str = "big_20000_cog.tif";
pub const COG_OVERVIEWS: [usize; 5] = [2, 4, 8, 16, 32];
pub const TIFF_SIDE: usize = 20_000;
pub const TIFF_TILE: usize = 512;
pub const NPY_NAME: &str = "big_8192.npy";
pub const NPY_SIDE: usize = 8192;
pub const FITS_NAME: &str = "big_8192.fits";

/// A smooth synthetic field over a `width` x `height` grid (values roughly -10 to 40).
pub struct Field {
    width: usize,
    height: usize,
    /// Value-noise octaves: lattice cell (pixels), amplitude, seed.
    octaves: Vec<(f32, f32, u64)>,
    /// Hot spots: centre (pixels), radius (pixels), height.
    spots: Vec<([f32; 2], f32, f32)>,
}

impl Field {
    pub fn new(width: usize, height: usize) -> Self {
        let side = width.max(height) as f32;
        let octaves = [(8.0, 12.0), (32.0, 6.0), (128.0, 3.0), (512.0, 1.5)]
            .iter()
            .zip(1u64..)
            .map(|(&(div, amp), seed)| ((side / div).max(4.0), amp, seed))
            .collect();
        let at = |fx: f32, fy: f32| [fx * width as f32, fy * height as f32];
        let spots = vec![
            (at(0.3, 0.35), side / 18.0, 20.0),
            (at(0.7, 0.6), side / 30.0, 14.0),
            (at(0.55, 0.2), side / 60.0, 25.0),
        ];
        Self { width, height, octaves, spots }
    }

    /// Row `y` of the field into `out` (`width` values).
    pub fn row(&self, y: usize, out: &mut [f32]) {
        let (w, h) = (self.width as f32, self.height as f32);
        let fy = y as f32;
        // The ridge: a band winding across the grid, and the slope.
        let (ridge_w, slope) = (h / 40.0, 8.0 / w);
        for (x, v) in out.iter_mut().enumerate() {
            let fx = x as f32;
            let centre = h * (0.75 + 0.08 * (fx / w * std::f32::consts::TAU * 1.5).sin());
            let d = (fy - centre) / ridge_w;
            *v = fx * slope + 10.0 * (-d * d).exp();
        }
        for &([cx, cy], r, peak) in &self.spots {
            let gy = peak * (-((fy - cy) / r).powi(2)).exp();
            if gy < 1e-3 {
                continue;
            }
            for (x, v) in out.iter_mut().enumerate() {
                *v += gy * (-((x as f32 - cx) / r).powi(2)).exp();
            }
        }
        for &(cell, amp, seed) in &self.octaves {
            // The two lattice rows around `y`, blended once per lattice column, then across.
            let gy = fy / cell;
            let (iy, ty) = (gy.floor() as i64, smooth(gy.fract()));
            let columns = (self.width as f32 / cell) as i64 + 2;
            let blended: Vec<f32> =
                (0..=columns).map(|ix| lerp(lattice(ix, iy, seed), lattice(ix, iy + 1, seed), ty)).collect();
            for (x, v) in out.iter_mut().enumerate() {
                let gx = x as f32 / cell;
                let ix = gx.floor() as usize;
                *v += amp * lerp(blended[ix], blended[ix + 1], smooth(gx.fract()));
            }
        }
    }

    /// Rows `from..from + out.len() / width`, computed on rayon's threads.
    pub fn rows(&self, from: usize, out: &mut [f32]) {
        out.par_chunks_mut(self.width).enumerate().for_each(|(i, row)| self.row(from + i, row));
    }
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// A repeatable value in [-1, 1] for a lattice point (splitmix64 of its coordinates).
fn lattice(ix: i64, iy: i64, seed: u64) -> f32 {
    let mut z = (ix as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (iy as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ seed.wrapping_mul(0x1656_67B1_9E37_79F9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

/// Write the four fixtures into `dir` where missing; their paths.
pub fn make(dir: &Path) -> anyhow::Result<[PathBuf; 4]> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tiff = dir.join(TIFF_NAME);
    let cog = dir.join(COG_NAME);
    let field = Field::new(TIFF_SIDE, TIFF_SIDE);
    for (path, overviews) in [(&tiff, &[][..]), (&cog, &COG_OVERVIEWS[..])] {
        if !path.is_file() {
            eprintln!(
                "writing {} ({TIFF_SIDE} x {TIFF_SIDE} float32, {TIFF_TILE} px tiles, overviews of blocks {overviews:?}) ...",
                path.display()
            );
            write_via_part(path, |f| write_tiled_geotiff(f, (TIFF_SIDE, TIFF_SIDE), TIFF_TILE, overviews, &field))?;
        }
    }
    let npy = dir.join(NPY_NAME);
    if !npy.is_file() {
        eprintln!("writing {} ({NPY_SIDE} x {NPY_SIDE} float32) ...", npy.display());
        let field = Field::new(NPY_SIDE, NPY_SIDE);
        write_via_part(&npy, |f| write_npy(f, NPY_SIDE, NPY_SIDE, &field))?;
    }
    let fits = dir.join(FITS_NAME);
    if !fits.is_file() {
        eprintln!("writing {} ({NPY_SIDE} x {NPY_SIDE} float32 FITS) ...", fits.display());
        let field = Field::new(NPY_SIDE, NPY_SIDE);
        write_via_part(&fits, |f| write_fits(f, NPY_SIDE, NPY_SIDE, &field))?;
    }
    Ok([tiff, cog, npy, fits])
}

/// Write `path` through `path.part`, renamed over it once `write` finished and the data is on disk.
fn write_via_part(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let file = std::fs::File::create(&part).with_context(|| format!("cannot create {}", part.display()))?;
    let mut out = BufWriter::with_capacity(4 << 20, file);
    let written = write(&mut out).and_then(|()| {
        let file = out.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        Ok(())
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&part);
        return Err(e.context(format!("cannot write {}", path.display())));
    }
    std::fs::rename(&part, path).with_context(|| format!("cannot rename {} to {}", part.display(), path.display()))
}

/// A little-endian float32 `.npy` of `field`, 256 rows at a time.
pub fn write_npy(out: &mut impl Write, width: usize, height: usize, field: &Field) -> anyhow::Result<()> {
    // The header alone: sim's writer with no data.
    out.write_all(&crate::sim::write_npy_f32(&[], height, width))?;
    let mut band = vec![0f32; width * 256];
    let mut bytes = Vec::with_capacity(band.len() * 4);
    for from in (0..height).step_by(256) {
        let rows = 256.min(height - from);
        field.rows(from, &mut band[..rows * width]);
        bytes.clear();
        bytes.extend(band[..rows * width].iter().flat_map(|v| v.to_le_bytes()));
        out.write_all(&bytes)?;
    }
    Ok(())
}

/// A float32 FITS image of `field` (BUNIT Jy/beam), 256 rows at a time from the bottom up, as FITS
/// stores them.
pub fn write_fits(out: &mut impl Write, width: usize, height: usize, field: &Field) -> anyhow::Result<()> {
    use crate::io::fits_write::{Card, CardValue, header_f32};
    let unit = Card::new("BUNIT", CardValue::Str("Jy/beam".into()), "synthetic field");
    out.write_all(&header_f32(width, height, &[unit])?)?;
    let mut band = vec![0f32; width * 256];
    let mut bytes = Vec::with_capacity(band.len() * 4);
    let mut end = height;
    while end > 0 {
        let from = end.saturating_sub(256);
        let rows = end - from;
        field.rows(from, &mut band[..rows * width]);
        bytes.clear();
        for row in band[..rows * width].chunks_exact(width).rev() {
            bytes.extend(row.iter().flat_map(|v| v.to_be_bytes()));
        }
        out.write_all(&bytes)?;
        end = from;
    }
    let written = width * height * 4;
    out.write_all(&vec![0u8; written.next_multiple_of(2880) - written])?;
    Ok(())
}

/// A float32 GeoTIFF of `field` in `tile` x `tile` tiles (edge tiles padded with zeros), with a
/// 10 m pixel scale, a tie point at (500000, 4500000) and EPSG:32618, written one band of tiles at a
/// time; then, for each block size in `overviews`, a reduced-resolution image (NewSubfileType 1)
/// holding the centre pixel of each block (GDAL's nearest resampling), tiled the same way, its
/// tiles written as their rows come (a cloud-optimised GeoTIFF's images, not its byte order).
/// Classic TIFF: the data must stay under 4 GiB.
pub fn write_tiled_geotiff<W: Write + std::io::Seek>(
    out: &mut W,
    (width, height): (usize, usize),
    tile: usize,
    overviews: &[usize],
    field: &Field,
) -> anyhow::Result<()> {
    use tiff::encoder::TiffEncoder;
    use tiff::tags::Tag;
    let pixels: usize =
        std::iter::once(1).chain(overviews.iter().copied()).map(|k| tiled_pixels(width, height, k.max(1), tile)).sum();
    if (pixels * 4) as u64 >= u64::from(u32::MAX) {
        bail!("{width} x {height} float32 is too large for a classic TIFF");
    }
    let u32_of = |n: usize| u32::try_from(n).context("a TIFF size over 2^32");
    let mut encoder = TiffEncoder::new(out)?;
    let mut dir = encoder.image_directory()?;
    let mut levels: Vec<Level> = overviews.iter().map(|&k| Level::new(width, height, k.max(2), tile)).collect();
    let mut full = Level::new(width, height, 1, tile);
    let mut band = vec![0f32; width * tile];
    for y0 in (0..height).step_by(tile) {
        let rows = tile.min(height - y0);
        field.rows(y0, &mut band[..rows * width]);
        for level in std::iter::once(&mut full).chain(levels.iter_mut()) {
            level.take_rows(&band[..rows * width], width, y0);
            while let Some(cells) = level.full_row_of_tiles() {
                for cell in cells {
                    level.offsets.push(u32_of(usize::try_from(dir.write_data(&cell[..])?)?)?);
                }
            }
        }
    }
    let tags = |dir: &mut tiff::encoder::DirectoryEncoder<'_, _, _>, level: &Level| -> anyhow::Result<()> {
        if level.block > 1 {
            dir.write_tag(Tag::NewSubfileType, 1u32)?;
        }
        dir.write_tag(Tag::ImageWidth, u32_of(level.width)?)?;
        dir.write_tag(Tag::ImageLength, u32_of(level.height)?)?;
        dir.write_tag(Tag::BitsPerSample, 32u16)?;
        dir.write_tag(Tag::Compression, 1u16)?;
        dir.write_tag(Tag::PhotometricInterpretation, 1u16)?;
        dir.write_tag(Tag::SamplesPerPixel, 1u16)?;
        dir.write_tag(Tag::PlanarConfiguration, 1u16)?;
        dir.write_tag(Tag::SampleFormat, 3u16)?;
        dir.write_tag(Tag::TileWidth, u32_of(tile)?)?;
        dir.write_tag(Tag::TileLength, u32_of(tile)?)?;
        dir.write_tag(Tag::TileOffsets, &level.offsets[..])?;
        let counts = vec![u32_of(tile * tile * 4)?; level.offsets.len()];
        dir.write_tag(Tag::TileByteCounts, &counts[..])?;
        Ok(())
    };
    tags(&mut dir, &full)?;
    dir.write_tag(Tag::ModelPixelScaleTag, &[10.0f64, 10.0, 0.0][..])?;
    dir.write_tag(Tag::ModelTiepointTag, &[0.0f64, 0.0, 0.0, 500_000.0, 4_500_000.0, 0.0][..])?;
    // Projected, pixel is area, WGS 84 / UTM zone 18N, metres.
    let keys: [u16; 20] = [1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32618, 3076, 0, 1, 9001];
    dir.write_tag(Tag::GeoKeyDirectoryTag, &keys[..])?;
    dir.finish()?;
    for level in &levels {
        let mut dir = encoder.image_directory()?;
        tags(&mut dir, level)?;
        dir.finish()?;
    }
    Ok(())
}

/// Pixels the tiles of a `width` x `height` image hold at block size `k`.
fn tiled_pixels(width: usize, height: usize, k: usize, tile: usize) -> usize {
    width.div_ceil(k).div_ceil(tile) * height.div_ceil(k).div_ceil(tile) * tile * tile
}

/// One image of the pyramid being written: block size `block` (1 for the full resolution), its
/// rows not yet written as tiles, and its tiles' offsets.
struct Level {
    block: usize,
    width: usize,
    height: usize,
    /// The full-resolution image's height.
    full_height: usize,
    tile: usize,
    /// Rows `done..done + pending.len() / width` of this image.
    pending: Vec<f32>,
    done: usize,
    offsets: Vec<u32>,
}

impl Level {
    fn new(width: usize, height: usize, block: usize, tile: usize) -> Self {
        let full_height = height;
        let (width, height) = (width.div_ceil(block), height.div_ceil(block));
        Self { block, width, height, full_height, tile, pending: Vec::new(), done: 0, offsets: Vec::new() }
    }

    /// Takes this image's rows from full-resolution rows `y0..` in `band` (`full_width` wide): the
    /// centre pixel of each block whose centre row is there.
    fn take_rows(&mut self, band: &[f32], full_width: usize, y0: usize) {
        let rows = band.len() / full_width;
        let k = self.block;
        let centre = |i: usize, n: usize| (i * k + k / 2).min(n - 1);
        let next = self.done + self.pending.len() / self.width;
        for j in next..self.height {
            // Rows come top to bottom: a centre row below this band waits for the next.
            let y = centre(j, self.full_height);
            if y >= y0 + rows {
                break;
            }
            let row = &band[(y - y0) * full_width..(y - y0 + 1) * full_width];
            self.pending.extend((0..self.width).map(|i| row[centre(i, full_width)]));
        }
    }

    /// The tiles of the next row of tiles once all its rows are in (the last one may be short),
    /// padded with zeros.
    fn full_row_of_tiles(&mut self) -> Option<Vec<Vec<f32>>> {
        let have = self.pending.len() / self.width;
        let rows = self.tile.min(self.height - self.done);
        if rows == 0 || have < rows {
            return None;
        }
        let t = self.tile;
        let cells = (0..self.width.div_ceil(t))
            .map(|tx| {
                let (x0, cols) = (tx * t, t.min(self.width - tx * t));
                let mut cell = vec![0f32; t * t];
                for r in 0..rows {
                    let from = r * self.width + x0;
                    cell[r * t..r * t + cols].copy_from_slice(&self.pending[from..from + cols]);
                }
                cell
            })
            .collect();
        self.pending.drain(..rows * self.width);
        self.done += rows;
        Some(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field is smooth (neighbours close) yet varied (a wide range), never constant.
    #[test]
    fn the_field_looks_measured() {
        let (w, h) = (300, 200);
        let field = Field::new(w, h);
        let mut grid = vec![0f32; w * h];
        field.rows(0, &mut grid);
        let (lo, hi) = grid.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(grid.iter().all(|v| v.is_finite()));
        assert!(hi - lo > 20.0, "range {lo}..{hi}");
        let step = grid.windows(2).enumerate().filter(|(i, _)| (i + 1) % w != 0).map(|(_, p)| (p[1] - p[0]).abs());
        let largest = step.fold(0.0, f32::max);
        assert!(largest < (hi - lo) / 4.0, "a jump of {largest} in a range of {}", hi - lo);
    }

    /// A tiled GeoTIFF with partial edge tiles reads back value for value, with its georeferencing.
    #[test]
    fn tiled_geotiff_reads_back() {
        let (w, h, tile) = (150, 70, 64);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tiled.tif");
        let field = Field::new(w, h);
        write_via_part(&path, |f| write_tiled_geotiff(f, (w, h), tile, &[], &field)).expect("write");
        assert!(!dir.path().join("tiled.tif.part").exists());
        let r = crate::io::load(&path, &crate::io::LoadOptions::default()).expect("read back");
        assert_eq!((r.width, r.height, r.band_count()), (w, h, 1));
        assert_eq!(r.meta.dtype, Some(crate::types::SampleType::F32));
        assert_eq!(r.meta.crs.as_deref(), Some("EPSG:32618"));
        assert_eq!(r.meta.transform.map(|t| t.0), Some([500_000.0, 10.0, 0.0, 4_500_000.0, 0.0, -10.0]));
        let mut want = vec![0f32; w * h];
        field.rows(0, &mut want);
        assert_eq!(r.bands[0], want);
    }

    /// The overview streamed a row of tiles at a time is the full read's, block for block (blocks
    /// of 3 across tile edges, partial tiles at the right and bottom).
    #[test]
    fn tiled_geotiff_streams_the_overview_of_its_full_read() {
        let (w, h, tile) = (150, 70, 32);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tiled.tif");
        write_via_part(&path, |f| write_tiled_geotiff(f, (w, h), tile, &[], &Field::new(w, h))).expect("write");
        let options = crate::io::LoadOptions::default();
        let preview = crate::io::preview(&path, &options, 50, &|| false).expect("reads").expect("streams");
        let full = crate::io::load(&path, &options).expect("read back");
        let (small, factor) = crate::stats::downsample_to_fit(&full, 50);
        assert_eq!((preview.factor, factor), (3, 3));
        assert_eq!(preview.overview.bands, small.bands);
        assert_eq!(preview.meta.crs.as_deref(), Some("EPSG:32618"));
        assert_eq!(preview.overview.meta.transform, small.meta.transform);
        // A window read by itself (only the tiles it meets) holds the full read's pixels.
        for window in [[30, 20, 50, 40], [140, 60, 30, 30], [0, 0, 150, 70], [31, 31, 2, 2]] {
            let win = crate::io::read_window(&path, &options, window).expect("reads").expect("by window");
            let expected = crate::stats::window_mean(&full, window, 1);
            assert_eq!((win.width, win.height, &win.bands), (expected.width, expected.height, &expected.bands));
        }
    }

    /// The overviews are reduced-resolution images of the block's centre pixel, tiled, and read as
    /// such by the `tiff` crate; the first image still reads back value for value.
    #[test]
    fn tiled_geotiff_with_overviews_holds_each_blocks_centre_pixel() {
        use tiff::decoder::{Decoder, DecodingResult};
        let (w, h, tile) = (150, 70, 16);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cog.tif");
        let field = Field::new(w, h);
        write_via_part(&path, |f| write_tiled_geotiff(f, (w, h), tile, &[2, 4, 8], &field)).expect("write");
        let r = crate::io::load(&path, &crate::io::LoadOptions::default()).expect("read back");
        let mut want = vec![0f32; w * h];
        field.rows(0, &mut want);
        assert_eq!(r.bands[0], want);
        assert!(r.meta.notes.iter().any(|n| n.contains("3 overview(s)")), "{:?}", r.meta.notes);
        let mut dec = Decoder::new(std::fs::File::open(&path).expect("open")).expect("a TIFF");
        for k in [2usize, 4, 8] {
            dec.next_image().expect("the next overview");
            assert_eq!(dec.find_tag_unsigned::<u32>(tiff::tags::Tag::NewSubfileType).expect("tag"), Some(1));
            let (lw, lh) = (w.div_ceil(k), h.div_ceil(k));
            assert_eq!(dec.dimensions().expect("size"), (lw as u32, lh as u32));
            let DecodingResult::F32(level) = dec.read_image().expect("decodes") else { panic!("f32 samples") };
            for (j, i) in [(0, 0), (lh - 1, lw - 1), (lh / 2, lw / 3)] {
                let (y, x) = ((j * k + k / 2).min(h - 1), (i * k + k / 2).min(w - 1));
                assert_eq!(level[j * lw + i], want[y * w + x], "block {k}: ({i}, {j})");
            }
        }
        assert!(!dec.more_images());
    }

    #[test]
    fn fits_reads_back() {
        let (w, h) = (90, 300);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f.fits");
        let field = Field::new(w, h);
        write_via_part(&path, |f| write_fits(f, w, h, &field)).expect("write");
        assert_eq!(std::fs::metadata(&path).expect("written").len() % 2880, 0);
        let r = crate::io::load(&path, &crate::io::LoadOptions::default()).expect("read back");
        assert_eq!((r.width, r.height, r.meta.unit.as_deref()), (w, h, Some("Jy/beam")));
        let mut want = vec![0f32; w * h];
        field.rows(0, &mut want);
        assert_eq!(r.bands[0], want);
    }

    #[test]
    fn npy_reads_back() {
        let (w, h) = (90, 300);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f.npy");
        let field = Field::new(w, h);
        write_via_part(&path, |f| write_npy(f, w, h, &field)).expect("write");
        let r = crate::io::load(&path, &crate::io::LoadOptions::default()).expect("read back");
        assert_eq!((r.width, r.height), (w, h));
        let mut want = vec![0f32; w * h];
        field.rows(0, &mut want);
        assert_eq!(r.bands[0], want);
    }
}
