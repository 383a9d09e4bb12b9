//! Writes a SpectrumQA-sim dataset folder: per scene the observed and true grids (.npy, dB), the
//! colormapped observed PNG and a metadata JSON; the question manifest (JSONL), a LLaVA-style
//! conversation file and `dataset.json`. Scenes are generated on scoped worker threads (named
//! `heatscope-sim-N`); output bytes depend only on the options, never on thread timing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;

use super::observe::ObservationModel;
use super::rng::Rng;
use super::scenario::{Layout, Scenario, ScenarioParams};
use super::{GENERATOR_VERSION, Labels, Scene, Variants, generate_scene_with};
use crate::types::{QaRecord, ScenePaths, Split};

/// Fixed colour range of the PNGs a VLM sees (dB).
pub const PNG_RANGE_DB: (f32, f32) = (-20.0, 20.0);

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot write {what}: {source}: {path}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cannot encode {what}: {message}")]
    Encode { what: &'static str, message: String },
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Invalid(String),
}

/// What to generate.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetOptions {
    pub scenarios: Vec<Scenario>,
    /// Scenes per scenario.
    pub scenes: usize,
    pub seed: u64,
    /// Grid side in pixels.
    pub size: usize,
    /// Observation and physics variants (training aids); not written when frozen, so benchmark
    /// datasets read as before.
    #[serde(skip_serializing_if = "Variants::is_frozen")]
    pub variants: Variants,
    #[serde(skip)]
    pub threads: usize,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    pub scenes: usize,
    pub questions: usize,
    pub per_split: Vec<(String, usize)>,
    /// L1 class counts per scenario (low, moderate, high, severe).
    pub severity_counts: Vec<(String, [usize; 4])>,
    pub l3_none: usize,
}

#[derive(Serialize)]
struct SceneMeta<'a> {
    generator: &'static str,
    id: &'a str,
    scenario: Scenario,
    index: usize,
    split: Split,
    seed: u64,
    size: usize,
    pixel_m: f64,
    params: ScenarioParams,
    noise_dbw: f64,
    layout: &'a Layout,
    observation: ObservationModel,
    readings: usize,
    png_range_db: (f32, f32),
    labels: &'a Labels,
}

/// A little-endian f32 C-order 2-D .npy file.
pub fn write_npy_f32(data: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// PNG of a dB grid through a 256-entry colour table over [`PNG_RANGE_DB`] (values outside clamp).
/// The colour of an I/N value (dB) on a dataset's map: `lut` over [`PNG_RANGE_DB`], clamped at both
/// ends; a non-finite value takes the lowest colour.
pub fn map_colour(v: f32, lut: &[[u8; 4]; 256]) -> [u8; 3] {
    let (lo, hi) = PNG_RANGE_DB;
    let t = if v.is_finite() { ((v - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.0 };
    let c = lut[(t * 255.0).round() as usize];
    [c[0], c[1], c[2]]
}

pub fn render_png(grid: &[f32], size: usize, lut: &[[u8; 4]; 256]) -> Result<Vec<u8>, SimError> {
    let mut rgb = Vec::with_capacity(size * size * 3);
    for &v in grid {
        rgb.extend_from_slice(&map_colour(v, lut));
    }
    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut png);
    image::ImageEncoder::write_image(encoder, &rgb, size as u32, size as u32, image::ExtendedColorType::Rgb8)
        .map_err(|e| SimError::Encode { what: "PNG", message: e.to_string() })?;
    Ok(png)
}

fn write_file(path: &Path, bytes: &[u8], what: &'static str) -> Result<(), SimError> {
    std::fs::write(path, bytes).map_err(|source| SimError::Io { what, path: path.to_path_buf(), source })
}

/// The dataset-level files (manifest, conversations, `dataset.json` last: its presence says the
/// dataset is complete) are replaced atomically; scene files are many and regenerated on a rerun.
fn write_durable(path: &Path, bytes: &[u8], what: &'static str) -> Result<(), SimError> {
    crate::io::atomic::write(path, bytes).map_err(|source| SimError::Io { what, path: path.to_path_buf(), source })
}

fn to_json<T: Serialize>(v: &T, what: &'static str) -> Result<String, SimError> {
    serde_json::to_string_pretty(v).map_err(|e| SimError::Encode { what, message: e.to_string() })
}

/// Write one scene's files under `dir/scenes/<id>/`; returns its paths relative to `dir`.
fn write_scene(dir: &Path, scene: &Scene, opts: &DatasetOptions, lut: &[[u8; 4]; 256]) -> Result<ScenePaths, SimError> {
    let rel = format!("scenes/{}", scene.id);
    let folder = dir.join(&rel);
    std::fs::create_dir_all(&folder).map_err(|source| SimError::Io {
        what: "scene folder",
        path: folder.clone(),
        source,
    })?;
    let n = opts.size;
    write_file(&folder.join("observed.npy"), &write_npy_f32(&scene.observation.in_db, n, n), "observed grid")?;
    write_file(&folder.join("truth.npy"), &write_npy_f32(&scene.truth.in_db, n, n), "true grid")?;
    write_file(&folder.join("observed.png"), &render_png(&scene.observation.in_db, n, lut)?, "observed PNG")?;
    let meta = SceneMeta {
        generator: GENERATOR_VERSION,
        id: &scene.id,
        scenario: scene.scenario,
        index: scene.index,
        split: scene.split,
        seed: opts.seed,
        size: n,
        pixel_m: scene.truth.pixel_m,
        params: scene.scenario.params(),
        noise_dbw: scene.truth.noise_dbw,
        layout: &scene.layout,
        observation: scene.observation_model,
        readings: scene.observation.readings.len(),
        png_range_db: PNG_RANGE_DB,
        labels: &scene.labels,
    };
    write_file(&folder.join("meta.json"), to_json(&meta, "scene metadata")?.as_bytes(), "scene metadata")?;
    Ok(ScenePaths {
        observed: format!("{rel}/observed.npy"),
        truth: format!("{rel}/truth.npy"),
        png: format!("{rel}/observed.png"),
        meta: format!("{rel}/meta.json"),
    })
}

/// The manifest records of one scene (in-context examples are filled in later).
fn records(scene: &Scene, paths: &ScenePaths) -> Vec<QaRecord> {
    scene
        .questions
        .iter()
        .enumerate()
        .map(|(k, q)| QaRecord {
            id: format!("{}-q{k}", scene.id),
            scene: scene.id.clone(),
            scenario: scene.scenario.name().to_string(),
            split: scene.split,
            level: q.kind.level(),
            kind: q.kind,
            question: q.text.clone(),
            answer: q.answer.clone(),
            choices: q.choices.clone(),
            bbox: q.bbox,
            concepts: q.concepts.clone(),
            examples: vec![],
            images: paths.clone(),
            snr_bin: None,
        })
        .collect()
}

/// Three in-context examples per question: same kind, another scene, train split; chosen with
/// their own random stream so they do not disturb the scenes.
pub(crate) fn assign_examples(records: &mut [QaRecord], seed: u64) {
    let train: Vec<(usize, &str, crate::types::QuestionKind)> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.split == Split::Train)
        .map(|(i, r)| (i, r.scene.as_str(), r.kind))
        .collect();
    let mut chosen: Vec<Vec<String>> = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let pool: Vec<usize> =
            train.iter().filter(|(_, scene, kind)| *kind == r.kind && *scene != r.scene).map(|(j, _, _)| *j).collect();
        let mut rng = Rng::derive(seed, &[0xE8A_3B1E, i as u64]);
        let mut picks = Vec::new();
        let mut pool = pool;
        while picks.len() < 3 && !pool.is_empty() {
            let k = rng.below(pool.len());
            let j = pool.swap_remove(k);
            // One example per scene.
            if picks.iter().all(|&p: &usize| records[p].scene != records[j].scene) {
                picks.push(j);
            }
        }
        chosen.push(picks.into_iter().map(|j| records[j].id.clone()).collect());
    }
    for (r, ex) in records.iter_mut().zip(chosen) {
        r.examples = ex;
    }
}

#[derive(Serialize)]
struct LlavaTurn {
    from: &'static str,
    value: String,
}

#[derive(Serialize)]
struct LlavaItem<'a> {
    id: &'a str,
    image: &'a str,
    conversations: [LlavaTurn; 2],
}

/// One scene's manifest records and (L1 class, 1 if L3 has no region), or why it failed.
type SceneResult = Result<(Vec<QaRecord>, [usize; 2]), SimError>;

/// Generate and write the dataset. `progress(done, total)` is called after each scene and returns
/// false to cancel (the folder is then left incomplete and `dataset.json` is not written).
pub fn write_dataset(
    dir: &Path,
    opts: &DatasetOptions,
    lut: &[[u8; 4]; 256],
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Result<DatasetSummary, SimError> {
    if opts.scenarios.is_empty() || opts.scenes == 0 {
        return Err(SimError::Invalid("nothing to generate: no scenario or zero scenes".into()));
    }
    if !(16..=2048).contains(&opts.size) {
        return Err(SimError::Invalid(format!("grid size {} is outside 16-2048 pixels", opts.size)));
    }
    std::fs::create_dir_all(dir).map_err(|source| SimError::Io { what: "dataset folder", path: dir.into(), source })?;
    let jobs: Vec<(Scenario, usize)> =
        opts.scenarios.iter().flat_map(|&s| (0..opts.scenes).map(move |i| (s, i))).collect();
    let total = jobs.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let cancelled = AtomicBool::new(false);
    let results: Mutex<Vec<Option<SceneResult>>> = Mutex::new((0..total).map(|_| None).collect());
    let threads = opts.threads.clamp(1, 64);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let builder = std::thread::Builder::new().name(format!("heatscope-sim-{t}"));
            let spawned = builder.spawn_scoped(scope, || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= total || cancelled.load(Ordering::Relaxed) {
                        break;
                    }
                    let (scenario, index) = jobs[k];
                    let scene = generate_scene_with(scenario, index, opts.seed, opts.size, opts.variants);
                    let out = write_scene(dir, &scene, opts, lut).map(|paths| {
                        (
                            records(&scene, &paths),
                            [scene.labels.severity, usize::from(scene.labels.region_box.is_none())],
                        )
                    });
                    if let Ok(mut r) = results.lock() {
                        r[k] = Some(out);
                    }
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if !progress(d, total) {
                        cancelled.store(true, Ordering::Relaxed);
                    }
                }
            });
            if spawned.is_err() {
                cancelled.store(true, Ordering::Relaxed);
            }
        }
    });
    if cancelled.load(Ordering::Relaxed) && done.load(Ordering::Relaxed) < total {
        return Err(SimError::Cancelled);
    }
    let results = results.into_inner().map_err(|_| SimError::Invalid("a generator thread panicked".into()))?;
    let mut all = Vec::new();
    let mut severity_counts: Vec<(String, [usize; 4])> =
        opts.scenarios.iter().map(|s| (s.name().to_string(), [0; 4])).collect();
    let mut l3_none = 0;
    for (k, r) in results.into_iter().enumerate() {
        let (recs, [sev, none]) = r.ok_or_else(|| SimError::Invalid("a scene was not generated".into()))??;
        let si = opts.scenarios.iter().position(|&s| s == jobs[k].0).unwrap_or(0);
        severity_counts[si].1[sev] += 1;
        l3_none += none;
        all.extend(recs);
    }
    assign_examples(&mut all, opts.seed);

    let mut manifest = Vec::new();
    for r in &all {
        let line =
            serde_json::to_string(r).map_err(|e| SimError::Encode { what: "manifest", message: e.to_string() })?;
        manifest.extend_from_slice(line.as_bytes());
        manifest.push(b'\n');
    }
    write_durable(&dir.join("manifest.jsonl"), &manifest, "manifest")?;
    let llava: Vec<LlavaItem> = all
        .iter()
        .map(|r| LlavaItem {
            id: &r.id,
            image: &r.images.png,
            // LLaVA puts the image token in front of the first human turn.
            conversations: [
                LlavaTurn { from: "human", value: format!("<image>\n{}", r.question) },
                LlavaTurn { from: "gpt", value: r.answer.clone() },
            ],
        })
        .collect();
    write_durable(&dir.join("llava.json"), to_json(&llava, "LLaVA conversations")?.as_bytes(), "LLaVA conversations")?;

    let per_split = crate::types::Split::ALL
        .iter()
        .map(|s| (s.name().to_string(), all.iter().filter(|r| r.split == *s && r.id.ends_with("-q0")).count()))
        .collect();
    let summary = DatasetSummary { scenes: total, questions: all.len(), per_split, severity_counts, l3_none };
    #[derive(Serialize)]
    struct DatasetJson<'a> {
        generator: &'static str,
        options: &'a DatasetOptions,
        png_range_db: (f32, f32),
        colormap: &'static str,
        severity_thresholds: [f64; 3],
        summary: &'a DatasetSummary,
    }
    let info = DatasetJson {
        generator: GENERATOR_VERSION,
        options: opts,
        png_range_db: PNG_RANGE_DB,
        colormap: "turbo",
        severity_thresholds: super::labels::SEVERITY_THRESHOLDS,
        summary: &summary,
    };
    write_durable(&dir.join("dataset.json"), to_json(&info, "dataset description")?.as_bytes(), "dataset description")?;
    Ok(summary)
}
