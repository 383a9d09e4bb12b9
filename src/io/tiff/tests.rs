//! Tests of the TIFF reader: crafted files for each layout and sample type, lying headers and
//! the size check made from the header alone.

use super::*;
use std::io::Cursor;

/// Offset at which `tiff_file` places the pixel data.
const DATA: u32 = 8;

/// A one-image little-endian TIFF: `data` at offset [`DATA`], then the IFD and its values.
/// Tags are (id, TIFF type, count, little-endian value bytes).
fn tiff_file(mut tags: Vec<(u16, u16, u32, Vec<u8>)>, data: &[u8]) -> Vec<u8> {
    tags.sort_by_key(|t| t.0);
    let ifd = (DATA as usize + data.len() + 1) & !1;
    let mut out = [b"II*\0".as_slice(), &(ifd as u32).to_le_bytes(), data].concat();
    out.resize(ifd, 0);
    out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    let mut extra = Vec::new();
    let extra_at = ifd + 2 + 12 * tags.len() + 4;
    for (tag, ty, count, mut bytes) in tags {
        out.extend([tag.to_le_bytes(), ty.to_le_bytes()].concat());
        out.extend_from_slice(&count.to_le_bytes());
        if bytes.len() > 4 {
            out.extend_from_slice(&((extra_at + extra.len()) as u32).to_le_bytes());
            extra.append(&mut bytes);
        } else {
            bytes.resize(4, 0);
            out.extend_from_slice(&bytes);
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&extra);
    out
}

fn shorts(tag: u16, v: &[u16]) -> (u16, u16, u32, Vec<u8>) {
    (tag, 3, v.len() as u32, v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn longs(tag: u16, v: &[u32]) -> (u16, u16, u32, Vec<u8>) {
    (tag, 4, v.len() as u32, v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Tags of a `w` x `h` image with `n` samples of `bits` bits and SampleFormat `format`, in
/// one uncompressed strip of `len` bytes.
fn striped(w: u32, h: u32, [bits, n, format]: [u16; 3], len: u32) -> Vec<(u16, u16, u32, Vec<u8>)> {
    let count = usize::from(n);
    vec![
        longs(256, &[w]),
        longs(257, &[h]),
        shorts(258, &vec![bits; count]),
        shorts(259, &[1]),
        shorts(262, &[1]),
        longs(273, &[DATA]),
        shorts(277, &[n]),
        longs(278, &[h]),
        longs(279, &[len]),
        shorts(339, &vec![format; count]),
    ]
}

fn load(bytes: &[u8]) -> Result<Raster, IoError> {
    read(Path::new("test.tif"), bytes, &LoadOptions::default())
}

fn le_bytes<const N: usize, T: Copy>(values: &[T], f: fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| f(v)).collect()
}

#[test]
fn a_huge_declared_size_is_refused_from_the_header_before_the_file_is_read() {
    // 3 x 2 of 3 samples: the header alone sizes it.
    // A few hundred bytes declaring 100000 x 100000 float32: refused by `load` as too large.
    let lie = tiff_file(striped(100_000, 100_000, [32, 1, 3], 4_000_000_000), &[0; 16]);
    let dir = std::env::temp_dir().join(format!("heatscope-tiff-lie-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lie.tif");
    std::fs::write(&path, &lie).unwrap();
    let e = crate::io::load(&path, &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, IoError::TooLarge { width: 100_000, height: 100_000, .. }), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Read from the file strip by strip, every TIFF of the test corpus (438 files: compressions,
/// predictors, layouts, sample types, broken ones) decodes exactly as from its bytes in memory, or
/// fails with the same error.
#[test]
fn a_tiff_read_from_its_file_equals_one_read_from_memory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut stack = vec![root];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            if ext != "tif" && ext != "tiff" {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let opts = LoadOptions::default();
            let from_file = crate::io::load(&path, &opts);
            let from_memory = crate::io::load_bytes(&path, &bytes, &opts);
            match (from_file, from_memory) {
                (Ok(a), Ok(b)) => {
                    assert_eq!((a.width, a.height, &a.meta), (b.width, b.height, &b.meta), "{}", path.display());
                    assert_eq!(a.valid, b.valid, "{}", path.display());
                    for (x, y) in a.bands.iter().zip(&b.bands) {
                        assert!(x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()), "{}", path.display());
                    }
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{}", path.display()),
                (a, b) => panic!("{}: from the file {:?}, from memory {:?}", path.display(), a.err(), b.err()),
            }
            seen += 1;
        }
    }
    assert!(seen > 400, "only {seen} TIFFs found");
}

#[test]
fn chunky_uint16_two_bands() {
    let data = le_bytes(&[1u16, 100, 2, 200, 3, 300, 4, 400, 5, 500, 65535, 0], u16::to_le_bytes);
    let r = load(&tiff_file(striped(3, 2, [16, 2, 1], 24), &data)).expect("decode");
    assert_eq!((r.width, r.height), (3, 2));
    assert_eq!(r.bands[0], [1.0, 2.0, 3.0, 4.0, 5.0, 65535.0]);
    assert_eq!(r.bands[1], [100.0, 200.0, 300.0, 400.0, 500.0, 0.0]);
    assert_eq!(r.meta.dtype, Some(SampleType::U16));
    assert_eq!(r.meta.band_names, ["band 1", "band 2"]);
    assert_eq!(r.meta.format, "TIFF");
    assert!(r.meta.pixel_size.is_none() && r.meta.crs.is_none());
}

#[test]
fn planar_float32_with_nodata_mask() {
    let data = le_bytes(&[1.5f32, -9999.0, 2.5, 3.5, 7.0, -9999.0, 8.0, 9.0], f32::to_le_bytes);
    let mut tags = striped(2, 2, [32, 2, 3], 16);
    tags.retain(|t| t.0 != 273 && t.0 != 279);
    tags.extend([longs(273, &[DATA, DATA + 16]), longs(279, &[16, 16]), shorts(284, &[2])]);
    tags.push((42113, 2, 6, b"-9999\0".to_vec()));
    let r = load(&tiff_file(tags, &data)).expect("decode");
    assert_eq!(r.bands, [[1.5, -9999.0, 2.5, 3.5], [7.0, -9999.0, 8.0, 9.0]]);
    assert_eq!((r.meta.dtype, r.meta.nodata), (Some(SampleType::F32), Some(-9999.0)));
    assert_eq!(r.valid, Some(vec![true, false, true, true]));
}

#[test]
fn tiled_image_with_partial_edge_tiles() {
    // A 5 x 3 image in 2 x 2 tiles of 4 x 2, each stored full size; padding holds 255.
    let value = |col: u32, row: u32| if col < 5 && row < 3 { (row * 10 + col) as u8 } else { 255 };
    let data: Vec<u8> =
        (0..4u32).flat_map(|t| (0..8).map(move |i| value(t % 2 * 4 + i % 4, t / 2 * 2 + i / 4))).collect();
    let mut tags = vec![longs(256, &[5]), longs(257, &[3]), shorts(258, &[8]), shorts(259, &[1])];
    tags.extend([shorts(262, &[1]), shorts(277, &[1]), longs(322, &[4]), longs(323, &[2])]);
    tags.extend([longs(324, &[DATA, DATA + 8, DATA + 16, DATA + 24]), longs(325, &[8; 4])]);
    let r = load(&tiff_file(tags, &data)).expect("decode");
    let expected: Vec<f32> = (0..15).map(|i| f32::from(value(i % 5, i / 5))).collect();
    assert_eq!((r.bands, r.meta.dtype), (vec![expected], Some(SampleType::U8)));
}

#[test]
fn complex64_is_shown_as_magnitude() {
    let data = le_bytes(&[3.0f32, 4.0, 0.0, -2.0, 6.0, 8.0, 0.0, 0.0], f32::to_le_bytes);
    let r = load(&tiff_file(striped(2, 2, [64, 1, 6], 32), &data)).expect("decode");
    assert_eq!(r.bands, [[5.0, 2.0, 10.0, 0.0]]);
    assert_eq!(r.meta.dtype, Some(SampleType::C64));
    assert!(r.meta.notes.iter().any(|n| n == "complex samples shown as magnitude"));
}

#[test]
fn a_band_tagged_alpha_stays_a_band_and_masks_only_when_it_is_two_level() {
    // RGB + a fourth sample tagged ExtraSamples = 2 (unassociated alpha), 2 x 2 pixels.
    let tagged = |fourth: [u8; 4], extra: u16| {
        let data: Vec<u8> = (0..4).flat_map(|i| [10 * i as u8, 20, 30, fourth[i]]).collect();
        let mut tags = striped(2, 2, [8, 4, 1], 16);
        tags.retain(|t| t.0 != 262);
        tags.extend([shorts(262, &[2]), shorts(338, &[extra])]);
        tiff_file(tags, &data)
    };
    let file = |fourth: [u8; 4]| tagged(fourth, 2);
    // NAIP: near-infrared written as alpha; continuous values, no mask.
    let nir = load(&file([87, 0, 143, 201])).expect("decode");
    assert_eq!(nir.band_count(), 4);
    assert_eq!(nir.bands[3], [87.0, 0.0, 143.0, 201.0]);
    assert_eq!(nir.valid, None, "a near-infrared band is no mask");
    assert_eq!(nir.meta.band_names, ["R", "G", "B", "band 4 (tagged alpha)"]);
    assert!(nir.meta.notes.iter().any(|n| n.contains("kept as a data band")), "{:?}", nir.meta.notes);
    // A real alpha (0 and 255) stays a band and masks.
    let alpha = load(&file([255, 0, 255, 255])).expect("decode");
    assert_eq!(alpha.band_count(), 4);
    assert_eq!(alpha.valid, Some(vec![true, false, true, true]));
    assert_eq!(alpha.meta.band_names[3], "alpha");
    // An unspecified extra sample (ExtraSamples = 0), which the decoder would drop, is a band.
    let extra = load(&tagged([87, 0, 143, 201], 0)).expect("decode");
    assert_eq!(extra.band_count(), 4);
    assert_eq!(extra.bands[0], [0.0, 10.0, 20.0, 30.0]);
    assert_eq!(extra.bands[3], [87.0, 0.0, 143.0, 201.0]);
    assert_eq!(extra.meta.band_names, ["R", "G", "B", "band 4"]);
    assert_eq!(extra.valid, None);
}

#[test]
fn huge_declared_size_is_too_large() {
    let e = load(&tiff_file(striped(100_000, 100_000, [8, 1, 1], 1), &[0])).expect_err("refuse");
    let IoError::TooLarge { width, height, .. } = e else { panic!("{e}") };
    assert_eq!((width, height), (100_000, 100_000));
}

#[test]
fn offsets_outside_the_file_are_corrupt() {
    for (bits, format) in [(8, 1), (64, 6)] {
        let mut tags = striped(4, 4, [bits, 1, format], 16);
        tags.retain(|t| t.0 != 273);
        tags.push(longs(273, &[1_000_000]));
        let e = load(&tiff_file(tags, &[0; 16])).expect_err("must fail");
        assert!(matches!(e, IoError::Corrupt { .. }), "format {format}: {e}");
        assert_eq!(e.path(), Path::new("test.tif"));
    }
}

#[test]
fn random_corruption_never_panics() {
    use tiff::encoder::{Compression, TiffEncoder, colortype, compression::DeflateLevel};
    let data: Vec<u16> = (0..32 * 24 * 3).map(|i| (i * 37 % 4096) as u16).collect();
    let deflate = Compression::Deflate(DeflateLevel::Fast);
    for compression in [deflate, Compression::Lzw, Compression::Packbits] {
        let mut file = Cursor::new(Vec::new());
        let mut enc = TiffEncoder::new(&mut file).expect("encoder").with_compression(compression);
        let mut img = enc.new_image::<colortype::RGB16>(32, 24).expect("image");
        img.rows_per_strip(5).expect("rows");
        img.write_data(&data).expect("write");
        let good = file.into_inner();
        let r = load(&good).expect("clean file decodes");
        assert_eq!(r.bands[2][5], f32::from(data[5 * 3 + 2]));
        // A small deterministic generator changes bytes all over the file.
        let mut state = 0x9e37_79b9_u32;
        for _ in 0..300 {
            let mut bad = good.clone();
            for _ in 0..4 {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let at = (state >> 8) as usize % bad.len();
                bad[at] ^= (state & 0xff) as u8 | 1;
            }
            let _ = load(&bad); // Ok or Err; a panic fails the test
        }
    }
}

/// The f32 fast path places samples exactly as the per-sample path, chunky and planar, and refuses
/// a short chunk alike.
#[test]
fn f32_rows_are_placed_like_samples() {
    let (w, h) = (7, 5);
    let rect = Rect { col0: 2, row0: 1, width: 4, height: 3 };
    for (spp, plane, bands_n) in [(1, None, 1), (3, None, 3), (1, Some(1), 2)] {
        // Rows padded past the rect's width, as tiles are.
        let row_bytes = 6 * spp * 4;
        let bytes: Vec<u8> =
            (0..rect.height * row_bytes / 4).flat_map(|i| (i as f32 * 1.5 - 7.0).to_ne_bytes()).collect();
        let mut fast = vec![vec![0f32; w * h]; bands_n];
        let mut slow = fast.clone();
        place_f32(&mut fast, w, rect, plane, spp, &bytes, row_bytes).expect("fits");
        let at = |r: usize| bytes.get(r * row_bytes..);
        place(&mut slow, w, rect, plane, spp, |r, i| sample_at(SampleType::F32, 32, at(r)?, i)).expect("fits");
        assert_eq!(fast, slow, "spp {spp} plane {plane:?}");
        assert!(fast.iter().flatten().any(|&v| v != 0.0));
        let cut = &bytes[..bytes.len() - row_bytes + 4];
        assert!(place_f32(&mut fast, w, rect, plane, spp, cut, row_bytes).is_none());
    }
}
