//! Background work for the UI: a pool of named threads that takes [`Job`]s from a bounded channel and
//! answers with [`Event`]s.
//!
//! The UI thread owns a [`Workers`] handle. It submits a job under a *key* of its own type (the app
//! uses a typed enum, "statistics of document 3, band 0"; tests use strings); submitting again under
//! the same key cancels the older job and bumps the key's generation, and [`Workers::poll`] drops
//! every event of an older generation, so a slow stale answer can never overwrite a fresh one. Work
//! that only the app knows about is a [`Job::Task`]: a closure whose typed result comes back as
//! [`Output::Any`], so a new kind of result needs no new variant here. A job that panics becomes an [`EventKind::Failed`] and the
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
pub use exec::{Reporter, chat_image, cnn_input, cnn_runs_on_open};
pub use pool::Workers;

/// What a key must be: cheap to copy around, comparable, and sendable to the worker threads.
pub trait JobKey: Clone + Eq + std::hash::Hash + std::fmt::Debug + Send + 'static {}
impl<K: Clone + Eq + std::hash::Hash + std::fmt::Debug + Send + 'static> JobKey for K {}

/// Identifies one submitted job: a unique id, its key, the generation of its key at submission, and
/// the handle that cancels it.
#[derive(Clone, Debug)]
pub struct Ticket<K = String> {
    pub id: u64,
    pub key: K,
    pub generation: u64,
    pub cancel: CancelToken,
}

/// The work of a [`Job::Task`]: runs on a worker, reports through the [`Reporter`], and returns a value
/// of its own type (or a message for the user).
pub type TaskFn = Box<dyn FnOnce(&Reporter<'_>) -> Result<Box<dyn std::any::Any + Send>, String> + Send>;

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
pub enum Job {
    /// Read a file into a raster; also prepares the copy the GPU can hold (`max_texture_dim`).
    Load { path: PathBuf, options: LoadOptions, max_texture_dim: usize },
    /// Statistics of one band (range presets, histogram, ZScale).
    Stats { raster: Arc<Raster>, band: usize },
    /// Read a SpectrumQA-sim manifest (JSONL) for the sample browser.
    Manifest { path: PathBuf },
    /// Any other work: `what` describes it ("running the CNN"), `run` does it.
    Task { what: String, run: TaskFn },
    /// Ask the VLM; the worker loads or renders the images, tokens stream as [`EventKind::Token`].
    Chat {
        backend: Arc<dyn crate::backend::ChatBackend>,
        messages: Vec<crate::models::vlm::Message>,
        images: Vec<ChatImage>,
        max_tokens: usize,
        /// What the answer must be (a closed question's options, the L3 box format; default: free).
        format: crate::backend::AnswerFormat,
    },
    /// Test and diagnostics job: sleeps in small steps, reporting progress, then returns its value.
    Sleep { steps: u32, step_ms: u64, value: u64 },
    /// Test job: panics with the given message on the worker thread.
    Panic { message: String },
}

impl Job {
    /// A [`Job::Task`] whose result is a `T` (read back with [`Output::take`]).
    pub fn task<T: Send + 'static>(
        what: impl Into<String>,
        run: impl FnOnce(&Reporter<'_>) -> Result<T, String> + Send + 'static,
    ) -> Self {
        Job::Task {
            what: what.into(),
            run: Box::new(move |r| run(r).map(|v| Box::new(v) as Box<dyn std::any::Any + Send>)),
        }
    }

    /// Short description for progress and error messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Load { path, .. } => format!("loading {}", path.display()),
            Self::Stats { band, .. } => format!("statistics of band {}", band + 1),
            Self::Manifest { path } => format!("reading {}", path.display()),
            Self::Task { what, .. } => what.clone(),
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

/// An image's overview streamed from its file before the full read ends (`io::preview`), and
/// statistics of a sample of it for a first display range.
#[derive(Clone, Debug)]
pub struct Preview {
    /// The overview as the GPU shows it (the same `Arc` the finished load's `Loaded::display` holds,
    /// unless a first look).
    pub display: Arc<Raster>,
    /// Block size of `display`.
    pub downsample: usize,
    /// The full image's size.
    pub width: usize,
    pub height: usize,
    /// What the file's header says of the full image.
    pub meta: crate::types::RasterMeta,
    /// Statistics of up to about a million of the overview's pixels, for its first three bands.
    pub stats: Vec<(usize, BandStats)>,
    /// Each block's mean, or a first look (see `io::glance`) the averaged overview replaces.
    pub look: crate::io::Look,
    /// Whether the file's pixels can be read a window at a time meanwhile (`io::read_window`).
    pub windows: bool,
}

/// Result of a job.
#[derive(Debug)]
pub enum Output {
    Loaded(Loaded),
    Stats(Box<BandStats>),
    Manifest(Vec<crate::types::QaRecord>),
    Reply(Box<crate::backend::ChatReply>),
    Value(u64),
    /// What a [`Job::Task`] returned.
    Any(Box<dyn std::any::Any + Send>),
}

impl Output {
    /// The value of a [`Job::Task`] made with [`Job::task`], when it is a `T`.
    pub fn take<T: 'static>(self) -> Option<T> {
        match self {
            Output::Any(b) => b.downcast::<T>().ok().map(|b| *b),
            _ => None,
        }
    }
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
    /// A [`Job::Load`]'s first look at an image too large for one texture, while the rest is read.
    Preview(Box<Preview>),
    Done(Output),
    /// The job failed; the message is meant for the user.
    Failed(String),
    Cancelled,
}

/// An event from a worker about one job.
#[derive(Debug)]
pub struct Event<K = String> {
    pub ticket: Ticket<K>,
    pub kind: EventKind,
}

impl<K> Event<K> {
    /// True for the last event a job sends.
    pub fn is_final(&self) -> bool {
        !matches!(self.kind, EventKind::Progress { .. } | EventKind::Token { .. } | EventKind::Preview(_))
    }
}
