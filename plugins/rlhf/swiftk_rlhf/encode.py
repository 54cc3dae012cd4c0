"""Standard rows → the pre-tokenized form each trl trainer reads (``TrainerSpec.encode``).

The conversation is encoded by the run's template (``Template.encode``), so chosen and rejected
sequences are tokenized exactly as ``swiftk sft`` and ``swiftk infer`` tokenize them; trl never
applies a chat template of its own.  The *completion* of a sequence is the last run of trained
tokens (the last answer and its end-of-turn marker, what ``--loss_scale last_round`` labels);
everything before it is the prompt.  The rejected sequence is the same conversation with the last
answer replaced by ``rejected_response``, or the ``rejected_messages`` conversation.

======================  ================================================================
dpo                      ``prompt_ids``, ``chosen_ids``, ``rejected_ids``
cpo, simpo, orpo         ``prompt_input_ids``, ``chosen_input_ids``/``_attention_mask``/``_labels``,
                         the same for ``rejected``
rm                       ``chosen_ids``, ``rejected_ids`` (whole conversations), ``margin`` if given
kto                      ``prompt_ids``, ``kto_completions``, ``kto_labels`` (one completion per
                         ``label`` row; a preference row gives its chosen (True) and rejected (False))
ppo                      ``input_ids`` of the prompt, ending with the assistant prefix
======================  ================================================================

Encoders raise ``ValueError`` to drop a row (counted in the run's summary) and ``UsageError``
when the dataset as a whole lacks what the type needs.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from swiftk.api import UsageError
from swiftk_rlhf.media import MEDIA_COLUMN, media_of, pack
from swiftk_rlhf.reward_model import causal_template

Encoder = Callable[[dict], dict]
_MEDIA_DPO_ONLY = "rows with images, videos or audio are trained by --rlhf_type dpo only (here: text rows)"


# --- helpers ------------------------------------------------------------------------------------


def _columns(dataset: Any) -> Optional[set]:
    names = getattr(dataset, "column_names", None)
    return set(names) if names else None


def require_columns(dataset: Any, args: Any, any_of: tuple, what: str) -> None:
    columns = _columns(dataset)
    if columns is not None and not columns & set(any_of):
        raise UsageError(
            f"--dataset: --rlhf_type {args.rlhf_type} needs {what}; the data has the columns "
            f"{', '.join(sorted(c for c in columns if not c.startswith('__')))}"
        )


def rejected_row(row: dict) -> Optional[dict]:
    """The row with the rejected answer in place of the chosen one, or None when it has none."""
    messages = row.get("rejected_messages")
    if messages:
        return {**row, "messages": list(messages)}
    rejected = row.get("rejected_response")
    if rejected is None:
        return None
    messages = [dict(m) for m in row.get("messages") or []]
    if not messages or messages[-1].get("role") != "assistant":
        raise ValueError("a preference row must end with the chosen assistant answer")
    messages[-1]["content"] = rejected
    return {**row, "messages": messages}


def split_completion(encoded: dict) -> tuple[list[int], list[int]]:
    """``(prompt ids, completion ids)``: the completion is the last run of labelled tokens."""
    ids, labels = list(encoded["input_ids"]), encoded.get("labels") or []
    trained = [i for i, label in enumerate(labels) if label != -100]
    if not trained:
        raise ValueError("no answer tokens left to train on (cut by --max_length?)")
    end = trained[-1] + 1
    start = trained[-1]
    while start > 0 and labels[start - 1] != -100:
        start -= 1
    return ids[:start], ids[start:end]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def encode_pair(template: Any, row: dict) -> tuple[list[int], list[int], list[int]]:
    """``(prompt, chosen, rejected)`` token ids of a preference row without media."""
    prompt, chosen, rejected, media = encode_pair_with_media(template, row)
    if media:
        raise ValueError(_MEDIA_DPO_ONLY)
    return prompt, chosen, rejected


def encode_pair_with_media(template: Any, row: dict) -> tuple[list[int], list[int], list[int], dict]:
    """``(prompt, chosen, rejected, media columns)`` of a preference row: the media tensors a multimodal
    template made of the prompt (see :mod:`swiftk_rlhf.media`), empty for text."""
    rejected = rejected_row(row)
    if rejected is None:
        raise ValueError("the row has no rejected_response or rejected_messages")
    chosen_enc, rejected_enc = template.encode(row), template.encode(rejected)
    prompt_c, chosen = split_completion(chosen_enc)
    prompt_r, rejected_ids = split_completion(rejected_enc)
    media = media_of(chosen_enc, len(prompt_c))
    if media and not template.meta.extra.get("dpo_media"):
        raise ValueError(
            f"DPO with images, videos or audio takes the Qwen-VL families here, not template {template.template_type}"
        )
    if media and prompt_c != prompt_r:
        raise ValueError("a row with images needs rejected_response (rejected_messages with images is not supported)")
    if prompt_c != prompt_r:  # different histories (rejected_messages): share the common prefix only
        n = min(_common_prefix(chosen_enc["input_ids"], rejected_enc["input_ids"]), len(prompt_c), len(prompt_r))
        chosen = list(chosen_enc["input_ids"][n : len(prompt_c) + len(chosen)])
        rejected_ids = list(rejected_enc["input_ids"][n : len(prompt_r) + len(rejected_ids)])
        prompt_c = prompt_c[:n]
    if chosen == rejected_ids:
        raise ValueError("the chosen and rejected answers are identical")
    return prompt_c, chosen, rejected_ids, media


_PAIR_COLUMNS = ("rejected_response", "rejected_messages")
_PAIR_WHAT = "preference rows: messages ending with the chosen answer plus rejected_response (or rejected_messages)"


# --- encoders (TrainerSpec.encode factories) ---------------------------------------------------


def dpo_encoder(template: Any, args: Any, dataset: Any) -> Encoder:
    require_columns(dataset, args, _PAIR_COLUMNS, _PAIR_WHAT)
    template = causal_template(template)

    multimodal = bool(getattr(template, "is_multimodal", False))

    def encode(row: dict) -> dict:
        prompt, chosen, rejected, media = encode_pair_with_media(template, row)
        out = {"prompt_ids": prompt, "chosen_ids": chosen, "rejected_ids": rejected}
        if multimodal:  # every row has the column, so the encoded dataset keeps it (empty for a text row)
            out[MEDIA_COLUMN] = pack(media)
        return out

    return encode


def paired_encoder(template: Any, args: Any, dataset: Any) -> Encoder:
    """cpo, simpo, orpo: trl's experimental trainers read labelled full sequences."""
    require_columns(dataset, args, _PAIR_COLUMNS, _PAIR_WHAT)
    template = causal_template(template)

    def encode(row: dict) -> dict:
        prompt, chosen, rejected = encode_pair(template, row)
        out = {"prompt_input_ids": prompt, "prompt_attention_mask": [1] * len(prompt)}
        for name, answer in (("chosen", chosen), ("rejected", rejected)):
            out[f"{name}_input_ids"] = prompt + answer
            out[f"{name}_attention_mask"] = [1] * (len(prompt) + len(answer))
            out[f"{name}_labels"] = [-100] * len(prompt) + answer
        return out

    return encode


def rm_encoder(template: Any, args: Any, dataset: Any) -> Encoder:
    """The reward model scores whole conversations: chosen and rejected, prompt included."""
    require_columns(dataset, args, _PAIR_COLUMNS, _PAIR_WHAT)
    template = causal_template(template)
    with_margin = "margin" in (_columns(dataset) or ())

    def encode(row: dict) -> dict:
        prompt, chosen, rejected = encode_pair(template, row)
        out = {"chosen_ids": prompt + chosen, "rejected_ids": prompt + rejected}
        if with_margin:
            out["margin"] = float(row.get("margin") or 0.0)
        return out

    return encode


def kto_encoder(template: Any, args: Any, dataset: Any) -> Encoder:
    require_columns(
        dataset,
        args,
        ("label",) + _PAIR_COLUMNS,
        "rows with a boolean 'label' (desirable or not), or preference rows (rejected_response)",
    )
    template = causal_template(template)

    def encode(row: dict) -> dict:
        if row.get("label") is not None:
            encoded = template.encode(row)
            prompt, completion = split_completion(encoded)
            if media_of(encoded, len(prompt)):
                raise ValueError(_MEDIA_DPO_ONLY)
            return {"prompt_ids": prompt, "kto_completions": [completion], "kto_labels": [bool(row["label"])]}
        prompt, chosen, rejected = encode_pair(template, row)
        return {"prompt_ids": prompt, "kto_completions": [chosen, rejected], "kto_labels": [True, False]}

    return encode


def prompt_encoder(template: Any, args: Any, dataset: Any) -> Encoder:
    """ppo: the prompt, ending with the assistant prefix (an answer in the row is dropped)."""
    template = causal_template(template)

    def encode(row: dict) -> dict:
        encoded = template.encode(row, add_generation_prompt=True)
        ids = list(encoded["input_ids"])
        if media_of(encoded, len(ids)):
            raise ValueError(_MEDIA_DPO_ONLY)
        if not ids:
            raise ValueError("empty prompt")
        return {"input_ids": ids}

    return encode
