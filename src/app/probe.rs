//! The readout while a large image is still being read: the pixel under the cursor (or pinned) read
//! from the file by window on a worker (`io::read_window`: one strip or tile decoded), the newest
//! pixel asked for replacing any older read. Once the image is in, the readout takes the raster.

use std::sync::Arc;

use super::HeatscopeApp;
use super::document::Part;
use super::slot::{Applied, Key, Slot};
use crate::types::Raster;
use crate::workers::Job;

/// The values of one pixel read from the file: a 1 x 1 raster (nodata as NaN).
#[derive(Debug)]
pub struct Probed {
    pub pixel: [i64; 2],
    pub values: Raster,
}

/// A document's pixel reads while its pixels are read.
#[derive(Default)]
pub struct DocProbe {
    /// The pixel the readout showed last frame.
    pub want: Option<[i64; 2]>,
    /// The pixel being read (Some while the slot is loading).
    asked: Option<[i64; 2]>,
    pub slot: Slot<Arc<Probed>>,
}

impl DocProbe {
    /// The pixel's values, when they are read: `value(band)` (None for nodata).
    pub fn at(&self, pixel: [i64; 2]) -> Option<&Raster> {
        self.slot.ready().filter(|p| p.pixel == pixel).map(|p| &p.values)
    }

    pub fn apply(&mut self, job: u64, kind: crate::workers::EventKind) -> Option<String> {
        match self.slot.apply(job, kind) {
            Applied::Failed(why) => Some(why),
            _ => None,
        }
    }

    /// The pixel to read next, when it is neither read nor being read, and reading it did not fail.
    fn next(&self) -> Option<[i64; 2]> {
        let want = self.want?;
        let read = self.slot.ready().is_some_and(|p| p.pixel == want);
        let tried = (self.slot.is_loading() || matches!(self.slot, Slot::Failed(_))) && self.asked == Some(want);
        (!read && !tried).then_some(want)
    }
}

impl HeatscopeApp {
    /// Read the pixels the readouts of documents still being read asked for.
    pub(super) fn request_probes(&mut self) {
        let wanted: Vec<(u64, std::path::PathBuf, [i64; 2])> = self
            .docs
            .iter()
            .filter(|d| d.loaded.is_none() && d.preview.as_ref().is_some_and(|p| p.windows))
            .filter_map(|d| Some((d.id, d.path.clone(), d.probe.next()?)))
            .collect();
        for (id, path, pixel) in wanted {
            let window = [pixel[0].max(0) as usize, pixel[1].max(0) as usize, 1, 1];
            let job = Job::task("reading a pixel from the file", move |_| {
                let options = crate::io::LoadOptions::default();
                let values = crate::io::read_window(&path, &options, window).map_err(|e| e.to_string())?;
                let values = values.ok_or_else(|| format!("{} cannot be read a part at a time", path.display()))?;
                Ok(Arc::new(Probed { pixel, values }))
            });
            let submitted = self.workers.submit(Key::Doc(id, Part::Probe), job);
            if let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) {
                match submitted {
                    Ok(ticket) => {
                        doc.probe.slot = Slot::loading(&ticket);
                        doc.probe.asked = Some(pixel);
                    }
                    Err(e) => tracing::warn!("cannot read a pixel: {e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pixel_is_read_once_and_a_failed_read_is_not_repeated() {
        let mut p = DocProbe::default();
        assert_eq!(p.next(), None, "nothing hovered");
        p.want = Some([3, 4]);
        assert_eq!(p.next(), Some([3, 4]));
        p.asked = Some([3, 4]);
        p.slot = Slot::Failed("truncated".into());
        assert_eq!(p.next(), None, "a failed pixel is not asked for again and again");
        p.want = Some([5, 4]);
        assert_eq!(p.next(), Some([5, 4]), "another pixel is");
        let values = Raster::new(1, 1, vec![vec![2.5]], crate::types::RasterMeta::default());
        p.asked = Some([5, 4]);
        p.slot = Slot::Ready(Arc::new(Probed { pixel: [5, 4], values }));
        assert_eq!(p.next(), None);
        assert_eq!(p.at([5, 4]).and_then(|r| r.value(0, 0, 0)), Some(2.5));
        assert!(p.at([3, 4]).is_none());
    }
}
