"""Arguments swift-plugin-models adds to every command that loads a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Literal, Optional

from swiftk.api import arg

#: The commands that load a model (and so may run a model folder's own code).
MODEL_LOADING_COMMANDS = ("sft", "pt", "rlhf", "infer", "deploy", "app", "eval", "export", "merge-lora", "sample")


@dataclass
class RemoteCodeArguments:
    """Whether a model folder's own Python code (``auto_map`` in its config.json) may run."""

    SECTION = "Remote code"
    SECTION_ZH = "远程代码"

    trust_remote_code: bool = arg(
        True,
        "Run a model folder's own Python code (auto_map in config.json) when loading it. True, as ms-swift "
        "always does; code from a folder not named on the command line is announced first; false refuses it.",
    )


@dataclass
class ProblemTypeArguments:
    """ms-swift's later ``--problem_type``: how a classifier (``--task_type seq_cls``) reads its labels."""

    SECTION = "Classification"
    SECTION_ZH = "分类"

    problem_type: Optional[Literal["regression", "single_label_classification", "multi_label_classification"]] = arg(
        None,
        "A classifier's problem: single_label_classification (label: a class index), multi_label_classification "
        "(label: a list of class indices, or num_labels 0/1 values) or regression (label: a number). None: the "
        "model's own, else regression with --num_labels 1, multi-label when the data's labels are lists, else "
        "single-label.",
    )


@dataclass
class NewSpecialTokensArguments:
    """ms-swift 3.12's ``--new_special_tokens``: tokens added to the tokenizer, the embeddings grown to hold them."""

    SECTION = "Model arguments"
    #: ``--load_args`` copies these from a run's args.json like the page's basic arguments (ms-swift's load_keys
    #: list new_special_tokens), so that a checkpoint of the run loads with the run's vocabulary.
    LOAD_ARGS = True

    new_special_tokens: List[str] = arg(
        list,
        "Tokens to add to the tokenizer as special tokens (later ms-swift), or .txt files of whitespace-separated "
        "tokens; the input and output embeddings grow (to a multiple of 128) when the vocabulary outgrows them. "
        "LoRA trains the new rows only with --modules_to_save embed_tokens lm_head, as in ms-swift.",
    )
