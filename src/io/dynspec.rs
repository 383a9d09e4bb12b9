//! Pulsar dynamic spectra as psrflux writes them (`.dynspec` text: `#` header lines with the flux
//! units and MJD, then one line per sample: `isub ichan time(min) freq(MHz) flux flux_err`). The raster
//! has time across (one column per sub-integration) and frequency down (one row per channel, in the
//! file's channel order), the flux as its band, samples flagged as exactly zero as nodata, and the
//! time and frequency axes with their units. Sizes are checked before the grid is allocated; a line
//! that does not parse, an index out of range or a sample given twice is an error naming the line.

use std::path::Path;

use super::{IoError, LoadOptions};
use crate::types::{Axes, Axis, Raster, RasterMeta};

/// Whether `head` starts a psrflux dynamic spectrum.
pub(super) fn is_dynspec(head: &[u8]) -> bool {
    head.starts_with(b"# Dynamic spectr")
}

/// One sample line.
struct Sample {
    isub: usize,
    ichan: usize,
    time: f64,
    freq: f64,
    flux: f32,
}

fn parse_line(line: &str) -> Option<Sample> {
    let mut it = line.split_whitespace();
    let isub = it.next()?.parse().ok()?;
    let ichan = it.next()?.parse().ok()?;
    let time = it.next()?.parse().ok()?;
    let freq = it.next()?.parse().ok()?;
    let flux = it.next()?.parse::<f64>().ok()? as f32;
    Some(Sample { isub, ichan, time, freq, flux })
}

pub(super) fn read(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<Raster, IoError> {
    let text = String::from_utf8_lossy(bytes);
    let mut unit = None;
    let mut notes = Vec::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix('#') {
            let h = h.trim();
            if let Some(u) = h.strip_prefix("Flux units:") {
                unit = Some(u.trim().to_string());
            } else if let Some(m) = h.strip_prefix("MJD0:") {
                notes.push(format!("start MJD {}", m.trim()));
            }
            continue;
        }
        let s = parse_line(line).ok_or_else(|| {
            IoError::corrupt(path, format!("line {}: not \"isub ichan time freq flux flux_err\": {line:.60}", n + 1))
        })?;
        samples.push((n + 1, s));
    }
    if samples.is_empty() {
        return Err(IoError::corrupt(path, "the dynamic spectrum has no samples"));
    }
    let nsub = samples.iter().map(|(_, s)| s.isub).max().unwrap_or(0) + 1;
    let nchan = samples.iter().map(|(_, s)| s.ichan).max().unwrap_or(0) + 1;
    // A lying index (a huge isub) would ask for a huge grid: the limits say no first.
    opts.check(path, nsub as u64, nchan as u64, 1, bytes.len() as u64)?;
    let mut flux = vec![f32::NAN; nsub * nchan];
    let mut seen = vec![false; nsub * nchan];
    let mut times = vec![f64::NAN; nsub];
    let mut freqs = vec![f64::NAN; nchan];
    for (line, s) in &samples {
        let i = s.ichan * nsub + s.isub;
        if std::mem::replace(&mut seen[i], true) {
            return Err(IoError::corrupt(
                path,
                format!("line {line}: sub-integration {} channel {} given twice", s.isub, s.ichan),
            ));
        }
        // psrflux writes flagged (RFI-zapped) samples as exactly zero.
        flux[i] = if s.flux == 0.0 { f32::NAN } else { s.flux };
        times[s.isub] = s.time;
        freqs[s.ichan] = s.freq;
    }
    let missing = seen.iter().filter(|&&v| !v).count();
    if missing > 0 {
        notes.push(format!("{missing} samples missing from the file (shown as nodata)"));
    }
    let flagged = samples.iter().filter(|(_, s)| s.flux == 0.0).count();
    if flagged > 0 {
        notes.push(format!("{flagged} samples flagged (zero flux) shown as nodata"));
    }
    let axis = |values: &[f64], name: &str, unit: &str| -> Axis {
        let known: Vec<(usize, f64)> = values.iter().copied().enumerate().filter(|(_, v)| v.is_finite()).collect();
        let (first, last) = (known.first().copied().unwrap_or((0, 0.0)), known.last().copied().unwrap_or((0, 0.0)));
        let step = if last.0 > first.0 { (last.1 - first.1) / (last.0 - first.0) as f64 } else { 0.0 };
        Axis::linear(name, unit, first.1 - step * first.0 as f64, step)
    };
    let axes = Axes { x: axis(&times, "time", "min"), y: axis(&freqs, "frequency", "MHz") };
    notes.push(format!(
        "{nsub} sub-integrations x {nchan} channels; frequency {:.3} -> {:.3} MHz, time {:.3} -> {:.3} min",
        axes.y.at(0.0),
        axes.y.at((nchan - 1) as f64),
        axes.x.at(0.0),
        axes.x.at((nsub - 1) as f64)
    ));
    let meta = RasterMeta {
        format: "psrflux dynamic spectrum".into(),
        unit,
        band_names: vec!["flux".into()],
        axes: Some(axes),
        notes,
        ..RasterMeta::default()
    };
    let valid: Vec<bool> = flux.iter().map(|v| v.is_finite()).collect();
    let mut raster = Raster::new(nsub, nchan, vec![flux], meta);
    raster.valid = Some(valid);
    Ok(raster)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# Dynamic spectrum computed by psrflux\n# Flux units: ReferenceFluxDensity\n# MJD0: 55915.36\n\
        # isub ichan time(min) freq(MHz) flux flux_err\n\
           0 0 0.20 1581.6 +1.5e+00 0\n   0 1 0.20 1580.8 +0.0e+00 0\n   0 2 0.20 1580.0 2.5 0\n\
           1 0 0.73 1581.6 3.0 0\n   1 1 0.73 1580.8 4.0 0\n   1 2 0.73 1580.0 5.0 0\n";

    #[test]
    fn a_dynamic_spectrum_has_time_across_frequency_down_and_flagged_samples_as_nodata() {
        let r = read(Path::new("d.dynspec"), TEXT.as_bytes(), &LoadOptions::default()).expect("read");
        assert_eq!((r.width, r.height), (2, 3));
        assert_eq!(r.value(0, 0, 0), Some(1.5));
        assert_eq!(r.value(0, 1, 2), Some(5.0));
        assert_eq!(r.value(0, 0, 1), None, "zero flux is flagged");
        let a = r.meta.axes.as_ref().expect("axes");
        assert!((a.x.at(1.0) - 0.73).abs() < 1e-9 && (a.y.at(2.0) - 1580.0).abs() < 1e-9, "{a:?}");
        assert_eq!((a.x.unit.as_str(), a.y.unit.as_str()), ("min", "MHz"));
        assert_eq!(r.meta.unit.as_deref(), Some("ReferenceFluxDensity"));
        assert!(is_dynspec(TEXT.as_bytes()));
    }

    #[test]
    fn broken_lines_twice_given_samples_and_lying_indices_are_errors() {
        let p = Path::new("d.dynspec");
        let bad = TEXT.replace("1 2 0.73 1580.0 5.0 0", "1 2 zero");
        assert!(read(p, bad.as_bytes(), &LoadOptions::default()).expect_err("bad").to_string().contains("line 10"));
        let twice = TEXT.replace("1 2 0.73", "1 1 0.73");
        assert!(
            read(p, twice.as_bytes(), &LoadOptions::default()).expect_err("twice").to_string().contains("given twice")
        );
        let huge = TEXT.replace("1 2 0.73", "4000000000 2 0.73");
        let e = read(p, huge.as_bytes(), &LoadOptions::default()).expect_err("huge");
        assert!(matches!(e, IoError::TooLarge { .. } | IoError::OverBudget { .. }), "{e}");
        assert!(read(p, b"# Dynamic spectrum\n", &LoadOptions::default()).is_err());
    }
}
