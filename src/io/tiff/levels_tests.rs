//! Tests of the images after a TIFF's first: crafted files with masks and overviews, as GDAL
//! writes them (a mask after its image, overviews with their masks after the first).

use super::*;

/// A tag: id, TIFF type, count, little-endian value bytes.
type Entry = (u16, u16, u32, Vec<u8>);

fn shorts(tag: u16, v: &[u16]) -> Entry {
    (tag, 3, v.len() as u32, v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn longs(tag: u16, v: &[u32]) -> Entry {
    (tag, 4, v.len() as u32, v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// One uncompressed image in one strip: `w` x `h`, NewSubfileType `kind`, `bits` bits a sample,
/// SampleFormat `format`, PhotometricInterpretation `photometric`, and its strip's bytes.
struct Image {
    w: u32,
    h: u32,
    kind: u32,
    bits: u16,
    format: u16,
    photometric: u16,
    data: Vec<u8>,
    /// Added to the strip offset (a strip pointing past the file's end when large).
    offset_error: u32,
}

impl Image {
    fn f32(w: u32, h: u32, kind: u32, values: &[f32]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self { w, h, kind, bits: 32, format: 3, photometric: 1, data, offset_error: 0 }
    }

    /// A one-bit mask (photometric 4, as GDAL writes it), rows padded to whole bytes.
    fn mask(w: u32, h: u32, kind: u32, valid: &[bool]) -> Self {
        let row = (w as usize).div_ceil(8);
        let mut data = vec![0u8; row * h as usize];
        for (i, &v) in valid.iter().enumerate() {
            let (y, x) = (i / w as usize, i % w as usize);
            if v {
                data[y * row + x / 8] |= 0x80 >> (x % 8);
            }
        }
        Self { w, h, kind, bits: 1, format: 1, photometric: 4, data, offset_error: 0 }
    }
}

/// A little-endian classic TIFF of `images` in a chain of directories, each image's strip before
/// its directory; `extra` tags go to the first image.
fn tiff_of(images: &[Image], extra: &[Entry]) -> Vec<u8> {
    let mut out = b"II*\0\0\0\0\0".to_vec();
    let mut link_at = 4usize;
    for (n, im) in images.iter().enumerate() {
        let strip = out.len() as u32;
        out.extend_from_slice(&im.data);
        if out.len() % 2 == 1 {
            out.push(0);
        }
        let mut tags = vec![
            longs(254, &[im.kind]),
            longs(256, &[im.w]),
            longs(257, &[im.h]),
            shorts(258, &[im.bits]),
            shorts(259, &[1]),
            shorts(262, &[im.photometric]),
            longs(273, &[strip + im.offset_error]),
            shorts(277, &[1]),
            longs(278, &[im.h]),
            longs(279, &[im.data.len() as u32]),
            shorts(339, &[im.format]),
        ];
        if n == 0 {
            tags.extend(extra.iter().cloned());
        }
        tags.sort_by_key(|t| t.0);
        let ifd = out.len();
        out[link_at..link_at + 4].copy_from_slice(&(ifd as u32).to_le_bytes());
        out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
        let values_at = ifd + 2 + 12 * tags.len() + 4;
        let mut values = Vec::new();
        for (tag, ty, count, bytes) in tags {
            out.extend([tag.to_le_bytes(), ty.to_le_bytes()].concat());
            out.extend_from_slice(&count.to_le_bytes());
            if bytes.len() > 4 {
                out.extend_from_slice(&((values_at + values.len()) as u32).to_le_bytes());
                values.extend(bytes);
            } else {
                out.extend(bytes.iter().copied().chain(std::iter::repeat(0)).take(4));
            }
        }
        link_at = out.len();
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend(values);
        if out.len() % 2 == 1 {
            out.push(0);
        }
    }
    out
}

fn written(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cog.tif");
    std::fs::write(&path, bytes).expect("write the TIFF");
    (dir, path)
}

fn ramp(w: u32, h: u32) -> Vec<f32> {
    (0..w * h).map(|i| (i % 97) as f32 * 0.25 - 3.0).collect()
}

/// A 40 x 30 image, its mask (every seventh pixel without data), a 10 x 8 overview (block 4) and
/// the overview's mask (its pixel 0 without data).
fn masked_pyramid(overview_h: u32) -> (Vec<u8>, Vec<bool>, Vec<f32>) {
    let valid: Vec<bool> = (0..40 * 30).map(|i| i % 7 != 3).collect();
    let overview: Vec<f32> = (0..10 * overview_h).map(|i| 100.0 + i as f32).collect();
    let overview_valid: Vec<bool> = (0..10 * overview_h).map(|i| i != 0).collect();
    let bytes = tiff_of(
        &[
            Image::f32(40, 30, 0, &ramp(40, 30)),
            Image::mask(40, 30, 4, &valid),
            Image::f32(10, overview_h, 1, &overview),
            Image::mask(10, overview_h, 5, &overview_valid),
        ],
        &[],
    );
    (bytes, valid, overview)
}

#[test]
fn every_read_applies_the_internal_mask() {
    let (bytes, valid, _) = masked_pyramid(8);
    let (_dir, path) = written(&bytes);
    let r = crate::io::load(&path, &LoadOptions::default()).expect("reads");
    assert_eq!((r.width, r.height), (40, 30));
    assert_eq!(r.bands[0], ramp(40, 30), "the data is the first image's");
    assert_eq!(r.valid.as_deref(), Some(&valid[..]), "masked where the mask's bit is 0");
    let hidden = valid.iter().filter(|v| !**v).count();
    assert!(
        r.meta.notes.iter().any(|n| n.contains("internal mask (image 2") && n.contains(&format!("{hidden} of 1200"))),
        "{:?}",
        r.meta.notes
    );
    assert!(r.meta.notes.iter().any(|n| n.contains("1 overview(s)") && n.contains("2 mask(s)")), "{:?}", r.meta.notes);
    // The same bytes from memory read the same.
    let from_memory = crate::io::load_bytes(&path, &bytes, &LoadOptions::default()).expect("reads");
    assert_eq!(from_memory.valid, r.valid);
    // The overview streamed from the file and a window read by itself leave the same pixels out.
    let opts = LoadOptions::default();
    let preview = crate::io::preview(&path, &opts, 16, &|| false).expect("reads").expect("streams");
    let (small, factor) = crate::stats::downsample_to_fit(&r, 16);
    let shown = small.masked_as_nan().unwrap_or(small);
    assert_eq!(preview.factor, factor);
    let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
    assert!(same(&preview.overview.bands[0], &shown.bands[0]), "{:?}\n{:?}", preview.overview.bands, shown.bands);
    for window in [[0, 0, 8, 8], [13, 7, 27, 23], [39, 29, 1, 1]] {
        let win = crate::io::read_window(&path, &opts, window).expect("reads").expect("by window");
        let expected = crate::stats::window_mean(&r, window, 1);
        assert!(same(&win.bands[0], &expected.bands[0]), "window {window:?}");
        assert!(win.bands[0].iter().any(|v| v.is_nan()) || window[2] == 1);
    }
}

#[test]
fn a_broken_mask_is_reported_and_a_mask_of_another_size_is_not_applied() {
    let mut broken = Image::mask(40, 30, 4, &[true; 1200]);
    broken.offset_error = 1 << 20;
    let bytes = tiff_of(&[Image::f32(40, 30, 0, &ramp(40, 30)), broken], &[]);
    let (_dir, path) = written(&bytes);
    let r = crate::io::load(&path, &LoadOptions::default()).expect("the image itself reads");
    assert!(r.valid.is_none());
    assert!(r.meta.notes.iter().any(|n| n.contains("could not be read")), "{:?}", r.meta.notes);
    // The stream leaves such a file to the full read; a window is unmasked, as the full read is.
    let opts = LoadOptions::default();
    assert!(crate::io::preview(&path, &opts, 16, &|| false).expect("no error").is_none());
    let win = crate::io::read_window(&path, &opts, [0, 0, 40, 30]).expect("reads").expect("by window");
    assert_eq!(win.bands[0], ramp(40, 30));

    let other = Image::mask(20, 15, 4, &[false; 300]);
    let bytes = tiff_of(&[Image::f32(40, 30, 0, &ramp(40, 30)), other], &[]);
    let (_dir, path) = written(&bytes);
    let r = crate::io::load(&path, &LoadOptions::default()).expect("reads");
    assert!(r.valid.is_none(), "a mask of another size belongs to another image");
}

#[test]
fn the_first_look_is_the_overview_that_fits_laid_on_the_grid_of_blocks() {
    let (bytes, _, overview) = masked_pyramid(8);
    let (_dir, path) = written(&bytes);
    let file = std::fs::File::open(&path).expect("open");
    let opts = LoadOptions::default();
    // Block 4 is needed to fit 12 px: the overview as it is, its masked pixel NaN.
    let look = glance_file(&path, &file, &opts, [12, 0], &|| false).expect("reads").expect("has an overview");
    assert_eq!((look.width, look.height, look.factor, look.look), (40, 30, 4, Look::FileOverview));
    assert_eq!((look.overview.width, look.overview.height), (10, 8));
    assert!(look.overview.bands[0][0].is_nan(), "the overview's own mask applies");
    assert_eq!(&look.overview.bands[0][1..], &overview[1..]);
    assert_eq!(look.meta.dtype, Some(crate::types::SampleType::F32));
    assert!(look.windows, "a plain striped file is read by window meanwhile");
    // Block 8 is needed for 5 px: the overview averaged by 2 more.
    let look = glance_file(&path, &file, &opts, [5, 0], &|| false).expect("reads").expect("has an overview");
    assert_eq!((look.factor, look.overview.width, look.overview.height), (8, 5, 4));
    assert_eq!(look.overview.bands[0][1], (102.0 + 103.0 + 112.0 + 113.0) / 4.0);
    assert_eq!(look.overview.bands[0][0], (101.0 + 110.0 + 111.0) / 3.0, "the masked pixel left out");
    // Fits the texture, too few samples, cancelled: nothing.
    assert!(glance_file(&path, &file, &opts, [40, 0], &|| false).expect("reads").is_none());
    assert!(glance_file(&path, &file, &opts, [12, 1201], &|| false).expect("reads").is_none());
    assert!(glance_file(&path, &file, &opts, [12, 0], &|| true).expect("reads").is_none());
    // `io::glance` reads it for an image of enough samples only (this one is small).
    assert!(crate::io::glance(&path, &opts, 12, &|| false).expect("reads").is_none());
}

#[test]
fn an_overview_one_row_short_repeats_its_last_row_and_odd_sizes_are_not_overviews() {
    // GDAL rounds some sides down: 30 / 4 -> 7 rows, not 8.
    let (bytes, _, overview) = masked_pyramid(7);
    let (_dir, path) = written(&bytes);
    let file = std::fs::File::open(&path).expect("open");
    let look = glance_file(&path, &file, &LoadOptions::default(), [12, 0], &|| false).expect("reads").expect("look");
    assert_eq!((look.overview.width, look.overview.height, look.factor), (10, 8, 4));
    assert_eq!(&look.overview.bands[0][70..80], &overview[60..70], "the last row repeated");
    // A reduced image whose size is no block of the first image's (40 x 30 -> 13 x 7) is skipped.
    let bytes = tiff_of(&[Image::f32(40, 30, 0, &ramp(40, 30)), Image::f32(13, 7, 1, &ramp(13, 7))], &[]);
    let (_dir, path) = written(&bytes);
    let file = std::fs::File::open(&path).expect("open");
    assert!(glance_file(&path, &file, &LoadOptions::default(), [12, 0], &|| false).expect("reads").is_none());
    assert_eq!(
        block_of(
            &SubImage { index: 1, ifd: 0, width: 589, height: 581, samples: 1, reduced: true, mask: false },
            2355,
            2325
        ),
        Some(4)
    );
}

#[test]
fn an_overview_that_cannot_be_decoded_is_an_error_and_the_full_read_still_works() {
    let mut overview = Image::f32(10, 8, 1, &[1.0; 80]);
    overview.offset_error = 1 << 20;
    let bytes = tiff_of(&[Image::f32(40, 30, 0, &ramp(40, 30)), overview], &[]);
    let (_dir, path) = written(&bytes);
    let file = std::fs::File::open(&path).expect("open");
    let look = glance_file(&path, &file, &LoadOptions::default(), [12, 0], &|| false);
    assert!(look.is_err(), "{look:?}");
    let r = crate::io::load(&path, &LoadOptions::default()).expect("the first image reads");
    assert_eq!(r.bands[0], ramp(40, 30));
}

/// Mean absolute difference between two rasters of one size, over the pixels both have, as a share
/// of the range of `b`.
fn relative_difference(a: &Raster, b: &Raster) -> f64 {
    let (mut sum, mut n, mut lo, mut hi) = (0.0, 0.0, f64::MAX, f64::MIN);
    for (x, y) in a.bands.iter().flatten().zip(b.bands.iter().flatten()) {
        if x.is_finite() && y.is_finite() {
            sum += f64::from((x - y).abs());
            n += 1.0;
            (lo, hi) = (lo.min(f64::from(*y)), hi.max(f64::from(*y)));
        }
    }
    sum / n / (hi - lo)
}

#[test]
fn real_cogs_give_a_first_look_from_their_overviews_and_goes_masks_space() {
    let Some(dir) = crate::io::real_data("rs") else { return };
    let opts = LoadOptions::default();
    // rio-tiler's COG: 2658 x 2667 with overviews of block 2, 4, 8, 16.
    // GDAL's dateline COG: 2325 x 2355, overviews of block 4 (581 x 589: one side rounded down), 8, 16.
    for (name, max_dim, factor, size) in
        [("riotiler_cog.tif", 2048, 2, (1329, 1334)), ("riotiler_cog_dateline.tif", 600, 4, (582, 589))]
    {
        let path = dir.join(name);
        let file = std::fs::File::open(&path).expect("open");
        let look = glance_file(&path, &file, &opts, [max_dim, 0], &|| false).expect("reads").expect("overviews");
        assert_eq!(
            (look.factor, look.overview.width, look.overview.height, look.look),
            (factor, size.0, size.1, Look::FileOverview),
            "{name}"
        );
        let full = crate::io::load(&path, &opts).expect("the full read");
        let (averaged, k) = crate::stats::downsample_to_fit(&full, max_dim);
        assert_eq!((k, averaged.width, averaged.height), (factor, size.0, size.1));
        let differ = relative_difference(&look.overview, &averaged);
        println!(
            "{name}: the file's {factor}x overview differs from the averaged one by {:.2} % of the range",
            100.0 * differ
        );
        assert!(differ < 0.03, "{name}: {differ}");
        assert_eq!(look.meta.crs, full.meta.crs);
        assert_eq!(look.overview.meta.transform, averaged.meta.transform);
    }
    // GOES-16's full disk: a one-bit mask hides the space around the Earth (63712 of 542 x 542
    // pixels, as tifffile reads it); its overview has its own mask (15103 of 271 x 271).
    let path = dir.join("rasterio_goes.tif");
    let full = crate::io::load(&path, &opts).expect("reads");
    assert_eq!(full.valid.as_ref().map(|m| m.iter().filter(|v| !**v).count()), Some(63_712));
    let file = std::fs::File::open(&path).expect("open");
    let look = glance_file(&path, &file, &opts, [300, 0], &|| false).expect("reads").expect("an overview");
    assert_eq!((look.factor, look.overview.width), (2, 271));
    assert_eq!(look.overview.bands[0].iter().filter(|v| v.is_nan()).count(), 15_103);
}
