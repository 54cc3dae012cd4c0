"""Quantized export on CPU: time, peak memory, size and next-token agreement per --quant_method.

    .venv/bin/python benchmarks/export_cpu.py [--methods fp8 w8a8 bnb4 bnb8 gptq awq] [--repeats 1]

Two models: the demo model (swiftk/tiny-chat, 0.9M parameters) and a random Qwen2 of about 5M
parameters (4 layers, hidden 256, the demo tokenizer). Each export is its own `swiftk export` process
(OMP_NUM_THREADS=1); its wall time and peak RSS come from the process itself (os.wait4). gptq and awq
run in `.venv-quant` (`make quant-env`) when it exists. Agreement: the share of positions of 16
swiftk/demo-sft conversations where the quantized model's next token is the full-precision model's.

ms-swift: with `benchmarks/.venv-mswift` (see benchmarks/sft_cpu.py) its `swift export --quant_method bnb`
is timed beside ours.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUANT_PYTHON = os.environ.get("SWIFTK_QUANT_PYTHON") or os.path.join(ROOT, ".venv-quant", "bin", "python")
MSWIFT = os.path.join(ROOT, "benchmarks", ".venv-mswift", "bin", "swift")

#: name -> (quant_method, quant_bits or None, needs GPTQModel)
METHODS = {
    "fp8": ("fp8", None, False),
    "w8a8": ("w8a8", None, False),
    "bnb4": ("bnb", 4, False),
    "bnb8": ("bnb", 8, False),
    "gptq": ("gptq", 4, True),
    "awq": ("awq", 4, True),
}


def build_qwen(folder: str) -> str:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from swiftk_demo import MODEL_DIR

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    print(f"random Qwen2: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    return folder


def run(cmd: list[str]) -> dict:
    """Wall time and peak RSS of one process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with tempfile.TemporaryFile("w+") as log:
        start = time.time()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - start
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{log.read()[-2000:]}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}


def folder_mb(folder: str) -> float:
    return sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder) if n.endswith(".safetensors")) / 1e6


def texts(n: int = 16) -> list[str]:
    """The first ``n`` conversations of swiftk/demo-sft as the demo tokenizer's chat template renders them."""
    import swiftk_datasets
    from transformers import AutoTokenizer

    from swiftk_demo import MODEL_DIR

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    path = os.path.join(os.path.dirname(swiftk_datasets.__file__), "data", "demo_sft.jsonl")
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()][:n]
    return [tokenizer.apply_chat_template(row["messages"], tokenize=False) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--repeats", type=int, default=1)
    options = parser.parse_args()

    from swiftk_demo import MODEL_DIR
    from swiftk_quant.quality import next_token_agreement

    work = tempfile.mkdtemp(prefix="swiftk-export-bench-")
    models = {"tiny-chat": MODEL_DIR, "qwen2-5m": build_qwen(os.path.join(work, "qwen2-5m"))}
    sample = texts()
    print(f"{'model':10} {'method':6} {'wall s':>7} {'peak MB':>8} {'size MB':>8} {'agreement':>9}")
    for model_name, model_dir in models.items():
        print(f"{model_name:10} {'fp32':6} {'':>7} {'':>8} {folder_mb(model_dir):8.2f} {1.0:9.3f}")
        for name in options.methods:
            method, bits, gptqmodel = METHODS[name]
            python = QUANT_PYTHON if gptqmodel else sys.executable
            if not os.path.exists(python):
                print(f"{model_name:10} {name:6} skipped: {python} is missing (make quant-env)")
                continue
            times, peaks = [], []
            for i in range(options.repeats):
                out = os.path.join(work, f"{model_name}-{name}-{i}")
                cmd = [python, "-m", "swiftk", "export", "--model", model_dir, "--quant_method", method,
                       "--output_dir", out, "--dataset", "swiftk/demo-sft", "--quant_n_samples", "64"]  # fmt: skip
                if bits:
                    cmd += ["--quant_bits", str(bits)]
                measured = run(cmd)
                times.append(measured["wall_s"])
                peaks.append(measured["peak_rss_mb"])
            agreement = next_token_agreement(model_dir, out, sample) if not gptqmodel else float("nan")
            print(
                f"{model_name:10} {name:6} {statistics.median(times):7.1f} {max(peaks):8.0f} "
                f"{folder_mb(out):8.2f} {agreement:9.3f}"
            )
        if os.path.exists(MSWIFT):
            out = os.path.join(work, f"{model_name}-mswift-bnb4")
            measured = run([MSWIFT, "export", "--model", model_dir, "--quant_method", "bnb", "--quant_bits", "4",
                            "--output_dir", out, "--check_model", "false"])  # fmt: skip
            print(f"{model_name:10} {'ms-swift bnb4':13} {measured['wall_s']:7.1f} {measured['peak_rss_mb']:8.0f}")


if __name__ == "__main__":
    main()
