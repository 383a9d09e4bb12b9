//! What each [`Job`] does. Runs on a worker thread; reports progress and checks cancellation through
//! a [`Reporter`].

use std::sync::Arc;
use std::time::Duration;

use super::{CancelToken, EventKind, Job, Loaded, Output, Preview};
use crate::{io, stats};

/// How a running job talks back: progress and the cancel flag.
pub struct Reporter<'a> {
    cancel: &'a CancelToken,
    progress: &'a dyn Fn(f32, String),
    /// Streamed events that must arrive (tokens).
    emit: &'a dyn Fn(EventKind),
}

impl<'a> Reporter<'a> {
    pub(super) fn new(cancel: &'a CancelToken, progress: &'a dyn Fn(f32, String), emit: &'a dyn Fn(EventKind)) -> Self {
        Self { cancel, progress, emit }
    }

    /// Report the fraction done (0-1) with a short message; dropped when the UI is behind.
    pub fn progress(&self, fraction: f32, message: impl Into<String>) {
        (self.progress)(fraction, message.into());
    }

    /// Whether the job was asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The cancel flag itself, for code that polls an `AtomicBool`.
    pub fn cancel_flag(&self) -> &std::sync::atomic::AtomicBool {
        self.cancel.flag()
    }
}

/// Whether the CNN can read `raster`: one band, square, 8-4096 pixels a side.
pub fn cnn_input(raster: &crate::types::Raster) -> Result<(), String> {
    if raster.band_count() != 1 || raster.width != raster.height || !(8..=4096).contains(&raster.width) {
        return Err(format!(
            "the CNN reads square single-band I/N grids in dB (8-4096 px a side); this image is {} x {} with {} band(s)",
            raster.width,
            raster.height,
            raster.band_count()
        ));
    }
    Ok(())
}

/// Whether the CNN should run on `raster` unasked ("run on open"): a grid that reads as an I/N map
/// (NumPy or CSV/TSV arrays, or values in dB) and not a georeferenced tile, photo or sky image, where a
/// severity class would be meaningless. C still runs it on any image it can read.
pub fn cnn_runs_on_open(raster: &crate::types::Raster) -> bool {
    let m = &raster.meta;
    let grid = m.format.starts_with("NumPy") || m.format.ends_with(" grid");
    let in_db = m.unit.as_deref().is_some_and(|u| u.trim().eq_ignore_ascii_case("db"));
    (grid || in_db) && m.pixel_size.is_none() && cnn_input(raster).is_ok()
}

/// The RGB image the VLM sees: a file as it is; a raster's first band (or its first three as RGB)
/// stretched between its 2nd and 98th percentiles, NaN and nodata black. Also for app tasks that ask the
/// VLM themselves (the GSD spoofing sweep), so every question sees the same picture.
pub fn chat_image(image: &super::ChatImage) -> Result<image::RgbImage, String> {
    match image {
        super::ChatImage::File(path) => {
            crate::io::read_rgb(path, &crate::io::LoadOptions::default()).map_err(|e| e.to_string())
        }
        super::ChatImage::Raster(r) => {
            let (w, h) = (r.width, r.height);
            if w == 0 || h == 0 || w * h > 64 << 20 {
                return Err(format!("a {w} x {h} image cannot be shown to the VLM"));
            }
            let bands: Vec<usize> = if r.band_count() >= 3 { vec![0, 1, 2] } else { vec![0, 0, 0] };
            let stretch = |b: usize| -> (f32, f32) {
                let mut v: Vec<f32> = r.bands[b].iter().copied().filter(|x| x.is_finite()).collect();
                v.sort_unstable_by(f32::total_cmp);
                let at = |q: f64| stats::quantile::of_sorted_f32(&v, q).map(|x| x as f32);
                match (at(0.02), at(0.98)) {
                    (Some(lo), Some(hi)) => (lo, if hi > lo { hi } else { lo + 1.0 }),
                    _ => (0.0, 1.0),
                }
            };
            let ranges: Vec<(f32, f32)> = bands.iter().map(|&b| stretch(b)).collect();
            let mut out = image::RgbImage::new(w as u32, h as u32);
            for (i, px) in out.pixels_mut().enumerate() {
                for (c, (&b, &(lo, hi))) in bands.iter().zip(&ranges).enumerate() {
                    let v = r.bands[b][i];
                    px.0[c] = if v.is_finite() { ((v - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0) as u8 } else { 0 };
                }
            }
            Ok(out)
        }
    }
}

/// Statistics of the first three bands of an overview for its first display range, from every
/// k-th pixel of every k-th row (about a million pixels).
fn preview_stats(display: &Arc<crate::types::Raster>, cancelled: &dyn Fn() -> bool) -> Vec<(usize, stats::BandStats)> {
    let (w, h) = (display.width, display.height);
    let step = ((w * h) as f64 / f64::from(1u32 << 20)).sqrt().ceil().max(1.0) as usize;
    let (sw, sh) = (w.div_ceil(step), h.div_ceil(step));
    let bands: Vec<Vec<f32>> = display
        .bands
        .iter()
        .take(3)
        .map(|b| (0..sh).flat_map(|y| (0..sw).map(move |x| b[y * step * w + x * step])).collect())
        .collect();
    let sample = Arc::new(crate::types::Raster::new(sw, sh, bands, crate::types::RasterMeta::default()));
    (0..sample.band_count()).filter_map(|b| Some((b, stats::band_stats(&sample, b, cancelled)?))).collect()
}

pub(super) fn run(job: Job, r: &Reporter<'_>) -> EventKind {
    match job {
        Job::Load { path, options, max_texture_dim } => {
            (r.progress)(0.0, format!("reading {}", path.display()));
            // An image too large for one texture: its overview first, streamed from the file (a
            // file it cannot be streamed from, or that fails, is left to the full read).
            let cancelled = || r.cancel.is_cancelled();
            let shown = |p: io::Preview| {
                let display = Arc::new(p.overview);
                let stats = preview_stats(&display, &cancelled);
                let (width, height, downsample, meta) = (p.width, p.height, p.factor, p.meta);
                Preview { display, downsample, width, height, meta, stats, look: p.look, windows: p.windows }
            };
            // A very large one: a first look before that, read from a small part of the file (a
            // sample of its pixels, or the file's own overview).
            if let Some(glance) = io::glance(&path, &options, max_texture_dim, &cancelled).ok().flatten() {
                (r.emit)(EventKind::Preview(Box::new(shown(glance))));
            }
            let preview = io::preview(&path, &options, max_texture_dim, &cancelled).ok().flatten().map(shown);
            if let Some(p) = &preview {
                (r.emit)(EventKind::Preview(Box::new(p.clone())));
                (r.progress)(0.0, "reading the full-resolution pixels".into());
            }
            let raster = match io::load(&path, &options) {
                Ok(raster) => Arc::new(raster),
                Err(e) => return EventKind::Failed(e.to_string()),
            };
            if r.cancel.is_cancelled() {
                return EventKind::Cancelled;
            }
            let factor = stats::downsample_factor(raster.width, raster.height, max_texture_dim);
            if let Some(p) =
                preview.as_ref().filter(|p| (p.width, p.height, p.downsample) == (raster.width, raster.height, factor))
            {
                // The overview streamed is the one averaging the raster would give (nodata, the
                // only mask of a file that streams, already NaN).
                let display = Arc::clone(&p.display);
                return EventKind::Done(Output::Loaded(Loaded { raster, display, downsample: p.downsample }));
            }
            (r.progress)(0.8, "preparing the GPU copy".into());
            let (small, downsample) = if raster.width.max(raster.height) > max_texture_dim {
                let (small, factor) = stats::downsample_to_fit(&raster, max_texture_dim);
                (Some(small), factor)
            } else {
                (None, 1)
            };
            // The GPU copy carries nodata as NaN (the shader's one convention).
            let shown = small.as_ref().unwrap_or(&raster);
            let display = match (shown.masked_as_nan(), small) {
                (Some(masked), _) | (None, Some(masked)) => Arc::new(masked),
                (None, None) => Arc::clone(&raster),
            };
            EventKind::Done(Output::Loaded(Loaded { raster, display, downsample }))
        }
        Job::Stats { raster, band } => {
            if band >= raster.band_count() {
                return EventKind::Failed(format!(
                    "band {} does not exist (the image has {})",
                    band + 1,
                    raster.band_count()
                ));
            }
            let cancelled = || r.cancel.is_cancelled();
            match stats::band_stats(&raster, band, &cancelled) {
                Some(s) => EventKind::Done(Output::Stats(Box::new(s))),
                None => EventKind::Cancelled,
            }
        }
        Job::Manifest { path } => match crate::eval::read_manifest(&path) {
            Ok(records) => EventKind::Done(Output::Manifest(records)),
            Err(e) => EventKind::Failed(e.to_string()),
        },
        Job::Task { run, .. } => {
            if r.cancelled() {
                return EventKind::Cancelled;
            }
            match run(r) {
                Ok(value) => EventKind::Done(Output::Any(value)),
                Err(_) if r.cancelled() => EventKind::Cancelled,
                Err(why) => EventKind::Failed(why),
            }
        }
        Job::Chat { backend, messages, images, max_tokens, format } => {
            let mut rgb = Vec::with_capacity(images.len());
            for image in &images {
                match chat_image(image) {
                    Ok(i) => rgb.push(i),
                    Err(e) => return EventKind::Failed(e),
                }
            }
            let request = crate::backend::ChatRequest {
                messages,
                images: rgb,
                max_tokens,
                choices: format.choices,
                pattern: format.pattern,
                ..crate::backend::ChatRequest::default()
            };
            let mut on_token = |t: crate::backend::ChatToken<'_>| {
                (r.emit)(EventKind::Token {
                    text: t.text.to_string(),
                    token: t.token.map(str::to_string),
                    logprob: t.logprob,
                });
            };
            match backend.chat(&request, r.cancel.flag(), &mut on_token) {
                Ok(reply) => EventKind::Done(Output::Reply(Box::new(reply))),
                Err(e) => EventKind::Failed(e.to_string()),
            }
        }
        Job::Sleep { steps, step_ms, value } => {
            for step in 0..steps {
                if r.cancel.is_cancelled() {
                    return EventKind::Cancelled;
                }
                (r.progress)(step as f32 / steps.max(1) as f32, format!("step {step}"));
                std::thread::sleep(Duration::from_millis(step_ms));
            }
            EventKind::Done(Output::Value(value))
        }
        Job::Panic { message } => panic!("{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{PixelSize, PixelUnit, Raster, RasterMeta};

    #[test]
    fn the_cnn_runs_unasked_only_on_grids_that_read_as_in_maps() {
        let grid = |format: &str, unit: Option<&str>| {
            let meta = RasterMeta { format: format.into(), unit: unit.map(str::to_string), ..RasterMeta::default() };
            Raster::new(16, 16, vec![vec![0.0; 256]], meta)
        };
        assert!(cnn_runs_on_open(&grid("NumPy .npy", None)));
        assert!(cnn_runs_on_open(&grid("CSV grid", None)));
        assert!(cnn_runs_on_open(&grid("PNG", Some("dB"))));
        assert!(!cnn_runs_on_open(&grid("GeoTIFF", None)));
        assert!(!cnn_runs_on_open(&grid("FITS", Some("Jy/beam"))));
        let mut tile = grid("NumPy .npy", None);
        tile.meta.pixel_size =
            Some(PixelSize { x: 1.0, y: 1.0, unit: PixelUnit::Metres, source: "test".into(), approximate: false });
        assert!(!cnn_runs_on_open(&tile));
        // Not square: never.
        let wide = Raster::new(
            32,
            16,
            vec![vec![0.0; 512]],
            RasterMeta { format: "NumPy .npy".into(), ..RasterMeta::default() },
        );
        assert!(!cnn_runs_on_open(&wide));
    }
}
