//! The radio source finder: local background and noise in boxes ([`background`]), islands above a
//! seed threshold grown down to a flood threshold with their flux peaks ([`islands`]), and per island
//! its integrated flux through the beam area, peak, size, orientation and sky position
//! ([`find_sources`]). The same search on the negated image counts islands that can only be noise,
//! the false-detection estimate a catalogue quotes. Pure computation on worker threads (the app's
//! `Part::Sources` job, `heatscope sources`).

mod background;
mod islands;

use std::sync::atomic::AtomicBool;

use serde::Serialize;

pub use background::{BackgroundMap, background_map, lower_rms};
use islands::{RawIsland, Thresholds, islands};

use crate::types::{Raster, sexagesimal};

/// FWHM of a Gaussian over its standard deviation: 2 sqrt(2 ln 2).
const FWHM_PER_SIGMA: f64 = 2.354_820_045_030_949_3;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("band {band} does not exist (the image has {bands})")]
    NoBand { band: usize, bands: usize },
    #[error("no part of the image has enough valid pixels to measure its noise")]
    NoNoise,
    #[error(
        "more than {max} islands above the thresholds: raise the seed and flood thresholds, or check that this is a radio continuum image"
    )]
    TooManyIslands { max: usize },
    #[error(
        "thresholds must satisfy seed >= flood > 0 and prominence >= 0 (got seed {seed}, flood {flood}, prominence {prominence})"
    )]
    BadThresholds { seed: f32, flood: f32, prominence: f32 },
    #[error("cancelled")]
    Cancelled,
    #[error("internal error in the source finder: {0}")]
    Internal(&'static str),
}

/// What to search for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FinderOptions {
    /// An island needs a pixel this many sigma above the local background (default 5).
    pub seed_sigma: f32,
    /// Islands grow down to this many sigma (default 3).
    pub flood_sigma: f32,
    /// A second summit in an island is a peak when it stands this many sigma above the saddle that
    /// joins it to a brighter one (default 3).
    pub prominence_sigma: f32,
    /// Side of the background boxes in pixels; None: 30 beams (at least 32 px, at most the image).
    pub box_px: Option<usize>,
    pub max_islands: usize,
}

impl Default for FinderOptions {
    fn default() -> Self {
        Self { seed_sigma: 5.0, flood_sigma: 3.0, prominence_sigma: 3.0, box_px: None, max_islands: 20_000 }
    }
}

/// A flux peak inside an island.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Peak {
    /// Pixel centre (column, row; row 0 at the top).
    pub x: f64,
    pub y: f64,
    /// Value minus local background (data units).
    pub value: f64,
    pub snr: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ra_deg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dec_deg: Option<f64>,
}

/// One island and what was measured on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Island {
    /// 1-based, brightest first.
    pub id: usize,
    pub pixels: usize,
    /// Pixel bounds [col0, row0, col1, row1], inclusive.
    pub bbox: [usize; 4],
    /// Brightest first; the first is the island's peak.
    pub peaks: Vec<Peak>,
    /// Flux-weighted centroid (column, row).
    pub x: f64,
    pub y: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ra_deg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dec_deg: Option<f64>,
    /// "17:09:39.04 -43:05:10.3", when the image has sky coordinates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    /// Sum of (value - background) over the island's pixels (data units x pixels).
    pub sum: f64,
    /// Integrated flux: `sum` over the beam area in pixels, in the unit with "/beam" dropped (Jy for
    /// Jy/beam); None without a beam, a pixel size or a per-beam unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flux: Option<f64>,
    /// Uncertainty of `flux` from the noise alone: rms sqrt(pixels / beam area).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flux_error: Option<f64>,
    /// FWHM along the major and minor axes from the flux-weighted second moments (pixels), and the
    /// major axis's angle (degrees, counter-clockwise from the +column axis).
    pub major_px: f64,
    pub minor_px: f64,
    pub angle_deg: f64,
    /// The same sizes in arcsec and the position angle east of north, when the image has sky
    /// coordinates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major_arcsec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor_arcsec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pa_deg: Option<f64>,
    /// Pixel indices (row * width + col), ascending: for hit tests and outlines; not written.
    #[serde(skip)]
    pub members: Vec<usize>,
}

impl Island {
    /// Whether pixel (`col`, `row`) belongs to the island.
    pub fn contains(&self, col: usize, row: usize, width: usize) -> bool {
        col >= self.bbox[0]
            && col <= self.bbox[2]
            && row >= self.bbox[1]
            && row <= self.bbox[3]
            && self.members.binary_search(&(row * width + col)).is_ok()
    }

    /// The island's outline as pixel-edge segments (image coordinates, pixel corners at integers).
    pub fn outline(&self, width: usize) -> Vec<[[f32; 2]; 2]> {
        let inside = |c: i64, r: i64| {
            c >= 0
                && r >= 0
                && (c as usize) < width
                && self.members.binary_search(&(r as usize * width + c as usize)).is_ok()
        };
        let mut out = Vec::new();
        for &p in &self.members {
            let (c, r) = ((p % width) as i64, (p / width) as i64);
            let (x, y) = (c as f32, r as f32);
            if !inside(c, r - 1) {
                out.push([[x, y], [x + 1.0, y]]);
            }
            if !inside(c, r + 1) {
                out.push([[x, y + 1.0], [x + 1.0, y + 1.0]]);
            }
            if !inside(c - 1, r) {
                out.push([[x, y], [x, y + 1.0]]);
            }
            if !inside(c + 1, r) {
                out.push([[x + 1.0, y], [x + 1.0, y + 1.0]]);
            }
        }
        out
    }
}

/// The result of a search.
#[derive(Clone, Debug, Serialize)]
pub struct SourceCatalog {
    pub options: FinderOptions,
    pub band: usize,
    pub width: usize,
    pub height: usize,
    pub box_px: usize,
    /// Median local background and noise (data units).
    pub background: f64,
    pub rms: f64,
    pub unit: Option<String>,
    /// Beam area in pixels (`pi / (4 ln 2) BMAJ BMIN` over the pixel area), when known.
    pub beam_area_px: Option<f64>,
    /// Sky area searched (valid pixels), square degrees, when the pixel size is in arcsec.
    pub area_deg2: Option<f64>,
    pub islands: Vec<Island>,
    /// Islands the same search finds on the negated image: noise and artefacts only.
    pub negative_islands: usize,
    /// `negative_islands` per square degree: the expected rate of false islands.
    pub false_per_deg2: Option<f64>,
}

impl SourceCatalog {
    /// The island holding pixel (`col`, `row`), if any.
    pub fn island_at(&self, col: usize, row: usize) -> Option<&Island> {
        self.islands.iter().find(|i| i.contains(col, row, self.width))
    }

    /// Total number of peaks over all islands.
    pub fn peak_count(&self) -> usize {
        self.islands.iter().map(|i| i.peaks.len()).sum()
    }
}

/// Finds the islands of `band`. Every pixel the raster marks invalid (or NaN) is ignored.
pub fn find_sources(
    raster: &Raster,
    band: usize,
    opts: &FinderOptions,
    cancel: &AtomicBool,
) -> Result<SourceCatalog, SourceError> {
    if band >= raster.band_count() {
        return Err(SourceError::NoBand { band: band + 1, bands: raster.band_count() });
    }
    let ok = opts.flood_sigma > 0.0 && opts.seed_sigma >= opts.flood_sigma && opts.prominence_sigma >= 0.0;
    if !ok || !opts.seed_sigma.is_finite() {
        return Err(SourceError::BadThresholds {
            seed: opts.seed_sigma,
            flood: opts.flood_sigma,
            prominence: opts.prominence_sigma,
        });
    }
    let geometry = Geometry::of(raster);
    let fwhm_px = geometry.beam_px.map_or(3.0, |(major, _)| major);
    let box_px = opts.box_px.unwrap_or_else(|| ((30.0 * fwhm_px).round() as usize).max(32));
    let map = background_map(raster, band, box_px, cancel)?;
    let data = &raster.bands[band];
    let significance = |sign: f32| -> Vec<f32> {
        (0..data.len())
            .map(|i| {
                let (b, s) = (map.background[i], map.rms[i]);
                if raster.is_valid(band, i) && data[i].is_finite() && s > 0.0 {
                    sign * (data[i] - b) / s
                } else {
                    f32::NAN
                }
            })
            .collect()
    };
    let thresholds = Thresholds {
        seed: opts.seed_sigma,
        flood: opts.flood_sigma,
        prominence: opts.prominence_sigma,
        max_islands: opts.max_islands,
    };
    let (w, h) = (raster.width, raster.height);
    let snr = significance(1.0);
    let raw = islands(&snr, w, h, &thresholds, cancel)?;
    let negative = islands(&significance(-1.0), w, h, &thresholds, cancel)?.len();
    drop(snr);
    let valid = (0..data.len()).filter(|&i| map.rms[i].is_finite()).count();
    let area_deg2 = geometry.pixel_arcsec.map(|(px, py)| valid as f64 * px * py / 3600f64.powi(2));
    let islands: Vec<Island> =
        raw.into_iter().enumerate().map(|(k, island)| measure(k + 1, island, raster, band, &map, &geometry)).collect();
    Ok(SourceCatalog {
        options: opts.clone(),
        band,
        width: w,
        height: h,
        box_px: map.box_px,
        background: f64::from(median(&map.background)),
        rms: f64::from(map.median_rms()),
        unit: raster.meta.unit.clone(),
        beam_area_px: geometry.beam_area_px,
        area_deg2,
        islands,
        negative_islands: negative,
        false_per_deg2: area_deg2.filter(|&a| a > 0.0).map(|a| negative as f64 / a),
    })
}

/// Pixel scale and beam of the image, as far as its metadata tells.
struct Geometry {
    /// Pixel size (arcsec) along columns and rows.
    pixel_arcsec: Option<(f64, f64)>,
    /// Beam FWHM (major, minor) in pixels.
    beam_px: Option<(f64, f64)>,
    beam_area_px: Option<f64>,
    /// Whether the unit is per beam ("Jy/beam"), so that a sum over the beam area is a flux.
    per_beam: bool,
}

impl Geometry {
    fn of(raster: &Raster) -> Self {
        let meta = &raster.meta;
        let pixel_arcsec = meta
            .pixel_size
            .as_ref()
            .filter(|p| p.unit == crate::types::PixelUnit::Arcsec && p.x > 0.0 && p.y > 0.0)
            .map(|p| (p.x, p.y));
        let beam_px = match (meta.beam, pixel_arcsec) {
            (Some(b), Some((px, py))) if b.major_arcsec > 0.0 && b.minor_arcsec > 0.0 => {
                let scale = (px * py).sqrt();
                Some((b.major_arcsec / scale, b.minor_arcsec / scale))
            }
            _ => None,
        };
        let beam_area_px = beam_px.map(|(a, b)| std::f64::consts::PI / (4.0 * std::f64::consts::LN_2) * a * b);
        let per_beam = meta.unit.as_deref().is_some_and(|u| u.to_ascii_lowercase().replace(' ', "").ends_with("/beam"));
        Self { pixel_arcsec, beam_px, beam_area_px, per_beam }
    }
}

fn measure(id: usize, raw: RawIsland, raster: &Raster, band: usize, map: &BackgroundMap, g: &Geometry) -> Island {
    let w = raster.width;
    let data = &raster.bands[band];
    let excess = |i: usize| f64::from(data[i] - map.background[i]);
    let (mut sum, mut sx, mut sy) = (0.0, 0.0, 0.0);
    let mut bbox = [usize::MAX, usize::MAX, 0, 0];
    let mut noise2 = 0.0;
    for &i in &raw.pixels {
        let (c, r) = (i % w, i / w);
        bbox = [bbox[0].min(c), bbox[1].min(r), bbox[2].max(c), bbox[3].max(r)];
        let v = excess(i).max(0.0);
        sum += excess(i);
        sx += v * c as f64;
        sy += v * r as f64;
        noise2 += f64::from(map.rms[i]).powi(2);
    }
    let weight: f64 = raw.pixels.iter().map(|&i| excess(i).max(0.0)).sum();
    let (x, y) = if weight > 0.0 { (sx / weight, sy / weight) } else { centre(&raw.pixels, w) };
    let (mut cxx, mut cyy, mut cxy) = (0.0, 0.0, 0.0);
    for &i in &raw.pixels {
        let v = excess(i).max(0.0);
        let (dx, dy) = ((i % w) as f64 - x, (i / w) as f64 - y);
        cxx += v * dx * dx;
        cyy += v * dy * dy;
        cxy += v * dx * dy;
    }
    let norm = weight.max(f64::MIN_POSITIVE);
    let (cxx, cyy, cxy) = (cxx / norm, cyy / norm, cxy / norm);
    let half_trace = 0.5 * (cxx + cyy);
    let root = (0.25 * (cxx - cyy).powi(2) + cxy * cxy).sqrt();
    let major_px = FWHM_PER_SIGMA * (half_trace + root).max(0.0).sqrt();
    let minor_px = FWHM_PER_SIGMA * (half_trace - root).max(0.0).sqrt();
    // Angle of the major axis; rows grow downwards, so counter-clockwise on screen is -dy.
    let angle_deg = (-(2.0 * cxy)).atan2(cxx - cyy).to_degrees() / 2.0;
    let wcs = raster.meta.wcs;
    let world = |px: f64, py: f64| wcs.and_then(|w| w.world(px, py));
    let sky = world(x, y);
    let (pa_deg, major_arcsec, minor_arcsec) = match (sky, g.pixel_arcsec) {
        (Some((ra, dec)), Some((px, py))) => {
            let t = angle_deg.to_radians();
            let pa = world(x + t.cos(), y - t.sin()).map(|(ra2, dec2)| position_angle(ra, dec, ra2, dec2));
            let scale = (px * py).sqrt();
            (pa, Some(major_px * scale), Some(minor_px * scale))
        }
        _ => (None, None, None),
    };
    let beams = g.beam_area_px.filter(|_| g.per_beam);
    let peaks = raw
        .peaks
        .iter()
        .map(|&i| {
            let (c, r) = ((i % w) as f64, (i / w) as f64);
            let radec = world(c, r);
            Peak {
                x: c,
                y: r,
                value: excess(i),
                snr: excess(i) / f64::from(map.rms[i]),
                ra_deg: radec.map(|p| p.0),
                dec_deg: radec.map(|p| p.1),
            }
        })
        .collect();
    Island {
        id,
        pixels: raw.pixels.len(),
        bbox,
        peaks,
        x,
        y,
        ra_deg: sky.map(|p| p.0),
        dec_deg: sky.map(|p| p.1),
        position: sky.map(|(ra, dec)| sexagesimal(ra, dec)),
        sum,
        flux: beams.map(|a| sum / a),
        flux_error: beams.map(|a| noise2.sqrt() / a.sqrt()),
        major_px,
        minor_px,
        angle_deg,
        major_arcsec,
        minor_arcsec,
        pa_deg,
        members: raw.pixels,
    }
}

/// A `side` x `side` cutout of `band` centred on pixel (`x`, `y`), as a one-band raster with the
/// image's unit, beam and pixel size and its sky coordinates moved with it; pixels off the image are
/// nodata (NaN). What a model is shown of one source.
pub fn cutout(raster: &Raster, band: usize, x: f64, y: f64, side: usize) -> Raster {
    let side = side.max(1);
    #[allow(clippy::cast_possible_truncation)]
    let (x0, y0) = ((x - side as f64 / 2.0).round() as i64, (y - side as f64 / 2.0).round() as i64);
    let mut data = vec![f32::NAN; side * side];
    let mut valid = vec![false; side * side];
    for r in 0..side {
        for c in 0..side {
            if let Some(v) = raster.value(band, x0 + c as i64, y0 + r as i64) {
                data[r * side + c] = v;
                valid[r * side + c] = v.is_finite();
            }
        }
    }
    let mut meta = raster.meta.clone();
    meta.band_names = raster.meta.band_names.get(band).cloned().into_iter().collect();
    meta.transform = None;
    meta.axes = None;
    meta.notes =
        vec![format!("a {side} x {side} px cutout at column {x0}, row {y0} of {}", raster.meta.path.display())];
    if let Some(w) = meta.wcs.as_mut() {
        // FITS pixel p1 of the cutout is p1 + x0 of the image; rows count up from the bottom, so the
        // cutout's bottom row (FITS row 1) is image FITS row height - (y0 + side) + 1.
        w.crpix[0] -= x0 as f64;
        w.crpix[1] -= raster.height as f64 - (y0 + side as i64) as f64;
        w.height = side;
    }
    let mut out = Raster::new(side, side, vec![data], meta);
    out.valid = Some(valid);
    out
}

fn centre(pixels: &[usize], w: usize) -> (f64, f64) {
    let n = pixels.len().max(1) as f64;
    let (sx, sy) = pixels.iter().fold((0.0, 0.0), |(a, b), &i| (a + (i % w) as f64, b + (i / w) as f64));
    (sx / n, sy / n)
}

/// Position angle (degrees east of north, 0-180) of the direction from (ra1, dec1) to (ra2, dec2).
fn position_angle(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let (d1, d2, dra) = (dec1.to_radians(), dec2.to_radians(), (ra2 - ra1).to_radians());
    let pa = dra.sin().atan2(d1.cos() * d2.tan() - d1.sin() * dra.cos()).to_degrees();
    pa.rem_euclid(180.0)
}

fn median(v: &[f32]) -> f32 {
    let mut s: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f32::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f32::NAN)
}

#[cfg(test)]
mod tests;
