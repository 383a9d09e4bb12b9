//! The only file that knows egui: an `egui_wgpu::CallbackTrait` that draws an image with the shared
//! [`ImagePipeline`]. The pipeline and the uploaded images live in egui's `callback_resources`; the
//! per-frame callback carries only values and an `Arc` of the raster. Runs on the UI thread.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use egui_wgpu::{CallbackResources, CallbackTrait, ScreenDescriptor};

use super::image_pipeline::{GpuImage, ImagePipeline};
use super::uniform::ViewUniform;
use crate::types::Raster;

/// GPU state kept across frames: the pipeline and the uploads, whole images and tiles of zoomed-in
/// views.
pub struct GpuCache {
    pipeline: ImagePipeline,
    uploads: HashMap<(Layer, u64), Upload>,
    /// Bytes of the tiles held.
    tile_bytes: usize,
    /// The app frame the tile uploads were last counted for, and the bytes uploaded in it.
    upload_frame: u64,
    uploaded: usize,
    /// Errors from uploads, drained by the app into its message area.
    pub errors: Vec<String>,
    pub max_texture_dim: usize,
}

struct Upload {
    image: GpuImage,
    /// The app frame it was last drawn in.
    used: u64,
    bytes: usize,
    /// The raster uploaded: a callback under the same key with another one (a large image's first
    /// look replaced by its overview) uploads anew. Weak, so its pixels are not kept; the allocation
    /// it keeps means no later raster can take its address.
    source: Weak<Raster>,
}

/// What a callback draws: a whole image (the [`KEEP_IMAGES`] last drawn are kept) or a tile of a
/// zoomed-in view (kept within [`KEEP_TILE_BYTES`], at most [`TILE_UPLOAD_PER_FRAME`] uploaded a frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Image,
    Tile,
}

/// Whole images kept on the GPU; the least recently drawn beyond this are dropped.
const KEEP_IMAGES: usize = 6;

/// Bytes of tiles kept on the GPU; the least recently drawn beyond this are dropped (never one drawn
/// in this frame or the one before: the view counted on those being there).
pub const KEEP_TILE_BYTES: usize = 32 << 20;

/// Bytes of tiles uploaded in one frame at most: the rest wait for the next frames (their coarser
/// stand-ins show meanwhile), so a pan costs no frame a long upload.
pub const TILE_UPLOAD_PER_FRAME: usize = 3 << 20;

/// Build the pipeline for the app's target format and store it in egui's callback resources.
pub fn install(render_state: &egui_wgpu::RenderState) {
    let backend = render_state.adapter.get_info().backend;
    let pipeline = ImagePipeline::new(&render_state.device, &render_state.queue, render_state.target_format, backend);
    pipeline.warm();
    let max_texture_dim = render_state.device.limits().max_texture_dimension_2d as usize;
    render_state.renderer.write().callback_resources.insert(GpuCache::new(pipeline, max_texture_dim));
}

/// Whether the target re-encodes to sRGB (the uniform's `srgb_target`).
pub fn target_is_srgb(render_state: &egui_wgpu::RenderState) -> bool {
    render_state.target_format.is_srgb()
}

/// Upload errors collected since the last call.
pub fn take_errors(render_state: &egui_wgpu::RenderState) -> Vec<String> {
    let mut renderer = render_state.renderer.write();
    renderer.callback_resources.get_mut::<GpuCache>().map(|c| std::mem::take(&mut c.errors)).unwrap_or_default()
}

/// The ids of the tiles on the GPU now.
pub fn resident_tiles(render_state: &egui_wgpu::RenderState) -> HashSet<u64> {
    let renderer = render_state.renderer.read();
    let Some(cache) = renderer.callback_resources.get::<GpuCache>() else { return HashSet::new() };
    cache.uploads.keys().filter(|(layer, _)| *layer == Layer::Tile).map(|(_, id)| *id).collect()
}

impl GpuCache {
    fn new(pipeline: ImagePipeline, max_texture_dim: usize) -> Self {
        Self {
            pipeline,
            uploads: HashMap::new(),
            tile_bytes: 0,
            upload_frame: 0,
            uploaded: 0,
            errors: Vec::new(),
            max_texture_dim,
        }
    }

    /// Whether `key` holds the upload of `display` (not of an earlier raster drawn under the key).
    fn holds(&self, key: (Layer, u64), display: &Arc<Raster>) -> bool {
        self.uploads.get(&key).is_some_and(|u| std::ptr::eq(u.source.as_ptr(), Arc::as_ptr(display)))
    }

    /// Keep `image` under `key`, then drop the least recently drawn beyond the layer's budget (never
    /// a tile drawn in this frame or the one before: the view counted on those being there).
    fn insert(&mut self, key: (Layer, u64), image: GpuImage, frame: u64, bytes: usize, source: Weak<Raster>) {
        if key.0 == Layer::Tile {
            self.tile_bytes += bytes;
        }
        if let Some(old) = self.uploads.insert(key, Upload { image, used: frame, bytes, source })
            && key.0 == Layer::Tile
        {
            self.tile_bytes -= old.bytes;
        }
        loop {
            let over = match key.0 {
                Layer::Image => self.uploads.keys().filter(|(l, _)| *l == Layer::Image).count() > KEEP_IMAGES,
                Layer::Tile => self.tile_bytes > KEEP_TILE_BYTES,
            };
            let spare = |u: &Upload| key.0 == Layer::Image || u.used + 1 < frame;
            let oldest = self
                .uploads
                .iter()
                .filter(|((l, id), u)| *l == key.0 && *id != key.1 && spare(u))
                .min_by_key(|(_, u)| u.used)
                .map(|(k, _)| *k);
            let (true, Some(drop)) = (over, oldest) else { return };
            if let Some(old) = self.uploads.remove(&drop)
                && drop.0 == Layer::Tile
            {
                self.tile_bytes -= old.bytes;
            }
        }
    }
}

/// Draw one image or tile this frame.
pub struct ImageCallback {
    /// Unique per opened image, or per tile (never reused), so the cache can key uploads on it.
    pub id: u64,
    pub layer: Layer,
    /// The app's frame number (`egui::Context::cumulative_frame_nr`).
    pub frame: u64,
    /// The raster as the GPU holds it (an overview when over the texture limit, a tile's texels; NaN
    /// for nodata).
    pub display: Arc<Raster>,
    pub uniform: ViewUniform,
}

impl CallbackTrait for ImageCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(cache) = resources.get_mut::<GpuCache>() else { return Vec::new() };
        let key = (self.layer, self.id);
        if cache.upload_frame != self.frame {
            cache.upload_frame = self.frame;
            cache.uploaded = 0;
        }
        if !cache.holds(key, &self.display) {
            if self.layer == Layer::Tile && cache.uploaded >= TILE_UPLOAD_PER_FRAME {
                // Next frame: what is below shows meanwhile.
                return Vec::new();
            }
            let bytes = self.display.memory_bytes();
            match cache.pipeline.upload(device, queue, &self.display, &self.id.to_string()) {
                Ok(image) => {
                    if self.layer == Layer::Tile {
                        cache.uploaded += bytes;
                    }
                    cache.insert(key, image, self.frame, bytes, Arc::downgrade(&self.display));
                }
                Err(e) => {
                    cache.errors.push(e.to_string());
                    return Vec::new();
                }
            }
        }
        if let Some(upload) = cache.uploads.get_mut(&key) {
            upload.used = self.frame;
            cache.pipeline.set_view(queue, &upload.image, &self.uniform);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        let Some(cache) = resources.get::<GpuCache>() else { return };
        if let Some(upload) = cache.uploads.get(&(self.layer, self.id)) {
            cache.pipeline.draw(pass, &upload.image);
        }
    }
}

/// Add the image or tile to `painter` for this frame, drawn within `rect`, clipped to the painter's
/// clip rect.
pub fn paint_image(painter: egui::Painter, rect: egui::Rect, callback: ImageCallback) {
    painter.add(egui_wgpu::Callback::new_paint_callback(rect, callback));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(cache: &GpuCache, layer: Layer) -> Vec<u64> {
        let mut ids: Vec<u64> = cache.uploads.keys().filter(|(l, _)| *l == layer).map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn uploads_beyond_the_budgets_go_least_recently_drawn_first_never_a_tile_just_drawn() {
        let gpu = match crate::render::Headless::new() {
            Ok(g) => g,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("SKIPPED: no GPU adapter ({e}); install mesa-vulkan-drivers to run GPU tests");
                return;
            }
            Err(e) => panic!("CI must have a GPU adapter (lavapipe): {e}"),
        };
        let (device, queue) = gpu.device_and_queue();
        let pipeline = ImagePipeline::new(device, queue, wgpu::TextureFormat::Rgba8Unorm, gpu.backend);
        let mut cache = GpuCache::new(pipeline, 4096);
        // Whole images: the six drawn last are kept.
        for id in 0..8u64 {
            let image = cache.pipeline.create(device, 4, 4, 1, "image").unwrap();
            cache.insert((Layer::Image, id), image, id + 1, 64, Weak::new());
        }
        assert_eq!(kept(&cache, Layer::Image), vec![2, 3, 4, 5, 6, 7]);
        // Tiles of 1 MiB: 33 drawn in frame 1, one more in frame 2: over the 32 MiB, but every tile
        // was drawn this frame or the last, so none goes.
        let tile = 1 << 20;
        for id in 0..33u64 {
            let image = cache.pipeline.create(device, 512, 512, 1, "tile").unwrap();
            cache.insert((Layer::Tile, id), image, 1, tile, Weak::new());
        }
        let image = cache.pipeline.create(device, 512, 512, 1, "tile").unwrap();
        cache.insert((Layer::Tile, 100), image, 2, tile, Weak::new());
        assert_eq!(kept(&cache, Layer::Tile).len(), 34);
        // In frame 3 the tiles of frame 1 may go, the least recently drawn first, down to the budget.
        cache.uploads.get_mut(&(Layer::Tile, 0)).unwrap().used = 2;
        let image = cache.pipeline.create(device, 512, 512, 1, "tile").unwrap();
        cache.insert((Layer::Tile, 101), image, 3, tile, Weak::new());
        assert_eq!(cache.tile_bytes, KEEP_TILE_BYTES);
        let tiles = kept(&cache, Layer::Tile);
        assert_eq!(tiles.len(), 32);
        for id in [0, 100, 101] {
            assert!(tiles.contains(&id), "tile {id}, drawn in frame 2 or 3, was dropped");
        }
        assert_eq!(tiles.iter().map(|_| tile).sum::<usize>(), cache.tile_bytes);
        assert_eq!(kept(&cache, Layer::Image).len(), 6, "tiles never push whole images out");
        // An image drawn under its key with another raster than the one uploaded (a first look
        // replaced by the overview) is not taken as held: it uploads anew.
        let first = Arc::new(Raster::new(2, 2, vec![vec![0.0; 4]], Default::default()));
        let overview = Arc::new(Raster::new(2, 2, vec![vec![5.0; 4]], Default::default()));
        let image = cache.pipeline.create(device, 2, 2, 1, "image").unwrap();
        cache.insert((Layer::Image, 50), image, 4, 16, Arc::downgrade(&first));
        assert!(cache.holds((Layer::Image, 50), &first));
        assert!(!cache.holds((Layer::Image, 50), &overview));
        assert!(!cache.holds((Layer::Image, 51), &first));
    }
}
