//! Writes a RadioQA-sim dataset folder: per scene `scenes/<id>.fits`, `<id>_truth.npy`, `<id>.png`
//! and `<id>.json`; `manifest.jsonl` of [`QaRecord`] lines, `llava.json` and `dataset.json`, the
//! dataset-level files replaced atomically (`dataset.json` last: its presence says the dataset is
//! complete). Each task keeps the same number of questions per class in every split. Scenes are
//! generated on scoped worker threads named `heatscope-sim-N`; the output bytes depend only on the
//! options and the background files, never on thread timing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;

use super::backgrounds::{self, Backgrounds};
use super::build::{DIFFUSE_MAX_SHARE, DIFFUSE_SNR, LARGE_MIN_SHARE, MIN_RIDGES};
use super::files::{DISPLAY_CLIP_SIGMA, DISPLAY_CONTRAST, write_scene};
use super::galaxies::{BENT_MIN_DEG, BENT_MIN_GAP_BEAMS, FR1_MAX_RATIO, FR2_MIN_RATIO, MIN_LAS_BEAMS};
use super::labels::ARTEFACT_NO_MIN_SNR;
use super::questions::RadioQuestion;
use super::sources::{BRIGHT_SNR, ISLAND_SIGMA, PEAK_SIGMA, RESOLVED_BEAMS, SNR_BINS};
use super::{BackgroundInfo, GENERATOR_VERSION, NAN_SHARE, PLAN, REAL_SHARE, RadioError, SIM_PIXEL_ARCSEC, SIM_RMS};
use crate::sim::rng::Rng;
use crate::types::{Level, QaRecord, QuestionKind, ScenePaths, Split};

/// Smallest and largest cutout side (pixels).
pub const SIZES: (usize, usize) = (96, 1024);

/// What to generate.
#[derive(Debug, Clone, Serialize)]
pub struct RadioOptions {
    pub scenes: usize,
    pub seed: u64,
    /// Cutout side in pixels.
    pub size: usize,
    /// The folder real backgrounds came from, if any.
    pub backgrounds: Option<PathBuf>,
    pub allow_gpl_backgrounds: bool,
    #[serde(skip)]
    pub threads: usize,
}

/// What was written: questions per task, split and class, and scene counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RadioSummary {
    pub scenes: usize,
    pub questions: usize,
    pub scenes_per_split: BTreeMap<String, usize>,
    /// task -> split -> class -> questions.
    pub counts: BTreeMap<String, BTreeMap<String, BTreeMap<String, usize>>>,
    pub real_background_scenes: usize,
    pub nan_border_scenes: usize,
}

/// What a worker hands back for one scene.
struct SceneOut {
    id: String,
    split: Split,
    snr_bin: String,
    real: bool,
    nan: bool,
    paths: ScenePaths,
    questions: Vec<RadioQuestion>,
}

/// Which (scene, question) pairs stay: for each task and split, every class keeps as many questions
/// as its rarest class has, chosen in an order drawn from the seed (not by position).
fn balanced(outs: &[SceneOut], seed: u64) -> Vec<Vec<bool>> {
    let mut keep: Vec<Vec<bool>> = outs.iter().map(|o| vec![false; o.questions.len()]).collect();
    for (t, kind) in QuestionKind::RADIO.into_iter().enumerate() {
        for split in Split::ALL {
            let mut per_class: Vec<Vec<(u64, usize, usize)>> = kind
                .radio_classes()
                .iter()
                .map(|class| {
                    outs.iter()
                        .enumerate()
                        .filter(|(_, o)| o.split == split)
                        .filter_map(|(s, o)| {
                            let q = o.questions.iter().position(|q| q.kind == kind && q.answer == *class)?;
                            Some((Rng::derive(seed, &[0xBA1A_4CE0, t as u64, s as u64]).next_u64(), s, q))
                        })
                        .collect()
                })
                .collect();
            let m = per_class.iter().map(Vec::len).min().unwrap_or(0);
            for list in &mut per_class {
                list.sort_unstable();
                for &(_, s, q) in list.iter().take(m) {
                    keep[s][q] = true;
                }
            }
        }
    }
    keep
}

fn write_durable(path: &Path, bytes: &[u8], what: &'static str) -> Result<(), RadioError> {
    crate::io::atomic::write(path, bytes).map_err(|source| RadioError::Io { what, path: path.to_path_buf(), source })
}

fn to_json<T: Serialize>(v: &T, what: &'static str) -> Result<String, RadioError> {
    serde_json::to_string_pretty(v).map_err(|e| RadioError::Encode { what, message: e.to_string() })
}

/// Generate and write the dataset into `dir`, real backgrounds from `backgrounds` when given.
/// `progress(done, total)` is called after each scene and returns false to cancel (the folder is left
/// without `dataset.json`).
///
/// # Errors
/// Bad options, a file that cannot be written, a scene that cannot be generated, or cancelling.
pub fn write_radio_dataset(
    dir: &Path,
    opts: &RadioOptions,
    backgrounds: Option<&Backgrounds>,
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Result<RadioSummary, RadioError> {
    if opts.scenes == 0 {
        return Err(RadioError::Invalid("nothing to generate: --scenes is 0".into()));
    }
    if !(SIZES.0..=SIZES.1).contains(&opts.size) {
        return Err(RadioError::Invalid(format!(
            "cutout size {} is outside {}-{} pixels",
            opts.size, SIZES.0, SIZES.1
        )));
    }
    let scenes_dir = dir.join("scenes");
    std::fs::create_dir_all(&scenes_dir).map_err(|source| RadioError::Io {
        what: "dataset folder",
        path: scenes_dir,
        source,
    })?;
    let total = opts.scenes;
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let cancelled = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<SceneOut, RadioError>>>> = Mutex::new((0..total).map(|_| None).collect());
    std::thread::scope(|scope| {
        for t in 0..opts.threads.clamp(1, 64) {
            let builder = std::thread::Builder::new().name(format!("heatscope-sim-{t}"));
            let spawned = builder.spawn_scoped(scope, || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= total || cancelled.load(Ordering::Relaxed) {
                        break;
                    }
                    let out = super::generate_scene(k, opts.seed, opts.size, backgrounds).and_then(|scene| {
                        let paths = write_scene(dir, &scene, opts.seed)?;
                        Ok(SceneOut {
                            real: matches!(scene.background, BackgroundInfo::Real { .. }),
                            nan: scene.observed.iter().any(|v| !v.is_finite()),
                            id: scene.id,
                            split: scene.split,
                            snr_bin: super::sources::snr_bin_name(scene.measures.snr_bin),
                            paths,
                            questions: scene.questions,
                        })
                    });
                    let failed = out.is_err();
                    if let Ok(mut r) = results.lock() {
                        r[k] = Some(out);
                    }
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if failed || !progress(d, total) {
                        cancelled.store(true, Ordering::Relaxed);
                    }
                }
            });
            if spawned.is_err() {
                cancelled.store(true, Ordering::Relaxed);
            }
        }
    });
    let results = results.into_inner().map_err(|_| RadioError::Invalid("a generator thread panicked".into()))?;
    // The first error in scene order, else cancelled, else all scenes.
    let mut outs = Vec::with_capacity(total);
    for r in results {
        match r {
            Some(Ok(o)) => outs.push(o),
            Some(Err(e)) => return Err(e),
            None => return Err(RadioError::Cancelled),
        }
    }

    let keep = balanced(&outs, opts.seed);
    let mut records = Vec::new();
    let mut summary = RadioSummary { scenes: total, ..RadioSummary::default() };
    for (o, keep) in outs.iter().zip(&keep) {
        *summary.scenes_per_split.entry(o.split.name().to_string()).or_default() += 1;
        summary.real_background_scenes += usize::from(o.real);
        summary.nan_border_scenes += usize::from(o.nan);
        for (q, _) in o.questions.iter().zip(keep).filter(|(_, k)| **k) {
            let counts = summary.counts.entry(q.kind.name().to_string()).or_default();
            *counts.entry(o.split.name().to_string()).or_default().entry(q.answer.clone()).or_default() += 1;
            records.push(QaRecord {
                id: format!("{}-{}", o.id, q.kind.name()),
                scene: o.id.clone(),
                scenario: if o.real { "radio-real-noise" } else { "radio-sim-noise" }.to_string(),
                split: o.split,
                level: Level::L1,
                kind: q.kind,
                question: q.text.clone(),
                answer: q.answer.clone(),
                choices: q.kind.radio_classes().iter().map(|c| (*c).to_string()).collect(),
                bbox: None,
                concepts: vec![],
                examples: vec![],
                images: o.paths.clone(),
                snr_bin: Some(o.snr_bin.clone()),
            });
        }
    }
    summary.questions = records.len();
    crate::sim::dataset::assign_examples(&mut records, opts.seed);

    let mut manifest = Vec::new();
    for r in &records {
        let line =
            serde_json::to_string(r).map_err(|e| RadioError::Encode { what: "manifest", message: e.to_string() })?;
        manifest.extend_from_slice(line.as_bytes());
        manifest.push(b'\n');
    }
    write_durable(&dir.join("manifest.jsonl"), &manifest, "manifest")?;
    let llava: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "image": r.images.png,
                "conversations": [
                    {"from": "human", "value": format!("<image>\n{}", r.question)},
                    {"from": "gpt", "value": r.answer},
                ],
            })
        })
        .collect();
    write_durable(&dir.join("llava.json"), to_json(&llava, "LLaVA conversations")?.as_bytes(), "LLaVA conversations")?;
    let info = serde_json::json!({
        "generator": GENERATOR_VERSION,
        "options": opts,
        "definitions": definitions(),
        "backgrounds": backgrounds.map(Backgrounds::report).unwrap_or_default(),
        "summary": &summary,
    });
    write_durable(&dir.join("dataset.json"), to_json(&info, "dataset description")?.as_bytes(), "dataset description")?;
    Ok(summary)
}

/// The generator's definitions as numbers, for `dataset.json` (docs/radioqa-sim.md explains them).
fn definitions() -> serde_json::Value {
    serde_json::json!({
        "island_threshold_sigma": ISLAND_SIGMA,
        "island_connectivity": 8,
        "peak_threshold_sigma": PEAK_SIGMA,
        "peak_min_separation": "one restoring-beam FWHM major axis",
        "snr_bins_sigma": SNR_BINS,
        "resolved_min_beams": RESOLVED_BEAMS,
        "diffuse_peak_sigma": DIFFUSE_SNR,
        "diffuse_large_min_share_of_side": 0.5,
        "diffuse_drawn_max_share": DIFFUSE_MAX_SHARE,
        "diffuse_large_drawn_min_share": LARGE_MIN_SHARE,
        "fr_ratio_boundary": 0.5,
        "fr1_drawn_max_ratio": FR1_MAX_RATIO,
        "fr2_drawn_min_ratio": FR2_MIN_RATIO,
        "galaxy_min_size_beams": MIN_LAS_BEAMS,
        "bent_tail_min_bend_deg": BENT_MIN_DEG,
        "bent_tail_min_end_gap_beams": BENT_MIN_GAP_BEAMS,
        "artefact_min_ridges_above_5_sigma_over_half_circle": MIN_RIDGES,
        "artefact_bright_source_sigma": BRIGHT_SNR,
        "artefact_no_min_peak_sigma": ARTEFACT_NO_MIN_SNR,
        "beam_fwhm_px": backgrounds::BEAM_PX,
        "simulated_rms_jy_beam": SIM_RMS,
        "simulated_pixel_arcsec": SIM_PIXEL_ARCSEC,
        "real_background_share": REAL_SHARE,
        "source_free_sigma": backgrounds::SOURCE_FREE_SIGMA,
        "source_free_block_mean_sigma": backgrounds::BLOCK_MEAN_SIGMA,
        "source_free_window_rms_factor": backgrounds::WINDOW_RMS_FACTOR,
        "nan_mask_share": NAN_SHARE,
        "display": {"clip_sigma": DISPLAY_CLIP_SIGMA, "zscale_contrast": DISPLAY_CONTRAST},
        "splits": "scene i: round r = i / 36, slot s = i % 36; split of (r + 7 s) mod 20: 0-13 train, 14-16 val, 17-19 test",
        "plan": PLAN.iter().map(|r| r.name()).collect::<Vec<_>>(),
        "balance": "per task and split, every class keeps as many questions as the rarest class has",
    })
}
