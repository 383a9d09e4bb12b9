//! The only file that knows egui: an `egui_wgpu::CallbackTrait` that draws an image with the shared
//! [`ImagePipeline`]. The pipeline and the uploaded images live in egui's `callback_resources`; the
//! per-frame callback carries only values and an `Arc` of the raster. Runs on the UI thread.

use std::collections::HashMap;
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
    /// Errors from uploads, drained by the app into its message area.
    pub errors: Vec<String>,
    pub max_texture_dim: usize,
}

/// Images kept on the GPU; the least recently drawn beyond this are dropped.
const KEEP_IMAGES: usize = 6;

/// Build the pipeline for the app's target format and store it in egui's callback resources.
pub fn install(render_state: &egui_wgpu::RenderState) {
    let pipeline = ImagePipeline::new(&render_state.device, &render_state.queue, render_state.target_format);
    let max_texture_dim = render_state.device.limits().max_texture_dimension_2d as usize;
    render_state.renderer.write().callback_resources.insert(GpuCache {
        pipeline,
        images: HashMap::new(),
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

/// Add the image to `painter` for this frame, clipped to `rect`.
pub fn paint_image(painter: egui::Painter, rect: egui::Rect, callback: ImageCallback) {
    painter.add(egui_wgpu::Callback::new_paint_callback(rect, callback));
}
