//! What each [`Job`] does. Runs on a worker thread; reports progress and checks cancellation through
//! a [`Reporter`].

use std::sync::Arc;
use std::time::Duration;

use super::{CancelToken, EventKind, Job, Loaded, Output};
use crate::{io, stats};

/// How a running job talks back: progress and the cancel flag.
pub(super) struct Reporter<'a> {
    pub cancel: &'a CancelToken,
    pub progress: &'a dyn Fn(f32, String),
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

pub(super) fn run(job: Job, r: &Reporter<'_>) -> EventKind {
    match job {
        Job::Load { path, options, max_texture_dim } => {
            (r.progress)(0.0, format!("reading {}", path.display()));
            let raster = match io::load(&path, &options) {
                Ok(raster) => Arc::new(raster),
                Err(e) => return EventKind::Failed(e.to_string()),
            };
            if r.cancel.is_cancelled() {
                return EventKind::Cancelled;
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
        Job::LoadCnn { dir } => {
            let device = crate::models::compute_device().device;
            let model = match &dir {
                Some(d) => crate::models::cnn::CnnModel::load(d, &device),
                None => crate::models::cnn::CnnModel::bundled(&device),
            };
            match model {
                Ok(m) => EventKind::Done(Output::CnnModel(Arc::new(m))),
                Err(e) => EventKind::Failed(e.to_string()),
            }
        }
        Job::Cnn { model, raster } => {
            if let Err(why) = cnn_input(&raster) {
                return EventKind::Failed(why);
            }
            let start = std::time::Instant::now();
            match model.read_grids(&[&raster.bands[0]], raster.width) {
                Ok(mut readings) if !readings.is_empty() => {
                    EventKind::Done(Output::Cnn(Box::new(readings.remove(0)), start.elapsed().as_secs_f64() * 1e3))
                }
                Ok(_) => EventKind::Failed("the CNN returned nothing".into()),
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
