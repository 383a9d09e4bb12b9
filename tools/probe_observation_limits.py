#!/usr/bin/env python3
"""How much L1 severity and L3 location the observed maps of a SpectrumQA-sim dataset carry, without a CNN.

L1: fits gradient-boosted trees on hand-made features of each scene's observed grid (the share of pixels
above every threshold from -14 to +3 dB, raw and box-smoothed over 3 and 7 px; percentiles; mean and
spread; the scenario) on the train split, and reports L1 accuracy on val and test, plus how well the
same features regress the TRUE affected share (its RMSE, next to class widths of 0.15-0.30). If
this, the rule baseline and the CNN all land at the same accuracy, the limit is the observation
model (sparse, noisy readings interpolated), not the network.

L3: sweeps box decoders on the observed grid (threshold -7..-4 dB, box smoothing 1/3/5 px, the
largest 8-connected component or every component at least 50 % / 20 % of it, binary closing 0/3/5
px), picks the best on val by mean IoU over scenes with a region, and scores it on test.

    pip install numpy scipy scikit-learn
    python3 tools/probe_observation_limits.py --dataset ds4k

The class thresholds are read from the dataset's dataset.json.
"""

import argparse
import json
import os

import numpy as np
from scipy import ndimage
from scipy.ndimage import uniform_filter
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

PROTECTION_DB = -6.0


def features(observed, scenario_index):
    grid = observed.astype(np.float64)
    out = []
    for side in (1, 3, 7):
        smooth = uniform_filter(grid, side) if side > 1 else grid
        out += [(smooth > t).mean() for t in np.arange(-14.0, 4.0, 1.0)]
    out += list(np.percentile(grid, [5, 25, 50, 75, 90, 95, 99]))
    out += [grid.mean(), grid.std(), scenario_index]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="folder written by `heatscope data spectrum`")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    info = json.load(open(os.path.join(a.dataset, "dataset.json")))
    thresholds = info["severity_thresholds"]
    scenarios = info["options"]["scenarios"]
    rows = {"train": [], "val": [], "test": []}
    boxes = {"val": [], "test": []}
    scenes = os.path.join(a.dataset, "scenes")
    for name in sorted(os.listdir(scenes)):
        folder = os.path.join(scenes, name)
        meta = json.load(open(os.path.join(folder, "meta.json")))
        truth = np.load(os.path.join(folder, "truth.npy"))
        share = float((truth > PROTECTION_DB).mean())
        label = sum(share >= t for t in thresholds)
        observed = np.load(os.path.join(folder, "observed.npy")).astype(np.float64)
        x = features(observed, scenarios.index(meta["scenario"]))
        rows[meta["split"]].append((x, label, share))
        if meta["labels"]["region_box"] is not None and meta["split"] != "train":
            boxes[meta["split"]].append((observed, meta["labels"]["region_box"]))

    def arrays(split):
        r = rows[split]
        return np.array([x for x, _, _ in r]), np.array([y for _, y, _ in r]), np.array([s for _, _, s in r])

    (xtr, ytr, str_), (xva, yva, _), (xte, yte, ste) = arrays("train"), arrays("val"), arrays("test")
    cat = [xtr.shape[1] - 1]
    print(f"scenes: train {len(ytr)}, val {len(yva)}, test {len(yte)}; {xtr.shape[1]} features")
    for lr in (0.05, 0.1):
        clf = HistGradientBoostingClassifier(max_iter=300, learning_rate=lr, categorical_features=cat,
                                             random_state=a.seed).fit(xtr, ytr)
        print(f"classifier (learning rate {lr}): L1 accuracy val {(clf.predict(xva) == yva).mean():.3f}, "
              f"test {(clf.predict(xte) == yte).mean():.3f}")
    reg = HistGradientBoostingRegressor(max_iter=300, categorical_features=cat, random_state=a.seed).fit(xtr, str_)
    pred = reg.predict(xte)
    classes = np.array([sum(p >= t for t in thresholds) for p in pred])
    rmse = float(np.sqrt(((pred - ste) ** 2).mean()))
    print(f"regressed true affected share: test RMSE {rmse:.3f}; its class, L1 accuracy test {(classes == yte).mean():.3f}")

    def mean_iou(split, decoder):
        scores = []
        for observed, truth in boxes[split]:
            found = decode_box(observed, *decoder)
            scores.append(iou(found, truth) if found is not None else 0.0)
        return float(np.mean(scores))

    decoders = [(t, s, k, c) for t in (-7, -6, -5, -4) for s in (1, 3, 5) for k in (1.0, 0.5, 0.2) for c in (0, 3, 5)]
    best = max(decoders, key=lambda d: mean_iou("val", d))
    print(f"L3 box decoders on the observed grid: {len(decoders)} tried, best on val {best} "
          f"(threshold dB, smoothing px, keep components >= share of the largest, closing px): "
          f"mean IoU val {mean_iou('val', best):.3f}, test {mean_iou('test', best):.3f} "
          f"({len(boxes['val'])} / {len(boxes['test'])} scenes with a region)")


def decode_box(observed, threshold, smooth, keep, closing):
    """Normalized [x0, y0, x1, y1] of the kept components of the thresholded grid, or None."""
    n = observed.shape[0]
    grid = uniform_filter(observed, smooth) if smooth > 1 else observed
    mask = grid > threshold
    if closing:
        mask = ndimage.binary_closing(mask, structure=np.ones((closing, closing)))
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        return None
    sizes = np.asarray(ndimage.sum(mask, labels, range(1, count + 1)))
    kept = [i + 1 for i, size in enumerate(sizes) if size >= keep * sizes.max()]
    ys, xs = np.nonzero(np.isin(labels, kept))
    return [xs.min() / n, ys.min() / n, (xs.max() + 1) / n, (ys.max() + 1) / n]


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


if __name__ == "__main__":
    main()
