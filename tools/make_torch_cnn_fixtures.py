#!/usr/bin/env python3
"""Make the reference fixtures for importing a user's torchvision ResNet (`heatscope.json`).

Two small random models built from torchvision's own BasicBlock and Bottleneck, so their state
dicts carry exactly torchvision's tensor names (conv1, bn1, layer1.0.conv1, ..., downsample.0/.1,
fc), only narrower than the published widths so the fixture stays small:

- basic/: basic blocks [2, 2, 2, 2] (ResNet-18's depth), width 8, one input channel, 64 px, the four
  L1 classes in a shuffled order, a box head (`box_head`, cxcywh + objectness), f32 weights.
- bottleneck/: bottleneck blocks [3, 4, 6, 3] (ResNet-50's depth), width 4, three channels with
  ImageNet's mean/std, 64 px, three of the classes, no box head, f16 weights.

Batch-norm statistics are randomized so folding them matters. Each folder gets model.safetensors
(saved with `num_batches_tracked`, as `save_file(model.state_dict())` writes it), heatscope.json and
reference.json: two dB grids at the input side and, for each, PyTorch's logits, class
probabilities, box corners and objectness.

    python -m venv /tmp/venv && /tmp/venv/bin/pip install torch torchvision safetensors numpy
    /tmp/venv/bin/python tools/make_torch_cnn_fixtures.py --out tests/fixtures/torch_cnn
"""

import argparse
import json
import os

import torch
from safetensors.torch import save_file
from torch import nn
from torchvision.models import resnet as tv


class NarrowResNet(tv.ResNet):
    """torchvision's ResNet with stage widths w, 2w, 4w, 8w (published: 64 ... 512)."""

    def __init__(self, block, layers, width, classes, channels, box):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        features = width * 8 * block.expansion
        self.fc = nn.Linear(features, classes)
        self.box_head = nn.Linear(features, 5) if box else None

    def heads(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        pooled = torch.flatten(self.avgpool(x), 1)
        return self.fc(pooled), (self.box_head(pooled) if self.box_head is not None else None)


def randomize(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=gen)
            m.bias.data = 0.2 * torch.randn(c, generator=gen)
            m.running_mean.data = 0.3 * torch.randn(c, generator=gen)
            m.running_var.data = 0.5 + torch.rand(c, generator=gen)
            m.num_batches_tracked.fill_(17)


def grids(side, gen):
    """Two dB maps: a smooth field with a hot patch, values beyond the input range on both sides."""
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    out = []
    for k in range(2):
        field = 10 * torch.sin(xs / (5.0 + 3 * k)) * torch.cos(ys / (7.0 - 2 * k))
        field += 3 * torch.randn(side, side, generator=gen)
        field[side // 4 : side // 2, side // 3 : side // 2 + 5 * k] += 30
        out.append(field.float())
    return out


def model_input(spec, grid):
    lo, hi = spec["input"]["db_range"]
    unit = ((grid - lo) / (hi - lo)).clamp(0, 1)
    planes = []
    for c in range(spec["input"]["channels"]):
        mean = spec["input"].get("mean", [0.0] * 3)[c]
        std = spec["input"].get("std", [1.0] * 3)[c]
        planes.append((unit - mean) / std)
    return torch.stack(planes)


def make(out, name, model, spec, dtype, gen):
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    randomize(model, gen)
    model.eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
    save_file(state, os.path.join(folder, "model.safetensors"))
    # The reference runs on the weights as saved (f16 rounded back to f32).
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    with open(os.path.join(folder, "heatscope.json"), "w") as f:
        json.dump(spec, f, indent=2)
    side = spec["input"]["size"]
    cases = []
    with torch.no_grad():
        for grid in grids(side, gen):
            # Rounded as written, then read back as f32 (what heatscope reads from the JSON).
            values = [round(v, 4) for v in grid.flatten().tolist()]
            grid = torch.tensor(values, dtype=torch.float32).reshape(side, side)
            logits, box = model.heads(model_input(spec, grid).unsqueeze(0))
            case = {
                "grid_db": values,
                "logits": logits[0].tolist(),
                "probs": torch.softmax(logits[0].double(), 0).tolist(),
            }
            if box is not None:
                cx, cy, w, h = torch.sigmoid(box[0, :4]).tolist()
                case["box_xyxy"] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
                case["objectness"] = box[0, 4].item()
            cases.append(case)
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump({"side": side, "torch": torch.__version__, "cases": cases}, f)
    params = sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k)
    print(f"{folder}: {params} parameters, {len(state)} tensors")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/torch_cnn")
    a = ap.parse_args()
    gen = torch.Generator().manual_seed(29)
    torch.manual_seed(29)
    basic = NarrowResNet(tv.BasicBlock, [2, 2, 2, 2], 8, 4, 1, box=True)
    make(
        a.out,
        "basic",
        basic,
        {
            "architecture": "resnet18",
            "classes": ["high", "low", "severe", "moderate"],
            "input": {"size": 64, "channels": 1, "db_range": [-20.0, 30.0], "mean": [0.4], "std": [0.25]},
            "box": {"tensor": "box_head", "format": "cxcywh"},
        },
        torch.float32,
        gen,
    )
    bottleneck = NarrowResNet(tv.Bottleneck, [3, 4, 6, 3], 4, 3, 3, box=False)
    make(
        a.out,
        "bottleneck",
        bottleneck,
        {
            "architecture": "resnet50",
            "classes": ["low", "moderate", "high"],
            "input": {
                "size": 64,
                "channels": 3,
                "db_range": [-10.0, 40.0],
                "mean": [0.485, 0.456, 0.406],
                "std": [0.229, 0.224, 0.225],
            },
        },
        torch.float16,
        gen,
    )


if __name__ == "__main__":
    main()
