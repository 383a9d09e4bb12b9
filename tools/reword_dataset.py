#!/usr/bin/env python3
"""Stress copies of a SpectrumQA-sim dataset whose questions are worded in ways no training run saw.

`reword` writes a dataset folder that links to the original's scenes and holds a new manifest.jsonl:
the same questions, answers and splits, with the scene's context line replaced by sentences that
`train vlm --varied-context` never uses (some describe systems of other studies), or removed, or
each question replaced by a typed form written here, apart from `sim::phrasing`'s forms. `wellformed`
reads `heatscope eval --save-predictions` output and counts answers in the form of their kind.

    python3 tools/reword_dataset.py reword --dataset ds4k --out ds4k-unseen --context unseen
    python3 tools/reword_dataset.py reword --dataset ds4k --out ds4k-typed --typed
    heatscope eval --dataset ds4k-unseen --model vlm --split test --levels L2,L4 --save-predictions p.jsonl
    python3 tools/reword_dataset.py wellformed --dataset ds4k-unseen --predictions p.jsonl
"""
import argparse
import json
import os
import random
import re

CONTEXT = re.compile(r"^The heatmap shows the interference-to-noise ratio .*?a pixel is affected when I/N > -6 dB\.\s*")

# Context sentences no training run uses: the scene in words of another report, and systems of other
# studies (the held-back generator's scenarios are of that kind).
UNSEEN = [
    "Measured I/N across the victim network's service area, in decibels above the noise floor.",
    "Output of a coexistence simulation; pixel values are the aggregate interference over thermal noise (dB).",
    "Map of aggregate interference from a MEO constellation into suburban 5G base stations.",
    "Direct-to-device satellite service overlapping terrestrial LTE towers in a river valley.",
    "A maritime VSAT network near a harbour sharing its band with port-area small cells; I/N in dB.",
    "Airborne relay over mountainous terrain, co-channel fixed links below. Scale -20 to 20 dB.",
    "Gateway uplink interference into nearby microwave backhaul, shown as I/N (dB) on a 50 km grid.",
    "NTN-TN coexistence: interference-to-noise at ground receivers, with the -6 dB protection limit.",
    "Urban canyon scenario with rooftop small cells and a satellite overhead; colour shows I/N.",
    "Heat map, dB.",
]

TYPED = {
    "region_affected": [
        "r u seeing interference at {r}", "{r} - affected y/n", "check {r} quadrant pls",
        "is there a problem in {r}", "{r} above -6dB?", "does {r} have harmful interference",
    ],
    "which_worse": [
        "between {a} & {b} which is hit harder", "{a} {b} worse?", "who has it worse, {a} or {b}",
        "stronger interference: {a} / {b}", "pick the worse of {a} and {b}",
    ],
    "worst_region": [
        "worst spot", "which part is the worst", "where would i not put a receiver",
        "hottest region", "where is interference max",
    ],
    "explain": [
        "whats the interferer and fix", "give me a diagnosis w/ mitigation", "source? evidence? mitigation?",
        "explain what we see here", "why is there interference and what to do", "root cause pls",
    ],
    "severity": ["how severe overall", "severity class", "how bad overall"],
    "localize": ["where's the hot area, box it", "bbox of affected area", "mark the affected zone"],
}

REGIONS = ["top-left", "top-right", "bottom-left", "bottom-right", "centre"]
REGION_WORDS = {
    "top-left": ["upper-left", "top left", "NW quadrant", "top-left"],
    "top-right": ["upper-right", "top right", "NE quadrant", "top-right"],
    "bottom-left": ["lower-left", "bottom left", "SW quadrant", "bottom-left"],
    "bottom-right": ["lower-right", "bottom right", "SE quadrant", "bottom-right"],
    "centre": ["middle", "center", "centre"],
}
CLASSES = ["low", "moderate", "high", "severe"]
BOX = re.compile(r"\[\s*[-0-9.]+\s*,\s*[-0-9.]+\s*,\s*[-0-9.]+\s*,\s*[-0-9.]+\s*\]")


def regions_asked(question):
    """Region names of the question sentence (after the context line, before the definitions)."""
    rest = CONTEXT.sub("", question)
    first = re.split(r"(?<=[?.])\s", rest, maxsplit=1)[0]
    found = sorted((first.find(r), r) for r in REGIONS if r in first)
    return [r for _, r in found]


def reword(a):
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    for name in os.listdir(a.dataset):
        if name != "manifest.jsonl" and not os.path.exists(os.path.join(a.out, name)):
            os.symlink(os.path.abspath(os.path.join(a.dataset, name)), os.path.join(a.out, name))
    n = changed = 0
    with open(os.path.join(a.dataset, "manifest.jsonl"), encoding="utf-8") as src, \
            open(os.path.join(a.out, "manifest.jsonl"), "w", encoding="utf-8") as dst:
        for line in src:
            r = json.loads(line)
            q = r["question"]
            if a.typed and r["kind"] in TYPED:
                names = [rng.choice(REGION_WORDS[x]) for x in regions_asked(q)] + ["centre", "centre"]
                new = rng.choice(TYPED[r["kind"]]).format(r=names[0], a=names[0], b=names[1])
            elif a.context == "none":
                new = CONTEXT.sub("", q)
            elif a.context == "unseen":
                new = CONTEXT.sub(lambda _m: rng.choice(UNSEEN) + " ", q)
            else:
                new = q
            changed += new != q
            n += 1
            r["question"] = new
            dst.write(json.dumps(r) + "\n")
    print(f"{changed} of {n} questions reworded into {a.out}")


def well_formed(kind, answer):
    t = answer.strip().lower().rstrip(".")
    if kind == "severity":
        return t in CLASSES
    if kind == "region_affected":
        return t in ("yes", "no")
    if kind in ("which_worse", "worst_region"):
        return t in REGIONS
    if kind == "localize":
        return t == "none" or BOX.fullmatch(t) is not None
    if kind == "explain":
        return re.fullmatch(r"the .+ dominates the interference: .+, \w+ severity, worst in the [a-z-]+ region\. "
                            r"mitigation: .+", t) is not None
    return None


def wellformed(a):
    kinds = {}
    with open(os.path.join(a.dataset, "manifest.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            kinds[r["id"]] = r["kind"]
    tally = {}
    bad = []
    with open(a.predictions, encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            kind = kinds.get(p["id"])
            ok = well_formed(kind, p.get("answer") or "")
            for key in (kind, "all"):
                tally.setdefault(key, []).append(ok)
            if not ok:
                bad.append((p["id"], p.get("answer")))
    for kind, oks in sorted(tally.items()):
        print(f"{kind:16s} well-formed {sum(oks)}/{len(oks)} = {sum(oks) / len(oks):.3f}")
    for i, ans in bad[: a.show]:
        print(f"  off the form: {i}: {ans!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reword")
    r.add_argument("--dataset", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--context", choices=["unseen", "none", "keep"], default="keep")
    r.add_argument("--typed", action="store_true")
    r.add_argument("--seed", type=int, default=7)
    w = sub.add_parser("wellformed")
    w.add_argument("--dataset", required=True)
    w.add_argument("--predictions", required=True)
    w.add_argument("--show", type=int, default=8)
    a = ap.parse_args()
    reword(a) if a.cmd == "reword" else wellformed(a)


if __name__ == "__main__":
    main()
