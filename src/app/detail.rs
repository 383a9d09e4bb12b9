//! Full resolution where the view is zoomed in: an image larger than [`OVERVIEW_MAX`] is uploaded as
//! a block-averaged overview, and when the screen asks for finer pixels than the overview holds, the
//! view is drawn from a pyramid of tiles: level `factor` (a power of two, 1 = full resolution) is a
//! grid of [`TILE`]-texel tiles, each texel the mean of `factor x factor` pixels. Tiles are cut on a
//! worker from the full-resolution data (the nearest the view's centre first, then a ring around
//! the view), kept up to [`KEEP_BYTES`] (the least recently shown go first, never one in view), and
//! drawn over the overview; a tile not cut yet, or not yet on the GPU, shows its nearest coarser
//! tile that is. Each tile's texture carries a one-texel apron of its neighbours, so bilinear
//! sampling blends across tile edges exactly as across any other texel: no seams. UI thread (the
//! cutting runs under `Part::Detail`).

use std::collections::HashMap;
use std::sync::Arc;

use super::HeatscopeApp;
use super::document::Part;
use super::slot::{Key, Slot};
use crate::render::ViewTransform;
use crate::types::Raster;
use crate::workers::Job;

/// Largest side of the overview the GPU holds of an image: beyond a 1280-2048 px window's needs, the
/// tiles take over (a 4096 overview cost 3 x 64 MiB of memory under lavapipe: CPU copy, upload
/// staging, texture).
pub const OVERVIEW_MAX: usize = 2048;

/// Texels a side of a tile (the part it draws; its texture adds the apron).
pub const TILE: usize = 256;

/// Bytes of cut tiles a document keeps (a 1280 x 800 view needs 4-23 MiB of level tiles of one
/// band); the ring around the view is cut only while it fits.
pub const KEEP_BYTES: usize = 32 << 20;

/// Tiles one worker job cuts; the next frame asks for the rest.
pub const BATCH: usize = 12;

/// A tile: column `tx`, row `ty` of level `factor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileKey {
    pub factor: usize,
    pub tx: usize,
    pub ty: usize,
}

impl TileKey {
    /// Image pixels a side of a whole tile.
    pub fn span(&self) -> usize {
        TILE * self.factor
    }

    /// The part of a `size` image the tile draws, `[x0, y0, w, h]` (empty past the image).
    pub fn core(&self, size: [usize; 2]) -> [usize; 4] {
        let s = self.span();
        let (x0, y0) = ((self.tx * s).min(size[0]), (self.ty * s).min(size[1]));
        [x0, y0, (x0 + s).min(size[0]) - x0, (y0 + s).min(size[1]) - y0]
    }

    /// The part cut for its texture: the core and one block more on each side the image goes on.
    /// Starts on a multiple of `factor`, so its blocks are the level's blocks.
    pub fn cut(&self, size: [usize; 2]) -> [usize; 4] {
        let [x0, y0, w, h] = self.core(size);
        let f = self.factor;
        let (a, b) = (x0.saturating_sub(f), y0.saturating_sub(f));
        let (c, d) = ((x0 + w + f).min(size[0]), (y0 + h + f).min(size[1]));
        [a, b, c - a, d - b]
    }

    /// The tile of the next coarser level that holds this one.
    pub fn parent(&self) -> Self {
        Self { factor: self.factor * 2, tx: self.tx / 2, ty: self.ty / 2 }
    }
}

/// A tile cut from the full-resolution data.
#[derive(Debug)]
pub struct Tile {
    pub key: TileKey,
    /// What it draws and what its texture holds, `[x0, y0, w, h]` image pixels (see [`TileKey`]).
    pub core: [usize; 4],
    pub cut: [usize; 4],
    /// One texel per `factor x factor` block of `cut`, NaN where no pixel of a block is valid.
    pub raster: Arc<Raster>,
    /// Unique in the app: the GPU keeps uploads under it.
    pub id: u64,
}

impl Tile {
    /// Cut tile `key` of `raster`.
    pub fn cut_from(raster: &Raster, key: TileKey, id: u64) -> Self {
        let size = [raster.width, raster.height];
        let cut = key.cut(size);
        let texels = crate::stats::window_mean(raster, cut, key.factor);
        Self { key, core: key.core(size), cut, raster: Arc::new(texels), id }
    }

    /// Cut tile `key` of the `size` image in the file at `path`, reading only its part (while the
    /// file's full read goes on; `io::read_window` gives the pixels the full read holds there).
    pub fn read_from(path: &std::path::Path, size: [usize; 2], key: TileKey, id: u64) -> Result<Self, String> {
        let cut = key.cut(size);
        let options = crate::io::LoadOptions::default();
        let window = crate::io::read_window(path, &options, cut).map_err(|e| e.to_string())?;
        let window = window.ok_or_else(|| format!("{} cannot be read a part at a time", path.display()))?;
        let texels = crate::stats::window_mean(&window, [0, 0, window.width, window.height], key.factor);
        Ok(Self { key, core: key.core(size), cut, raster: Arc::new(texels), id })
    }

    fn bytes(&self) -> usize {
        self.raster.memory_bytes()
    }
}

/// The part of a `size` image a view shows, `[x0, y0, x1, y1]`, clipped to the image.
pub fn visible(t: &ViewTransform, view_px: [f32; 2], size: [usize; 2]) -> [f32; 4] {
    let (a, b) = (t.to_image([0.0, 0.0]), t.to_image(view_px));
    #[allow(clippy::cast_precision_loss)]
    let (w, h) = (size[0] as f32, size[1] as f32);
    [a[0].clamp(0.0, w), a[1].clamp(0.0, h), b[0].clamp(0.0, w), b[1].clamp(0.0, h)]
}

/// The level a view needs: the largest power of two no larger than the image pixels per screen
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

/// The tiles of level `factor` over `visible` (`[x0, y0, x1, y1]` image pixels) and `ring` tiles
/// more on each side, within a `size` image; those nearest the view's centre first.
pub fn tiles_for(visible: [f32; 4], size: [usize; 2], factor: usize, ring: usize) -> Vec<TileKey> {
    if visible[2] <= visible[0] || visible[3] <= visible[1] || size[0] == 0 || size[1] == 0 {
        return Vec::new();
    }
    let span = TILE * factor;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let range = |lo: f32, hi: f32, len: usize| {
        let count = len.div_ceil(span);
        let first = ((lo.max(0.0) as usize) / span).saturating_sub(ring);
        let last = ((hi.max(0.0).ceil() as usize).div_ceil(span) + ring).min(count);
        first..last.max(first)
    };
    let (xs, ys) = (range(visible[0], visible[2], size[0]), range(visible[1], visible[3], size[1]));
    let centre = [(visible[0] + visible[2]) / 2.0, (visible[1] + visible[3]) / 2.0];
    let mut keys: Vec<TileKey> = ys.flat_map(|ty| xs.clone().map(move |tx| TileKey { factor, tx, ty })).collect();
    #[allow(clippy::cast_precision_loss)]
    let distance = |k: &TileKey| {
        let (cx, cy) = (((k.tx * 2 + 1) * span) as f32 / 2.0, ((k.ty * 2 + 1) * span) as f32 / 2.0);
        (cx - centre[0]).powi(2) + (cy - centre[1]).powi(2)
    };
    keys.sort_by(|a, b| distance(a).total_cmp(&distance(b)).then(a.cmp(b)));
    keys
}

/// A document's tiles.
#[derive(Debug, Default)]
pub struct DocDetail {
    /// The tiles cut, with the last frame each was in view (or asked for).
    tiles: HashMap<TileKey, (Arc<Tile>, u64)>,
    bytes: usize,
    /// The batch being cut.
    slot: Slot<Vec<Arc<Tile>>>,
    /// What `slot` is cutting, and whether it reads it from the file.
    pending: Vec<TileKey>,
    from_file: bool,
    /// Tiles the view needs that are not cut, nearest the centre first (those in view, then the
    /// ring around it); empty when the overview is enough or every one is cut.
    pub want: Vec<TileKey>,
    /// Whether every tile in view is cut and on the GPU (false while the overview or a coarser
    /// tile stands in for one).
    pub sharp: bool,
    /// Whether every tile in view is cut (uploaded or not).
    pub view_cut: bool,
    /// A read of tiles from the file failed (a damaged file): no more are read from it; cutting
    /// from the raster, once it is in, goes on.
    pub file_failed: bool,
    frame: u64,
}

impl DocDetail {
    /// This frame's plan for a view of `visible` at level `factor` (None: the overview is enough):
    /// the tiles to draw, coarsest first. `on_gpu` says whether a tile's upload is there; a tile not
    /// uploaded yet is drawn (it uploads when the frame's budget allows) over its nearest coarser
    /// tile that is.
    pub fn plan(
        &mut self,
        visible: [f32; 4],
        size: [usize; 2],
        factor: Option<usize>,
        overview: usize,
        on_gpu: impl Fn(u64) -> bool,
    ) -> Vec<Arc<Tile>> {
        self.frame += 1;
        let frame = self.frame;
        let Some(factor) = factor else {
            self.want.clear();
            self.sharp = true;
            self.view_cut = true;
            return Vec::new();
        };
        let in_view = tiles_for(visible, size, factor, 0);
        let mut draw: Vec<Arc<Tile>> = Vec::new();
        let mut missing = Vec::new();
        self.sharp = true;
        for key in &in_view {
            let own = self.tiles.get_mut(key).map(|(t, used)| {
                *used = frame;
                Arc::clone(t)
            });
            if own.as_ref().is_some_and(|t| on_gpu(t.id)) {
                draw.extend(own);
                continue;
            }
            self.sharp = false;
            if own.is_none() {
                missing.push(*key);
            }
            // Stand-in: the nearest coarser tile uploaded.
            let mut up = key.parent();
            while up.factor < overview {
                if let Some((t, used)) = self.tiles.get_mut(&up)
                    && on_gpu(t.id)
                {
                    *used = frame;
                    if !draw.iter().any(|d| d.key == up) {
                        draw.push(Arc::clone(t));
                    }
                    break;
                }
                up = up.parent();
            }
            draw.extend(own);
        }
        draw.sort_by_key(|t| std::cmp::Reverse(t.key.factor));
        self.view_cut = missing.is_empty();
        // Once the view is cut, the ring around it (for a pan), when it fits beside the view's tiles.
        if missing.is_empty() {
            let ring = tiles_for(visible, size, factor, 1);
            let per_tile = in_view.first().and_then(|k| self.tiles.get(k)).map_or(0, |(t, _)| t.bytes());
            if ring.len() * per_tile <= KEEP_BYTES {
                for key in ring {
                    match self.tiles.get_mut(&key) {
                        Some((_, used)) => *used = frame,
                        None => missing.push(key),
                    }
                }
            }
        }
        self.want = missing;
        self.evict();
        draw
    }

    /// Drop the least recently used tiles beyond [`KEEP_BYTES`], never one used this frame.
    fn evict(&mut self) {
        while self.bytes > KEEP_BYTES {
            let oldest =
                self.tiles.iter().filter(|(_, (_, used))| *used < self.frame).min_by_key(|(_, (_, used))| *used);
            let Some(key) = oldest.map(|(k, _)| *k) else { return };
            if let Some((t, _)) = self.tiles.remove(&key) {
                self.bytes -= t.bytes();
            }
        }
    }

    /// Number of tiles held, and their bytes.
    pub fn held(&self) -> (usize, usize) {
        (self.tiles.len(), self.bytes)
    }

    /// Whether tile `key` is cut.
    pub fn has(&self, key: &TileKey) -> bool {
        self.tiles.contains_key(key)
    }

    fn insert(&mut self, tile: Arc<Tile>) {
        self.bytes += tile.bytes();
        if let Some((old, _)) = self.tiles.insert(tile.key, (tile, self.frame)) {
            self.bytes -= old.bytes();
        }
    }

    /// Apply a worker event; the failure, if the cut failed.
    pub fn apply(&mut self, job: u64, kind: crate::workers::EventKind) -> Option<String> {
        use super::slot::Applied;
        match self.slot.apply(job, kind) {
            Applied::Ready => {
                if let Slot::Ready(tiles) = std::mem::take(&mut self.slot) {
                    for tile in tiles {
                        self.insert(tile);
                    }
                }
                self.pending.clear();
                None
            }
            Applied::Failed(why) => {
                self.slot = Slot::Empty;
                self.pending.clear();
                self.file_failed |= self.from_file;
                Some(why)
            }
            Applied::Cancelled => {
                self.pending.clear();
                None
            }
            Applied::Nothing => None,
        }
    }

    pub fn cancel(&mut self) {
        self.slot.cancel();
        self.pending.clear();
    }

    /// The next batch to cut, when one should start: nothing is being cut, or what is being cut is
    /// no longer wanted (the view moved on; that job is replaced). `want` is as of the last frame
    /// that showed the document, so tiles cut since are left out (a hidden document asks for nothing
    /// more once its last wanted tiles are cut).
    fn next_batch(&self) -> Option<Vec<TileKey>> {
        let missing: Vec<TileKey> = self.want.iter().filter(|k| !self.tiles.contains_key(k)).copied().collect();
        if missing.is_empty() {
            return None;
        }
        if self.slot.is_loading() && self.pending.iter().any(|k| missing.contains(k)) {
            return None;
        }
        Some(missing.into_iter().take(BATCH).collect())
    }
}

/// Where tiles are cut from: the image read, or its file (`path`, image `size`) while it is read.
enum Source {
    Raster(Arc<Raster>),
    File(std::path::PathBuf, [usize; 2]),
}

impl HeatscopeApp {
    /// Cut the tiles views asked for (on a worker; a batch no longer wanted is replaced).
    pub(super) fn request_detail(&mut self) {
        // From the raster once it is read; before, from the file a tile at a time.
        let wanted: Vec<(u64, Vec<TileKey>, Source)> = self
            .docs
            .iter()
            .filter_map(|d| {
                let batch = d.detail.next_batch()?;
                let source = match (&d.loaded, &d.preview) {
                    (Some(l), _) => Source::Raster(Arc::clone(&l.raster)),
                    (None, Some(p)) if !d.detail.file_failed => Source::File(d.path.clone(), [p.width, p.height]),
                    _ => return None,
                };
                Some((d.id, batch, source))
            })
            .collect();
        for (id, batch, source) in wanted {
            let from_file = matches!(source, Source::File(..));
            let first = self.next_detail + 1;
            self.next_detail += batch.len() as u64;
            let keys = batch.clone();
            let job = Job::task("cutting tiles of the part in view", move |r| {
                let mut tiles = Vec::with_capacity(keys.len());
                for (i, key) in keys.into_iter().enumerate() {
                    if r.cancelled() {
                        return Err("cancelled".into());
                    }
                    let id = first + i as u64;
                    tiles.push(Arc::new(match &source {
                        Source::Raster(raster) => Tile::cut_from(raster, key, id),
                        Source::File(path, size) => Tile::read_from(path, *size, key, id)?,
                    }));
                }
                Ok(tiles)
            });
            let submitted = self.workers.submit(Key::Doc(id, Part::Detail), job);
            if let Some(doc) = self.docs.iter_mut().find(|d| d.id == id) {
                match submitted {
                    Ok(ticket) => {
                        doc.detail.slot = Slot::loading(&ticket);
                        doc.detail.pending = batch;
                        doc.detail.from_file = from_file;
                    }
                    // The overview still shows; the next frame asks again.
                    Err(e) => tracing::warn!("cannot cut tiles: {e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_follows_the_zoom_and_stops_at_the_overview() {
        let t = |zoom: f32| ViewTransform { origin: [0.0, 0.0], zoom, stretch: 1.0 };
        assert_eq!(needed_factor(&t(2.0), 4), Some(1));
        assert_eq!(needed_factor(&t(1.0), 4), Some(1));
        assert_eq!(needed_factor(&t(0.4), 4), Some(2));
        assert_eq!(needed_factor(&t(0.25), 4), None);
        assert_eq!(needed_factor(&t(0.1), 4), None);
        assert_eq!(needed_factor(&t(2.0), 1), None);
    }

    #[test]
    fn tiles_cover_the_view_nearest_first_and_stop_at_the_image() {
        let size = [1000, 600];
        // Pixels 300..700 x 100..300 at level 1: tile columns 1..=2, rows 0..=1.
        let keys = tiles_for([300.0, 100.0, 700.0, 300.0], size, 1, 0);
        let mut cells: Vec<(usize, usize)> = keys.iter().map(|k| (k.tx, k.ty)).collect();
        cells.sort_unstable();
        assert_eq!(cells, vec![(1, 0), (1, 1), (2, 0), (2, 1)]);
        // Nearest the centre (500, 200) first: tile (1, 0) spans 256..512 x 0..256.
        assert_eq!((keys[0].tx, keys[0].ty), (1, 0));
        // A ring stops at the image: 4 columns (1000 / 256), 3 rows.
        let ring = tiles_for([300.0, 100.0, 700.0, 300.0], size, 1, 1);
        assert_eq!(ring.len(), 4 * 3);
        assert!(ring.iter().all(|k| k.tx < 4 && k.ty < 3));
        assert!(tiles_for([5.0, 5.0, 5.0, 9.0], size, 1, 1).is_empty());
        // Level 4: one tile spans 1024 pixels.
        assert_eq!(tiles_for([0.0, 0.0, 1000.0, 600.0], size, 4, 0).len(), 1);
    }

    #[test]
    fn a_tile_draws_its_core_and_holds_one_block_of_apron_where_the_image_goes_on() {
        let size = [1000, 600];
        let first = TileKey { factor: 2, tx: 0, ty: 0 };
        assert_eq!(first.core(size), [0, 0, 512, 512]);
        assert_eq!(first.cut(size), [0, 0, 514, 514]);
        let last = TileKey { factor: 2, tx: 1, ty: 1 };
        assert_eq!(last.core(size), [512, 512, 488, 88]);
        assert_eq!(last.cut(size), [510, 510, 490, 90]);
        assert_eq!(last.parent(), TileKey { factor: 4, tx: 0, ty: 0 });
        // Its texels are the level's blocks: the apron's first block starts on a multiple of 2.
        let raster =
            Raster::new(1000, 600, vec![(0..600_000).map(|i| (i % 1000) as f32).collect()], Default::default());
        let tile = Tile::cut_from(&raster, last, 7);
        assert_eq!((tile.raster.width, tile.raster.height), (245, 45));
        assert_eq!(tile.raster.bands[0][0], 510.5, "columns 510 and 511");
        assert_eq!(tile.raster.bands[0][244], 998.5, "the image's last two columns");
    }

    fn doc_with(tiles: &[TileKey], size: [usize; 2]) -> DocDetail {
        let raster = Raster::new(size[0], size[1], vec![vec![1.0; size[0] * size[1]]], Default::default());
        let mut d = DocDetail::default();
        for (i, k) in tiles.iter().enumerate() {
            d.insert(Arc::new(Tile::cut_from(&raster, *k, i as u64 + 1)));
        }
        d
    }

    #[test]
    fn a_missing_tile_shows_its_nearest_coarser_tile_and_is_asked_for() {
        let size = [2048, 2048];
        let fine = TileKey { factor: 1, tx: 1, ty: 1 };
        let coarse = TileKey { factor: 4, tx: 0, ty: 0 };
        let mut d = doc_with(&[fine, coarse], size);
        // The view 256..768: level-1 tiles (1..3) x (1..3); only (1, 1) is cut.
        let draw = d.plan([256.0, 256.0, 768.0, 768.0], size, Some(1), 8, |_| true);
        let keys: Vec<TileKey> = draw.iter().map(|t| t.key).collect();
        assert_eq!(keys, vec![coarse, fine], "the coarse stand-in once, below the fine tile");
        assert!(!d.sharp);
        assert_eq!(d.want.len(), 3, "the three missing tiles in view, not the ring yet: {:?}", d.want);
        // Not on the GPU yet: the fine tile is still drawn (it uploads) over its stand-in.
        let draw = d.plan([256.0, 256.0, 512.0, 512.0], size, Some(1), 8, |id| id == 2);
        assert_eq!(draw.iter().map(|t| t.key).collect::<Vec<_>>(), vec![coarse, fine]);
        assert!(!d.sharp);
        // All in view cut and uploaded: sharp, and the ring is asked for.
        let draw = d.plan([256.0, 256.0, 512.0, 512.0], size, Some(1), 8, |_| true);
        assert_eq!(draw.len(), 1);
        assert!(d.sharp);
        assert_eq!(d.want.len(), 8, "the ring around one tile");
        // The overview is enough: nothing drawn, nothing wanted.
        assert!(d.plan([0.0, 0.0, 2048.0, 2048.0], size, None, 8, |_| true).is_empty());
        assert!(d.want.is_empty());
    }

    #[test]
    fn tiles_beyond_the_budget_go_least_recently_used_first_never_one_in_view() {
        let size = [8192, 8192];
        // Each level-1 tile holds up to 258 x 258 texels (apron both sides): 260 KiB; 32 MiB is ~125.
        let all: Vec<TileKey> = (0..16).flat_map(|ty| (0..16).map(move |tx| TileKey { factor: 1, tx, ty })).collect();
        let mut d = doc_with(&all, size);
        assert!(d.held().1 > KEEP_BYTES);
        // A view of tiles (0..2) x (0..2) uses them this frame (and the ring): they stay.
        d.plan([0.0, 0.0, 512.0, 512.0], size, Some(1), 32, |_| true);
        assert!(d.held().1 <= KEEP_BYTES, "{} bytes held", d.held().1);
        for tx in 0..3 {
            for ty in 0..3 {
                assert!(d.has(&TileKey { factor: 1, tx, ty }), "tile ({tx}, {ty}) near the view was dropped");
            }
        }
        // The next batch is the wanted tiles, nearest first; a running batch still wanted is kept.
        let mut d = DocDetail::default();
        d.plan([0.0, 0.0, 1024.0, 1024.0], size, Some(1), 32, |_| true);
        let batch = d.next_batch().unwrap();
        assert_eq!(batch.len(), BATCH);
        assert_eq!(batch[0], d.want[0]);
        // Once cut (before the next frame plans again), they are not asked for again.
        let raster = Raster::new(1024, 1024, vec![vec![0.0; 1024 * 1024]], Default::default());
        for (i, key) in batch.iter().enumerate() {
            d.insert(Arc::new(Tile::cut_from(&raster, *key, i as u64)));
        }
        let next = d.next_batch().unwrap();
        assert!(next.iter().all(|k| !batch.contains(k)), "{next:?} repeats the batch cut");
        let rest: Vec<TileKey> = d.want.clone();
        for (i, key) in rest.iter().enumerate() {
            d.insert(Arc::new(Tile::cut_from(&raster, *key, 100 + i as u64)));
        }
        assert!(d.next_batch().is_none(), "everything wanted is cut: nothing more to ask for");
    }
}
