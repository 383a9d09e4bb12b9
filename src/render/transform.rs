//! Pan and zoom: the map between framebuffer pixels of the view and image pixel coordinates. The
//! shader applies the same formula (`origin + (frag - rect_min) * inv_zoom`, per axis), so the pixel
//! readout and the colour under the cursor always agree. Plain math; UI thread and CLI.

/// Image pixel coordinate at the view's top-left corner, framebuffer pixels per image column, and
/// how many times taller than wide an image pixel is drawn (1 for maps and photos; a spectrogram,
/// whose axes are time and frequency rather than ground, is stretched to fill the view).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ViewTransform {
    pub origin: [f32; 2],
    pub zoom: f32,
    #[serde(default = "square")]
    pub stretch: f32,
}

fn square() -> f32 {
    1.0
}

/// Limits of the vertical stretch: a 1 x 4096 strip still fills a view, nothing more extreme.
pub const MAX_STRETCH: f32 = 64.0;

/// Zoom limits: 1/64 (a 64x64 block per screen pixel) to 256 screen pixels per image pixel.
pub const MIN_ZOOM: f32 = 1.0 / 64.0;
pub const MAX_ZOOM: f32 = 256.0;

impl Default for ViewTransform {
    fn default() -> Self {
        Self { origin: [0.0, 0.0], zoom: 1.0, stretch: 1.0 }
    }
}

impl ViewTransform {
    /// Image coordinate under a framebuffer position given relative to the view's top-left corner.
    pub fn to_image(&self, rel: [f32; 2]) -> [f32; 2] {
        let [ix, iy] = self.inv_zoom();
        [self.origin[0] + rel[0] * ix, self.origin[1] + rel[1] * iy]
    }

    /// Framebuffer position (relative to the view's top-left) of an image coordinate.
    pub fn to_view(&self, img: [f32; 2]) -> [f32; 2] {
        [(img[0] - self.origin[0]) * self.zoom, (img[1] - self.origin[1]) * self.zoom_y()]
    }

    /// Framebuffer pixels per image row.
    pub fn zoom_y(&self) -> f32 {
        self.zoom * self.stretch
    }

    /// Image pixels per framebuffer pixel, across and down (what the shader steps by).
    pub fn inv_zoom(&self) -> [f32; 2] {
        [1.0 / self.zoom, 1.0 / self.zoom_y()]
    }

    /// The image pixel whose colour the fragment under `rel` shows. A fragment covers a whole
    /// framebuffer pixel and is shaded at its centre, so the cursor position is snapped first.
    pub fn pixel_under(&self, rel: [f32; 2]) -> [i64; 2] {
        let centre = [rel[0].floor() + 0.5, rel[1].floor() + 0.5];
        let img = self.to_image(centre);
        [img[0].floor() as i64, img[1].floor() as i64]
    }

    /// Scale the zoom by `factor`, keeping the image point under `rel` fixed.
    pub fn zoom_at(&mut self, rel: [f32; 2], factor: f32) {
        let anchor = self.to_image(rel);
        self.zoom = (self.zoom * factor).clamp(MIN_ZOOM, MAX_ZOOM);
        let [ix, iy] = self.inv_zoom();
        self.origin = [anchor[0] - rel[0] * ix, anchor[1] - rel[1] * iy];
    }

    /// Move the image by a framebuffer-pixel delta (dragging).
    pub fn pan(&mut self, delta: [f32; 2]) {
        let [ix, iy] = self.inv_zoom();
        self.origin[0] -= delta[0] * ix;
        self.origin[1] -= delta[1] * iy;
    }

    /// Whole image visible and centred in a view of `view` framebuffer pixels.
    pub fn fit(image: [usize; 2], view: [f32; 2]) -> Self {
        let (w, h) = (image[0].max(1) as f32, image[1].max(1) as f32);
        let zoom = (view[0] / w).min(view[1] / h).clamp(MIN_ZOOM, MAX_ZOOM);
        Self::centred(image, view, zoom)
    }

    /// Whole image filling a view of `view` framebuffer pixels, each axis scaled on its own (within
    /// [`MAX_STRETCH`]): for rasters whose axes are not ground distances, such as a spectrogram.
    pub fn fill(image: [usize; 2], view: [f32; 2]) -> Self {
        let (w, h) = (image[0].max(1) as f32, image[1].max(1) as f32);
        let zoom = (view[0] / w).clamp(MIN_ZOOM, MAX_ZOOM);
        let stretch = (view[1] / h / zoom).clamp(1.0 / MAX_STRETCH, MAX_STRETCH);
        let mut t = Self { stretch, ..Self::centred(image, view, zoom) };
        t.origin[1] = h / 2.0 - view[1] / 2.0 / t.zoom_y();
        t
    }

    /// Image centred at the given zoom (1.0 = one image pixel per framebuffer pixel).
    pub fn centred(image: [usize; 2], view: [f32; 2], zoom: f32) -> Self {
        let (w, h) = (image[0] as f32, image[1] as f32);
        let inv = 1.0 / zoom;
        Self { origin: [w / 2.0 - view[0] / 2.0 * inv, h / 2.0 - view[1] / 2.0 * inv], zoom, stretch: 1.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_keeps_the_point_under_the_cursor() {
        let mut t = ViewTransform { origin: [10.0, 20.0], zoom: 2.0, stretch: 1.0 };
        let before = t.to_image([100.0, 50.0]);
        t.zoom_at([100.0, 50.0], 1.7);
        let after = t.to_image([100.0, 50.0]);
        assert!((before[0] - after[0]).abs() < 1e-3 && (before[1] - after[1]).abs() < 1e-3);
        assert!((t.zoom - 3.4).abs() < 1e-6);
    }

    #[test]
    fn fit_shows_the_whole_image_centred() {
        let t = ViewTransform::fit([200, 100], [400.0, 400.0]);
        assert_eq!(t.zoom, 2.0);
        let top_left = t.to_view([0.0, 0.0]);
        let bottom_right = t.to_view([200.0, 100.0]);
        assert_eq!(top_left, [0.0, 100.0]);
        assert_eq!(bottom_right, [400.0, 300.0]);
    }

    #[test]
    fn fill_stretches_a_tall_strip_to_the_view_and_every_map_agrees_with_it() {
        // A dynamic spectrum: 121 time steps across, 512 channels down, in a 900 x 600 view.
        let mut t = ViewTransform::fill([121, 512], [900.0, 600.0]);
        assert_eq!(t.to_view([0.0, 0.0]), [0.0, 0.0]);
        let corner = t.to_view([121.0, 512.0]);
        assert!((corner[0] - 900.0).abs() < 1e-3 && (corner[1] - 600.0).abs() < 1e-3, "{corner:?}");
        t.zoom_at([300.0, 200.0], 1.5);
        let before = t.to_image([300.0, 200.0]);
        t.pan([10.0, 10.0]);
        t.pan([-10.0, -10.0]);
        let back = t.to_image([300.0, 200.0]);
        assert!((before[0] - back[0]).abs() < 1e-3 && (before[1] - back[1]).abs() < 1e-3);
        let p = t.pixel_under([450.0, 599.0]);
        let view = t.to_view([p[0] as f32 + 0.5, p[1] as f32 + 0.5]);
        assert!((view[1] - 599.5).abs() <= t.zoom_y() / 2.0 + 1e-3, "the named pixel spans the fragment");
        // A square image keeps square pixels under fill only when the view has its shape.
        assert_eq!(ViewTransform::fill([100, 100], [400.0, 400.0]).stretch, 1.0);
        // Extreme shapes stop at the stretch limit.
        assert_eq!(ViewTransform::fill([4096, 1], [400.0, 400.0]).stretch, MAX_STRETCH);
    }

    #[test]
    fn pixel_under_uses_the_fragment_centre() {
        let t = ViewTransform { origin: [0.0, 0.0], zoom: 4.0, stretch: 1.0 };
        assert_eq!(t.pixel_under([3.9, 0.0]), [0, 0]);
        assert_eq!(t.pixel_under([4.0, 7.99]), [1, 1]);
        let mut p = ViewTransform::default();
        p.pan([5.0, -3.0]);
        assert_eq!(p.origin, [-5.0, 3.0]);
    }
}
