//! `heatscope info FILES... [--json]`: what the loaders read, without opening a window.

use std::path::PathBuf;

use anyhow::Context;

use crate::io::{self, LoadOptions};
use crate::types::Raster;

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Files to describe.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// One JSON object per file instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    let mut failed = 0;
    for path in &args.files {
        match io::load(path, &LoadOptions::default()) {
            Ok(raster) => {
                if args.json {
                    println!("{}", serde_json::to_string(&describe_json(&raster)).context("writing JSON")?);
                } else {
                    print!("{}", describe_text(&raster));
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("heatscope: {e}");
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {} file(s) could not be read", args.files.len());
    Ok(())
}

/// An axis value with enough digits for frequencies in MHz and times in minutes.
fn fmt_axis(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn describe_text(r: &Raster) -> String {
    let m = &r.meta;
    let mut s = format!(
        "{}\n  format: {}\n  size: {} x {} x {} band(s)\n",
        m.path.display(),
        m.format,
        r.width,
        r.height,
        r.band_count()
    );
    if let Some(d) = m.dtype {
        s += &format!("  stored type: {}\n", d.name());
    }
    if let Some(p) = &m.pixel_size {
        let approx = if p.approximate { " (approximate)" } else { "" };
        s += &format!("  pixel size: {:.6} x {:.6} {}{approx}, from {}\n", p.x, p.y, p.unit.symbol(), p.source);
    }
    if let Some(c) = &m.crs {
        s += &format!("  CRS: {c}\n");
    }
    if let Some(u) = &m.unit {
        s += &format!("  unit: {u}\n");
    }
    if let Some(a) = &m.axes {
        let span = |axis: &crate::types::Axis, n: usize| {
            format!(
                "{} {} -> {} {}",
                axis.name,
                fmt_axis(axis.at(0.0)),
                fmt_axis(axis.at(n.saturating_sub(1) as f64)),
                axis.unit
            )
        };
        s += &format!("  axes: {} across, {} down\n", span(&a.x, r.width), span(&a.y, r.height));
    }
    if let Some(b) = &m.beam {
        s += &format!("  beam: {:.2} x {:.2} arcsec, PA {:.1} deg\n", b.major_arcsec, b.minor_arcsec, b.pa_deg);
    }
    for note in &m.notes {
        s += &format!("  note: {note}\n");
    }
    s
}

fn describe_json(r: &Raster) -> serde_json::Value {
    let m = &r.meta;
    serde_json::json!({
        "path": m.path,
        "format": m.format,
        "width": r.width,
        "height": r.height,
        "bands": r.band_count(),
        "dtype": m.dtype.map(|d| d.name()),
        "pixel_size": m.pixel_size.as_ref().map(|p| serde_json::json!({
            "x": p.x, "y": p.y, "unit": p.unit.symbol(), "source": p.source, "approximate": p.approximate,
        })),
        "crs": m.crs,
        "unit": m.unit,
        "axes": m.axes.as_ref().map(|a| {
            let axis = |axis: &crate::types::Axis, n: usize| serde_json::json!({
                "name": axis.name, "unit": axis.unit,
                "first": axis.at(0.0), "last": axis.at(n.saturating_sub(1) as f64),
                "tabulated": !axis.values.is_empty(),
            });
            serde_json::json!({"x": axis(&a.x, r.width), "y": axis(&a.y, r.height)})
        }),
        "notes": m.notes,
    })
}
