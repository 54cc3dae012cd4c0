"""``--new_special_tokens`` (ms-swift 3.12): tokens added to the tokenizer as special tokens, and the model's input
and output embeddings grown to hold them.

As ms-swift does (``get_model_tokenizer``): a value ending in ``.txt`` is a file whose whitespace-separated contents
are tokens; the tokens are added with ``add_special_tokens``; when the embedding has fewer rows than the tokenizer
then has tokens, ``resize_token_embeddings`` grows it to the next multiple of 128 (transformers initialises the new
rows from the old rows' mean and covariance) and the text config's ``vocab_size`` follows.  A checkpoint of the
run saves the tokenizer with the tokens; ``--load_args`` reads the tokens from its args.json, so that the base
model of an adapter checkpoint grows the same way before the adapter loads.  Nothing adds the embedding to the
trained parameters: with LoRA the new rows train only with ``--modules_to_save embed_tokens lm_head`` (ms-swift's
example), which this module's loader reminds of.

torch and transformers are imported inside the functions that need them.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
from typing import Any, Iterable, List

from swiftk.api import UsageError

logger = logging.getLogger("swiftk.model")

#: The embedding grows to a multiple of this many rows (ms-swift's choice).
PAD_TO = 128
_TRAIN_COMMANDS = ("sft", "pt", "rlhf")


def read_new_special_tokens(values: Any) -> List[str]:
    """The tokens of ``--new_special_tokens``: each value a token, or a .txt file of whitespace-separated tokens."""
    if isinstance(values, str):
        values = [values]
    tokens: List[str] = []
    for value in values or []:
        value = str(value)
        if value.endswith(".txt"):
            path = os.path.expanduser(value)
            if not os.path.isfile(path):
                raise UsageError(
                    f"--new_special_tokens {value}: no such file (a value ending in .txt is read as a file of "
                    f"whitespace-separated tokens)"
                )
            with open(path, encoding="utf-8") as f:
                tokens += f.read().split()
        elif value.strip():
            tokens.append(value)
    return list(dict.fromkeys(tokens))


def add_new_special_tokens(model: Any, processor: Any, tokens: Iterable[str], args: Any = None) -> int:
    """Add ``tokens`` to the tokenizer of ``processor`` as special tokens and grow ``model``'s embeddings (when a
    model is loaded) to hold the vocabulary; returns how many tokens were new."""
    tokens = list(tokens)
    tokenizer = getattr(processor, "tokenizer", processor)
    if not tokens or tokenizer is None:
        return 0
    params = inspect.signature(tokenizer.add_special_tokens).parameters
    # extend the tokenizer's extra special tokens, not replace them (a chat template's markers stay special)
    if "replace_extra_special_tokens" in params:  # transformers 5
        added = tokenizer.add_special_tokens({"extra_special_tokens": tokens}, replace_extra_special_tokens=False)
    elif "replace_additional_special_tokens" in params:
        added = tokenizer.add_special_tokens(
            {"additional_special_tokens": tokens}, replace_additional_special_tokens=False
        )
    else:
        added = tokenizer.add_special_tokens({"additional_special_tokens": tokens})
    if not added:
        return 0
    logger.info("--new_special_tokens: added %d new special tokens (vocabulary: %d)", added, len(tokenizer))
    if model is None:
        return added
    rows = _embedding_rows(model)
    if rows is not None and rows < len(tokenizer):
        size = math.ceil(len(tokenizer) / PAD_TO) * PAD_TO
        model.resize_token_embeddings(size)
        for config in _configs(model):
            if getattr(config, "vocab_size", None) is not None:
                config.vocab_size = size
        logger.info("--new_special_tokens: input and output embeddings resized from %d to %d rows", rows, size)
        _remind_of_trained_rows(args, added)
    return added


def _embedding_rows(model: Any) -> Any:
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    weight = getattr(embeddings, "weight", None)
    if weight is not None:
        return int(weight.shape[0])
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return getattr(config, "vocab_size", None)


def _configs(model: Any) -> list:
    """The model's config and, when it has one of its own, its text config (a multimodal model's LLM)."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return [config] if text is config else [config, text]


def _remind_of_trained_rows(args: Any, added: int) -> None:
    """Training with a tuner that leaves the embeddings frozen: the new rows stay as initialised (as in ms-swift,
    where --modules_to_save embed_tokens lm_head trains them); say so once."""
    if args is None or getattr(args, "command", None) not in _TRAIN_COMMANDS:
        return
    if args.get("modules_to_save") or args.get("trainable_parameters"):
        return
    from swiftk.api import get_host

    tuners = get_host().registry("tuners")
    name = args.get("train_type")
    if not name or name not in tuners or getattr(tuners.get(name), "full_parameter", False):
        return
    logger.warning(
        "--new_special_tokens: the %d new tokens' embedding rows stay as initialised with --train_type %s; add "
        "--modules_to_save embed_tokens lm_head (the model's embedding and output layer) to train them",
        added,
        args.get("train_type"),
    )
