"""Later ms-swift's vLLM arguments that the v3.2 page has no older name for, and `swiftk rollout`'s own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

from swiftk.api import arg


@dataclass
class VllmDataParallelArguments:
    SECTION = "vLLM arguments"

    vllm_data_parallel_size: int = arg(
        1,
        "Replicas of the model vLLM serves side by side, one per GPU group (vLLM's data_parallel_size; later "
        "ms-swift). Used by --infer_backend vllm.",
    )
    vllm_speculative_config: Optional[Dict[str, Any]] = arg(
        None,
        "vLLM speculative decoding as JSON (vLLM's speculative_config, e.g. '{\"method\": \"ngram\", "
        "\"num_speculative_tokens\": 3, \"prompt_lookup_max\": 4}'; later ms-swift). Used by --infer_backend vllm.",
    )


@dataclass
class RolloutArguments:
    """``swiftk rollout``'s own arguments (later ms-swift's ``RolloutArguments``), beside the deploy ones."""

    SECTION = "Rollout arguments"

    vllm_use_async_engine: Optional[bool] = arg(
        None,
        "vLLM's asynchronous engine. swiftk rollout always serves through vLLM's OpenAI server, which runs it; "
        "false is refused.",
    )
    vllm_enable_lora: bool = arg(
        False, "Sync LoRA adapters rather than merged weights (refused: the trainer sends merged weights)."
    )
    multi_turn_scheduler: Optional[str] = arg(None, "Multi-turn GRPO scheduler (refused: not supported).")
    max_turns: Optional[int] = arg(None, "Turns of multi-turn GRPO (refused: not supported).")
    use_gym_env: Optional[bool] = arg(None, "Gym environment rollouts (refused: not supported).")
    gym_env: Optional[str] = arg(None, "Gym environment (refused: not supported).")
    context_manager: Optional[str] = arg(None, "Gym context manager (refused: not supported).")
