"""The page's "推理参数"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from swiftk.arguments.fields import arg


@dataclass
class InferArguments:
    """Inference arguments (the seed page's "推理参数")."""

    SECTION = "Inference arguments"
    SECTION_ZH = "推理参数"

    infer_backend: str = arg(
        "pt",
        "Inference engine: pt, vllm, lmdeploy, or one a plugin registers.",
        hot=True,
        choices=("pt", "vllm", "lmdeploy"),
        registry="infer_engines",
    )
    max_batch_size: int = arg(1, "Batch size of batched inference with the pt backend.", hot=True)
    ddp_backend: Optional[Literal["nccl", "gloo", "mpi", "ccl", "hccl", "cncl", "mccl"]] = arg(
        None, "Distributed backend of multi-GPU pt inference; None picks one."
    )
    result_path: Optional[str] = arg(
        None, "Where to write results (jsonl); None means the checkpoint folder or ./result.", hot=True
    )
    metric: Optional[str] = arg(
        None,
        "Evaluate the results: acc or rouge (or a metric a plugin registers with score_texts); None skips.",
        choices=("acc", "rouge"),
        registry="metrics",
    )
    val_dataset_sample: Optional[int] = arg(None, "Number of dataset samples to infer.")
