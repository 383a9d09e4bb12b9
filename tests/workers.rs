//! The worker pool as the UI uses it: completion with progress, cancellation, stale results dropped,
//! a panicking job isolated, and real load/statistics jobs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::sync::Arc;
use std::time::Duration;

use heatscope::io::LoadOptions;
use heatscope::workers::{EventKind, Job, Output, Workers};

fn pool(threads: usize) -> Workers {
    Workers::new(threads, || {}).expect("start workers")
}

/// Wait for the final event of job `id`, collecting what came before it.
fn finish(w: &mut Workers, id: u64) -> (EventKind, usize) {
    let mut progress = 0;
    loop {
        let e = w.wait(Duration::from_secs(10)).expect("a worker event within 10 s");
        if e.ticket.id != id {
            continue;
        }
        if e.is_final() {
            return (e.kind, progress);
        }
        progress += 1;
    }
}

#[test]
fn a_job_reports_progress_then_its_result() {
    let mut w = pool(2);
    let t = w.submit("a", Job::Sleep { steps: 3, step_ms: 5, value: 42 }).expect("submit");
    let (kind, progress) = finish(&mut w, t.id);
    assert!(matches!(kind, EventKind::Done(Output::Value(42))), "{kind:?}");
    assert_eq!(progress, 3);
    assert_eq!(w.pending(), 0);
}

#[test]
fn cancel_stops_a_long_job_quickly() {
    let mut w = pool(1);
    let t = w.submit("long", Job::Sleep { steps: 1000, step_ms: 10, value: 1 }).expect("submit");
    std::thread::sleep(Duration::from_millis(50));
    let start = std::time::Instant::now();
    w.cancel(t.id);
    let (kind, _) = finish(&mut w, t.id);
    assert!(matches!(kind, EventKind::Cancelled), "{kind:?}");
    assert!(start.elapsed() < Duration::from_secs(1), "cancel took {:?}", start.elapsed());
}

#[test]
fn a_newer_job_under_the_same_key_hides_the_older_result() {
    let mut w = pool(2);
    // The old job sleeps in one step, so it cannot notice the cancel and finishes with a value.
    let old = w.submit("stats:1:0", Job::Sleep { steps: 1, step_ms: 300, value: 1 }).expect("submit");
    let first = w.wait(Duration::from_secs(5)).expect("progress of the old job");
    assert_eq!(first.ticket.id, old.id);
    let new = w.submit("stats:1:0", Job::Sleep { steps: 1, step_ms: 1, value: 2 }).expect("submit");
    assert_eq!(new.generation, old.generation + 1);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        if let Some(e) = w.wait(Duration::from_millis(50)) {
            seen.push((e.ticket.id, e.kind));
        }
    }
    assert!(seen.iter().all(|(id, _)| *id == new.id), "stale events leaked: {seen:?}");
    assert!(seen.iter().any(|(_, k)| matches!(k, EventKind::Done(Output::Value(2)))));
    assert_eq!(w.pending(), 0, "the stale job still counts as pending");
}

#[test]
fn a_panicking_job_becomes_an_error_and_the_worker_keeps_serving() {
    let mut w = pool(1);
    let t = w.submit("p", Job::Panic { message: "boom in a model".into() }).expect("submit");
    let (kind, _) = finish(&mut w, t.id);
    match kind {
        EventKind::Failed(msg) => assert!(msg.contains("boom in a model"), "{msg}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    let t = w.submit("after", Job::Sleep { steps: 1, step_ms: 1, value: 7 }).expect("submit");
    let (kind, _) = finish(&mut w, t.id);
    assert!(matches!(kind, EventKind::Done(Output::Value(7))));
}

#[test]
fn load_and_stats_jobs_run_on_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wd, ht) = (40, 30);
    let values: Vec<f32> = (0..wd * ht).map(|i| i as f32).collect();
    let path = common::write_npy(dir.path(), "ramp.npy", wd, ht, &values);
    let mut w = pool(2);
    let t = w
        .submit("load:1", Job::Load { path: path.clone(), options: LoadOptions::default(), max_texture_dim: 16 })
        .expect("submit");
    // Too large for the texture: the overview streamed from the file comes first, and is the one
    // the finished load shows.
    let mut preview = None;
    let kind = loop {
        let e = w.wait(Duration::from_secs(10)).expect("a worker event within 10 s");
        match e.kind {
            EventKind::Preview(p) if e.ticket.id == t.id => preview = Some(p),
            kind if e.ticket.id == t.id && e.is_final() => break kind,
            _ => {}
        }
    };
    let EventKind::Done(Output::Loaded(loaded)) = kind else { panic!("load failed: {kind:?}") };
    assert_eq!((loaded.raster.width, loaded.raster.height), (40, 30));
    assert_eq!(loaded.downsample, 3, "40 px must be shown as ceil(40/3) = 14 <= 16");
    assert!(loaded.display.width <= 16 && loaded.display.height <= 16);
    let preview = preview.expect("a preview before the load finished");
    assert_eq!((preview.width, preview.height, preview.downsample), (40, 30, 3));
    assert!(Arc::ptr_eq(&preview.display, &loaded.display), "the load shows the overview it streamed");
    let (expected, _) = heatscope::stats::downsample_to_fit(&loaded.raster, 16);
    assert_eq!(loaded.display.bands, expected.bands);
    let first = &preview.stats.first().expect("statistics of the overview").1;
    assert!(first.min >= 0.0 && first.max <= 1199.0 && first.min < first.max, "{first:?}");
    let t = w.submit("stats:1:0", Job::Stats { raster: Arc::clone(&loaded.raster), band: 0 }).expect("submit");
    let (kind, _) = finish(&mut w, t.id);
    let EventKind::Done(Output::Stats(s)) = kind else { panic!("stats failed: {kind:?}") };
    assert_eq!((s.min, s.max, s.count), (0.0, 1199.0, 1200));

    let missing = dir.path().join("nope.npy");
    let t = w
        .submit("load:2", Job::Load { path: missing, options: LoadOptions::default(), max_texture_dim: 4096 })
        .expect("submit");
    let (kind, _) = finish(&mut w, t.id);
    match kind {
        EventKind::Failed(msg) => assert!(msg.contains("nope.npy"), "error must name the file: {msg}"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn the_gpu_copy_carries_masked_pixels_as_nan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alpha.png");
    let mut img = image::RgbaImage::from_pixel(4, 3, image::Rgba([10, 20, 30, 255]));
    img.put_pixel(1, 0, image::Rgba([10, 20, 30, 0]));
    img.save(&path).expect("write png");
    let mut w = pool(1);
    let t =
        w.submit("load:1", Job::Load { path, options: LoadOptions::default(), max_texture_dim: 4096 }).expect("submit");
    let (kind, _) = finish(&mut w, t.id);
    let EventKind::Done(Output::Loaded(loaded)) = kind else { panic!("load failed: {kind:?}") };
    assert_eq!(loaded.raster.value(0, 1, 0), None, "alpha 0 is nodata");
    assert!(loaded.display.valid.is_none());
    for band in &loaded.display.bands {
        assert!(band[1].is_nan(), "masked pixel must be NaN on the GPU copy");
        assert_eq!(band.iter().filter(|v| v.is_nan()).count(), 1);
    }
}

#[test]
fn a_large_cog_shows_its_own_overview_first_then_the_averaged_one() {
    use heatscope::cli::bench_image_fixtures::{Field, write_tiled_geotiff};
    use heatscope::io::Look;
    // 4096^2 float32 (2^24 samples, the least a first look is taken for) with overviews of blocks
    // 2, 4 and 8; the texture holds 512 px: the 8x overview fits it as it is.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cog.tif");
    let side = 4096;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    write_tiled_geotiff(&mut file, (side, side), 512, &[2, 4, 8], &Field::new(side, side)).expect("write");
    drop(file);
    let mut w = pool(1);
    let t = w
        .submit("load:cog", Job::Load { path, options: LoadOptions::default(), max_texture_dim: 512 })
        .expect("submit");
    let mut looks = Vec::new();
    let kind = loop {
        let e = w.wait(Duration::from_secs(60)).expect("a worker event within 60 s");
        match e.kind {
            EventKind::Preview(p) if e.ticket.id == t.id => looks.push((p.look, p.downsample, p.display.width)),
            kind if e.ticket.id == t.id && e.is_final() => break kind,
            _ => {}
        }
    };
    assert_eq!(looks, [(Look::FileOverview, 8, 512), (Look::Averaged, 8, 512)]);
    let EventKind::Done(Output::Loaded(loaded)) = kind else { panic!("load failed: {kind:?}") };
    assert_eq!((loaded.raster.width, loaded.downsample), (side, 8));
}
