"""The kit's own flags, an argument group (docs/plugins.md, register_arguments), read typed with
``args.group(KitArguments)`` by the tuner, the optimizer and the callback's ``when``.  A module of its
own, light to import, so that the code reading the flags need not import the hook module."""

from __future__ import annotations

from dataclasses import dataclass

from swiftk.api import arg


@dataclass
class KitArguments:
    SECTION = "swiftk-example-kit"
    kit_count_steps: bool = arg(True, "Add the kit_step_counter callback (writes kit_step_counter.json).")
    kit_momentum: float = arg(0.9, "Momentum of --optimizer kit_sgd.")
    kit_warmup_steps: int = arg(0, "Linear warm-up steps of --optimizer kit_sgd's schedule.")
    kit_bias_norms: bool = arg(False, "--train_type kit_bias: also train the normalisation weights.")
