#!/usr/bin/env python3
"""What tifffile reads from each of image-rs/image-tiff's test images (tests/fixtures/image-tiff),
written to tests/fixtures/image-tiff/expected.json for tests/tiff_suite.rs.

For every TIFF: whether tifffile reads its first image, and if so the bands x height x width it
holds and an exact checksum of its values as float32 (band after band, rows top first):
sum over i of bits(value_i) * (i + 1) modulo 2^61 - 1, with NaN as 0x7fc00000. JPEG-compressed
files are lossy and decoders differ by rounding: they carry the mean of each 16 x 16 block instead.

    pip install tifffile imagecodecs numpy
    python3 tools/make_tiff_suite_expectations.py
"""
import json
import pathlib

import numpy as np
import tifffile

ROOT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "image-tiff"
MOD = (1 << 61) - 1


def bands_of(page, arr):
    """The page's samples as (bands, rows, cols)."""
    if arr.ndim == 2:
        return arr[None]
    if int(page.planarconfig) == 2:
        return arr
    return np.moveaxis(arr, -1, 0)


def checksum(values):
    bits = values.astype(np.float32).ravel().view(np.uint32).astype(object)
    nan = np.isnan(values.astype(np.float32).ravel())
    total = 0
    for i, (b, n) in enumerate(zip(bits, nan)):
        total = (total + (0x7FC00000 if n else int(b)) * (i + 1)) % MOD
    return total


def block_means(values, size=16):
    n, h, w = values.shape
    out = []
    for b in range(n):
        for r in range(0, h, size):
            for c in range(0, w, size):
                out.append(round(float(values[b, r : r + size, c : c + size].astype(np.float64).mean()), 2))
    return out


def main():
    rows = []
    for path in sorted(p for p in ROOT.rglob("*") if p.suffix in (".tif", ".tiff")):
        name = path.relative_to(ROOT).as_posix()
        row = {"file": name}
        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                values = bands_of(page, page.asarray()).astype(np.float32)
                row["compression"] = int(page.compression)
        except Exception as e:  # noqa: BLE001 - recorded: the test expects heatscope to refuse these too
            row["read"] = False
            row["why"] = str(e)
            rows.append(row)
            continue
        row["read"] = True
        row["shape"] = list(values.shape)
        if row["compression"] == 7:
            row["block_means"] = block_means(values)
        else:
            row["checksum"] = str(checksum(values))
        rows.append(row)
    text = "[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n"
    (ROOT / "expected.json").write_text(text)
    print(f"{sum(r['read'] for r in rows)} of {len(rows)} read by tifffile {tifffile.__version__}")


if __name__ == "__main__":
    main()
