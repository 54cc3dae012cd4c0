"""Registers ``--eval_backend exact_match``."""

from __future__ import annotations

import swiftk
from swiftk.api import EvalBackendSpec


@swiftk.hookimpl
def register_eval_backends(register):
    register(
        "exact_match", EvalBackendSpec(run="swiftk_example_eval.exact:run", check="swiftk_example_eval.exact:check")
    )
