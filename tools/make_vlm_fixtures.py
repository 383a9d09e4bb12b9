#!/usr/bin/env python3
"""Make the Qwen2-VL parity fixtures under tests/fixtures/vlm with the reference implementation.

Each fixture is a tiny random-weight model folder laid out exactly like a published one
(config.json, model.safetensors, tokenizer.json, tokenizer_config.json, preprocessor_config.json,
chat template) plus `cases/`: for each prompt the messages, the templated text, the processor's
input_ids / pixel_values / image_grid_thw, the reference logits over the whole prompt and 32 greedy
tokens generated with the KV cache. The Rust tests (tests/vlm_parity.rs) load the folder through
the same loader as real weights. CI never runs this script; rerun it only to change the fixtures.

    python -m venv /tmp/venv && /tmp/venv/bin/pip install torch torchvision transformers pillow
    /tmp/venv/bin/python tools/make_vlm_fixtures.py --out tests/fixtures/vlm

Also `--medium DIR [--family qwen3vl]` writes a random "medium" model (tens of millions of parameters)
for `heatscope bench vlm`; tools/bench_vlm_torch.py times the reference on it.
"""

import argparse
import json
import os
import shutil

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
    Qwen3VLVideoProcessor,
)

SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2's pre-tokenizer split (the published tokenizer.json uses this pattern).
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# The chat template Qwen2-VL-Instruct publishes (image and text parts; video left out).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen3-VL-Instruct's template for image and text parts: no default system turn.
QWEN3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Per family: the processor settings the published models use (pixel limits small for fixtures).
FAMILIES = {
    "qwen2vl": dict(patch=14, mean=[0.48145466, 0.4578275, 0.40821073], std=[0.26862954, 0.26130258, 0.27577711]),
    "qwen3vl": dict(patch=16, mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
}


def image_processor(family: str, max_pixels: int) -> Qwen2VLImageProcessorPil:
    f = FAMILIES[family]
    return Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=max_pixels, patch_size=f["patch"], merge_size=2,
                                    temporal_patch_size=2, image_mean=f["mean"], image_std=f["std"])


CORPUS = [
    "What is the interference severity in this heatmap?",
    "Which region is affected: north, south, east, west or centre?",
    "Describe the spectrum interference pattern and its bandwidth.",
    "The carrier at 12.5 GHz shows strong narrowband interference near the top edge.",
    "No interference is visible; the noise floor is flat at -110 dBm.",
    "Severity: high. Affected region: east. Box: [12, 40, 30, 88].",
    "A satellite downlink with moderate adjacent-channel leakage, 3 dB above the floor.",
    "Answer with one word. Is the ground sampling distance about 0.5 m or 10 m?",
]


def train_tokenizer(vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 20, trainer)
    return tok


def randomize(model: torch.nn.Module, seed: int, embed_std: float) -> None:
    """Weights large enough that logits spread out (no near-ties for greedy decoding)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                fan_in = int(np.prod(p.shape[1:]))
                std = embed_std if "embed_tokens" in name else 1.5 / np.sqrt(fan_in)
                p.copy_(torch.randn(p.shape, generator=g) * std)
            elif name.endswith("weight"):  # norms
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:  # biases
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def make_qwen3_config(tok: Tokenizer, tied: bool, size: str = "tiny") -> Qwen3VLConfig:
    """Qwen3-VL. Tiny: a 6x6 learned position grid that every test image's patch grid differs from,
    deepstack features injected after decoder layers 0 and 1, interleaved multimodal rotary."""
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    if size == "tiny":
        text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, mrope=[3, 3, 2])
        vision = dict(depth=3, hidden_size=32, intermediate_size=64, num_heads=2, num_position_embeddings=36,
                      deepstack_visual_indexes=[0, 1])
    else:  # medium: tens of millions of parameters
        text = dict(hidden_size=512, intermediate_size=1536, num_hidden_layers=8, num_attention_heads=8,
                    num_key_value_heads=2, head_dim=64, mrope=[12, 10, 10])
        vision = dict(depth=6, hidden_size=384, intermediate_size=1536, num_heads=6, num_position_embeddings=2304,
                      deepstack_visual_indexes=[1, 3, 5])
    mrope = text.pop("mrope")
    return Qwen3VLConfig(
        text_config=dict(
            vocab_size=tok.get_vocab_size(), rms_norm_eps=1e-6, max_position_embeddings=4096, attention_bias=False,
            rope_parameters={"rope_type": "default", "mrope_section": mrope, "mrope_interleaved": True,
                             "rope_theta": 10000.0},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], tie_word_embeddings=tied,
            **text,
        ),
        vision_config=dict(out_hidden_size=text["hidden_size"], patch_size=16, spatial_merge_size=2,
                           temporal_patch_size=2, in_channels=3, hidden_act="gelu_pytorch_tanh", **vision),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tied,
    )


def make_config(tok: Tokenizer, tied: bool, size: str) -> Qwen2VLConfig:
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    if size == "tiny":
        text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, mrope=[2, 3, 3])
        vision = dict(depth=2, embed_dim=32, num_heads=2)
    else:  # medium: tens of millions of parameters
        text = dict(hidden_size=512, intermediate_size=1536, num_hidden_layers=8, num_attention_heads=8,
                    num_key_value_heads=2, mrope=[8, 12, 12])
        vision = dict(depth=6, embed_dim=384, num_heads=6)
    mrope = text.pop("mrope")
    return Qwen2VLConfig(
        text_config=dict(
            vocab_size=tok.get_vocab_size(),
            rms_norm_eps=1e-6,
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "mrope_section": mrope, "rope_theta": 10000.0},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            tie_word_embeddings=tied,
            **text,
        ),
        vision_config=dict(hidden_size=text["hidden_size"], mlp_ratio=4, patch_size=14, temporal_patch_size=2,
                           spatial_merge_size=2, in_channels=3, **vision),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tied,
    )


def make_images(folder: str) -> None:
    """Test images off the patch grid (so they get resized) and the processor's pixels for each."""
    os.makedirs(folder, exist_ok=True)
    processors = {family: image_processor(family, 28 * 28 * 16) for family in FAMILIES}
    pixels = {family: {} for family in FAMILIES}
    rng = np.random.default_rng(7)
    sizes = {"square.png": (64, 64), "wide.png": (50, 120), "tall.png": (90, 40)}
    for name, (h, w) in sizes.items():
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], axis=-1)
        noise = rng.normal(0, 40, size=(h, w, 3))
        img = np.clip(base + noise, 0, 255).astype(np.uint8)
        path = os.path.join(folder, name)
        Image.fromarray(img).save(path)
        stem = name.removesuffix(".png")
        for family, improc in processors.items():
            one = improc(Image.open(path).convert("RGB"), return_tensors="pt")
            pixels[family][f"{stem}.pixel_values"] = one["pixel_values"].float().contiguous()
            pixels[family][f"{stem}.grid_thw"] = one["image_grid_thw"][0].to(torch.int64).contiguous()
    for family, tensors in pixels.items():
        save_file(tensors, os.path.join(folder, f"pixels_{family}.safetensors"))


CASES = {
    "text_only": [{"type": "text", "text": "What is the interference severity in this heatmap?"}],
    "square_image": [{"type": "image", "image": "square.png"}, {"type": "text", "text": "Describe the spectrum."}],
    "wide_image": [{"type": "image", "image": "wide.png"}, {"type": "text", "text": "Which region is affected?"}],
    "two_images": [
        {"type": "text", "text": "Compare"},
        {"type": "image", "image": "square.png"},
        {"type": "text", "text": "with"},
        {"type": "image", "image": "tall.png"},
    ],
    "text_after_images": [
        {"type": "image", "image": "tall.png"},
        {"type": "image", "image": "wide.png"},
        {"type": "text", "text": "Severity: high. Affected region: east. Answer with one word."},
    ],
}


class NearTie(Exception):
    pass


def build_folder_retrying(out: str, tied: bool, seed: int, size: str, cases: list[str] | None,
                          family: str = "qwen2vl") -> None:
    """Random seeds until no greedy step is a near-tie (the seed that worked is printed)."""
    for attempt in range(20):
        try:
            build_folder(out, tied, seed + 1000 * attempt, size, cases, family)
            print(f"{out}: seed {seed + 1000 * attempt}")
            return
        except NearTie as e:
            print(f"{out}: {e}; next seed")
            shutil.rmtree(out, ignore_errors=True)
    raise SystemExit("no seed without near-ties")


def build_folder(out: str, tied: bool, seed: int, size: str, cases: list[str] | None, family: str) -> None:
    os.makedirs(out, exist_ok=True)
    tok = train_tokenizer(384 if size == "tiny" else 4096)
    torch.manual_seed(seed)
    if family == "qwen2vl":
        model = Qwen2VLForConditionalGeneration(make_config(tok, tied, size)).eval()
    else:
        model = Qwen3VLForConditionalGeneration(make_qwen3_config(tok, tied, size)).eval()
    model.config._attn_implementation = "eager"
    # Tied embeddings make a random model echo its last token; smaller embeddings let the layers speak.
    randomize(model, seed, embed_std=0.3 if tied else 1.0)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = tok.token_to_id("<|endoftext|>")
    model.save_pretrained(out, safe_serialization=True)

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIALS[1:])
    # The PIL backend is the original Qwen2-VL processor and gives the same pixels on every machine; the
    # torchvision backend's uint8 bicubic kernel depends on the CPU (AVX or not) and the device.
    # Fixtures keep images small; the medium bench model uses Qwen2-VL's published pixel limits.
    improc = image_processor(family, 28 * 28 * (16 if size == "tiny" else 1280))
    if family == "qwen2vl":
        proc = Qwen2VLProcessor(image_processor=improc, tokenizer=fast, video_processor=Qwen2VLVideoProcessor(),
                                chat_template=CHAT_TEMPLATE)
    else:
        proc = Qwen3VLProcessor(image_processor=improc, tokenizer=fast, video_processor=Qwen3VLVideoProcessor(),
                                chat_template=QWEN3_CHAT_TEMPLATE)
    proc.save_pretrained(out)
    if cases is None:
        return

    case_dir = os.path.join(out, "cases")
    os.makedirs(case_dir, exist_ok=True)
    image_dir = os.path.join(os.path.dirname(out), "images")
    paths = {name: os.path.join(image_dir, name) for name in os.listdir(image_dir) if name.endswith(".png")}
    for name in cases:
        content = CASES[name]
        messages = [{"role": "user", "content": content}]
        prompt = proc.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        images = [Image.open(paths[c["image"]]).convert("RGB") for c in content if c["type"] == "image"]
        inputs = proc(text=[prompt], images=images or None, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits[0].float()
            gen = model.generate(**inputs, do_sample=False, max_new_tokens=32, min_new_tokens=32,
                                 output_scores=True, return_dict_in_generate=True)
        greedy = gen.sequences[0, inputs["input_ids"].shape[1]:]
        assert greedy.numel() == 32, greedy.shape
        # Greedy picks must not be near-ties, or a 1e-6 difference could flip them.
        top2 = torch.stack([s[0].topk(2).values for s in gen.scores])
        margin = (top2[:, 0] - top2[:, 1]).min().item()
        if margin < 1e-3:
            raise NearTie(f"{name}: greedy near-tie (margin {margin:.2e})")
        tensors = {
            "input_ids": inputs["input_ids"][0].to(torch.int64).contiguous(),
            "logits": logits.contiguous(),
            "greedy": greedy.to(torch.int64).contiguous(),
        }
        save_file(tensors, os.path.join(case_dir, f"{name}.safetensors"))
        with open(os.path.join(case_dir, f"{name}.json"), "w") as f:
            json.dump({"messages": messages, "prompt": prompt,
                       "images": [c["image"] for c in content if c["type"] == "image"]}, f, indent=1)
        print(f"{out}: {name}: {inputs['input_ids'].shape[1]} prompt tokens, greedy {greedy[:8].tolist()}..., "
              f"smallest top-2 margin {margin:.3f}")


def to_published_layout(folder: str) -> None:
    """Rewrite a folder the way Qwen/Qwen2-VL-7B-Instruct publishes it: a flat config.json with
    rope_scaling {"type": "mrope"} and vision keys such as in_chans, and a preprocessor_config.json
    with min_pixels / max_pixels. Checks that transformers still reads the same model from it."""
    with open(os.path.join(folder, "config.json")) as f:
        nested = json.load(f)
    text, vision = nested["text_config"], nested["vision_config"]
    flat = {k: v for k, v in nested.items() if k not in ("text_config", "vision_config", "dtype")}
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "hidden_act", "max_position_embeddings", "rms_norm_eps", "bos_token_id",
                "eos_token_id", "use_sliding_window", "sliding_window", "max_window_layers", "attention_dropout"):
        flat[key] = text[key]
    flat["sliding_window"] = 32768
    flat["rope_theta"] = text["rope_parameters"]["rope_theta"]
    flat["rope_scaling"] = {"type": "mrope", "mrope_section": text["rope_parameters"]["mrope_section"]}
    flat["torch_dtype"] = "float32"
    flat["vision_config"] = {"depth": vision["depth"], "embed_dim": vision["embed_dim"], "mlp_ratio": vision["mlp_ratio"],
                             "num_heads": vision["num_heads"], "in_chans": vision["in_channels"],
                             "hidden_size": vision["hidden_size"], "patch_size": vision["patch_size"],
                             "spatial_merge_size": vision["spatial_merge_size"],
                             "temporal_patch_size": vision["temporal_patch_size"]}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(flat, f, indent=2)
    with open(os.path.join(folder, "processor_config.json")) as f:
        improc = json.load(f)["image_processor"]
    pre = {"min_pixels": improc["size"]["shortest_edge"], "max_pixels": improc["size"]["longest_edge"],
           "patch_size": improc["patch_size"], "temporal_patch_size": improc["temporal_patch_size"],
           "merge_size": improc["merge_size"], "image_mean": improc["image_mean"], "image_std": improc["image_std"],
           "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor"}
    os.remove(os.path.join(folder, "processor_config.json"))
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
    # The reference must read the rewritten folder as the same model.
    reloaded = Qwen2VLForConditionalGeneration.from_pretrained(folder, attn_implementation="eager").eval()
    case = os.path.join(folder, "cases", "text_only.safetensors")
    from safetensors.torch import load_file
    ref = load_file(case)
    with torch.no_grad():
        logits = reloaded(input_ids=ref["input_ids"][None]).logits[0]
    assert torch.allclose(logits, ref["logits"], atol=1e-5), "published layout reads differently"
    print(f"{folder}: rewritten in the published layout; transformers reads the same logits")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="fixture root (tests/fixtures/vlm)")
    ap.add_argument("--medium", help="write a random medium model folder here (for bench vlm)")
    ap.add_argument("--family", choices=list(FAMILIES), default="qwen2vl", help="architecture of --medium")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.out:
        shutil.rmtree(args.out, ignore_errors=True)
        make_images(os.path.join(args.out, "images"))
        build_folder_retrying(os.path.join(args.out, "qwen2vl-untied"), tied=False, seed=1, size="tiny",
                              cases=list(CASES))
        build_folder_retrying(os.path.join(args.out, "qwen2vl-tied"), tied=True, seed=2, size="tiny",
                              cases=["text_only", "two_images"])
        to_published_layout(os.path.join(args.out, "qwen2vl-tied"))
        build_folder_retrying(os.path.join(args.out, "qwen3vl-untied"), tied=False, seed=3, size="tiny",
                              cases=list(CASES), family="qwen3vl")
        build_folder_retrying(os.path.join(args.out, "qwen3vl-tied"), tied=True, seed=4, size="tiny",
                              cases=["text_only", "two_images"], family="qwen3vl")
    if args.medium:
        build_folder(args.medium, tied=False, seed=3, size="medium", cases=None, family=args.family)


if __name__ == "__main__":
    main()
