//! The training images of the GSD estimator: every readable image in a folder, its ground truth GSD
//! (the file's own georeferencing, else the `gsd_m` column of a `MANIFEST.tsv` beside the folder or
//! in it), the licence filter (no share-alike imagery, no imagery of undocumented provenance), the
//! images left out and why, and scenes (images of overlapping ground in the same UTM zone are one
//! scene, so leave-one-scene-out never scores a model on ground it trained on). Any thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::crops::{Plane, Pyramid};
use crate::io::{LoadOptions, load};
use crate::types::{PixelUnit, Raster};

/// GSDs the estimator is trained and scored over (metres); images outside are left out.
pub const GSD_RANGE_M: (f64, f64) = (0.01, 1000.0);

/// One training image.
#[derive(Debug, Clone)]
pub struct SourceImage {
    pub name: String,
    pub path: PathBuf,
    /// Ground sampling distance of a native pixel in metres.
    pub gsd_m: f64,
    /// Where the number came from.
    pub gsd_source: String,
    pub licence: String,
    pub scene: String,
    pub pyramid: Pyramid,
    /// Pyramids of the two opponent-colour planes of a colour image (same levels as `pyramid`).
    pub chroma: Option<(Pyramid, Pyramid)>,
}

impl SourceImage {
    pub fn log_gsd(&self) -> f64 {
        self.gsd_m.log10()
    }
}

/// A file in the folder that is not used, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Excluded {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read the folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("no usable training images in {0} (every file was left out or unreadable; see --verbose)")]
    Empty(PathBuf),
}

/// A row of MANIFEST.tsv that matters here.
#[derive(Debug, Clone, Default)]
struct ManifestRow {
    licence: String,
    gsd_text: String,
}

/// Rows keyed by file name, from `dir/MANIFEST.tsv` or `dir/../MANIFEST.tsv` (paths in it may carry a
/// folder prefix such as `rs/`).
fn read_manifest(dir: &Path) -> BTreeMap<String, ManifestRow> {
    let mut rows = BTreeMap::new();
    for candidate in [dir.join("MANIFEST.tsv"), dir.join("..").join("MANIFEST.tsv")] {
        let Ok(text) = std::fs::read_to_string(&candidate) else { continue };
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
        let col = |name: &str| header.iter().position(|h| *h == name);
        let (Some(p), Some(l), Some(g)) = (col("path"), col("licence"), col("gsd_m")) else { continue };
        for line in lines {
            let f: Vec<&str> = line.split('\t').collect();
            let (Some(path), Some(licence), Some(gsd)) = (f.get(p), f.get(l), f.get(g)) else { continue };
            let name = Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path).to_string();
            rows.insert(name, ManifestRow { licence: licence.to_string(), gsd_text: gsd.to_string() });
        }
        break;
    }
    rows
}

/// The number a `gsd_m` text starts with ("0.1 (package docs ...)" -> 0.1).
fn leading_number(text: &str) -> Option<f64> {
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-')).unwrap_or(text.len());
    text[..end].parse().ok().filter(|v: &f64| v.is_finite() && *v > 0.0)
}

/// Why a licence keeps an image out of the shipped weights, if it does.
pub fn licence_problem(licence: &str) -> Option<&'static str> {
    let l = licence.to_ascii_lowercase();
    if l.contains("by-sa") || l.contains("sharealike") || l.contains("share-alike") {
        return Some("share-alike imagery (CC BY-SA): the weights would carry its terms");
    }
    if l.contains("not documented") || l.contains("undocumented") {
        return Some("imagery provenance undocumented");
    }
    None
}

/// "UTM 18N" from "EPSG:32618" or "user-defined: UTM Zone 18, Northern Hemisphere"; other CRS text as is.
fn crs_key(crs: &str) -> String {
    let digits: String = crs.chars().filter(|c| c.is_ascii_digit()).collect();
    if let Some(code) = crs.strip_prefix("EPSG:").and_then(|c| c.parse::<u32>().ok()) {
        if (32601..=32660).contains(&code) {
            return format!("UTM {}N", code - 32600);
        }
        if (32701..=32760).contains(&code) {
            return format!("UTM {}S", code - 32700);
        }
    }
    let lower = crs.to_ascii_lowercase();
    if lower.contains("utm zone") && !digits.is_empty() {
        let hemi = if lower.contains("south") { 'S' } else { 'N' };
        return format!("UTM {}{hemi}", digits.trim_start_matches('0'));
    }
    crs.to_string()
}

/// Ground footprint (min x, min y, max x, max y) in CRS units.
fn footprint(r: &Raster) -> Option<[f64; 4]> {
    let t = r.meta.transform?;
    let corners = [(0.0, 0.0), (r.width as f64, 0.0), (0.0, r.height as f64), (r.width as f64, r.height as f64)];
    let pts: Vec<(f64, f64)> = corners.iter().map(|&(c, w)| t.apply(c, w)).collect();
    let fold = |f: fn(f64, f64) -> f64, init: f64, pick: fn(&(f64, f64)) -> f64| pts.iter().map(pick).fold(init, f);
    Some([
        fold(f64::min, f64::INFINITY, |p| p.0),
        fold(f64::min, f64::INFINITY, |p| p.1),
        fold(f64::max, f64::NEG_INFINITY, |p| p.0),
        fold(f64::max, f64::NEG_INFINITY, |p| p.1),
    ])
}

fn overlaps(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// The ground truth GSD of a raster in metres and its source; Err says why there is none usable.
fn truth(r: &Raster, row: Option<&ManifestRow>) -> Result<(f64, String), String> {
    if let Some(note) = row.map(|m| m.gsd_text.to_ascii_lowercase()).filter(|t| t.contains("oversampled")) {
        return Err(format!("pixel spacing is not the detail scale ({})", note.trim()));
    }
    if let Some(p) = r.meta.pixel_size.as_ref().filter(|p| p.unit == PixelUnit::Metres) {
        let anisotropy = (p.x / p.y).max(p.y / p.x);
        if anisotropy > 1.05 {
            return Err(format!("non-square pixels ({:.1} x {:.1} m)", p.x, p.y));
        }
        return Ok((p.mean(), p.source.clone()));
    }
    match row.and_then(|m| leading_number(&m.gsd_text).map(|v| (v, m.gsd_text.clone()))) {
        Some((v, text)) => Ok((v, format!("MANIFEST.tsv gsd_m: {text}"))),
        None => Err("no georeferencing and no gsd_m in a MANIFEST.tsv".into()),
    }
}

/// Every usable image in `dir` (sorted by name) with the files left out and why. `min_side` is the
/// crop side: smaller images are left out.
pub fn discover(dir: &Path, min_side: usize) -> Result<(Vec<SourceImage>, Vec<Excluded>), DataError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DataError::Folder { path: dir.into(), source })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    paths.sort();
    let manifest = read_manifest(dir);
    let mut images: Vec<SourceImage> = Vec::new();
    let mut excluded = Vec::new();
    let mut footprints: Vec<(String, Option<[f64; 4]>)> = Vec::new();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        if !["tif", "tiff", "png", "jpg", "jpeg", "jp2", "j2k"].contains(&ext.as_str()) {
            continue;
        }
        let row = manifest.get(&name);
        let licence = row.map(|m| m.licence.clone()).unwrap_or_default();
        let mut skip = |reason: String| excluded.push(Excluded { name: name.clone(), reason });
        if let Some(why) = licence_problem(&licence) {
            skip(why.into());
            continue;
        }
        let raster = match load(&path, &LoadOptions::default()) {
            Ok(r) => r,
            Err(e) => {
                skip(format!("unreadable: {e}"));
                continue;
            }
        };
        let (gsd_m, gsd_source) = match truth(&raster, row) {
            Ok(t) => t,
            Err(why) => {
                skip(why);
                continue;
            }
        };
        if !(GSD_RANGE_M.0..=GSD_RANGE_M.1).contains(&gsd_m) {
            skip(format!("GSD {gsd_m:.4} m is outside the {}-{} m range", GSD_RANGE_M.0, GSD_RANGE_M.1));
            continue;
        }
        if raster.width.min(raster.height) < min_side {
            skip(format!("smaller than a {min_side}-pixel crop"));
            continue;
        }
        let pyramid = Pyramid::new(Plane::luminance(&raster), min_side);
        let usable = (0..25).any(|k| {
            let (fx, fy) = ((k % 5) as f64 / 4.0, (k / 5) as f64 / 4.0);
            pyramid.crop(1.0, min_side, fx, fy).is_some_and(|c| super::crops::standardize(&c).is_ok())
        });
        if !usable {
            skip(format!("no {min_side}-pixel crop of it is textured with less than 2 % no data (gaps or flat)"));
            continue;
        }
        let crs = raster.meta.crs.as_deref().map(crs_key);
        let fp = footprint(&raster);
        // Same scene as an earlier image when the CRS (UTM zone) matches and the footprints overlap.
        let scene = (0..images.len())
            .find(|&i| {
                let (c, f) = &footprints[i];
                crs.as_deref() == Some(c.as_str()) && matches!((f, &fp), (Some(a), Some(b)) if overlaps(a, b))
            })
            .map(|i| images[i].scene.clone())
            .unwrap_or_else(|| path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string());
        footprints.push((crs.unwrap_or_default(), fp));
        let chroma = Plane::chroma(&raster).map(|(a, b)| (Pyramid::new(a, min_side), Pyramid::new(b, min_side)));
        images.push(SourceImage { name, path, gsd_m, gsd_source, licence, scene, pyramid, chroma });
    }
    if images.is_empty() {
        return Err(DataError::Empty(dir.into()));
    }
    Ok((images, excluded))
}

/// Scene names in first-seen order.
pub fn scenes(images: &[SourceImage]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for img in images {
        if !out.contains(&img.scene) {
            out.push(img.scene.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_numbers_and_licences() {
        assert_eq!(leading_number("0.1 (package docs: NEON 10 cm RGB)"), Some(0.1));
        assert_eq!(leading_number("3004.2 x 3034.2 (ModelPixelScale)"), Some(3004.2));
        assert_eq!(leading_number(""), None);
        assert!(licence_problem("Apache-2.0 (solaris repo); imagery from SpaceNet, CC BY-SA 4.0").is_some());
        assert!(licence_problem("Apache-2.0 (solaris repo); sensor/provider not documented").is_some());
        assert!(licence_problem("CC BY 4.0 (Umbra Space Open Data Program)").is_none());
        assert!(licence_problem("MIT (deepforest package); NEON data policy CC0 1.0").is_none());
    }

    #[test]
    fn utm_zones_match_across_spellings() {
        assert_eq!(crs_key("EPSG:32618"), "UTM 18N");
        assert_eq!(crs_key("user-defined: UTM Zone 18, Northern Hemisphere"), "UTM 18N");
        assert_eq!(crs_key("EPSG:32759"), "UTM 59S");
        assert_eq!(crs_key("EPSG:3857"), "EPSG:3857");
    }
}
