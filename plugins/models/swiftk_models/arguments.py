"""Arguments swift-plugin-models adds to every command that loads a model."""

from __future__ import annotations

from dataclasses import dataclass

from swiftk.api import arg

#: The commands that load a model (and so may run a model folder's own code).
MODEL_LOADING_COMMANDS = ("sft", "pt", "rlhf", "infer", "deploy", "app", "eval", "export", "merge-lora", "sample")


@dataclass
class RemoteCodeArguments:
    """Whether a model folder's own Python code (``auto_map`` in its config.json) may run."""

    SECTION = "Remote code"
    SECTION_ZH = "远程代码"

    trust_remote_code: bool = arg(
        True,
        "Run a model folder's own Python code (auto_map in config.json) when loading it. True, as ms-swift "
        "always does; code from a folder not named on the command line is announced first; false refuses it.",
    )
