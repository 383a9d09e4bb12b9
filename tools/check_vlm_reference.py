#!/usr/bin/env python3
"""Ask a model folder one question through transformers and through `heatscope ask`, and print both.

Checks that the folder loads in the reference with no missing or unexpected tensors, that its chat
template lays out the prompt as the engine does (a question-first model: text, then the image) and that
both give the same greedy answer.

    /work/venv-torch/bin/python tools/check_vlm_reference.py --model models/vlm-spectrum-tiny \
        --image ds4k/scenes/leo-urban-00017/observed.png --question "..." --heatscope target/release/heatscope
"""

import argparse
import subprocess

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--question", required=True)
    ap.add_argument("--heatscope", default="target/release/heatscope")
    ap.add_argument("--tokens", type=int, default=16)
    args = ap.parse_args()

    proc = AutoProcessor.from_pretrained(args.model)
    model, info = AutoModelForImageTextToText.from_pretrained(
        args.model, dtype=torch.float32, output_loading_info=True
    )
    print("loading problems:", {k: v for k, v in info.items() if v} or "none")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": args.question}]}]
    text = proc.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    print("prompt:", repr(text[:40]), "...", repr(text[-70:]))
    inputs = proc(text=[text], images=[Image.open(args.image).convert("RGB")], return_tensors="pt")
    print("prompt tokens:", inputs["input_ids"].shape[1])
    out = model.generate(**inputs, max_new_tokens=args.tokens, do_sample=False)
    ref = proc.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0].strip()
    ours = subprocess.run(
        [args.heatscope, "ask", "--model", args.model, "--image", args.image, args.question,
         "--max-tokens", str(args.tokens)],
        capture_output=True, text=True, check=True,
    )
    print("reference:", repr(ref))
    print("heatscope:", repr(ours.stdout.strip()))
    print("heatscope says:", ours.stderr.strip().splitlines()[-1])
    print("same answer" if ref == ours.stdout.strip() else "ANSWERS DIFFER")


if __name__ == "__main__":
    main()
