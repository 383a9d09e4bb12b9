//! Background work for the UI: a pool of named threads that takes [`Job`]s from a bounded channel and
//! answers with [`Event`]s.
//!
//! The UI thread owns a [`Workers`] handle. It submits a job under a *key* (say, "stats of image 3,
//! band 0"); submitting again under the same key cancels the older job and bumps the key's
//! generation, and [`Workers::poll`] drops every event of an older generation, so a slow stale
//! answer can never overwrite a fresh one. A job that panics becomes an [`EventKind::Failed`] and the
//! thread keeps serving. Workers never touch egui: they call the `notify` closure (the app passes
//! `request_repaint`) after each event.

mod exec;
mod pool;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::io::LoadOptions;
use crate::stats::BandStats;
use crate::types::Raster;

pub use crate::backend::VlmSource;
pub use exec::{cnn_input, cnn_runs_on_open};
pub use pool::Workers;

/// Identifies one submitted job: a unique id plus the generation of its key at submission.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ticket {
    pub id: u64,
    pub key: String,
    pub generation: u64,
}

/// Shared flag a running job polls to stop early.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// The flag itself, for code that polls an `AtomicBool` (model generation).
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Work the UI can ask for.
#[derive(Clone, Debug)]
pub enum Job {
    /// Read a file into a raster; also prepares the copy the GPU can hold (`max_texture_dim`).
    Load { path: PathBuf, options: LoadOptions, max_texture_dim: usize },
    /// Statistics of one band (range presets, histogram, ZScale).
    Stats { raster: Arc<Raster>, band: usize },
    /// Read a SpectrumQA-sim manifest (JSONL) for the sample browser.
    Manifest { path: PathBuf },
    /// Load the CNN: the bundled model, or the folder given.
    LoadCnn { dir: Option<PathBuf> },
    /// Run the CNN on band 1 of a square raster (an I/N grid in dB).
    Cnn { model: Arc<crate::models::cnn::CnnModel>, raster: Arc<Raster> },
    /// Load the bundled GSD estimator.
    LoadGsd,
    /// Estimate the GSD of a ground image on a grid of crops.
    Gsd { model: Arc<crate::models::gsd::GsdModel>, raster: Arc<Raster> },
    /// Open the VLM backend: a model folder, a server, or (neither) the bundled model.
    LoadVlm { source: VlmSource },
    /// Ask the VLM; the worker loads or renders the images, tokens stream as [`EventKind::Token`].
    Chat {
        backend: Arc<dyn crate::backend::ChatBackend>,
        messages: Vec<crate::models::vlm::Message>,
        images: Vec<ChatImage>,
        max_tokens: usize,
    },
    /// Test and diagnostics job: sleeps in small steps, reporting progress, then returns its value.
    Sleep { steps: u32, step_ms: u64, value: u64 },
    /// Test job: panics with the given message on the worker thread.
    Panic { message: String },
}

impl Job {
    /// Short description for progress and error messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Load { path, .. } => format!("loading {}", path.display()),
            Self::Stats { band, .. } => format!("statistics of band {}", band + 1),
            Self::Manifest { path } => format!("reading {}", path.display()),
            Self::LoadCnn { dir: Some(d) } => format!("loading the CNN from {}", d.display()),
            Self::LoadCnn { dir: None } => "loading the bundled CNN".into(),
            Self::Cnn { .. } => "running the CNN".into(),
            Self::LoadGsd => "loading the GSD estimator".into(),
            Self::Gsd { .. } => "estimating the GSD".into(),
            Self::LoadVlm { source } => format!("opening the VLM ({})", source.describe()),
            Self::Chat { .. } => "asking the VLM".into(),
            Self::Sleep { .. } => "sleep".into(),
            Self::Panic { .. } => "panic test".into(),
        }
    }
}

/// An image for the VLM: a file (a dataset's rendered PNG) or a loaded raster to render.
#[derive(Clone, Debug)]
pub enum ChatImage {
    File(PathBuf),
    Raster(Arc<Raster>),
}

/// A loaded image: the full-resolution raster and what the GPU shows.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub raster: Arc<Raster>,
    /// The same raster block-averaged to fit the texture limit, or the same `Arc` when it fits.
    pub display: Arc<Raster>,
    /// Block size of `display` (1 when not downsampled).
    pub downsample: usize,
}

/// Result of a job.
#[derive(Debug)]
pub enum Output {
    Loaded(Loaded),
    Stats(Box<BandStats>),
    Manifest(Vec<crate::types::QaRecord>),
    CnnModel(Arc<crate::models::cnn::CnnModel>),
    /// The CNN's reading and how long it took (ms).
    Cnn(Box<crate::models::cnn::CnnReading>, f64),
    GsdModel(Arc<crate::models::gsd::GsdModel>),
    /// The GSD estimate and how long it took (ms).
    Gsd(Box<crate::models::gsd::TileEstimate>, f64),
    Vlm(Arc<dyn crate::backend::ChatBackend>),
    Reply(Box<crate::backend::ChatReply>),
    Value(u64),
}

/// What a job reports.
#[derive(Debug)]
pub enum EventKind {
    /// Fraction done in [0, 1] with a short message.
    Progress {
        fraction: f32,
        message: String,
    },
    /// One streamed token of a [`Job::Chat`] answer (never dropped, unlike progress).
    Token {
        text: String,
        token: Option<String>,
        logprob: Option<f32>,
    },
    Done(Output),
    /// The job failed; the message is meant for the user.
    Failed(String),
    Cancelled,
}

/// An event from a worker about one job.
#[derive(Debug)]
pub struct Event {
    pub ticket: Ticket,
    pub kind: EventKind,
}

impl Event {
    /// True for the last event a job sends.
    pub fn is_final(&self) -> bool {
        !matches!(self.kind, EventKind::Progress { .. } | EventKind::Token { .. })
    }
}
