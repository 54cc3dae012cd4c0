"""``--eval_backend OpenCompass`` and ``VLMEvalKit``: refused with the reason, before anything loads.

Both were installed and measured against this stack: OpenCompass forces numpy < 2 (the pinned torch,
transformers and datasets need numpy 2), and VLMEvalKit replaces the CPU torch with a CUDA build.  Each
would need an environment of its own with its own torch; until one is built, ``swiftk eval`` says so in
one line instead of failing halfway.  EvalScope (``--eval_backend Native``) runs the same benchmarks
(gsm8k, mmlu, ceval, arc, ...) through the OpenAI API.
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError

WHY = {
    "OpenCompass": "OpenCompass forces numpy < 2, which the installed torch, transformers and datasets cannot run with",
    "VLMEvalKit": "VLMEvalKit replaces the installed CPU torch with a CUDA build",
}


def check(args: Any) -> None:
    backend = args.eval_backend
    raise UsageError(
        f"--eval_backend {backend} is not supported by swift-plugin-eval: {WHY[backend]}; "
        f"--eval_backend Native (EvalScope) runs the same benchmarks, or evaluate with {backend} in an "
        f"environment of its own against `swiftk deploy` (its OpenAI-API mode)"
    )


def run(args: Any, **_: Any) -> dict:
    check(args)
    return {}
