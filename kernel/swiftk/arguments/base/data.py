"""The page's "数据参数"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional

from swiftk.arguments.fields import arg


@dataclass
class DataArguments:
    """Data arguments (the seed page's "数据参数")."""

    SECTION = "Data arguments"
    SECTION_ZH = "数据参数"

    dataset: List[str] = arg(
        list, "Training datasets: '<id or path>[:subset1/subset2|all][#sample_count]' each.", hot=True
    )
    val_dataset: List[str] = arg(list, "Validation datasets, same format as --dataset.", hot=True)
    split_dataset_ratio: float = arg(
        0.01, "Fraction of the training set split off for validation when no --val_dataset; 0 disables.", hot=True
    )
    data_seed: int = arg(42, "Random seed of dataset splitting and sampling.")
    dataset_num_proc: int = arg(1, "Number of processes for dataset preprocessing.", hot=True)
    streaming: bool = arg(False, "Read and process datasets as a stream (for large datasets).", hot=True)
    enable_cache: bool = arg(False, "Cache dataset preprocessing.")
    download_mode: Literal["reuse_dataset_if_exists", "force_redownload"] = arg(
        "reuse_dataset_if_exists", "Dataset download mode."
    )
    columns: Optional[Dict[str, Any]] = arg(
        None, "Column mapping as JSON, e.g. '{\"text1\": \"query\", \"text2\": \"response\"}'."
    )
    strict: bool = arg(False, "Raise on any malformed row instead of dropping it.")
    remove_unused_columns: bool = arg(True, "Drop dataset columns the template does not use.")
    model_name: Optional[List[str]] = arg(
        None, "Self-cognition: the model's Chinese and English names, replacing {{NAME}}.", hot=True
    )
    model_author: Optional[List[str]] = arg(
        None, "Self-cognition: the author's Chinese and English names, replacing {{AUTHOR}}.", hot=True
    )
    custom_dataset_info: List[str] = arg(list, "Paths of JSON files that register custom datasets.")
