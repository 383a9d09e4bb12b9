//! `heatscope sources FILE... [--seed 5] [--flood 3] [--prominence 3] [--box PX] [--band N]
//! [--json] [--csv OUT]`: the radio source finder headless. Per file the noise, the islands with
//! their peaks, fluxes, sizes and positions, and the negative-island count (the false-detection
//! estimate); a file that cannot be read or searched is reported and makes the exit status 1.
//! Main thread.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use crate::io::{self, LoadOptions};
use crate::stats::sources::{FinderOptions, SourceCatalog, find_sources};
use crate::types::fmt_num;

#[derive(Debug, clap::Args)]
pub struct SourcesArgs {
    /// Radio images (FITS in Jy/beam; any image heatscope opens works, fluxes need a beam).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// An island needs a pixel this many sigma above the local background.
    #[arg(long, default_value_t = 5.0)]
    pub seed: f32,
    /// Islands grow down to this many sigma.
    #[arg(long, default_value_t = 3.0)]
    pub flood: f32,
    /// A second summit counts as a peak when it stands this many sigma above the saddle joining it
    /// to a brighter one.
    #[arg(long, default_value_t = 3.0)]
    pub prominence: f32,
    /// Side of the background and noise boxes in pixels (default: 30 beams, at least 32).
    #[arg(long = "box", value_name = "PX")]
    pub box_px: Option<usize>,
    /// Band to search (1-based).
    #[arg(long, default_value_t = 1)]
    pub band: usize,
    /// One JSON object per file (the whole catalogue) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the islands as CSV (one file: a `file` column first).
    #[arg(long, value_name = "OUT")]
    pub csv: Option<PathBuf>,
}

pub fn run(a: &SourcesArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.band >= 1, "--band counts from 1");
    let opts = FinderOptions {
        seed_sigma: a.seed,
        flood_sigma: a.flood,
        prominence_sigma: a.prominence,
        box_px: a.box_px,
        ..FinderOptions::default()
    };
    let never = AtomicBool::new(false);
    let mut csv = String::from(CSV_HEADER);
    let mut failed = 0;
    for path in &a.files {
        let result = io::load(path, &LoadOptions::default())
            .map_err(anyhow::Error::from)
            .and_then(|raster| find_sources(&raster, a.band - 1, &opts, &never).map_err(anyhow::Error::from));
        match result {
            Ok(cat) => {
                if a.json {
                    let mut value = serde_json::to_value(&cat).context("writing JSON")?;
                    value["file"] = path.display().to_string().into();
                    println!("{}", serde_json::to_string(&value).context("writing JSON")?);
                } else {
                    print!("{}", text(path, &cat));
                }
                csv_rows(&mut csv, path, &cat);
            }
            Err(e) => {
                failed += 1;
                if a.json {
                    let err = serde_json::json!({"file": path.display().to_string(), "error": format!("{e:#}")});
                    println!("{err}");
                }
                eprintln!("heatscope: {e:#}: {}", path.display());
            }
        }
    }
    if let Some(out) = &a.csv {
        io::atomic::write(out, csv.as_bytes()).with_context(|| format!("writing {}", out.display()))?;
    }
    anyhow::ensure!(failed == 0, "{failed} of {} file(s) could not be searched", a.files.len());
    Ok(())
}

fn text(path: &Path, cat: &SourceCatalog) -> String {
    let unit = cat.unit.as_deref().unwrap_or("");
    let flux_unit = unit.trim_end_matches("/beam").trim_end_matches("/BEAM");
    let mut s = String::new();
    let _ = writeln!(s, "{}", path.display());
    let _ = writeln!(
        s,
        "  noise {} {unit} (median of {} px boxes), background {} {unit}",
        fmt_num(cat.rms),
        cat.box_px,
        fmt_num(cat.background)
    );
    let _ = writeln!(
        s,
        "  islands: {} with {} peaks (seed {} sigma, flood {} sigma)",
        cat.islands.len(),
        cat.peak_count(),
        cat.options.seed_sigma,
        cat.options.flood_sigma
    );
    let false_rate = match (cat.false_per_deg2, cat.area_deg2) {
        (Some(rate), Some(area)) => format!(", {} per square degree over {} deg²", fmt_num(rate), fmt_num(area)),
        _ => String::new(),
    };
    let _ = writeln!(s, "  negative islands (false detections expected): {}{false_rate}", cat.negative_islands);
    for i in &cat.islands {
        let at = i.position.clone().unwrap_or_else(|| format!("x {:.1} y {:.1}", i.x, i.y));
        let flux = i.flux.map_or_else(String::new, |f| {
            format!("  flux {} ± {} {flux_unit}", fmt_num(f), fmt_num(i.flux_error.unwrap_or(f64::NAN)))
        });
        let size = match (i.major_arcsec, i.minor_arcsec) {
            (Some(a), Some(b)) => format!("{}\" x {}\"", fmt_num(a), fmt_num(b)),
            _ => format!("{:.1} x {:.1} px", i.major_px, i.minor_px),
        };
        let _ = writeln!(
            s,
            "  #{:<4} {at}  peak {} {unit} ({:.1} sigma){flux}  {} peak(s)  {} px  size {size}",
            i.id,
            fmt_num(i.peaks[0].value),
            i.peaks[0].snr,
            i.peaks.len(),
            i.pixels
        );
    }
    s
}

const CSV_HEADER: &str =
    "file,island,x,y,ra_deg,dec_deg,peak,peak_snr,peaks,flux,flux_error,pixels,major_arcsec,minor_arcsec,pa_deg\n";

fn csv_rows(out: &mut String, path: &Path, cat: &SourceCatalog) {
    let opt = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x}"));
    let file = path.display().to_string().replace('"', "\"\"");
    for i in &cat.islands {
        let _ = writeln!(
            out,
            "\"{file}\",{},{:.3},{:.3},{},{},{},{:.2},{},{},{},{},{},{},{}",
            i.id,
            i.x,
            i.y,
            opt(i.ra_deg),
            opt(i.dec_deg),
            i.peaks[0].value,
            i.peaks[0].snr,
            i.peaks.len(),
            opt(i.flux),
            opt(i.flux_error),
            i.pixels,
            opt(i.major_arcsec),
            opt(i.minor_arcsec),
            opt(i.pa_deg)
        );
    }
}
