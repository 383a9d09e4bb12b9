//! Fuzzing the loaders on stable Rust (`heatscope fuzz`): mutants of real files and of small files
//! made here go through `io::load_bytes`, and every panic, hang or load over the memory budget is
//! reported with the mutant saved for a regression test. Mutations are byte-level (`mutate`) and
//! structure-aware per format (`structure`); the campaign runner is `run`. Seeds come from a folder
//! (the real data) and from [`builtin_seeds`], so a fresh clone can fuzz too. Runs on the CLI's
//! thread plus one named loader thread.

pub mod mutate;
pub mod run;
pub mod structure;

use std::path::{Path, PathBuf};

pub use run::{Campaign, TargetReport, run_campaign};

/// A loader to fuzz: one per file format.
pub use crate::io::Format as Target;

/// The format named `s` (`jpg` and `tif` too).
pub fn parse_target(s: &str) -> Option<Target> {
    let s = s.trim().to_ascii_lowercase();
    Target::ALL.into_iter().find(|t| t.name() == s || t.extension() == s)
}

/// One seed: where it came from and its bytes.
#[derive(Clone, Debug)]
pub struct Seed {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Seeds for `target` from `dir` (searched recursively; files over `max_bytes` skipped), plus what
/// real files can make for formats the folder lacks: `.npz` archives of its `.npy` arrays and CSV
/// text of their first rows.
pub fn folder_seeds(dir: &Path, target: Target, max_bytes: u64) -> Vec<Seed> {
    let mut files = Vec::new();
    collect(dir, &mut files, 0);
    files.sort();
    let small = |p: &PathBuf| std::fs::metadata(p).is_ok_and(|m| m.len() <= max_bytes);
    let read = |p: &PathBuf| std::fs::read(p).ok().map(|bytes| Seed { name: p.display().to_string(), bytes });
    let of = |t: Target| files.iter().filter(move |p| Target::of_extension(p) == Some(t) && small(p)).filter_map(read);
    let mut seeds: Vec<Seed> = of(target).collect();
    match target {
        Target::Npz => seeds.extend(of(Target::Npy).filter_map(|s| {
            let bytes = structure::npz_file("array.npy", &s.bytes, true)?;
            Some(Seed { name: format!("{} (zipped)", s.name), bytes })
        })),
        Target::Csv => seeds.extend(of(Target::Npy).filter_map(|s| {
            let r = crate::io::load_bytes(Path::new("seed.npy"), &s.bytes, &crate::io::LoadOptions::default()).ok()?;
            let (w, h) = (r.width.min(24), r.height.min(24));
            let text: Vec<String> = (0..h)
                .map(|y| (0..w).map(|x| r.bands[0][y * r.width + x].to_string()).collect::<Vec<_>>().join(","))
                .collect();
            Some(Seed { name: format!("{} (as CSV)", s.name), bytes: text.join("\n").into_bytes() })
        })),
        _ => {}
    }
    seeds
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && depth < 4 {
            collect(&p, out, depth + 1);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

/// Small valid files of `target` made here: several sample types, band counts and layouts.
pub fn builtin_seeds(target: Target) -> Vec<Seed> {
    use image::{DynamicImage, ImageFormat};
    let seed = |name: &str, bytes: Vec<u8>| Seed { name: format!("built-in {name}"), bytes };
    let encode = |img: DynamicImage, format: ImageFormat| {
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), format).ok().map(|()| out)
    };
    let gray = image::GrayImage::from_fn(32, 24, |x, y| image::Luma([(x * 7 + y * 3) as u8]));
    let rgba16 = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_fn(16, 16, |x, y| {
        image::Rgba([(x * 4000) as u16, (y * 4000) as u16, 77, if x == 3 { 0 } else { 65535 }])
    });
    let rgb = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, ((x + y) * 3) as u8]));
    let f32_plane: Vec<u8> = (0..30).flat_map(|i| (i as f32 * 0.5 - 3.0).to_le_bytes()).collect();
    let npy_plain = structure::npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (6, 5), }", &f32_plane);
    let npy_cube = structure::npy_file(
        "{'descr': '>i2', 'fortran_order': False, 'shape': (3, 4, 5), }",
        &(0..60i16).flat_map(|v| (v - 20).to_be_bytes()).collect::<Vec<_>>(),
    );
    let npy_fortran = structure::npy_file(
        "{'descr': '<f8', 'fortran_order': True, 'shape': (4, 6), }",
        &(0..24).flat_map(|v| f64::from(v).to_le_bytes()).collect::<Vec<_>>(),
    );
    let out: Vec<Option<Seed>> = match target {
        Target::Png => vec![
            encode(DynamicImage::ImageLuma8(gray), ImageFormat::Png).map(|b| seed("gray8.png", b)),
            encode(DynamicImage::ImageRgba16(rgba16), ImageFormat::Png).map(|b| seed("rgba16.png", b)),
            encode(DynamicImage::ImageRgb8(rgb), ImageFormat::Png).map(|b| seed("rgb8.png", b)),
        ],
        Target::Jpeg => vec![
            encode(DynamicImage::ImageRgb8(rgb), ImageFormat::Jpeg).map(|b| seed("rgb.jpg", b)),
            encode(DynamicImage::ImageLuma8(gray), ImageFormat::Jpeg).map(|b| seed("gray.jpg", b)),
        ],
        Target::Tiff => vec![
            tiff_seed().map(|b| seed("geo-f32.tif", b)),
            encode(DynamicImage::ImageRgb8(rgb), ImageFormat::Tiff).map(|b| seed("rgb8.tif", b)),
        ],
        Target::Npy => vec![
            Some(seed("f4.npy", npy_plain)),
            Some(seed("i2-cube.npy", npy_cube)),
            Some(seed("f8-fortran.npy", npy_fortran)),
        ],
        Target::Npz => vec![
            structure::npz_file("grid.npy", &npy_plain, true).map(|b| seed("f4.npz", b)),
            structure::npz_file("cube.npy", &npy_cube, false).map(|b| seed("stored.npz", b)),
        ],
        Target::Fits => vec![
            Some(seed("f32.fits", fits_seed(-32))),
            Some(seed("i16-blank.fits", fits_seed(16))),
            // Tile-compressed (RICE_1, six tiles), written by astropy (tools/make_fits_tiles_fixtures.py).
            Some(seed("rice-i16.fits", include_bytes!("seeds/rice-i16.fits").to_vec())),
        ],
        // Written by OpenJPEG (tools/make_jp2_fixtures.py): heatscope writes no JPEG 2000 itself.
        Target::Jp2 => vec![
            Some(seed("gray16.jp2", include_bytes!("seeds/gray16.jp2").to_vec())),
            Some(seed("rgb8.j2k", include_bytes!("seeds/rgb8.j2k").to_vec())),
        ],
        Target::Dynspec => vec![Some(seed(
            "tiny.dynspec",
            b"# Dynamic spectrum computed by psrflux\n# Flux units: ReferenceFluxDensity\n# MJD0: 55915.36\n\
              0 0 0.2 1581.6 1.5 0\n0 1 0.2 1580.8 0 0\n1 0 0.7 1581.6 3.0 0\n1 1 0.7 1580.8 4.0 0\n"
                .to_vec(),
        ))],
        Target::Csv => vec![
            Some(seed("grid.csv", b"1,2,3\n4,5.5,-6\n7,8,9e3\n".to_vec())),
            Some(seed("grid.tsv", b"# comment\n0.5\t1\n2\tnan\n".to_vec())),
        ],
    };
    out.into_iter().flatten().collect()
}

/// A 12 x 9 float32 GeoTIFF with a pixel scale, a tie point and a key directory.
fn tiff_seed() -> Option<Vec<u8>> {
    use tiff::encoder::{TiffEncoder, colortype};
    use tiff::tags::Tag;
    let mut file = std::io::Cursor::new(Vec::new());
    let mut enc = TiffEncoder::new(&mut file).ok()?;
    let mut img = enc.new_image::<colortype::Gray32Float>(12, 9).ok()?;
    img.encoder().write_tag(Tag::ModelPixelScaleTag, &[30.0f64, 30.0, 0.0][..]).ok()?;
    img.encoder().write_tag(Tag::ModelTiepointTag, &[0.0f64, 0.0, 0.0, 5e5, 4.5e6, 0.0][..]).ok()?;
    img.encoder().write_tag(Tag::GeoKeyDirectoryTag, &[1u16, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 32618][..]).ok()?;
    let data: Vec<f32> = (0..108).map(|i| i as f32 * 0.25).collect();
    img.write_data(&data).ok()?;
    Some(file.into_inner())
}

/// A small FITS image: 8 x 6 of BITPIX `bitpix` (-32 or 16), with scaling and a BLANK for integers.
fn fits_seed(bitpix: i32) -> Vec<u8> {
    let mut cards = vec![
        "SIMPLE  =                    T".to_string(),
        format!("BITPIX  = {bitpix:>20}"),
        "NAXIS   =                    2".into(),
        "NAXIS1  =                    8".into(),
        "NAXIS2  =                    6".into(),
        "BUNIT   = 'JY/BEAM '".into(),
        "CDELT1  =          -0.00041667".into(),
        "CDELT2  =           0.00041667".into(),
    ];
    if bitpix > 0 {
        cards.extend([
            "BSCALE  =                  0.5".into(),
            "BZERO   =                 10.0".into(),
            "BLANK   =               -32768".into(),
        ]);
    }
    cards.push("END".into());
    let mut out: Vec<u8> = cards.iter().flat_map(|c| format!("{c:<80}").into_bytes()).collect();
    out.resize(2880, b' ');
    let values: Vec<u8> = if bitpix > 0 {
        (0..48i16).flat_map(|v| if v == 5 { (-32768i16).to_be_bytes() } else { (v * 3).to_be_bytes() }).collect()
    } else {
        (0..48).flat_map(|v| (v as f32 * 0.1).to_be_bytes()).collect()
    };
    out.extend(values);
    out.resize(out.len().div_ceil(2880) * 2880, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_seed_loads() {
        for t in Target::ALL {
            let seeds = builtin_seeds(t);
            assert!(!seeds.is_empty(), "{t:?}");
            for s in seeds {
                let path = PathBuf::from(format!("seed.{}", t.extension()));
                let r = crate::io::load_bytes(&path, &s.bytes, &crate::io::LoadOptions::default());
                assert!(r.is_ok(), "{}: {:?}", s.name, r.err());
            }
            assert_eq!((parse_target(t.name()), parse_target(t.extension())), (Some(t), Some(t)));
        }
    }
}
