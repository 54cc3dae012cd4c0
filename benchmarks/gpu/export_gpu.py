"""Quantized exports on a GPU: ``swiftk export --quant_method gptq|awq|fp8`` of one model, timed and sized.

    python benchmarks/gpu/export_gpu.py [--model swiftk/tiny-chat] [--methods gptq,awq,fp8] [--bits 4]
        [--dataset swiftk/demo-sft] [--n-samples 128] [--group-size 128] [--no-agreement]
        [--serve vllm,lmdeploy]

Each method runs ``swiftk export`` in its own process (this Python: it needs gptqmodel and optimum for
gptq/awq, compressed-tensors for fp8; a method whose package is missing is reported and skipped) and
prints one JSON line: the export's wall time, the size of the weights written against the source's, and
(unless --no-agreement) the next-token agreement of the quantized model with the full-precision one over
the calibration conversations (:func:`swiftk_quant.quality.next_token_agreement`, both on CPU through
transformers, so the number is comparable with the CPU tests').  Nothing is downloaded: --model is a
local folder or the demo model; --dataset a local file or a registered dataset.  On a CPU-only machine it
still runs (slowly, and AWQ with the torch kernel); exit code 1 if any export failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

#: --quant_method -> (the module it needs, takes --quant_bits)
METHODS = {"gptq": ("gptqmodel", True), "awq": ("gptqmodel", True), "fp8": ("compressed_tensors", False)}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


def weights_bytes(folder: str) -> int:
    return sum(
        os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder) if name.endswith(WEIGHT_SUFFIXES)
    )


def model_folder(model: str) -> str:
    """The local folder of --model (a folder, or a registered id such as swiftk/tiny-chat)."""
    from swiftk.api import resolve_model
    from swiftk.cli.builtin import resolve_arguments

    return resolve_model(resolve_arguments("export", ["--model", model])).model_dir


def conversations(dataset: str, limit: int = 32) -> list[str]:
    """Up to ``limit`` rows of --dataset as plain "role: content" text, for the agreement measure."""
    from swiftk.api import load_datasets
    from swiftk.cli.builtin import resolve_arguments

    train, _ = load_datasets(resolve_arguments("export", ["--dataset", dataset, "--split_dataset_ratio", "0"]))
    rows = train.select(range(min(limit, len(train))))
    return ["\n".join(f"{m['role']}: {m['content']}" for m in row["messages"]) for row in rows]


def export(method: str, opts: argparse.Namespace, out: str) -> dict:
    module, takes_bits = METHODS[method]
    cmd = [sys.executable, "-m", "swiftk", "export", "--model", opts.model, "--quant_method", method]
    if takes_bits:
        cmd += ["--quant_bits", str(opts.bits), "--group_size", str(opts.group_size)]
        cmd += ["--dataset", opts.dataset, "--quant_n_samples", str(opts.n_samples)]
    cmd += ["--output_dir", out]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        return {"ok": False, "error": last, "seconds": round(seconds, 1)}
    return {"ok": True, "seconds": round(seconds, 1), "weights_mb": round(weights_bytes(out) / 2**20, 2)}


def serve(folder: str, opts: argparse.Namespace) -> str:
    """The exported folder's serving throughput per engine: infer_gpu.py's report (its own process)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "infer_gpu.py")
    cmd = [sys.executable, script, "--model", folder, "--engines", opts.serve, "--prompts", str(opts.serve_prompts)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    report = proc.stdout.strip() or proc.stderr.strip().splitlines()[-1:]
    print(report if isinstance(report, str) else "\n".join(report))
    return "ok" if proc.returncode == 0 else f"exit {proc.returncode}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="swiftk/tiny-chat", help="a local model folder or a registered id")
    parser.add_argument("--methods", default="gptq,awq,fp8", help="comma-separated: " + ",".join(METHODS))
    parser.add_argument("--bits", type=int, default=4, help="--quant_bits of gptq and awq")
    parser.add_argument("--group-size", type=int, default=128)
    parser.add_argument("--dataset", default="swiftk/demo-sft", help="calibration data of gptq and awq")
    parser.add_argument("--n-samples", type=int, default=128, help="--quant_n_samples")
    parser.add_argument("--no-agreement", action="store_true", help="skip the next-token agreement measure")
    parser.add_argument(
        "--serve",
        default="",
        help="comma-separated engines (vllm,lmdeploy,pt) to serve each export with benchmarks/gpu/infer_gpu.py",
    )
    parser.add_argument("--serve-prompts", type=int, default=32)
    opts = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

    import torch

    source = model_folder(opts.model)
    print(
        json.dumps(
            {
                "model": opts.model,
                "source_weights_mb": round(weights_bytes(source) / 2**20, 2),
                "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            }
        )
    )
    texts = None if opts.no_agreement else conversations(opts.dataset)
    failed = 0
    for method in [m.strip() for m in opts.methods.split(",") if m.strip()]:
        if method not in METHODS:
            print(json.dumps({"method": method, "ok": False, "error": f"unknown; one of {', '.join(METHODS)}"}))
            failed += 1
            continue
        module = METHODS[method][0]
        if importlib.util.find_spec(module) is None:
            print(json.dumps({"method": method, "skipped": f"{module} is not installed"}))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, f"{method}-out")
            result = {"method": method, **export(method, opts, out)}
            if result["ok"] and texts:
                from swiftk_quant.quality import next_token_agreement

                try:
                    result["agreement"] = round(next_token_agreement(source, out, texts), 3)
                except Exception as exc:  # the export is still measured
                    result["agreement_error"] = f"{type(exc).__name__}: {exc}"
            if result["ok"] and opts.serve:
                result["serving"] = serve(out, opts)
        failed += not result["ok"]
        print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
