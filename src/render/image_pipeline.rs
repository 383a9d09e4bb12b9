//! The image pipeline (shaders/image.wgsl): built once per device and target format, holding the
//! colormap LUT texture and one render pipeline per [`Variant`] (scale, mode, sampling), made when
//! first drawn; [`GpuImage`] is one uploaded raster (an `R32Float` array layer per band) with its own
//! uniform buffer. Used by the egui callback on the UI thread and by the headless renderer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use wgpu::util::DeviceExt;

use super::RenderError;
use super::colormap::{Colormap, lut_rows};
use super::uniform::ViewUniform;
use crate::types::Raster;

/// The WGSL source, compiled into the binary.
pub const IMAGE_WGSL: &str = include_str!("../../shaders/image.wgsl");

/// Pipelines, bind-group layout and LUT for one target format.
pub struct ImagePipeline {
    device: wgpu::Device,
    module: wgpu::ShaderModule,
    pipeline_layout: wgpu::PipelineLayout,
    target: wgpu::TextureFormat,
    /// By [`Variant::code`], made when first drawn.
    pipelines: Mutex<HashMap<u32, wgpu::RenderPipeline>>,
    layout: wgpu::BindGroupLayout,
    lut_view: wgpu::TextureView,
    /// True when the target format is sRGB (the shader then outputs linear colour).
    pub srgb_target: bool,
    /// Layers an image texture gets at least: 2 on GL, which makes a one-layer texture a plain 2-D
    /// one and reads it wrong through the shader's array view (a one-band image drew black).
    min_layers: u32,
}

/// What the shader is specialised for (its pipeline-overridable constants): the scale, single band
/// or RGB, nearest or bilinear. A software renderer runs every side of a branch, so one shader for
/// all of them cost 5x the fragment time (lavapipe, 1100 x 700: 32 ms a draw, 6.5 ms specialised).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Variant {
    pub scale: u32,
    pub mode: u32,
    pub bilinear: u32,
}

impl Variant {
    /// The variant a view's uniform asks for.
    pub fn of(view: &ViewUniform) -> Self {
        Self { scale: view.scale.min(4), mode: view.mode.min(1), bilinear: view.bilinear.min(1) }
    }

    fn code(self) -> u32 {
        self.scale | (self.mode << 8) | (self.bilinear << 16)
    }

    fn from_code(code: u32) -> Self {
        Self { scale: code & 0xff, mode: (code >> 8) & 0xff, bilinear: (code >> 16) & 0xff }
    }
}

/// One raster on the GPU.
pub struct GpuImage {
    texture: wgpu::Texture,
    uniform: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    /// Texture size in texels and layers.
    pub size: [u32; 3],
    /// The [`Variant::code`] of the view last set.
    variant: AtomicU32,
}

impl GpuImage {
    /// Write `values` (whole rows of one band, NaN for nodata) into `layer` from row `first_row`.
    pub fn write_rows(&self, queue: &wgpu::Queue, layer: u32, first_row: u32, values: &[f32]) {
        let w = self.size[0];
        let rows = u32::try_from(values.len() / w.max(1) as usize)
            .unwrap_or(u32::MAX)
            .min(self.size[1] - first_row.min(self.size[1]));
        if rows == 0 || layer >= self.size[2] {
            return;
        }
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &self.texture,
                mip_level: 0,
                origin: wgpu::Origin3d { x: 0, y: first_row, z: layer },
                aspect: wgpu::TextureAspect::All,
            },
            bytemuck::cast_slice(&values[..(rows * w) as usize]),
            wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(4 * w), rows_per_image: Some(rows) },
            wgpu::Extent3d { width: w, height: rows, depth_or_array_layers: 1 },
        );
    }
}

impl ImagePipeline {
    /// The pipeline for `target` on a device of `backend`.
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        target: wgpu::TextureFormat,
        backend: wgpu::Backend,
    ) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("heatscope image shader"),
            source: wgpu::ShaderSource::Wgsl(IMAGE_WGSL.into()),
        });
        let texture_entry = |binding, view_dimension| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                view_dimension,
                multisampled: false,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("heatscope image bind group layout"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<ViewUniform>() as u64),
                    },
                    count: None,
                },
                texture_entry(1, wgpu::TextureViewDimension::D2Array),
                texture_entry(2, wgpu::TextureViewDimension::D2),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("heatscope image pipeline layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let rows = Colormap::ALL.len() as u32;
        let lut = device.create_texture_with_data(
            queue,
            &wgpu::TextureDescriptor {
                label: Some("heatscope colormap LUT"),
                size: wgpu::Extent3d { width: 256, height: rows, depth_or_array_layers: 1 },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            &lut_rows(),
        );
        let lut_view = lut.create_view(&wgpu::TextureViewDescriptor {
            label: Some("heatscope colormap LUT view"),
            ..Default::default()
        });
        Self {
            device: device.clone(),
            module,
            pipeline_layout,
            target,
            pipelines: Mutex::new(HashMap::new()),
            layout,
            lut_view,
            srgb_target: target.is_srgb(),
            min_layers: if backend == wgpu::Backend::Gl { 2 } else { 1 },
        }
    }

    /// Make the pipelines of the default display (one band and RGB) now: compiling one costs a
    /// software renderer tens of milliseconds, better spent at start than in the frame that first
    /// draws an image.
    pub fn warm(&self) {
        let d = super::DisplaySettings::default();
        for mode in [0, 1] {
            self.pipeline(Variant { scale: d.scale.code(), mode, bilinear: u32::from(d.bilinear) });
        }
    }

    /// The render pipeline of `variant`, made on first use.
    fn pipeline(&self, variant: Variant) -> wgpu::RenderPipeline {
        // A poisoned lock only means another draw panicked; the map is still whole.
        let mut pipelines = self.pipelines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pipelines
            .entry(variant.code())
            .or_insert_with(|| {
                let constants = [
                    ("SCALE", f64::from(variant.scale)),
                    ("MODE", f64::from(variant.mode)),
                    ("BILINEAR", f64::from(variant.bilinear)),
                    ("SRGB_TARGET", f64::from(u32::from(self.srgb_target))),
                ];
                let options = wgpu::PipelineCompilationOptions { constants: &constants, ..Default::default() };
                self.device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                    label: Some("heatscope image pipeline"),
                    layout: Some(&self.pipeline_layout),
                    vertex: wgpu::VertexState {
                        module: &self.module,
                        entry_point: Some("vs_main"),
                        compilation_options: wgpu::PipelineCompilationOptions::default(),
                        buffers: &[],
                    },
                    primitive: wgpu::PrimitiveState::default(),
                    depth_stencil: None,
                    multisample: wgpu::MultisampleState::default(),
                    fragment: Some(wgpu::FragmentState {
                        module: &self.module,
                        entry_point: Some("fs_main"),
                        compilation_options: options,
                        targets: &[Some(wgpu::ColorTargetState {
                            format: self.target,
                            blend: Some(wgpu::BlendState::ALPHA_BLENDING),
                            write_mask: wgpu::ColorWrites::ALL,
                        })],
                    }),
                    multiview_mask: None,
                    cache: None,
                })
            })
            .clone()
    }

    /// Upload every band of `raster` (at most the device's layer limit) as an `R32Float` array texture.
    /// Nodata must already be NaN in the bands (see `Raster::masked_as_nan`).
    ///
    /// # Errors
    /// When the raster is larger than the device's texture limits (callers downsample first).
    pub fn upload(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        raster: &Raster,
        label: &str,
    ) -> Result<GpuImage, RenderError> {
        let image = self.create(device, raster.width, raster.height, raster.band_count(), label)?;
        for (layer, band) in raster.bands.iter().take(image.size[2] as usize).enumerate() {
            image.write_rows(queue, layer as u32, 0, band);
        }
        Ok(image)
    }

    /// An empty `R32Float` array texture for a `width` x `height` raster of `bands` bands (at most the
    /// device's layer limit), to fill with [`GpuImage::write_rows`].
    ///
    /// # Errors
    /// When the raster is larger than the device's texture limits (callers downsample first).
    pub fn create(
        &self,
        device: &wgpu::Device,
        width: usize,
        height: usize,
        bands: usize,
        label: &str,
    ) -> Result<GpuImage, RenderError> {
        let limits = device.limits();
        let max = limits.max_texture_dimension_2d;
        let too_large = || RenderError::TooLarge { width, height, max: max as usize };
        let (w, h) = (u32::try_from(width).map_err(|_| too_large())?, u32::try_from(height).map_err(|_| too_large())?);
        if w == 0 || h == 0 || w > max || h > max {
            return Err(too_large());
        }
        let layers = u32::try_from(bands).unwrap_or(u32::MAX).clamp(1, limits.max_texture_array_layers);
        // The layers past the bands (GL's second) stay unwritten and unread.
        let texture_layers = layers.max(self.min_layers);
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some(&format!("heatscope image {label}")),
            size: wgpu::Extent3d { width: w, height: h, depth_or_array_layers: texture_layers },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::R32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some(&format!("heatscope image view {label}")),
            dimension: Some(wgpu::TextureViewDimension::D2Array),
            ..Default::default()
        });
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("heatscope view uniform {label}")),
            size: std::mem::size_of::<ViewUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&format!("heatscope image bind group {label}")),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&view) },
                wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&self.lut_view) },
            ],
        });
        Ok(GpuImage { texture, uniform, bind_group, size: [w, h, layers], variant: AtomicU32::new(0) })
    }

    /// Write this frame's view parameters for `image` (and make the pipeline its variant needs).
    pub fn set_view(&self, queue: &wgpu::Queue, image: &GpuImage, view: &ViewUniform) {
        queue.write_buffer(&image.uniform, 0, bytemuck::bytes_of(view));
        let variant = Variant::of(view);
        self.pipeline(variant);
        image.variant.store(variant.code(), Ordering::Relaxed);
    }

    /// Record the draw into a pass whose viewport is the view rectangle.
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>, image: &GpuImage) {
        let variant = Variant::from_code(image.variant.load(Ordering::Relaxed));
        pass.set_pipeline(&self.pipeline(variant));
        pass.set_bind_group(0, &image.bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}
