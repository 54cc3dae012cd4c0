"""What the model outputs for each task, shared by training and serving so that both compute the same thing.

* embedding: the backbone's hidden state at each row's last real token, L2-normalised (ms-swift's
  ``patch_output_normalizer``): the language-model head is never run.
* reranker: a ``*ForSequenceClassification`` model with one label; its logit is the score.
* generative_reranker: a causal LM; the score is the logit of ``GENERATIVE_RERANKER_POSITIVE_TOKEN`` ("yes")
  minus that of ``GENERATIVE_RERANKER_NEGATIVE_TOKEN`` ("no") at the last real token.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F

from swiftk.api import UsageError


def last_indices(mask: torch.Tensor) -> torch.Tensor:
    """The position of each row's last real token, with padding on either side."""
    width = mask.shape[1]
    return width - 1 - mask.flip(dims=[1]).long().argmax(dim=1)


def _backbone(model: Any) -> Any:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(base, getattr(base, "base_model_prefix", "model"), None)
    if inner is None:
        raise UsageError(f"--task_type embedding: {type(base).__name__} has no backbone to pool (no .model)")
    return inner


def embed(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Normalised last-token embeddings [rows, hidden]."""
    hidden = _backbone(model)(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return F.normalize(hidden[rows, last_indices(attention_mask)].float(), p=2, dim=-1)


def yes_no_ids(tokenizer: Any) -> tuple[int, int]:
    """The ids of the generative reranker's two tokens; a token the vocabulary lacks is refused."""
    ids = []
    for name, default in (("POSITIVE", "yes"), ("NEGATIVE", "no")):
        variable = f"GENERATIVE_RERANKER_{name}_TOKEN"
        token = os.environ.get(variable, default)
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or (token_id == tokenizer.unk_token_id and token != tokenizer.unk_token):
            raise UsageError(f"{variable}={token}: not a token of the model's vocabulary; set it to one")
        ids.append(int(token_id))
    return ids[0], ids[1]


def scores(model: Any, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor, tokens=None) -> torch.Tensor:
    """One relevance logit per row, [rows, 1]."""
    if task == "generative_reranker":
        positive, negative = tokens
        last = last_indices(attention_mask)
        hidden = _backbone(model)(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        picked = hidden[rows, last]
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        logits = base.get_output_embeddings()(picked).float()  # the head on the last tokens only
        return (logits[:, positive] - logits[:, negative]).unsqueeze(-1)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
    if logits.shape[-1] != 1:
        raise UsageError(f"--task_type reranker: the model has {logits.shape[-1]} labels; a reranker scores with one")
    return logits


def outputs(model: Any, task: str, batch: dict, tokens=None) -> dict:
    """The loss functions' ``outputs``: ``last_hidden_state`` (embedding) or ``logits`` (rerankers)."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if task == "embedding":
        return {"last_hidden_state": embed(model, ids, mask)}
    return {"logits": scores(model, task, ids, mask, tokens)}
