//! `heatscope bench memory`: peak resident memory of `info` and `render` on large files, each run in
//! its own process, against the target of 3x the f32 raster plus 200 MB. The files are written to a
//! temporary folder (streamed, never held whole): a float32 `.npy` gradient, a compressed `.npz` of
//! zeros (a tiny file that unpacks to a large array) and a 16-bit RGBA PNG of one colour (the same).
//! Exits non-zero when a run is over the target. Linux (reads VmHWM). Runs on the main thread.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Environment variable that makes heatscope print `peak_rss_mib=N` to stderr as it exits.
pub const REPORT_PEAK_ENV: &str = "HEATSCOPE_REPORT_PEAK_RSS";

#[derive(Debug, clap::Args)]
pub struct MemoryBenchArgs {
    /// Side of the square arrays (the PNG is half as wide and high, with four 16-bit channels).
    #[arg(long, default_value_t = 16384)]
    pub side: usize,
    /// Folder for the generated files (default: a new one in the system's temporary folder, removed after).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// One generated file and the size of its f32 raster.
struct Case {
    path: PathBuf,
    raster_mib: f64,
    render_args: &'static [&'static str],
}

pub fn run(a: &MemoryBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!((64..=32768).contains(&a.side), "--side must be 64-32768");
    let own_dir = a.dir.is_none();
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("heatscope-bench-memory-{}", std::process::id())));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = measure(a.side, &dir);
    if own_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn measure(side: usize, dir: &Path) -> anyhow::Result<()> {
    eprintln!("writing test files of side {side} into {} ...", dir.display());
    let cases = write_cases(side, dir)?;
    let exe = std::env::current_exe().context("cannot find the heatscope executable")?;
    println!("| file | f32 raster | info peak | render peak | target (3x + 200 MB) |");
    println!("| --- | --- | --- | --- | --- |");
    let mut over = Vec::new();
    for case in &cases {
        let target = 3.0 * case.raster_mib + 200.0 * 1e6 / f64::from(1u32 << 20);
        let out = dir.join("render-out.png");
        let file = case.path.to_string_lossy().into_owned();
        let info = peak_of(&exe, &["info", &file])?;
        let mut render = vec!["render", file.as_str(), "-o"];
        let out_text = out.to_string_lossy().into_owned();
        render.push(&out_text);
        render.extend(case.render_args);
        let render = peak_of(&exe, &render)?;
        let _ = std::fs::remove_file(&out);
        let name = case.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!("| {name} | {:.0} MiB | {info:.0} MiB | {render:.0} MiB | {target:.0} MiB |", case.raster_mib);
        for (what, peak) in [("info", info), ("render", render)] {
            if peak > target {
                over.push(format!("{what} {name}: {peak:.0} MiB over {target:.0} MiB"));
            }
        }
    }
    if !over.is_empty() {
        bail!("over the memory target: {}", over.join("; "));
    }
    Ok(())
}

/// Run heatscope with `args` and return the peak resident memory it reports (MiB).
fn peak_of(exe: &Path, args: &[&str]) -> anyhow::Result<f64> {
    let o = Command::new(exe).args(args).env(REPORT_PEAK_ENV, "1").output().context("cannot run heatscope")?;
    let err = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        bail!("heatscope {} failed: {}", args.join(" "), err.trim());
    }
    err.lines()
        .find_map(|l| l.strip_prefix("peak_rss_mib="))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("heatscope {} reported no peak memory (is this Linux?)", args.join(" ")))
}

fn write_cases(side: usize, dir: &Path) -> anyhow::Result<Vec<Case>> {
    let mib = |bytes: usize| bytes as f64 / f64::from(1u32 << 20);
    let npy = dir.join("gradient.npy");
    let row: Vec<u8> = (0..side).flat_map(|x| (x as f32).to_le_bytes()).collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(&npy)?);
    f.write_all(&npy_header(side))?;
    for _ in 0..side {
        f.write_all(&row)?;
    }
    f.flush()?;
    drop(f);

    let npz = dir.join("zeros.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&npz)?);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(side * side * 4 > u32::MAX as usize);
    zip.start_file("grid.npy", options)?;
    zip.write_all(&npy_header(side))?;
    let zeros = vec![0u8; side * 4];
    for _ in 0..side {
        zip.write_all(&zeros)?;
    }
    zip.finish()?;

    let half = (side / 2).max(1);
    let png = dir.join("flat16.png");
    let mut encoder = png::Encoder::new(std::fs::File::create(&png)?, half as u32, half as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    let mut stream = encoder.write_header()?.into_stream_writer()?;
    let png_row: Vec<u8> = (0..half * 4).flat_map(|_| 0x1234u16.to_be_bytes()).collect();
    for _ in 0..half {
        stream.write_all(&png_row)?;
    }
    stream.finish()?;

    Ok(vec![
        Case { path: npy, raster_mib: mib(side * side * 4), render_args: &[] },
        Case { path: npz, raster_mib: mib(side * side * 4), render_args: &[] },
        // Alpha 0x1234 is not zero: no pixel is masked; the three colour bands are the raster.
        Case { path: png, raster_mib: mib(half * half * 3 * 4 + half * half), render_args: &["--rgb", "1,2,3"] },
    ])
}

/// The `.npy` header of a `side` x `side` float32 array (the data follows it).
fn npy_header(side: usize) -> Vec<u8> {
    crate::fuzz::structure::npy_file(
        &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({side}, {side}), }}"),
        &[],
    )
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    crate::io::own_status_mib("VmHWM")
}
