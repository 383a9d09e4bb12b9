//! `heatscope bench view FILE`: one large image in the real app window. Times reading the file the
//! way the app does (`io::load` into memory this process has not used yet, after the file's bytes
//! were read once through a small buffer to warm the page cache), then plays
//! `app::image_bench`'s script: pan and zoom with no image, open FILE (time to its first painted
//! frame), the same pan and zoom over it, resident memory idle and at its peak. Prints one
//! `name=value` line per figure on stdout and the verdicts against issue 27's targets on stderr.
//! `--make-fixtures DIR` writes the two benchmark files first (`bench_image_fixtures.rs`). Runs on
//! the main thread (the window's event loop).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::bail;

use crate::app::image_bench::{ImageBenchConfig, ImageBenchReport};

#[derive(Debug, clap::Args)]
pub struct ImageViewBenchArgs {
    /// The image to open, e.g. DIR/big_8192.npy or DIR/big_20000.tif after --make-fixtures DIR.
    pub file: Option<PathBuf>,
    /// Frames measured panning and zooming, with no image and with FILE.
    #[arg(long, default_value_t = 300)]
    pub frames: usize,
    /// Write the benchmark's files into DIR where missing: big_20000.tif (20000 x 20000 float32
    /// GeoTIFF, 512 px tiles, EPSG:32618) and big_8192.npy (8192 x 8192 float32).
    #[arg(long, value_name = "DIR")]
    pub make_fixtures: Option<PathBuf>,
    /// Only time the read (this process's memory fresh, as the app's is) and print it: what the
    /// benchmark runs in a child process.
    #[arg(long, hide = true)]
    pub read_only: bool,
}

/// The targets: first frame / read time, p99 frame with the image / without, peak RSS
/// above idle / raw data.
const FIRST_FRAME_TARGET: f64 = 2.0;
const P99_TARGET: f64 = 1.3;
const MEMORY_TARGET: f64 = 1.5;

/// The `q` quantile of `ms` (stats::quantile's convention), NaN when empty.
fn percentile(ms: &[f64], q: f64) -> f64 {
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    crate::stats::quantile::of_sorted(&v, q).unwrap_or(f64::NAN)
}

/// MiB of the data as the file stores it: width x height x bands x the sample type's size.
fn raw_mib(r: &crate::types::Raster) -> f64 {
    let sample = r.meta.dtype.map_or(4, crate::types::SampleType::bytes);
    (r.width * r.height * r.band_count() * sample) as f64 / f64::from(1u32 << 20)
}

/// "met" or "NOT met" for `ratio` against `target` ("not measured" when NaN).
fn verdict(ratio: f64, target: f64) -> &'static str {
    if ratio.is_nan() {
        "not measured"
    } else if ratio <= target {
        "met"
    } else {
        "NOT met"
    }
}

/// The figures printed, in order, from the read and the app's report (NaN where not measured).
fn figures(read_ms: f64, raw: f64, r: &ImageBenchReport) -> Vec<(&'static str, f64)> {
    vec![
        ("first_frame_ms", r.first_frame_ms.unwrap_or(f64::NAN)),
        ("read_ms", read_ms),
        ("p50_frame_ms", percentile(&r.image, 0.5)),
        ("p99_frame_ms", percentile(&r.image, 0.99)),
        ("noimage_p50_frame_ms", percentile(&r.noimage, 0.5)),
        ("noimage_p99_frame_ms", percentile(&r.noimage, 0.99)),
        ("peak_rss_mib", r.peak_rss_mib.unwrap_or(f64::NAN)),
        ("idle_rss_mib", r.idle_rss_mib.unwrap_or(f64::NAN)),
        ("raw_mib", raw),
        ("full_ms", r.full_ms.unwrap_or(f64::NAN)),
    ]
}

pub fn run(a: &ImageViewBenchArgs) -> anyhow::Result<()> {
    if let Some(dir) = &a.make_fixtures {
        for path in super::bench_image_fixtures::make(dir)? {
            eprintln!("fixture {}", path.display());
        }
    }
    let Some(file) = a.file.clone() else {
        if a.make_fixtures.is_some() {
            return Ok(());
        }
        bail!("give the image to open (FILE), or --make-fixtures DIR to write the benchmark's files");
    };
    anyhow::ensure!(a.frames >= 20, "--frames must be at least 20");
    let file = std::path::absolute(&file).unwrap_or(file);
    if a.read_only {
        let (ms, raw, w, h) = timed_read(&file)?;
        println!("{ms} {raw} {w} {h}");
        return Ok(());
    }
    // The read is timed in a child process: its memory is fresh, as the app's is when it opens a
    // file (a load in this process after another would reuse the pages the first one faulted in:
    // on this VM 70 ms against 1000 ms for 256 MiB).
    let read = read_in_child(&file);
    let (read_ms, raw) = match &read {
        Ok((ms, raw, w, h)) => {
            eprintln!("read {} ({w} x {h}, {raw:.0} MiB as stored) in {ms:.0} ms", file.display());
            (*ms, *raw)
        }
        Err(e) => {
            eprintln!("cannot read {}: {e:#}; the app is run anyway to show what it does", file.display());
            (f64::NAN, f64::NAN)
        }
    };
    let config = ImageBenchConfig { file: file.clone(), frames: a.frames };
    let report = Arc::new(Mutex::new(ImageBenchReport::default()));
    let app_options = crate::app::AppOptions { image_bench: Some((config, report.clone())), ..Default::default() };
    crate::app::run(Vec::new(), app_options)?;
    let r = report.lock().map_err(|_| anyhow::anyhow!("the benchmark's report was poisoned"))?.clone();
    let figures = figures(read_ms, raw, &r);
    for (name, value) in &figures {
        println!("{name}={value:.1}");
    }
    explain(&r, &figures);
    if let Err(e) = read {
        bail!("cannot read {}: {e:#}", file.display());
    }
    if let Some(why) = &r.error {
        bail!("the benchmark stopped: {why}");
    }
    if !r.done {
        bail!("the window closed before the benchmark finished");
    }
    Ok(())
}

/// The page cache warmed by a plain read, then one timed `io::load`: (ms, MiB as stored, width,
/// height).
fn timed_read(file: &std::path::Path) -> anyhow::Result<(f64, f64, usize, usize)> {
    let warm = std::fs::File::open(file).and_then(|mut f| std::io::copy(&mut f, &mut std::io::sink()));
    warm.map_err(|e| crate::io::IoError::Read { path: file.to_path_buf(), source: e })?;
    let start = Instant::now();
    let r = crate::io::load(file, &crate::io::LoadOptions::default())?;
    Ok((start.elapsed().as_secs_f64() * 1e3, raw_mib(&r), r.width, r.height))
}

/// [`timed_read`] in a child process of this executable (`bench view FILE --read-only`).
fn read_in_child(file: &std::path::Path) -> anyhow::Result<(f64, f64, usize, usize)> {
    use anyhow::Context;
    let exe = std::env::current_exe().context("cannot find the heatscope executable")?;
    let out = std::process::Command::new(&exe)
        .args(["bench", "view", "--read-only"])
        .arg(file)
        .output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    let parsed = match fields[..] {
        [ms, raw, w, h] => (|| Some((ms.parse().ok()?, raw.parse().ok()?, w.parse().ok()?, h.parse().ok()?)))(),
        _ => None,
    };
    parsed.with_context(|| format!("the timed read printed {:?}", text.trim()))
}

/// The verdicts and what the numbers rest on, on stderr.
fn explain(r: &ImageBenchReport, figures: &[(&str, f64)]) {
    let get = |name: &str| figures.iter().find(|(n, _)| *n == name).map_or(f64::NAN, |(_, v)| *v);
    let first = get("first_frame_ms") / get("read_ms");
    let p99 = get("p99_frame_ms") / get("noimage_p99_frame_ms");
    let memory = (get("peak_rss_mib") - get("idle_rss_mib")) / get("raw_mib");
    eprintln!(
        "  first frame = {first:.2} x the read (target <= {FIRST_FRAME_TARGET}): {}",
        verdict(first, FIRST_FRAME_TARGET)
    );
    eprintln!("  p99 frame = {p99:.2} x the app with no image (target <= {P99_TARGET}): {}", verdict(p99, P99_TARGET));
    eprintln!(
        "  peak RSS above idle = {memory:.2} x the raw data (target <= {MEMORY_TARGET}): {}",
        verdict(memory, MEMORY_TARGET)
    );
    let (w, h) = r.size;
    if w > 0 {
        let shown = if r.downsample > 1 {
            format!("shown block-averaged {}x", r.downsample)
        } else {
            "shown at full resolution".into()
        };
        eprintln!(
            "  the app: {w} x {h}, {shown}; the frame that drew it first took {:.0} ms (GPU upload included)",
            r.first_paint_frame_ms.unwrap_or(f64::NAN)
        );
        if let Some((look, step)) = r.first_look {
            let what = if look == crate::io::Look::FileOverview {
                format!("the file's own {step}x overview, read by itself")
            } else {
                format!("one pixel in {step} x {step}, read from part of the file")
            };
            eprintln!(
                "  the first frame drew a first look ({what}), then the overview averaged as the file was read; every full-resolution pixel was in at {:.0} ms (full_ms)",
                r.full_ms.unwrap_or(f64::NAN)
            );
        } else if r.first_frame_preview {
            eprintln!(
                "  the first frame drew the overview streamed from the file; every full-resolution pixel was in at {:.0} ms (full_ms)",
                r.full_ms.unwrap_or(f64::NAN)
            );
        }
    }
    match r.settle_ms {
        Some(ms) => eprintln!("  its statistics / CNN / GSD jobs finished {ms:.0} ms after the first frame"),
        None if w > 0 => eprintln!("  its workers were still busy when the pan and zoom began"),
        None => {}
    }
    if let Some(why) = &r.error {
        eprintln!("  the app's script stopped: {why}");
    }
    eprint!("  pan and zoom: {} frames with no image, {} with it", r.noimage.len(), r.image.len());
    if r.image.is_empty() {
        eprintln!();
    } else {
        let (least, most) = r.zoom_range;
        eprintln!("; it zoomed {least:.2}x to {most:.2}x of its start, its centre moved up to {:.0} pt", r.moved_pt);
    }
    if !r.baseline_on_view && w > 0 {
        eprintln!("  (the no-image phase's events fell outside the area the image was drawn in)");
    }
    eprintln!(
        "  UI thread per frame, p99: {:.2} ms with the image, {:.2} ms without ({} frames laid out twice)",
        percentile(&r.image_update, 0.99),
        percentile(&r.noimage_update, 0.99),
        r.repeated_passes
    );
    for (moment, rss, hwm) in &r.memory_marks {
        eprintln!("  resident at {moment}: {rss:.0} MiB (peak so far {hwm:.0} MiB)");
    }
    if !r.peak_from_hwm && r.peak_rss_mib.is_some() {
        eprintln!("  (the kernel refused to reset VmHWM: the peak is the largest VmRSS seen at a frame's start)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_and_raw_size_uses_the_stored_type() {
        let ms: Vec<f64> = (1..=101).rev().map(f64::from).collect();
        assert_eq!(percentile(&ms, 0.5), 51.0);
        assert_eq!(percentile(&ms, 0.99), 100.0);
        assert!((percentile(&[10.0, 20.0], 0.99) - 19.9).abs() < 1e-9);
        assert!(percentile(&[], 0.5).is_nan());
        let mut r = crate::types::Raster::new(2048, 1024, vec![vec![0.0; 2048 * 1024]], Default::default());
        r.meta.dtype = Some(crate::types::SampleType::U16);
        assert_eq!(raw_mib(&r), 4.0);
        r.meta.dtype = Some(crate::types::SampleType::F32);
        assert_eq!(raw_mib(&r), 8.0);
    }

    #[test]
    fn every_figure_is_printed_in_order_and_targets_are_judged() {
        let r = ImageBenchReport {
            first_frame_ms: Some(300.0),
            noimage: vec![10.0; 50],
            image: vec![12.0; 50],
            idle_rss_mib: Some(200.0),
            peak_rss_mib: Some(700.0),
            ..ImageBenchReport::default()
        };
        let f = figures(200.0, 256.0, &r);
        let names: Vec<&str> = f.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "first_frame_ms",
                "read_ms",
                "p50_frame_ms",
                "p99_frame_ms",
                "noimage_p50_frame_ms",
                "noimage_p99_frame_ms",
                "peak_rss_mib",
                "idle_rss_mib",
                "raw_mib",
                "full_ms"
            ]
        );
        assert_eq!(f[3].1, 12.0);
        assert_eq!(verdict(300.0 / 200.0, FIRST_FRAME_TARGET), "met");
        assert_eq!(verdict((700.0 - 200.0) / 256.0, MEMORY_TARGET), "NOT met");
        assert_eq!(verdict(f64::NAN, P99_TARGET), "not measured");
        assert!(figures(f64::NAN, f64::NAN, &ImageBenchReport::default()).iter().skip(2).all(|(_, v)| v.is_nan()));
    }
}
