"""Benchmark plugin: torch.profiler over a window of training steps of any swiftk training command, printed
as a table of ops by self CPU time (where a step's time goes, op by op, beside the matmul floor).

    SWIFTK_OP_PROFILE=20:60 .venv/bin/python -m swiftk sft ... --external_plugins benchmarks/_support/op_profile.py

``SWIFTK_OP_PROFILE=FIRST:LAST`` profiles the steps after step FIRST up to step LAST (the first steps pay
one-time costs: lazy imports, allocations); ``SWIFTK_OP_PROFILE_SHAPES=1`` groups the ops by input shapes
(which matmuls are slow); ``SWIFTK_OP_PROFILE_ROWS`` sets the table's length (20).
"""

from __future__ import annotations

import os
import time

import swiftk


def _window() -> tuple[int, int]:
    first, _, last = os.environ["SWIFTK_OP_PROFILE"].partition(":")
    return int(first), int(last)


def op_profiler():
    import torch
    from transformers import TrainerCallback

    first, last = _window()
    shapes = os.environ.get("SWIFTK_OP_PROFILE_SHAPES") == "1"
    rows = int(os.environ.get("SWIFTK_OP_PROFILE_ROWS", "20"))

    class OpProfiler(TrainerCallback):
        profile = None
        started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == first and self.profile is None:
                self.profile = torch.profiler.profile(
                    activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=shapes
                )
                self.profile.__enter__()
                self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == last and self.profile is not None:
                self.profile.__exit__(None, None, None)
                wall = time.perf_counter() - self.started
                steps = last - first
                print(f"[op_profile] steps {first + 1}..{last}: {1000 * wall / steps:.1f} ms/step (profiled)")
                table = self.profile.key_averages(group_by_input_shape=shapes).table(
                    sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40
                )
                print(table, flush=True)
                self.profile = None

    return OpProfiler()


@swiftk.hookimpl
def register_callbacks(register):
    register("bench_op_profile", op_profiler, when=lambda args: "SWIFTK_OP_PROFILE" in os.environ)
