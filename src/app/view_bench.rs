//! `heatscope bench eval-view`'s script, played in the real app window: open a large run with the
//! error analysis showing (how long until every row is listed), run idle with the view closed,
//! scroll the list with wheel events, change filters one at a time, then stream a CNN run into the
//! view; each frame's time (from one frame's start to the next, so painting counts) is kept per
//! phase. Continuous repaint throughout. UI thread; the numbers go back through a shared report.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::HeatscopeApp;
use super::failures::{Filter, Sort};
use super::slot::Slot;
use crate::types::{QuestionKind, Split};

/// What to play.
#[derive(Clone, Debug)]
pub struct ViewBenchConfig {
    /// The run folder to open (its dataset must be on this machine).
    pub run: PathBuf,
    /// Frames measured idle and while scrolling.
    pub frames: usize,
    /// A dataset to stream a CNN run over (its test split), and the folder the run is kept in
    /// (emptied first); None skips the streaming phase.
    pub stream: Option<(PathBuf, PathBuf)>,
    /// The run's CPU share (the app's "CPU share" slider).
    pub cpu_share: f64,
    /// Longest the streaming phase is measured, in seconds.
    pub stream_seconds: f64,
}

/// One filter change: what, rows listed after it, the app's own time in the frame that applied it
/// (ms, the UI thread's update: refresh and layout) and that whole frame (painting included).
#[derive(Clone, Debug, Default)]
pub struct FilterTiming {
    pub what: String,
    pub rows: usize,
    pub update_ms: f64,
    pub frame_ms: f64,
}

/// What was measured (frame times in ms: from one frame's start to the next; `*_update` the UI
/// thread's own part of each frame, without painting).
#[derive(Clone, Debug, Default)]
pub struct ViewBenchReport {
    pub open_ms: Option<f64>,
    /// When the run's folder had been read, and when its dataset too (ms from the start).
    pub run_read_ms: Option<f64>,
    pub dataset_read_ms: Option<f64>,
    /// The longest frame update while the run opened (the UI thread's own work: scoring the rows).
    pub open_max_update_ms: f64,
    pub rows: usize,
    pub idle: Vec<f64>,
    pub idle_update: Vec<f64>,
    /// The view open, nothing happening.
    pub open_idle: Vec<f64>,
    pub open_idle_update: Vec<f64>,
    pub scroll: Vec<f64>,
    pub scroll_update: Vec<f64>,
    /// How far the list scrolled (points), to show the scroll did happen.
    pub scrolled_px: f32,
    pub filters: Vec<FilterTiming>,
    pub stream: Vec<f64>,
    pub stream_update: Vec<f64>,
    pub stream_questions: usize,
    pub stream_seconds: f64,
    pub done: bool,
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Waiting for the app's models to load (the workers idle), so the run opens in a settled app.
    Start,
    Open,
    Idle,
    Settle(usize),
    OpenIdle,
    Scroll,
    Filter(usize),
    StreamOpen,
    StreamStart,
    Stream,
    Done,
}

/// A named change to the filter.
type FilterStep = (&'static str, Box<dyn Fn(&mut Filter)>);

/// The filter changes played, in order (each on top of the one before; the last clears them).
fn filter_steps() -> Vec<FilterStep> {
    vec![
        ("wrong only", Box::new(|f: &mut Filter| f.correct = Some(false))),
        ("kind severity", Box::new(|f: &mut Filter| f.kind = Some(QuestionKind::Severity))),
        ("split test", Box::new(|f: &mut Filter| f.split = Some(Split::Test))),
        ("scene search", Box::new(|f: &mut Filter| f.search = "01".into())),
        ("most confident first", Box::new(|f: &mut Filter| f.sort = Sort::ConfidenceHigh)),
        ("all", Box::new(|f: &mut Filter| *f = Filter::default())),
        ("scenario", Box::new(|f: &mut Filter| f.scenario = Some("geo-rural".into()))),
        ("all again", Box::new(|f: &mut Filter| *f = Filter::default())),
    ]
}

/// The script's state.
pub struct ViewBench {
    config: ViewBenchConfig,
    pub report: Arc<Mutex<ViewBenchReport>>,
    phase: Phase,
    started: Instant,
    last_frame: Option<Instant>,
    frames: Vec<f64>,
    /// Frames to wait before the next filter change.
    wait: usize,
    /// The list's scroll offset when scrolling began, and the direction.
    scroll_from: Option<f32>,
    down: bool,
    filter_at: Option<(usize, Instant)>,
    /// The update time of the frame that applied the last filter change.
    filter_update_ms: f64,
}

impl ViewBench {
    pub fn new(config: ViewBenchConfig, report: Arc<Mutex<ViewBenchReport>>) -> Self {
        Self {
            config,
            report,
            phase: Phase::Start,
            started: Instant::now(),
            last_frame: None,
            frames: Vec::new(),
            wait: 0,
            scroll_from: None,
            down: true,
            filter_at: None,
            filter_update_ms: 0.0,
        }
    }

    /// The end of the app's frame: the UI thread's time in it (ms).
    pub fn end_frame(&mut self, update_ms: f64) {
        let mut report = self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let warm = self.frames.len() > 5;
        match self.phase {
            Phase::Idle if warm => report.idle_update.push(update_ms),
            Phase::OpenIdle if warm => report.open_idle_update.push(update_ms),
            Phase::Scroll if warm => report.scroll_update.push(update_ms),
            Phase::Stream if warm => report.stream_update.push(update_ms),
            Phase::Open => report.open_max_update_ms = report.open_max_update_ms.max(update_ms),
            _ => {}
        }
        if self.filter_at.is_some() && self.wait == 10 {
            // The frame that applied the change (the wait starts at 10 on it).
            self.filter_update_ms = update_ms;
        }
    }

    /// Wheel events over the list while scrolling (down for a while, then up, and so on).
    pub fn input(&mut self, app: &HeatscopeApp, raw: &mut egui::RawInput) {
        if self.phase != Phase::Scroll {
            return;
        }
        let Some(rect) = app.failures.list_rect else { return };
        if self.frames.len() % 120 == 119 {
            self.down = !self.down;
        }
        let pos = rect.center();
        raw.events.push(egui::Event::PointerMoved(pos));
        raw.events.push(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, if self.down { -3.0 } else { 3.0 }),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
    }

    /// One frame of the script, at the start of the app's frame.
    pub fn tick(&mut self, app: &mut HeatscopeApp, ctx: &egui::Context) {
        ctx.request_repaint();
        let now = Instant::now();
        let interval = self.last_frame.map(|t| (now - t).as_secs_f64() * 1e3);
        self.last_frame = Some(now);
        let shared = self.report.clone();
        let mut report = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let fail = |report: &mut ViewBenchReport, why: String| {
            report.error = Some(why);
            Phase::Done
        };
        self.phase = match self.phase {
            Phase::Start if app.workers.pending() == 0 => {
                app.open(vec![self.config.run.clone()]);
                self.started = now;
                Phase::Open
            }
            Phase::Start if (now - self.started).as_secs_f64() > 120.0 => {
                fail(&mut report, "the models did not load within 120 s".into())
            }
            Phase::Start => Phase::Start,
            Phase::Open => {
                let lines = app.runs.shown.as_ref().map_or(0, |r| r.lines.len());
                let at = Some((now - self.started).as_secs_f64() * 1e3);
                if lines > 0 && report.run_read_ms.is_none() {
                    report.run_read_ms = at;
                }
                if app.samples.is_some() && report.dataset_read_ms.is_none() {
                    report.dataset_read_ms = at;
                }
                let dataset_open =
                    app.runs.shown.as_ref().is_some_and(|r| {
                        r.dataset.is_some() && r.dataset == app.samples.as_ref().map(|s| s.dir.clone())
                    });
                if dataset_open && lines > 0 && app.failures.answered() == lines {
                    report.open_ms = Some((now - self.started).as_secs_f64() * 1e3);
                    report.rows = lines;
                    app.failures.open = false;
                    self.frames.clear();
                    Phase::Idle
                } else if (now - self.started).as_secs_f64() > 120.0 {
                    let why = app.messages.iter().rev().find(|m| m.error).map(|m| m.text.clone()).unwrap_or_default();
                    fail(&mut report, format!("the run did not open within 120 s {why}"))
                } else {
                    Phase::Open
                }
            }
            Phase::Idle => {
                self.collect(interval, &mut report.idle);
                if report.idle.len() >= self.config.frames {
                    app.failures.open = true;
                    Phase::Settle(30)
                } else {
                    Phase::Idle
                }
            }
            Phase::Settle(0) => {
                self.frames.clear();
                Phase::OpenIdle
            }
            Phase::OpenIdle => {
                self.collect(interval, &mut report.open_idle);
                if report.open_idle.len() >= self.config.frames {
                    self.frames.clear();
                    self.scroll_from = Some(app.failures.list_offset);
                    Phase::Scroll
                } else {
                    Phase::OpenIdle
                }
            }
            Phase::Settle(n) => Phase::Settle(n - 1),
            Phase::Scroll => {
                self.collect(interval, &mut report.scroll);
                let from = self.scroll_from.unwrap_or(0.0);
                report.scrolled_px = report.scrolled_px.max((app.failures.list_offset - from).abs());
                if report.scroll.len() >= self.config.frames {
                    self.wait = 10;
                    Phase::Filter(0)
                } else {
                    Phase::Scroll
                }
            }
            Phase::Filter(i) => {
                let steps = filter_steps();
                if let Some((step, at)) = self.filter_at.take() {
                    // The frame that applied the change has been painted: this frame starts after it.
                    report.filters.push(FilterTiming {
                        what: steps[step].0.to_string(),
                        rows: app.failures.shown_len(),
                        update_ms: self.filter_update_ms,
                        frame_ms: (now - at).as_secs_f64() * 1e3,
                    });
                }
                if self.wait > 0 {
                    self.wait -= 1;
                    Phase::Filter(i)
                } else if i < steps.len() {
                    (steps[i].1)(&mut app.failures.filter);
                    self.filter_at = Some((i, now));
                    self.wait = 10;
                    Phase::Filter(i + 1)
                } else if self.config.stream.is_some() {
                    app.failures.open = true;
                    Phase::StreamOpen
                } else {
                    Phase::Done
                }
            }
            Phase::StreamOpen => {
                let (dataset, folder) = self.config.stream.clone().unwrap_or_default();
                if let Err(e) = std::fs::remove_dir_all(&folder)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    fail(&mut report, format!("cannot empty {}: {e}", folder.display()))
                } else {
                    app.open(vec![dataset]);
                    self.started = now;
                    Phase::StreamStart
                }
            }
            Phase::StreamStart => {
                let (dataset, folder) = self.config.stream.clone().unwrap_or_default();
                let open =
                    app.samples.as_ref().is_some_and(|s| s.dir == std::path::absolute(&dataset).unwrap_or(dataset));
                let cnn_ready = matches!(app.cnn.model, Slot::Ready(_));
                if open && cnn_ready && !app.runs.making.is_loading() {
                    app.persisted.runs = super::runs::RunSettings {
                        model: super::runs::RunModel::Cnn,
                        split: "test".into(),
                        limit: 0,
                        cpu_share: self.config.cpu_share,
                    };
                    app.runs.folder = folder.display().to_string();
                    app.start_run();
                    self.frames.clear();
                    self.started = now;
                    Phase::Stream
                } else if (now - self.started).as_secs_f64() > 120.0 {
                    fail(&mut report, "the streaming dataset or the CNN did not load within 120 s".into())
                } else {
                    Phase::StreamStart
                }
            }
            Phase::Stream => {
                self.collect(interval, &mut report.stream);
                let elapsed = (now - self.started).as_secs_f64();
                report.stream_questions = app.runs.shown.as_ref().map_or(0, |r| r.lines.len());
                report.stream_seconds = elapsed;
                let finished = app.runs.live.is_none();
                if finished || elapsed > self.config.stream_seconds {
                    if !finished && let Slot::Loading(p) = &app.runs.making {
                        p.cancel();
                    }
                    Phase::Done
                } else {
                    Phase::Stream
                }
            }
            Phase::Done => Phase::Done,
        };
        if self.phase == Phase::Done && !report.done {
            report.done = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// Keep a frame time, the first few of a phase left out (they carry the phase change).
    fn collect(&mut self, interval: Option<f64>, into: &mut Vec<f64>) {
        self.frames.push(interval.unwrap_or(0.0));
        if self.frames.len() > 5
            && let Some(ms) = interval
        {
            into.push(ms);
        }
    }
}

/// The `q`-quantile of `ms` (nearest rank), 0 when empty.
pub fn quantile(ms: &[f64], q: f64) -> f64 {
    if ms.is_empty() {
        return 0.0;
    }
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantiles_take_the_nearest_rank() {
        let ms: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::quantile(&ms, 0.99), 99.0);
        assert_eq!(super::quantile(&ms, 0.5), 50.0);
        assert_eq!(super::quantile(&[3.0], 0.99), 3.0);
        assert_eq!(super::quantile(&[], 0.99), 0.0);
    }
}
