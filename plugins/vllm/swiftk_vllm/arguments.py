"""Later ms-swift's vLLM arguments that the v3.2 page has no older name for."""

from __future__ import annotations

from dataclasses import dataclass

from swiftk.api import arg


@dataclass
class VllmDataParallelArguments:
    SECTION = "vLLM arguments"

    vllm_data_parallel_size: int = arg(
        1,
        "Replicas of the model vLLM serves side by side, one per GPU group (vLLM's data_parallel_size; later "
        "ms-swift). Used by --infer_backend vllm.",
    )
