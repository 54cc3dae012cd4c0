"""``swiftk sample --sampler_type sample`` speed on CPU: prompts per second, 8 sequences per prompt.

    .venv/bin/python benchmarks/sample_cpu.py [--prompts 64] [--repeats 3] [--max_new_tokens 32]

The demo model (swiftk/tiny-chat) answering swiftk/demo-grpo-sums with --num_return_sequences 8, no rewards
(every completion written), one process per run with OMP_NUM_THREADS=1. Beside it, where its side venv
exists, ms-swift's ``swift sample`` on the same model folder and prompts (create `benchmarks/.venv-mswift`:
python -m venv; pip install torch==2.13.0 ms-swift==4.6.0). Figures: the whole command's wall time and the
sampling loop's prompts/s (swiftk prints it; for ms-swift, prompts / (wall - its start-up, measured by a
run over one prompt)). Medians over --repeats, runs alternating.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
MSWIFT = os.path.join(ROOT, "benchmarks", ".venv-mswift", "bin", "swift")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def write_prompts(path: str, count: int) -> None:
    """The first ``count`` sums of demo-grpo-sums as messages rows ending with the reference answer (ms-swift
    requires one; both tools answer the user turn)."""
    from swiftk_datasets.plugin import builtin_datasets

    source = builtin_datasets()["swiftk/demo-grpo-sums"].dataset_path
    with open(source, encoding="utf-8") as f, open(path, "w", encoding="utf-8") as out:
        for line in f.readlines()[:count]:
            row = json.loads(line)
            messages = [{"role": "user", "content": row["query"]}, {"role": "assistant", "content": row["solution"]}]
            out.write(json.dumps({"messages": messages}) + "\n")


def timed(cmd: list[str], cwd: str) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=cwd)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return wall, proc.stdout + proc.stderr


def swiftk_cmd(data: str, out: str, tokens: int, batch: int) -> list[str]:
    return [PY, "-m", "swiftk", "sample", "--model", "swiftk/tiny-chat", "--dataset", data,
            "--num_return_sequences", "8", "--max_new_tokens", str(tokens), "--output_dir", out,
            "--num_sampling_per_gpu_batch_size", str(batch)]  # fmt: skip


def mswift_cmd(model_dir: str, data: str, out: str, tokens: int, batch: int) -> list[str]:
    return [MSWIFT, "sample", "--model", model_dir, "--model_type", "qwen2", "--template", "qwen2_5",
            "--sampler_engine", "transformers", "--dataset", data,
            # ms-swift 4.6's engine ignores the sampler's --template for a model path: name it to the engine
            "--engine_kwargs", '{"template_type": "qwen2_5"}',
            "--num_return_sequences", "8", "--max_new_tokens", str(tokens), "--output_dir", out,
            "--num_sampling_batch_size", str(batch)]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64, help="a multiple of 8 (ms-swift drops a last part-batch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    opts = parser.parse_args()
    from swiftk_demo import MODEL_DIR

    work = tempfile.mkdtemp(prefix="sample-bench-")
    data, one = os.path.join(work, "prompts.jsonl"), os.path.join(work, "one.jsonl")
    write_prompts(data, opts.prompts)
    write_prompts(one, 1)
    sides = ["swiftk"] + (["ms-swift"] if os.path.exists(MSWIFT) else [])
    walls: dict[str, list[float]] = {s: [] for s in sides}
    rates: dict[str, list[float]] = {s: [] for s in sides}
    startup: dict[str, list[float]] = {s: [] for s in sides}
    try:
        for _ in range(opts.repeats):
            for side in sides:
                for rows, path in ((1, one), (opts.prompts, data)):
                    out = tempfile.mkdtemp(dir=work)
                    if side == "swiftk":
                        cmd = swiftk_cmd(path, out, opts.max_new_tokens, min(rows, 8))
                    else:  # ms-swift samples only whole batches
                        cmd = mswift_cmd(MODEL_DIR, path, out, opts.max_new_tokens, min(rows, 8))
                    wall, log = timed(cmd, work)
                    if rows == 1:
                        startup[side].append(wall)
                        continue
                    walls[side].append(wall)
                    found = re.search(r"\(([\d.]+) prompts/s\)", log) if side == "swiftk" else None
                    loop = float(found.group(1)) if found else rows / max(wall - startup[side][-1], 1e-9)
                    rates[side].append(loop)
                    print(
                        f"{side}: wall {wall:.1f} s, {loop:.2f} prompts/s (load {os.getloadavg()[0]:.2f})", flush=True
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{opts.prompts} prompts x 8 sequences, up to {opts.max_new_tokens} new tokens, medians of {opts.repeats}")
    print("| tool | whole command (s) | start-up, 1 prompt (s) | sampling (prompts/s) |")
    print("| --- | --- | --- | --- |")
    for side in sides:
        print(f"| {side} | {statistics.median(walls[side]):.1f} | {statistics.median(startup[side]):.1f} | "
              f"{statistics.median(rates[side]):.2f} |")  # fmt: skip
    if len(sides) == 2:
        ratio = statistics.median(walls["ms-swift"]) / statistics.median(walls["swiftk"])
        print(f"whole command: swiftk {ratio:.2f}x ms-swift")
    else:
        print("(ms-swift's side venv benchmarks/.venv-mswift is absent: swiftk only)")


if __name__ == "__main__":
    main()
