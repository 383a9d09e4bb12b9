//! Right panel: how the active image is displayed: band or RGB composite, colormap, scale, range
//! rule per channel, a histogram to drag limits on, sampling and the nodata colour. Every control
//! changes only the view uniform; nothing here re-uploads the image. UI thread.

use egui::{Color32, RichText};
use egui_plot::{Bar, BarChart, Plot, VLine};

use super::HeatscopeApp;
use super::document::Document;
use super::panels::fmt_num;
use super::slot::Slot;
use crate::render::{Colormap, Scale};
use crate::stats::RangeMode;

pub fn show(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    // The whole column scrolls: a long answer or chat history never pushes Display out of the window,
    // and each section folds away.
    egui::Panel::right("display").exact_size(310.0).show(ui, |ui| {
        egui::ScrollArea::vertical().id_salt("right column").auto_shrink(false).show(ui, |ui| {
            super::gsd::panel(app, ui);
            super::cnn::panel(app, ui);
            super::chat_view::panel(app, ui);
            if app.presenting {
                return;
            }
            super::sources::section(app, ui);
            super::annotations::section(app, ui);
            super::measure_panel::section(app, ui);
            egui::CollapsingHeader::new(RichText::new("Display").heading())
                .id_salt("display section")
                .default_open(true)
                .show(ui, |ui| display_section(app, ui));
        });
    });
}

/// The "Display" section: band or RGB composite, colormap, scale, sampling, nodata colour, range.
fn display_section(app: &mut HeatscopeApp, ui: &mut egui::Ui) {
    let defaults = &mut app.persisted.defaults;
    let Some(doc) = app.docs.iter_mut().find(|d| Some(d.id) == app.active) else {
        ui.weak("No image open.");
        return;
    };
    let Some(bands) = doc.loaded.as_ref().map(|l| l.raster.band_count()) else {
        match &doc.status {
            super::DocStatus::Failed(why) => {
                ui.label(
                    RichText::new(format!("This image could not be opened: {why}")).color(ui.visuals().error_fg_color),
                );
            }
            _ => {
                ui.weak("Waiting for the image…");
            }
        }
        return;
    };
    let before = doc.settings.clone();
    let before_range = doc.range;
    channels(ui, doc, bands);
    egui::Grid::new("display grid").num_columns(2).show(ui, |ui| {
                ui.label("Colormap");
                ui.add_enabled_ui(!doc.settings.rgb_mode, |ui| {
                    egui::ComboBox::from_id_salt("colormap")
                        .selected_text(doc.settings.colormap.name())
                        .show_ui(ui, |ui| {
                            for c in Colormap::ALL {
                                ui.selectable_value(&mut doc.settings.colormap, c, c.name());
                            }
                        })
                        .response
                        .accessible_name("Colormap");
                });
                ui.end_row();
                ui.label("Scale").on_hover_text("How values between the limits map onto the colormap. dB shows 10 log10 of linear power; its limits are in dB.");
                egui::ComboBox::from_id_salt("scale")
                    .selected_text(doc.settings.scale.name())
                    .show_ui(ui, |ui| {
                        for s in Scale::ALL {
                            ui.selectable_value(&mut doc.settings.scale, s, s.name());
                        }
                    })
                    .response
                    .accessible_name("Scale");
                ui.end_row();
                ui.label("Sampling");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut doc.settings.bilinear, false, "nearest");
                    ui.radio_value(&mut doc.settings.bilinear, true, "bilinear");
                });
                ui.end_row();
                ui.label("Nodata colour");
                let [r, g, b, a] = doc.settings.nan_color;
                let mut c = Color32::from_rgba_unmultiplied(r, g, b, a);
                if ui.color_edit_button_srgba(&mut c).changed() {
                    doc.settings.nan_color = c.to_srgba_unmultiplied();
                }
                ui.end_row();
            });
    ui.separator();
    let slots = if doc.settings.rgb_mode { 3 } else { 1 };
    for slot in 0..slots {
        range_controls(ui, doc, slot);
    }
    let scale_changed = doc.settings.scale != before.scale;
    let channels_changed =
        doc.settings.band != before.band || doc.settings.rgb != before.rgb || doc.settings.rgb_mode != before.rgb_mode;
    if scale_changed || channels_changed || doc.range != before_range {
        if scale_changed {
            // Manual limits live on the old axis; fall back to the preset rule.
            for r in &mut doc.range {
                if matches!(r, RangeMode::Manual(..)) {
                    *r = RangeMode::Percentile(0.5, 99.5);
                }
            }
        }
        doc.apply_ranges();
    }
    // The choices a user makes become the defaults of the next image (and the next run).
    let s = &doc.settings;
    (defaults.colormap, defaults.scale, defaults.bilinear, defaults.nan_color) =
        (s.colormap, s.scale, s.bilinear, s.nan_color);
}

fn channels(ui: &mut egui::Ui, doc: &mut Document, bands: usize) {
    let name = |doc: &Document, b: usize| {
        doc.loaded
            .as_ref()
            .and_then(|l| l.raster.meta.band_names.get(b).cloned())
            .unwrap_or_else(|| format!("band {}", b + 1))
    };
    if bands >= 3 {
        ui.checkbox(&mut doc.settings.rgb_mode, "RGB composite")
            .on_hover_text("Show three bands as red, green and blue, each with its own range");
    }
    if doc.settings.rgb_mode {
        for (slot, label) in ["R", "G", "B"].into_iter().enumerate() {
            ui.horizontal(|ui| {
                ui.label(label);
                let current = name(doc, doc.settings.rgb[slot]);
                egui::ComboBox::from_id_salt(("rgb band", slot))
                    .selected_text(current)
                    .show_ui(ui, |ui| {
                        for b in 0..bands {
                            let n = name(doc, b);
                            ui.selectable_value(&mut doc.settings.rgb[slot], b, n);
                        }
                    })
                    .response
                    .accessible_name(format!("{label} band"));
            });
        }
    } else if bands > 1 {
        ui.horizontal(|ui| {
            ui.label("Band");
            let current = name(doc, doc.settings.band);
            egui::ComboBox::from_id_salt("band")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for b in 0..bands {
                        let n = name(doc, b);
                        ui.selectable_value(&mut doc.settings.band, b, n);
                    }
                })
                .response
                .accessible_name("Band");
        });
    }
}

/// Range rule, limits and histogram of one channel.
fn range_controls(ui: &mut egui::Ui, doc: &mut Document, slot: usize) {
    let band = doc.channels()[slot];
    let title = if doc.settings.rgb_mode { ["Red", "Green", "Blue"][slot].to_string() } else { "Range".to_string() };
    ui.label(RichText::new(title).strong());
    ui.horizontal(|ui| {
        let mode = doc.range[slot];
        egui::ComboBox::from_id_salt(("range", slot))
            .selected_text(mode.name())
            .show_ui(ui, |ui| {
                for preset in RangeMode::PRESETS {
                    ui.selectable_value(&mut doc.range[slot], preset, preset.name());
                }
            })
            .response
            .on_hover_text("How the limits follow from the band's statistics")
            .accessible_name("Range rule");
    });
    let mut lo = doc.settings.lo[slot];
    let mut hi = doc.settings.hi[slot];
    let unit = if doc.settings.scale == Scale::Db { " dB" } else { "" };
    let speed = f64::from((hi - lo).abs().max(1e-6)) / 300.0;
    let changed = ui
        .horizontal(|ui| {
            ui.label("lo");
            let a =
                ui.add(egui::DragValue::new(&mut lo).speed(speed).suffix(unit)).accessible_name("Low limit").changed();
            ui.label("hi");
            let b =
                ui.add(egui::DragValue::new(&mut hi).speed(speed).suffix(unit)).accessible_name("High limit").changed();
            a || b
        })
        .inner;
    if changed && lo < hi && lo.is_finite() && hi.is_finite() {
        doc.range[slot] = RangeMode::Manual(lo, hi);
    }
    let Some(stats) = doc.stats.get(&band).and_then(Slot::ready) else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("computing statistics…");
        });
        return;
    };
    // Histogram of raw values around the current limits; drag on it to move the nearer limit.
    let db = doc.settings.scale == Scale::Db;
    if db && stats.min <= 0.0 {
        // 10 log10 of a value at or below zero does not exist: those pixels show as nodata.
        let lost = stats.count_at_most(0.0);
        #[allow(clippy::cast_precision_loss)]
        let share = 100.0 * lost as f64 / stats.count.max(1) as f64;
        ui.label(
            RichText::new(format!(
                "dB scale: {share:.1} % of the pixels are 0 or negative and have no dB value; they show in the nodata colour. Values already in dB want the linear scale."
            ))
            .color(ui.visuals().warn_fg_color),
        );
    }
    let to_raw = |a: f32| if db { 10f32.powf(a / 10.0) } else { a };
    let (rlo, rhi) = (to_raw(doc.settings.lo[slot]), to_raw(doc.settings.hi[slot]));
    let pad = (rhi - rlo).abs() * 0.25;
    let (vlo, vhi) = ((rlo - pad).max(stats.min), (rhi + pad).min(stats.max));
    // While a limit is dragged, a band too large for a sorted copy keeps showing the last histogram
    // (a pass over tens of megapixels per frame would stall the drag); it catches up on release.
    let dragging = ui.input(|i| i.pointer.any_down());
    let (hlo, hhi) = (vlo.min(rlo), vhi.max(rhi));
    let hist = match dragging.then(|| stats.histogram_between_now(hlo, hhi, 128)).flatten() {
        Some(h) => h,
        None => stats.histogram_between(hlo, hhi, 128),
    };
    let width = hist.bin_width();
    let bars: Vec<Bar> = hist
        .counts
        .iter()
        .enumerate()
        .map(|(i, &c)| Bar::new(hist.edge(i) + width / 2.0, (1.0 + c as f64).log10()).width(width))
        .collect();
    let plot = Plot::new(("histogram", slot))
        .height(110.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_y(false)
        .y_axis_label("log10(1+n)")
        // Round values three or so apart (the plot labels marks at least 60 points apart), so the
        // axis always has several labels.
        .x_grid_spacer(|input| {
            let (values, step) = super::overlays::round_values(input.bounds.0, input.bounds.1, 3);
            values.into_iter().map(|value| egui_plot::GridMark { value, step_size: step }).collect()
        })
        .x_axis_formatter(|mark, _| super::overlays::tick_label(mark.value, mark.step_size))
        .show(ui, |p| {
            p.bar_chart(BarChart::new("pixels", bars).color(Color32::from_gray(150)));
            p.vline(VLine::new("lo", f64::from(rlo)).color(Color32::from_rgb(80, 160, 255)));
            p.vline(VLine::new("hi", f64::from(rhi)).color(Color32::from_rgb(255, 120, 80)));
        });
    let r = &plot.response;
    if (r.dragged() || r.clicked())
        && let Some(pos) = r.interact_pointer_pos()
    {
        {
            let x = plot.transform.value_from_position(pos).x as f32;
            let on_axis = if db { (x > 0.0).then(|| 10.0 * x.log10()) } else { Some(x) };
            if let Some(x) = on_axis {
                let (lo, hi) = (doc.settings.lo[slot], doc.settings.hi[slot]);
                let (nlo, nhi) = if (x - lo).abs() <= (x - hi).abs() {
                    (x.min(hi - (hi - lo) * 1e-3), hi)
                } else {
                    (lo, x.max(lo + (hi - lo) * 1e-3))
                };
                doc.range[slot] = RangeMode::Manual(nlo, nhi);
            }
        }
    }
    r.clone().on_hover_text("Drag to move the nearer limit");
    ui.weak(format!(
        "{} valid px, min {}, max {}",
        stats.count,
        fmt_num(f64::from(stats.min)),
        fmt_num(f64::from(stats.max))
    ));
}
