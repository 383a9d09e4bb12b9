//! Tests of the FITS image read a part at a time: every path gives what the in-memory reader gives.

use super::*;

/// A FITS HDU: `cards` (keyword, value as written) padded to blocks, then `data` padded.
fn hdu(cards: &[(&str, &str)], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in cards {
        let card = format!("{key:<8}= {value:>20}");
        out.extend(format!("{card:<80}").bytes());
    }
    out.extend(format!("{:<80}", "END").bytes());
    out.resize(out.len().next_multiple_of(BLOCK), b' ');
    out.extend(data);
    out.resize(out.len().next_multiple_of(BLOCK), 0);
    out
}

/// `w` x `h` int16 samples (bottom FITS row first), every 11th BLANK.
fn int16_data(w: usize, h: usize) -> Vec<u8> {
    (0..w * h).flat_map(|i| if i % 11 == 4 { i16::MIN } else { (i % 500) as i16 - 200 }.to_be_bytes()).collect()
}

fn int16_cards(w: usize, h: usize, naxis3: Option<usize>) -> Vec<(&'static str, String)> {
    let mut cards = vec![
        ("SIMPLE", "T".to_string()),
        ("BITPIX", "16".into()),
        ("NAXIS", if naxis3.is_some() { "3" } else { "2" }.into()),
        ("NAXIS1", w.to_string()),
        ("NAXIS2", h.to_string()),
    ];
    if let Some(n) = naxis3 {
        cards.push(("NAXIS3", n.to_string()));
    }
    cards.extend([
        ("BSCALE", "0.5".to_string()),
        ("BZERO", "10.0".into()),
        ("BLANK", "-32768".into()),
        ("BUNIT", "'JY/BEAM '".into()),
        ("CTYPE1", "'RA---SIN'".into()),
        ("CTYPE2", "'DEC--SIN'".into()),
        ("CDELT1", "-0.001".into()),
        ("CDELT2", "0.001".into()),
    ]);
    cards
}

fn as_refs<'a>(cards: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    cards.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn written(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("image.fits");
    std::fs::write(&path, bytes).expect("write");
    (dir, path)
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// `read_file` of `bytes` equals `fits::read` of them: bands bit for bit, mask and metadata.
fn assert_reads_as_in_memory(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf, Raster) {
    let (dir, path) = written(bytes);
    let want = super::super::read(&path, bytes, &LoadOptions::default()).expect("the in-memory read");
    let file = std::fs::File::open(&path).expect("open");
    let got = read_file(&path, &file, &LoadOptions::default()).expect("reads").expect("read from the file");
    assert_eq!((got.width, got.height, got.band_count()), (want.width, want.height, want.band_count()));
    assert!(got.bands.iter().zip(&want.bands).all(|(a, b)| same_bits(a, b)));
    assert_eq!(got.valid, want.valid);
    assert_eq!(got.meta, want.meta);
    (dir, path, got)
}

#[test]
fn a_scaled_integer_image_with_blanks_reads_streams_and_windows_as_in_memory() {
    let (w, h) = (70, 45);
    let bytes = hdu(&as_refs(&int16_cards(w, h, None)), &int16_data(w, h));
    let (_dir, path, full) = assert_reads_as_in_memory(&bytes);
    assert!(full.valid.as_ref().is_some_and(|m| m.iter().any(|v| !v)), "BLANK pixels are masked");
    assert_eq!(full.bands[0][(h - 1) * w + 1], (-199.0 * 0.5 + 10.0) as f32, "FITS row 0 is the bottom");
    let opts = LoadOptions::default();
    let loaded = crate::io::load(&path, &opts).expect("io::load");
    assert!(same_bits(&loaded.bands[0], &full.bands[0]));
    // The overview streamed bottom-up from the file is the averaged full read's, block for block.
    let preview = crate::io::preview(&path, &opts, 16, &|| false).expect("reads").expect("streams");
    let (small, factor) = crate::stats::downsample_to_fit(&full, 16);
    let shown = small.masked_as_nan().unwrap_or(small);
    assert_eq!((preview.factor, preview.width, preview.height), (factor, w, h));
    assert!(same_bits(&preview.overview.bands[0], &shown.bands[0]));
    assert_eq!(preview.meta.wcs, full.meta.wcs);
    assert!(preview.windows);
    for window in [[0, 0, 70, 45], [13, 7, 20, 30], [69, 44, 5, 5], [3, 40, 10, 1]] {
        let win = crate::io::read_window(&path, &opts, window).expect("reads").expect("by window");
        let expected = crate::stats::window_mean(&full, window, 1);
        assert_eq!((win.width, win.height), (expected.width, expected.height));
        assert!(same_bits(&win.bands[0], &expected.bands[0]), "window {window:?}");
    }
    // A first look: the centre pixel of each 5 x 5 block (the last blocks are partial).
    let file = std::fs::File::open(&path).expect("open");
    let look = glance_file(&path, &file, &opts, [16, 0], &|| false).expect("reads").expect("a first look");
    assert_eq!((look.factor, look.overview.width, look.overview.height, look.look), (5, 14, 9, Look::Sampled));
    for (gy, y) in [(0, 2), (8, 42)] {
        for (gx, x) in [(0, 2), (13, 67)] {
            let (got, want) = (look.overview.bands[0][gy * 14 + gx], full.bands[0][y * w + x]);
            assert_eq!(got.to_bits(), want.to_bits(), "block ({gx}, {gy})");
        }
    }
    assert!(glance_file(&path, &file, &opts, [16, w * h + 1], &|| false).expect("reads").is_none(), "too small");
    assert!(glance_file(&path, &file, &opts, [16, 0], &|| true).expect("reads").is_none(), "cancelled");
    assert!(crate::io::preview(&path, &opts, 16, &|| true).expect("no error").is_none(), "cancelled");
    assert!(crate::io::preview(&path, &opts, 70, &|| false).expect("no error").is_none(), "fits the texture");
}

#[test]
fn an_extension_image_and_a_cube_read_as_in_memory_and_cubes_do_not_stream() {
    // The primary holds no data; the image is in extension 1.
    let primary = hdu(&[("SIMPLE", "T"), ("BITPIX", "8"), ("NAXIS", "0")], &[]);
    let data: Vec<u8> = (0..30 * 20).flat_map(|i| (i as f32 * 0.25).to_be_bytes()).collect();
    let cards = [
        ("XTENSION", "'IMAGE   '"),
        ("BITPIX", "-32"),
        ("NAXIS", "2"),
        ("NAXIS1", "30"),
        ("NAXIS2", "20"),
        ("PCOUNT", "0"),
        ("GCOUNT", "1"),
        ("EXTNAME", "'SCI     '"),
    ];
    let bytes = [primary, hdu(&cards, &data)].concat();
    let (_dir, path, full) = assert_reads_as_in_memory(&bytes);
    assert!(full.meta.notes.iter().any(|n| n.contains("extension HDU 1 'SCI'")), "{:?}", full.meta.notes);
    assert!(crate::io::preview(&path, &LoadOptions::default(), 8, &|| false).expect("reads").is_some());
    // Two planes: read from the file, but neither streamed nor windowed.
    let (w, h) = (40, 30);
    let bytes = hdu(&as_refs(&int16_cards(w, h, Some(2))), &[int16_data(w, h), int16_data(w, h)].concat());
    let (_dir, path, full) = assert_reads_as_in_memory(&bytes);
    assert_eq!(full.band_count(), 2);
    let opts = LoadOptions::default();
    assert!(crate::io::preview(&path, &opts, 8, &|| false).expect("reads").is_none());
    assert!(crate::io::read_window(&path, &opts, [0, 0, 4, 4]).expect("reads").is_none());
}

#[test]
fn truncated_and_compressed_files_are_left_to_the_in_memory_reader() {
    let (w, h) = (70, 45);
    let mut bytes = hdu(&as_refs(&int16_cards(w, h, None)), &int16_data(w, h));
    bytes.truncate(BLOCK + 1000);
    let (_dir, path) = written(&bytes);
    let file = std::fs::File::open(&path).expect("open");
    assert!(read_file(&path, &file, &LoadOptions::default()).expect("no error").is_none());
    let err = crate::io::load(&path, &LoadOptions::default()).expect_err("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");
    // A header with no END card, and a file that is one card long.
    let (_dir, path) = written(&[b"SIMPLE  =                    T".as_slice(), &[b' '; 50]].concat());
    let file = std::fs::File::open(&path).expect("open");
    assert!(read_file(&path, &file, &LoadOptions::default()).expect("no error").is_none());
    assert!(crate::io::load(&path, &LoadOptions::default()).is_err());
    // A tile-compressed image (a BINTABLE with ZIMAGE = T) is the in-memory reader's.
    let primary = hdu(&[("SIMPLE", "T"), ("BITPIX", "8"), ("NAXIS", "0")], &[]);
    let table = hdu(
        &[
            ("XTENSION", "'BINTABLE'"),
            ("BITPIX", "8"),
            ("NAXIS", "2"),
            ("NAXIS1", "8"),
            ("NAXIS2", "1"),
            ("ZIMAGE", "T"),
        ],
        &[0; 8],
    );
    let (_dir, path) = written(&[primary, table].concat());
    let file = std::fs::File::open(&path).expect("open");
    assert!(read_file(&path, &file, &LoadOptions::default()).expect("no error").is_none());
}

#[test]
fn the_real_radio_images_read_from_the_file_as_in_memory() {
    let Some(dir) = crate::io::real_data("radio") else { return };
    let entries = std::fs::read_dir(&dir).expect("the radio folder");
    let mut n = 0;
    for path in entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "fits")) {
        let bytes = std::fs::read(&path).expect("read");
        let want = super::super::read(&path, &bytes, &LoadOptions::default()).expect("the in-memory read");
        let file = std::fs::File::open(&path).expect("open");
        let got = read_file(&path, &file, &LoadOptions::default()).expect("reads").expect("read from the file");
        assert!(got.bands.iter().zip(&want.bands).all(|(a, b)| same_bits(a, b)), "{}", path.display());
        assert_eq!((got.valid, got.meta), (want.valid, want.meta), "{}", path.display());
        n += 1;
    }
    assert!(n >= 5, "{n} FITS files in {}", dir.display());
}
