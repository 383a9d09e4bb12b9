//! `heatscope annotations IMAGE [--file ANN]... [--to FORMAT --out PATH] [--json]`: the annotations
//! other tools drew on an image (COCO, YOLO, Pascal VOC, GeoJSON, DeepForest CSV), counted by label
//! with the readers' notes, and optionally all of them exported to one file. Main thread.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use crate::io::annotations::{self, ImageContext};
use crate::io::{self, LoadOptions};
use crate::types::{AnnotationFormat, AnnotationSet};

#[derive(Debug, clap::Args)]
pub struct AnnotationsArgs {
    /// The image the annotations belong to (its size and georeference place them).
    pub image: PathBuf,
    /// Annotation files (default: those beside the image with its name and .xml, .json, .geojson,
    /// .txt or .csv).
    #[arg(long = "file", value_name = "ANN")]
    pub files: Vec<PathBuf>,
    /// Export every annotation read into one file of this format: coco, yolo, voc, geojson, csv.
    #[arg(long, value_name = "FORMAT", requires = "out")]
    pub to: Option<AnnotationFormat>,
    /// Where --to writes (YOLO also writes classes.txt beside it).
    #[arg(long, value_name = "PATH", requires = "to")]
    pub out: Option<PathBuf>,
    /// One JSON object per annotation file instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &AnnotationsArgs) -> anyhow::Result<()> {
    let raster = io::load(&a.image, &LoadOptions::default())?;
    let image = ImageContext::of(&raster);
    drop(raster);
    let files = if a.files.is_empty() { annotations::sidecars(&a.image) } else { a.files.clone() };
    anyhow::ensure!(!files.is_empty(), "no annotation file next to {}; pass --file", a.image.display());
    let mut sets = Vec::new();
    let mut failed = 0;
    for path in &files {
        match annotations::read(path, &image) {
            Ok(set) => {
                report(&set, &image, a.json)?;
                sets.push(set);
            }
            Err(e) => {
                failed += 1;
                eprintln!("heatscope: {e}");
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {} annotation file(s) could not be read", files.len());
    if let (Some(format), Some(out)) = (a.to, &a.out) {
        export(sets, format, &image, out, a.json)?;
    }
    Ok(())
}

fn report(set: &AnnotationSet, image: &ImageContext, as_json: bool) -> anyhow::Result<()> {
    let counts = set.counts();
    let outside = set.outside(image.width, image.height);
    if as_json {
        let out = json!({
            "file": set.source.display().to_string(),
            "format": set.format.name(),
            "count": set.items.len(),
            "labels": counts,
            "notes": set.notes,
            "outside": outside,
        });
        println!("{}", serde_json::to_string(&out).context("writing JSON")?);
        return Ok(());
    }
    println!("{}", set.source.display());
    println!("  format: {}", set.format.title());
    println!(
        "  annotations: {} ({outside} wholly outside the {} x {} image)",
        set.items.len(),
        image.width,
        image.height
    );
    if !counts.is_empty() {
        let labels: Vec<String> = counts.iter().map(|(label, n)| format!("{label} {n}")).collect();
        println!("  labels: {}", labels.join(", "));
    }
    for note in &set.notes {
        println!("  note: {note}");
    }
    Ok(())
}

/// All sets merged into one file; what the format could not hold goes to stderr.
fn export(
    sets: Vec<AnnotationSet>,
    format: AnnotationFormat,
    image: &ImageContext,
    out: &Path,
    as_json: bool,
) -> anyhow::Result<()> {
    let merged = AnnotationSet {
        source: out.to_path_buf(),
        format,
        items: sets.into_iter().flat_map(|s| s.items).collect(),
        notes: Vec::new(),
    };
    let notes = annotations::write(&merged, format, image, out)?;
    let message = format!("wrote {} annotations as {} to {}", merged.items.len(), format.title(), out.display());
    // With --json, stdout holds only the JSON lines.
    if as_json {
        eprintln!("{message}");
    } else {
        println!("{message}");
    }
    for note in notes {
        eprintln!("note: {note}");
    }
    Ok(())
}
