#!/usr/bin/env python3
"""Time heatscope's SpectrumQA CNN in PyTorch, to compare with `heatscope bench cnn`.

Builds the same network as src/models/cnn/resnet.rs from a model folder's config.json (random
weights: speed does not depend on them), in eval mode, and times the forward pass at the given batch
sizes on the same number of threads. Only the network is timed; heatscope's number also includes
resizing the grid and decoding the outputs, which is small next to the forward pass.

    pip install torch
    python3 tools/bench_cnn_torch.py --config models/cnn-spectrum/config.json --threads 2

Prints one line per batch size: median, p10, p90 milliseconds and images per second.
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn


class ConvBn(nn.Module):
    def __init__(self, c_in, c_out, k, stride):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-5)

    def forward(self, x):
        return self.bn(self.conv(x))


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.a = ConvBn(c_in, c_out, 3, stride)
        self.b = ConvBn(c_out, c_out, 3, 1)
        self.skip = ConvBn(c_in, c_out, 1, stride) if stride != 1 or c_in != c_out else None

    def forward(self, x):
        y = self.b(torch.relu(self.a(x)))
        return torch.relu(y + (self.skip(x) if self.skip is not None else x))


class SpectrumResNet(nn.Module):
    """Stem (kernel 3, or 7 at stride 4), four stages of basic blocks, pooled heads, mask head."""

    def __init__(self, cfg):
        super().__init__()
        w, s = cfg["width"], cfg.get("stem_stride", 2)
        self.stem = ConvBn(cfg["in_channels"], w, 2 * max(s, 2) - 1, s)
        stages, c_in = [], w
        for i, n in enumerate(cfg["blocks"]):
            c_out = w << i
            blocks = []
            for j in range(n):
                blocks.append(Block(c_in, c_out, 2 if j == 0 and i > 0 else 1))
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.severity = nn.Linear(c_in, cfg["classes"])
        self.box = nn.Linear(c_in, 5)
        self.regions = nn.Linear(c_in, 2 * cfg["regions"])
        self.mask = nn.ModuleList([nn.Conv2d(w, 1, 1), nn.Conv2d(4 * w, 1, 1), nn.Conv2d(8 * w, 1, 1)])

    def forward(self, x):
        h = torch.relu(self.stem(x))
        taps = []
        for stage in self.stages:
            h = stage(h)
            taps.append(h)
        side = taps[0].shape[-1]
        mask = self.mask[0](taps[0])
        for conv, tap in zip(self.mask[1:], (taps[2], taps[3])):
            mask = mask + nn.functional.interpolate(conv(tap), size=(side, side), mode="nearest")
        pooled = h.mean(dim=(2, 3))
        return self.severity(pooled), torch.sigmoid(self.box(pooled)), self.regions(pooled), mask


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="config.json of a heatscope CNN")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.config) as f:
        cfg = json.load(f)
    net = SpectrumResNet(cfg).eval()
    params = sum(p.numel() for p in net.parameters())
    print(
        f"PyTorch {torch.__version__}, {args.threads} threads; width {cfg['width']}, input {cfg['input']} px, "
        f"{params} parameters"
    )
    n = cfg["input"]
    with torch.inference_mode():
        for b in (int(x) for x in args.batches.split(",")):
            x = torch.randn(b, cfg["in_channels"], n, n)
            for _ in range(3):
                net(x)
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                net(x)
                times.append(time.perf_counter() - t)
            times.sort()
            med = statistics.median(times)
            print(
                f"  batch {b:3}: median {med * 1e3:7.2f} ms  (p10 {times[len(times) // 10] * 1e3:.2f}, "
                f"p90 {times[len(times) * 9 // 10] * 1e3:.2f})  {b / med:7.1f} images/s"
            )


if __name__ == "__main__":
    main()
