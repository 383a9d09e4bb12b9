//! The one sentence that tells a VLM the ground sampling distance (ScaleEarth's "GSD as text" arm), used
//! by the app's chat ("tell the model the GSD"), `heatscope ask --tell-gsd M` and every point of a
//! spoofing sweep (`backend::gsd_sweep`). The template, word for word:
//!
//! ```text
//! The ground sampling distance of this image is {GSD} per pixel ({SOURCE}).
//! ```
//!
//! `{GSD}` is metres with three significant digits, trailing zeros dropped, whole metres from 100 m up
//! ("0.6 m", "0.0316 m", "15.8 m", "1000 m"); metres always, so the unit never changes along a sweep.
//! `{SOURCE}` says where the number came from:
//! - the file's georeferencing: `from the file's georeferencing`
//! - the estimator: `estimated from the pixels; 68 % interval {LOW} to {HIGH}` (the estimate's 1-sigma
//!   interval, mu -/+ sigma in log10 metres, each number as `{GSD}`)
//! - a user override: `set by the user`
//! - a number given on the command line or a sweep point: no parenthesis at all, the sentence ends
//!   after "per pixel", so the points of a sweep differ only in the number.
//!
//! The sentence goes before the question in the last user turn, separated by one space. Any thread.

use crate::models::gsd::{GsdSource, ResolvedGsd};
use crate::models::vlm::{Message, Part};

/// Where a stated GSD came from, as the sentence words it.
#[derive(Clone, Debug, PartialEq)]
pub enum GsdBasis {
    /// The file's georeferencing.
    Metadata,
    /// The estimator, with its 68 % interval in metres.
    Estimate { low_m: f64, high_m: f64 },
    /// The user's override in the app.
    Override,
    /// A number given as it is (`--tell-gsd`, a sweep point): no source named.
    Stated,
}

/// A GSD to put into a prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct GsdStatement {
    pub metres: f64,
    pub basis: GsdBasis,
}

impl GsdStatement {
    /// A number given as it is (a sweep point, `--tell-gsd`).
    pub fn stated(metres: f64) -> Self {
        Self { metres, basis: GsdBasis::Stated }
    }

    /// What the app's resolver decided: its value, source and (for an estimate) 68 % interval.
    pub fn resolved(r: &ResolvedGsd) -> Self {
        let basis = match (&r.source, r.estimate) {
            (GsdSource::Metadata(_), _) => GsdBasis::Metadata,
            (GsdSource::Override, _) => GsdBasis::Override,
            (GsdSource::Estimate, Some((mu, sigma))) => {
                GsdBasis::Estimate { low_m: 10f64.powf(mu - sigma), high_m: 10f64.powf(mu + sigma) }
            }
            // An estimate without its interval (never made by the resolver): say no more than the number.
            (GsdSource::Estimate, None) => GsdBasis::Stated,
        };
        Self { metres: r.metres, basis }
    }

    /// The sentence of the module doc's template.
    pub fn sentence(&self) -> String {
        let gsd = format_gsd(self.metres);
        let source = match &self.basis {
            GsdBasis::Metadata => Some("from the file's georeferencing".to_string()),
            GsdBasis::Estimate { low_m, high_m } => Some(format!(
                "estimated from the pixels; 68 % interval {} to {}",
                format_gsd(*low_m),
                format_gsd(*high_m)
            )),
            GsdBasis::Override => Some("set by the user".to_string()),
            GsdBasis::Stated => None,
        };
        match source {
            Some(s) => format!("The ground sampling distance of this image is {gsd} per pixel ({s})."),
            None => format!("The ground sampling distance of this image is {gsd} per pixel."),
        }
    }
}

/// Metres as the sentence writes them: three significant digits with trailing zeros dropped, whole
/// metres from 100 m up, always in metres ("0.6 m", "0.0316 m", "15.8 m", "1000 m").
pub fn format_gsd(metres: f64) -> String {
    if !(metres.is_finite() && metres > 0.0) {
        return format!("{metres} m");
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let decimals = (2.0 - metres.log10().floor()).max(0.0) as usize;
    let mut text = format!("{metres:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text} m")
}

/// Put `sentence` before the question: the first text of the last user turn (a text part of its own
/// when that turn has none).
pub fn prepend(messages: &mut [Message], sentence: &str) {
    let Some(turn) = messages.iter_mut().rev().find(|m| m.role == "user") else { return };
    match turn.parts.iter_mut().find_map(|p| match p {
        Part::Text(t) => Some(t),
        Part::Image => None,
    }) {
        Some(text) => *text = format!("{sentence} {text}"),
        None => turn.parts.push(Part::Text(sentence.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_three_figures_in_metres() {
        let cases = [
            (0.6, "0.6 m"),
            (0.01, "0.01 m"),
            (0.031_622_776, "0.0316 m"),
            (0.5999, "0.6 m"),
            (2.5, "2.5 m"),
            (15.848_93, "15.8 m"),
            (99.99, "100 m"),
            (158.489, "158 m"),
            (1000.0, "1000 m"),
            (12_345.6, "12346 m"),
        ];
        for (m, text) in cases {
            assert_eq!(format_gsd(m), text, "{m}");
        }
    }

    #[test]
    fn each_source_has_its_wording() {
        let meta = GsdStatement { metres: 0.6, basis: GsdBasis::Metadata };
        assert_eq!(
            meta.sentence(),
            "The ground sampling distance of this image is 0.6 m per pixel (from the file's georeferencing)."
        );
        let est = GsdStatement { metres: 0.6, basis: GsdBasis::Estimate { low_m: 0.3, high_m: 1.2 } };
        assert_eq!(
            est.sentence(),
            "The ground sampling distance of this image is 0.6 m per pixel (estimated from the pixels; 68 % interval 0.3 m to 1.2 m)."
        );
        assert_eq!(
            GsdStatement { metres: 2.0, basis: GsdBasis::Override }.sentence(),
            "The ground sampling distance of this image is 2 m per pixel (set by the user)."
        );
        assert_eq!(
            GsdStatement::stated(31.622_776).sentence(),
            "The ground sampling distance of this image is 31.6 m per pixel."
        );
    }

    #[test]
    fn the_resolver_decides_the_wording() {
        let r = |source: GsdSource, estimate: Option<(f64, f64)>| ResolvedGsd {
            metres: 0.6,
            source,
            metadata: Some(0.6),
            estimate,
            warnings: Vec::new(),
        };
        let from_meta = GsdStatement::resolved(&r(GsdSource::Metadata("GeoTIFF".into()), Some((0.0, 0.3))));
        assert_eq!(from_meta.basis, GsdBasis::Metadata, "metadata in use: the estimate is not mentioned");
        let est = GsdStatement::resolved(&r(GsdSource::Estimate, Some((0.6f64.log10(), 2f64.log10()))));
        let GsdBasis::Estimate { low_m, high_m } = est.basis else { panic!("{est:?}") };
        assert!((low_m - 0.3).abs() < 1e-3 && (high_m - 1.2).abs() < 1e-3, "{low_m} {high_m}");
        assert!(est.sentence().contains("68 % interval 0.3 m to 1.2 m"), "{}", est.sentence());
        assert_eq!(GsdStatement::resolved(&r(GsdSource::Override, None)).basis, GsdBasis::Override);
    }

    #[test]
    fn the_sentence_goes_before_the_question_of_the_last_user_turn() {
        let mut messages = vec![
            Message::user(vec![Part::Image, Part::Text("an example".into())]),
            Message { role: "assistant".into(), parts: vec![Part::Text("yes".into())] },
            Message::user(vec![Part::Image, Part::Text("How wide is the road?".into())]),
        ];
        prepend(&mut messages, "GSD 1 m.");
        assert_eq!(messages[2].parts[1], Part::Text("GSD 1 m. How wide is the road?".into()));
        assert_eq!(messages[0].parts[1], Part::Text("an example".into()), "earlier turns stay as they were");
        let mut image_only = vec![Message::user(vec![Part::Image])];
        prepend(&mut image_only, "GSD 1 m.");
        assert_eq!(image_only[0].parts, vec![Part::Image, Part::Text("GSD 1 m.".into())]);
    }
}
