"""Write the JPEG 2000 files heatscope's tests and fuzz seeds use, with OpenJPEG through imagecodecs.

    pip install imagecodecs numpy
    python3 tools/make_jp2_fixtures.py

src/fuzz/seeds/: a 16-bit greyscale JP2 (lossless) and an 8-bit RGB raw codestream (.j2k), tiny.
tests/fixtures/jp2/: the same kinds at 61 x 47 px (odd sizes, several code blocks) with their
truth (.npy), a lossy 8-bit RGB JP2 (9/7 wavelet) with the reference decode, and a copy of the
greyscale JP2 with a GMLJP2 box appended (EPSG:32633, 10 m pixels) for the georeferencing test.
All pixel values are generated here.
"""

import struct
from pathlib import Path

import imagecodecs
import numpy as np

root = Path(__file__).resolve().parent.parent
seeds = root / "src/fuzz/seeds"
fix = root / "tests/fixtures/jp2"
seeds.mkdir(parents=True, exist_ok=True)
fix.mkdir(parents=True, exist_ok=True)


def gray16(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return ((x * 997 + y * 331 + (x * y) % 13 * 50) % 65536).astype(np.uint16)


def rgb8(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 5) % 256, (y * 7) % 256, ((x + y) * 3) % 256], -1).astype(np.uint8)


(seeds / "gray16.jp2").write_bytes(imagecodecs.jpeg2k_encode(gray16(9, 12), level=0, codecformat="jp2"))
(seeds / "rgb8.j2k").write_bytes(imagecodecs.jpeg2k_encode(rgb8(8, 10), level=0, codecformat="j2k"))

g = gray16(47, 61)
np.save(fix / "gray16.npy", g)
gray = imagecodecs.jpeg2k_encode(g, level=0, codecformat="jp2")
(fix / "gray16.jp2").write_bytes(gray)
c = rgb8(47, 61)
np.save(fix / "rgb8.npy", c)
(fix / "rgb8.j2k").write_bytes(imagecodecs.jpeg2k_encode(c, level=0, codecformat="j2k"))
lossy = imagecodecs.jpeg2k_encode(c, level=30, codecformat="jp2")
(fix / "rgb8-lossy.jp2").write_bytes(lossy)
np.save(fix / "rgb8-lossy.decoded.npy", imagecodecs.jpeg2k_decode(lossy))

gml = f"""<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml"><gml:featureMember>
<gml:FeatureCollection><gml:featureMember><gml:RectifiedGridCoverage dimension="2" gml:id="RGC0001">
<gml:rectifiedGridDomain><gml:RectifiedGrid dimension="2"><gml:limits><gml:GridEnvelope>
<gml:low>0 0</gml:low><gml:high>60 46</gml:high></gml:GridEnvelope></gml:limits>
<gml:axisName>x</gml:axisName><gml:axisName>y</gml:axisName>
<gml:origin><gml:Point gml:id="P0001" srsName="urn:ogc:def:crs:EPSG::32633"><gml:pos>500005.0 4649995.0</gml:pos>
</gml:Point></gml:origin>
<gml:offsetVector srsName="urn:ogc:def:crs:EPSG::32633">10.0 0.0</gml:offsetVector>
<gml:offsetVector srsName="urn:ogc:def:crs:EPSG::32633">0.0 -10.0</gml:offsetVector>
</gml:RectifiedGrid></gml:rectifiedGridDomain></gml:RectifiedGridCoverage></gml:featureMember>
</gml:FeatureCollection></gml:featureMember></gml:FeatureCollection>""".encode()


def box(kind, body):
    return struct.pack(">I", 8 + len(body)) + kind + body


label = box(b"lbl ", b"gml.root-instance")
asoc = box(b"asoc", box(b"lbl ", b"gml.data") + box(b"asoc", label + box(b"xml ", gml)))
# Before the codestream box, as GDAL writes it.
at = gray.index(b"jp2c") - 4
(fix / "gray16-gml.jp2").write_bytes(gray[:at] + asoc + gray[at:])
print("written")
