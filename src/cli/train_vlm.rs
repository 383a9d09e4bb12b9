//! `heatscope train vlm`: a small model of the engine's architecture (Qwen3-VL or Qwen2-VL layout, own BPE
//! tokenizer) trained from scratch on a SpectrumQA-sim dataset's train split (L2 and L4 questions by
//! default), validated on its val split, written as a model folder that `QwenVl::load` (and
//! transformers) read: config.json, tokenizer.json, preprocessor_config.json, generation_config.json,
//! chat_template.jinja, model.safetensors (best val loss) and last.safetensors + optimizer.safetensors +
//! state.json to resume.
//! Progress with ETA; checkpoints are atomic, so Ctrl+C loses at most the steps since the last one.
//! Runs on the main thread.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use candle_core::DType;
use serde_json::json;

use crate::models::checkpoint;
use crate::models::vlm::train::{Example, Sample, TrainSettings, Trainer, loss, set_grid_positions, write_weights};
use crate::models::vlm::{Part, QwenVl};
use crate::sim::labels::StoredLabels;
use crate::sim::phrasing::Rewording;
use crate::sim::questions::{affected_questions, pair_questions, ranking_question, region_values_question};
use crate::sim::scenario::Scenario;
use crate::types::{Level, QaRecord, QuestionKind, Split};

mod folder;
mod marks;
mod shrink;
use folder::{copy_model_files, write_model_folder};
use marks::{mark_question_first, mark_trained_on};

#[derive(Debug, clap::Args)]
pub struct VlmTrainArgs {
    /// Dataset folder (heatscope data spectrum).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Output model folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Levels to train on, comma-separated.
    #[arg(long, default_value = "L2,L4")]
    pub levels: String,
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Tokenizer vocabulary (trained on the dataset's text).
    #[arg(long, default_value_t = 1024)]
    pub vocab: usize,
    /// Language model width; the vision tower is half as wide.
    #[arg(long, default_value_t = 256)]
    pub width: usize,
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    /// Architecture of the new model: Qwen3-VL (patch 16, learned absolute positions in the vision
    /// tower, interleaved rotary sections, a deepstack merger into the first decoder layer; what the
    /// bundled model uses) or Qwen2-VL (patch 14, rows and columns on the lowest rotary frequencies, no
    /// absolute image positions).
    #[arg(long, value_enum, default_value_t = Family::Qwen3Vl)]
    pub family: Family,
    /// Largest image side after resizing (pixels, a multiple of 28 for Qwen2-VL, of 32 for Qwen3-VL);
    /// default 112 (Qwen2-VL) or 128 (Qwen3-VL: a 128 px map at its own resolution).
    #[arg(long)]
    pub image_side: Option<usize>,
    /// Rotary base of the language model. Qwen2-VL gives the image rows and columns the lowest
    /// frequencies of the rotary embedding; with a base of 10,000 and a 4 x 4 grid of image tokens, a
    /// column step turns them by at most 0.003 rad, so left and right are nearly invisible to attention.
    /// A small base makes them distinguishable.
    #[arg(long, default_value_t = 10000.0)]
    pub rope_theta: f64,
    /// Validation questions scored each checkpoint.
    #[arg(long, default_value_t = 64)]
    pub val_questions: usize,
    /// Steps between validation + checkpoint.
    #[arg(long, default_value_t = 200)]
    pub every: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue the run in --out (weights from last.safetensors, optimizer moments from
    /// optimizer.safetensors).
    #[arg(long)]
    pub resume: bool,
    /// Start from this model folder's weights, tokenizer and architecture instead of random weights
    /// (fine-tuning; --width, --layers, --vocab and --image-side are then taken from it).
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Also train on one extra question per train scene: rank the five regions by their true
    /// 95th-percentile I/N (from the scene's meta.json). Never asked in evaluation.
    #[arg(long)]
    pub rank_questions: bool,
    /// Also train on one extra question per train scene: every region's true 95th-percentile I/N,
    /// each value written after its region's name (a dense lesson in reading a named region). Never
    /// asked in evaluation.
    #[arg(long)]
    pub region_values: bool,
    /// Also train on up to this many extra "which is worse" questions per train scene, over its other
    /// region pairs further apart than the 1 dB margin, in the dataset's paraphrases and labelled from
    /// its meta.json (a scene's manifest asks about one pair). Never asked in evaluation.
    #[arg(long, default_value_t = 0)]
    pub pair_questions: usize,
    /// Also train on up to this many extra "is this region affected" questions per train scene (of its
    /// five regions; a scene's manifest asks about two), in the dataset's paraphrases and labelled from
    /// its meta.json. Never asked in evaluation.
    #[arg(long, default_value_t = 0)]
    pub affected_questions: usize,
    /// Also train on the L2 questions of this many grounding drills: quiet maps with a few round hot
    /// spots, where which region is hotter is plain to see (see `sim::drill`). Never asked in
    /// evaluation; the questions of 32 more drills are scored apart at each checkpoint ("drills" in
    /// its line) and never decide which checkpoint is kept.
    #[arg(long, default_value_t = 0)]
    pub drills: u64,
    /// Start a new Qwen3-VL model's learned patch positions as a 2-D sine-cosine grid as large as a
    /// patch's embedding instead of small noise (see the model card: training then still washes them
    /// out of the image tokens).
    #[arg(long, conflicts_with_all = ["resume", "init"])]
    pub grid_positions: bool,
    /// Put the question before the map in every prompt and mark the model so (`heatscope_question_first`
    /// in its config.json, and a chat template that renders text before images): `ask`, `eval`, `serve`
    /// and the app then lay its prompts out the same way. The answer then sits at the same distance after
    /// every image token whatever the question's length, so rotary positions can tell the model which
    /// token is where.
    #[arg(long, conflicts_with = "resume")]
    pub question_first: bool,
    /// Stop after this many steps (the learning-rate schedule spans them) instead of after --epochs.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Share of training questions (the dataset's and the extra region questions; not drills, not
    /// validation) whose context line is said in other words or left out (`sim::phrasing`), drawn
    /// once per question at start-up: the answer's form must not hang on one fixed sentence.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub varied_context: f64,
    /// Share of training questions replaced by the same question typed the way people type it: short,
    /// no context line, no definitions, other names for the regions, the odd typo (`sim::phrasing`).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub typed_questions: f64,
    /// With --init: start from the init model with each decoder layer's gated MLP cut to its N
    /// strongest units (largest product of the unit's gate, up and down weight norms), a smaller model
    /// whose fine-tuning recovers what the cut units did.
    #[arg(long, value_name = "N", requires = "init")]
    pub mlp: Option<usize>,
    /// Train and validate on this scenario's questions only (leo-urban, geo-rural, haps-coastal), and
    /// record it in config.json (`heatscope_trained_on`): the cross-scenario experiments, whose
    /// matrix the error analysis draws from runs of such models.
    #[arg(long)]
    pub scenario: Option<String>,
}

/// Patches merged into one language-model token along each side.
const MERGE: usize = 2;

/// The architecture `train vlm` writes for a model trained from scratch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    #[value(name = "qwen2-vl")]
    Qwen2Vl,
    #[value(name = "qwen3-vl")]
    Qwen3Vl,
}

impl Family {
    /// The vision tower's patch side in pixels.
    fn patch(self) -> usize {
        match self {
            Self::Qwen2Vl => 14,
            Self::Qwen3Vl => 16,
        }
    }

    /// Image side must be a multiple of this (patch side x the 2 x 2 merge).
    fn side_step(self) -> usize {
        self.patch() * MERGE
    }

    /// The engine's name for the same family.
    fn engine(self) -> crate::models::vlm::Family {
        match self {
            Self::Qwen2Vl => crate::models::vlm::Family::Qwen2Vl,
            Self::Qwen3Vl => crate::models::vlm::Family::Qwen3Vl,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Qwen2Vl => "qwen2-vl",
            Self::Qwen3Vl => "qwen3-vl",
        }
    }

    fn default_side(self) -> usize {
        match self {
            Self::Qwen2Vl => 112,
            Self::Qwen3Vl => 128,
        }
    }
}

/// One training or validation question: the rendered map, the question and its reference answer.
#[derive(Clone, Debug)]
struct Item {
    image: ItemImage,
    question: String,
    answer: String,
    /// The question kind's name (`ranking` and `region-values` for the training-only extras).
    kind: &'static str,
}

/// Where an item's map comes from: a dataset's rendered PNG (read at each step, so a large dataset
/// is not held in memory) or a drill drawn at start-up (a 128 px drill is 48 KiB).
#[derive(Clone, Debug)]
enum ItemImage {
    File(PathBuf),
    Drawn(std::sync::Arc<image::RgbImage>),
}

/// The questions of drills `range` of the run's drill stream (see [`crate::sim::drill`]), at the
/// dataset's map size.
fn drill_items(seed: u64, range: std::ops::Range<u64>, size: usize) -> anyhow::Result<Vec<Item>> {
    let lut = crate::render::colormap::Colormap::Turbo.table();
    let mut out = Vec::new();
    for i in range {
        let d = crate::sim::drill::drill(seed, i, size, &lut)?;
        let image = ItemImage::Drawn(std::sync::Arc::new(d.image));
        out.extend(d.questions.into_iter().map(|q| Item {
            image: image.clone(),
            question: q.text,
            answer: q.answer,
            kind: "drill",
        }));
    }
    Ok(out)
}

impl Item {
    fn of(dataset: &Path, r: &QaRecord) -> Self {
        Self {
            image: ItemImage::File(dataset.join(&r.images.png)),
            question: r.question.clone(),
            answer: r.answer.clone(),
            kind: r.kind.name(),
        }
    }
}

/// Makes extra (question, answer) pairs about one train scene from its scenario and stored labels.
type AskScene<'a> = dyn FnMut(Scenario, &StoredLabels) -> Vec<(String, String)> + 'a;

/// Extra questions on each scene of `records`, made by `ask` from the scene's scenario and its regions'
/// true 95th-percentile I/N (from its meta.json); `kind` names them in progress lines.
fn per_scene_items(
    dataset: &Path,
    records: &[QaRecord],
    kind: &'static str,
    ask: &mut AskScene,
) -> anyhow::Result<Vec<Item>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for r in records.iter().filter(|r| seen.insert(r.scene.clone())) {
        let meta_path = dataset.join(&r.images.meta);
        let text = std::fs::read_to_string(&meta_path).with_context(|| format!("reading {}", meta_path.display()))?;
        let labels = crate::sim::labels::parse_stored_labels(&text)
            .map_err(|m| anyhow::anyhow!("{}: {m}", meta_path.display()))?;
        let scenario = Scenario::parse(&r.scenario)
            .ok_or_else(|| anyhow::anyhow!("{}: unknown scenario {:?}", meta_path.display(), r.scenario))?;
        for (question, answer) in ask(scenario, &labels) {
            out.push(Item { image: ItemImage::File(dataset.join(&r.images.png)), question, answer, kind });
        }
    }
    Ok(out)
}

/// Side of the first train item's map (drills are drawn at the dataset's size).
fn map_size(item: &Item) -> anyhow::Result<usize> {
    match &item.image {
        ItemImage::File(png) => {
            let (w, h) = image::image_dimensions(png).with_context(|| format!("reading {}", png.display()))?;
            Ok(w.max(h) as usize)
        }
        ItemImage::Drawn(img) => Ok(img.width().max(img.height()) as usize),
    }
}

/// About `n` records spread evenly over `all` (the manifest is ordered by scenario, so its first
/// records would all come from one scenario).
fn spread<T>(all: &[T], n: usize) -> Vec<&T> {
    if n == 0 || all.is_empty() {
        return Vec::new();
    }
    let n = n.min(all.len());
    (0..n).map(|i| &all[i * all.len() / n]).collect()
}

/// The user's turn: the map then the question, as users ask (a question-first model's `prepare` swaps them).
fn sample_of(item: &Item) -> anyhow::Result<Sample> {
    let img = match &item.image {
        ItemImage::File(png) => crate::io::read_rgb(png, &crate::io::LoadOptions::default())?,
        ItemImage::Drawn(img) => img.as_ref().clone(),
    };
    Ok(Sample {
        parts: vec![Part::Image, Part::Text(item.question.clone())],
        images: vec![img],
        answer: item.answer.clone(),
    })
}

pub fn run(a: &VlmTrainArgs) -> anyhow::Result<()> {
    let levels: Vec<Level> = a
        .levels
        .split(',')
        .map(|l| Level::parse(l.trim()).ok_or_else(|| anyhow::anyhow!("--levels: unknown level {l:?}")))
        .collect::<anyhow::Result<_>>()?;
    if a.batch == 0 || a.epochs == 0 || a.every == 0 {
        bail!("--batch, --epochs and --every must be at least 1");
    }
    if !(a.rope_theta > 1.0 && a.rope_theta.is_finite()) {
        bail!("--rope-theta must be a finite number above 1");
    }
    let step = a.family.side_step();
    let side = a.image_side.unwrap_or(a.family.default_side());
    if side < 2 * step || !side.is_multiple_of(step) {
        bail!("--image-side for {} must be a multiple of {step}, at least {}", a.family.name(), 2 * step);
    }
    if a.width < 64 || !a.width.is_multiple_of(64) {
        bail!("--width must be a multiple of 64");
    }
    if let Some(s) = &a.scenario
        && Scenario::parse(s).is_none()
    {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        bail!("unknown scenario {s:?}; expected one of {}", names.join(", "));
    }
    let records = crate::eval::read_manifest(&a.dataset.join("manifest.jsonl"))?;
    let pick = |split: Split| -> Vec<QaRecord> {
        records
            .iter()
            .filter(|r| r.split == split && levels.contains(&r.level))
            .filter(|r| a.scenario.as_ref().is_none_or(|s| &r.scenario == s))
            .cloned()
            .collect()
    };
    let (train_records, val) = (pick(Split::Train), pick(Split::Val));
    if train_records.is_empty() {
        bail!("the train split has no {} questions", a.levels);
    }
    for (flag, share) in [("--varied-context", a.varied_context), ("--typed-questions", a.typed_questions)] {
        if !(0.0..=1.0).contains(&share) {
            bail!("{flag} is a share of the questions, between 0 and 1 (got {share})");
        }
    }
    let reword = Rewording { context: a.varied_context, typed: a.typed_questions };
    // Rewording draws from its own stream ("reword"), so the questions drawn below stay the same.
    let mut reword_rng = crate::sim::rng::Rng::new(a.seed ^ 0x7265_776f_7264);
    let mut reworded = 0usize;
    let mut train: Vec<Item> = Vec::with_capacity(train_records.len());
    for r in &train_records {
        let mut item = Item::of(&a.dataset, r);
        if let Some(s) = Scenario::parse(&r.scenario).filter(|_| reword.any()) {
            let q = reword.apply(&item.question, s, r.kind, &mut reword_rng);
            reworded += usize::from(q != item.question);
            item.question = q;
        }
        train.push(item);
    }
    let one = |f: fn(Scenario, &[f64; 5]) -> (String, String)| {
        move |s: Scenario, l: &StoredLabels| vec![f(s, &l.region_p95_db)]
    };
    // The extra region questions draw from their own stream ("extra" in ASCII), apart from the batch order's.
    let mut rng = crate::sim::rng::Rng::new(a.seed ^ 0x0065_7874_7261);
    let mut more = |s: Scenario, l: &StoredLabels| {
        let affected = affected_questions(s, &l.region_share, a.affected_questions, &mut rng);
        let pairs = pair_questions(s, &l.region_p95_db, a.pair_questions, &mut rng);
        let kinds = std::iter::repeat_n(QuestionKind::RegionAffected, affected.len())
            .chain(std::iter::repeat(QuestionKind::WhichWorse));
        let mut v = Vec::with_capacity(affected.len() + pairs.len());
        for ((q, answer), kind) in affected.into_iter().chain(pairs).zip(kinds) {
            let new = reword.apply(&q, s, kind, &mut reword_rng);
            reworded += usize::from(new != q);
            v.push((new, answer));
        }
        v
    };
    let extras: [(bool, &'static str, &mut AskScene); 3] = [
        (a.rank_questions, "ranking", &mut one(ranking_question)),
        (a.region_values, "region-values", &mut one(region_values_question)),
        (a.pair_questions + a.affected_questions > 0, "region-affected and which-is-worse", &mut more),
    ];
    for (wanted, kind, ask) in extras {
        if wanted {
            let extra = per_scene_items(&a.dataset, &train_records, kind, ask)?;
            println!("train vlm: {} extra {kind} questions on the train scenes", extra.len());
            train.extend(extra);
        }
    }
    if reword.any() {
        println!(
            "train vlm: {reworded} of the dataset's and extra questions reworded (context share {}, typed share {})",
            a.varied_context, a.typed_questions
        );
    }
    let mut val_drills = Vec::new();
    if a.drills > 0 {
        let size = map_size(&train[0])?;
        let extra = drill_items(a.seed, 0..a.drills, size)?;
        println!("train vlm: {} drill questions added ({} drills of {size} px)", extra.len(), a.drills);
        train.extend(extra);
        val_drills = drill_items(a.seed, a.drills..a.drills + 32, size)?;
    }
    let state_path = a.out.join("state.json");
    let mut start_step = 0usize;
    let mut best = f64::INFINITY;
    if a.resume {
        // Finish or discard a checkpoint a kill interrupted, and check the set is whole.
        checkpoint::recover(&a.out).context("--resume")?;
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&state_path)
                .with_context(|| format!("--resume: reading {}", state_path.display()))?,
        )?;
        start_step = s["step"].as_u64().unwrap_or(0) as usize;
        best = s["best_val_loss"].as_f64().unwrap_or(f64::INFINITY);
    } else {
        if state_path.is_file() {
            bail!("{} already holds a run; pass --resume or choose another --out", a.out.display());
        }
        if let Some(init) = &a.init {
            copy_model_files(init, &a.out)?;
            if let Some(units) = a.mlp {
                let before = shrink::cut_mlp(init, &a.out, units)?;
                println!("train vlm: decoder MLPs cut from {before} to their {units} strongest units");
            }
        } else {
            let texts: Vec<String> = train.iter().flat_map(|r| [r.question.clone(), r.answer.clone()]).collect();
            write_model_folder(&a.out, a, side, &texts)?;
        }
        if a.question_first {
            mark_question_first(&a.out)?;
        }
        // A model started from another keeps that one's mark unless this run narrows it.
        if let Some(s) = &a.scenario {
            mark_trained_on(&a.out, s)?;
        }
    }
    let steps_per_epoch = train.len().div_ceil(a.batch);
    let total = a.max_steps.map_or(steps_per_epoch * a.epochs, |m| m.clamp(1, steps_per_epoch * a.epochs));
    if a.resume && start_step >= total {
        println!("the run in {} is finished ({start_step} steps); writing the f16 copy", a.out.display());
        return write_f16(&a.out);
    }
    let device = crate::models::compute_device();
    let (model, vars) = if a.resume {
        QwenVl::load_trainable_checkpoint(&a.out, &a.out.join("last.safetensors"), DType::F32, &device.device)?
    } else if let Some(init) = &a.init {
        // A cut model's weights are already in --out.
        let from = if a.mlp.is_some() { &a.out } else { init };
        QwenVl::load_trainable(from, DType::F32, &device.device)
            .with_context(|| format!("--init: loading {}", from.display()))?
    } else {
        QwenVl::new_random(&a.out, a.seed, DType::F32, &device.device)?
    };
    if a.grid_positions && !set_grid_positions(&vars)? {
        bail!("--grid-positions: a {} model has no learned patch positions (use --family qwen3-vl)", a.family.name());
    }
    println!(
        "train vlm: {} parameters, {} train / {} val questions ({}), batch {}, {} epochs, {}",
        model.parameter_count(),
        train.len(),
        val.len(),
        a.levels,
        a.batch,
        a.epochs,
        device.label
    );
    let mut trainer = Trainer::new(vars, TrainSettings { lr: a.lr, weight_decay: 0.01, clip_norm: 1.0 })?;
    let optimizer_path = a.out.join("optimizer.safetensors");
    if a.resume {
        if optimizer_path.is_file() {
            trainer.load_state(&optimizer_path).context("--resume")?;
        } else {
            println!("train vlm: {} is missing, so the optimizer's moments restart", optimizer_path.display());
        }
    }
    let mut rng = crate::sim::rng::Rng::new(a.seed ^ 0x5eed);
    let val_items: Vec<Item> = val.iter().map(|r| Item::of(&a.dataset, r)).collect();
    let val_set: Vec<&Item> = spread(&val_items, a.val_questions);
    let val_drills: Vec<&Item> = val_drills.iter().collect();
    let started = Instant::now();
    let mut running = 0.0;
    let mut step = 0usize;
    'epochs: for epoch in 0..a.epochs {
        rng.shuffle(&mut train);
        for batch in train.chunks(a.batch) {
            step += 1;
            if step > total {
                break 'epochs;
            }
            if step <= start_step {
                continue;
            }
            // Cosine decay after a short warm-up.
            #[allow(clippy::cast_precision_loss)]
            let lr = {
                let warm = (total / 50).max(1);
                if step < warm {
                    a.lr * step as f64 / warm as f64
                } else {
                    let p = (step - warm) as f64 / (total - warm).max(1) as f64;
                    a.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
                }
            };
            trainer.set_lr(lr);
            let examples: Vec<Example> = batch
                .iter()
                .map(|r| sample_of(r).and_then(|s| Ok(Example::new(&model, &s)?)))
                .collect::<anyhow::Result<_>>()?;
            let report = trainer.step(&model, &examples)?;
            running = if running == 0.0 { report.loss } else { 0.98 * running + 0.02 * report.loss };
            let el = started.elapsed().as_secs_f64();
            #[allow(clippy::cast_precision_loss)]
            let eta = el / (step - start_step) as f64 * (total - step) as f64;
            eprint!(
                "\repoch {}/{} step {step}/{total} loss {running:.3} lr {lr:.1e} {el:.0} s, about {eta:.0} s left   ",
                epoch + 1,
                a.epochs
            );
            if step.is_multiple_of(a.every) || step == total {
                let mut v = validate(&model, &val_set)?;
                if val_set.is_empty() {
                    v.loss = running; // no val split: keep the last weights as the model
                }
                let improved = v.loss < best;
                if improved {
                    best = v.loss;
                }
                let state = json!({"step": step, "best_val_loss": best, "val_loss": v.loss, "val_exact": v.exact});
                let state_text = serde_json::to_string_pretty(&state)?;
                // One set: weights, moments and state of this step (and the best model when it is).
                checkpoint::commit_training(
                    &a.out,
                    &|p| write_weights(trainer.vars(), p),
                    &|p| trainer.write_state(p),
                    state_text.as_bytes(),
                    improved.then_some(&[][..]),
                )?;
                eprintln!();
                let mut per_kind: String = v.by_kind.iter().map(|(k, (hit, n))| format!("; {k} {hit}/{n}")).collect();
                if !val_drills.is_empty() {
                    // Scored apart: drills never decide which checkpoint is kept.
                    let d = validate(&model, &val_drills)?;
                    let hits = d.by_kind.values().map(|h| h.0).sum::<usize>();
                    per_kind += &format!("; drills {hits}/{} (loss {:.3})", val_drills.len(), d.loss);
                }
                println!(
                    "step {step}: train loss {running:.3}, val loss {:.3}, val exact answers {:.3} (n {}{per_kind}){}",
                    v.loss,
                    v.exact,
                    val_set.len(),
                    if improved { " *best*" } else { "" }
                );
            }
        }
    }
    println!("done in {:.0} s; best val loss {best:.3}; model in {}", started.elapsed().as_secs_f64(), a.out.display());
    write_f16(&a.out)?;
    Ok(())
}

/// `model.f16.safetensors`: the best weights in half precision (what ships; the loader widens them).
fn write_f16(out: &Path) -> anyhow::Result<()> {
    let src = out.join("model.safetensors");
    if !src.is_file() {
        return Ok(());
    }
    let tensors = candle_core::safetensors::load(&src, &candle_core::Device::Cpu)?;
    let half: std::collections::HashMap<String, candle_core::Tensor> =
        tensors.into_iter().map(|(k, v)| Ok((k, v.to_dtype(DType::F16)?))).collect::<candle_core::Result<_>>()?;
    crate::io::atomic::replace(&out.join("model.f16.safetensors"), |tmp| {
        candle_core::safetensors::save(&half, tmp).map_err(std::io::Error::other)
    })?;
    println!("wrote {} (f16)", out.join("model.f16.safetensors").display());
    Ok(())
}

struct ValScores {
    loss: f64,
    exact: f64,
    /// Exact answers and questions per question kind.
    by_kind: std::collections::BTreeMap<&'static str, (usize, usize)>,
}

/// Mean answer loss and the share of greedy answers equal to the reference (case-insensitive).
fn validate(model: &QwenVl, val: &[&Item]) -> anyhow::Result<ValScores> {
    let mut by_kind = std::collections::BTreeMap::new();
    if val.is_empty() {
        return Ok(ValScores { loss: f64::NAN, exact: f64::NAN, by_kind });
    }
    let mut total = 0.0;
    let mut exact = 0usize;
    // The inference path (fused kernels) needs a non-trainable copy; evaluate the loss on the
    // training graph and answers through generation on the same weights.
    for r in val {
        let s = sample_of(r)?;
        let ex = Example::new(model, &s)?;
        total += loss(model, &ex)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let prompt = model.prepare(&[crate::models::vlm::Message::user(s.parts.clone())], &s.images)?;
        let opts = crate::models::vlm::GenerateOptions { max_tokens: 64, ..Default::default() };
        let g = crate::models::vlm::generate(
            model,
            &prompt,
            &opts,
            &std::sync::atomic::AtomicBool::new(false),
            &mut |_| {},
        )?;
        let hit = usize::from(g.text.trim().eq_ignore_ascii_case(r.answer.trim()));
        exact += hit;
        let e = by_kind.entry(r.kind).or_insert((0, 0));
        e.0 += hit;
        e.1 += 1;
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(ValScores { loss: total / val.len() as f64, exact: exact as f64 / val.len() as f64, by_kind })
}
