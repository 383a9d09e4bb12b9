"""Write the tile-compressed FITS fixtures and astropy's decoding of every FITS test image.

    pip install astropy numpy      # astropy >= 7 (written with 8.0)
    python3 tools/make_fits_tiles_fixtures.py

(a) tests/fixtures/fits_tiles/*.fits: small images written with astropy's CompImageHDU, one or two
    per layout heatscope must read: every compression (RICE_1, RICE_ONE, GZIP_1, GZIP_2, NOCOMPRESS,
    PLIO_1, HCOMPRESS_1 lossless and lossy with and without smoothing), uint8 / int8 / int16 /
    uint16 / int32 / int64 / float32 / float64, each ZQUANTIZ mode (NO_DITHER,
    SUBTRACTIVE_DITHER_1, SUBTRACTIVE_DITHER_2) with NaN pixels, the lossless GZIP fallback of a
    tile that cannot be quantized, BLANK with BSCALE/BZERO, partial edge tiles (37 x 23 in 16 x 8
    tiles), column and multi-plane tiles, a 3-D cube and 1-D arrays. Pixel values come from fixed
    seeds and the gzip streams carry no timestamp, so a rerun writes the same bytes.
(b) tests/fixtures/fits_tiles/expected/<file>.npy (.npz, deflated, over 64 KiB): for every file of tests/fixtures/astropy-fits and
    tests/fixtures/fits_tiles that astropy reads an image from, that image as float32, rows flipped
    to top row first (heatscope shows FITS rows with the y axis up), NaN where astropy gives NaN;
    1-D arrays as one row, cubes as (planes, rows, cols). The image is the one heatscope picks: the
    primary HDU when it holds data, else the first IMAGE or compressed-image extension with data.
    manifest.json lists every file: whether astropy reads an image, its shape and dtype, the HDU
    it came from, and for the others why not (table, random groups, empty, compress).
(c) src/fuzz/seeds/rice-i16.fits: a small RICE_1 image for `heatscope fuzz --format fits`.
"""

import functools
import gzip
import json
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.fits.hdu.compressed import _codecs

root = Path(__file__).resolve().parent.parent
astropy_dir = root / "tests/fixtures/astropy-fits"
tiles_dir = root / "tests/fixtures/fits_tiles"
expected_dir = tiles_dir / "expected"
seeds_dir = root / "src/fuzz/seeds"
tiles_dir.mkdir(parents=True, exist_ok=True)
expected_dir.mkdir(parents=True, exist_ok=True)

# gzip writes the time into its header: pin it so the fixtures are byte-for-byte reproducible.
_codecs.gzip_compress = functools.partial(gzip.compress, mtime=0)
warnings.simplefilter("ignore")


def sky(h, w, seed, planes=None):
    """A noisy background with a few sources, float64 (a radio or optical field in miniature)."""
    rng = np.random.default_rng(seed)
    shape = (h, w) if planes is None else (planes, h, w)
    y, x = np.mgrid[0:h, 0:w]
    img = rng.normal(100.0, 4.0, shape)
    for _ in range(4):
        cy, cx, a = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(50, 900)
        img = img + a * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * rng.uniform(1.0, 3.0) ** 2))
    return img


def ints(h, w, seed, dtype, planes=None):
    info = np.iinfo(dtype)
    v = sky(h, w, seed, planes)
    if info.bits >= 32:
        v = v * 40_000 - 3_000_000
    elif info.bits == 8:
        v = v / 4
    elif info.min < 0:
        v = v * 20 - 4000
    else:
        v = v * 60
    return np.clip(np.round(v), info.min, info.max).astype(dtype)


def floats(h, w, seed, dtype, nans=True, zeros=False, planes=None):
    v = (sky(h, w, seed, planes) - 100.0) * 0.37
    rng = np.random.default_rng(seed + 1000)
    if zeros:
        v[rng.random(v.shape) < 0.08] = 0.0
    if nans:
        v[rng.random(v.shape) < 0.04] = np.nan
    return v.astype(dtype)


def mask(h, w, seed, dtype):
    """Integer labels in runs, what PLIO_1 is for (non-negative)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    m = ((x // 5 + y // 3) % 4) * (1 + (x * y) % 3)
    m[rng.random(m.shape) < 0.03] = 90
    return m.astype(dtype)


def wcs_header():
    h = fits.Header()
    h["BUNIT"] = "JY/BEAM"
    h["CTYPE1"], h["CTYPE2"] = "RA---SIN", "DEC--SIN"
    h["CDELT1"], h["CDELT2"] = -2.0 / 3600, 2.0 / 3600
    h["CRPIX1"], h["CRPIX2"] = 18.0, 12.0
    h["CRVAL1"], h["CRVAL2"] = 187.5, 12.4
    h["BMAJ"], h["BMIN"], h["BPA"] = 6.0 / 3600, 4.0 / 3600, 30.0
    return h


def add_cards(name, cards):
    """Put cards before END of the compressed HDU's header (astropy drops BSCALE and BZERO when it
    compresses integers; the convention keeps them for the uncompressed image)."""
    path = tiles_dir / name
    raw = bytearray(path.read_bytes())
    end = next(i for i in range(2880, len(raw), 80) if raw[i : i + 8] == b"END     ")
    text = b"".join(f"{k:<8}= {v:>20}".ljust(80).encode() for k, v in cards)
    assert (end - 2880) // 80 + len(cards) < 36, "no room in the header block"
    raw[end : end + 80 + len(text)] = text + b"END".ljust(80)
    path.write_bytes(bytes(raw))


def write(name, data, header=None, **kw):
    hdu = fits.CompImageHDU(data=data, header=header, **kw)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tiles_dir / name, overwrite=True)


def make_tiles():
    i16 = ints(23, 37, 1, np.int16)
    # Integers, every compression; 37 x 23 in 16 x 8 tiles leaves partial tiles on two edges.
    write("rice_i16_partial.fits", i16, wcs_header(), compression_type="RICE_1", tile_shape=(8, 16))
    # astropy writes RICE_ONE as RICE_1: the alias goes in by hand (same card length).
    write("rice_one_i16.fits", ints(16, 24, 2, np.int16), compression_type="RICE_1")
    one = tiles_dir / "rice_one_i16.fits"
    one.write_bytes(one.read_bytes().replace(b"ZCMPTYPE= 'RICE_1  '", b"ZCMPTYPE= 'RICE_ONE'", 1))
    write("rice_u8.fits", ints(16, 24, 3, np.uint8), compression_type="RICE_1")
    write("rice_i8.fits", ints(16, 24, 4, np.int8), compression_type="RICE_1", tile_shape=(4, 24))
    write("rice_u16.fits", ints(16, 24, 5, np.uint16), compression_type="RICE_1")
    write("rice_i32_columns.fits", ints(23, 37, 6, np.int32), compression_type="RICE_1", tile_shape=(23, 5))
    blank = fits.Header()
    blank["BLANK"] = -999
    b = ints(16, 24, 7, np.int16)
    b[3, 4:9] = -999
    b[10, 0] = -999
    write("rice_i16_blank.fits", b, blank, compression_type="RICE_1")
    add_cards("rice_i16_blank.fits", [("BSCALE", "0.5"), ("BZERO", "100.0")])
    write("gzip1_i16.fits", ints(16, 24, 8, np.int16), compression_type="GZIP_1", tile_shape=(8, 16))
    write("gzip1_i64.fits", ints(16, 24, 10, np.int32).astype(np.int64) * 4099, compression_type="GZIP_1")
    write("gzip1_u8.fits", ints(16, 24, 11, np.uint8), compression_type="GZIP_1")
    write("gzip2_i16.fits", ints(23, 37, 12, np.int16), compression_type="GZIP_2", tile_shape=(8, 16))
    write("gzip2_i32.fits", ints(16, 24, 13, np.int32), compression_type="GZIP_2")
    write("nocompress_i16.fits", ints(12, 20, 14, np.int16), compression_type="NOCOMPRESS")
    write("plio_i16.fits", mask(23, 37, 15, np.int16), compression_type="PLIO_1", tile_shape=(8, 16))
    write("plio_u8.fits", mask(16, 24, 16, np.uint8), compression_type="PLIO_1")
    write("plio_i32.fits", mask(16, 24, 17, np.int32) * 1000, compression_type="PLIO_1")
    # HCOMPRESS: lossless (scale 0), lossy (scale 3) with and without smoothing, odd tile sizes.
    write("hcompress_i16.fits", i16, compression_type="HCOMPRESS_1", tile_shape=(8, 16))
    write("hcompress_i32.fits", ints(16, 24, 18, np.int32), compression_type="HCOMPRESS_1", tile_shape=(16, 24))
    write("hcompress_lossy.fits", i16, compression_type="HCOMPRESS_1", tile_shape=(23, 37), hcomp_scale=3)
    write(
        "hcompress_lossy_smooth.fits",
        i16,
        compression_type="HCOMPRESS_1",
        tile_shape=(23, 37),
        hcomp_scale=3,
        hcomp_smooth=1,
    )
    # Quantized floats: each ZQUANTIZ mode, NaN pixels (ZBLANK), zeros kept exact by dither 2.
    f32 = floats(23, 37, 19, np.float32)
    write("rice_f32_nodither.fits", f32, compression_type="RICE_1", quantize_method=-1, tile_shape=(8, 16))
    write("rice_f32_dither1.fits", f32[:16, :24], compression_type="RICE_1", quantize_method=1, dither_seed=9990)
    write(
        "rice_f32_dither2.fits",
        floats(16, 24, 20, np.float32, zeros=True),
        compression_type="RICE_1",
        quantize_method=2,
        dither_seed=77,
        quantize_level=4.0,
    )
    write("rice_f64_dither1.fits", floats(16, 24, 21, np.float64), compression_type="RICE_1", quantize_method=1, dither_seed=5)
    write("gzip1_f32_dither1.fits", floats(16, 24, 22, np.float32), compression_type="GZIP_1", quantize_method=1, dither_seed=123)
    write(
        "hcompress_f32_dither1.fits",
        floats(16, 24, 23, np.float32, nans=False),
        compression_type="HCOMPRESS_1",
        tile_shape=(16, 24),
        quantize_method=1,
        dither_seed=2,
    )
    # A constant tile cannot be quantized: it goes losslessly to GZIP_COMPRESSED_DATA.
    fb = floats(16, 24, 24, np.float32, nans=False)
    fb[8:, :] = 2.5
    write("rice_f32_fallback.fits", fb, compression_type="RICE_1", tile_shape=(8, 24), quantize_method=1, dither_seed=3)
    # Lossless floats (no quantization).
    write("gzip1_f32_lossless.fits", floats(16, 24, 25, np.float32), compression_type="GZIP_1", quantize_level=0.0)
    write("gzip2_f64_lossless.fits", floats(16, 24, 26, np.float64), compression_type="GZIP_2", quantize_level=0.0)
    write("nocompress_f32.fits", floats(12, 20, 27, np.float32), compression_type="NOCOMPRESS", quantize_level=0.0)
    # Cubes (planes become bands) and 1-D arrays (one row).
    write("cube_rice_i16_3dtiles.fits", ints(12, 20, 29, np.int16, planes=3), compression_type="RICE_1", tile_shape=(2, 5, 8))
    write(
        "cube_gzip2_f32_dither2.fits",
        floats(12, 20, 30, np.float32, zeros=True, planes=3),
        compression_type="GZIP_2",
        quantize_method=2,
        dither_seed=600,
    )
    write("cube_hcompress_i16.fits", ints(12, 20, 31, np.int16, planes=3), compression_type="HCOMPRESS_1", tile_shape=(1, 12, 20))
    write("line_rice_i16.fits", ints(1, 50, 32, np.int16)[0], compression_type="RICE_1", tile_shape=(16,))
    write("line_gzip1_f32.fits", floats(1, 40, 33, np.float32)[0], compression_type="GZIP_1", quantize_level=0.0)


def make_seed():
    """The fuzzer's tile-compressed seed: RICE_1 int16, 20 x 12 in six 10 x 4 tiles, without the
    padding after the heap (heatscope does not need it; mutations then land in the table or heap)."""
    hdu = fits.CompImageHDU(data=ints(12, 20, 40, np.int16), compression_type="RICE_1", tile_shape=(4, 10))
    path = seeds_dir / "rice-i16.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    header = fits.getheader(path, 1, disable_image_compression=True)
    end = 2 * 2880 + header["NAXIS1"] * header["NAXIS2"] + header["PCOUNT"]
    path.write_bytes(path.read_bytes()[:end])


def kind(hdu):
    return {
        "PrimaryHDU": "PRIMARY",
        "GroupsHDU": "GROUPS",
        "ImageHDU": "IMAGE",
        "CompImageHDU": "COMPRESSED_IMAGE",
        "BinTableHDU": "BINTABLE",
        "TableHDU": "TABLE",
    }.get(type(hdu).__name__, type(hdu).__name__)


def has_data(data):
    return data is not None and getattr(data, "size", 0) > 0


def pick_image(hdul):
    """The HDU heatscope reads: the primary with data, else the first image extension with data."""
    first = hdul[0]
    if type(first) is fits.PrimaryHDU and has_data(first.data):
        return 0, first.data
    for i, hdu in enumerate(hdul[1:], start=1):
        if isinstance(hdu, (fits.ImageHDU, fits.CompImageHDU)) and has_data(hdu.data):
            return i, hdu.data
    return None, None


def why_not(path, hdul):
    """Why astropy gives no image: table, random groups, empty (or compress when it cannot open it)."""
    first = hdul[0]
    naxis = first.header.get("NAXIS", 0)
    axes = [first.header.get(f"NAXIS{i}", 0) for i in range(1, naxis + 1)]
    if type(first) is fits.GroupsHDU:
        return "random groups"
    if naxis >= 1 and 0 in axes:
        return "empty"
    rest = [kind(h) for h in hdul[1:]]
    if rest and all(k in ("BINTABLE", "TABLE") for k in rest):
        return "table"
    return "empty"


def expectations():
    entries = []
    files = sorted(p for d in (astropy_dir, tiles_dir) for p in d.rglob("*") if p.is_file())
    for path in files:
        if path.suffix in (".rst", ".md", ".npy", ".json") or expected_dir in path.parents:
            continue
        rel = path.relative_to(root / "tests/fixtures").as_posix()
        entry = {"file": rel, "image": False}
        if path.read_bytes()[:2] == b"\x1f\x9d":
            entry["why"] = "compress"
            entries.append(entry)
            continue
        with fits.open(path) as hdul:
            entry["hdus"] = [kind(h) for h in hdul]
            index, data = pick_image(hdul)
            if index is None:
                entry["why"] = why_not(path, hdul)
                entries.append(entry)
                continue
            hdu = hdul[index]
            entry.update(image=True, hdu=index, shape=list(data.shape), dtype=str(data.dtype))
            # Integers scaled by BSCALE / BZERO: astropy computes in float32 for 8- and 16-bit
            # samples (rounding twice), heatscope in float64 (rounding once): they may differ by
            # one unit in the last place.
            bitpix = fits.getheader(path, index)["BITPIX"]
            entry["float32_scaling"] = bool(bitpix in (8, 16) and data.dtype == np.float32)
            if isinstance(hdu, fits.CompImageHDU):
                entry["compression"] = hdu._bintable.header["ZCMPTYPE"]
                entry["quantize"] = hdu._bintable.header.get("ZQUANTIZ") if data.dtype.kind == "f" else None
            if data.ndim > 3:
                raise SystemExit(f"{rel}: {data.ndim}-D; the expectations hold 1-D to 3-D images")
            view = np.asarray(data, dtype=np.float32)
            view = view.reshape(1, -1) if view.ndim == 1 else view[..., ::-1, :]
            view = np.ascontiguousarray(view)
            # Large images (astropy's comp.fits, 300 x 440) go in a deflated .npz: a fifth of the bytes.
            if view.nbytes <= 64 << 10:
                name = f"{path.name}.npy"
                np.save(expected_dir / name, view)
            else:
                name = f"{path.name}.npz"
                np.savez_compressed(expected_dir / name, image=view)
            entry["expected"] = name
        entries.append(entry)
    return entries


make_tiles()
make_seed()
manifest = expectations()
(tiles_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
for group in ("astropy-fits", "fits_tiles"):
    mine = [e for e in manifest if e["file"].startswith(group + "/")]
    print(f"{group}: {len(mine)} files, {sum(e['image'] for e in mine)} hold an image astropy reads")
