//! The image shader against its CPU reference: WGSL validation with naga (no GPU needed), then
//! offscreen renders read back and compared pixel by pixel (lavapipe in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use heatscope::render::colormap::{lut_index, shade, stretch};
use heatscope::render::{Colormap, DisplaySettings, Scale, ViewTransform};
use heatscope::types::{Raster, RasterMeta};

#[test]
fn every_wgsl_file_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("shaders/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("read shader");
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&src)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        checked += 1;
    }
    assert!(checked >= 1, "no shaders found in {}", dir.display());
}

/// A 64 x 48 ramp over [-10, 50] with NaN, +Inf and masked pixels sprinkled in.
fn test_raster(bands: usize) -> Raster {
    let (w, h) = (64, 48);
    let mut out = Vec::new();
    for b in 0..bands {
        let band: Vec<f32> = (0..w * h)
            .map(|i| match i {
                7 => f32::NAN,
                100 => f32::INFINITY,
                _ => -10.0 + 60.0 * ((i * (b + 1) * 37) % (w * h)) as f32 / (w * h) as f32,
            })
            .collect();
        out.push(band);
    }
    let mut r = Raster::new(w, h, out, RasterMeta::default());
    let mut mask = vec![true; w * h];
    mask[500] = false;
    r.valid = Some(mask);
    r
}

/// Channel-wise comparison allowing one LUT step where the CPU value sits on a rounding boundary.
fn expect_close(got: [u8; 4], cpu_t: f32, table: &[[u8; 4]; 256], what: &str) {
    let u = cpu_t.clamp(0.0, 1.0) * 255.0 + 0.5;
    let idx = lut_index(cpu_t);
    let on_boundary = (u - u.floor()) < 0.01 || (u - u.floor()) > 0.99;
    let candidates: Vec<usize> =
        if on_boundary { vec![idx.saturating_sub(1), idx, (idx + 1).min(255)] } else { vec![idx] };
    let ok = candidates.iter().any(|&i| table[i].iter().zip(got).all(|(a, b)| a.abs_diff(b) <= 1));
    assert!(ok, "{what}: GPU {got:?} vs CPU {:?} (t = {cpu_t})", table[idx]);
}

#[test]
fn single_band_render_matches_the_cpu_reference_for_every_colormap_and_scale() {
    let Some(gpu) = common::headless() else { return };
    let raster = test_raster(1);
    for map in Colormap::ALL {
        for scale in Scale::ALL {
            let (lo, hi) = if scale == Scale::Db { (-5.0, 17.0) } else { (-4.0, 40.0) };
            let settings =
                DisplaySettings { colormap: map, scale, lo: [lo; 3], hi: [hi; 3], ..DisplaySettings::default() };
            let px = gpu.render(&raster, &settings, &ViewTransform::default(), [64, 48]).expect("render");
            let table = map.table();
            for i in 0..64 * 48 {
                let got = [px[4 * i], px[4 * i + 1], px[4 * i + 2], px[4 * i + 3]];
                let v = raster.value(0, (i % 64) as i64, (i / 64) as i64);
                let what = format!("{map:?}/{scale:?} pixel {i}");
                match v {
                    None => assert_eq!(got, settings.nan_color, "{what}: nodata colour"),
                    Some(v) => expect_close(got, stretch(v, lo, hi, scale), &table, &what),
                }
            }
            // The CPU shade() the readout uses agrees with the same reference.
            let v = raster.value(0, 3, 0);
            assert_eq!(
                shade(v, lo, hi, scale, map, settings.nan_color),
                table[lut_index(stretch(v.expect("valid"), lo, hi, scale))]
            );
        }
    }
}

#[test]
fn zoomed_and_panned_render_shows_the_pixel_the_transform_names() {
    let Some(gpu) = common::headless() else { return };
    let raster = test_raster(1);
    let settings =
        DisplaySettings { colormap: Colormap::Turbo, lo: [-10.0; 3], hi: [50.0; 3], ..DisplaySettings::default() };
    // Square pixels, and a spectrogram's pixels drawn 2.7 times taller than wide.
    for stretch in [1.0, 2.7] {
        let transform = ViewTransform { origin: [5.25, -3.5], zoom: 2.5, stretch };
        let (w, h) = (120u32, 90u32);
        let px = gpu.render(&raster, &settings, &transform, [w, h]).expect("render");
        let table = Colormap::Turbo.table();
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) as usize * 4;
                let got = [px[i], px[i + 1], px[i + 2], px[i + 3]];
                let [c, r] = transform.pixel_under([x as f32, y as f32]);
                let what = format!("stretch {stretch}: fragment ({x}, {y}) -> pixel ({c}, {r})");
                if raster.index(c, r).is_none() {
                    assert_eq!(got, [0, 0, 0, 0], "{what}: outside the image must stay clear");
                    continue;
                }
                match raster.value(0, c, r) {
                    None => assert_eq!(got, settings.nan_color, "{what}"),
                    Some(v) => expect_close(got, stretch_value(v), &table, &what),
                }
            }
        }
    }
}

fn stretch_value(v: f32) -> f32 {
    stretch(v, -10.0, 50.0, Scale::Linear)
}

#[test]
fn rgb_composite_stretches_each_band_with_its_own_range() {
    let Some(gpu) = common::headless() else { return };
    let raster = test_raster(3);
    let settings = DisplaySettings {
        rgb_mode: true,
        rgb: [2, 0, 1],
        lo: [-10.0, 0.0, 10.0],
        hi: [50.0, 30.0, 20.0],
        scale: Scale::Sqrt,
        ..DisplaySettings::default()
    };
    let px = gpu.render(&raster, &settings, &ViewTransform::default(), [64, 48]).expect("render");
    let gray = Colormap::Grayscale.table();
    for i in 0..64 * 48 {
        let (c, r) = ((i % 64) as i64, (i / 64) as i64);
        let vals: Vec<Option<f32>> = settings.rgb.iter().map(|&b| raster.value(b, c, r)).collect();
        let got = [px[4 * i], px[4 * i + 1], px[4 * i + 2], px[4 * i + 3]];
        if vals.iter().any(Option::is_none) {
            assert_eq!(got, settings.nan_color, "pixel {i}");
            continue;
        }
        for ch in 0..3 {
            let t = stretch(vals[ch].expect("valid"), settings.lo[ch], settings.hi[ch], Scale::Sqrt);
            // Grayscale entry k is (k, k, k): the channel byte is the LUT index.
            expect_close([got[ch], got[ch], got[ch], 255], t, &gray, &format!("pixel {i} channel {ch}"));
        }
    }
}

#[test]
fn bilinear_sampling_interpolates_between_pixel_centres() {
    let Some(gpu) = common::headless() else { return };
    // Two pixels, 0 and 10: at zoom 10 the fragment halfway between the centres is 5.
    let raster = Raster::new(2, 1, vec![vec![0.0, 10.0]], RasterMeta::default());
    let settings = DisplaySettings {
        colormap: Colormap::Grayscale,
        lo: [0.0; 3],
        hi: [10.0; 3],
        bilinear: true,
        ..DisplaySettings::default()
    };
    let px = gpu
        .render(&raster, &settings, &ViewTransform { origin: [0.0, 0.0], zoom: 10.0, stretch: 1.0 }, [20, 10])
        .expect("render");
    let row: Vec<u8> = (0..20).map(|x| px[4 * (5 * 20 + x)]).collect();
    // Left of the first centre and right of the last: flat (clamped); between: a ramp.
    assert_eq!(row[0], 0);
    assert_eq!(row[19], 255);
    for (x, &got) in row.iter().enumerate().take(15).skip(5) {
        let t = ((x as f32 + 0.5) / 10.0 - 0.5).clamp(0.0, 1.0);
        let expected = (t * 255.0 + 0.5) as i32;
        assert!((i32::from(got) - expected).abs() <= 1, "x {x}: {got} vs {expected}");
    }
}

#[test]
fn a_render_streamed_in_bands_of_rows_is_the_render_made_at_once() {
    let Some(gpu) = common::headless() else { return };
    // Pieces of 5 raster rows and 7 output rows, so that both cross the masked and NaN pixels.
    let gpu = gpu.with_pieces(5 * 64 * 4, 7 * 128 * 4);
    let raster = test_raster(1);
    let settings =
        DisplaySettings { colormap: Colormap::Magma, lo: [-10.0; 3], hi: [50.0; 3], ..DisplaySettings::default() };
    let transform = ViewTransform { origin: [0.0, 0.0], zoom: 2.0, stretch: 1.0 };
    let whole = gpu.render(&raster, &settings, &transform, [128, 96]).expect("render");
    let image = gpu.upload(&raster).expect("upload");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("banded.png");
    gpu.render_png(&image, &settings, &transform, [128, 96], std::fs::File::create(&path).unwrap()).expect("png");
    let png = image::open(&path).unwrap().to_rgba8();
    assert_eq!(png.dimensions(), (128, 96));
    assert!(png.as_raw() == &whole, "the banded PNG differs from the render made at once");
    // The masked pixel (index 500: column 52, row 7) shows the nodata colour in both.
    assert_eq!(png.get_pixel(2 * 52, 2 * 7).0, settings.nan_color);
}

#[test]
fn a_zoomed_in_window_shows_the_full_resolution_pixels_and_nothing_outside_it() {
    // The viewer's detail: a window cut from the full-resolution data, drawn at the image's
    // coordinates. Inside it every fragment shows the pixel the transform names (no seam, no
    // offset); outside it the fragment is left clear for the overview below. Two blocks: 1 and 2.
    let Some(gpu) = common::headless() else { return };
    let raster = test_raster(1);
    let settings =
        DisplaySettings { colormap: Colormap::Turbo, lo: [-10.0; 3], hi: [50.0; 3], ..DisplaySettings::default() };
    let transform = ViewTransform { origin: [10.0, 6.0], zoom: 3.0, stretch: 1.0 };
    let (w, h) = (120u32, 96u32);
    let table = Colormap::Turbo.table();
    let (origin, covers) = ([16usize, 10usize], [24usize, 18usize]);
    let window = heatscope::stats::window_mean(&raster, [origin[0], origin[1], covers[0], covers[1]], 1);
    let px = gpu
        .render_window(&window, [64, 48], (origin, covers, 1), &settings, &transform, [w, h])
        .expect("render the window");
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) as usize * 4;
            let got = [px[i], px[i + 1], px[i + 2], px[i + 3]];
            let [c, r] = transform.pixel_under([x as f32, y as f32]);
            let inside = (origin[0] as i64..(origin[0] + covers[0]) as i64).contains(&c)
                && (origin[1] as i64..(origin[1] + covers[1]) as i64).contains(&r);
            let what = format!("fragment ({x}, {y}) -> pixel ({c}, {r})");
            if !inside {
                assert_eq!(got, [0, 0, 0, 0], "{what}: outside the window must stay clear");
                continue;
            }
            match raster.value(0, c, r) {
                None => assert_eq!(got, settings.nan_color, "{what}"),
                Some(v) => expect_close(got, stretch_value(v), &table, &what),
            }
        }
    }
    // Blocks of 2: each fragment shows the mean of the valid pixels of its block.
    let window = heatscope::stats::window_mean(&raster, [origin[0], origin[1], covers[0], covers[1]], 2);
    let px = gpu
        .render_window(&window, [64, 48], (origin, covers, 2), &settings, &transform, [w, h])
        .expect("render the window");
    for y in (0..h).step_by(7) {
        for x in (0..w).step_by(5) {
            let i = (y * w + x) as usize * 4;
            let got = [px[i], px[i + 1], px[i + 2], px[i + 3]];
            let [c, r] = transform.pixel_under([x as f32, y as f32]);
            let (bx, by) = ((c - origin[0] as i64).div_euclid(2), (r - origin[1] as i64).div_euclid(2));
            if !(0..12).contains(&bx) || !(0..9).contains(&by) {
                continue;
            }
            let v = window.bands[0][(by * 12 + bx) as usize];
            let what = format!("fragment ({x}, {y}) -> block ({bx}, {by})");
            if v.is_nan() {
                assert_eq!(got, settings.nan_color, "{what}");
            } else {
                expect_close(got, stretch_value(v), &table, &what);
            }
        }
    }
}

#[test]
fn tiles_drawn_side_by_side_equal_the_level_drawn_whole_with_no_seam() {
    // The viewer's zoomed-in view is a grid of tiles, each texture holding one texel of its
    // neighbours as an apron. Drawn with bilinear sampling, fragments across a tile edge must blend
    // the same texels the whole level would: the tiled render equals the untiled one, at full
    // resolution and at 2 x 2 blocks, NaN pixels included.
    use heatscope::app::detail::{TILE, Tile, TileKey, tiles_for};
    use heatscope::render::HeadlessTile;
    let Some(gpu) = common::headless() else { return };
    let (w, h) = (TILE * 2 + 88, TILE + 144);
    let band: Vec<f32> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            if i % 97 == 0 { f32::NAN } else { (x * 0.11).sin() * 20.0 + (y * 0.07).cos() * 15.0 + 10.0 }
        })
        .collect();
    let raster = Raster::new(w, h, vec![band], RasterMeta::default());
    let settings = DisplaySettings {
        colormap: Colormap::Turbo,
        lo: [-25.0; 3],
        hi: [45.0; 3],
        bilinear: true,
        ..DisplaySettings::default()
    };
    let out = [240u32, 180u32];
    // Views straddling a tile corner: level 1 near (256, 256) at 2.3 px a pixel; level 2 near
    // (512, 256) at 0.45.
    let views = [(1usize, [200.0f32, 220.0f32], 2.3f32), (2, [420.0, 150.0], 0.45)];
    for (factor, origin, zoom) in views {
        let transform = ViewTransform { origin, zoom, stretch: 1.0 };
        let whole = heatscope::stats::window_mean(&raster, [0, 0, w, h], factor);
        let want = gpu
            .render_window(&whole, [w, h], ([0, 0], [w, h], factor), &settings, &transform, out)
            .expect("render the level whole");
        let visible = [origin[0], origin[1], origin[0] + out[0] as f32 / zoom, origin[1] + out[1] as f32 / zoom];
        let keys: Vec<TileKey> = tiles_for(visible, [w, h], factor, 0);
        assert!(keys.len() >= 2, "level {factor}: the view crosses a tile edge ({keys:?})");
        let tiles: Vec<Tile> = keys.iter().enumerate().map(|(i, k)| Tile::cut_from(&raster, *k, i as u64)).collect();
        let drawn: Vec<HeadlessTile<'_>> = tiles
            .iter()
            .map(|t| HeadlessTile {
                raster: &t.raster,
                texel_origin: [t.cut[0], t.cut[1]],
                origin: [t.core[0], t.core[1]],
                covers: [t.core[2], t.core[3]],
                factor,
            })
            .collect();
        let got = gpu.render_tiles(&drawn, [w, h], &settings, &transform, out).expect("render the tiles");
        let differ =
            got.chunks(4).zip(want.chunks(4)).filter(|(a, b)| a.iter().zip(*b).any(|(x, y)| x.abs_diff(*y) > 1));
        let (count, first) = (differ.clone().count(), differ.clone().next());
        assert_eq!(count, 0, "level {factor}: {count} fragments differ from the untiled render, e.g. {first:?}");
    }
}

#[test]
fn a_one_band_image_renders_right_through_gl_too() {
    // GL turns a one-layer texture into a plain 2-D one, which the shader's array view read wrong (a
    // one-band image drew black in the app): machines with no Vulkan driver get GL.
    let gpu = match heatscope::render::Headless::on(&[wgpu::Backends::GL]) {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("SKIPPED: no GL adapter ({e}); the GL path was not checked");
            return;
        }
    };
    assert_eq!(gpu.backend, wgpu::Backend::Gl);
    let raster = test_raster(1);
    let settings =
        DisplaySettings { colormap: Colormap::Viridis, lo: [-4.0; 3], hi: [40.0; 3], ..DisplaySettings::default() };
    let px = gpu.render(&raster, &settings, &ViewTransform::default(), [64, 48]).expect("render");
    let table = Colormap::Viridis.table();
    for i in 0..64 * 48 {
        let got = [px[4 * i], px[4 * i + 1], px[4 * i + 2], px[4 * i + 3]];
        let what = format!("GL pixel {i}");
        match raster.value(0, (i % 64) as i64, (i / 64) as i64) {
            None => assert_eq!(got, settings.nan_color, "{what}: nodata colour"),
            Some(v) => expect_close(got, stretch(v, -4.0, 40.0, Scale::Linear), &table, &what),
        }
    }
}
