"""Registers ``--quant_method half``: the weights in 16 bits, as a model loads and in ``swiftk export``."""

from __future__ import annotations

import swiftk
from swiftk.api import QuantizerSpec


@swiftk.hookimpl
def register_quantizers(register):
    register(
        "half",
        QuantizerSpec(
            after_load="swiftk_example_quant.half:after_load",
            check="swiftk_example_quant.half:check",
            export="swiftk_example_quant.half:export",
        ),
    )
