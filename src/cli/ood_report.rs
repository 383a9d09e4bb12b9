//! `heatscope ood-report`: how well the CNN's domain check tells its own kind of input from others.
//! In domain: a dataset's test maps, and the test maps of variant datasets (other observation
//! models and physics: these must be answered). Out of domain: real files of other kinds (crops of
//! remote-sensing tiles, radio images, path-loss maps, a pulsar dynamic spectrum) and synthetic maps
//! (noise, constant, all-NaN, the sign inverted, linear units instead of dB), each set also rescaled
//! into the I/N range (-20..+20 dB) so that the value range alone cannot separate them. Reports the
//! AUROC of `ood_score` against the in-domain test maps, the share flagged, and the false-abstention
//! rates. Main thread.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::models::cnn::CnnModel;
use crate::sim::rng::Rng;
use crate::types::{QuestionKind, Split};

#[derive(Debug, clap::Args)]
pub struct OodReportArgs {
    /// The benchmark dataset: its test maps are the in-domain reference.
    #[arg(long)]
    pub dataset: PathBuf,
    /// Variant datasets (`data spectrum --observation/--physics`): their test maps are in domain too;
    /// the report gives each one's false-abstention rate.
    #[arg(long)]
    pub variant: Vec<PathBuf>,
    /// Real data folder with rs/, radio/ and spectrum/ (default: $HEATSCOPE_REAL_DATA, else
    /// ../shared/data/real).
    #[arg(long)]
    pub real: Option<PathBuf>,
    /// CNN folder (default: the bundled model).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Square crops taken from each real file.
    #[arg(long, default_value_t = 4)]
    pub crops: usize,
    /// Folder for report.md and report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Report the bundled VLM's image domain check instead (or the VLM folder in --vlm-dir): every map
    /// is rendered as the datasets render it (turbo, -20..+20 dB) before the model sees it.
    #[arg(long)]
    pub vlm: bool,
    /// A VLM folder with a domain.json (with --vlm).
    #[arg(long)]
    pub vlm_dir: Option<PathBuf>,
}

/// One map: raw values (NaN = no data), its side.
struct Map {
    grid: Vec<f32>,
    n: usize,
}

#[derive(Debug, Serialize)]
pub struct SetRow {
    pub set: String,
    pub kind: &'static str,
    pub maps: usize,
    /// Share flagged out of domain.
    pub flagged: f64,
    /// AUROC of the score against the in-domain test maps (out-of-domain sets only).
    pub auroc: Option<f64>,
}

/// The test maps of a dataset, raw.
fn test_maps(dataset: &Path) -> anyhow::Result<Vec<Map>> {
    let records = crate::eval::read_manifest(&dataset.join("manifest.jsonl"))
        .with_context(|| format!("cannot read the dataset {}", dataset.display()))?;
    let mut out = Vec::new();
    for r in records.iter().filter(|r| r.kind == QuestionKind::Severity && r.split == Split::Test) {
        let path = dataset.join(&r.images.observed);
        let raster = crate::io::load(&path, &crate::io::LoadOptions::default())?;
        out.push(Map { n: raster.width, grid: raster.bands[0].clone() });
    }
    if out.is_empty() {
        bail!("{} has no test scenes", dataset.display());
    }
    Ok(out)
}

/// Up to `crops` square crops (a quarter to all of the short side) of band 1 of every readable file
/// under `dir`, resampled to 128 px.
fn real_maps(dir: &Path, crops: usize, rng: &mut Rng) -> Vec<Map> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(raster) = crate::io::load(&f, &crate::io::LoadOptions::default()) else { continue };
        let (grid, n, _) = super::cnn_cmd::cnn_grid(&raster);
        if n < 16 {
            continue;
        }
        for k in 0..crops.max(1) {
            let side = if k == 0 { n } else { (n as f64 * rng.range(0.25, 1.0)) as usize }.max(16);
            let (r0, c0) = (rng.below(n - side + 1), rng.below(n - side + 1));
            let mut crop = Vec::with_capacity(side * side);
            for r in 0..side {
                crop.extend_from_slice(&grid[(r0 + r) * n + c0..(r0 + r) * n + c0 + side]);
            }
            let m = side.min(128);
            out.push(Map { grid: crate::models::cnn::resize(&crop, side, m), n: m });
        }
    }
    out
}

/// The map linearly stretched so its 2nd..98th percentiles span -20..+20 dB (NaN kept).
fn rescaled(m: &Map) -> Map {
    let mut v: Vec<f32> = m.grid.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f32::total_cmp);
    let grid = if v.is_empty() {
        m.grid.clone()
    } else {
        let (lo, hi) = (v[(v.len() - 1) * 2 / 100], v[(v.len() - 1) * 98 / 100]);
        // A constant goes to the middle of the range (at the floor it would be a quiet scene).
        let (scale, base) = if hi > lo { (40.0 / (hi - lo), -20.0) } else { (0.0, 0.0) };
        m.grid.iter().map(|&x| if x.is_finite() { base + (x - lo) * scale } else { x }).collect()
    };
    Map { grid, n: m.n }
}

/// A model's domain verdict on one map: (score, out of domain).
type Judge<'a> = Box<dyn Fn(&Map) -> anyhow::Result<(f32, bool)> + 'a>;

fn cnn_judge(model: &CnnModel) -> Judge<'_> {
    Box::new(move |m: &Map| {
        let r = model.read_grids(&[&m.grid], m.n)?.remove(0);
        Ok((r.domain.score, r.domain.out_of_domain))
    })
}

/// The VLM's verdict on a map rendered as the datasets render it (turbo over -20..+20 dB, NaN at the
/// floor's colour): the rules on the values first, as for the CNN, then its image features.
fn vlm_judge(model: &crate::backend::LocalBackend) -> Judge<'_> {
    let lut = crate::render::Colormap::Turbo.table();
    Box::new(move |m: &Map| {
        if let Some(_why) = crate::models::cnn::domain::value_reason(&m.grid) {
            return Ok((f32::INFINITY, true));
        }
        let mut img = image::RgbImage::new(m.n as u32, m.n as u32);
        for (p, &v) in img.pixels_mut().zip(&m.grid) {
            *p = image::Rgb(crate::sim::map_colour(if v.is_finite() { v } else { -20.0 }, &lut));
        }
        let verdict = model.image_domain(&img)?.ok_or_else(|| anyhow::anyhow!("the VLM folder has no domain.json"))?;
        Ok((verdict.score, verdict.out_of_domain))
    })
}

fn scores(judge: &Judge<'_>, maps: &[Map]) -> anyhow::Result<Vec<(f32, bool)>> {
    maps.iter().map(judge).collect()
}

/// AUROC of `neg` (in domain) below `pos` (out of domain), ties half; NaN scores count as 0.
pub fn auroc(neg: &[f32], pos: &[f32]) -> f64 {
    let key = |x: f32| if x.is_nan() { 0.0 } else { x };
    let mut wins = 0.0;
    for &p in pos {
        for &n in neg {
            let (p, n) = (key(p), key(n));
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()).max(1) as f64
}

pub fn run(a: &OodReportArgs) -> anyhow::Result<()> {
    let cnn;
    let vlm;
    let judge = if a.vlm {
        let source = match &a.vlm_dir {
            Some(d) => crate::backend::VlmSource::Folder(d.clone()),
            None => crate::backend::VlmSource::Bundled,
        };
        let dir = match &source {
            crate::backend::VlmSource::Folder(d) => d.clone(),
            _ => crate::models::vlm::bundled::folder()?,
        };
        let device = crate::models::compute_device().device;
        let model = crate::models::vlm::QwenVl::load(&dir, candle_core::DType::F32, &device)
            .with_context(|| format!("cannot load the VLM from {}", dir.display()))?;
        vlm = crate::backend::LocalBackend::new(std::sync::Arc::new(model));
        vlm_judge(&vlm)
    } else {
        cnn = super::cnn_cmd::load_model("cnn", a.model_dir.as_deref())?;
        if cnn.domain.is_none() {
            bail!("the model has no domain.json; fit one with `heatscope train domain`");
        }
        cnn_judge(&cnn)
    };
    let real = a.real.clone().unwrap_or_else(|| {
        std::env::var_os("HEATSCOPE_REAL_DATA").map_or_else(|| PathBuf::from("../shared/data/real"), PathBuf::from)
    });
    if !real.is_dir() {
        bail!("no real data folder at {} (pass --real DIR)", real.display());
    }
    let mut rng = Rng::new(7);
    let test = test_maps(&a.dataset)?;
    let reference = scores(&judge, &test)?;
    let ref_scores: Vec<f32> = reference.iter().map(|s| s.0).collect();
    let flagged = |s: &[(f32, bool)]| s.iter().filter(|x| x.1).count() as f64 / s.len().max(1) as f64;
    let mut rows = vec![SetRow {
        set: "test split (in domain)".into(),
        kind: "in domain",
        maps: test.len(),
        flagged: flagged(&reference),
        auroc: None,
    }];
    for v in &a.variant {
        let s = scores(&judge, &test_maps(v)?)?;
        let name = v.file_name().map_or(v.display().to_string(), |n| n.to_string_lossy().into_owned());
        rows.push(SetRow { set: name, kind: "in domain (variant)", maps: s.len(), flagged: flagged(&s), auroc: None });
    }
    // Synthetic sets from the first test maps.
    let base: Vec<&Map> = test.iter().take(200).collect();
    let mut sets: Vec<(String, Vec<Map>)> = vec![
        (
            "noise".into(),
            base.iter()
                .map(|m| Map { grid: (0..m.n * m.n).map(|_| rng.range(-20.0, 20.0) as f32).collect(), n: m.n })
                .collect(),
        ),
        (
            "constant".into(),
            base.iter().map(|m| Map { grid: vec![rng.range(-15.0, 15.0) as f32; m.n * m.n], n: m.n }).collect(),
        ),
        ("all-NaN".into(), base.iter().map(|m| Map { grid: vec![f32::NAN; m.n * m.n], n: m.n }).collect()),
        (
            "inverted sign".into(),
            base.iter().map(|m| Map { grid: m.grid.iter().map(|v| -v).collect(), n: m.n }).collect(),
        ),
        (
            "linear units".into(),
            base.iter().map(|m| Map { grid: m.grid.iter().map(|v| 10f32.powf(v / 10.0)).collect(), n: m.n }).collect(),
        ),
    ];
    for (name, sub) in [
        ("remote-sensing tiles", "rs"),
        ("radio images", "radio"),
        ("path-loss maps", "spectrum/sg_radiomap_golden"),
        ("pulsar dynamic spectrum", "spectrum/parkes_J0437_dynspec"),
    ] {
        let crops = if sub.contains("parkes") { 16 * a.crops } else { a.crops };
        let maps = real_maps(&real.join(sub), crops, &mut rng);
        if maps.is_empty() {
            eprintln!(
                "heatscope: warning: no readable files in {}: the {name} set is skipped",
                real.join(sub).display()
            );
            continue;
        }
        sets.push((name.into(), maps));
    }
    for (name, maps) in sets {
        let stretched: Vec<Map> = maps.iter().map(rescaled).collect();
        for (label, set) in [(name.clone(), maps), (format!("{name}, rescaled"), stretched)] {
            let s = scores(&judge, &set)?;
            let pos: Vec<f32> = s.iter().map(|x| x.0).collect();
            rows.push(SetRow {
                set: label,
                kind: "out of domain",
                maps: set.len(),
                flagged: flagged(&s),
                auroc: Some(auroc(&ref_scores, &pos)),
            });
        }
    }
    let mut md = String::from(
        "| set | kind | maps | flagged out of domain | AUROC vs test |\n| --- | --- | --- | --- | --- |\n",
    );
    for r in &rows {
        let au = r.auroc.map_or("-".to_string(), |x| format!("{x:.3}"));
        md.push_str(&format!("| {} | {} | {} | {:.1} % | {au} |\n", r.set, r.kind, r.maps, 100.0 * r.flagged));
    }
    print!("{md}");
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    super::write_output(&a.out.join("report.md"), &md, "the report")?;
    super::write_output(&a.out.join("report.json"), serde_json::to_vec_pretty(&rows)?, "the report")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_counts_pairs_and_ties() {
        assert_eq!(auroc(&[0.1, 0.2], &[0.3, 0.4]), 1.0);
        assert_eq!(auroc(&[0.3, 0.4], &[0.1, 0.2]), 0.0);
        assert_eq!(auroc(&[0.5], &[0.5]), 0.5);
        assert_eq!(auroc(&[0.5], &[f32::INFINITY]), 1.0);
        let m = rescaled(&Map { grid: (0..100).map(|i| 137.0 + i as f32).collect(), n: 10 });
        assert!((m.grid[1] + 20.0).abs() < 1e-3 && (m.grid[97] - 20.0).abs() < 1e-3, "2nd and 98th percentiles");
    }
}
