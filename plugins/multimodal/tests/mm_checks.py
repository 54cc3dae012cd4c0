"""Checks that need the multimodal stack (torchvision), run in its venv by test_multimodal.py:
``python mm_checks.py CHECK FOLDER...``; each prints one JSON line."""

from __future__ import annotations

import json
import sys

import numpy as np


def images(n: int = 2) -> list:
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray((rng.random((40 + 10 * i, 60, 3)) * 255).astype("uint8")) for i in range(n)]


CONVERSATIONS = [
    # (swiftk row, the same conversation in the family's chat-template form)
    (
        {"messages": [{"role": "user", "content": "<image>What is it?"}], "images": [0]},
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]}],
    ),
    (
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Compare <image> and <image>, please."},
            ],
            "images": [0, 1],
        },
        [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare "},
                    {"type": "image"},
                    {"type": "text", "text": " and "},
                    {"type": "image"},
                    {"type": "text", "text": ", please."},
                ],
            },
        ],
    ),
    (
        {  # no tag: the image goes in front of the first user message (ms-swift)
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "And this?"},
            ],
            "images": [0],
        },
        [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "And this?"},
        ],
    ),
]


def template_parity(folder: str) -> dict:
    """The template's prompt ids and pixel inputs against the family's processor + chat template."""
    import torch
    from swiftk.api import get_template, load_model_and_processor
    from swiftk.cli.builtin import resolve_arguments

    args = resolve_arguments("infer", ["--model", folder])
    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="infer")
    pics = images()
    results = []
    for row, hf_messages in CONVERSATIONS:
        ours = template.encode({**row, "images": [pics[i] for i in row["images"]]}, add_generation_prompt=True)
        text = processor.apply_chat_template(hf_messages, add_generation_prompt=True, tokenize=False)
        theirs = processor(text=[text], images=[pics[i] for i in row["images"]], return_tensors="pt")
        same_ids = ours["input_ids"] == theirs["input_ids"][0].tolist()
        same_pixels = torch.equal(ours["pixel_values"], theirs["pixel_values"])
        results.append({"ids": same_ids, "pixels": same_pixels, "length": len(ours["input_ids"])})
    # training: only the answer's tokens (and the end of turn) carry labels
    row = {
        "messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": "red"}],
        "images": [pics[0]],
    }
    train = get_template(args, processor, info, mode="train").encode(row)
    labelled = [t for t, l in zip(train["input_ids"], train["labels"]) if l != -100]
    # --max_pixels scales a large picture down before the processor sees it: fewer image tokens
    big = {"messages": [{"role": "user", "content": "<image>Colour?"}], "images": [images(1)[0].resize((400, 300))]}
    full = len(template.encode(big, add_generation_prompt=True)["input_ids"])
    template.max_pixels = 28 * 28
    bounded = len(template.encode(big, add_generation_prompt=True)["input_ids"])
    return {
        "prompts": results,
        "labelled": template.tokenizer.decode(labelled),
        "model_type": info.model_type,
        "max_pixels": [full, bounded],
    }


def main() -> None:
    check, *rest = sys.argv[1:]
    print(json.dumps(globals()[check](*rest)))


if __name__ == "__main__":
    main()
