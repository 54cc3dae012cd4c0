"""Where one DPO-shaped training step's time goes, op by op, against the matmul floor.

    .venv/bin/python benchmarks/step_ops_cpu.py [--train_type lora|full] [--rows 8] [--tokens 28] [--repeats 20]
                                                [--no_allocator_tuning] [--table 18]

The step is what swiftk's DPO runs on CPU for the benchmark's 4M Qwen2 (benchmarks/_support/bench_model.py):
the reference forward (no_grad; for LoRA the base model with the adapter disabled), then the policy
forward and backward, ``--rows`` sequences of ``--tokens`` tokens packed in one row (padding-free), the
plain LM head over the second half of each sequence (the completion). One torch thread, like the
side-by-side benchmarks. Printed: the unprofiled time per step; the profiled self time by category
(matmuls, attention, log-softmax/gather, everything else); the matmul floor, the step's matmul FLOPs at
this core's measured peak; and torch.profiler's table of the ops with the most self time.

``--no_allocator_tuning`` leaves glibc's malloc thresholds at their defaults (the ``swiftk`` command raises
them at start-up: swiftk.startup.tune_allocator) to show what that is worth.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time

from _support.bench_model import build_model  # benchmarks/ is the script's folder
from _support.peer import matmul_peak_gflops


def category(op: str) -> str:
    if any(key in op for key in ("addmm", "aten::mm", "bmm", "matmul", "linear")):
        return "matmul (mm/addmm/bmm)"
    if "attention" in op or "sdpa" in op or "flash" in op:
        return "attention (sdpa kernels)"
    if "softmax" in op or "gather" in op:
        return "log_softmax/gather"
    return "other (norms, rotary, silu, mul/add, copies, index)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train_type", choices=("lora", "full"), default="lora")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no_allocator_tuning", action="store_true")
    parser.add_argument("--table", type=int, default=18, help="rows of torch.profiler's table (0: none)")
    opts = parser.parse_args()

    if not opts.no_allocator_tuning:
        from swiftk.startup import tune_allocator

        print(f"allocator thresholds raised: {tune_allocator()}")
    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        build_model(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="sdpa")
    lora = opts.train_type == "lora"
    if lora:
        from peft import LoraConfig, get_peft_model

        from swiftk_peft.dropout import use_lora_dropout

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, target_modules="all-linear", lora_dropout=0.05))
        use_lora_dropout(model)
    model.train()
    causal_lm = model.get_base_model() if lora else model
    backbone, head = causal_lm.model, causal_lm.lm_head

    torch.manual_seed(0)
    length = opts.rows * opts.tokens
    ids = torch.randint(10, causal_lm.config.vocab_size, (1, length))
    positions = torch.arange(opts.tokens).repeat(opts.rows)[None]
    scored = torch.arange(length) % opts.tokens >= opts.tokens // 2  # the completions

    def log_probs() -> torch.Tensor:
        hidden = backbone(input_ids=ids, position_ids=positions).last_hidden_state[0][scored]
        return head(hidden).log_softmax(-1).gather(-1, ids[0][scored][:, None])

    def step() -> None:
        with torch.no_grad():
            if lora:
                with model.disable_adapter():
                    log_probs()
            else:
                log_probs()
        log_probs().sum().backward()

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(opts.repeats):
        step()
    per_step = (time.perf_counter() - start) / opts.repeats

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(opts.repeats):
            step()
    by_category: collections.Counter = collections.Counter()
    for event in prof.key_averages():  # self time: nothing counted twice
        by_category[category(event.key)] += event.self_cpu_time_total / 1e3 / opts.repeats
    total = sum(by_category.values())

    embeddings = backbone.get_input_embeddings().weight
    layers = sum(p.numel() for p in backbone.parameters() if p.dim() == 2 and p is not embeddings)
    # matmul passes over the weights: reference and policy forward, the backward's input gradients, and for
    # full training the weight gradients (LoRA's own matmuls are small); the head runs on the scored tokens
    passes = 3 if lora else 4
    flops = 2 * (layers * length + head.weight.numel() * int(scored.sum())) * passes
    peak = matmul_peak_gflops()
    floor_ms = flops / (peak * 1e9) * 1e3
    print(f"{opts.train_type}: {opts.rows} x {opts.tokens} tokens, {per_step * 1e3:.1f} ms per step (unprofiled)")
    print(f"profiled self time {total:.1f} ms per step:")
    for name, ms in by_category.most_common():
        print(f"  {name}: {ms:.1f} ms ({100 * ms / total:.0f}%)")
    print(f"matmul floor at the measured peak ({peak:.0f} GFLOPS): {floor_ms:.1f} ms")
    if opts.table:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=opts.table))


if __name__ == "__main__":
    main()
