"""GPU-only model loading paths: ``--attn_impl flash_attn``, ``--quant_method eetq``, and bnb on CUDA.

Run where a CUDA GPU exists (``python benchmarks/gpu/models_gpu.py``); on CPU these paths are clear
errors, checked by plugins/models/tests/test_models_loading.py.  Each check builds a random tiny
Llama (wide enough for the kernels), loads it through swiftk's pipeline with the flag, runs one
forward and backward step, and prints one JSON line; a check whose package is missing is reported as
skipped.  Exit code 1 if any check failed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import time
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHECKS = [
    ("flash_attn", ["--attn_impl", "flash_attn", "--torch_dtype", "bfloat16"], "flash_attn"),
    ("eetq_int8", ["--quant_method", "eetq", "--quant_bits", "8", "--torch_dtype", "float16"], "eetq"),
    ("bnb_4bit", ["--quant_method", "bnb", "--quant_bits", "4", "--torch_dtype", "bfloat16"], "bitsandbytes"),
    ("bnb_8bit", ["--quant_method", "bnb", "--quant_bits", "8", "--torch_dtype", "float16"], "bitsandbytes"),
    ("sdpa_bf16", ["--attn_impl", "sdpa", "--torch_dtype", "bfloat16"], None),
]


def main() -> int:
    import torch

    from swiftk.cli.builtin import resolve_arguments
    from swiftk.pipelines.model import get_template, load_model_and_processor
    from swiftk.testing.tiny import build_tiny_checkpoint

    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA GPU"}))
        return 0
    folder = build_tiny_checkpoint(
        "llama3_1",
        os.path.join(tempfile.mkdtemp(), "Llama-3.1-8B-Instruct"),
        hidden_size=256,
        intermediate_size=512,
        head_dim=64,
    )
    sample = {"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there!"}]}
    failed = 0
    for name, flags, package in CHECKS:
        if package and importlib.util.find_spec(package) is None:
            print(json.dumps({"check": name, "skipped": f"{package} is not installed"}))
            continue
        start = time.time()
        try:
            args = resolve_arguments("sft", ["--model", str(folder), *flags])
            model, tokenizer, info = load_model_and_processor(args)
            template = get_template(args, tokenizer, info)
            batch = {k: v.to(model.device) for k, v in template.data_collator([template.encode(sample)]).items()}
            if flags[1] in ("eetq", "bnb"):  # quantized weights train through an adapter
                from peft import LoraConfig, get_peft_model

                model = get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
            loss = model(**batch).loss
            loss.backward()
            print(
                json.dumps(
                    {
                        "check": name,
                        "ok": bool(torch.isfinite(loss)),
                        "loss": round(loss.item(), 4),
                        "attn": model.config._attn_implementation,
                        "seconds": round(time.time() - start, 2),
                    }
                )
            )
            failed += not torch.isfinite(loss)
        except Exception as exc:  # report and continue with the next check
            failed += 1
            print(json.dumps({"check": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"}))
            traceback.print_exc(file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
