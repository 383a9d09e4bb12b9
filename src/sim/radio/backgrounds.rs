//! Real noise for RadioQA-sim: source-free windows of real radio images from a folder
//! (`heatscope data radio --backgrounds DIR`). A MANIFEST.tsv in the folder or its parent (tab
//! separated, column 1 the path relative to the manifest's folder, column 3 the licence) decides
//! which files may feed a dataset: GPL-licensed files are test-only and skipped unless asked for,
//! files the manifest does not list are skipped (licence unknown); without a manifest every file is
//! used. A window is source-free when none of its pixels lies more than 4 sigma from the file's
//! sigma-clipped median (a source above, a deconvolution bowl or stripe below), the mean of every
//! block of 4 x 4 beams in it is within one sigma of that median (no faint large-scale emission) and
//! its rms is within 25 % of sigma;
//! NaN pixels are kept (they make the NaN borders of real cutouts). Files are
//! resampled so their beam falls in the simulated range of 3-6 pixels. Loading and the window
//! search run once on the calling thread; cutting a scene's window runs on the `heatscope-sim-N`
//! threads.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::RadioError;
use super::beam::BeamPx;
use crate::types::{CelestialWcs, PixelUnit};

/// Beam FWHM range (major axis, pixels) of every RadioQA-sim cutout, simulated or real.
pub const BEAM_PX: (f64, f64) = (3.0, 6.0);
/// A window holds no pixel further than this many sigma from the file's sigma-clipped median.
pub const SOURCE_FREE_SIGMA: f64 = 4.0;
/// The mean of every block of 4 x 4 beams in a window lies within this many sigma of the median.
pub const BLOCK_MEAN_SIGMA: f64 = 1.0;
/// A window's rms lies within this factor of the file's sigma (either way).
pub const WINDOW_RMS_FACTOR: f64 = 1.25;
/// A window needs at least this share of finite pixels.
pub const MIN_FINITE_SHARE: f64 = 0.5;

/// One real image that can give backgrounds.
#[derive(Debug)]
pub struct BackgroundFile {
    /// The path as the manifest writes it (else the file name).
    pub name: String,
    pub licence: Option<String>,
    values: Vec<f32>,
    width: usize,
    height: usize,
    /// The file's beam in its own pixels.
    beam: BeamPx,
    pixel_arcsec: f64,
    /// Output pixels per file pixel.
    zoom: f64,
    /// Sigma-clipped noise of the whole file (Jy/beam).
    sigma: f64,
    median: f64,
    wcs: Option<CelestialWcs>,
    /// Top-left corners (file pixels) of the source-free windows.
    windows: Vec<(usize, usize)>,
    window_px: usize,
}

/// What a dataset says about a file it drew backgrounds from (or skipped).
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// Source-free windows found (used files) or why the file was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zoom: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The usable files of a backgrounds folder and what was skipped.
#[derive(Debug, Default)]
pub struct Backgrounds {
    pub files: Vec<BackgroundFile>,
    pub skipped: Vec<FileReport>,
    pub manifest: Option<PathBuf>,
}

/// One scene's real background: the resampled window, its beam and pixel size, and where it lies.
#[derive(Clone, Debug)]
pub struct Cutout {
    pub values: Vec<f32>,
    pub beam: BeamPx,
    pub pixel_arcsec: f64,
    /// Output pixels per file pixel.
    pub zoom: f64,
    pub centre: Option<(f64, f64)>,
}

/// Whether a licence text names a GPL licence (GPL, LGPL, AGPL or "GNU General Public").
pub fn is_gpl(licence: &str) -> bool {
    licence.contains("GPL") || licence.contains("GNU General Public")
}

/// The rows of MANIFEST.tsv: path -> licence.
fn read_manifest(path: &Path) -> Result<Vec<(String, String)>, RadioError> {
    let text = std::fs::read_to_string(path).map_err(|e| RadioError::background(path, e.to_string()))?;
    Ok(text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .enumerate()
        .filter(|(i, l)| !(*i == 0 && l.starts_with("path\t")))
        .filter_map(|(_, l)| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols.len() >= 3).then(|| (cols[0].trim().to_string(), cols[2].trim().to_string()))
        })
        .collect())
}

fn is_fits(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    [".fits", ".fit", ".fts", ".fz"].iter().any(|e| name.ends_with(e))
}

impl Backgrounds {
    /// Read the FITS files of `dir` for `n`-pixel cutouts. GPL files are skipped unless `allow_gpl`.
    ///
    /// # Errors
    /// The folder or its manifest cannot be read, or a file that passes the licence check cannot be
    /// read as an image.
    pub fn load(dir: &Path, n: usize, allow_gpl: bool) -> Result<Backgrounds, RadioError> {
        let entries = std::fs::read_dir(dir).map_err(|e| RadioError::background(dir, e.to_string()))?;
        let mut paths: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.is_file() && is_fits(p)).collect();
        paths.sort();
        let manifest =
            [dir.join("MANIFEST.tsv"), dir.join("..").join("MANIFEST.tsv")].into_iter().find(|p| p.is_file());
        let rows = match &manifest {
            Some(m) => read_manifest(m)?,
            None => Vec::new(),
        };
        let base = manifest.as_ref().and_then(|m| m.parent()).and_then(|p| p.canonicalize().ok());
        let mut out = Backgrounds { manifest: manifest.clone(), ..Backgrounds::default() };
        for path in paths {
            let file_name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let rel = match (&base, path.canonicalize()) {
                (Some(b), Ok(p)) => {
                    p.strip_prefix(b).map(|r| r.to_string_lossy().replace('\\', "/")).unwrap_or(file_name)
                }
                _ => file_name,
            };
            let licence = rows.iter().find(|(p, _)| *p == rel).map(|(_, l)| l.clone());
            let skip = |why: String| FileReport {
                file: rel.clone(),
                licence: licence.clone(),
                windows: None,
                zoom: None,
                skipped: Some(why),
            };
            if manifest.is_some() && licence.is_none() {
                out.skipped.push(skip("not listed in MANIFEST.tsv: licence unknown".into()));
                continue;
            }
            if licence.as_deref().is_some_and(is_gpl) && !allow_gpl {
                out.skipped.push(skip("GPL-licensed: test-only (--allow-gpl-backgrounds uses it)".into()));
                continue;
            }
            match BackgroundFile::read(&path, rel.clone(), licence.clone(), n)? {
                Ok(f) => out.files.push(f),
                Err(why) => out.skipped.push(skip(why)),
            }
        }
        Ok(out)
    }

    /// The per-file lines of `dataset.json`: used files with their windows, then skipped files.
    pub fn report(&self) -> Vec<FileReport> {
        let used = self.files.iter().map(|f| FileReport {
            file: f.name.clone(),
            licence: f.licence.clone(),
            windows: Some(f.windows.len()),
            zoom: Some(f.zoom),
            skipped: None,
        });
        used.chain(self.skipped.iter().cloned()).collect()
    }
}

impl BackgroundFile {
    /// Load one file; the inner `Err` says why a readable file gives no backgrounds.
    fn read(
        path: &Path,
        name: String,
        licence: Option<String>,
        n: usize,
    ) -> Result<Result<BackgroundFile, String>, RadioError> {
        let raster = crate::io::load(path, &crate::io::LoadOptions::default())
            .map_err(|e| RadioError::background(path, e.to_string()))?;
        let (width, height) = (raster.width, raster.height);
        let Some(beam) = raster.meta.beam else { return Ok(Err("no restoring beam (BMAJ/BMIN)".into())) };
        let pixel = raster.meta.pixel_size.as_ref().filter(|p| p.unit == PixelUnit::Arcsec);
        let Some(pixel_arcsec) = pixel.map(crate::types::PixelSize::mean) else {
            return Ok(Err("no angular pixel size (CDELT or CD)".into()));
        };
        let mut values = raster.bands.into_iter().next().unwrap_or_default();
        if let Some(valid) = &raster.valid {
            for (v, ok) in values.iter_mut().zip(valid) {
                if !ok {
                    *v = f32::NAN;
                }
            }
        }
        let beam = BeamPx {
            major: beam.major_arcsec / pixel_arcsec,
            minor: beam.minor_arcsec / pixel_arcsec,
            pa_deg: beam.pa_deg,
        };
        let zoom = if (BEAM_PX.0..=BEAM_PX.1).contains(&beam.major) {
            1.0
        } else {
            beam.major.clamp(BEAM_PX.0, BEAM_PX.1) / beam.major
        };
        let window_px = ((n as f64) / zoom).ceil() as usize + 1;
        let (_, median, sigma) = crate::stats::sigma_clip(&values, 3.0, 10);
        let (median, sigma) = (f64::from(median), f64::from(sigma));
        if !(sigma.is_finite() && sigma > 0.0) {
            return Ok(Err("no noise to measure (constant or empty image)".into()));
        }
        let mut file = BackgroundFile {
            name,
            licence,
            values,
            width,
            height,
            beam,
            pixel_arcsec,
            zoom,
            sigma,
            median,
            wcs: raster.meta.wcs,
            windows: Vec::new(),
            window_px,
        };
        file.windows = file.source_free_windows();
        if file.windows.is_empty() {
            return Ok(Err(format!("no source-free window of {window_px} x {window_px} file pixels")));
        }
        Ok(Ok(file))
    }

    /// Source-free window corners (module docs) on a grid of a quarter window, at least half finite.
    fn source_free_windows(&self) -> Vec<(usize, usize)> {
        let (w, n) = (self.window_px, self.width);
        if w > self.width || w > self.height {
            return Vec::new();
        }
        let (lo, hi) = (self.median - SOURCE_FREE_SIGMA * self.sigma, self.median + SOURCE_FREE_SIGMA * self.sigma);
        let stride = (w / 4).max(4);
        let mut out = Vec::new();
        for y0 in (0..=self.height - w).step_by(stride) {
            for x0 in (0..=self.width - w).step_by(stride) {
                let (mut finite, mut sum, mut sum2, mut clean) = (0usize, 0f64, 0f64, true);
                for row in y0..y0 + w {
                    for &v in &self.values[row * n + x0..row * n + x0 + w] {
                        if v.is_finite() {
                            let v = f64::from(v);
                            finite += 1;
                            sum += v;
                            sum2 += v * v;
                            clean &= (lo..=hi).contains(&v);
                        }
                    }
                }
                if !clean || (finite as f64) < MIN_FINITE_SHARE * (w * w) as f64 {
                    continue;
                }
                let mean = sum / finite as f64;
                let rms = (sum2 / finite as f64 - mean * mean).max(0.0).sqrt();
                let noise_like = rms <= WINDOW_RMS_FACTOR * self.sigma && rms * WINDOW_RMS_FACTOR >= self.sigma;
                if noise_like && self.blocks_flat(x0, y0) {
                    out.push((x0, y0));
                }
            }
        }
        out
    }

    /// Whether every block of 4 x 4 beams of the window at (`x0`, `y0`) that is at least half finite
    /// has its mean within [`BLOCK_MEAN_SIGMA`] of the median.
    fn blocks_flat(&self, x0: usize, y0: usize) -> bool {
        let block = ((4.0 * self.beam.major).ceil() as usize).max(8);
        let count = self.window_px / block;
        (0..count * count).all(|k| {
            let (bx, by) = (x0 + (k % count) * block, y0 + (k / count) * block);
            let (mut finite, mut sum) = (0usize, 0f64);
            for row in by..by + block {
                for &v in
                    self.values[row * self.width + bx..row * self.width + bx + block].iter().filter(|v| v.is_finite())
                {
                    finite += 1;
                    sum += f64::from(v);
                }
            }
            2 * finite < block * block || (sum / finite as f64 - self.median).abs() <= BLOCK_MEAN_SIGMA * self.sigma
        })
    }

    pub fn windows(&self) -> usize {
        self.windows.len()
    }

    /// Window `k`, resampled bilinearly to `n` x `n` pixels (a NaN neighbour with weight makes NaN).
    pub fn cutout(&self, k: usize, n: usize) -> Cutout {
        let (x0, y0) = self.windows[k.min(self.windows.len() - 1)];
        let sample = |sx: f64, sy: f64| -> f32 {
            let (fx, fy) = (sx.floor(), sy.floor());
            let (tx, ty) = (sx - fx, sy - fy);
            let mut acc = 0f64;
            for (dx, wx) in [(0usize, 1.0 - tx), (1, tx)] {
                for (dy, wy) in [(0usize, 1.0 - ty), (1, ty)] {
                    let wgt = wx * wy;
                    if wgt <= 1e-12 {
                        continue;
                    }
                    let (x, y) = ((fx as usize + dx).min(self.width - 1), (fy as usize + dy).min(self.height - 1));
                    acc += wgt * f64::from(self.values[y * self.width + x]);
                }
            }
            acc as f32
        };
        let at = |o: usize, origin: usize| origin as f64 + (o as f64 + 0.5) / self.zoom - 0.5;
        let values = (0..n * n).map(|i| sample(at(i % n, x0).max(0.0), at(i / n, y0).max(0.0))).collect();
        let centre = self.wcs.and_then(|w| w.world(at(n / 2, x0), at(n / 2, y0)));
        let beam =
            BeamPx { major: self.beam.major * self.zoom, minor: self.beam.minor * self.zoom, pa_deg: self.beam.pa_deg };
        Cutout { values, beam, pixel_arcsec: self.pixel_arcsec / self.zoom, zoom: self.zoom, centre }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpl_licences_are_recognised() {
        assert!(is_gpl("GPL-3.0-or-later (SKA-INAF/caesar repo)"));
        assert!(is_gpl("LGPL-2.1"));
        assert!(!is_gpl("AFL-3.0 (PaulHancock/Aegean repo, Academic Free License 3.0)"));
        assert!(!is_gpl("MIT"));
    }
}
