//! `heatscope cnn FILES`: the CNN headless on any files (a user's own maps, in batch), each reading
//! with its domain verdict; and `heatscope train domain`, which fits that verdict's in-domain
//! distribution for a model folder. Main thread; the model runs on the caller.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::models::cnn::domain::unit_reason;
use crate::models::cnn::{CnnModel, CnnReading, DomainModel, Example, load_examples};
use crate::models::cnn_radio::{RadioCnn, RadioReading};
use crate::types::{REGIONS, Raster, SEVERITY_CLASSES, Split};

/// The CNNs `--model` names.
pub const CNN_MODELS: [&str; 2] = ["cnn", "cnn-radio"];

#[derive(Debug, clap::Args)]
pub struct CnnArgs {
    /// Files to read (any format heatscope opens; band 1 of a square grid in dB is what the CNN knows).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Which CNN: `cnn`, the shipped spectrum CNN, or `cnn-radio`, the radio morphology CNN (cutouts:
    /// FITS of any size and orientation or 8-bit PNG; per task its label and probabilities).
    #[arg(long, default_value = "cnn")]
    pub model: String,
    /// A model folder (config.json, model.safetensors, calibration.json, domain.json), or your own
    /// torchvision ResNet (model.safetensors + heatscope.json), instead of the bundled weights.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// One JSON object per file, in order: file, model, tasks, box, regions, out_of_domain, ood_score,
    /// reason (or error).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DomainArgs {
    /// The model folder; domain.json is written into it.
    #[arg(long)]
    pub model_dir: PathBuf,
    #[command(flatten)]
    pub maps: InDomain,
}

/// The in-domain maps a domain check is fitted on, and where its limit lies.
#[derive(Debug, clap::Args)]
pub struct InDomain {
    /// Datasets whose maps are in domain (repeat: the benchmark's and its variants'): the mean and
    /// covariance from their train split, the limit from their val split.
    #[arg(long, required = true)]
    pub dataset: Vec<PathBuf>,
    /// Share of in-domain val maps inside the limit.
    #[arg(long, default_value_t = 0.995)]
    pub quantile: f64,
}

/// The radio CNN from `dir` or the bundled weights.
pub fn load_radio(dir: Option<&Path>) -> anyhow::Result<RadioCnn> {
    let device = crate::models::compute_device();
    let model = match dir {
        Some(d) => RadioCnn::load(d, &device.device)
            .with_context(|| format!("cannot load the radio CNN from {}", d.display()))?,
        None => RadioCnn::bundled(&device.device).context("cannot load the bundled radio CNN")?,
    };
    if model.calibration.temperature.is_empty() {
        eprintln!("heatscope: WARNING: the radio CNN has no calibration.json: its probabilities are uncalibrated");
    }
    if model.domain.is_none() {
        eprintln!(
            "heatscope: WARNING: the radio CNN has no domain.json, so only the no-source and crowded-field rules say what \
             is out of domain (`heatscope train cnn-radio --refit --dataset DS --out DIR` fits it)"
        );
    }
    eprintln!("radio CNN on {}", device.label);
    Ok(model)
}

/// The JSON line of one radio reading: per task its label (radio-llava's spelling) and probabilities;
/// out of domain (no source in the cutout), no labels and the model's numbers under `model_probs`.
pub fn radio_json(file: &Path, model: &str, r: &RadioReading) -> Value {
    let ood = r.out_of_domain.is_some();
    let tasks: serde_json::Map<String, Value> = r
        .tasks
        .iter()
        .map(|t| {
            let probs: serde_json::Map<String, Value> =
                t.probs.iter().map(|(c, p)| ((*c).to_string(), json!(round(*p)))).collect();
            let entry = if ood {
                json!({"label": null, "probs": null, "model_probs": probs})
            } else {
                json!({"label": t.label, "probs": probs})
            };
            (t.task.to_string(), entry)
        })
        .collect();
    json!({
        "file": file.display().to_string(),
        "model": model,
        "tasks": tasks,
        "out_of_domain": ood,
        "reason": r.out_of_domain,
    })
}

fn run_radio(a: &CnnArgs) -> anyhow::Result<()> {
    let model = load_radio(a.model_dir.as_deref())?;
    each_file(a, |file| {
        let raster = crate::io::load(file, &crate::io::LoadOptions::default())?;
        let r = model.read(&[&raster])?.remove(0).map_err(anyhow::Error::msg)?;
        Ok((radio_json(file, &a.model, &r), format!("{}: {}", file.display(), crate::models::cnn_radio::describe(&r))))
    })
}

/// Read every file of `a` with `read` (its JSON line and its line for a person), print one or the
/// other, a failure as an `error` line or on stderr; exit 1 when any file failed.
fn each_file(a: &CnnArgs, read: impl Fn(&Path) -> anyhow::Result<(Value, String)>) -> anyhow::Result<()> {
    let mut failed = 0;
    for file in &a.files {
        match read(file) {
            Ok((line, _)) if a.json => println!("{line}"),
            Ok((_, text)) => println!("{text}"),
            Err(e) => {
                failed += 1;
                if a.json {
                    println!(
                        "{}",
                        json!({"file": file.display().to_string(), "model": a.model, "error": format!("{e:#}")})
                    );
                } else {
                    eprintln!("{}: error: {e:#}", file.display());
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} files could not be read", a.files.len());
    }
    Ok(())
}

/// Load the CNN `name` from `dir` or the bundled weights.
pub fn load_model(name: &str, dir: Option<&Path>) -> anyhow::Result<CnnModel> {
    if name != CNN_MODELS[0] {
        bail!(
            "{name:?} is not the spectrum CNN here; CNNs: {} (cnn-radio only reads radio cutouts)",
            CNN_MODELS.join(", ")
        );
    }
    let device = crate::models::compute_device().device;
    match dir {
        Some(d) => CnnModel::load(d, &device).with_context(|| format!("cannot load the CNN from {}", d.display())),
        None => CnnModel::bundled(&device).context("cannot load the bundled CNN"),
    }
}

/// The grid the CNN reads from `raster` (band 1, the central square when it is not square) and why
/// that makes it an input of another kind, if it does.
pub fn cnn_grid(raster: &Raster) -> (Vec<f32>, usize, Option<String>) {
    let (w, h) = (raster.width, raster.height);
    let n = w.min(h);
    let (x0, y0) = ((w - n) / 2, (h - n) / 2);
    let band = &raster.bands[0];
    let mut grid: Vec<f32> = Vec::with_capacity(n * n);
    for r in 0..n {
        let row = (y0 + r) * w + x0;
        grid.extend_from_slice(&band[row..row + n]);
    }
    if let Some(valid) = &raster.valid {
        for r in 0..n {
            for c in 0..n {
                if !valid[(y0 + r) * w + x0 + c] {
                    grid[r * n + c] = f32::NAN;
                }
            }
        }
    }
    let reason = if raster.band_count() != 1 {
        Some(format!(
            "the image has {} bands: the CNN was trained on single-band I/N maps (band 1 read)",
            raster.band_count()
        ))
    } else if w != h {
        Some(format!("the image is {w} x {h}: the CNN was trained on square I/N maps (the central square read)"))
    } else {
        unit_reason(raster.meta.unit.as_deref())
    };
    (grid, n, reason)
}

/// Read one file: the reading with every domain rule applied.
pub fn read_file(model: &CnnModel, path: &Path) -> anyhow::Result<CnnReading> {
    let raster = crate::io::load(path, &crate::io::LoadOptions::default())?;
    let (grid, n, shape) = cnn_grid(&raster);
    if n < 8 {
        bail!("the image is {} x {}: too small for the CNN (8 px a side at least)", raster.width, raster.height);
    }
    let mut reading = model.read_grids(&[&grid], n)?.remove(0);
    // The form of the file says most plainly what it is, unless a rule on its values already spoke.
    reading.domain = reading.domain.overruled(shape);
    Ok(reading)
}

/// The JSON line of one reading. Out of domain: no label, no probabilities, no box or regions (the
/// model's own numbers are kept under `model_probs`). A model without a box or region head (an
/// imported CNN) gives `null` for them.
pub fn reading_json(file: &Path, model: &str, r: &CnnReading) -> Value {
    let ood = r.domain.out_of_domain;
    let probs: serde_json::Map<String, Value> =
        SEVERITY_CLASSES.iter().zip(&r.probs).map(|(c, p)| ((*c).to_string(), json!(round(*p)))).collect();
    let severity = if ood {
        json!({"label": null, "probs": null, "model_probs": probs})
    } else {
        json!({"label": SEVERITY_CLASSES[r.severity], "probs": probs})
    };
    let regions: serde_json::Map<String, Value> = REGIONS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let p = if r.regions_from_mask { Value::Null } else { json!(round(r.region_score[i])) };
            let entry = json!({"affected": r.region_affected[i], "p": p, "p95_db": round(r.region_p95_db[i])});
            ((*name).to_string(), entry)
        })
        .collect();
    let score = r.domain.score;
    json!({
        "file": file.display().to_string(),
        "model": model,
        "tasks": {"severity": severity},
        "box": if ood || !r.heads.bbox { Value::Null } else { r.bbox.map_or(Value::Null, |b| json!(b.map(round))) },
        "region_prob": if r.heads.bbox { json!(round(r.region_prob)) } else { Value::Null },
        "regions": if ood || !r.heads.regions { Value::Null } else { Value::Object(regions) },
        "out_of_domain": ood,
        "ood_score": if score.is_finite() { json!(round(score)) } else if score.is_nan() { Value::Null } else { json!("inf") },
        "reason": r.domain.reason,
    })
}

fn round(v: f32) -> f64 {
    (f64::from(v) * 1e4).round() / 1e4
}

/// One line for a person.
fn reading_text(file: &Path, r: &CnnReading) -> String {
    if r.domain.out_of_domain {
        return format!("{}: out of domain: {}", file.display(), r.domain.reason.as_deref().unwrap_or("no reason"));
    }
    let regions: Vec<&str> = REGIONS.iter().zip(&r.region_affected).filter(|(_, a)| **a).map(|(n, _)| *n).collect();
    let bbox = match (r.heads.bbox, r.bbox) {
        (false, _) => "no box head".to_string(),
        (true, None) => "no region".to_string(),
        (true, Some(b)) => format!("box {:.2},{:.2}-{:.2},{:.2}", b[0], b[1], b[2], b[3]),
    };
    let affected = match (r.heads.regions, regions.is_empty()) {
        (false, _) => "no region head".to_string(),
        (true, true) => "none".to_string(),
        (true, false) => regions.join(", "),
    };
    format!(
        "{}: {} ({:.0} %), {bbox}, affected: {affected}",
        file.display(),
        SEVERITY_CLASSES[r.severity],
        100.0 * r.probs[r.severity]
    )
}

pub fn run(a: &CnnArgs) -> anyhow::Result<()> {
    if a.model == "cnn-radio" {
        return run_radio(a);
    }
    let model = load_model(&a.model, a.model_dir.as_deref())?;
    if model.domain.is_none() {
        eprintln!(
            "heatscope: warning: this model folder has no domain.json, so only the rules on the values decide what is \
             out of domain (`heatscope train domain --model-dir DIR --dataset DS` fits it)"
        );
    }
    each_file(a, |file| {
        let r = read_file(&model, file)?;
        Ok((reading_json(file, &a.model, &r), reading_text(file, &r)))
    })
}

/// The train and val examples of `datasets` (the in-domain maps a domain model is fitted on).
pub fn domain_examples(datasets: &[PathBuf], input: usize) -> anyhow::Result<(Vec<Example>, Vec<Example>)> {
    let mut out = Vec::new();
    for d in datasets {
        let ex = load_examples(d, input).with_context(|| format!("cannot read {}", d.display()))?;
        out.extend(ex.into_iter().filter(|e| e.split != Split::Test));
    }
    let (train, val): (Vec<_>, Vec<_>) = out.into_iter().partition(|e| e.split == Split::Train);
    if train.len() < MIN_DOMAIN_MAPS.0 || val.len() < MIN_DOMAIN_MAPS.1 {
        bail!(
            "{} train and {} val scenes in the datasets given; the domain check needs at least {} and {}",
            train.len(),
            val.len(),
            MIN_DOMAIN_MAPS.0,
            MIN_DOMAIN_MAPS.1
        );
    }
    Ok((train, val))
}

/// Fit the in-domain distribution of `model`: mean and covariance on `train`, the limit on `val`
/// (both already the network's input).
pub fn fit_domain(model: &CnnModel, train: &[Example], val: &[Example], quantile: f64) -> anyhow::Result<DomainModel> {
    if !(0.5..1.0).contains(&quantile) {
        bail!("--quantile {quantile} must be in [0.5, 1)");
    }
    let vectors = |ex: &[Example]| -> anyhow::Result<Vec<Vec<f32>>> {
        let grids: Vec<&[f32]> = ex.iter().map(|e| e.grid.as_slice()).collect();
        Ok(model.read_inputs(&grids)?.into_iter().map(|r| r.domain_features).collect())
    };
    DomainModel::fit(&vectors(train)?, &vectors(val)?, quantile, DOMAIN_SHRINKAGE).map_err(anyhow::Error::msg)
}

/// The fewest train and val maps a domain check is fitted on (the covariance is shrunk, so fewer
/// maps than features still give an invertible one; the limit is a quantile of the val maps).
pub const MIN_DOMAIN_MAPS: (usize, usize) = (100, 20);

/// Share of the diagonal mixed into the feature covariance.
pub const DOMAIN_SHRINKAGE: f64 = 0.2;

pub fn run_domain(a: &DomainArgs) -> anyhow::Result<()> {
    let device = crate::models::compute_device().device;
    let model = CnnModel::load_without_domain(&a.model_dir, &device)
        .with_context(|| format!("cannot load the CNN from {}", a.model_dir.display()))?;
    let (train, val) = domain_examples(&a.maps.dataset, model.net.input_side())?;
    let domain = fit_domain(&model, &train, &val, a.maps.quantile)?;
    write_domain(&a.model_dir, &domain)
}

/// Write `domain` as `dir/domain.json` and say what it was fitted on.
pub fn write_domain(dir: &Path, domain: &DomainModel) -> anyhow::Result<()> {
    let path = dir.join("domain.json");
    super::write_output(&path, serde_json::to_vec(domain)?, "the domain model")?;
    println!(
        "domain check fitted on {} train maps, limit on {} val maps: {} features, limit {:.1} (squared distance at \
         the {:.1} % quantile) -> {}",
        domain.fit_maps,
        domain.val_maps,
        domain.dims,
        domain.threshold,
        100.0 * domain.quantile,
        path.display()
    );
    Ok(())
}
