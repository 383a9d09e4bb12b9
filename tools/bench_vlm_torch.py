#!/usr/bin/env python3
"""Time the reference (transformers, PyTorch CPU) on the prompt `heatscope bench vlm` uses.

Same model folder, same 224x224 gradient image and question, same thread count, greedy decoding with
no stop token. Prints time to first token, prefill and decode tokens/s and peak resident memory, to
set beside `heatscope bench vlm --model DIR`.

    /tmp/venv/bin/python tools/make_vlm_fixtures.py --medium /tmp/vlm-medium
    /tmp/venv/bin/python tools/bench_vlm_torch.py --model /tmp/vlm-medium --threads 2
"""

import argparse
import resource
import statistics
import time

import numpy as np
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

QUESTION = (
    "Describe the interference in this spectrum heatmap: which region is affected, how severe "
    "is it, and where is the strongest carrier?"
)


def bench_image() -> Image.Image:
    y, x = np.mgrid[0:224, 0:224]
    rgb = np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.float32).eval()
    model.generation_config.eos_token_id = None
    proc = AutoProcessor.from_pretrained(args.model)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    text = proc.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = proc(text=[text], images=[bench_image()], return_tensors="pt")
    n_prompt = inputs["input_ids"].shape[1]
    n_image = int((inputs["input_ids"] == model.config.image_token_id).sum())
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.model}: {params} parameters, float32, {args.threads} threads, attention "
          f"{model.config._attn_implementation}; prompt {n_prompt} tokens ({n_image} image tokens), "
          f"{args.tokens} generated tokens per run")

    def timed(new_tokens: int) -> float:
        t = time.perf_counter()
        with torch.no_grad():
            model.generate(**inputs, do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
        return time.perf_counter() - t

    timed(args.tokens)  # warm-up
    ttft, decode = [], []
    for _ in range(args.runs):
        first = timed(1)
        total = timed(args.tokens)
        ttft.append(first)
        decode.append((args.tokens - 1) / (total - first))
    t, d = statistics.median(ttft), statistics.median(decode)
    print(f"  time to first token  {t * 1e3:8.1f} ms   (median of {args.runs}; vision tower + prefill)")
    print(f"  prefill              {n_prompt / t:8.0f} tokens/s")
    print(f"  decode               {d:8.1f} tokens/s (median)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory          {peak:8.0f} MiB resident (Python, torch and transformers included)")


if __name__ == "__main__":
    main()
