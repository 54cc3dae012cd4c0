"""The page's "模型参数"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Literal, Optional, Union

from swiftk.arguments.fields import arg


@dataclass
class ModelArguments:
    """Model arguments (the seed page's "模型参数")."""

    SECTION = "Model arguments"
    SECTION_ZH = "模型参数"

    model: Optional[str] = arg(
        None, "Model id or local path; with a custom model also set model_type and template.", hot=True
    )
    model_type: Optional[str] = arg(
        None, "Model type (architecture + template + loading); None picks it from --model and config.json."
    )
    model_revision: Optional[str] = arg(None, "Model revision on the hub.")
    task_type: Literal["causal_lm", "seq_cls", "embedding", "reranker", "generative_reranker"] = arg(
        "causal_lm",
        "Task: causal_lm, or seq_cls (set automatically when --num_labels is given); embedding, reranker and "
        "generative_reranker need swift-plugin-embedding (docs/embedding.md).",
    )
    torch_dtype: Optional[Literal["float16", "bfloat16", "float32"]] = arg(
        None, "Weight dtype; None reads config.json.", hot=True
    )
    attn_impl: Optional[Literal["flash_attn", "sdpa", "eager", "flash_attention_3"]] = arg(
        None,
        "Attention implementation; None uses sdpa, or eager where sdpa is unsupported (later ms-swift: also "
        "transformers' names flash_attention_2 and flash_attention_3).",
    )
    num_labels: Optional[int] = arg(None, "Number of labels of a classification (seq_cls) model.")
    rope_scaling: Optional[Literal["linear", "dynamic", "yarn"]] = arg(
        None, "RoPE scaling type, used together with --max_length (yarn: later ms-swift)."
    )
    device_map: Optional[Union[Dict[str, Any], str]] = arg(
        None, "device_map: 'auto', 'cpu', a JSON string or a JSON file path; None picks one for the setup."
    )
    max_memory: Optional[Dict[str, Any]] = arg(
        None, "Per-device memory limits as JSON for device_map auto/sequential, e.g. '{\"0\": \"20GB\"}'."
    )
    local_repo_path: Optional[str] = arg(
        None, "Local clone of the GitHub repo some models need at load time (avoids git clone)."
    )
