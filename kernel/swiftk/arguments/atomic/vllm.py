"""The page's "vLLM参数" (see vLLM's engine arguments)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

from swiftk.arguments.fields import arg

VLLM = "swift-plugin-vllm"


@dataclass
class VllmArguments:
    """vLLM arguments (the seed page's "vLLM参数")."""

    SECTION = "vLLM arguments"
    SECTION_ZH = "vLLM参数"

    gpu_memory_utilization: float = arg(0.9, "vLLM fraction of GPU memory to use.", hot=True, plugin=VLLM)
    tensor_parallel_size: int = arg(1, "vLLM tensor parallel size.", hot=True, plugin=VLLM)
    pipeline_parallel_size: int = arg(1, "vLLM pipeline parallel size.", plugin=VLLM)
    max_num_seqs: int = arg(256, "vLLM max sequences per batch.", plugin=VLLM)
    max_model_len: Optional[int] = arg(None, "vLLM max model length.", hot=True, plugin=VLLM)
    disable_custom_all_reduce: bool = arg(False, "vLLM: disable the custom all-reduce.", plugin=VLLM)
    enforce_eager: bool = arg(
        False, "vLLM: run in PyTorch eager mode instead of CUDA graphs (saves memory, slower).", plugin=VLLM
    )
    limit_mm_per_prompt: Optional[Dict[str, Any]] = arg(
        None, "vLLM multimodal items per prompt as JSON, e.g. '{\"image\": 5, \"video\": 2}'.", hot=True, plugin=VLLM
    )
    vllm_max_lora_rank: int = arg(16, "vLLM max LoRA rank.", plugin=VLLM)
    enable_prefix_caching: bool = arg(False, "vLLM automatic prefix caching.", plugin=VLLM)
