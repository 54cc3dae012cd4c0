"""How close a quantized export stays to its full-precision model: next-token agreement.

:func:`next_token_agreement` runs both models teacher-forced over the same texts and counts the
positions where their most likely next token is the same.  Used by the export tests and by
``benchmarks/export_cpu.py``.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable


def next_token_agreement(
    reference_dir: str, quantized_dir: str, texts: Iterable[str], *, max_length: int = 64
) -> float:
    """The fraction of positions, over every token of ``texts`` (each cut to ``max_length`` tokens), where
    the argmax next token of the model in ``quantized_dir`` equals that of the model in
    ``reference_dir`` (loaded in float32).  Both load with transformers on CPU; the tokenizer is the
    reference's."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(reference_dir)
    inputs = [tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length).input_ids for text in texts]
    inputs = [ids for ids in inputs if ids.numel()]
    if not inputs:
        raise ValueError("next_token_agreement: the texts hold no token")
    reference = _argmax_tokens(reference_dir, inputs, dtype=torch.float32)
    quantized = _argmax_tokens(quantized_dir, inputs, dtype="auto")
    same = sum(int((a == b).sum()) for a, b in zip(reference, quantized))
    return same / sum(ids.numel() for ids in inputs)


def _argmax_tokens(model_dir: str, inputs: list, dtype: Any) -> list:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, device_map="cpu").eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # bitsandbytes' int8 matmul says once per layer and call that it casts float32 inputs to float16
            warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")
            return [model(input_ids=ids).logits.argmax(-1) for ids in inputs]
    finally:
        del model
