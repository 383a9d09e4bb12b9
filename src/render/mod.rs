//! GPU rendering of rasters with wgpu: one pipeline (shaders/image.wgsl), its uniform, the CPU
//! reference of its colour mapping, pan/zoom math, an offscreen renderer for the CLI and tests, and
//! the egui callback (the only file here that knows egui).

pub mod callback;
pub mod colormap;
mod headless;
mod image_pipeline;
pub mod transform;
pub mod uniform;

pub use colormap::{Colormap, Scale};
pub use headless::{Headless, HeadlessTile};
pub use image_pipeline::{GpuImage, IMAGE_WGSL, ImagePipeline};
pub use transform::ViewTransform;
pub use uniform::{DisplaySettings, ViewUniform};

/// Rendering failures a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no GPU or software renderer is available ({0}); install mesa-vulkan-drivers or run on a machine with a GPU"
    )]
    NoAdapter(String),
    #[error("image of {width} x {height} exceeds the GPU texture limit of {max} pixels a side")]
    TooLarge { width: usize, height: usize, max: usize },
    #[error("reading the rendered image back failed: {0}")]
    Readback(String),
    #[error("an output of {width} x {height} pixels exceeds what this GPU renders at once ({limit})")]
    OutputTooLarge { width: u32, height: u32, limit: String },
    #[error("the GPU refused the work: {0}")]
    Gpu(String),
    #[error("writing the rendered image failed: {0}")]
    Write(String),
}
