//! `heatscope bench view`'s script, played in the real app window: once the models have loaded, pan
//! and zoom over the empty view (no image: the baseline), then open one large image and time it to
//! its first painted frame, wait for the workers it started (statistics, CNN, GSD) to finish, and
//! play the same pan and zoom over it. Each frame's time runs from one frame's start to the next, so
//! painting counts; repaint is continuous. Resident memory comes from `/proc/self/status` (Linux):
//! the idle figure just before the file opens, the peak from `VmHWM` reset at that moment. UI
//! thread; the numbers go back through a shared report.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use egui::{Event, Modifiers, PointerButton, Pos2, Vec2};

use super::{DocStatus, HeatscopeApp};

/// What to play.
#[derive(Clone, Debug)]
pub struct ImageBenchConfig {
    /// The image to open.
    pub file: PathBuf,
    /// Frames measured without the image and with it.
    pub frames: usize,
}

/// What was measured (frame times in ms, from one frame's start to the next; `*_update` the UI
/// thread's own part of each frame, without painting; memory in MiB).
#[derive(Clone, Debug, Default)]
pub struct ImageBenchReport {
    /// Panning and zooming over the empty view.
    pub noimage: Vec<f64>,
    pub noimage_update: Vec<f64>,
    /// Panning and zooming over the image.
    pub image: Vec<f64>,
    pub image_update: Vec<f64>,
    /// From the open request to the start of the frame after the first one that painted the image.
    pub first_frame_ms: Option<f64>,
    /// The frame that drew the image first, from its start to the next frame's (GPU upload included).
    pub first_paint_frame_ms: Option<f64>,
    /// Whether that first frame drew the overview read ahead of the full-resolution pixels.
    pub first_frame_preview: bool,
    /// What that first frame drew and its block size when it was a first look (`io::glance`).
    pub first_look: Option<(crate::io::Look, usize)>,
    /// From the open request to the first frame with every full-resolution pixel read.
    pub full_ms: Option<f64>,
    /// How long the workers the image started took to finish after its first frame; None: they
    /// were still busy when the wait ran out (the image phase ran anyway).
    pub settle_ms: Option<f64>,
    /// Resident memory just before the file opened.
    pub idle_rss_mib: Option<f64>,
    /// The most resident memory from the open to the end of the image phase.
    pub peak_rss_mib: Option<f64>,
    /// Resident memory and its high-water mark so far (MiB) at moments after the open: the first
    /// frame, the workers done, the end.
    pub memory_marks: Vec<(&'static str, f64, f64)>,
    /// Whether the peak is the kernel's high-water mark (reset when the file opened) rather than
    /// the largest resident size seen at a frame's start (where the reset is refused).
    pub peak_from_hwm: bool,
    /// The image's size and the block size it is shown at (1: full resolution).
    pub size: (usize, usize),
    pub downsample: usize,
    /// The image's zoom during the image phase, as a multiple of where it started (least, most).
    pub zoom_range: (f32, f32),
    /// Farthest the image's centre moved on screen during the image phase (points).
    pub moved_pt: f32,
    /// Whether the baseline's events fell on the area the image was later drawn in.
    pub baseline_on_view: bool,
    /// Frames of the measured phases that egui laid out twice (counted once, their time is whole).
    pub repeated_passes: usize,
    pub done: bool,
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Waiting for the models to load (the workers idle), so both phases run in a settled app.
    Start,
    NoImage,
    Open,
    /// Waiting for the image's statistics, CNN and GSD jobs (frames idle so far).
    Settle(usize),
    Image,
    Done,
}

/// Frames in one gesture cycle: a circular drag, then wheel steps in and as many out.
const CYCLE: usize = 60;
/// Frames of the drag (press on the first, release on the last).
const DRAG_FRAMES: usize = 30;
/// Radius of the drag's circle (points).
const DRAG_RADIUS: f32 = 120.0;
/// Wheel lines per zoom step (egui turns a line into 40 points; the view zooms e^(0.002/pt)).
const WHEEL_LINES: f32 = 2.0;
/// Frames left out at the start of each measured phase (they carry the phase change).
const WARM_UP: usize = 5;
/// Frames in a row without worker jobs that count as settled.
const SETTLED_FRAMES: usize = 10;
/// Longest waits (seconds): for the models, for the image's first frame, for its workers.
const MODELS_WAIT_S: f64 = 120.0;
const OPEN_WAIT_S: f64 = 600.0;
const SETTLE_WAIT_S: f64 = 300.0;

/// Where the drag is, `k` frames into it, relative to where it started: once round a circle.
fn drag_offset(k: usize) -> Vec2 {
    let t = k as f32 / (DRAG_FRAMES - 1) as f32 * std::f32::consts::TAU;
    Vec2::new(DRAG_RADIUS * (1.0 - t.cos()), DRAG_RADIUS * t.sin())
}

/// The input of frame `frame` of a measured phase, aimed at `centre`: frames 0-29 of each cycle
/// drag the view round a circle back to where it started, 30-44 zoom in at `centre` with the wheel,
/// 45-59 zoom back out as far.
pub fn script_events(frame: usize, centre: Pos2) -> Vec<Event> {
    let button = |pos, pressed| Event::PointerButton {
        pos,
        button: PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    };
    let k = frame % CYCLE;
    if k == 0 {
        return vec![Event::PointerMoved(centre), button(centre, true)];
    }
    if k < DRAG_FRAMES {
        let pos = centre + drag_offset(k);
        let mut events = vec![Event::PointerMoved(pos)];
        if k == DRAG_FRAMES - 1 {
            events.push(button(pos, false));
        }
        return events;
    }
    let zoom_in = k < DRAG_FRAMES + (CYCLE - DRAG_FRAMES) / 2;
    vec![
        Event::PointerMoved(centre),
        Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, if zoom_in { WHEEL_LINES } else { -WHEEL_LINES }),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: Modifiers::NONE,
        },
    ]
}

/// Reset this process's `VmHWM` to its current resident size (Linux 4.0+); false when refused.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The script's state.
pub struct ImageBench {
    config: ImageBenchConfig,
    pub report: Arc<Mutex<ImageBenchReport>>,
    phase: Phase,
    started: Instant,
    last_frame: Option<Instant>,
    /// Frames played in the current phase.
    frame: usize,
    /// The window's centre (the baseline's aim).
    screen_centre: Option<Pos2>,
    /// The image's centre on screen and its zoom when its phase began.
    image_start: Option<(Pos2, f32)>,
    /// The largest resident size seen at a frame's start since the file opened (sampled in every
    /// measured phase, so both pay the same).
    rss_seen: f64,
    /// Whether the app's current pass lays out the same frame again (egui's discarded first pass).
    repeat_pass: bool,
}

impl ImageBench {
    pub fn new(config: ImageBenchConfig, report: Arc<Mutex<ImageBenchReport>>) -> Self {
        Self {
            config,
            report,
            phase: Phase::Start,
            started: Instant::now(),
            last_frame: None,
            frame: 0,
            screen_centre: None,
            image_start: None,
            rss_seen: 0.0,
            repeat_pass: false,
        }
    }

    /// The end of the app's frame: the UI thread's time in it (ms).
    pub fn end_frame(&mut self, update_ms: f64) {
        let mut report = self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let into = match self.phase {
            Phase::NoImage => &mut report.noimage_update,
            Phase::Image => &mut report.image_update,
            _ => return,
        };
        match into.last_mut() {
            // A frame laid out twice: both passes are its update.
            Some(last) if self.repeat_pass => {
                *last += update_ms;
                report.repeated_passes += 1;
            }
            _ if self.repeat_pass => {}
            _ if self.frame > WARM_UP => into.push(update_ms),
            _ => {}
        }
    }

    /// The scripted pan and zoom, during the measured phases.
    pub fn input(&mut self, app: &HeatscopeApp, raw: &mut egui::RawInput) {
        let centre = match self.phase {
            Phase::NoImage => self.screen_centre,
            Phase::Image => app.active_doc().and_then(|d| d.view_rect).map(|(r, _)| r.center()),
            _ => None,
        };
        if let Some(c) = centre {
            raw.events.extend(script_events(self.frame, c));
        }
    }

    /// One frame of the script, at the start of the app's frame.
    pub fn tick(&mut self, app: &mut HeatscopeApp, ctx: &egui::Context) {
        ctx.request_repaint();
        // egui may lay a frame out twice (a discarded first pass): the frame started at the first.
        self.repeat_pass = ctx.current_pass_index() > 0;
        if self.repeat_pass {
            return;
        }
        let now = Instant::now();
        let interval = self.last_frame.map(|t| (now - t).as_secs_f64() * 1e3);
        self.last_frame = Some(now);
        let elapsed = (now - self.started).as_secs_f64();
        let shared = self.report.clone();
        let mut report = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let fail = |report: &mut ImageBenchReport, why: String| {
            report.error = Some(why);
            Phase::Done
        };
        if !matches!(self.phase, Phase::Start | Phase::Done)
            && let Some(rss) = crate::io::own_status_mib("VmRSS")
        {
            self.rss_seen = self.rss_seen.max(rss);
        }
        let next = match self.phase {
            Phase::Start if app.workers.pending() == 0 => {
                self.screen_centre = Some(ctx.content_rect().center());
                Phase::NoImage
            }
            Phase::Start if elapsed > MODELS_WAIT_S => fail(&mut report, "the models did not load within 120 s".into()),
            Phase::Start => Phase::Start,
            Phase::NoImage => {
                self.collect(interval, &mut report.noimage);
                if report.noimage.len() < self.config.frames {
                    Phase::NoImage
                } else {
                    report.idle_rss_mib = crate::io::own_status_mib("VmRSS");
                    report.peak_from_hwm = reset_peak();
                    self.rss_seen = report.idle_rss_mib.unwrap_or(0.0);
                    app.open(vec![self.config.file.clone()]);
                    Phase::Open
                }
            }
            Phase::Open => self.opened(app, &mut report, elapsed, interval),
            Phase::Settle(idle) => {
                // Settled: the full-resolution pixels in and every job they started done.
                let ready = app.active_doc().is_some_and(|d| d.status == DocStatus::Ready);
                let idle = if app.busy() || !ready { 0 } else { idle + 1 };
                if ready && report.full_ms.is_none() {
                    report.full_ms = report.first_frame_ms.map(|first| first + elapsed * 1e3);
                    // The overview the image is shown with (the first frame's may have been a first look).
                    report.downsample =
                        app.active_doc().and_then(|d| d.loaded.as_ref()).map_or(report.downsample, |l| l.downsample);
                }
                if idle >= SETTLED_FRAMES || elapsed > SETTLE_WAIT_S {
                    report.settle_ms = (idle >= SETTLED_FRAMES).then_some(elapsed * 1e3);
                    mark(&mut report, "the workers done");
                    let doc = app.active_doc();
                    self.image_start = doc
                        .and_then(|d| Some((d.screen_pos(image_centre(d)?)?, d.transform?.zoom)))
                        .or(Some((Pos2::ZERO, 1.0)));
                    report.zoom_range = (1.0, 1.0);
                    if let (Some(c), Some((rect, _))) = (self.screen_centre, doc.and_then(|d| d.view_rect)) {
                        report.baseline_on_view = rect.contains(c);
                    }
                    Phase::Image
                } else {
                    Phase::Settle(idle)
                }
            }
            Phase::Image => {
                self.collect(interval, &mut report.image);
                if let (Some(doc), Some((from, zoom0))) = (app.active_doc(), self.image_start) {
                    if let Some(t) = doc.transform {
                        let z = t.zoom / zoom0;
                        report.zoom_range = (report.zoom_range.0.min(z), report.zoom_range.1.max(z));
                    }
                    if let Some(at) = image_centre(doc).and_then(|c| doc.screen_pos(c)) {
                        report.moved_pt = report.moved_pt.max(at.distance(from));
                    }
                }
                if report.image.len() < self.config.frames {
                    Phase::Image
                } else {
                    report.peak_rss_mib =
                        if report.peak_from_hwm { crate::io::own_status_mib("VmHWM") } else { Some(self.rss_seen) };
                    mark(&mut report, "the end");
                    Phase::Done
                }
            }
            Phase::Done => Phase::Done,
        };
        if std::mem::discriminant(&next) != std::mem::discriminant(&self.phase) {
            // Each phase's clock starts here (the open's at the request, the settle's at the first frame).
            self.frame = 0;
            self.started = now;
        }
        self.phase = next;
        if self.phase == Phase::Done && !report.done {
            report.done = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// The open phase: the first frame that painted the image, a failure, or still waiting.
    fn opened(&self, app: &HeatscopeApp, report: &mut ImageBenchReport, elapsed: f64, frame: Option<f64>) -> Phase {
        let wanted = std::path::absolute(&self.config.file).unwrap_or_else(|_| self.config.file.clone());
        let Some(doc) = app.docs.iter().find(|d| d.path == wanted) else {
            let why = app.messages.iter().rev().find(|m| m.error).map(|m| m.text.clone());
            report.error = Some(why.unwrap_or_else(|| format!("the app opened no image for {}", wanted.display())));
            return Phase::Done;
        };
        match &doc.status {
            // The image drawn: the loaded one, or a large one's overview read ahead of its pixels.
            DocStatus::Ready | DocStatus::Loading { .. } if doc.view_rect.is_some() => {
                // `view_rect` is set by the frame that drew the image; this frame starts after its paint.
                report.first_frame_ms = Some(elapsed * 1e3);
                report.first_paint_frame_ms = frame;
                report.first_frame_preview = doc.loaded.is_none();
                report.first_look = doc
                    .preview
                    .as_ref()
                    .filter(|p| p.look.is_first_look() && doc.loaded.is_none())
                    .map(|p| (p.look, p.downsample));
                mark(report, "the first frame");
                if let Some(loaded) = &doc.loaded {
                    report.size = (loaded.raster.width, loaded.raster.height);
                    report.downsample = loaded.downsample;
                } else if let Some(p) = &doc.preview {
                    report.size = (p.width, p.height);
                    report.downsample = p.downsample;
                }
                Phase::Settle(0)
            }
            DocStatus::Ready => Phase::Open,
            DocStatus::Failed(why) => {
                report.error = Some(format!("the app could not open {}: {why}", wanted.display()));
                Phase::Done
            }
            DocStatus::Loading { .. } if elapsed > OPEN_WAIT_S => {
                report.error = Some(format!("{} did not open within {OPEN_WAIT_S} s", wanted.display()));
                Phase::Done
            }
            DocStatus::Loading { .. } => Phase::Open,
        }
    }

    /// Keep a frame time, the first few of a phase left out.
    fn collect(&mut self, interval: Option<f64>, into: &mut Vec<f64>) {
        self.frame += 1;
        if self.frame > WARM_UP
            && let Some(ms) = interval
        {
            into.push(ms);
        }
    }
}

/// Note resident memory and its high-water mark now.
fn mark(report: &mut ImageBenchReport, moment: &'static str) {
    if let (Some(rss), Some(hwm)) = (crate::io::own_status_mib("VmRSS"), crate::io::own_status_mib("VmHWM")) {
        report.memory_marks.push((moment, rss, hwm));
    }
}

/// The centre of a document's image in its own pixels.
fn image_centre(doc: &super::Document) -> Option<[f32; 2]> {
    let r = &doc.loaded.as_ref()?.raster;
    Some([r.width as f32 / 2.0, r.height as f32 / 2.0])
}

#[cfg(test)]
mod tests {
    use egui::{Event, Pos2};

    use super::*;

    #[test]
    fn proc_status_fields_are_read_in_mib() {
        let status = "Name:\theatscope\nVmPeak:\t 4000000 kB\nVmHWM:\t  524288 kB\nVmRSS:\t  262144 kB\nThreads:\t12\n";
        assert_eq!(crate::io::status_mib(status, "VmRSS"), Some(256.0));
        assert_eq!(crate::io::status_mib(status, "VmHWM"), Some(512.0));
        // A field that is not a size, and one that is missing.
        assert_eq!(crate::io::status_mib(status, "Threads"), None);
        assert_eq!(crate::io::status_mib(status, "VmSwap"), None);
        // The whole field name must match (VmHWM is not found as "VmH").
        assert_eq!(crate::io::status_mib(status, "VmH"), None);
    }

    #[test]
    fn each_cycle_drags_round_and_zooms_back_out() {
        let centre = Pos2::new(400.0, 300.0);
        let (mut presses, mut releases, mut wheel, mut last) = (0, 0, 0.0, centre);
        for frame in 0..2 * CYCLE {
            for e in script_events(frame, centre) {
                match e {
                    Event::PointerButton { pressed: true, pos, .. } => {
                        presses += 1;
                        assert_eq!(pos, centre, "a drag starts at the centre");
                    }
                    Event::PointerButton { pressed: false, pos, .. } => {
                        releases += 1;
                        assert!(pos.distance(centre) < 1e-3, "the drag ends where it began: {pos:?}");
                    }
                    Event::PointerMoved(pos) => {
                        assert!(pos.distance(last) <= 2.0 * DRAG_RADIUS, "no jump across the view");
                        last = pos;
                    }
                    Event::MouseWheel { delta, .. } => wheel += delta.y,
                    other => panic!("unexpected event {other:?}"),
                }
            }
        }
        assert_eq!((presses, releases), (2, 2));
        assert!(wheel.abs() < 1e-6, "zooming in and out cancel: {wheel}");
        // The drag really moves: its farthest point is the circle's diameter away.
        let far = (0..DRAG_FRAMES).map(|k| drag_offset(k).length()).fold(0.0, f32::max);
        assert!((far - 2.0 * DRAG_RADIUS).abs() < 0.1 * DRAG_RADIUS, "{far}");
    }
}
