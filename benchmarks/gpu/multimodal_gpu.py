"""The multimodal paths that need a GPU: vLLM's own multimodal processor for Qwen2-VL (``--infer_backend vllm``
with images and ``--limit_mm_per_prompt``), answers compared with the pt engine's.

    python benchmarks/gpu/multimodal_gpu.py --model /path/to/Qwen2-VL-2B-Instruct [--images 8]

Needs vllm (a GPU build), torchvision and swift-plugin-multimodal. Each engine answers the same image questions
greedily (pictures generated here: plain colours and stripes); printed per engine: seconds, answers, and the
share of vLLM's answers equal to pt's. A request with more images than --limit_mm_per_prompt allows must be
refused by vLLM (printed).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import time


def pictures(count: int) -> list[str]:
    """Data URLs of plain colours and stripes, 224x224."""
    from PIL import Image, ImageDraw

    colours = [(220, 30, 30), (30, 160, 40), (30, 60, 220), (240, 200, 20)]
    out = []
    for i in range(count):
        image = Image.new("RGB", (224, 224), colours[i % len(colours)])
        if i >= len(colours):
            draw = ImageDraw.Draw(image)
            for x in range(0, 224, 32):
                draw.rectangle([x, 0, x + 15, 223], fill=(255, 255, 255))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    return out


def requests(urls: list[str], per_request: int = 1) -> list:
    from swiftk.infer import InferRequest

    out = []
    for i in range(0, len(urls), per_request):
        parts = [{"type": "image_url", "image_url": {"url": u}} for u in urls[i : i + per_request]]
        parts.append({"type": "text", "text": "What colour is this picture, in one word?"})
        out.append(InferRequest(messages=[{"role": "user", "content": parts}]))
    return out


def answer(engine_name: str, model: str, urls: list[str], extra: list[str]) -> tuple[float, list[str]]:
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_infer.command import build_engine
    from swiftk.infer import RequestConfig

    args = resolve_arguments("infer", ["--model", model, "--infer_backend", engine_name, *extra])
    engine = build_engine(args)
    config = RequestConfig(max_tokens=16, temperature=0)
    started = time.time()
    responses = engine.infer(requests(urls), config)
    seconds = time.time() - started
    texts = [r.choices[0].message["content"] for r in responses]
    if engine_name == "vllm":  # two images in one request, over a limit of one
        try:
            engine.infer(requests(urls[:2], per_request=2), config)
            print("vllm: a request over --limit_mm_per_prompt was NOT refused")
        except Exception as exc:  # noqa: BLE001 - printed: what vLLM says
            print(f"vllm: over --limit_mm_per_prompt refused: {str(exc)[:200]}")
    engine.close()
    return seconds, texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--images", type=int, default=8)
    opts = parser.parse_args()
    urls = pictures(opts.images)
    results = {}
    for name, extra in (("pt", []), ("vllm", ["--limit_mm_per_prompt", json.dumps({"image": 1})])):
        try:
            results[name] = answer(name, opts.model, urls, extra)
        except ImportError as exc:
            print(f"{name}: skipped ({exc})")
            continue
        seconds, texts = results[name]
        print(f"{name}: {seconds:.1f} s for {len(texts)} requests: {texts}")
    if "pt" in results and "vllm" in results:
        same = sum(a == b for a, b in zip(results["pt"][1], results["vllm"][1]))
        print(f"vllm answers equal to pt's: {same}/{len(urls)}")


if __name__ == "__main__":
    main()
