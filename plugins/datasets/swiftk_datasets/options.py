"""The data arguments of a run, read once from ``args`` into a small picklable object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from swiftk_datasets.preprocess import Needs

#: rlhf types and what their rows need beyond a conversation.
_PAIRWISE = ("dpo", "orpo", "simpo", "cpo", "rm")


def needs_of(command: str, rlhf_type: Optional[str], task_type: Optional[str] = None) -> Needs:
    """sft/pt train on the answer; dpo-like types need a rejected one; GRPO/PPO need only prompts;
    a classifier (``--task_type seq_cls``) needs a ``label``, not an answer; embedding and reranker rows
    (swift-plugin-embedding) are checked by their trainer (``positive_messages``...)."""
    if task_type in ("seq_cls", "embedding", "reranker", "generative_reranker") and command in ("sft", "pt"):
        return Needs(why=f"--task_type {task_type}")
    if command in ("sft", "pt"):
        return Needs(response=True, why=f"swiftk {command}")
    if command == "rlhf":
        kind = rlhf_type or "dpo"
        if kind in ("grpo", "ppo"):
            return Needs(why=f"--rlhf_type {kind}")
        if kind == "kto":
            return Needs(response=True, label_or_rejected=True, why="--rlhf_type kto")
        if kind in _PAIRWISE:
            return Needs(response=True, rejected=True, why=f"--rlhf_type {kind}")
        return Needs(response=True, why=f"--rlhf_type {kind}")
    return Needs(why=f"swiftk {command}")


def _pair(value: Any) -> Optional[tuple[str, str]]:
    """``--model_name 小黄 'Xiao Huang'`` -> (zh, en); one value serves both languages (as in ms-swift)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    values = [v for v in value if v is not None]
    if not values:
        return None
    return (values[0], values[1] if len(values) > 1 else values[0])


@dataclass(frozen=True)
class DataOptions:
    """Everything the loaders need, without the rest of ``args``."""

    command: str = "sft"
    needs: Needs = field(default_factory=Needs)
    data_seed: int = 42
    split_dataset_ratio: float = 0.0
    num_proc: int = 1
    streaming: bool = False
    enable_cache: bool = False
    download_mode: str = "reuse_dataset_if_exists"
    columns: Optional[dict] = None
    strict: bool = False
    remove_unused_columns: bool = True
    model_name: Optional[tuple[str, str]] = None
    model_author: Optional[tuple[str, str]] = None
    use_hf: bool = False
    hub_token: Optional[str] = None

    @classmethod
    def from_args(cls, args: Any) -> "DataOptions":
        get = args.get
        command = getattr(args, "command", "sft")
        rlhf_type = get("rlhf_type")
        remove_unused = bool(get("remove_unused_columns", True))
        if command == "rlhf" and rlhf_type == "grpo":
            remove_unused = False  # reward functions read the extra columns (solution, ...), as in ms-swift
        columns = get("columns")
        return cls(
            command=command,
            needs=needs_of(command, rlhf_type, get("task_type")),
            data_seed=int(42 if get("data_seed") is None else get("data_seed")),
            split_dataset_ratio=float(get("split_dataset_ratio") or 0.0),
            num_proc=max(1, int(get("dataset_num_proc") or 1)),
            streaming=bool(get("streaming", False)),
            enable_cache=bool(get("enable_cache", False)),
            download_mode=get("download_mode") or "reuse_dataset_if_exists",
            columns=dict(columns) if columns else None,
            strict=bool(get("strict", False)),
            remove_unused_columns=remove_unused,
            model_name=_pair(get("model_name")),
            model_author=_pair(get("model_author")),
            use_hf=bool(get("use_hf", False)),
            hub_token=get("hub_token"),
        )
