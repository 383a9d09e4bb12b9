//! Physical axes for a NumPy array from a JSON file beside it (`<name>_axes.json`): what turns a
//! bare `.npy` spectrogram into one with frequency and time. Two forms are read:
//!
//! - per-pixel lists named `rows_<quantity>_<unit>` and `cols_<quantity>_<unit>`
//!   (e.g. `"rows_freq_mhz": [1581.6, 1580.8, ...]`, one value per row or column);
//! - `{"x": {"name": "time", "unit": "min", "start": 0.2, "step": 0.53}, "y": {...}}`, where an
//!   axis may give `"values": [...]` instead of `start` and `step`.
//!
//! `"zero_means": "<why>"` marks exact zeros as no data. A sidecar that does not fit the array is
//! ignored with a note; it never stops the image from opening. Runs on worker threads.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::types::{Axes, Axis, Raster};

/// The sidecar of `array`: `<stem>_axes.json`, else `<prefix>_axes.json` for ever shorter
/// underscore-separated prefixes of the stem (`p1_flux_freq_x_time.npy` finds `p1_axes.json`).
pub fn find(array: &Path) -> Option<PathBuf> {
    let dir = array.parent()?;
    let stem = array.file_stem()?.to_str()?;
    let mut prefix = stem;
    loop {
        let candidate = dir.join(format!("{prefix}_axes.json"));
        if candidate.is_file() {
            return Some(candidate);
        }
        prefix = &prefix[..prefix.rfind('_')?];
    }
}

/// Reads the sidecar of `raster` (loaded from `array`) if there is one, and applies it.
pub fn attach(array: &Path, raster: &mut Raster) {
    let Some(path) = find(array) else { return };
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let applied = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| format!("not JSON ({e})")))
        .and_then(|json| apply(&json, raster));
    match applied {
        Ok(()) => raster.meta.notes.push(format!("axes from {name}")),
        Err(why) => raster.meta.notes.push(format!("axes file {name} ignored: {why}")),
    }
}

/// Applies a parsed sidecar to `raster`.
fn apply(json: &Value, raster: &mut Raster) -> Result<(), String> {
    let obj = json.as_object().ok_or("not a JSON object")?;
    let (w, h) = (raster.width, raster.height);
    let x = axis(obj, "x", "cols_", w)?;
    let y = axis(obj, "y", "rows_", h)?;
    let (x, y) = match (x, y) {
        (Some(x), Some(y)) => (x, y),
        (None, None) => return Err("no axes in it (expected rows_* and cols_* lists, or x and y)".into()),
        // One axis given: the other counts pixels.
        (x, y) => (
            x.unwrap_or_else(|| Axis::linear("column", "pixel", 0.0, 1.0)),
            y.unwrap_or_else(|| Axis::linear("row", "pixel", 0.0, 1.0)),
        ),
    };
    raster.meta.axes = Some(Axes { x, y });
    if let Some(why) = obj.get("zero_means").and_then(Value::as_str) {
        let mut zeros = 0usize;
        let valid = raster.valid.get_or_insert_with(|| vec![true; w * h]);
        for (i, ok) in valid.iter_mut().enumerate() {
            if raster.bands.iter().all(|b| b.get(i) == Some(&0.0)) {
                *ok = false;
                zeros += 1;
            }
        }
        raster
            .meta
            .notes
            .push(format!("{zeros} zero samples shown as nodata (the axes file says zero means \"{why}\")"));
    }
    Ok(())
}

/// The axis of `len` pixels named by `key` ("x"/"y" object) or a `prefix` list key.
fn axis(obj: &Map<String, Value>, key: &str, prefix: &str, len: usize) -> Result<Option<Axis>, String> {
    if let Some(spec) = obj.get(key).and_then(Value::as_object) {
        let text = |k: &str| spec.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (name, unit) = (text("name"), text("unit"));
        let name = if name.is_empty() { if key == "x" { "x" } else { "y" }.to_string() } else { name };
        if let Some(values) = spec.get("values") {
            return table(&format!("{key}.values"), values, &name, &unit, len).map(Some);
        }
        let number = |k: &str| spec.get(k).and_then(Value::as_f64).filter(|v| v.is_finite());
        return match (number("start"), number("step")) {
            (Some(start), Some(step)) if step != 0.0 => Ok(Some(Axis::linear(&name, &unit, start, step))),
            _ => Err(format!("{key} needs values, or a start and a non-zero step")),
        };
    }
    let Some((k, values)) = obj.iter().find(|(k, v)| k.starts_with(prefix) && v.is_array()) else {
        return Ok(None);
    };
    let (name, unit) = name_and_unit(&k[prefix.len()..]);
    table(k, values, &name, &unit, len).map(Some)
}

fn table(key: &str, values: &Value, name: &str, unit: &str, len: usize) -> Result<Axis, String> {
    let list = values.as_array().ok_or_else(|| format!("{key} is not a list"))?;
    if list.len() != len {
        return Err(format!("{key} has {} values where the image has {len}", list.len()));
    }
    let numbers: Option<Vec<f64>> = list.iter().map(Value::as_f64).collect();
    let numbers = numbers.ok_or_else(|| format!("{key} holds something other than numbers"))?;
    Axis::tabulated(name, unit, numbers).ok_or_else(|| format!("{key} is not finite and strictly monotonic"))
}

/// `freq_mhz` -> ("frequency", "MHz"); `time_min` -> ("time", "min"); a lone word has no unit.
fn name_and_unit(rest: &str) -> (String, String) {
    let (name, unit) = match rest.rsplit_once('_') {
        Some((n, u)) => (n.replace('_', " "), u.to_string()),
        None => (rest.to_string(), String::new()),
    };
    let name = match name.as_str() {
        "freq" => "frequency".to_string(),
        "t" => "time".to_string(),
        _ => name,
    };
    let unit = match unit.to_ascii_lowercase().as_str() {
        "hz" => "Hz".to_string(),
        "khz" => "kHz".to_string(),
        "mhz" => "MHz".to_string(),
        "ghz" => "GHz".to_string(),
        "sec" | "s" => "s".to_string(),
        "jy" => "Jy".to_string(),
        "mjy" => "mJy".to_string(),
        "db" => "dB".to_string(),
        _ => unit,
    };
    (name, unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RasterMeta;

    fn raster(w: usize, h: usize) -> Raster {
        let mut band = vec![1.0; w * h];
        band[0] = 0.0;
        Raster::new(w, h, vec![band], RasterMeta::default())
    }

    #[test]
    fn row_and_column_lists_become_tabulated_axes_and_zeros_nodata() {
        let mut r = raster(3, 2);
        let json = serde_json::json!({
            "rows_freq_mhz": [1400.0, 1399.5],
            "cols_time_min": [0.2, 0.7, 1.3],
            "zero_means": "RFI-flagged"
        });
        apply(&json, &mut r).unwrap_or_else(|e| panic!("{e}"));
        let axes = r.meta.axes.as_ref().unwrap_or_else(|| panic!("axes"));
        assert_eq!((axes.y.name.as_str(), axes.y.unit.as_str()), ("frequency", "MHz"));
        assert_eq!((axes.x.name.as_str(), axes.x.unit.as_str()), ("time", "min"));
        assert!((axes.x.at(1.5) - 1.0).abs() < 1e-12, "interpolated between the listed centres");
        assert!((axes.x.index_of(1.0) - 1.5).abs() < 1e-12);
        assert!((axes.y.index_of(1399.75) - 0.5).abs() < 1e-12, "a falling axis inverts too");
        assert_eq!(r.valid.as_deref(), Some(&[false, true, true, true, true, true][..]));
    }

    #[test]
    fn the_explicit_form_and_wrong_sidecars() {
        let mut r = raster(4, 2);
        let json = serde_json::json!({"x": {"name": "time", "unit": "s", "start": 0.0, "step": 10.0},
                                      "y": {"name": "frequency", "unit": "GHz", "values": [1.0, 2.0]}});
        assert_eq!(apply(&json, &mut r), Ok(()));
        assert_eq!(r.meta.axes.as_ref().map(|a| a.x.at(2.0)), Some(20.0));
        let short = serde_json::json!({"rows_freq_mhz": [1.0, 2.0, 3.0]});
        assert!(apply(&short, &mut raster(4, 2)).is_err_and(|e| e.contains("3 values where the image has 2")));
        let flat = serde_json::json!({"cols_time_s": [1.0, 1.0, 2.0, 3.0]});
        assert!(apply(&flat, &mut raster(4, 2)).is_err_and(|e| e.contains("monotonic")));
        assert!(apply(&serde_json::json!({"a": 1}), &mut raster(4, 2)).is_err());
        assert!(apply(&serde_json::json!([1]), &mut raster(4, 2)).is_err());
    }

    #[test]
    fn the_sidecar_is_found_by_ever_shorter_prefixes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let array = dir.path().join("p1_084944_flux_freq_x_time.npy");
        assert_eq!(find(&array), None);
        std::fs::write(dir.path().join("p1_084944_axes.json"), "{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find(&array), Some(dir.path().join("p1_084944_axes.json")));
        std::fs::write(dir.path().join("p1_084944_flux_freq_x_time_axes.json"), "{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find(&array), Some(dir.path().join("p1_084944_flux_freq_x_time_axes.json")));
    }
}
