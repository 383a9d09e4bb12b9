#!/usr/bin/env python3
"""Does a VLM's vision tower see what L2 questions ask? A linear probe on its image tokens.

Runs the vision tower of a Qwen2-VL or Qwen3-VL model folder (transformers' implementation) on the rendered
observed.png of SpectrumQA-sim scenes, fits ridge regression from the flattened image tokens to the
five regions' TRUE 95th-percentile I/N (meta.json labels) on train scenes, and reports on test
scenes: R^2 per region, and how often the probe's values answer "which of two regions is worse"
(every pair whose true values differ by more than 1 dB, as the questions are asked) and "worst
region". If the probe answers well where the model's own answers do not, the language model, not
the vision tower, is what falls short.

    pip install torch transformers pillow numpy
    python3 tools/probe_vlm_vision.py --model models/vlm-spectrum-tiny --dataset ds4k
"""

import argparse
import json
import os

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageTextToText

REGIONS = ["top-left", "top-right", "bottom-left", "bottom-right", "centre"]


def image_tokens(model, processor, png):
    inputs = processor(images=[Image.open(png).convert("RGB")], return_tensors="pt")
    with torch.no_grad():
        out = model.model.visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"])
    if isinstance(out, tuple):
        out = out[0]  # Qwen3-VL: (merged tokens, deepstack features)
    if not torch.is_tensor(out):
        # transformers 5 returns the merged tokens (what the language model reads) as pooler_output.
        out = out.pooler_output if getattr(out, "pooler_output", None) is not None else out[0]
    return out.numpy()  # [tokens, width]


def ridge(x, y, lam):
    mean, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / sd
    w = np.linalg.solve(z.T @ z + lam * np.eye(z.shape[1]), z.T @ (y - y.mean(0)))
    return lambda xs: ((xs - mean) / sd) @ w + y.mean(0)


def position_probe(tokens):
    """Do the image tokens say where they are? The language model has no other way to find a named
    region: its rotary positions are relative to a question whose length varies. Fits a linear
    classifier of the token's index (row-major over the merged grid) on half the scenes and scores it
    on the other half; chance is one over the token count."""
    scenes, count, width = tokens.shape
    half = scenes // 2
    a, b = tokens[:half].reshape(-1, width), tokens[half:].reshape(-1, width)
    mean, sd = a.mean(0), a.std(0) + 1e-6
    za, zb = (a - mean) / sd, (b - mean) / sd
    w = np.linalg.solve(za.T @ za + 10.0 * np.eye(width), za.T @ np.eye(count)[np.tile(np.arange(count), half)])
    right = ((zb @ w).argmax(1) == np.tile(np.arange(count), scenes - half)).mean()
    share = tokens.mean(0).var(0).sum() / tokens.reshape(-1, width).var(0).sum()
    print(f"position: a token's index read from the token {right:.3f} (chance {1 / count:.3f}); "
          f"share of token variance explained by position {share:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="Qwen2-VL or Qwen3-VL model folder")
    ap.add_argument("--dataset", required=True, help="folder written by `heatscope data spectrum`")
    ap.add_argument("--train-scenes", type=int, default=1500)
    ap.add_argument("--test-scenes", type=int, default=400)
    a = ap.parse_args()
    model = AutoModelForImageTextToText.from_pretrained(a.model, dtype=torch.float32).eval()
    processor = AutoImageProcessor.from_pretrained(a.model)
    want = {"train": a.train_scenes, "test": a.test_scenes}
    x = {"train": [], "test": []}
    tokens = []
    y = {"train": [], "test": []}
    scenes = os.path.join(a.dataset, "scenes")
    for name in sorted(os.listdir(scenes)):
        meta = json.load(open(os.path.join(scenes, name, "meta.json")))
        split = meta["split"]
        if split not in want or len(x[split]) >= want[split]:
            continue
        t = image_tokens(model, processor, os.path.join(scenes, name, "observed.png"))
        x[split].append(t.reshape(-1))
        tokens.append(t)
        y[split].append(meta["labels"]["region_p95_db"])
    x = {k: np.array(v) for k, v in x.items()}
    y = {k: np.array(v) for k, v in y.items()}
    print(f"{len(x['train'])} train / {len(x['test'])} test scenes, {x['train'].shape[1]} features per image")
    position_probe(np.array(tokens))
    for lam in (10.0, 100.0, 1000.0):
        pred = ridge(x["train"], y["train"], lam)(x["test"])
        r2 = 1.0 - ((pred - y["test"]) ** 2).mean(0) / y["test"].var(0)
        right = asked = 0
        for p, t in zip(pred, y["test"]):
            for i in range(5):
                for j in range(i + 1, 5):
                    if abs(t[i] - t[j]) > 1.0:
                        asked += 1
                        right += (p[i] > p[j]) == (t[i] > t[j])
        worst = np.mean([np.argmax(p) == np.argmax(t) for p, t in zip(pred, y["test"])])
        per_region = ", ".join(f"{r} {v:.2f}" for r, v in zip(REGIONS, r2))
        print(f"ridge {lam:g}: R^2 {per_region}; which is worse {right / asked:.3f} ({asked} pairs); "
              f"worst region {worst:.3f}")


if __name__ == "__main__":
    main()
