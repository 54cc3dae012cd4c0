"""``swiftk eval`` and the page's three ``--eval_backend`` names (each module imports its library only when
a run asks for it)."""

from __future__ import annotations

import swiftk
from swiftk.api import EvalBackendSpec


@swiftk.hookimpl
def register_commands(register):
    register("eval", "swiftk_eval.command:run_eval", help="Evaluate a model on benchmarks.")


@swiftk.hookimpl
def register_eval_backends(register):
    register("Native", EvalBackendSpec(run="swiftk_eval.native:run", check="swiftk_eval.native:check"))
    # neither fits this stack (docs/eval.md): each refuses with the reason before anything loads
    register("OpenCompass", EvalBackendSpec(run="swiftk_eval.unfit:run", check="swiftk_eval.unfit:check"))
    register("VLMEvalKit", EvalBackendSpec(run="swiftk_eval.unfit:run", check="swiftk_eval.unfit:check"))
