#!/usr/bin/env python3
"""Reference islands for tests/sources.rs from AegeanTools (pip install AegeanTools; 2.3.5 made
the committed file). Runs `aegean FITS --seedclip 5 --floodclip 3 --island` on each real radio
image and keeps, per island, what heatscope's finder also measures.

    python3 tools/aegean_reference.py ../shared/data/real/radio tests/fixtures/radio/aegean_islands.json
"""
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FILES = ["aegean_PD_2000_sub.fits", "aegean_1904-66_SIN.fits", "caesar_ScorpioS17Field.fits"]


def main(folder: str, out: str) -> None:
    result = {"tool": "AegeanTools", "command": "aegean FITS --seedclip 5 --floodclip 3 --island", "images": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            table = Path(tmp) / (Path(name).stem + ".csv")
            subprocess.run(["aegean", str(Path(folder) / name), "--seedclip", "5", "--floodclip", "3",
                            "--island", "--table", str(table)], check=True, capture_output=True)
            rows = csv.DictReader(open(table.with_name(table.stem + "_isle.csv")))
            keep = ["ra", "dec", "peak_flux", "int_flux", "pixels", "background", "local_rms", "components"]
            result["images"][name] = [{k: float(r[k]) for k in keep} for r in rows]
    Path(out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
