//! The one place a GSD comes from: a user override (the spoofing test) first, then the file's own
//! georeferencing, then the estimate; a warning when metadata and estimate disagree by more than
//! 3 sigma. The scale bar, the readout, the CLI and any model that takes a GSD read [`ResolvedGsd`].
//! No candle; any thread.

use super::estimate::{TileEstimate, format_metres};
use crate::types::{PixelSize, PixelUnit};

/// Where the GSD in use came from.
#[derive(Debug, Clone, PartialEq)]
pub enum GsdSource {
    /// Set by the user (overrides everything).
    Override,
    /// The file's georeferencing; the text says which tag.
    Metadata(String),
    /// The estimator (no usable metadata, or metadata ignored).
    Estimate,
}

/// The GSD in use with everything known about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedGsd {
    /// Metres per pixel.
    pub metres: f64,
    pub source: GsdSource,
    /// The metadata value (metres) when there is one, even if not used.
    pub metadata: Option<f64>,
    /// The estimate (log10 m, sigma) when there is one.
    pub estimate: Option<(f64, f64)>,
    /// Metadata and estimate more than 3 sigma apart, or a crop grid that disagrees.
    pub warnings: Vec<String>,
}

impl ResolvedGsd {
    pub fn is_estimated(&self) -> bool {
        self.source == GsdSource::Estimate
    }

    /// "0.52 m (x/÷1.3, 68 %) estimated", "0.50 m metadata", "2.00 m override".
    pub fn badge(&self) -> String {
        match (&self.source, self.estimate) {
            (GsdSource::Estimate, Some((_, sigma))) => {
                format!("{} (x/÷{:.1}, 68 %) estimated", format_metres(self.metres), 10f64.powf(sigma))
            }
            (GsdSource::Metadata(_), _) => format!("{} from metadata", format_metres(self.metres)),
            (GsdSource::Override, _) => format!("{} override", format_metres(self.metres)),
            (GsdSource::Estimate, None) => format!("{} estimated", format_metres(self.metres)),
        }
    }

    /// The source in words, for tooltips and JSON.
    pub fn source_text(&self) -> String {
        match &self.source {
            GsdSource::Override => "user override".into(),
            GsdSource::Metadata(what) => format!("metadata ({what})"),
            GsdSource::Estimate => "estimated from the pixels (no metadata used)".into(),
        }
    }

    /// Why no scale bar may be drawn from this GSD, if none may: an estimate whose 68 % interval spans
    /// more than a factor of [`SCALE_BAR_MAX_SPAN`] (the bar's length would be a guess).
    pub fn scale_bar_refusal(&self) -> Option<String> {
        let (GsdSource::Estimate, Some((mu, sigma))) = (&self.source, self.estimate) else { return None };
        let span = 10f64.powf(2.0 * sigma);
        (span > SCALE_BAR_MAX_SPAN).then(|| {
            format!(
                "no scale bar: the estimated GSD's 68 % interval ({} to {}) spans a factor of {span:.0}",
                format_metres(10f64.powf(mu - sigma)),
                format_metres(10f64.powf(mu + sigma))
            )
        })
    }

    /// A pixel size the scale bar can draw (square pixels of the resolved GSD unless the metadata,
    /// in use, has its own x and y).
    pub fn pixel_size(&self, metadata: Option<&PixelSize>) -> PixelSize {
        match (&self.source, metadata) {
            (GsdSource::Metadata(_), Some(p)) => p.clone(),
            _ => PixelSize {
                x: self.metres,
                y: self.metres,
                unit: PixelUnit::Metres,
                source: self.source_text(),
                approximate: self.source != GsdSource::Override,
            },
        }
    }
}

/// The widest 68 % interval (high end over low end) an estimate may have for a scale bar to be drawn
/// from it.
pub const SCALE_BAR_MAX_SPAN: f64 = 10.0;

/// An estimate in use whose 68 % interval spans more than a factor of 10 (sigma over half a decade)
/// gets a warning, and no scale bar.
pub const UNCERTAIN_SIGMA: f64 = 0.5;

/// Decide the GSD. A sky image (pixel size in arcsec) has none, whatever else is known; `ignore_metadata` forces
/// the estimate; `override_m` wins when positive and finite.
pub fn resolve(
    metadata: Option<&PixelSize>,
    estimate: Option<&TileEstimate>,
    override_m: Option<f64>,
    ignore_metadata: bool,
) -> Option<ResolvedGsd> {
    if metadata.is_some_and(|p| p.unit != PixelUnit::Metres) {
        return None;
    }
    let meta = metadata.filter(|p| p.mean() > 0.0 && p.mean().is_finite());
    let meta_m = meta.map(PixelSize::mean);
    let est = estimate.map(|e| (e.mu, e.sigma));
    let mut warnings = Vec::new();
    if let (Some(m), Some((mu, sigma))) = (meta_m, est) {
        let z = (m.log10() - mu).abs() / sigma.max(1e-6);
        if z > 3.0 {
            warnings.push(format!(
                "metadata says {} but the pixels look like {} ({z:.1} sigma apart): check the georeferencing, or the image was resampled",
                format_metres(m),
                format_metres(10f64.powf(mu))
            ));
        }
    }
    if let Some(e) = estimate.filter(|e| e.disagree) {
        warnings.push(format!(
            "the {} crops disagree (spread x/÷{:.1}): the tile mixes scales or content the estimator does not know",
            e.crops.len(),
            10f64.powf(e.spread)
        ));
    }
    let (metres, source) = match (override_m.filter(|v| *v > 0.0 && v.is_finite()), meta, est) {
        (Some(v), _, _) => (v, GsdSource::Override),
        (None, Some(p), _) if !ignore_metadata => (p.mean(), GsdSource::Metadata(p.source.clone())),
        (None, _, Some((mu, _))) => (10f64.powf(mu), GsdSource::Estimate),
        _ => return None,
    };
    if let (GsdSource::Estimate, Some((mu, sigma))) = (&source, est)
        && sigma > UNCERTAIN_SIGMA
    {
        warnings.push(format!(
            "the estimate is uncertain: 68 % between {} and {}, more than a factor of 10, so no scale bar is drawn from it and distances from it are rough; set an override if you know the GSD",
            format_metres(10f64.powf(mu - sigma)),
            format_metres(10f64.powf(mu + sigma))
        ));
    }
    Some(ResolvedGsd { metres, source, metadata: meta_m, estimate: est, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::gsd::estimate::CropEstimate;

    fn est(mu: f64, sigma: f64) -> TileEstimate {
        let c = CropEstimate { x: 0.0, y: 0.0, mu, sigma };
        TileEstimate::combine(vec![c, c, c], 0).expect("crops")
    }

    fn meta(m: f64) -> PixelSize {
        PixelSize { x: m, y: m, unit: PixelUnit::Metres, source: "GeoTIFF ModelPixelScale".into(), approximate: false }
    }

    #[test]
    fn an_estimate_in_use_that_spans_decades_says_so() {
        let wide = est(0.0, 1.5);
        let r = resolve(None, Some(&wide), None, false).unwrap();
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].starts_with("the estimate is uncertain: 68 % between"), "{}", r.warnings[0]);
        // Not when the estimate is not what is in use, nor when it is tight.
        assert!(resolve(Some(&meta(1.0)), Some(&wide), None, false).unwrap().warnings.is_empty());
        assert!(resolve(None, Some(&wide), Some(2.0), false).unwrap().warnings.is_empty());
        assert!(resolve(None, Some(&est(0.0, 0.3)), None, false).unwrap().warnings.is_empty());
    }

    #[test]
    fn no_scale_bar_from_an_estimate_whose_68_percent_interval_spans_more_than_10x() {
        // sigma 0.6 decades: 68 % from 0.25 m to 4 m, a factor of 16.
        let r = resolve(None, Some(&est(0.0, 0.6)), None, false).unwrap();
        let why = r.scale_bar_refusal().expect("refused");
        assert!(why.contains("0.25 m to 3.98 m") && why.contains("factor of 16"), "{why}");
        assert!(r.warnings[0].contains("no scale bar"), "{:?}", r.warnings);
        // sigma 0.45: a factor of 7.9, the bar is drawn; metadata and overrides always draw it.
        assert!(resolve(None, Some(&est(0.0, 0.45)), None, false).unwrap().scale_bar_refusal().is_none());
        assert!(resolve(Some(&meta(1.0)), Some(&est(0.0, 3.0)), None, false).unwrap().scale_bar_refusal().is_none());
        assert!(resolve(None, Some(&est(0.0, 3.0)), Some(2.0), false).unwrap().scale_bar_refusal().is_none());
    }

    #[test]
    fn override_then_metadata_then_estimate() {
        let e = est(0.0, 0.1);
        let r = resolve(Some(&meta(1.2)), Some(&e), None, false).expect("resolved");
        assert_eq!(r.source, GsdSource::Metadata("GeoTIFF ModelPixelScale".into()));
        assert!(r.warnings.is_empty());
        assert_eq!(r.badge(), "1.20 m from metadata");
        let r = resolve(Some(&meta(1.2)), Some(&e), None, true).expect("resolved");
        assert!(r.is_estimated() && (r.metres - 1.0).abs() < 1e-12);
        assert_eq!(r.badge(), "1.00 m (x/÷1.3, 68 %) estimated");
        let r = resolve(Some(&meta(1.2)), Some(&e), Some(30.0), false).expect("resolved");
        assert_eq!((r.metres, r.source.clone()), (30.0, GsdSource::Override));
        assert!(resolve(None, None, None, false).is_none());
        // A nonsense override is ignored.
        let r = resolve(None, Some(&e), Some(f64::NAN), false).expect("resolved");
        assert!(r.is_estimated());
        // Arcseconds are not a GSD.
        let sky = PixelSize { unit: PixelUnit::Arcsec, ..meta(1.5) };
        assert!(resolve(Some(&sky), None, None, false).is_none());
        assert!(resolve(Some(&sky), Some(&e), Some(3.0), false).is_none());
    }

    #[test]
    fn disagreement_beyond_three_sigma_warns() {
        // 10 m metadata vs a 1 m estimate with sigma 0.2 decades: 5 sigma apart.
        let r = resolve(Some(&meta(10.0)), Some(&est(0.0, 0.2)), None, false).expect("resolved");
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("5.0 sigma"), "{}", r.warnings[0]);
        // 2 m vs 1 m at sigma 0.2: 1.5 sigma, no warning.
        let r = resolve(Some(&meta(2.0)), Some(&est(0.0, 0.2)), None, false).expect("resolved");
        assert!(r.warnings.is_empty());
    }
}
