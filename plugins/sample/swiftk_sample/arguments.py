"""``--resume``: ms-swift's ``swift sample`` has it (not on the v3.2 page)."""

from __future__ import annotations

from dataclasses import dataclass

from swiftk.api import arg


@dataclass
class SampleResumeArguments:
    SECTION = "Sampling arguments"

    resume: bool = arg(
        False, "Continue an interrupted run from its last finished batch (same --output_dir and --output_file)."
    )
