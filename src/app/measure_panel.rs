//! The "Measure" section of the right panel: the tool buttons, the contour levels with their legend,
//! and what was measured on the shape drawn: the profile plot (distance in metres, arcsec or pixels;
//! values in the data's unit) or the region's statistics with its area, each copyable as text. UI
//! thread.

use std::fmt::Write as _;

use egui::RichText;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::HeatscopeApp;
use super::measure::{ContourSet, Drawn, RegionResult, Tool};
use super::measure_view::LEVEL_COLOURS;
use super::slot::Slot;
use crate::stats::region::Profile;
use crate::types::{PixelSize, PixelUnit, fmt_num};

/// The section.
pub fn section(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    let size = physical_size(app);
    egui::CollapsingHeader::new(RichText::new("Measure").heading())
        .id_salt("measure section")
        .default_open(true)
        .show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                for tool in Tool::ALL {
                    ui.selectable_value(&mut app.measure.tool, tool, tool.name())
                        .on_hover_text(format!("{} ({}): {}", tool.name(), tool.key(), tool.hint()));
                }
            });
            ui.add(egui::Label::new(RichText::new(app.measure.tool.hint()).small().weak()).wrap());
            let show = &mut app.measure.show_contours;
            let Some(doc) = app.docs.iter_mut().find(|d| Some(d.id) == app.active) else { return };
            let Some(raster) = doc.loaded.as_ref().map(|l| std::sync::Arc::clone(&l.raster)) else { return };
            let unit = raster.meta.unit.clone().unwrap_or_default();
            ui.separator();
            ui.horizontal(|ui| {
                ui.checkbox(show, "Contours (I)").on_hover_text("Contour lines of the band shown, from the full-resolution data");
                if let Some(levels) = doc.measure.levels.as_mut() {
                    ui.add(egui::TextEdit::singleline(levels).desired_width(140.0).hint_text("-6, 3σ, p95"))
                        .accessible_name("Contour levels")
                        .on_hover_text(
                            "Levels separated by spaces or commas: a value in the data's unit (-6 dB), a multiple of the \
                             noise (3σ or 3s: sigma-clipped median + n standard deviations) or a percentile (p95). \
                             The first level also counts the share above it in region statistics.",
                        );
                }
            });
            if *show {
                contours_status(ui, &mut doc.measure.contours, &unit);
            }
            ui.separator();
            match doc.measure.drawn.clone() {
                None if doc.measure.placing.is_empty() => {
                    ui.weak("Nothing drawn: pick Profile, Box or Polygon and draw on the image.");
                }
                None => {
                    ui.weak(format!("{} corners placed; double-click or Enter closes the polygon.", doc.measure.placing.len()));
                }
                Some(Drawn::Line(..)) => {
                    if let Some((_, profiles)) = &doc.measure.profile {
                        profile_view(ui, profiles, size.as_ref(), &unit);
                    }
                }
                Some(Drawn::Region(_)) => region_view(ui, &mut doc.measure.stats, size.as_ref(), &unit),
            }
            if doc.measure.drawn.is_some() && ui.button("Clear shape").on_hover_text("Esc").clicked() {
                doc.measure.clear_shape();
            }
        });
}

/// The pixel size measurements use: the GSD in use on a ground image, the file's own otherwise.
fn physical_size(app: &HeatscopeApp) -> Option<PixelSize> {
    let raster = &app.active_doc()?.loaded.as_ref()?.raster;
    match app.resolved_gsd() {
        Some(r) if r.scale_bar_refusal().is_none() => Some(r.pixel_size(raster.meta.pixel_size.as_ref())),
        Some(_) => None,
        None => raster.meta.pixel_size.clone(),
    }
}

fn contours_status(ui: &mut egui::Ui, slot: &mut Slot<std::sync::Arc<ContourSet>>, unit: &str) {
    match slot {
        Slot::Loading(p) => {
            let mut cancel = false;
            ui.horizontal(|ui| {
                ui.add(egui::ProgressBar::new(p.fraction).text(format!("tracing {}", p.message)).desired_width(180.0));
                cancel = ui.button("Cancel").clicked();
            });
            if cancel {
                slot.cancel();
            }
        }
        Slot::Failed(why) => {
            ui.add(
                egui::Label::new(RichText::new(format!("contours: {why}")).color(ui.visuals().error_fg_color)).wrap(),
            );
        }
        Slot::Ready(set) => {
            ui.weak(format!("lines of band {}", set.band + 1));
            for (k, level) in set.levels.iter().enumerate() {
                ui.horizontal(|ui| {
                    let (r, _) = ui.allocate_exact_size(egui::vec2(18.0, 10.0), egui::Sense::hover());
                    ui.painter().hline(
                        r.x_range(),
                        r.center().y,
                        egui::Stroke::new(2.0, LEVEL_COLOURS[k % LEVEL_COLOURS.len()]),
                    );
                    let label = level.spec.label();
                    let value = fmt_num(level.value);
                    let text =
                        if label == value { format!("{value} {unit}") } else { format!("{label} = {value} {unit}") };
                    ui.label(format!("{}   {} lines", text.trim(), level.lines.len()));
                });
            }
            if let Some((median, sigma)) = set.noise {
                ui.weak(format!("noise: median {} σ {} {unit} (sigma-clipped)", fmt_num(median), fmt_num(sigma)));
            }
            if set.line_count() == 0 {
                ui.weak("No line: every level lies outside the data's range.");
            }
        }
        Slot::Empty => {}
    }
}

/// Distance along a line in physical units: the factor from pixels and the unit's name.
fn distance_unit(size: Option<&PixelSize>, line: &Profile) -> (f64, &'static str) {
    let Some(p) = size else { return (1.0, "px") };
    let (Some(&[c0, r0]), Some(&[c1, r1])) = (line.pixels.first(), line.pixels.last()) else { return (1.0, "px") };
    // Metres (or arcsec) per pixel along this line's direction.
    #[allow(clippy::cast_precision_loss)]
    let (dx, dy) = ((c1 - c0) as f64, (r1 - r0) as f64);
    let len = dx.hypot(dy);
    let per_px = if len > 0.0 { (dx * p.x).hypot(dy * p.y) / len } else { p.mean() };
    match p.unit {
        PixelUnit::Metres if per_px * line.length >= 10_000.0 => (per_px / 1000.0, "km"),
        PixelUnit::Metres => (per_px, "m"),
        PixelUnit::Arcsec if per_px * line.length >= 7200.0 => (per_px / 3600.0, "deg"),
        PixelUnit::Arcsec if per_px * line.length >= 120.0 => (per_px / 60.0, "arcmin"),
        PixelUnit::Arcsec => (per_px, "arcsec"),
    }
}

fn profile_view(ui: &mut egui::Ui, profiles: &[(String, Profile)], size: Option<&PixelSize>, unit: &str) {
    let Some((_, first)) = profiles.first() else { return };
    let (scale, dist_unit) = distance_unit(size, first);
    let valid: Vec<f32> = profiles.iter().flat_map(|(_, p)| p.values.iter().flatten().copied()).collect();
    let length = first.length * scale;
    ui.label(format!("Profile: {} {dist_unit}, {} samples", fmt_num(length), first.values.len()));
    if valid.is_empty() {
        ui.weak("The line crosses no data.");
        return;
    }
    let colours = [
        egui::Color32::from_rgb(255, 90, 90),
        egui::Color32::from_rgb(90, 220, 90),
        egui::Color32::from_rgb(100, 150, 255),
    ];
    Plot::new("profile plot")
        .height(170.0)
        .x_axis_label(format!("distance ({dist_unit})"))
        .y_axis_label(if unit.is_empty() { "value".to_string() } else { unit.to_string() })
        .legend(Legend::default())
        .show(ui, |plot| {
            for (k, (name, p)) in profiles.iter().enumerate() {
                // One line per run of samples with data (nodata leaves a gap).
                let mut runs: Vec<Vec<[f64; 2]>> = vec![Vec::new()];
                for (d, v) in p.distance.iter().zip(&p.values) {
                    match v {
                        Some(v) => runs.last_mut().map_or((), |r| r.push([d * scale, f64::from(*v)])),
                        None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
                        None => {}
                    }
                }
                for run in runs.into_iter().filter(|r| !r.is_empty()) {
                    let mut line = Line::new(name.clone(), PlotPoints::from(run));
                    if profiles.len() > 1 {
                        line = line.color(colours[k % colours.len()]);
                    }
                    plot.line(line);
                }
            }
        });
    let lo = valid.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = valid.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    ui.label(format!("along the line: min {} max {} {unit}", fmt_num(f64::from(lo)), fmt_num(f64::from(hi))));
    if ui.button("Copy CSV").on_hover_text("distance, pixel and value of every sample, one row each").clicked() {
        ui.ctx().copy_text(profile_csv(profiles, scale, dist_unit));
    }
}

/// The profile as CSV: distance in pixels and in `dist_unit`, column, row, one value column per band
/// (empty for nodata).
pub fn profile_csv(profiles: &[(String, Profile)], scale: f64, dist_unit: &str) -> String {
    let Some((_, first)) = profiles.first() else { return String::new() };
    let mut out = format!("distance_px,distance_{dist_unit},col,row");
    for (name, _) in profiles {
        out += &format!(",{}", crate::eval::csv_field(name));
    }
    out.push('\n');
    for i in 0..first.distance.len() {
        let [c, r] = first.pixels[i];
        let _ = write!(out, "{},{},{c},{r}", first.distance[i], first.distance[i] * scale);
        for (_, p) in profiles {
            out.push(',');
            if let Some(v) = p.values[i] {
                let _ = write!(out, "{v}");
            }
        }
        out.push('\n');
    }
    out
}

/// Area of `pixels` pixels, in km² (m² below 0.01 km²) or arcsec²; None without a pixel size.
pub fn area_text(pixels: usize, size: Option<&PixelSize>) -> Option<String> {
    let p = size?;
    #[allow(clippy::cast_precision_loss)]
    let a = pixels as f64 * p.x * p.y;
    let approx = if p.approximate { "~" } else { "" };
    Some(match p.unit {
        PixelUnit::Metres if a >= 1e4 => format!("{approx}{} km²", fmt_num(a / 1e6)),
        PixelUnit::Metres => format!("{approx}{} m²", fmt_num(a)),
        PixelUnit::Arcsec if a >= 3600.0 * 3600.0 => {
            format!("{approx}{} arcsec² ({} deg²)", fmt_num(a), fmt_num(a / (3600.0 * 3600.0)))
        }
        PixelUnit::Arcsec => format!("{approx}{} arcsec²", fmt_num(a)),
    })
}

fn region_view(ui: &mut egui::Ui, slot: &mut Slot<std::sync::Arc<RegionResult>>, size: Option<&PixelSize>, unit: &str) {
    match slot {
        Slot::Loading(p) => {
            let mut cancel = false;
            ui.horizontal(|ui| {
                ui.add(egui::ProgressBar::new(p.fraction).text("region statistics").desired_width(180.0));
                cancel = ui.button("Cancel").clicked();
            });
            if cancel {
                slot.cancel();
            }
        }
        Slot::Failed(why) => {
            ui.add(
                egui::Label::new(RichText::new(format!("region statistics: {why}")).color(ui.visuals().error_fg_color))
                    .wrap(),
            );
        }
        Slot::Ready(result) => {
            let text = region_text(result, size, unit);
            for line in text.lines() {
                ui.label(RichText::new(line).monospace());
            }
            if ui.button("Copy").on_hover_text("The statistics as text").clicked() {
                ui.ctx().copy_text(text);
            }
        }
        Slot::Empty => {}
    }
}

/// The statistics of a region as the panel shows them (and Copy copies).
pub fn region_text(result: &RegionResult, size: Option<&PixelSize>, unit: &str) -> String {
    let mut out = String::new();
    let Some(pixels) = result.bands.iter().find_map(|(_, s)| s.as_ref().map(|s| s.pixels)) else {
        return "No pixel with data inside the shape.".into();
    };
    let kind = match result.region {
        crate::stats::region::Region::Rect { .. } => "box",
        crate::stats::region::Region::Polygon(_) => "polygon",
    };
    let _ = write!(out, "{kind}: {pixels} px");
    if let Some(area) = area_text(pixels, size) {
        let _ = write!(out, ", area {area}");
    }
    out.push('\n');
    for (name, stats) in &result.bands {
        let Some(s) = stats else {
            let _ = writeln!(out, "{name}: no data inside");
            continue;
        };
        if result.bands.len() > 1 {
            let _ = writeln!(out, "{name}:");
        }
        let u = if unit.is_empty() { String::new() } else { format!(" {unit}") };
        let _ = writeln!(out, "  mean   {}{u}", fmt_num(s.mean));
        let _ = writeln!(out, "  median {}{u}", fmt_num(s.median));
        let _ = writeln!(out, "  p95    {}{u}", fmt_num(s.p95));
        let _ = writeln!(out, "  max    {}{u}", fmt_num(s.max));
        if let (Some((_, share)), Some((label, value))) = (s.above, &result.level) {
            let shown = fmt_num(*value);
            let level = if *label == shown { shown } else { format!("{label} ({shown})") };
            let _ = writeln!(out, "  > {level}: {:.1} %", share * 100.0);
        }
        if s.valid < s.pixels {
            let _ = writeln!(out, "  nodata {} px", s.pixels - s.valid);
        }
    }
    out
}
