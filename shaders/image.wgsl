// Draws a raw f32 image (one array layer per band) with range, scale and colormap applied per fragment.
// Changing any of them only rewrites the uniform (and picks another pipeline for the scale, mode and
// sampling); the image texture is uploaded once.
// The CPU reference of this arithmetic is src/render/colormap.rs (`stretch`, `lut_index`).

// Keep in sync with src/render/uniform.rs (ViewUniform).
struct View {
    rect_min: vec2<f32>,     // framebuffer pixel of the view's top-left corner
    origin: vec2<f32>,       // image pixel coordinate at rect_min
    inv_zoom: f32,           // image columns per framebuffer pixel
    scale: u32,              // SCALE's value (the pipeline is chosen by it)
    colormap: u32,           // row of the LUT texture
    mode: u32,               // MODE's value
    bands: vec4<u32>,
    lo: vec4<f32>,           // range low per channel (dB under scale 4)
    hi: vec4<f32>,
    nan_color: vec4<f32>,    // sRGB colour for nodata, 0..1
    image_size: vec2<f32>,   // full-resolution width, height
    texel_scale: f32,        // image pixels per texel (>1 when shown downsampled)
    bilinear: u32,           // BILINEAR's value
    srgb_target: u32,        // SRGB_TARGET's value
    inv_zoom_y: f32,         // image rows per framebuffer pixel (a stretched spectrogram differs)
    window_origin: vec2<f32>,// image pixel where the part drawn starts: 0 for the whole image, else a tile
    window_size: vec2<f32>,  // image pixels drawn; fragments outside are left to what is below
    texel_origin: vec2<f32>, // image pixel of texel (0, 0): a tile's texture holds a one-texel apron
};

// Fixed per pipeline (src/render/image_pipeline.rs, `Variant`), not read from the uniform: a software
// renderer (lavapipe) runs every side of a branch for every fragment, so a shader serving all scales,
// modes and samplings cost 5x the fragment time of the one specialised for what is shown.
override SCALE: u32 = 0u;       // 0 linear, 1 log, 2 sqrt, 3 asinh, 4 dB
override MODE: u32 = 0u;        // 0 single band (layer bands.x), 1 RGB composite (bands.xyz)
override BILINEAR: u32 = 0u;
override SRGB_TARGET: u32 = 0u; // 1 when the target re-encodes to sRGB: output linear then

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var bands: texture_2d_array<f32>;
@group(0) @binding(2) var lut: texture_2d<f32>;

const LOG10_2: f32 = 0.301029996;

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    // One triangle covering the viewport.
    let x = f32(i32(i & 1u) * 4 - 1);
    let y = f32(i32(i >> 1u) * 4 - 1);
    return vec4<f32>(x, y, 0.0, 1.0);
}

fn is_nodata(v: f32) -> bool {
    // NaN and +-Inf: exponent bits all set. A bit test survives fast-math compilers.
    return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

fn texel(layer: u32, p: vec2<i32>) -> f32 {
    let dims = vec2<i32>(textureDimensions(bands));
    let q = clamp(p, vec2<i32>(0), dims - vec2<i32>(1));
    return textureLoad(bands, q, i32(layer), 0).r;
}

// Value of a band at an image coordinate; NaN means nodata.
fn sample_band(layer: u32, img: vec2<f32>) -> f32 {
    let t = (img - view.texel_origin) / view.texel_scale;
    if (BILINEAR == 0u) {
        return texel(layer, vec2<i32>(floor(t)));
    }
    let c = t - vec2<f32>(0.5);
    let base = vec2<i32>(floor(c));
    let f = c - floor(c);
    var sum = 0.0;
    var wsum = 0.0;
    for (var k = 0; k < 4; k++) {
        let o = vec2<i32>(k & 1, k >> 1u);
        let v = texel(layer, base + o);
        let w = select(1.0 - f.x, f.x, o.x == 1) * select(1.0 - f.y, f.y, o.y == 1);
        if (!is_nodata(v) && w > 0.0) {
            sum += v * w;
            wsum += w;
        }
    }
    if (wsum <= 0.0) {
        return texel(layer, vec2<i32>(floor(t)));
    }
    return sum / wsum;
}

// Keep in sync with colormap::stretch.
fn stretch(v: f32, lo: f32, hi: f32) -> f32 {
    var x = v;
    if (SCALE == 4u) {
        if (v <= 0.0) {
            return 0.0;
        }
        x = 10.0 * (log2(v) * LOG10_2);
    }
    let t = clamp((x - lo) / (hi - lo), 0.0, 1.0);
    switch SCALE {
        case 1u: { return log2(1.0 + 1000.0 * t) / log2(1001.0); }
        case 2u: { return sqrt(t); }
        case 3u: { return asinh(10.0 * t) / asinh(10.0); }
        default: { return t; }
    }
}

fn lut_index(t: f32) -> i32 {
    return i32(clamp(t, 0.0, 1.0) * 255.0 + 0.5);
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

fn finish(c: vec4<f32>) -> vec4<f32> {
    if (SRGB_TARGET == 1u) {
        return vec4<f32>(srgb_to_linear(c.rgb), c.a);
    }
    return c;
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let img = view.origin + (pos.xy - view.rect_min) * vec2<f32>(view.inv_zoom, view.inv_zoom_y);
    if (img.x < 0.0 || img.y < 0.0 || img.x >= view.image_size.x || img.y >= view.image_size.y) {
        discard;
    }
    let w = img - view.window_origin;
    if (w.x < 0.0 || w.y < 0.0 || w.x >= view.window_size.x || w.y >= view.window_size.y) {
        discard;
    }
    if (MODE == 0u) {
        let v = sample_band(view.bands.x, img);
        if (is_nodata(v)) {
            return finish(view.nan_color);
        }
        let i = lut_index(stretch(v, view.lo.x, view.hi.x));
        return finish(textureLoad(lut, vec2<i32>(i, i32(view.colormap)), 0));
    }
    var rgb = vec3<f32>(0.0);
    for (var c = 0u; c < 3u; c++) {
        let v = sample_band(view.bands[c], img);
        if (is_nodata(v)) {
            return finish(view.nan_color);
        }
        rgb[c] = f32(lut_index(stretch(v, view.lo[c], view.hi[c]))) / 255.0;
    }
    return finish(vec4<f32>(rgb, 1.0));
}
