//! Edge cases of the NumPy, FITS and CSV loaders through the public API: every dtype and byte order,
//! memory orders and 3-D layouts, npz archives, every FITS BITPIX with scaling and blanks, WCS
//! metadata, CSV dialects, and lying, truncated or garbage input (which must give an error, never a
//! panic). Inputs are built by hand below; the real-data check reads `HEATSCOPE_REAL_DATA`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::io::Write;
use std::path::Path;

use heatscope::io::{IoError, LoadOptions, load, load_bytes};
use heatscope::types::*;

// ---------------------------------------------------------------- builders

/// A .npy file (format `version`) with the given dtype string, order, shape and raw data.
fn npy_v(version: u8, descr: &str, fortran: bool, shape: &[u64], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let order = if fortran { "True" } else { "False" };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {tuple}, }}");
    let pre = if version == 1 { 10 } else { 12 };
    while (pre + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([version, 0]);
    if version == 1 {
        out.extend((header.len() as u16).to_le_bytes());
    } else {
        out.extend((header.len() as u32).to_le_bytes());
    }
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn npy(descr: &str, fortran: bool, shape: &[u64], data: &[u8]) -> Vec<u8> {
    npy_v(1, descr, fortran, shape, data)
}

fn f32_le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// An .npz (zip) with the given members, deflated.
fn npz(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// One 80-character FITS card; string values go in as `'text'`.
fn card(key: &str, value: &str) -> String {
    let c = if value.starts_with('\'') { format!("{key:<8}= {value}") } else { format!("{key:<8}= {value:>20}") };
    format!("{c:<80}")
}

/// A FITS HDU: the cards, END, padding, then the data padded to a whole block.
fn hdu(cards: &[(&str, String)], data: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = cards.iter().flat_map(|(k, v)| card(k, v).into_bytes()).collect();
    out.extend(format!("{:<80}", "END").bytes());
    out.resize(out.len().next_multiple_of(2880), b' ');
    let start = out.len();
    out.extend(data);
    out.resize(start + data.len().next_multiple_of(2880), 0);
    out
}

/// A primary-HDU FITS image with `axes` (NAXIS1 first) plus extra cards.
fn fits(bitpix: i32, axes: &[u64], extra: &[(&str, &str)], data: &[u8]) -> Vec<u8> {
    let mut cards =
        vec![("SIMPLE", "T".to_string()), ("BITPIX", bitpix.to_string()), ("NAXIS", axes.len().to_string())];
    let names = ["NAXIS1", "NAXIS2", "NAXIS3", "NAXIS4"];
    cards.extend(axes.iter().zip(names).map(|(n, k)| (k, n.to_string())));
    cards.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    hdu(&cards, data)
}

fn f32_be(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn opts() -> LoadOptions {
    LoadOptions::default()
}

fn ok(name: &str, bytes: &[u8]) -> Raster {
    load_bytes(Path::new(name), bytes, &opts()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn err(name: &str, bytes: &[u8]) -> IoError {
    match load_bytes(Path::new(name), bytes, &opts()) {
        Ok(r) => panic!("{name}: expected an error, got {}x{}", r.width, r.height),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------- npy

/// Encode `v` as numpy type `code` in the given byte order.
fn enc(code: &str, v: f64, big: bool) -> Vec<u8> {
    macro_rules! e {
        ($t:ty) => {{
            let x = v as $t;
            if big { x.to_be_bytes().to_vec() } else { x.to_le_bytes().to_vec() }
        }};
    }
    match code {
        "b1" => vec![u8::from(v != 0.0)],
        "i1" => e!(i8),
        "u1" => e!(u8),
        "i2" => e!(i16),
        "u2" => e!(u16),
        "i4" => e!(i32),
        "u4" => e!(u32),
        "i8" => e!(i64),
        "u8" => e!(u64),
        "f4" => e!(f32),
        "f8" => e!(f64),
        _ => unreachable!(),
    }
}

#[test]
fn npy_every_dtype_and_byte_order_gives_exact_values() {
    let cases: &[(&str, SampleType, [f64; 6])] = &[
        ("b1", SampleType::Bool, [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]),
        ("i1", SampleType::I8, [-128.0, -1.0, 0.0, 1.0, 100.0, 127.0]),
        ("u1", SampleType::U8, [0.0, 1.0, 2.0, 128.0, 254.0, 255.0]),
        ("i2", SampleType::I16, [-32768.0, -300.0, 0.0, 1.0, 258.0, 32767.0]),
        ("u2", SampleType::U16, [0.0, 1.0, 256.0, 4660.0, 40000.0, 65535.0]),
        ("i4", SampleType::I32, [-2147483648.0, -70000.0, 0.0, 1.0, 16777216.0, 123456.0]),
        ("u4", SampleType::U32, [0.0, 1.0, 65536.0, 16777215.0, 4294967040.0, 3.0]),
        ("i8", SampleType::I64, [-9007199254740992.0, -1.0, 0.0, 1.0, 1099511627776.0, 42.0]),
        ("u8", SampleType::U64, [0.0, 1.0, 4294967296.0, 18446742974197923840.0, 7.0, 9.0]),
        ("f4", SampleType::F32, [-1.5, 0.0, 3.25, 1e-30, -6.5e20, 0.1]),
        ("f8", SampleType::F64, [-1.5, 0.0, 3.25, 1e-30, -6.5e20, 0.1]),
    ];
    for (code, dtype, values) in cases {
        let orders: &[char] = if code.ends_with('1') { &['|', '<', '>', '='] } else { &['<', '>', '='] };
        for &order in orders {
            let big = order == '>';
            let data: Vec<u8> = values.iter().flat_map(|&v| enc(code, v, big)).collect();
            let r = ok("a.npy", &npy(&format!("{order}{code}"), false, &[2, 3], &data));
            assert_eq!((r.width, r.height, r.band_count()), (3, 2, 1));
            assert_eq!(r.meta.dtype, Some(*dtype), "{order}{code}");
            assert_eq!(r.meta.format, "NumPy .npy");
            let expected: Vec<f32> = values.iter().map(|&v| v as f32).collect();
            assert_eq!(r.bands[0], expected, "{order}{code}");
        }
    }
}

#[test]
fn npy_half_floats() {
    let bits: [u16; 6] = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x0000];
    let expected = [1.0, -2.0, 0.5, 65504.0, 2f32.powi(-24), 0.0];
    for (descr, big) in [("<f2", false), (">f2", true)] {
        let data: Vec<u8> = bits.iter().flat_map(|b| if big { b.to_be_bytes() } else { b.to_le_bytes() }).collect();
        let r = ok("h.npy", &npy(descr, false, &[3, 2], &data));
        assert_eq!(r.bands[0], expected);
        assert_eq!(r.meta.dtype, Some(SampleType::F16));
    }
}

#[test]
fn npy_complex_is_shown_as_magnitude() {
    let pairs = [(3.0, 4.0), (0.0, -1.0), (-6.0, 8.0), (5.0, 12.0)];
    for order in ['<', '>'] {
        let big = order == '>';
        let c8: Vec<u8> =
            pairs.iter().flat_map(|&(re, im)| [enc("f4", re, big), enc("f4", im, big)].concat()).collect();
        let c16: Vec<u8> =
            pairs.iter().flat_map(|&(re, im)| [enc("f8", re, big), enc("f8", im, big)].concat()).collect();
        for (descr, data, dtype) in [("c8", c8, SampleType::C64), ("c16", c16, SampleType::C128)] {
            let r = ok("c.npy", &npy(&format!("{order}{descr}"), false, &[2, 2], &data));
            assert_eq!(r.bands[0], vec![5.0, 1.0, 10.0, 13.0]);
            assert_eq!(r.meta.dtype, Some(dtype));
            assert!(r.meta.notes.iter().any(|n| n.contains("magnitude")), "{:?}", r.meta.notes);
        }
    }
}

#[test]
fn npy_fortran_and_c_order_give_the_same_raster() {
    let (h, w) = (3usize, 4usize);
    let value = |y: usize, x: usize| (y * 10 + x) as f32;
    let c: Vec<f32> = (0..h).flat_map(|y| (0..w).map(move |x| value(y, x))).collect();
    let f: Vec<f32> = (0..w).flat_map(|x| (0..h).map(move |y| value(y, x))).collect();
    let rc = ok("c.npy", &npy("<f4", false, &[3, 4], &f32_le(&c)));
    let rf = ok("f.npy", &npy("<f4", true, &[3, 4], &f32_le(&f)));
    assert_eq!(rc.bands, rf.bands);
    assert_eq!(rc.bands[0], c);

    // The same for a 3-D (C, H, W) stack.
    let (n, h, w) = (2usize, 5usize, 6usize);
    let v = |b: usize, y: usize, x: usize| (b * 100 + y * 10 + x) as f32;
    let c: Vec<f32> = (0..n).flat_map(|b| (0..h).flat_map(move |y| (0..w).map(move |x| v(b, y, x)))).collect();
    let f: Vec<f32> = (0..w).flat_map(|x| (0..h).flat_map(move |y| (0..n).map(move |b| v(b, y, x)))).collect();
    let rc = ok("c.npy", &npy("<f4", false, &[2, 5, 6], &f32_le(&c)));
    let rf = ok("f.npy", &npy("<f4", true, &[2, 5, 6], &f32_le(&f)));
    assert_eq!(rc.bands, rf.bands);
    assert_eq!((rc.width, rc.height, rc.band_count()), (6, 5, 2));
}

#[test]
fn npy_3d_layouts() {
    let v = |b: usize, y: usize, x: usize| (b * 100 + y * 10 + x) as f32;
    // (H, W, C) with C <= 4 and H > 4: channels last.
    let hwc: Vec<f32> = (0..6).flat_map(|y| (0..5).flat_map(move |x| (0..3).map(move |b| v(b, y, x)))).collect();
    let r = ok("rgb.npy", &npy("<f4", false, &[6, 5, 3], &f32_le(&hwc)));
    assert_eq!((r.width, r.height, r.band_count()), (5, 6, 3));
    assert_eq!(r.value(2, 4, 5), Some(v(2, 5, 4)));
    assert!(r.meta.notes.iter().any(|n| n.contains("(rows, cols, channels)")), "{:?}", r.meta.notes);
    // (C, H, W) otherwise.
    let chw: Vec<f32> = (0..3).flat_map(|b| (0..6).flat_map(move |y| (0..5).map(move |x| v(b, y, x)))).collect();
    let r = ok("stack.npy", &npy("<f4", false, &[3, 6, 5], &f32_le(&chw)));
    assert_eq!((r.width, r.height, r.band_count()), (5, 6, 3));
    assert_eq!(r.value(1, 3, 2), Some(v(1, 2, 3)));
    assert!(r.meta.notes.iter().any(|n| n.contains("(channels, rows, cols)")));
    // A leading axis of length 1 is a single band.
    let r = ok("one.npy", &npy("<f4", false, &[1, 6, 5], &f32_le(&chw[..30])));
    assert_eq!((r.width, r.height, r.band_count()), (5, 6, 1));
    // Both small: (C, H, W).
    let r = ok("small.npy", &npy("<f4", false, &[3, 2, 2], &f32_le(&[0.0; 12])));
    assert_eq!((r.width, r.height, r.band_count()), (2, 2, 3));
}

#[test]
fn npy_header_versions_2_and_3() {
    let data = f32_le(&[1.0, 2.0, 3.0, 4.0]);
    for version in [2, 3] {
        let r = ok("v.npy", &npy_v(version, "<f4", false, &[2, 2], &data));
        assert_eq!(r.bands[0], vec![1.0, 2.0, 3.0, 4.0]);
    }
    assert!(matches!(err("v.npy", &npy_v(7, "<f4", false, &[2, 2], &data)), IoError::Unsupported { .. }));
}

#[test]
fn npy_bad_shapes_dtypes_and_truncation() {
    let data = f32_le(&[0.0; 8]);
    for shape in [&[8][..], &[2, 2, 2, 1][..], &[][..]] {
        let e = err("s.npy", &npy("<f4", false, shape, &data));
        assert!(matches!(e, IoError::Unsupported { .. }), "{shape:?}: {e}");
    }
    let e = err("o.npy", &npy("|O", false, &[2, 2], &[0; 32]));
    assert!(matches!(e, IoError::Unsupported { .. }) && e.to_string().contains("|O"), "{e}");
    let e = err("u.npy", &npy("<U8", false, &[2, 2], &[0; 128]));
    assert!(e.to_string().contains("<U8"), "{e}");

    let e = err("t.npy", &npy("<f8", false, &[4, 4], &[0; 100]));
    let msg = e.to_string();
    assert!(matches!(e, IoError::Corrupt { .. }) && msg.contains("128 bytes") && msg.contains("100 present"), "{msg}");

    match err("lie.npy", &npy("<f4", false, &[1_000_000, 1_000_000], &data)) {
        IoError::TooLarge { width, height, bands, .. } => assert_eq!((width, height, bands), (1_000_000, 1_000_000, 1)),
        e => panic!("expected TooLarge, got {e}"),
    }
    let e = err("lie.npy", &npy("<f4", false, &[u64::MAX, 3], &data));
    assert!(matches!(e, IoError::TooLarge { .. }), "{e}");
}

#[test]
fn npy_loads_from_disk_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.npy");
    std::fs::write(&path, npy("<f4", false, &[2, 2], &f32_le(&[1.0, 2.0, 3.0, 4.0]))).unwrap();
    let r = load(&path, &opts()).unwrap();
    assert_eq!(r.meta.path, path);
    let e = load(&dir.path().join("missing.npy"), &opts()).unwrap_err();
    assert!(matches!(e, IoError::Read { .. }));
}

// ---------------------------------------------------------------- npz

#[test]
fn npz_picks_the_first_npy_member() {
    let b = npy("<f4", false, &[2, 3], &f32_le(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    let a = npy("<i2", false, &[2, 2], &[0; 8]);
    let bytes = npz(&[("readme.txt", b"hello".to_vec()), ("b.npy", b), ("a.npy", a)]);
    let r = ok("x.npz", &bytes);
    assert_eq!(r.meta.format, "NumPy .npz (member b.npy)");
    assert_eq!(r.meta.dtype, Some(SampleType::F32));
    assert_eq!(r.bands[0], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert!(r.meta.notes.iter().any(|n| n.contains("b.npy")));
    assert!(r.meta.notes.iter().any(|n| n.contains("a.npy")), "{:?}", r.meta.notes);
}

#[test]
fn npz_errors() {
    let e = err("x.npz", &npz(&[("notes.txt", b"no arrays".to_vec())]));
    assert!(matches!(e, IoError::Unsupported { .. }), "{e}");
    let lie = npy("<f8", false, &[1_000_000, 1_000_000], &[0; 64]);
    assert!(matches!(err("x.npz", &npz(&[("big.npy", lie)])), IoError::TooLarge { .. }));
    let short = npy("<f8", false, &[8, 8], &[0; 64]);
    let e = err("x.npz", &npz(&[("short.npy", short)]));
    assert!(matches!(e, IoError::Corrupt { .. }) && e.to_string().contains("512 bytes"), "{e}");
    let obj = npy("|O", false, &[2, 2], &[0; 32]);
    assert!(matches!(err("x.npz", &npz(&[("o.npy", obj)])), IoError::Unsupported { .. }));
}

// ---------------------------------------------------------------- FITS

/// Writes one raw integer sample big-endian.
type Encode = fn(i64) -> Vec<u8>;

#[test]
fn fits_every_bitpix_with_scaling_and_blank() {
    // Raw values for a 3 x 2 image, FITS order (bottom row first).
    let raw: [i64; 6] = [0, 1, 2, 3, 4, 99];
    let cases: &[(i32, Encode, SampleType)] = &[
        (8, |v| vec![v as u8], SampleType::U8),
        (16, |v| (v as i16).to_be_bytes().to_vec(), SampleType::I16),
        (32, |v| (v as i32).to_be_bytes().to_vec(), SampleType::I32),
        (64, |v| v.to_be_bytes().to_vec(), SampleType::I64),
    ];
    for &(bitpix, encode, dtype) in cases {
        let data: Vec<u8> = raw.iter().flat_map(|&v| encode(v)).collect();
        let extra = [("BSCALE", "2.0"), ("BZERO", "10.0"), ("BLANK", "99")];
        let r = ok("i.fits", &fits(bitpix, &[3, 2], &extra, &data));
        assert_eq!(r.meta.dtype, Some(dtype), "BITPIX {bitpix}");
        assert_eq!(r.meta.format, "FITS");
        // Row 0 of the raster is the FITS top row (raw 3, 4, 99).
        assert_eq!(&r.bands[0][..2], &[16.0, 18.0]);
        assert!(r.bands[0][2].is_nan());
        assert_eq!(&r.bands[0][3..], &[10.0, 12.0, 14.0]);
        assert_eq!(r.valid.as_deref(), Some(&[true, true, false, true, true, true][..]));
        assert_eq!(r.meta.nodata, Some(99.0 * 2.0 + 10.0));
        assert!(!r.is_valid(0, 2) && r.is_valid(0, 0));
    }
    for (bitpix, data) in [
        (-32, f32_be(&[0.5, f32::NAN, -2.0, 1e30, 3.0, -0.25])),
        (-64, [0.5, f64::NAN, -2.0, 1e30, 3.0, -0.25].iter().flat_map(|v: &f64| v.to_be_bytes()).collect()),
    ] {
        let r = ok("f.fits", &fits(bitpix, &[3, 2], &[("BLANK", "5")], &data));
        assert_eq!(r.meta.dtype, Some(if bitpix == -32 { SampleType::F32 } else { SampleType::F64 }));
        let v = &r.bands[0];
        assert_eq!((v[0], v[1], v[2], v[3], v[5]), (1e30, 3.0, -0.25, 0.5, -2.0));
        assert!(v[4].is_nan(), "NaN stays NaN");
        assert_eq!(r.valid, None, "BLANK applies to integer images only");
    }
}

#[test]
fn fits_unsigned_16_bit_convention() {
    let data: Vec<u8> = [-32768i16, 0, 32767, -1].iter().flat_map(|v| v.to_be_bytes()).collect();
    let r = ok("u.fits", &fits(16, &[2, 2], &[("BSCALE", "1.0"), ("BZERO", "32768")], &data));
    assert_eq!(r.meta.dtype, Some(SampleType::U16));
    assert_eq!(r.bands[0], vec![65535.0, 32767.0, 0.0, 32768.0]);
}

#[test]
fn fits_axes_planes_and_row_flip() {
    let values: Vec<f32> = (0..6).map(|v| v as f32).collect();
    let r = ok("d.fits", &fits(-32, &[3, 2, 1, 1], &[], &f32_be(&values)));
    assert_eq!((r.width, r.height, r.band_count()), (3, 2, 1));
    assert_eq!(r.bands[0], vec![3.0, 4.0, 5.0, 0.0, 1.0, 2.0]);
    assert!(r.meta.notes.iter().any(|n| n == "rows flipped: FITS y axis points up"));
    let r = ok("d.fits", &fits(-32, &[3, 2, 1], &[], &f32_be(&values)));
    assert_eq!(r.band_count(), 1);

    let cube: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let r = ok("c.fits", &fits(-32, &[3, 2, 2], &[], &f32_be(&cube)));
    assert_eq!(r.band_count(), 2);
    assert_eq!(r.bands[1], vec![9.0, 10.0, 11.0, 6.0, 7.0, 8.0]);
    let small = LoadOptions { max_samples: 10, ..LoadOptions::default() };
    let e = load_bytes(Path::new("c.fits"), &fits(-32, &[3, 2, 2], &[], &f32_be(&cube)), &small).unwrap_err();
    assert!(matches!(e, IoError::TooLarge { bands: 2, .. }), "{e}");

    // A 1-D array (a spectrum, a light curve) is one row.
    let r = ok("1d.fits", &fits(-32, &[6], &[], &f32_be(&values)));
    assert_eq!((r.width, r.height, r.bands[0].clone()), (6, 1, values.clone()));
    assert!(r.meta.notes.iter().any(|n| n.contains("1-D array of 6 samples")), "{:?}", r.meta.notes);
}

#[test]
fn fits_wcs_unit_beam_and_crs() {
    let extra = [
        ("BUNIT", "'JY/BEAM '"),
        ("CTYPE1", "'RA---NCP'"),
        ("CDELT1", "-4.16666666667E-04"),
        ("CTYPE2", "'DEC--NCP'"),
        ("CDELT2", "4.16666666667D-04"),
        ("BMAJ", "1.80555555556E-03"),
        ("BMIN", "9.02777777778E-04"),
        ("BPA", "-30.5"),
    ];
    let r = ok("w.fits", &fits(-32, &[2, 2], &extra, &f32_be(&[0.0; 4])));
    let px = r.meta.pixel_size.clone().unwrap();
    assert!((px.x - 1.5).abs() < 1e-6 && (px.y - 1.5).abs() < 1e-6, "{px:?}");
    assert_eq!((px.unit, px.source.as_str()), (PixelUnit::Arcsec, "FITS CDELT1/CDELT2"));
    let beam = r.meta.beam.unwrap();
    assert!((beam.major_arcsec - 6.5).abs() < 1e-6 && (beam.minor_arcsec - 3.25).abs() < 1e-6);
    assert_eq!(beam.pa_deg, -30.5);
    assert_eq!(r.meta.unit.as_deref(), Some("Jy/beam"));
    assert_eq!(r.meta.crs.as_deref(), Some("RA---NCP / DEC--NCP"));

    // A rotated CD matrix: 2 arcsec along x, 3 arcsec along y.
    let (s1, s2, t) = (2.0 / 3600.0, 3.0 / 3600.0, 0.3f64);
    let cd = [-s1 * t.cos(), s2 * t.sin(), s1 * t.sin(), s2 * t.cos()].map(|v| format!("{v:.15E}"));
    let extra = [("CD1_1", cd[0].as_str()), ("CD1_2", &cd[1]), ("CD2_1", &cd[2]), ("CD2_2", &cd[3])];
    let r = ok("cd.fits", &fits(-32, &[2, 2], &extra, &f32_be(&[0.0; 4])));
    let px = r.meta.pixel_size.unwrap();
    assert!((px.x - 2.0).abs() < 1e-9 && (px.y - 3.0).abs() < 1e-9, "{px:?}");
    assert_eq!(px.source, "FITS CD matrix");

    // Non-angular axes get no pixel size.
    let extra = [("CTYPE1", "'FREQ'"), ("CDELT1", "1.0E6"), ("CTYPE2", "'TIME'"), ("CDELT2", "10.0")];
    let r = ok("f.fits", &fits(-32, &[2, 2], &extra, &f32_be(&[0.0; 4])));
    assert_eq!(r.meta.pixel_size, None);
}

#[test]
fn fits_image_extension_when_primary_is_empty() {
    let mut bytes = hdu(&[("SIMPLE", "T".into()), ("BITPIX", "8".into()), ("NAXIS", "0".into())], &[]);
    let table = [
        ("XTENSION", "'BINTABLE'".to_string()),
        ("BITPIX", "8".into()),
        ("NAXIS", "2".into()),
        ("NAXIS1", "4".into()),
        ("NAXIS2", "3".into()),
        ("PCOUNT", "0".into()),
        ("GCOUNT", "1".into()),
    ];
    bytes.extend(hdu(&table, &[7; 12]));
    let image = [
        ("XTENSION", "'IMAGE   '".to_string()),
        ("BITPIX", "-32".into()),
        ("NAXIS", "2".into()),
        ("NAXIS1", "2".into()),
        ("NAXIS2", "1".into()),
        ("EXTNAME", "'SCI'".into()),
    ];
    bytes.extend(hdu(&image, &f32_be(&[1.5, 2.5])));
    let r = ok("ext.fits", &bytes);
    assert_eq!(r.bands[0], vec![1.5, 2.5]);
    assert!(r.meta.notes.iter().any(|n| n.contains("extension HDU 2 'SCI'")), "{:?}", r.meta.notes);

    let empty = hdu(&[("SIMPLE", "T".into()), ("BITPIX", "8".into()), ("NAXIS", "0".into())], &[]);
    assert!(matches!(err("empty.fits", &empty), IoError::Unsupported { .. }));
}

#[test]
fn fits_corrupt_and_lying_headers() {
    let good = fits(-32, &[24, 30], &[], &f32_be(&[1.0; 720]));
    let e = err("t.fits", &good[..2880 + 1000]);
    let msg = e.to_string();
    assert!(
        matches!(e, IoError::Corrupt { .. }) && msg.contains("2880 bytes") && msg.contains("1000 present"),
        "{msg}"
    );

    let no_end: Vec<u8> =
        ["SIMPLE  =                    T", "BITPIX  =                  -32", "NAXIS   =                    0"]
            .iter()
            .flat_map(|c| format!("{c:<80}").into_bytes())
            .collect();
    assert!(matches!(err("e.fits", &no_end), IoError::Corrupt { .. }));

    assert!(matches!(err("b.fits", &fits(24, &[2, 2], &[], &[0; 12])), IoError::Unsupported { .. }));
    match err("h.fits", &fits(-32, &[1_000_000_000, 1_000_000_000], &[], &[0; 16])) {
        IoError::TooLarge { width, height, .. } => assert_eq!((width, height), (1_000_000_000, 1_000_000_000)),
        e => panic!("expected TooLarge, got {e}"),
    }
    let e = err("h.fits", &fits(-32, &[2, 2, 4_000_000_000, 4_000_000_000], &[], &[0; 16]));
    assert!(matches!(e, IoError::TooLarge { .. }), "{e}");
    let e = err("n.fits", &fits(-32, &[2], &[], &[0; 8])[..2880]);
    assert!(matches!(e, IoError::Corrupt { .. }) && e.to_string().contains("truncated"), "{e}");
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_dialects() {
    let expected = vec![1.0, 2.5, -3.0, 4e3, 0.0, 6.0];
    for (name, text) in [
        ("a.csv", "1,2.5,-3\n4e3,0,6\n"),
        ("a.csv", "1, 2.5, -3\r\n4e3, 0, 6"),
        ("a.csv", "1;2,5;-3\n4e3;0;6\n"),
        ("a.txt", "  1 2.5   -3\n4e3\t 0 6\n\n"),
        ("a.csv", "x,y,z\n1,2.5,-3\n# comment\n4e3,0,6\n"),
    ] {
        let r = ok(name, text.as_bytes());
        assert_eq!((r.width, r.height), (3, 2), "{text:?}");
        assert_eq!(r.bands[0], expected, "{text:?}");
        assert_eq!(r.meta.format, "CSV grid");
        assert_eq!(r.meta.dtype, None);
    }
    let r = ok("a.tsv", b"1\t2.5\t-3\n4e3\t0\t6\n");
    assert_eq!((r.meta.format.as_str(), r.bands[0].clone()), ("TSV grid", expected));
    let r = ok("h.csv", b"a,b\n1,2\n");
    assert!(r.meta.notes.iter().any(|n| n.contains("header")));

    let r = ok("n.csv", b"1,,NA\nnan,NaN,2\n");
    let nan = r.bands[0].iter().filter(|v| v.is_nan()).count();
    assert_eq!(nan, 4);
}

#[test]
fn csv_errors() {
    let e = err("r.csv", b"1,2,3\n4,5,6\n7,8\n").to_string();
    assert!(e.contains("line 3") && e.contains("2 values") && e.contains("3"), "{e}");
    let e = err("w.csv", b"1,2,3\n4,five,6\n").to_string();
    assert!(e.contains("line 2, column 2") && e.contains("'five'"), "{e}");
    assert!(matches!(err("e.csv", b"\n\n  \n"), IoError::Corrupt { .. }));
    let big = "1,2,3,4\n".repeat(10);
    let e = load_bytes(Path::new("b.csv"), big.as_bytes(), &LoadOptions { max_samples: 39, ..LoadOptions::default() })
        .unwrap_err();
    assert!(matches!(e, IoError::TooLarge { width: 4, height: 10, bands: 1, .. }), "{e}");
}

// ---------------------------------------------------------------- robustness

/// xorshift64*: deterministic pseudo-random bytes.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.max(1);
    (0..len)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

fn small_files() -> Vec<(&'static str, Vec<u8>)> {
    let npy_file = npy("<f4", false, &[3, 2], &f32_le(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    vec![
        ("s.npy", npy_file.clone()),
        ("s.npz", npz(&[("s.npy", npy_file)])),
        ("s.fits", fits(-32, &[24, 30], &[("BUNIT", "'K'")], &f32_be(&[1.0; 720]))),
    ]
}

#[test]
fn every_prefix_of_a_valid_file_is_an_error() {
    for (name, bytes) in small_files() {
        ok(name, &bytes);
        for len in 0..bytes.len() {
            assert!(load_bytes(Path::new(name), &bytes[..len], &opts()).is_err(), "{name} cut at {len}");
        }
    }
    // A CSV prefix is often a valid smaller grid: it only has to load or fail without panicking.
    let csv = b"a,b,c\n1,2,3\n4,5,6\n";
    for len in 0..csv.len() {
        let _ = load_bytes(Path::new("s.csv"), &csv[..len], &opts());
    }
}

#[test]
fn garbage_and_mutations_never_panic() {
    let prefixes: [&[u8]; 5] =
        [b"", b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"PK\x03\x04", b"SIMPLE  =                    T"];
    for seed in 1..200u64 {
        let body = noise(seed, (seed as usize * 37) % 4000 + 1);
        for prefix in prefixes {
            let bytes = [prefix, &body].concat();
            for name in ["g.npy", "g.npz", "g.fits", "g.csv"] {
                let r = load_bytes(Path::new(name), &bytes, &opts());
                assert!(r.is_err(), "{name} seed {seed}: garbage loaded");
            }
        }
    }
    // Flipped bytes in valid files (headers included) may load or fail, but never panic.
    for (name, bytes) in small_files() {
        for seed in 0..400u64 {
            let mut b = bytes.clone();
            let r = noise(seed + 1000, 3);
            let at = (usize::from(r[0]) << 8 | usize::from(r[1])) % b.len().min(3000);
            b[at] = r[2];
            let _ = load_bytes(Path::new(name), &b, &opts());
        }
    }
}

// ---------------------------------------------------------------- real data

#[test]
fn real_atca_fits_images() {
    let Some(dir) = common::real_data() else { return };
    for name in ["caesar_ScorpioExtendedSourceField.fits", "caesar_ScorpioS17Field.fits"] {
        let path = dir.join("radio").join(name);
        if !path.is_file() {
            eprintln!("SKIPPED: real data not found at {}", path.display());
            continue;
        }
        let r = load(&path, &opts()).unwrap();
        assert_eq!((r.width, r.height, r.band_count()), (1000, 1000, 1), "{name}");
        let px = r.meta.pixel_size.clone().unwrap();
        assert!((px.x - 1.5).abs() < 1e-3 && (px.y - 1.5).abs() < 1e-3, "{px:?}");
        assert_eq!(px.unit, PixelUnit::Arcsec);
        let beam = r.meta.beam.unwrap();
        assert!((beam.major_arcsec - 6.5).abs() < 1e-3 && (beam.minor_arcsec - 6.5).abs() < 1e-3);
        assert_eq!(r.meta.unit.as_deref(), Some("Jy/beam"));
        assert_eq!(r.meta.crs.as_deref(), Some("RA---NCP / DEC--NCP"));
        // Top-left raster pixel = FITS (1, 1000); astropy 8.0.2 all_pix2world gives this.
        let (ra, dec) = r.meta.wcs.expect("NCP coordinates").world(0.0, 0.0).expect("on the sky");
        assert!((ra - 257.40243698).abs() < 1e-7 && (dec + 42.99974993).abs() < 1e-7, "{ra} {dec}");
        // These two files hold no NaN pixels (checked independently); values are a few mJy/beam.
        let finite: Vec<f32> = r.bands[0].iter().copied().filter(|v| v.is_finite()).collect();
        assert!(!finite.is_empty(), "{name}");
        let max = finite.iter().copied().fold(f32::MIN, f32::max);
        assert!(max > 0.01 && max < 1.0, "{name}: max {max} Jy/beam");
    }
}

#[test]
fn real_spectrum_npy_arrays() {
    let Some(dir) = common::real_data() else { return };
    let cases = [
        ("spectrum/parkes_J0437_dynspec/p111220_084944_flux_freq_x_time.npy", 121, 512),
        ("spectrum/sg_radiomap_golden/l1_only.npy", 256, 256),
    ];
    for (name, w, h) in cases {
        let path = dir.join(name);
        if !path.is_file() {
            eprintln!("SKIPPED: real data not found at {}", path.display());
            continue;
        }
        let r = load(&path, &opts()).unwrap();
        assert_eq!((r.width, r.height, r.band_count()), (w, h, 1), "{name}");
        assert_eq!(r.meta.dtype, Some(SampleType::F32));
        assert!(r.bands[0].iter().all(|v| v.is_finite()), "{name}");
    }
}

#[test]
fn the_parkes_dynamic_spectrum_reads_with_its_time_and_frequency_axes() {
    let Some(root) = common::real_data() else { return };
    let dir = root.join("spectrum/parkes_J0437_dynspec");
    let text = heatscope::io::load(&dir.join("p111220_084944.rf.pcm.dynspec"), &LoadOptions::default()).unwrap();
    assert_eq!((text.width, text.height), (121, 512));
    let a = text.meta.axes.clone().expect("axes");
    // 1581.6 -> 1182.4 MHz down the rows, -0.781 MHz a channel; sub-integrations ~0.53 min apart.
    assert!((a.y.at(0.0) - 1581.609).abs() < 1e-3 && (a.y.at(511.0) - 1182.390).abs() < 1e-3, "{a:?}");
    assert!((a.y.step + 0.781).abs() < 1e-3 && (a.x.step - 0.532).abs() < 0.01, "{a:?}");
    // The same samples as the float32 array converted from it (flagged zeros are nodata here).
    let npy = heatscope::io::load(&dir.join("p111220_084944_flux_freq_x_time.npy"), &LoadOptions::default()).unwrap();
    assert_eq!((npy.width, npy.height), (121, 512));
    let mut compared = 0;
    for (t, n) in text.bands[0].iter().zip(&npy.bands[0]) {
        if t.is_finite() {
            assert!((t - n).abs() <= 1e-6 * n.abs().max(1.0), "{t} vs {n}");
            compared += 1;
        } else {
            assert_eq!(*n, 0.0);
        }
    }
    assert!(compared > 40_000, "{compared}");
}
