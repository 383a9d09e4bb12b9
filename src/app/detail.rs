//! Full resolution where the view is zoomed in: an image larger than [`OVERVIEW_MAX`] is uploaded as
//! a block-averaged overview, and when the screen asks for finer pixels than the overview holds, a
//! worker cuts the visible part (with a margin, at the coarsest power-of-two block that is still no
//! coarser than a screen pixel, at most [`WINDOW_MAX`] texels a side) from the full-resolution data;
//! the viewer draws it over the overview, which shows until it arrives and around it. Only these two
//! textures are on the GPU. UI thread (the window is cut on a worker, under `Part::Detail`).

use std::sync::Arc;

use super::HeatscopeApp;
use super::document::Part;
use super::slot::{Key, Slot};
use crate::render::ViewTransform;
use crate::types::Raster;
use crate::workers::Job;

/// Largest side of the overview the GPU holds of an image: beyond a 1280-2048 px window's needs, the
/// zoomed-in window takes over (a 4096 overview cost 3 x 64 MiB of memory under lavapipe: CPU copy,
/// upload staging, texture).
pub const OVERVIEW_MAX: usize = 2048;

/// Largest side of a zoomed-in window, in texels.
pub const WINDOW_MAX: usize = 4096;

/// A window of the image: `[x0, y0]` and `w x h` in image pixels, one texel per `factor x factor`
/// pixels (`x0`, `y0` multiples of `factor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSpec {
    pub x0: usize,
    pub y0: usize,
    pub w: usize,
    pub h: usize,
    pub factor: usize,
}

impl WindowSpec {
    /// Whether it holds `visible` (`[x0, y0, x1, y1]` image pixels) at block `factor`.
    pub fn serves(&self, visible: [f32; 4], factor: usize) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let (x0, y0, x1, y1) = (self.x0 as f32, self.y0 as f32, (self.x0 + self.w) as f32, (self.y0 + self.h) as f32);
        self.factor == factor && visible[0] >= x0 && visible[1] >= y0 && visible[2] <= x1 && visible[3] <= y1
    }
}

/// A window cut from the full-resolution data.
#[derive(Debug)]
pub struct Detail {
    pub spec: WindowSpec,
    pub raster: Arc<Raster>,
    /// Distinct for every window of an image (the GPU upload is replaced when it changes).
    pub version: u64,
}

/// The part of a `size` image a view shows, `[x0, y0, x1, y1]`, clipped to the image.
pub fn visible(t: &ViewTransform, view_px: [f32; 2], size: [usize; 2]) -> [f32; 4] {
    let (a, b) = (t.to_image([0.0, 0.0]), t.to_image(view_px));
    #[allow(clippy::cast_precision_loss)]
    let (w, h) = (size[0] as f32, size[1] as f32);
    [a[0].clamp(0.0, w), a[1].clamp(0.0, h), b[0].clamp(0.0, w), b[1].clamp(0.0, h)]
}

/// The block a view needs: the largest power of two no larger than the image pixels per screen
/// pixel (1 at full zoom); None when the overview (`overview` pixels a texel) is as fine as that.
pub fn needed_factor(t: &ViewTransform, overview: usize) -> Option<usize> {
    let [ix, iy] = t.inv_zoom();
    let per_px = ix.min(iy).max(1.0);
    let mut factor = 1usize;
    #[allow(clippy::cast_precision_loss)]
    while ((factor * 2) as f32) <= per_px {
        factor *= 2;
    }
    (factor < overview).then_some(factor)
}

/// The window to cut for a view of `visible` at block `factor`: the visible part and a quarter of
/// it on each side, aligned to the block, clipped to the image, coarsened until it fits
/// [`WINDOW_MAX`]; None when empty or when it would be as coarse as the overview.
pub fn window_for(visible: [f32; 4], size: [usize; 2], mut factor: usize, overview: usize) -> Option<WindowSpec> {
    let (vw, vh) = (visible[2] - visible[0], visible[3] - visible[1]);
    if vw <= 0.0 || vh <= 0.0 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let grow = |lo: f32, hi: f32, len: f32, max: usize| {
        let a = (lo - len / 4.0).max(0.0).floor() as usize;
        let b = ((hi + len / 4.0).ceil() as usize).min(max);
        (a, b)
    };
    let (ax, bx) = grow(visible[0], visible[2], vw, size[0]);
    let (ay, by) = grow(visible[1], visible[3], vh, size[1]);
    loop {
        if factor >= overview {
            return None;
        }
        let (x0, y0) = (ax / factor * factor, ay / factor * factor);
        let (w, h) = (bx.div_ceil(factor) * factor - x0, by.div_ceil(factor) * factor - y0);
        if w / factor <= WINDOW_MAX && h / factor <= WINDOW_MAX {
            return Some(WindowSpec { x0, y0, w: w.min(size[0] - x0), h: h.min(size[1] - y0), factor });
        }
        factor *= 2;
    }
}

/// A document's zoomed-in window.
#[derive(Debug, Default)]
pub struct DocDetail {
    /// The window cut last, drawn while it serves (and while a newer one is cut).
    pub held: Option<Arc<Detail>>,
    /// The window being cut.
    pub slot: Slot<Arc<Detail>>,
    /// The window the view asked for last frame (None: the overview is enough, or the window held
    /// serves).
    pub want: Option<WindowSpec>,
    /// What `slot` is cutting.
    pending: Option<WindowSpec>,
}

impl DocDetail {
    /// Apply a worker event; the failure, if the cut failed.
    pub fn apply(&mut self, job: u64, kind: crate::workers::EventKind) -> Option<String> {
        let applied = self.slot.apply(job, kind);
        if let Some(d) = self.slot.ready().cloned() {
            self.held = Some(d);
            self.slot = Slot::Empty;
            self.pending = None;
        }
        match applied {
            super::slot::Applied::Failed(why) => {
                self.pending = None;
                Some(why)
            }
            super::slot::Applied::Cancelled => {
                self.pending = None;
                None
            }
            _ => None,
        }
    }

    pub fn cancel(&mut self) {
        self.slot.cancel();
        self.pending = None;
    }
}

impl HeatscopeApp {
    /// Cut the windows views asked for (on a worker; a newer request replaces an older one).
    pub(super) fn request_detail(&mut self) {
        let wanted: Vec<(u64, WindowSpec, Arc<Raster>)> = self
            .docs
            .iter()
            .filter_map(|d| {
                let want = d.detail.want?;
                let raster = Arc::clone(&d.loaded.as_ref()?.raster);
                (d.detail.pending != Some(want)).then_some((d.id, want, raster))
            })
            .collect();
        for (id, spec, raster) in wanted {
            self.next_detail += 1;
            let version = self.next_detail;
            let job = Job::task("cutting the zoomed-in window", move |_| {
                let window = crate::stats::window_mean(&raster, [spec.x0, spec.y0, spec.w, spec.h], spec.factor);
                Ok(Arc::new(Detail { spec, raster: Arc::new(window), version }))
            });
            let submitted = self.workers.submit(Key::Doc(id, Part::Detail), job);
            if let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) {
                match submitted {
                    Ok(ticket) => {
                        doc.detail.slot = Slot::loading(&ticket);
                        doc.detail.pending = Some(spec);
                    }
                    // The overview still shows; the next frame asks again.
                    Err(e) => tracing::warn!("cannot cut the zoomed-in window: {e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_follows_the_zoom_and_stops_at_the_overview() {
        let t = |zoom: f32| ViewTransform { origin: [0.0, 0.0], zoom, stretch: 1.0 };
        assert_eq!(needed_factor(&t(2.0), 4), Some(1));
        assert_eq!(needed_factor(&t(1.0), 4), Some(1));
        assert_eq!(needed_factor(&t(0.4), 4), Some(2));
        assert_eq!(needed_factor(&t(0.25), 4), None);
        assert_eq!(needed_factor(&t(0.1), 4), None);
        assert_eq!(needed_factor(&t(2.0), 1), None);
    }

    #[test]
    fn windows_hold_the_view_with_a_margin_aligned_and_clipped() {
        let w = window_for([1000.0, 2000.0, 1800.0, 2400.0], [20_000, 20_000], 2, 5).unwrap();
        assert_eq!((w.x0, w.y0, w.factor), (800, 1900, 2));
        assert!(w.serves([1000.0, 2000.0, 1800.0, 2400.0], 2));
        assert!(!w.serves([1000.0, 2000.0, 1800.0, 2400.0], 1));
        assert_eq!((w.x0 % 2, w.y0 % 2), (0, 0));
        // A view too wide for one window at full resolution is cut coarser.
        let wide = window_for([0.0, 0.0, 9000.0, 100.0], [20_000, 200], 1, 8).unwrap();
        assert!(wide.factor >= 4 && wide.w / wide.factor <= WINDOW_MAX, "{wide:?}");
        // At the image's edge it stops there.
        let edge = window_for([19_900.0, 0.0, 20_000.0, 50.0], [20_000, 50], 1, 4).unwrap();
        assert_eq!(edge.x0 + edge.w, 20_000);
        assert_eq!(edge.y0 + edge.h, 50);
        assert!(window_for([5.0, 5.0, 5.0, 9.0], [100, 100], 1, 4).is_none());
    }
}
