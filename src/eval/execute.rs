//! A model run from start to end, as `heatscope eval --model` and the app both make it: pick the
//! questions, check the model can ask them, open the run folder (new or resumed: the settings must
//! match), ask the runner for the questions not answered before, keep each batch in the folder as it
//! comes, and finally score and write the summary. The caller sees every batch (progress, streamed
//! results) and owns cancellation. Runs on the caller's thread plus the runner's.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::predictor::{Answer, Fatal, ModelIdentity, Predictor, SceneQuestions};
use super::runner::{RunEnd, RunError, Selection, Step, run, select};
use super::runs::{RunFolder, RunFolderError, RunLine, RunSettings};
use crate::types::QaRecord;

/// Where the answers go besides the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nowhere (the caller keeps them).
    Nothing,
    /// A new run folder (refused when it already holds a run).
    New(PathBuf),
    /// Continue the run in this folder (refused when its settings differ).
    Resume(PathBuf),
    /// Continue the run in this folder when it holds one, else start it there.
    Continue(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error("no questions match the split, the levels and what the model answers")]
    NothingToAsk,
    /// A question cannot be asked as configured (a VLM's examples are missing).
    #[error("{0}")]
    Check(String),
    #[error("cannot read the dataset's manifest: {0}")]
    Manifest(String),
    #[error(transparent)]
    Folder(#[from] RunFolderError),
}

/// What a model run gives back: the questions asked, every answer (those of earlier runs in the folder
/// included), the folder, how many questions were answered before this call and how it ended.
pub struct Executed<'a> {
    pub asked: Vec<&'a QaRecord>,
    pub lines: Vec<RunLine>,
    pub folder: Option<RunFolder>,
    pub answered_before: usize,
    pub end: Result<RunEnd, RunError>,
}

impl Executed<'_> {
    /// Questions that got no answer (their reasons are in the lines' `error`).
    pub fn failed(&self) -> usize {
        self.lines.iter().filter(|l| l.error.is_some()).count()
    }
}

/// What to run besides the model: the dataset, which questions, the model's own settings that
/// change its answers (recorded, and compared on resume), and where the answers are kept.
#[derive(Clone, Debug)]
pub struct Plan {
    pub dataset: PathBuf,
    pub selection: Selection,
    pub options: serde_json::Value,
    pub keep: Keep,
}

/// Ask `model` the questions of `records` that the plan selects. `on_start` learns how many will be
/// asked now, how many were answered before (a resumed run) and the folder's earlier lines; `on_step`
/// sees each batch with its run lines, in the order batches finish.
///
/// # Errors
/// Before anything is asked: no question to ask, one that cannot be asked, a folder that cannot be
/// used. Failures during the run are in [`Executed::end`], with every answer taken before kept.
pub fn execute<'a>(
    plan: &Plan,
    records: &'a [QaRecord],
    model: &dyn Predictor,
    cancel: &AtomicBool,
    on_start: &mut dyn FnMut(usize, usize, &[RunLine]),
    on_step: &mut dyn FnMut(&Step<'_>, &[RunLine]),
) -> Result<Executed<'a>, ExecuteError> {
    let Plan { dataset, selection, options, keep } = plan;
    let asked = select(records, model, selection);
    if asked.is_empty() {
        return Err(ExecuteError::NothingToAsk);
    }
    model.check(&asked).map_err(ExecuteError::Check)?;
    let settings = || -> Result<RunSettings, ExecuteError> {
        let manifest = dataset.join("manifest.jsonl");
        let (_, checksum) = crate::io::checksum::of_file(&manifest, None)
            .map_err(|e| ExecuteError::Manifest(format!("{}: {e}", manifest.display())))?;
        Ok(RunSettings {
            // Absolute, so the app finds the dataset from any folder it starts in.
            dataset: std::path::absolute(dataset).unwrap_or_else(|_| dataset.to_path_buf()),
            manifest_checksum: checksum,
            model: model.identity(),
            selection: selection.clone(),
            options: options.clone(),
        })
    };
    let mut folder = match keep {
        Keep::Nothing => None,
        Keep::New(dir) => Some(RunFolder::create(dir, settings()?)?),
        Keep::Resume(dir) => Some(RunFolder::resume(dir, settings()?)?),
        Keep::Continue(dir) if dir.join(super::runs::SUMMARY).is_file() => Some(RunFolder::resume(dir, settings()?)?),
        Keep::Continue(dir) => Some(RunFolder::create(dir, settings()?)?),
    };
    let done = folder.as_ref().map(|f| f.done().clone()).unwrap_or_default();
    let answered_before = asked.iter().filter(|r| done.contains(&r.id)).count();
    on_start(asked.len() - answered_before, answered_before, folder.as_ref().map_or(&[], |f| f.lines()));
    let mut lines: Vec<RunLine> = Vec::new();
    let end = run(dataset, &asked, &done, model, cancel, &mut |step| {
        let batch: Vec<RunLine> = step.answers.iter().map(|(r, a)| RunLine::of(r, a)).collect();
        if let Some(f) = folder.as_mut() {
            f.append(&step.answers).map_err(|e| e.to_string())?;
        } else {
            lines.extend(batch.iter().cloned());
        }
        on_step(&step, &batch);
        Ok(())
    });
    let lines = folder.as_ref().map_or(lines, |f| f.lines().to_vec());
    Ok(Executed { asked, lines, folder, answered_before, end })
}

/// A local model held to a share of the machine's cores: it computes on `floor(share x cores)`
/// threads (at least one; its own thread pool, so the model's parallel kernels stay on them), and
/// when the share is less than one core it also rests after each call so that one thread works that
/// fraction of the wall time (half a core: it rests as long as it worked). The viewer keeps the rest;
/// a remote model, whose work is on its server, needs no such bound.
pub struct CpuShare<'a> {
    inner: &'a dyn Predictor,
    /// The share of the wall time the threads work.
    duty: f64,
    threads: usize,
    /// None when the model may use every core.
    pool: Option<rayon::ThreadPool>,
}

impl<'a> CpuShare<'a> {
    /// `inner` held to `share` (0-1) of `cores` cores.
    pub fn new(inner: &'a dyn Predictor, share: f64, cores: usize) -> Self {
        let cores = cores.max(1);
        let want = share.clamp(0.01, 1.0) * cores as f64;
        let threads = (want.floor() as usize).clamp(1, cores);
        let duty = (want / threads as f64).min(1.0);
        let pool =
            (threads < cores).then(|| rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok()).flatten();
        Self { inner, duty, threads, pool }
    }

    /// The threads the model computes on.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl Predictor for CpuShare<'_> {
    fn identity(&self) -> ModelIdentity {
        self.inner.identity()
    }

    fn asks(&self, r: &QaRecord) -> bool {
        self.inner.asks(r)
    }

    fn batch(&self) -> usize {
        self.inner.batch()
    }

    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }

    fn check(&self, asked: &[&QaRecord]) -> Result<(), String> {
        self.inner.check(asked)
    }

    fn predict(
        &self,
        dataset: &Path,
        scenes: &[SceneQuestions<'_>],
        cancel: &AtomicBool,
    ) -> Result<Vec<Answer>, Fatal> {
        let start = Instant::now();
        let answers = match &self.pool {
            Some(pool) => pool.install(|| self.inner.predict(dataset, scenes, cancel)),
            None => self.inner.predict(dataset, scenes, cancel),
        };
        let duty = self.duty.clamp(0.05, 1.0);
        let rest = start.elapsed().mul_f64((1.0 - duty) / duty);
        let until = Instant::now() + rest;
        // Rest in short naps so a cancel is seen at once.
        while !cancel.load(Ordering::Relaxed) {
            let Some(left) = until.checked_duration_since(Instant::now()) else { break };
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
        answers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A predictor that works `ms` per call (a busy loop standing in for a model) and answers nothing.
    struct Busy {
        ms: u64,
    }

    impl Predictor for Busy {
        fn identity(&self) -> ModelIdentity {
            ModelIdentity { kind: "test".into(), name: "busy".into(), checksum: None, trained_on: None }
        }
        fn asks(&self, _: &QaRecord) -> bool {
            true
        }
        fn predict(&self, _: &Path, _: &[SceneQuestions<'_>], _: &AtomicBool) -> Result<Vec<Answer>, Fatal> {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(self.ms) {
                std::hint::spin_loop();
            }
            Ok(Vec::new())
        }
    }

    /// Answers nothing; records how many threads rayon offers inside its call.
    struct Counts(std::sync::atomic::AtomicUsize);

    impl Predictor for Counts {
        fn identity(&self) -> ModelIdentity {
            Busy { ms: 0 }.identity()
        }

        fn asks(&self, _: &QaRecord) -> bool {
            true
        }

        fn predict(&self, _: &Path, _: &[SceneQuestions<'_>], _: &AtomicBool) -> Result<Vec<Answer>, Fatal> {
            self.0.store(rayon::current_num_threads(), Ordering::Relaxed);
            Ok(Vec::new())
        }
    }

    #[test]
    fn a_cpu_share_computes_on_its_share_of_the_cores() {
        let scenes = [SceneQuestions { scene: "s", questions: Vec::new() }];
        let counts = Counts(std::sync::atomic::AtomicUsize::new(0));
        for (share, cores, threads) in [(0.5, 2, 1), (0.5, 16, 8), (0.01, 16, 1), (1.0, 4, 4)] {
            let bounded = CpuShare::new(&counts, share, cores);
            assert_eq!(bounded.threads(), threads, "{share} of {cores}");
            bounded.predict(Path::new("."), &scenes, &AtomicBool::new(false)).expect("answers");
            if threads < cores {
                assert_eq!(counts.0.load(Ordering::Relaxed), threads, "rayon's threads inside the call");
            }
        }
    }

    #[test]
    fn a_cpu_share_rests_in_proportion_and_stops_resting_on_cancel() {
        let busy = Busy { ms: 40 };
        let scenes = [SceneQuestions { scene: "s", questions: Vec::new() }];
        // A quarter of two cores: one thread, working half the time.
        let half = CpuShare::new(&busy, 0.25, 2);
        assert_eq!(half.threads(), 1);
        let t = Instant::now();
        half.predict(Path::new("."), &scenes, &AtomicBool::new(false)).expect("answers");
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(78), "worked 40 ms, rests 40 ms: {took:?}");
        let cancelled = AtomicBool::new(false);
        let slow = CpuShare::new(&busy, 0.025, 2);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                cancelled.store(true, Ordering::Relaxed);
            });
            let t = Instant::now();
            let _ = slow.predict(Path::new("."), &scenes, &cancelled);
            // 40 ms of work would be followed by 760 ms of rest (5 % of one core); the cancel cuts it short.
            assert!(t.elapsed() < Duration::from_millis(600), "{:?}", t.elapsed());
        });
    }
}
