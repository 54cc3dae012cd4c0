"""The page's "采样参数" and "MCTS" (swift sample)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional

from swiftk.arguments.fields import arg


@dataclass
class SamplingArguments:
    """Sampling arguments (the seed page's "采样参数")."""

    SECTION = "Sampling arguments"
    SECTION_ZH = "采样参数"

    prm_model: Optional[str] = arg(
        None, "Process reward model: a model id (run with pt) or a PRM registered by a plugin."
    )
    orm_model: Optional[str] = arg(None, "Outcome reward model, usually registered by a plugin.")
    sampler_type: str = arg(
        "sample",
        "Sampling type: sample, mcts, or one a plugin registers.",
        choices=("sample", "mcts"),
        registry="samplers",
    )
    sampler_engine: Literal["pt", "lmdeploy", "vllm", "client", "no"] = arg(
        "pt", "Inference engine of the sampling model."
    )
    output_dir: str = arg("sample_output", "Output folder.")
    output_file: Optional[str] = arg(None, "Output file name (jsonl, no folder); None uses a timestamp.")
    override_exist_file: bool = arg(False, "Overwrite output_file if it exists.")
    num_sampling_per_gpu_batch_size: int = arg(1, "Batch size of each sampling.")
    num_sampling_per_gpu_batches: Optional[int] = arg(None, "Number of batches to sample.")
    n_best_to_keep: int = arg(5, "Number of best sequences returned.")
    data_range: List[int] = arg(list, "Dataset shard as 'index count', e.g. 2 3 processes the third of three shards.")
    temperature: float = arg(1.0, "Sampling temperature.")
    prm_threshold: float = arg(0.0, "Drop results whose PRM score is below this.")
    easy_query_threshold: Optional[float] = arg(
        None, "Drop queries whose fraction of ORM-correct samples exceeds this; None keeps all."
    )
    engine_kwargs: Optional[Dict[str, Any]] = arg(
        None, "Extra sampler_engine arguments as JSON, e.g. '{\"cache_max_entry_count\": 0.7}'."
    )
    num_return_sequences: int = arg(64, "Raw sequences returned per sampling (sample type).")
    cache_files: List[str] = arg(
        list, "Outputs of an earlier run to score with PRM/ORM (set sampler_engine no; --dataset still needed)."
    )


@dataclass
class MCTSArguments:
    """MCTS arguments (the seed page's "MCTS")."""

    SECTION = "MCTS arguments"
    SECTION_ZH = "MCTS"

    rollout_depth: int = arg(5, "Max rollout depth.")
    rollout_start_depth: int = arg(3, "Depth where rollouts start; shallower nodes are only expanded.")
    max_iterations: int = arg(100, "Max MCTS iterations.")
    process_reward_rate: float = arg(0.0, "Share of process reward in the select value; 0 skips PRM.")
    exploration_rate: float = arg(0.5, "UCT exploration parameter.")
    api_key: str = arg("EMPTY", "API key of the client engine.")
    base_url: str = arg("https://dashscope.aliyuncs.com/compatible-mode/v1", "base_url of the client engine.")
