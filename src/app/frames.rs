//! The status bar's frame meter: UI-thread time per frame over the last two seconds. UI thread.

/// How long the UI thread spent on recent frames: shown in the status bar, so anyone can see that
/// the UI keeps its frame rate while models run (frames within the last two seconds).
#[derive(Debug, Default)]
pub struct FrameMeter {
    frames: std::collections::VecDeque<(std::time::Instant, f64)>,
}

impl FrameMeter {
    const WINDOW_S: f64 = 2.0;

    /// Record a frame that started at `start` and took `ms` of UI-thread time.
    pub fn record(&mut self, start: std::time::Instant, ms: f64) {
        self.frames.push_back((start, ms));
        while self.frames.front().is_some_and(|(t, _)| start.duration_since(*t).as_secs_f64() > Self::WINDOW_S) {
            self.frames.pop_front();
        }
    }

    /// (frames per second, median ms, max ms) over the window; None with fewer than 3 frames.
    pub fn summary(&self) -> Option<(f64, f64, f64)> {
        if self.frames.len() < 3 {
            return None;
        }
        let mut ms: Vec<f64> = self.frames.iter().map(|f| f.1).collect();
        ms.sort_by(f64::total_cmp);
        let first = self.frames.front()?.0;
        let last = self.frames.back()?.0;
        let span = last.duration_since(first).as_secs_f64();
        let fps = if span > 0.0 { (self.frames.len() - 1) as f64 / span } else { 0.0 };
        let median = crate::stats::quantile::of_sorted(&ms, 0.5)?;
        Some((fps, median, ms[ms.len() - 1]))
    }
}

#[cfg(test)]
mod tests {
    use super::FrameMeter;
    use std::time::{Duration, Instant};

    #[test]
    fn the_frame_meter_keeps_two_seconds() {
        let mut m = FrameMeter::default();
        let t0 = Instant::now();
        assert!(m.summary().is_none());
        // 10 frames 100 ms apart taking 1..10 ms, then one 3 s later: only frames within 2 s remain.
        for k in 0..10u32 {
            m.record(t0 + Duration::from_millis(100 * u64::from(k)), f64::from(k + 1));
        }
        let (fps, median, max) = m.summary().expect("enough frames");
        assert!((fps - 10.0).abs() < 1e-6, "{fps}");
        assert_eq!((median, max), (5.5, 10.0), "the median of 1..10 by the one convention");
        m.record(t0 + Duration::from_millis(3000), 2.0);
        assert!(m.summary().is_none(), "older frames dropped");
    }
}
