//! The readout under the image: the inspected pixel's position, raw value, displayed value and
//! colour, its size and its map, sky or axis coordinates. UI thread.

use egui::{RichText, Sense, Vec2};

use super::document::Document;
use super::panels::fmt_num;
use crate::render::colormap::{lut_index, stretch};

/// Where the pixel size the scale bar and readout use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SizeOrigin {
    /// The file's own pixel size or GSD metadata.
    File,
    Estimate,
    Override,
}

impl SizeOrigin {
    pub(super) fn note(self) -> &'static str {
        match self {
            Self::File => "",
            Self::Estimate => " (estimated)",
            Self::Override => " (override)",
        }
    }
}

/// Text for the inspected pixel: position, raw value with unit, displayed value and colour, pixel
/// size and map coordinates where known. The colour is computed with the shader's CPU reference.
/// `pixel` is within the image; `value(band, pixel)` is its raw value (None for nodata).
pub(super) fn readout(
    ui: &mut egui::Ui,
    doc: &Document,
    pixel: Option<[i64; 2]>,
    meta: &crate::types::RasterMeta,
    value: &dyn Fn(usize, [i64; 2]) -> Option<f32>,
    size: Option<&(crate::types::PixelSize, SizeOrigin)>,
) {
    let Some([col, row]) = pixel else {
        ui.weak("Hover over the image to read a pixel; click to pin it, arrows to step.");
        return;
    };
    let s = &doc.settings;
    let unit = meta.unit.as_deref().unwrap_or("");
    let mut line = format!("row {row}, col {col}");
    let mut swatch = None;
    if s.rgb_mode {
        let vals: Vec<String> =
            s.rgb.iter().map(|&b| value(b, [col, row]).map_or("nodata".into(), |v| fmt_num(f64::from(v)))).collect();
        line += &format!("   R,G,B = {} {unit}", vals.join(", "));
    } else {
        match value(s.band, [col, row]) {
            Some(v) => {
                let t = stretch(v, s.lo[0], s.hi[0], s.scale);
                let rgba = s.colormap.table()[lut_index(t)];
                swatch = Some(egui::Color32::from_rgb(rgba[0], rgba[1], rgba[2]));
                let shown = match s.scale.axis_value(v) {
                    Some(a) if s.scale == crate::render::Scale::Db => format!("   ({} dB)", fmt_num(f64::from(a))),
                    _ => String::new(),
                };
                line += &format!(
                    "   value {} {unit}{shown} -> {:.1} % #{:02x}{:02x}{:02x}",
                    fmt_num(f64::from(v)),
                    t * 100.0,
                    rgba[0],
                    rgba[1],
                    rgba[2]
                );
            }
            None => line += "   nodata",
        }
    }
    let mut second = String::new();
    if let Some((p, origin)) = size {
        let approx = if p.approximate { "~" } else { "" };
        let note = origin.note();
        if *origin == SizeOrigin::Estimate {
            // An estimate is good to a factor, not to six digits.
            second += &format!("pixel ~{}{note}", crate::models::gsd::format_metres(p.x));
        } else {
            second += &format!("pixel {approx}{} x {} {}{note}", fmt_num(p.x), fmt_num(p.y), p.unit.symbol());
        }
    }
    if let Some(t) = &meta.transform {
        let (x, y) = t.apply(col as f64 + 0.5, row as f64 + 0.5);
        let crs = meta.crs.as_deref().unwrap_or("map");
        second += &format!("   centre {x:.2}, {y:.2} ({crs})");
    }
    if let Some((ra, dec)) = meta.wcs.as_ref().and_then(|w| w.world(col as f64, row as f64)) {
        second += &format!("   RA, Dec {}", crate::types::sexagesimal(ra, dec));
    }
    // A spectrogram's physical axes (a dynamic spectrum: time across, frequency down).
    if let Some(a) = &meta.axes {
        let (x, y) = (a.x.at(col as f64), a.y.at(row as f64));
        second += &format!("   {} {} {}, {} {} {}", a.x.name, fmt_num(x), a.x.unit, a.y.name, fmt_num(y), a.y.unit);
    }
    ui.horizontal(|ui| {
        if let Some(c) = swatch {
            let (r, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
            ui.painter().rect_filled(r, 2.0, c);
        }
        ui.label(RichText::new(line).monospace());
    });
    if !second.is_empty() {
        ui.label(RichText::new(second).monospace().weak());
    }
}
