//! The app's one way of holding a result it asked a worker for: a [`Slot`] is empty, loading (with the
//! job's cancel handle and its progress), ready, or failed with a message for the user. Models, a
//! document's CNN reading, GSD estimate, statistics and answer in progress all live in slots; worker
//! events reach them through a typed [`Key`], never by parsing a string. UI thread.

use std::sync::Arc;
use std::time::Instant;

use egui::RichText;

use crate::workers::{CancelToken, EventKind, Output, Ticket};

/// What a worker job is for: the app's key type for [`crate::workers::Workers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// Work for one document (by its id).
    Doc(u64, super::document::Part),
    /// Loading one of the models.
    Model(ModelKind),
    /// Reading a dataset manifest for the sample browser.
    Manifest,
    /// Listing a folder for the built-in file browser.
    Browse,
    /// Opening a run folder, or running a model over a dataset.
    Run(super::runs::RunJob),
    /// Writing the error analysis's exports.
    Export,
    /// Reading a session file (a later one replaces it).
    SessionOpen,
    /// Writing a session file.
    SessionSave,
    /// Writing the exported view.
    ViewExport,
}

/// The models the app loads at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    Cnn,
    Gsd,
    Vlm,
    /// The radio morphology CNN (`sources.rs`).
    RadioCnn,
}

/// A job in flight: its id, its cancel handle, its latest progress and when it started.
#[derive(Clone, Debug)]
pub struct Pending {
    pub id: u64,
    cancel: CancelToken,
    pub fraction: f32,
    pub message: String,
    pub started: Instant,
}

impl Pending {
    pub fn of<K>(ticket: &Ticket<K>) -> Self {
        Self {
            id: ticket.id,
            cancel: ticket.cancel.clone(),
            fraction: 0.0,
            message: String::new(),
            started: Instant::now(),
        }
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

/// A value and how long the worker took to make it.
#[derive(Clone, Debug)]
pub struct Timed<T> {
    pub value: Arc<T>,
    pub ms: f64,
}

impl<T> Timed<T> {
    /// Run `f` and time it (on the worker).
    pub fn measure(f: impl FnOnce() -> Result<T, String>) -> Result<Self, String> {
        let start = Instant::now();
        let value = f()?;
        Ok(Self { value: Arc::new(value), ms: start.elapsed().as_secs_f64() * 1e3 })
    }
}

/// A result the app asked for.
#[derive(Clone, Debug, Default)]
pub enum Slot<T> {
    #[default]
    Empty,
    Loading(Pending),
    Ready(T),
    Failed(String),
}

/// What applying an event did to a slot.
#[derive(Debug, PartialEq)]
pub enum Applied {
    /// Progress, or an event of a job this slot no longer waits for.
    Nothing,
    Ready,
    /// The job failed; the message is for the user.
    Failed(String),
    /// The job stopped when asked; the slot is empty again.
    Cancelled,
}

impl<T> Slot<T> {
    /// A slot waiting for the job of `ticket`.
    pub fn loading<K>(ticket: &Ticket<K>) -> Self {
        Slot::Loading(Pending::of(ticket))
    }

    /// The slot a submission fills: waiting for its job, or failed with why it could not start.
    pub fn submitted<K>(submitted: &Result<Ticket<K>, String>) -> Self {
        match submitted {
            Ok(ticket) => Slot::loading(ticket),
            Err(e) => Slot::Failed(e.clone()),
        }
    }

    pub fn ready(&self) -> Option<&T> {
        match self {
            Slot::Ready(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_loading(&self) -> bool {
        matches!(self, Slot::Loading(_))
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Slot::Empty)
    }

    pub fn failure(&self) -> Option<&str> {
        match self {
            Slot::Failed(why) => Some(why),
            _ => None,
        }
    }

    /// Stop the job this slot waits for (if any) and empty it; a ready or failed value stays.
    pub fn cancel(&mut self) {
        if let Slot::Loading(p) = self {
            p.cancel();
            *self = Slot::Empty;
        }
    }

    /// Apply a worker event of job `id`: progress updates the pending job, a result made by a
    /// [`crate::workers::Job::task`] returning `T` fills the slot. Events of other jobs change nothing.
    pub fn apply(&mut self, id: u64, kind: EventKind) -> Applied
    where
        T: 'static,
    {
        self.apply_with(id, kind, Output::take::<T>)
    }

    /// [`Slot::apply`] with the output read by `take` (jobs that are not tasks).
    pub fn apply_with(&mut self, id: u64, kind: EventKind, take: impl FnOnce(Output) -> Option<T>) -> Applied {
        let Slot::Loading(pending) = self else { return Applied::Nothing };
        if pending.id != id {
            return Applied::Nothing;
        }
        match kind {
            EventKind::Progress { fraction, message } => {
                pending.fraction = fraction;
                pending.message = message;
                Applied::Nothing
            }
            EventKind::Token { .. } | EventKind::Preview(_) => Applied::Nothing,
            EventKind::Done(output) => match take(output) {
                Some(v) => {
                    *self = Slot::Ready(v);
                    Applied::Ready
                }
                None => {
                    let why = "internal error: the worker returned a result of another kind".to_string();
                    *self = Slot::Failed(why.clone());
                    Applied::Failed(why)
                }
            },
            EventKind::Failed(why) => {
                *self = Slot::Failed(why.clone());
                Applied::Failed(why)
            }
            EventKind::Cancelled => {
                *self = Slot::Empty;
                Applied::Cancelled
            }
        }
    }

    /// Draw a slot that is not ready: a spinner with `loading` (and the job's progress), or the failure
    /// in the error colour prefixed by `failed`. Returns the value when it is ready.
    pub fn show(&self, ui: &mut egui::Ui, loading: &str, failed: &str) -> Option<&T> {
        match self {
            Slot::Empty => None,
            Slot::Loading(p) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    let progress = if p.message.is_empty() { String::new() } else { format!(" ({})", p.message) };
                    ui.label(format!("{loading}{progress}"));
                });
                None
            }
            Slot::Ready(v) => Some(v),
            Slot::Failed(why) => {
                ui.label(RichText::new(format!("{failed}{why}")).color(ui.visuals().error_fg_color));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: u64) -> Ticket<Key> {
        Ticket { id, key: Key::Manifest, generation: 1, cancel: CancelToken::default() }
    }

    #[test]
    fn a_slot_follows_its_own_job_only() {
        let t = ticket(7);
        let mut slot: Slot<u32> = Slot::loading(&t);
        let progress = EventKind::Progress { fraction: 0.5, message: "half".into() };
        assert_eq!(slot.apply(7, progress), Applied::Nothing);
        let Slot::Loading(p) = &slot else { panic!("still loading") };
        assert_eq!((p.fraction, p.message.as_str()), (0.5, "half"));
        // Another job's answer does not land here.
        assert_eq!(slot.apply(8, EventKind::Done(Output::Any(Box::new(1u32)))), Applied::Nothing);
        assert!(slot.is_loading());
        // A result of the wrong type is an error, not a panic.
        let wrong = slot.clone().apply(7, EventKind::Done(Output::Any(Box::new("text"))));
        assert!(matches!(wrong, Applied::Failed(_)));
        assert_eq!(slot.apply(7, EventKind::Done(Output::Any(Box::new(5u32)))), Applied::Ready);
        assert_eq!(slot.ready(), Some(&5));
        // A ready slot ignores late events and keeps its value when "cancelled".
        assert_eq!(slot.apply(7, EventKind::Failed("late".into())), Applied::Nothing);
        slot.cancel();
        assert_eq!(slot.ready(), Some(&5));
    }

    #[test]
    fn cancelling_a_loading_slot_stops_its_job() {
        let t = ticket(3);
        let mut slot: Slot<u32> = Slot::loading(&t);
        slot.cancel();
        assert!(t.cancel.is_cancelled(), "the worker sees the cancel");
        assert!(slot.is_empty());
        let mut failing: Slot<u32> = Slot::loading(&t);
        assert_eq!(failing.apply(3, EventKind::Failed("no".into())), Applied::Failed("no".into()));
        assert_eq!(failing.failure(), Some("no"));
        let mut cancelled: Slot<u32> = Slot::loading(&t);
        assert_eq!(cancelled.apply(3, EventKind::Cancelled), Applied::Cancelled);
        assert!(cancelled.is_empty());
    }
}
