"""The entry-point module: the built-in datasets, registered without importing ``datasets``.

``swift/self-cognition`` keeps ms-swift's id (and its ModelScope/HF ids), so ms-swift command
lines work unchanged; the demo sets live under ``swiftk/``.  All of them ship in the wheel.
"""

import os

import swiftk
from swiftk.api import DatasetMeta, SubsetDataset

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
_SELF_COGNITION = "swiftk_datasets.self_cognition"


def _data(name: str) -> str:
    return os.path.join(DATA_DIR, name)


def builtin_datasets() -> dict:
    """Registry name -> DatasetMeta of every dataset this plugin ships."""
    return {
        "swift/self-cognition": DatasetMeta(
            ms_dataset_id="swift/self-cognition",
            hf_dataset_id="modelscope/self-cognition",
            dataset_path=_data("self_cognition.jsonl"),
            dataset_name="self-cognition",
            subsets=[
                SubsetDataset(name="default", preprocess_func=f"{_SELF_COGNITION}:default"),
                SubsetDataset(name="qwen3", preprocess_func=f"{_SELF_COGNITION}:qwen3"),
                SubsetDataset(name="empty_think", preprocess_func=f"{_SELF_COGNITION}:empty_think"),
            ],
            tags=["chat", "self-cognition", "zh", "en"],
            help="About 100 who-are-you pairs; needs --model_name ZH EN and --model_author ZH EN.",
        ),
        "swiftk/demo-sft": DatasetMeta(
            dataset_path=_data("demo_sft.jsonl"),
            dataset_name="demo-sft",
            tags=["chat", "demo"],
            help="Small chat set in messages form (zh/en, multi-turn, one tool call).",
        ),
        "swiftk/demo-pt": DatasetMeta(
            dataset_path=_data("demo_pt.jsonl"),
            dataset_name="demo-pt",
            tags=["pretrain", "demo"],
            help="Plain text rows for swiftk pt.",
        ),
        "swiftk/demo-dpo": DatasetMeta(
            dataset_path=_data("demo_dpo.jsonl"),
            dataset_name="demo-dpo",
            tags=["rlhf", "dpo", "demo"],
            help="Preference pairs: messages plus rejected_response.",
        ),
        "swiftk/demo-kto": DatasetMeta(
            dataset_path=_data("demo_kto.jsonl"),
            dataset_name="demo-kto",
            tags=["rlhf", "kto", "demo"],
            help="Unpaired preference rows: messages plus a true/false label.",
        ),
        "swiftk/demo-grpo-math": DatasetMeta(
            dataset_path=_data("demo_grpo_math.jsonl"),
            dataset_name="demo-grpo-math",
            tags=["rlhf", "grpo", "math", "demo"],
            help="Arithmetic questions with a `solution` column for accuracy rewards.",
        ),
        "swiftk/demo-grpo-sums": DatasetMeta(
            dataset_path=_data("demo_grpo_sums.jsonl"),
            dataset_name="demo-grpo-sums",
            tags=["rlhf", "grpo", "math", "demo"],
            help="Every one-digit sum asked in two ways the demo model was not trained on ('What does 3 + 4 make?', "
            "'Please compute 3 + 4.') with its `solution`: it answers about one in five, so GRPO's accuracy "
            "reward has room to rise.",
        ),
    }


@swiftk.hookimpl
def register_datasets(register):
    for name, meta in builtin_datasets().items():
        register(name, meta)


@swiftk.hookimpl
def register_arguments(register):
    # later ms-swift's tokenized datasets (the kernel's pipelines/cached_data.py reads them)
    register("cached_dataset", "swiftk_datasets.cached_args:CachedDatasetArguments", commands=["sft", "pt", "rlhf"])
    register("to_cached_dataset", "swiftk_datasets.cached_args:CachedExportArguments", commands=["export"])
    register("shuffle_buffer_size", "swiftk_datasets.later_args:StreamShuffleArguments", commands=["sft", "pt", "rlhf"])


@swiftk.hookimpl
def load_datasets(args):
    from swiftk_datasets.pipeline import load_datasets as load

    return load(args)


@swiftk.hookimpl
def encode_dataset(dataset, encode_fn, options):
    from swiftk_datasets.encode import encode_dataset as encode

    return encode(dataset, encode_fn, **options)


@swiftk.hookimpl
def mswift_facade():
    """ms-swift's row preprocessor classes and load_dataset, for registration files written for ms-swift."""
    from swiftk_datasets import compat

    names = {
        name: getattr(compat, name)
        for name in (
            "RowPreprocessor",
            "ResponsePreprocessor",
            "AlpacaPreprocessor",
            "AutoPreprocessor",
            "MessagesPreprocessor",
        )
    }
    # the facade maps ms-swift's load_dataset(datasets, ...) keywords to `swiftk sft` arguments
    names["load_dataset"] = _load_dataset
    return names


def _load_dataset(args):
    """``(train_dataset, val_dataset or None)`` as ``swiftk sft`` loads them (``--dataset`` ...)."""
    from swiftk.api import load_datasets

    return load_datasets(args)
