"""``--metric kit_len_ratio``: how long the model's answers are against the references.

``len_ratio`` is the mean of ``len(answer) / len(reference)`` in characters (1.0: as long as the
reference), ``len_close`` the share of answers within 20% of their reference's length.  The Trainer
calls ``compute`` with one ``transformers.EvalPrediction``; ``swiftk infer --metric kit_len_ratio``
scores answer texts through :func:`len_ratio_texts` (registered as ``score_texts``).
"""

from __future__ import annotations

from typing import Any


def len_ratio_texts(predictions: list[str], references: list[str]) -> dict[str, float]:
    """The metric on texts (the ``score_texts`` of kit_len_ratio)."""
    if not references:
        return {"len_ratio": 0.0, "len_close": 0.0}
    ratios = [len(p.strip()) / max(len(r.strip()), 1) for p, r in zip(predictions, references)]
    return {
        "len_ratio": sum(ratios) / len(ratios),
        "len_close": sum(abs(x - 1.0) <= 0.2 for x in ratios) / len(ratios),
    }


def len_ratio_metric(args: Any, tokenizer: Any):
    """``factory(args, tokenizer)`` -> ``compute(eval_prediction)``."""
    if tokenizer is None:
        raise ValueError("kit_len_ratio decodes answers and references: it needs the tokenizer")
    generated = bool(args.get("predict_with_generate", False)) if args is not None else False
    pad_id = tokenizer.pad_token_id

    def keep(token: Any) -> bool:
        return int(token) >= 0 and int(token) != pad_id

    def decode(ids: list) -> str:
        return tokenizer.decode([int(t) for t in ids], skip_special_tokens=True).strip()

    def compute(eval_prediction: Any) -> dict[str, float]:
        import numpy as np

        predictions = eval_prediction.predictions
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        predictions = np.asarray(predictions)
        if predictions.ndim == 3:  # logits, when no preprocess_logits_for_metrics reduced them
            predictions = predictions.argmax(-1)
        label_ids = np.asarray(eval_prediction.label_ids)
        answers, references = [], []
        for pred_row, label_row in zip(predictions, label_ids):
            if generated:
                answers.append(decode([t for t in pred_row if keep(t)]))
                references.append(decode([t for t in label_row if keep(t)]))
            else:  # argmax ids: position t predicts label t + 1
                positions = [t for t in range(1, len(label_row)) if label_row[t] != -100]
                answers.append(decode([pred_row[t - 1] for t in positions]))
                references.append(decode([label_row[t] for t in positions]))
        return len_ratio_texts(answers, references)

    return compute
