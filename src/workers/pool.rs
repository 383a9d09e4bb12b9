//! The thread pool behind [`Workers`]: named threads, bounded channels, generations, cancellation and
//! panic isolation. `Workers` itself lives on the UI thread; the loops run on `heatscope-worker-N`.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use super::exec::{self, Reporter};
use super::{CancelToken, Event, EventKind, Job, JobKey, Ticket};

type Notify = Arc<dyn Fn() + Send + Sync>;

struct Envelope<K> {
    ticket: Ticket<K>,
    job: Job,
    cancel: CancelToken,
}

/// Handle to the worker threads, owned by the UI thread (or a CLI command).
pub struct Workers<K: JobKey = String> {
    jobs: Option<Sender<Envelope<K>>>,
    events: Receiver<Event<K>>,
    threads: Vec<JoinHandle<()>>,
    next_id: u64,
    /// Latest generation per key; events of older generations are dropped by [`Workers::poll`].
    generations: HashMap<K, u64>,
    /// Cancel tokens of jobs not yet finished, by id.
    running: HashMap<u64, (K, CancelToken)>,
}

/// Jobs that may wait in the queue; `submit` reports an error past this.
const JOB_QUEUE: usize = 64;
/// Events that may wait for the UI; progress events are dropped past this, final events wait.
const EVENT_QUEUE: usize = 1024;

impl<K: JobKey> Workers<K> {
    /// Start `threads` workers. `notify` is called after every event (the app passes
    /// `egui::Context::request_repaint`).
    pub fn new(threads: usize, notify: impl Fn() + Send + Sync + 'static) -> std::io::Result<Self> {
        let (job_tx, job_rx) = bounded::<Envelope<K>>(JOB_QUEUE);
        let (event_tx, event_rx) = bounded::<Event<K>>(EVENT_QUEUE);
        let notify: Notify = Arc::new(notify);
        let mut handles = Vec::new();
        for n in 0..threads.max(1) {
            let rx = job_rx.clone();
            let tx = event_tx.clone();
            let notify = Arc::clone(&notify);
            let handle = std::thread::Builder::new()
                .name(format!("heatscope-worker-{n}"))
                .spawn(move || serve(&rx, &tx, &notify))?;
            handles.push(handle);
        }
        Ok(Self {
            jobs: Some(job_tx),
            events: event_rx,
            threads: handles,
            next_id: 1,
            generations: HashMap::new(),
            running: HashMap::new(),
        })
    }

    /// Queue `job` under `key`, cancelling any unfinished job with the same key.
    ///
    /// # Errors
    /// When the queue is full (the UI should say "busy" and let the user retry) or the pool stopped.
    pub fn submit(&mut self, key: impl Into<K>, job: Job) -> Result<Ticket<K>, String> {
        let key = key.into();
        self.cancel_key(&key);
        let generation = self.generations.get(&key).map_or(1, |g| g + 1);
        let cancel = CancelToken::default();
        let ticket = Ticket { id: self.next_id, key: key.clone(), generation, cancel: cancel.clone() };
        let envelope = Envelope { ticket: ticket.clone(), job, cancel: cancel.clone() };
        let sender = self.jobs.as_ref().ok_or("the worker pool has stopped")?;
        match sender.try_send(envelope) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err("the workers are busy (64 jobs queued); try again".into()),
            Err(TrySendError::Disconnected(_)) => return Err("the worker pool has stopped".into()),
        }
        self.next_id += 1;
        self.generations.insert(key.clone(), generation);
        self.running.insert(ticket.id, (key, cancel));
        Ok(ticket)
    }

    /// Ask the job with this id to stop; it answers with [`EventKind::Cancelled`].
    pub fn cancel(&mut self, id: u64) {
        if let Some((_, token)) = self.running.get(&id) {
            token.cancel();
        }
    }

    /// Cancel every unfinished job submitted under `key`.
    pub fn cancel_key(&mut self, key: &K) {
        for (k, token) in self.running.values() {
            if k == key {
                token.cancel();
            }
        }
    }

    /// Number of jobs submitted and not yet finished.
    pub fn pending(&self) -> usize {
        self.running.len()
    }

    /// Drain waiting events without blocking, dropping those of stale generations.
    pub fn poll(&mut self) -> Vec<Event<K>> {
        let mut out = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            if let Some(event) = self.accept(event) {
                out.push(event);
            }
        }
        out
    }

    /// Wait up to `timeout` for the next current (non-stale) event.
    pub fn wait(&mut self, timeout: std::time::Duration) -> Option<Event<K>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            let event = self.events.recv_timeout(left).ok()?;
            if let Some(event) = self.accept(event) {
                return Some(event);
            }
        }
    }

    /// Cancel every unfinished job whose key `matches` (say, everything a closed document started).
    pub fn cancel_where(&mut self, matches: impl Fn(&K) -> bool) {
        for (k, token) in self.running.values() {
            if matches(k) {
                token.cancel();
            }
        }
    }

    fn accept(&mut self, event: Event<K>) -> Option<Event<K>> {
        if event.is_final() {
            self.running.remove(&event.ticket.id);
        }
        let latest = self.generations.get(&event.ticket.key).copied().unwrap_or(0);
        (event.ticket.generation >= latest).then_some(event)
    }
}

impl<K: JobKey> Drop for Workers<K> {
    fn drop(&mut self) {
        for (_, token) in self.running.values() {
            token.cancel();
        }
        // Closing the job channel ends every loop once its current job returns.
        self.jobs = None;
        for handle in self.threads.drain(..) {
            // A worker can only have panicked outside a job (jobs are caught); nothing to recover.
            let _ = handle.join();
        }
    }
}

/// One worker thread's loop: run jobs until the channel closes.
fn serve<K: JobKey>(jobs: &Receiver<Envelope<K>>, events: &Sender<Event<K>>, notify: &Notify) {
    while let Ok(Envelope { ticket, job, cancel }) = jobs.recv() {
        let send_progress = |fraction: f32, message: String| {
            let event = Event { ticket: ticket.clone(), kind: EventKind::Progress { fraction, message } };
            // Progress is advisory: drop it rather than block when the UI is behind.
            if events.try_send(event).is_ok() {
                notify();
            }
        };
        let emit = |kind: EventKind| {
            if events.send(Event { ticket: ticket.clone(), kind }).is_ok() {
                notify();
            }
        };
        let reporter = Reporter::new(&cancel, &send_progress, &emit);
        let kind = if cancel.is_cancelled() {
            EventKind::Cancelled
        } else {
            let what = job.describe();
            match catch_unwind(AssertUnwindSafe(|| exec::run(job, &reporter))) {
                Ok(kind) => kind,
                Err(payload) => EventKind::Failed(format!("internal error while {what}: {}", panic_text(&*payload))),
            }
        };
        if events.send(Event { ticket, kind }).is_err() {
            return;
        }
        notify();
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
