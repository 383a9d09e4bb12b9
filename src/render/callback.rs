//! The only file that knows egui: an `egui_wgpu::CallbackTrait` that draws an image with the shared
//! [`ImagePipeline`]. The pipeline and the uploaded images live in egui's `callback_resources`; the
//! per-frame callback carries only values and an `Arc` of the raster. Runs on the UI thread.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use egui_wgpu::{CallbackResources, CallbackTrait, ScreenDescriptor};

use super::image_pipeline::{GpuImage, ImagePipeline};
use super::uniform::ViewUniform;
use crate::types::Raster;

/// GPU state kept across frames: the pipeline and the uploaded images by image id.
pub struct GpuCache {
    pipeline: ImagePipeline,
    /// By image id: the upload, the frame it was last drawn in and the version it holds.
    images: HashMap<u64, (GpuImage, u64, u64)>,
    frame: u64,
    /// Tiles of zoomed-in views by tile id: the upload, the frame it was last drawn in, its bytes.
    tiles: HashMap<u64, (GpuImage, u64, usize)>,
    tile_bytes: usize,
    /// The app frame the tile uploads were last counted for, and the bytes uploaded in it.
    upload_frame: u64,
    uploaded: usize,
    /// Errors from uploads, drained by the app into its message area.
    pub errors: Vec<String>,
    pub max_texture_dim: usize,
}

/// Images kept on the GPU; the least recently drawn beyond this are dropped.
const KEEP_IMAGES: usize = 6;

/// Bytes of tiles kept on the GPU; the least recently drawn beyond this are dropped (never one drawn
/// in this frame or the one before: the view counted on those being there).
pub const KEEP_TILE_BYTES: usize = 32 << 20;

/// Bytes of tiles uploaded in one frame at most: the rest wait for the next frames (their coarser
/// stand-ins show meanwhile), so a pan costs no frame a long upload.
pub const TILE_UPLOAD_PER_FRAME: usize = 3 << 20;

/// Build the pipeline for the app's target format and store it in egui's callback resources.
pub fn install(render_state: &egui_wgpu::RenderState) {
    let pipeline = ImagePipeline::new(&render_state.device, &render_state.queue, render_state.target_format);
    let max_texture_dim = render_state.device.limits().max_texture_dimension_2d as usize;
    render_state.renderer.write().callback_resources.insert(GpuCache {
        pipeline,
        images: HashMap::new(),
        tiles: HashMap::new(),
        tile_bytes: 0,
        upload_frame: 0,
        uploaded: 0,
        frame: 0,
        errors: Vec::new(),
        max_texture_dim,
    });
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
    renderer.callback_resources.get::<GpuCache>().map(|c| c.tiles.keys().copied().collect()).unwrap_or_default()
}

/// Draw one image this frame.
pub struct ImageCallback {
    /// Unique per opened image (never reused), so the cache can key uploads on it.
    pub image_id: u64,
    /// What `display` holds under this id: a new version replaces the upload (a zoomed-in window
    /// that moved); 0 for images that never change.
    pub version: u64,
    /// The raster as the GPU holds it (downsampled when over the texture limit, NaN for nodata).
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
        cache.frame += 1;
        let frame = cache.frame;
        if cache.images.get(&self.image_id).is_none_or(|(_, _, v)| *v != self.version) {
            cache.images.remove(&self.image_id);
            match cache.pipeline.upload(device, queue, &self.display, &self.image_id.to_string()) {
                Ok(image) => {
                    cache.images.insert(self.image_id, (image, frame, self.version));
                }
                Err(e) => {
                    cache.errors.push(e.to_string());
                    return Vec::new();
                }
            }
            while cache.images.len() > KEEP_IMAGES {
                let oldest = cache.images.iter().min_by_key(|(_, (_, used, _))| *used).map(|(id, _)| *id);
                if let Some(id) = oldest {
                    cache.images.remove(&id);
                }
            }
        }
        if let Some((image, used, _)) = cache.images.get_mut(&self.image_id) {
            *used = frame;
            cache.pipeline.set_view(queue, image, &self.uniform);
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
        if let Some((image, _, _)) = cache.images.get(&self.image_id) {
            cache.pipeline.draw(pass, image);
        }
    }
}

/// Draw one tile of a zoomed-in view this frame (see `app::detail`).
pub struct TileCallback {
    /// Unique per tile (never reused).
    pub tile_id: u64,
    /// The app's frame number: uploads are budgeted per frame.
    pub frame: u64,
    /// The tile's texels (NaN for nodata).
    pub display: Arc<Raster>,
    pub uniform: ViewUniform,
}

impl CallbackTrait for TileCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(cache) = resources.get_mut::<GpuCache>() else { return Vec::new() };
        if cache.upload_frame != self.frame {
            cache.upload_frame = self.frame;
            cache.uploaded = 0;
        }
        if !cache.tiles.contains_key(&self.tile_id) {
            if cache.uploaded >= TILE_UPLOAD_PER_FRAME {
                // Next frame: what is below shows meanwhile.
                return Vec::new();
            }
            let bytes = self.display.width * self.display.height * self.display.band_count() * 4;
            match cache.pipeline.upload(device, queue, &self.display, "tile") {
                Ok(image) => {
                    cache.uploaded += bytes;
                    cache.tile_bytes += bytes;
                    cache.tiles.insert(self.tile_id, (image, self.frame, bytes));
                }
                Err(e) => {
                    cache.errors.push(e.to_string());
                    return Vec::new();
                }
            }
            while cache.tile_bytes > KEEP_TILE_BYTES {
                let oldest = cache
                    .tiles
                    .iter()
                    .filter(|(_, (_, used, _))| *used + 1 < self.frame)
                    .min_by_key(|(_, (_, used, _))| *used)
                    .map(|(id, _)| *id);
                let Some(id) = oldest else { break };
                if let Some((_, _, bytes)) = cache.tiles.remove(&id) {
                    cache.tile_bytes -= bytes;
                }
            }
        }
        if let Some((image, used, _)) = cache.tiles.get_mut(&self.tile_id) {
            *used = self.frame;
            cache.pipeline.set_view(queue, image, &self.uniform);
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
        if let Some((image, _, _)) = cache.tiles.get(&self.tile_id) {
            cache.pipeline.draw(pass, image);
        }
    }
}

/// Add the image to `painter` for this frame, clipped to `rect`.
pub fn paint_image(painter: egui::Painter, rect: egui::Rect, callback: ImageCallback) {
    painter.add(egui_wgpu::Callback::new_paint_callback(rect, callback));
}

/// Add a tile to `painter` for this frame, drawn within `rect` (the tile's part of the view).
pub fn paint_tile(painter: egui::Painter, rect: egui::Rect, callback: TileCallback) {
    painter.add(egui_wgpu::Callback::new_paint_callback(rect, callback));
}
