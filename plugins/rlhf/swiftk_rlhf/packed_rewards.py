"""The reward model's forward in ``--rlhf_type rm`` without the batch's padding.

trl's RewardTrainer puts each pair's chosen and rejected conversations in one padded batch (the chosen
half, then the rejected half) and calls the sequence classifier on it: every layer runs over the
padding, and the score head over every position, to keep one per row. :func:`install` wraps the
classifier's forward so that, for a batch of ids and an attention mask on a model that can run
without its padding (:func:`swiftk_sft.plain_head.unpadded_hidden`), the backbone runs on the rows'
tokens end to end and the score head on the pooled positions only. The pooled position is the one
transformers pools (the rightmost token that is not the pad token), so the rewards are the same to
float rounding; anything else (other inputs, labels, a model that pools another way) runs the
classifier's own forward.
"""

from __future__ import annotations

import types
from typing import Any


def _classifier(model: Any) -> Any:
    """The transformers classifier under any PEFT wrapper, if it is transformers' generic one (whose pooling
    :func:`_packed_logits` repeats)."""
    from transformers.modeling_layers import GenericForSequenceClassification

    target = model.get_base_model() if hasattr(model, "get_base_model") else model
    if (
        isinstance(target, GenericForSequenceClassification)
        and type(target).forward is GenericForSequenceClassification.forward
    ):
        return target
    return None


def install(model: Any) -> bool:
    """Wrap the classifier's forward (once); returns whether it was wrapped."""
    classifier = _classifier(model)
    if classifier is None or getattr(classifier.__dict__.get("forward"), "_swiftk_packed_rewards", False):
        return False
    original = classifier.forward

    def forward(self, *args, **kwargs):
        if not args:
            logits = _packed_logits(self, kwargs)
            if logits is not None:
                from transformers.modeling_outputs import SequenceClassifierOutputWithPast

                return SequenceClassifierOutputWithPast(logits=logits)
        return original(*args, **kwargs)

    bound = types.MethodType(forward, classifier)
    bound.__func__.__wrapped__ = type(classifier).forward
    bound.__func__._swiftk_packed_rewards = True
    classifier.forward = bound
    return True


def _packed_logits(model: Any, kwargs: dict) -> Any:
    import torch

    from swiftk_sft.plain_head import unpadded_hidden

    pad_token_id = model.config.get_text_config().pad_token_id
    ids = kwargs.get("input_ids")
    if pad_token_id is None or ids is None or kwargs.get("labels") is not None:
        return None
    if kwargs.get("return_dict") is False:
        return None
    # PEFT passes the optional inputs as None; any other (embeddings, attentions wanted) runs the original
    inputs = {key: value for key, value in kwargs.items() if value is not None and key != "return_dict"}
    hidden = unpadded_hidden(model, inputs)
    if hidden is None:
        return None
    # transformers' pooling: the rightmost token that is not the pad token, per row
    columns = torch.arange(ids.shape[-1], device=ids.device, dtype=torch.int32)
    last = (columns * (ids != pad_token_id).to(torch.int32)).argmax(-1)
    rows = torch.arange(ids.shape[0], device=ids.device)
    return model.score(hidden[rows, last])
