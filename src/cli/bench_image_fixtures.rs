//! The files `heatscope bench view --make-fixtures DIR` writes: a 20000 x 20000 float32 GeoTIFF in
//! 512 x 512 tiles (UTM 18N, 10 m pixels) and an 8192 x 8192 float32 `.npy`, both holding a field
//! that looks measured: smooth value noise over four scales, three hot spots and a winding ridge
//! on a gentle slope. Written a band of rows at a time (a band of tiles for the TIFF, rows computed
//! on rayon's threads), so the whole array is never in memory, into a `.part` file renamed when
//! complete. Runs on the CLI thread.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rayon::prelude::*;

/// The TIFF fixture's name, side and tile side; the `.npy` fixture's name and side.
pub const TIFF_NAME: &str = "big_20000.tif";
pub const TIFF_SIDE: usize = 20_000;
pub const TIFF_TILE: usize = 512;
pub const NPY_NAME: &str = "big_8192.npy";
pub const NPY_SIDE: usize = 8192;

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

/// Write the two fixtures into `dir` where missing; their paths.
pub fn make(dir: &Path) -> anyhow::Result<[PathBuf; 2]> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tiff = dir.join(TIFF_NAME);
    if !tiff.is_file() {
        eprintln!("writing {} ({TIFF_SIDE} x {TIFF_SIDE} float32, {TIFF_TILE} px tiles) ...", tiff.display());
        let field = Field::new(TIFF_SIDE, TIFF_SIDE);
        write_via_part(&tiff, |f| write_tiled_geotiff(f, TIFF_SIDE, TIFF_SIDE, TIFF_TILE, &field))?;
    }
    let npy = dir.join(NPY_NAME);
    if !npy.is_file() {
        eprintln!("writing {} ({NPY_SIDE} x {NPY_SIDE} float32) ...", npy.display());
        let field = Field::new(NPY_SIDE, NPY_SIDE);
        write_via_part(&npy, |f| write_npy(f, NPY_SIDE, NPY_SIDE, &field))?;
    }
    Ok([tiff, npy])
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

/// A float32 GeoTIFF of `field` in `tile` x `tile` tiles (edge tiles padded with zeros), with a
/// 10 m pixel scale, a tie point at (500000, 4500000) and EPSG:32618, written one band of tiles at a
/// time. Classic TIFF: the data must stay under 4 GiB.
pub fn write_tiled_geotiff<W: Write + std::io::Seek>(
    out: &mut W,
    width: usize,
    height: usize,
    tile: usize,
    field: &Field,
) -> anyhow::Result<()> {
    use tiff::encoder::TiffEncoder;
    use tiff::tags::Tag;
    let across = width.div_ceil(tile);
    let down = height.div_ceil(tile);
    if (across * down * tile * tile * 4) as u64 >= u64::from(u32::MAX) {
        bail!("{width} x {height} float32 is too large for a classic TIFF");
    }
    let u32_of = |n: usize| u32::try_from(n).context("a TIFF size over 2^32");
    let mut encoder = TiffEncoder::new(out)?;
    let mut dir = encoder.image_directory()?;
    let (mut offsets, mut counts) = (Vec::with_capacity(across * down), Vec::with_capacity(across * down));
    let mut band = vec![0f32; width * tile];
    let mut cell = vec![0f32; tile * tile];
    for ty in 0..down {
        let rows = tile.min(height - ty * tile);
        field.rows(ty * tile, &mut band[..rows * width]);
        for tx in 0..across {
            let (x0, cols) = (tx * tile, tile.min(width - tx * tile));
            cell.fill(0.0);
            for r in 0..rows {
                cell[r * tile..r * tile + cols].copy_from_slice(&band[r * width + x0..r * width + x0 + cols]);
            }
            offsets.push(u32_of(usize::try_from(dir.write_data(&cell[..])?)?)?);
            counts.push(u32_of(tile * tile * 4)?);
        }
    }
    dir.write_tag(Tag::ImageWidth, u32_of(width)?)?;
    dir.write_tag(Tag::ImageLength, u32_of(height)?)?;
    dir.write_tag(Tag::BitsPerSample, 32u16)?;
    dir.write_tag(Tag::Compression, 1u16)?;
    dir.write_tag(Tag::PhotometricInterpretation, 1u16)?;
    dir.write_tag(Tag::SamplesPerPixel, 1u16)?;
    dir.write_tag(Tag::PlanarConfiguration, 1u16)?;
    dir.write_tag(Tag::SampleFormat, 3u16)?;
    dir.write_tag(Tag::TileWidth, u32_of(tile)?)?;
    dir.write_tag(Tag::TileLength, u32_of(tile)?)?;
    dir.write_tag(Tag::TileOffsets, &offsets[..])?;
    dir.write_tag(Tag::TileByteCounts, &counts[..])?;
    dir.write_tag(Tag::ModelPixelScaleTag, &[10.0f64, 10.0, 0.0][..])?;
    dir.write_tag(Tag::ModelTiepointTag, &[0.0f64, 0.0, 0.0, 500_000.0, 4_500_000.0, 0.0][..])?;
    // Projected, pixel is area, WGS 84 / UTM zone 18N, metres.
    let keys: [u16; 20] = [1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32618, 3076, 0, 1, 9001];
    dir.write_tag(Tag::GeoKeyDirectoryTag, &keys[..])?;
    dir.finish()?;
    Ok(())
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
        write_via_part(&path, |f| write_tiled_geotiff(f, w, h, tile, &field)).expect("write");
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
        write_via_part(&path, |f| write_tiled_geotiff(f, w, h, tile, &Field::new(w, h))).expect("write");
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
