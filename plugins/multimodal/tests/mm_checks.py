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


def audios(n: int = 2, rate: int = 16000) -> list:
    """Tones of 1 and 1.5 seconds (mono float32 at the family's sampling rate)."""
    return [np.sin(np.arange(int(rate * (1 + 0.5 * i))) * 2 * np.pi * 440 / rate).astype("float32") for i in range(n)]


def with_medium(medium: str, row: dict, hf_messages: list) -> tuple:
    """A conversation of CONVERSATIONS with its images made into another medium (``<audio>``, ``audios``)."""
    if medium == "image":
        return row, hf_messages
    text = json.dumps(row).replace("<image>", f"<{medium}>").replace('"images"', f'"{medium}s"')
    hf = json.dumps(hf_messages).replace('{"type": "image"}', f'{{"type": "{medium}"}}')
    return json.loads(text), json.loads(hf)


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


def template_parity(folder: str, medium: str = "image") -> dict:
    """The template's prompt ids and media inputs (every tensor the processor makes) against the family's
    processor + chat template, on CONVERSATIONS in ``medium``."""
    import torch
    from swiftk.api import get_template, load_model_and_processor
    from swiftk.cli.builtin import resolve_arguments

    args = resolve_arguments("infer", ["--model", folder])
    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="infer")
    rate = getattr(getattr(processor, "feature_extractor", None), "sampling_rate", 16000)
    media = images() if medium == "image" else audios(rate=rate)
    keyword = {"image": "images", "audio": "audio"}[medium]
    results = []
    for row, hf_messages in CONVERSATIONS:
        row, hf_messages = with_medium(medium, row, hf_messages)
        column = f"{medium}s"
        ours = template.encode({**row, column: [media[i] for i in row[column]]}, add_generation_prompt=True)
        text = processor.apply_chat_template(hf_messages, add_generation_prompt=True, tokenize=False)
        theirs = processor(text=[text], return_tensors="pt", **{keyword: [media[i] for i in row[column]]})
        same_ids = ours["input_ids"] == theirs["input_ids"][0].tolist()
        inputs = {k: v for k, v in theirs.items() if k not in ("input_ids", "attention_mask")}
        same_media = bool(inputs) and all(
            torch.equal(torch.as_tensor(ours[k]).reshape(v.shape), v) if k in ours else False for k, v in inputs.items()
        )
        results.append({"ids": same_ids, "media": same_media, "length": len(ours["input_ids"]), "keys": sorted(inputs)})
    # training: only the answer's tokens (and the end of turn) carry labels
    row = {
        "messages": [{"role": "user", "content": f"<{medium}>Colour?"}, {"role": "assistant", "content": "red"}],
        f"{medium}s": [media[0]],
    }
    train = get_template(args, processor, info, mode="train").encode(row)
    labelled = [t for t, l in zip(train["input_ids"], train["labels"]) if l != -100]
    out = {"prompts": results, "labelled": template.tokenizer.decode(labelled), "model_type": info.model_type}
    if medium == "image":
        # --max_pixels scales a large picture down before the processor sees it: no more image tokens
        big = {"messages": [{"role": "user", "content": "<image>Colour?"}], "images": [images(1)[0].resize((400, 300))]}
        full = len(template.encode(big, add_generation_prompt=True)["input_ids"])
        template.max_pixels = 28 * 28
        bounded = len(template.encode(big, add_generation_prompt=True)["input_ids"])
        out["max_pixels"] = [full, bounded]
    return out


def dpo_batch(folder: str, red: str, blue: str) -> dict:
    """A DPO batch of a text pair and two image pairs of different sizes as swift-plugin-rlhf makes it: the
    image tokens of the chosen and the rejected rows against the pixel rows and grids beside them, and the
    tiny model's forward pass over the batch (which checks image tokens against image features itself)."""
    import torch
    from swiftk.api import get_template, load_model_and_processor
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_rlhf.encode import dpo_encoder
    from swiftk_rlhf.media import MEDIA_COLUMN, MediaPreferenceCollator
    from transformers import AutoModelForImageTextToText
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    args = resolve_arguments("rlhf", ["--rlhf_type", "dpo", "--model", folder])
    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="train")
    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
             "rejected_response": "Go away"}]  # fmt: skip
    rows += [
        {"messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": c}],
         "rejected_response": r, "images": [path]}
        for c, r, path in (("red", "blue", red), ("blue", "red", blue))
    ]  # fmt: skip
    encode = dpo_encoder(template, args, None)
    encoded = [encode(r) for r in rows]
    inner = DataCollatorForPreference(pad_token_id=template.tokenizer.pad_token_id)
    batch = MediaPreferenceCollator(inner)(encoded)
    image_token = template.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    merge = processor.image_processor.merge_size**2
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    inputs = {k: v for k, v in batch.items() if k != "completion_mask"}
    with torch.no_grad():
        logits = model(**inputs).logits
    return {
        "columns": sorted(encoded[0]),
        "rows": int(batch["input_ids"].shape[0]),
        "image_tokens": (batch["input_ids"] == image_token).sum(dim=1).tolist(),
        "typed_tokens": batch["mm_token_type_ids"].sum(dim=1).tolist(),
        "same_shape": list(batch["mm_token_type_ids"].shape) == list(batch["input_ids"].shape),
        "grid_tokens": (batch["image_grid_thw"].prod(dim=1) // merge).tolist(),
        "pixel_rows": int(batch["pixel_values"].shape[0]),
        "grid_pixels": int(batch["image_grid_thw"].prod(dim=1).sum()),
        "logits_rows": int(logits.shape[0]),
        "text_media": MEDIA_COLUMN in encoded[0],
    }


def mixed_batch(folder: str, red: str) -> dict:
    """A training batch of a text row and an image row (lazily encoded rows, then the template's collator): the
    per-token ids cover every row, and the tiny model's forward pass takes the batch."""
    import torch
    from swiftk.api import get_template, load_model_and_processor
    from swiftk.cli.builtin import resolve_arguments
    from transformers import AutoModelForImageTextToText

    args = resolve_arguments("sft", ["--model", folder])
    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="train")
    rows = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}]},
        {"messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": "red"}],
         "images": [red]},
    ]  # fmt: skip
    batch = template.data_collator([template.encode(r) for r in rows])
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items() if k not in ("loss_scale", "length")})
    return {
        "same_shape": list(batch["mm_token_type_ids"].shape) == list(batch["input_ids"].shape),
        "typed": batch["mm_token_type_ids"].sum(dim=1).tolist(),
        "loss": float(out.loss),
    }


def write_video(path: str, frames: int = 8, rate: int = 4, size: int = 84) -> str:
    """An mp4 of ``frames`` frames at ``rate`` frames per second, the colour changing from red to blue."""
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            pixels = np.zeros((size, size, 3), dtype="uint8")
            pixels[..., 0], pixels[..., 2] = 255 - 30 * i, 30 * i
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def video_grid(folder: str, video: str) -> dict:
    """The video's grid (frames / 2, rows, columns of patches) and tokens as the template encodes it, under the
    environment's FPS / VIDEO_*_PIXELS; and the same frames through the family's processor."""
    from swiftk.api import get_template, load_model_and_processor
    from swiftk.cli.builtin import resolve_arguments

    args = resolve_arguments("infer", ["--model", folder])
    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="infer")
    row = {"messages": [{"role": "user", "content": "<video>What happens?"}], "videos": [video]}
    ours = template.encode(row, add_generation_prompt=True)
    token = template.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    return {
        "grid": ours["video_grid_thw"].tolist(),
        "tokens": ours["input_ids"].count(token),
        "merge": processor.video_processor.merge_size,
        "seconds_per_grid": [float(x) for x in ours.get("second_per_grid_ts", [])],
    }


def vllm_prompt(folder: str, red: str) -> dict:
    """What the vllm backend gets for an image request: the ids with one placeholder per image (vLLM expands it)
    and the loaded media; against the processor's expansion of the same prompt."""
    from swiftk.api import get_template, load_model_and_processor
    from swiftk.cli.builtin import resolve_arguments

    args = resolve_arguments("infer", ["--model", folder])
    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="infer")
    content = [{"type": "image_url", "image_url": {"url": red}}, {"type": "text", "text": "Colour?"}]
    row = {"messages": [{"role": "user", "content": content}]}
    ids, media = template.prompt_and_media(row)
    full = template.encode(row, add_generation_prompt=True)["input_ids"]
    pad = template.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    return {
        "placeholders": ids.count(pad),
        "expanded": full.count(pad),
        "same_text": [t for t in ids if t != pad] == [t for t in full if t != pad],
        "media": {k: len(v) for k, v in media.items()},
        "image_size": list(media["image"][0].size),
    }


def write_tone(path: str, codec: str, rate: int = 44100, seconds: float = 1.0, hz: float = 440.0) -> str:
    """A stereo tone encoded by FFmpeg (PyAV) with ``codec`` into ``path`` (its suffix picks the container)."""
    import av

    samples = (np.sin(np.arange(int(rate * seconds)) * 2 * np.pi * hz / rate) * 0.5).astype("float32")
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="stereo")
        planar = stream.codec_context.codec.audio_formats[0].is_planar
        for start in range(0, len(samples), 960):
            chunk = np.stack([samples[start : start + 960]] * 2)  # (channels, n)
            data = chunk if planar else chunk.T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(data, format="fltp" if planar else "flt", layout="stereo")
            frame.rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def audio_formats(folder: str) -> dict:
    """Each format loaded at 16 kHz: its length in seconds and its loudest frequency."""
    from swiftk_multimodal.media import load_audio

    out = {}
    formats = [("tone.mp3", "mp3", 44100), ("tone.flac", "flac", 44100), ("tone.ogg", "libopus", 48000),
               ("tone.m4a", "aac", 44100), ("tone44k.wav", "pcm_s16le", 44100)]  # fmt: skip
    for name, codec, rate in formats:
        samples = load_audio(write_tone(f"{folder}/{name}", codec, rate), 16000)
        spectrum = np.abs(np.fft.rfft(samples))
        peak = float(np.argmax(spectrum)) * 16000 / len(samples)
        out[name] = {"seconds": round(len(samples) / 16000, 2), "peak_hz": round(peak)}
    return out


def main() -> None:
    check, *rest = sys.argv[1:]
    print(json.dumps(globals()[check](*rest)))


if __name__ == "__main__":
    main()
