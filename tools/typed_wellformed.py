#!/usr/bin/env python3
"""Share of well-formed VLM answers to typed questions, free and constrained.

Asks `heatscope ask --image MAP QUESTION` (and again with --constrain) for every in-scope question of
hand-labelled TSV files (level, kind, regions, question; the router's free-form sets) and checks the
answer against the form of the question's labelled kind: a severity class, yes/no, a region, a box
or "none", the L4 answer sentence.

    python3 tools/typed_wellformed.py --heatscope target/release/heatscope --image MAP.png \\
        tests/data/router_freeform2.tsv
"""
import argparse
import subprocess

from reword_dataset import well_formed  # the one form check (the L4 sentence in full)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heatscope", default="target/release/heatscope")
    ap.add_argument("--image", required=True)
    ap.add_argument("--model", help="a VLM folder (default: the bundled model)")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    tally = {}
    for path in a.files:
        for line in open(path, encoding="utf-8"):
            if line.startswith("#") or not line.strip():
                continue
            _level, kind, _regions, question = line.rstrip("\n").split("\t")
            if kind == "out_of_scope":
                continue
            for mode in ("free", "constrained"):
                cmd = [a.heatscope, "ask", "--image", a.image, question, "--max-tokens", "80"]
                if mode == "constrained":
                    cmd.append("--constrain")
                if a.model:
                    cmd += ["--model", a.model]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
                ok = well_formed(kind, out)
                for key in ((mode, kind), (mode, "all")):
                    tally.setdefault(key, []).append(ok)
    for (mode, kind), oks in sorted(tally.items()):
        print(f"{mode:12s} {kind:16s} {sum(oks)}/{len(oks)} = {sum(oks) / len(oks):.3f}")


if __name__ == "__main__":
    main()
