//! `heatscope gsd FILES... [--json] [--ignore-metadata] [--model DIR] [--override M]`: the GSD of
//! each file as the app resolves it (override, metadata, estimate), with the estimate, its
//! uncertainty, the crop spread and any warning. Files that cannot be read or estimated are reported
//! and make the exit status non-zero; the others are still printed. Main thread.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;

use crate::io::{self, LoadOptions};
use crate::models::gsd::{GsdModel, format_metres, resolve};

#[derive(Debug, clap::Args)]
pub struct GsdArgs {
    /// Images (GeoTIFF, PNG, JPEG, ...).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// One JSON object per file instead of text.
    #[arg(long)]
    pub json: bool,
    /// Use the estimate even where the file has georeferencing (the estimator's own score).
    #[arg(long)]
    pub ignore_metadata: bool,
    /// A GSD model folder (default: the bundled models/gsd).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Use this GSD in metres whatever the file says (the spoofing test).
    #[arg(long = "override", value_name = "METRES", allow_negative_numbers = true)]
    pub override_m: Option<f64>,
}

pub fn run(a: &GsdArgs) -> anyhow::Result<()> {
    if let Some(v) = a.override_m {
        anyhow::ensure!(v > 0.0 && v.is_finite(), "--override must be a positive number of metres, got {v}");
    }
    let model = match &a.model {
        Some(dir) => GsdModel::load(dir).with_context(|| format!("loading the GSD model in {}", dir.display()))?,
        None => GsdModel::bundled().context("loading the bundled GSD model")?,
    };
    let mut failed = 0;
    for path in &a.files {
        let raster = match io::load(path, &LoadOptions::default()) {
            Ok(r) => r,
            Err(e) => {
                failed += 1;
                eprintln!("heatscope: {e}");
                continue;
            }
        };
        let metadata = raster.meta.pixel_size.as_ref();
        if let Some(p) = metadata.filter(|p| p.unit != crate::types::PixelUnit::Metres) {
            failed += 1;
            eprintln!(
                "heatscope: {}: not a ground image (pixels are {} {} on the sky), so it has no ground sampling distance",
                path.display(),
                p.mean(),
                p.unit.symbol()
            );
            continue;
        }
        let estimate = model.estimate_raster(&raster);
        let resolved = resolve(metadata, estimate.as_ref().ok(), a.override_m, a.ignore_metadata);
        if resolved.is_none() {
            failed += 1;
        }
        if a.json {
            let est = estimate.as_ref().ok().map(|e| {
                json!({
                    "metres": e.metres(), "log10_m": e.mu, "sigma_log10": e.sigma, "factor_1sigma": e.factor(),
                    "interval_68_m": [10f64.powf(e.mu - e.sigma), 10f64.powf(e.mu + e.sigma)],
                    "interval_95_m": [10f64.powf(e.mu - 2.0 * e.sigma), 10f64.powf(e.mu + 2.0 * e.sigma)],
                    "crops": e.crops.len(), "crops_skipped": e.skipped, "spread_log10": e.spread, "crops_disagree": e.disagree,
                    "per_crop": e.crops.iter().map(|c| json!({"x": c.x, "y": c.y, "log10_m": c.mu, "sigma_log10": c.sigma})).collect::<Vec<_>>(),
                })
            });
            let out = json!({
                "file": path.display().to_string(),
                "gsd_m": resolved.as_ref().map(|r| r.metres),
                "source": resolved.as_ref().map(|r| r.source_text()),
                "metadata_m": resolved.as_ref().and_then(|r| r.metadata).or(metadata.map(|p| p.mean())),
                "estimate": est,
                "estimate_error": estimate.as_ref().err().map(|e| e.to_string()),
                "warnings": resolved.as_ref().map(|r| r.warnings.clone()).unwrap_or_default(),
                "scale_bar": resolved.as_ref().is_some_and(|r| r.scale_bar_refusal().is_none()),
                "scale_bar_refused": resolved.as_ref().and_then(|r| r.scale_bar_refusal()),
            });
            println!("{}", serde_json::to_string(&out).context("writing JSON")?);
            continue;
        }
        println!("{}", path.display());
        match &resolved {
            Some(r) => println!("  GSD: {}  [{}]", r.badge(), r.source_text()),
            None if a.ignore_metadata => println!("  GSD: unknown (metadata ignored and no estimate)"),
            None => println!("  GSD: unknown (no metadata in metres and no estimate)"),
        }
        match &estimate {
            Ok(e) => println!(
                "  estimate: {} (68 %: {} - {}; 95 %: {} - {}) from {} crops{}",
                format_metres(e.metres()),
                format_metres(10f64.powf(e.mu - e.sigma)),
                format_metres(10f64.powf(e.mu + e.sigma)),
                format_metres(10f64.powf(e.mu - 2.0 * e.sigma)),
                format_metres(10f64.powf(e.mu + 2.0 * e.sigma)),
                e.crops.len(),
                if e.skipped > 0 { format!(" ({} flat or empty skipped)", e.skipped) } else { String::new() }
            ),
            Err(e) => println!("  estimate: none ({e})"),
        }
        if let Some(m) = metadata {
            println!("  metadata: {} x {} {} ({})", m.x, m.y, m.unit.symbol(), m.source);
        }
        if let Some(why) = resolved.as_ref().and_then(|r| r.scale_bar_refusal()) {
            println!("  {why}");
        }
        for w in resolved.iter().flat_map(|r| &r.warnings) {
            println!("  warning: {w}");
        }
    }
    anyhow::ensure!(failed == 0, "no GSD for {failed} of {} file(s)", a.files.len());
    Ok(())
}
