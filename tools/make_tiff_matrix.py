"""Write the TIFF layout matrix that tests/tiff_matrix.rs reads, with tifffile (the reference writer).

Every combination a writer commonly produces for one small 3-sample image (37 x 21 px, so every tile
size leaves partial edge tiles and the strips a partial last strip; a 512 px tile, mostly padding, only compressed): tiles of 16, 32, 64 and 512 px,
strips of 5 rows and one strip for the whole image; no compression, LZW, Deflate, PackBits, ZSTD and
JPEG (8-bit only); predictors none, horizontal (integers) and floating point (floats); chunky and
planar; uint8, uint16 and float32; and 8-bit palette colour (read as its indices). The decoded truth is written once per sample type as
truth_<dtype>.npy (rows, cols, samples); JPEG files get tifffile's own decode beside them
(<name>.decoded.npy), since JPEG is lossy. File names say the combination:
<dtype>_<chunking>_<compression>_p<predictor>_<chunky|planar>.tif

    pip install tifffile imagecodecs numpy
    python3 tools/make_tiff_matrix.py tests/fixtures/tiff_matrix
"""

import sys
from pathlib import Path

import numpy as np
import tifffile

out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tiff_matrix")
out.mkdir(parents=True, exist_ok=True)
h, w = 21, 37
y, x = np.mgrid[0:h, 0:w]
rng = np.random.default_rng(7)
base = np.stack([x * 5 + y * 3, (x * y) % 97 * 2, 200 - x * 4 + y], axis=-1).astype(np.float64)
truth = {
    "uint8": np.clip(base + rng.integers(0, 8, base.shape), 0, 255).astype(np.uint8),
    "uint16": (base * 250 + rng.integers(0, 300, base.shape)).astype(np.uint16),
    "float32": (base / 7.0 - 11.5 + rng.normal(0, 0.01, base.shape)).astype(np.float32),
}
for name, arr in truth.items():
    np.save(out / f"truth_{name}.npy", arr)

chunkings = {"t16": {"tile": (16, 16)}, "t32": {"tile": (32, 32)}, "t64": {"tile": (64, 64)},
             "t512": {"tile": (512, 512)}, "s5": {"rowsperstrip": 5}, "s1": {"rowsperstrip": h}}
compressions = {"none": None, "lzw": "lzw", "deflate": "zlib", "packbits": "packbits", "zstd": "zstd",
                "jpeg": "jpeg"}
count = 0
for dtype, arr in truth.items():
    predictors = [1, 2] if dtype != "float32" else [1, 3]
    for cname, comp in compressions.items():
        if comp == "jpeg" and dtype != "uint8":
            continue
        for chunk, kw in chunkings.items():
            for pred in predictors:
                if comp in (None, "packbits", "jpeg") and pred != 1:
                    continue
                # A 512 px tile of a 37 x 21 image is mostly padding: kept small by compressing it.
                if chunk == "t512" and comp in (None, "packbits"):
                    continue
                for planar in ("chunky", "planar"):
                    data = arr if planar == "chunky" else np.moveaxis(arr, -1, 0)
                    args = dict(photometric="rgb", planarconfig="contig" if planar == "chunky" else "separate", **kw)
                    if comp is not None:
                        args["compression"] = comp
                    if comp == "jpeg":
                        args["compressionargs"] = {"level": 95}
                    if pred != 1:
                        args["predictor"] = pred
                    name = f"{dtype}_{chunk}_{cname}_p{pred}_{planar}"
                    tifffile.imwrite(out / f"{name}.tif", data, **args)
                    if comp == "jpeg":
                        # Lossy (and YCbCr 2x2 for chunky RGB): the reference reader's own decode is the truth.
                        decoded = tifffile.imread(out / f"{name}.tif")
                        np.save(out / f"{name}.decoded.npy", decoded if planar == "chunky" else np.moveaxis(decoded, 0, -1))
                    count += 1
# Palette colour (a classified map): the samples are colour-map indices, which is what is read back.
classes = ((x // 6 + y // 5) % 9).astype(np.uint8)
np.save(out / "truth_palette.npy", classes[..., None])
cmap = np.zeros((3, 256), dtype=np.uint16)
cmap[:, :9] = np.array([[i * 7000, 65535 - i * 7000, (i * 20000) % 65536] for i in range(9)]).T
for chunk, kw in (("t16", {"tile": (16, 16)}), ("s5", {"rowsperstrip": 5})):
    for cname, comp in (("none", None), ("lzw", "lzw")):
        args = dict(photometric="palette", colormap=cmap, **kw)
        if comp:
            args["compression"] = comp
        tifffile.imwrite(out / f"palette_{chunk}_{cname}_p1_chunky.tif", classes, **args)
        count += 1
print(f"{count} files in {out}")
