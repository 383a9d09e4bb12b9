//! Display-range modes (how the colormap's lo/hi are chosen from a band's statistics) and the
//! rule that every range handed to the renderer is finite with `lo < hi`. Pure functions of
//! [`BandStats`]; cheap enough for the UI thread once the stats exist.

use std::fmt;

use super::BandStats;

/// How the display range is derived from a band's statistics.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RangeMode {
    /// Full data range.
    MinMax,
    /// Percentiles `lo` and `hi`, in percent (e.g. 1 and 99).
    Percentile(f32, f32),
    /// Central `p` percent: from `(100 - p) / 2` to `100 - (100 - p) / 2` percent.
    Symmetric(f32),
    /// IRAF/astropy ZScale limits.
    ZScale,
    /// Fixed limits chosen by the user (ordered and made valid like any other range).
    Manual(f32, f32),
}

impl RangeMode {
    /// The modes offered in the range menu, in menu order ("manual" is entered by dragging or
    /// typing limits, so it carries values and is not listed).
    pub const PRESETS: [RangeMode; 6] = [
        RangeMode::MinMax,
        RangeMode::Percentile(1.0, 99.0),
        RangeMode::Percentile(0.5, 99.5),
        RangeMode::Symmetric(99.7),
        RangeMode::Symmetric(99.9),
        RangeMode::ZScale,
    ];

    /// Name shown to the user: "min-max", "1-99 %", "0.5-99.5 %", "99.7 %", "ZScale", "manual".
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// The (lo, hi) percentiles a percentile mode asks for, clamped to [0, 100] and ordered.
    pub fn percentiles(&self) -> Option<(f32, f32)> {
        let (lo, hi) = match *self {
            RangeMode::Percentile(lo, hi) => (lo, hi),
            RangeMode::Symmetric(p) => {
                let tail = (100.0 - p.clamp(0.0, 100.0)) / 2.0;
                (tail, 100.0 - tail)
            }
            _ => return None,
        };
        let lo = if lo.is_nan() { 0.0 } else { lo.clamp(0.0, 100.0) };
        let hi = if hi.is_nan() { 100.0 } else { hi.clamp(0.0, 100.0) };
        Some((lo.min(hi), lo.max(hi)))
    }
}

impl fmt::Display for RangeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeMode::MinMax => f.write_str("min-max"),
            RangeMode::Percentile(lo, hi) => write!(f, "{lo}-{hi} %"),
            RangeMode::Symmetric(p) => write!(f, "{p} %"),
            RangeMode::ZScale => f.write_str("ZScale"),
            RangeMode::Manual(..) => f.write_str("manual"),
        }
    }
}

impl BandStats {
    /// Display range for `mode`: always finite with `lo < hi`.
    ///
    /// A band without valid pixels gives (0, 1). A mode whose range collapses to one value on a
    /// band that is not constant (e.g. 1-99 % of a mostly-zero band) falls back to min-max; a
    /// constant band gives `v ± max(0.5, |v| / 1024)` (see [`widen`]). Non-finite manual limits
    /// are replaced by the data's min/max.
    pub fn range(&self, mode: RangeMode) -> (f32, f32) {
        if self.count == 0 {
            return match mode {
                RangeMode::Manual(a, b) => widen(a, b).unwrap_or((0.0, 1.0)),
                _ => (0.0, 1.0),
            };
        }
        let (lo, hi) = match mode {
            RangeMode::MinMax => (self.min, self.max),
            RangeMode::Percentile(..) | RangeMode::Symmetric(_) => {
                let (lo, hi) = mode.percentiles().unwrap_or((0.0, 100.0));
                let lo = self.quantile(f64::from(lo) / 100.0);
                let hi = self.quantile(f64::from(hi) / 100.0);
                (lo, hi)
            }
            RangeMode::ZScale => self.zscale,
            RangeMode::Manual(a, b) => {
                let a = if a.is_finite() { a } else { self.min };
                let b = if b.is_finite() { b } else { self.max };
                (a.min(b), a.max(b))
            }
        };
        if lo < hi && lo.is_finite() && hi.is_finite() {
            return (lo, hi);
        }
        let manual = matches!(mode, RangeMode::Manual(..));
        if !manual && self.min < self.max {
            return (self.min, self.max);
        }
        widen(lo, hi).or_else(|| widen(self.min, self.max)).unwrap_or((0.0, 1.0))
    }
}

/// Orders two limits and makes them a usable range: `lo < hi`, both finite. Equal limits `v` become
/// `v ± max(0.5, |v| / 1024)` (relative for large magnitudes, where ±0.5 would round away).
/// None when a limit is not finite.
pub fn widen(a: f32, b: f32) -> Option<(f32, f32)> {
    if !a.is_finite() || !b.is_finite() {
        return None;
    }
    let (lo, hi) = (a.min(b), a.max(b));
    if lo < hi {
        return Some((lo, hi));
    }
    let half = 0.5f32.max(lo.abs() / 1024.0);
    let lo2 = (lo - half).max(f32::MIN);
    let hi2 = (hi + half).min(f32::MAX);
    Some((lo2, hi2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_names() {
        let names: Vec<String> = RangeMode::PRESETS.iter().map(RangeMode::name).collect();
        assert_eq!(names, ["min-max", "1-99 %", "0.5-99.5 %", "99.7 %", "99.9 %", "ZScale"]);
        assert_eq!(RangeMode::Manual(0.0, 3.0).name(), "manual");
    }

    #[test]
    fn symmetric_percentiles() {
        let (lo, hi) = RangeMode::Symmetric(99.7).percentiles().unwrap_or_default();
        assert!((lo - 0.15).abs() < 1e-4 && (hi - 99.85).abs() < 1e-4, "{lo} {hi}");
        assert_eq!(RangeMode::Percentile(99.0, 1.0).percentiles(), Some((1.0, 99.0)));
        assert_eq!(RangeMode::Percentile(-5.0, f32::NAN).percentiles(), Some((0.0, 100.0)));
        assert_eq!(RangeMode::ZScale.percentiles(), None);
    }

    #[test]
    fn widen_rules() {
        assert_eq!(widen(3.0, 3.0), Some((2.5, 3.5)));
        assert_eq!(widen(5.0, 1.0), Some((1.0, 5.0)));
        let (lo, hi) = widen(1e10, 1e10).unwrap_or_default();
        assert!(lo < 1e10 && hi > 1e10);
        let (lo, hi) = widen(f32::MAX, f32::MAX).unwrap_or_default();
        assert!(lo < hi && hi == f32::MAX);
        assert_eq!(widen(f32::NAN, 1.0), None);
    }
}
