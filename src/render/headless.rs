//! Offscreen rendering with the same pipeline as the app: `heatscope render` and the shader readback
//! tests. Owns its own wgpu device; runs on whichever thread calls it (never the UI thread).

use super::RenderError;
use super::image_pipeline::ImagePipeline;
use super::transform::ViewTransform;
use super::uniform::{DisplaySettings, ViewUniform};
use crate::types::Raster;

/// A device and pipeline that render into memory.
pub struct Headless {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: ImagePipeline,
    /// Adapter name and backend, e.g. "llvmpipe (Vulkan)".
    pub adapter: String,
}

/// Target format of offscreen renders: plain bytes, no sRGB re-encoding.
const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

impl Headless {
    /// Find any adapter (software ones included) and build the pipeline.
    ///
    /// # Errors
    /// When no GPU or software renderer is available.
    pub fn new() -> Result<Self, RenderError> {
        // Prefer Vulkan/Metal/DX12 (lavapipe on a headless Linux box); fall back to GL only if none.
        let adapter = [wgpu::Backends::PRIMARY, wgpu::Backends::all()]
            .into_iter()
            .find_map(|backends| {
                let mut desc = wgpu::InstanceDescriptor::new_without_display_handle().with_env();
                desc.backends = backends.with_env();
                let instance = wgpu::Instance::new(desc);
                pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    force_fallback_adapter: false,
                    compatible_surface: None,
                    apply_limit_buckets: false,
                }))
                .ok()
            })
            .ok_or_else(|| RenderError::NoAdapter("no Vulkan, Metal, DX12 or GL adapter found".into()))?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("heatscope headless device"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| RenderError::NoAdapter(e.to_string()))?;
        let pipeline = ImagePipeline::new(&device, &queue, FORMAT);
        Ok(Self { device, queue, pipeline, adapter: format!("{} ({:?})", info.name, info.backend) })
    }

    /// Largest texture side this device accepts.
    pub fn max_texture_dim(&self) -> usize {
        self.device.limits().max_texture_dimension_2d as usize
    }

    /// Render `raster` into a `width` x `height` RGBA8 image (row-major, 4 bytes a pixel) with the
    /// view transform `transform`. Pixels outside the image are transparent black.
    ///
    /// # Errors
    /// When the raster does not fit the device's texture limits or the readback fails.
    pub fn render(
        &self,
        raster: &Raster,
        settings: &DisplaySettings,
        transform: &ViewTransform,
        size: [u32; 2],
    ) -> Result<Vec<u8>, RenderError> {
        let [w, h] = size;
        self.check_output(w, h)?;
        // Sizes are checked above; anything wgpu still rejects comes back as an error, never a panic.
        let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = self.render_checked(raster, settings, transform, size);
        let invalid = pollster::block_on(validation.pop());
        let out_of_memory = pollster::block_on(memory.pop());
        match invalid.or(out_of_memory) {
            Some(e) => Err(RenderError::Gpu(e.to_string())),
            None => result,
        }
    }

    /// The output size against the device's limits: texture side and readback buffer size.
    pub fn check_output(&self, width: u32, height: u32) -> Result<(), RenderError> {
        let limits = self.device.limits();
        let max = limits.max_texture_dimension_2d;
        let too_large = |limit: String| Err(RenderError::OutputTooLarge { width, height, limit });
        if width == 0 || height == 0 {
            return too_large("a side of 0 pixels".into());
        }
        if width > max || height > max {
            return too_large(format!("{max} pixels a side"));
        }
        let padded =
            u64::from((4 * width).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        if padded * u64::from(height) > limits.max_buffer_size {
            return too_large(format!("a {} MiB readback buffer", limits.max_buffer_size >> 20));
        }
        Ok(())
    }

    fn render_checked(
        &self,
        raster: &Raster,
        settings: &DisplaySettings,
        transform: &ViewTransform,
        size: [u32; 2],
    ) -> Result<Vec<u8>, RenderError> {
        let masked = raster.masked_as_nan();
        let upload = masked.as_ref().unwrap_or(raster);
        let image = self.pipeline.upload(&self.device, &self.queue, upload, "headless")?;
        let uniform = ViewUniform::new(settings, transform, [0.0, 0.0], [raster.width, raster.height], 1, false);
        self.pipeline.set_view(&self.queue, &image, &uniform);
        let [w, h] = size;
        let target = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("heatscope headless target"),
            size: wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = target.create_view(&wgpu::TextureViewDescriptor::default());
        let row_bytes = 4 * w;
        let padded = row_bytes.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("heatscope headless readback"),
            size: u64::from(padded) * u64::from(h),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("heatscope headless encoder") });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("heatscope headless pass"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            self.pipeline.draw(&mut pass, &image);
        }
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &target,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &readback,
                layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(padded), rows_per_image: Some(h) },
            },
            wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
        );
        self.queue.submit([encoder.finish()]);
        let slice = readback.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            // The receiver waits below; if it is gone there is nobody left to tell.
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| RenderError::Readback(e.to_string()))?;
        rx.recv()
            .map_err(|e| RenderError::Readback(e.to_string()))?
            .map_err(|e| RenderError::Readback(e.to_string()))?;
        let data = slice.get_mapped_range().map_err(|e| RenderError::Readback(e.to_string()))?;
        let mut out = Vec::with_capacity((row_bytes * h) as usize);
        for row in data.chunks(padded as usize).take(h as usize) {
            out.extend_from_slice(&row[..row_bytes as usize]);
        }
        Ok(out)
    }
}
