//! The view uniform the image shader reads, and the display settings it is built from. Plain data,
//! built on the UI thread (or the CLI) every frame.

use super::colormap::{Colormap, Scale};
use super::transform::ViewTransform;

/// How an image is displayed: everything the user changes without re-uploading the texture.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DisplaySettings {
    pub colormap: Colormap,
    pub scale: Scale,
    /// Band shown in single-band mode (0-based).
    pub band: usize,
    /// When true (and the image has 3+ bands) bands `rgb` are shown as red, green, blue.
    pub rgb_mode: bool,
    pub rgb: [usize; 3],
    /// Range per channel on the scale's axis (dB for [`Scale::Db`]); index 0 is the single band.
    pub lo: [f32; 3],
    pub hi: [f32; 3],
    pub bilinear: bool,
    /// Nodata colour, sRGB bytes with alpha.
    pub nan_color: [u8; 4],
}

impl Default for DisplaySettings {
    fn default() -> Self {
        Self {
            colormap: Colormap::Viridis,
            scale: Scale::Linear,
            band: 0,
            rgb_mode: false,
            rgb: [0, 1, 2],
            lo: [0.0; 3],
            hi: [1.0; 3],
            bilinear: false,
            // A muted slate: apart from every colormap's hues without shouting (was magenta).
            nan_color: [60, 64, 82, 255],
        }
    }
}

/// Keep in sync with `View` in shaders/image.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ViewUniform {
    pub rect_min: [f32; 2],
    pub origin: [f32; 2],
    pub inv_zoom: f32,
    pub scale: u32,
    pub colormap: u32,
    pub mode: u32,
    pub bands: [u32; 4],
    pub lo: [f32; 4],
    pub hi: [f32; 4],
    pub nan_color: [f32; 4],
    pub image_size: [f32; 2],
    pub texel_scale: f32,
    pub bilinear: u32,
    pub srgb_target: u32,
    /// Image rows per framebuffer pixel (`inv_zoom` is columns per pixel).
    pub inv_zoom_y: f32,
    /// The part of the image drawn, from `window_origin`, `window_size` image pixels: the whole image,
    /// or a tile drawn over the overview (fragments outside it are discarded).
    pub window_origin: [f32; 2],
    pub window_size: [f32; 2],
    /// Image pixel of texel (0, 0): `window_origin`, or a block before it when the texture holds an
    /// apron of the neighbours' texels (bilinear sampling then blends across a tile's edge).
    pub texel_origin: [f32; 2],
}

const _: () = assert!(std::mem::size_of::<ViewUniform>() == 144, "ViewUniform must match the WGSL layout");

impl ViewUniform {
    /// Uniform for drawing an image of `image_size` (full resolution) whose texture holds one texel
    /// per `texel_scale` image pixels, in a view whose top-left framebuffer pixel is `rect_min`.
    pub fn new(
        settings: &DisplaySettings,
        transform: &ViewTransform,
        rect_min: [f32; 2],
        image_size: [usize; 2],
        texel_scale: usize,
        srgb_target: bool,
    ) -> Self {
        let rgb = settings.rgb_mode;
        let bands = if rgb {
            [settings.rgb[0] as u32, settings.rgb[1] as u32, settings.rgb[2] as u32, 0]
        } else {
            [settings.band as u32, 0, 0, 0]
        };
        let [lo0, lo1, lo2] = settings.lo;
        let [hi0, hi1, hi2] = settings.hi;
        Self {
            rect_min,
            origin: transform.origin,
            inv_zoom: transform.inv_zoom()[0],
            scale: settings.scale.code(),
            colormap: settings.colormap.row(),
            mode: u32::from(rgb),
            bands,
            lo: [lo0, lo1, lo2, 0.0],
            hi: [hi0, hi1, hi2, 1.0],
            nan_color: settings.nan_color.map(|c| f32::from(c) / 255.0),
            image_size: [image_size[0] as f32, image_size[1] as f32],
            texel_scale: texel_scale.max(1) as f32,
            bilinear: u32::from(settings.bilinear),
            srgb_target: u32::from(srgb_target),
            inv_zoom_y: transform.inv_zoom()[1],
            window_origin: [0.0, 0.0],
            window_size: [image_size[0] as f32, image_size[1] as f32],
            texel_origin: [0.0, 0.0],
        }
    }

    /// The same view drawing a window of the image: its texture starts at image pixel `origin`,
    /// covers `size` image pixels and holds one texel per `texel_scale` pixels.
    #[must_use]
    pub fn windowed(self, origin: [usize; 2], size: [usize; 2], texel_scale: usize) -> Self {
        self.tiled(origin, size, origin, texel_scale)
    }

    /// The same view drawing `size` image pixels from `origin` out of a texture whose texel (0, 0)
    /// starts at image pixel `texel_origin` (at or before `origin`: an apron), one texel per
    /// `texel_scale` pixels.
    #[must_use]
    pub fn tiled(mut self, origin: [usize; 2], size: [usize; 2], texel_origin: [usize; 2], texel_scale: usize) -> Self {
        #[allow(clippy::cast_precision_loss)]
        {
            self.window_origin = [origin[0] as f32, origin[1] as f32];
            self.window_size = [size[0] as f32, size[1] as f32];
            self.texel_origin = [texel_origin[0] as f32, texel_origin[1] as f32];
            self.texel_scale = texel_scale.max(1) as f32;
        }
        self
    }
}

/// Range limits on the scale's axis for a range rule: the rule's limits, converted to dB under
/// [`Scale::Db`] (a non-positive lower limit is replaced by the smallest positive value).
pub fn axis_range(stats: &crate::stats::BandStats, mode: crate::stats::RangeMode, scale: Scale) -> [f32; 2] {
    if let crate::stats::RangeMode::Manual(lo, hi) = mode {
        return [lo, hi];
    }
    let (lo, hi) = stats.range(mode);
    if scale != Scale::Db {
        return [lo, hi];
    }
    let floor = stats.min_positive.unwrap_or(1e-30);
    let db = |v: f32| scale.axis_value(v.max(floor)).unwrap_or(-300.0);
    let (a, b) = (db(lo), db(hi));
    if b > a { [a, b] } else { [a, a + 1.0] }
}
