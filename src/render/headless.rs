//! Offscreen rendering with the same pipeline as the app: `heatscope render` and the shader readback
//! tests. Owns its own wgpu device; runs on whichever thread calls it (never the UI thread). Memory
//! stays near one copy of the image: a raster is uploaded a few MiB of rows at a time (nodata turned
//! into NaN on the way, not in a copy of the raster), and outputs are rendered in bands of rows that
//! go straight into a PNG stream ([`Headless::render_png`]).

use std::ops::Range;

use super::RenderError;
use super::image_pipeline::{GpuImage, ImagePipeline};
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
    pub backend: wgpu::Backend,
    /// About how many bytes of a raster go to the GPU at once, and of an output come back at once.
    upload_bytes: usize,
    tile_bytes: u64,
}

/// Target format of offscreen renders: plain bytes, no sRGB re-encoding.
const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// Rows of a raster written to the GPU at once: about this many bytes.
const UPLOAD_BYTES: usize = 16 << 20;
/// Rows of an output rendered and read back at once: about this many bytes.
const TILE_BYTES: u64 = 32 << 20;

impl Headless {
    /// Find any adapter (software ones included) and build the pipeline.
    ///
    /// # Errors
    /// When no GPU or software renderer is available.
    pub fn new() -> Result<Self, RenderError> {
        // Prefer Vulkan/Metal/DX12 (lavapipe on a headless Linux box); fall back to GL only if none.
        Self::on(&[wgpu::Backends::PRIMARY, wgpu::Backends::all()])
    }

    /// The first adapter found on `backends`, tried in order (each narrowed by `WGPU_BACKEND`).
    ///
    /// # Errors
    /// When none of them has an adapter.
    pub fn on(backends: &[wgpu::Backends]) -> Result<Self, RenderError> {
        let adapter = backends
            .iter()
            .copied()
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
            .ok_or_else(|| RenderError::NoAdapter(format!("no adapter found on {backends:?}")))?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("heatscope headless device"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| RenderError::NoAdapter(e.to_string()))?;
        let pipeline = ImagePipeline::new(&device, &queue, FORMAT, info.backend);
        let adapter = format!("{} ({:?})", info.name, info.backend);
        let backend = info.backend;
        Ok(Self { device, queue, pipeline, adapter, backend, upload_bytes: UPLOAD_BYTES, tile_bytes: TILE_BYTES })
    }

    /// Move rasters to the GPU about `upload_bytes` at a time and read outputs back about
    /// `tile_bytes` at a time (the results are the same; tests use small pieces to cross boundaries).
    #[must_use]
    pub fn with_pieces(mut self, upload_bytes: usize, tile_bytes: u64) -> Self {
        (self.upload_bytes, self.tile_bytes) = (upload_bytes.max(1), tile_bytes.max(1));
        self
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
        let image = self.upload(raster)?;
        self.render_rows(&image, settings, transform, size[0], 0..size[1])
    }

    /// The device and its queue (tests of GPU state kept elsewhere use them).
    #[cfg(test)]
    pub(crate) fn device_and_queue(&self) -> (&wgpu::Device, &wgpu::Queue) {
        (&self.device, &self.queue)
    }

    /// Put `raster` on the GPU, its nodata as NaN, without copying it whole.
    ///
    /// # Errors
    /// When it does not fit the device's texture limits.
    pub fn upload(&self, raster: &Raster) -> Result<GpuImage, RenderError> {
        let image = self.pipeline.create(&self.device, raster.width, raster.height, raster.band_count(), "headless")?;
        let w = raster.width;
        let rows_per_write = (self.upload_bytes / (4 * w.max(1))).max(1);
        let mut chunk = Vec::with_capacity(rows_per_write * w);
        let mut since_flush = 0;
        for (layer, band) in raster.bands.iter().take(image.size[2] as usize).enumerate() {
            for (k, rows) in band.chunks(rows_per_write * w).enumerate() {
                chunk.clear();
                chunk.extend_from_slice(rows);
                if let Some(mask) = &raster.valid {
                    let at = k * rows_per_write * w;
                    for (v, ok) in chunk.iter_mut().zip(&mask[at..at + rows.len()]) {
                        if !ok {
                            *v = f32::NAN;
                        }
                    }
                }
                #[allow(clippy::cast_possible_truncation)] // rows fit the texture, so u32
                image.write_rows(&self.queue, layer as u32, (k * rows_per_write) as u32, &chunk);
                since_flush += chunk.len() * 4;
                // Let the queue copy and free its staging memory now and then.
                if since_flush >= 4 * self.upload_bytes {
                    self.flush()?;
                    since_flush = 0;
                }
            }
        }
        self.flush()?;
        Ok(image)
    }

    /// Submit what is queued and wait for the device to finish it.
    fn flush(&self) -> Result<(), RenderError> {
        self.queue.submit([]);
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(drop)
            .map_err(|e| RenderError::Readback(e.to_string()))
    }

    /// Render `image` at `width` x `height` into a PNG written to `out`, a band of rows at a time.
    ///
    /// # Errors
    /// When the output is larger than the device allows, or rendering or writing fails.
    pub fn render_png(
        &self,
        image: &GpuImage,
        settings: &DisplaySettings,
        transform: &ViewTransform,
        [width, height]: [u32; 2],
        out: impl std::io::Write + 'static,
    ) -> Result<(), RenderError> {
        self.check_output(width, height)?;
        let png_err = |e: png::EncodingError| RenderError::Write(e.to_string());
        let mut encoder = png::Encoder::new(out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut stream = encoder.write_header().map_err(png_err)?.into_stream_writer().map_err(png_err)?;
        let band = u32::try_from(self.tile_bytes / (4 * u64::from(width))).unwrap_or(u32::MAX).clamp(1, height);
        let mut y = 0;
        while y < height {
            let rows = y..(y + band).min(height);
            let pixels = self.render_rows(image, settings, transform, width, rows.clone())?;
            std::io::Write::write_all(&mut stream, &pixels).map_err(|e| RenderError::Write(e.to_string()))?;
            y = rows.end;
        }
        stream.finish().map_err(png_err)
    }

    /// Rows `rows` of a `width`-wide render of `image` (RGBA8, row-major): the view transform is that
    /// of the whole output, moved down to the first row.
    ///
    /// # Errors
    /// When the output is larger than the device allows or the readback fails.
    pub fn render_rows(
        &self,
        image: &GpuImage,
        settings: &DisplaySettings,
        transform: &ViewTransform,
        width: u32,
        rows: Range<u32>,
    ) -> Result<Vec<u8>, RenderError> {
        let height = rows.end.saturating_sub(rows.start);
        self.check_output(width, height)?;
        // Sizes are checked above; anything wgpu still rejects comes back as an error, never a panic.
        let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        #[allow(clippy::cast_precision_loss)]
        let shifted = ViewTransform {
            origin: [transform.origin[0], transform.origin[1] + rows.start as f32 * transform.inv_zoom()[1]],
            ..*transform
        };
        let [iw, ih, _] = image.size;
        let uniform = ViewUniform::new(settings, &shifted, [0.0, 0.0], [iw as usize, ih as usize], 1, false);
        let result = self.draw_and_read(image, &uniform, [width, height]);
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

    /// Render a window of an `image_size` image (what the viewer draws zoomed in): `window` holds
    /// one texel per `factor` pixels from image pixel `origin` and covers `covers` pixels; fragments
    /// outside it are transparent black.
    ///
    /// # Errors
    /// As [`Headless::render`].
    #[allow(clippy::too_many_arguments)]
    pub fn render_window(
        &self,
        window: &Raster,
        image_size: [usize; 2],
        (origin, covers, factor): ([usize; 2], [usize; 2], usize),
        settings: &DisplaySettings,
        transform: &ViewTransform,
        size: [u32; 2],
    ) -> Result<Vec<u8>, RenderError> {
        self.check_output(size[0], size[1])?;
        let image = self.upload(window)?;
        let uniform =
            ViewUniform::new(settings, transform, [0.0, 0.0], image_size, 1, false).windowed(origin, covers, factor);
        self.draw_and_read(&image, &uniform, size)
    }

    /// Render tiles of a `image_size` image the way the viewer draws them, one over another in the
    /// order given: each is a texture (`raster`), its texel (0, 0) at image pixel `texel_origin`,
    /// drawing `covers` image pixels from `origin`, one texel per `factor` pixels. Fragments no tile
    /// covers stay transparent black.
    ///
    /// # Errors
    /// When a tile or the output is larger than the device allows, or the readback fails.
    pub fn render_tiles(
        &self,
        tiles: &[HeadlessTile<'_>],
        image_size: [usize; 2],
        settings: &DisplaySettings,
        transform: &ViewTransform,
        size: [u32; 2],
    ) -> Result<Vec<u8>, RenderError> {
        self.check_output(size[0], size[1])?;
        let mut drawn = Vec::with_capacity(tiles.len());
        for t in tiles {
            let image = self.upload(t.raster)?;
            let uniform = ViewUniform::new(settings, transform, [0.0, 0.0], image_size, 1, false).tiled(
                t.origin,
                t.covers,
                t.texel_origin,
                t.factor,
            );
            drawn.push((image, uniform));
        }
        let list: Vec<(&GpuImage, &ViewUniform)> = drawn.iter().map(|(i, u)| (i, u)).collect();
        self.draw_all_and_read(&list, size)
    }

    fn draw_and_read(&self, image: &GpuImage, uniform: &ViewUniform, size: [u32; 2]) -> Result<Vec<u8>, RenderError> {
        self.draw_all_and_read(&[(image, uniform)], size)
    }

    /// Draw each image with its uniform, in order, into one cleared target and read it back.
    fn draw_all_and_read(&self, images: &[(&GpuImage, &ViewUniform)], size: [u32; 2]) -> Result<Vec<u8>, RenderError> {
        for (image, uniform) in images {
            self.pipeline.set_view(&self.queue, image, uniform);
        }
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
            for (image, _) in images {
                self.pipeline.draw(&mut pass, image);
            }
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

/// One tile for [`Headless::render_tiles`].
pub struct HeadlessTile<'a> {
    pub raster: &'a Raster,
    pub texel_origin: [usize; 2],
    pub origin: [usize; 2],
    pub covers: [usize; 2],
    pub factor: usize,
}
