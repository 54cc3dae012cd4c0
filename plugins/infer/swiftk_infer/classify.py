"""A sequence classifier in ``swiftk infer``/``deploy``: what the pt backend runs for a ``task_type seq_cls``
checkpoint (``--num_labels`` training, or a model whose config.json names a ``*ForSequenceClassification``).

A classifier does not generate: each request's conversation is classified in one forward, in batches of
``--max_batch_size``, and the answer's content is the prediction, as ms-swift's pt engine answers:

* single-label: the class index (``"2"``), the log-softmax of every class in ``logprobs``;
* multi-label: the indices whose sigmoid is at least 0.5 (``"[0, 2]"``), the log-sigmoids in ``logprobs``;
* regression (``--num_labels 1``, a reward model): the value (``"0.8125"``, four decimals), no ``logprobs``.

``logprobs`` has ms-swift's form: ``{"content": [{"index": prediction, "logprobs": its log-probability
(a list for multi-label), "top_logprobs": [{"index", "logprob"}, ...]}]}``, the classes best first
(``top_logprobs`` of the request, 20 by default).  :meth:`ClassifierEngine.label_text` writes a dataset's
``label`` the way predictions are written, so that ``--metric acc`` compares them.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any, Iterator, Optional

from swiftk.api import (
    ChatCompletionResponse,
    ChatCompletionStreamResponse,
    Choice,
    InferEngine,
    InferError,
    InferRequest,
    RequestConfig,
    StreamChoice,
    Usage,
)

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_TOP_LOGPROBS = 20  # ms-swift's default for a classifier's classes


class ClassifierEngine(InferEngine):
    """Classifies conversations with a ``*ForSequenceClassification`` model (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        template: Any,
        *,
        model_name: str = "model",
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        task: str = "seq_cls",
        problem_type: Optional[str] = None,
    ):
        self.model = model.eval()
        self.template = template
        self.tokenizer = template.tokenizer
        self.model_name = model_name
        self.max_batch_size = max(1, int(max_batch_size or 1))
        self.task = task
        self.num_labels = int(getattr(model.config, "num_labels", None) or template.num_labels or 2)
        self.problem_type = (
            problem_type or getattr(model.config, "problem_type", None) or default_problem(self.num_labels)
        )
        template.num_labels, template.problem_type = self.num_labels, self.problem_type
        self._lock = threading.Lock()

    @classmethod
    def from_args(cls, args: Any, task: str = "seq_cls") -> "ClassifierEngine":
        from swiftk.api import UsageError, get_template, load_model_and_processor
        from swiftk_infer.common import served_name
        from swiftk_infer.pt_engine import load_adapters, split_adapters

        model, processor, info = load_model_and_processor(args)
        plain, named = split_adapters(list(args.get("adapters") or []))
        if named:
            raise UsageError(
                f"--adapters {' '.join(f'{k}={v}' for k, v in named.items())}: a classifier is served with its "
                f"adapters applied; pass them without a name"
            )
        if plain:
            model = load_adapters(model, plain, merge=True, args=args)  # a LoRA's trained head comes with it
        template = get_template(args, processor, info, mode="infer")
        explicit = getattr(args, "explicit", set()) or set()
        batch = args.get("max_batch_size") if "max_batch_size" in explicit else DEFAULT_MAX_BATCH_SIZE
        return cls(
            model,
            template,
            model_name=served_name(args),
            max_batch_size=batch,
            task=task,
            problem_type=info.problem_type,
        )

    # -- encoding and decoding -------------------------------------------------------------------------
    def _ids(self, request: InferRequest) -> list[int]:
        if request.adapter:
            raise InferError(f"unknown adapter {request.adapter!r}; served: none", "model", 404, "model_not_found")
        if request.prompt is not None and not request.messages:  # /v1/completions: the raw text
            return list(self.tokenizer(request.prompt, add_special_tokens=True)["input_ids"])
        row: dict[str, Any] = {"messages": list(request.messages)}
        if request.tools:
            row["tools"] = json.dumps(request.tools, ensure_ascii=False)
        try:
            return list(self.template.encode(row)["input_ids"])
        except ValueError as exc:  # a conversation the template cannot encode (too long, malformed)
            raise InferError(str(exc), "messages") from None

    def predict(self, logits: Any, top_logprobs: int) -> list[tuple[Any, Optional[dict]]]:
        """``(prediction, logprobs)`` of each row of ``logits`` [batch, num_labels] (ms-swift's decoding)."""
        import torch

        logits = logits.float()
        if self.problem_type == "regression":
            values = logits.squeeze(-1).tolist() if logits.shape[-1] == 1 else logits.tolist()
            return [(v, None) for v in values]
        if self.problem_type == "multi_label_classification":
            scores = torch.nn.functional.logsigmoid(logits)
            preds = [(row >= 0.5).nonzero(as_tuple=True)[0].tolist() for row in torch.sigmoid(logits)]
        else:
            scores = torch.log_softmax(logits, -1)
            preds = logits.argmax(-1).tolist()
        return [(pred, _logprobs(pred, row, top_logprobs)) for pred, row in zip(preds, scores)]

    def text(self, prediction: Any) -> str:
        """The answer's content: the class index, the list of indices, or the value with four decimals."""
        if isinstance(prediction, float):
            return f"{prediction:.4f}"
        if isinstance(prediction, list) and prediction and isinstance(prediction[0], float):
            return json.dumps([round(v, 4) for v in prediction])
        return json.dumps(prediction)

    def label_text(self, label: Any) -> Optional[str]:
        """A dataset's ``label`` written as a prediction would be (None without one)."""
        if label is None:
            return None
        try:
            value = self.template.seq_cls_label(label)
        except (TypeError, ValueError) as exc:
            from swiftk.api import UsageError

            raise UsageError(
                f"--val_dataset: {exc} (the model has {self.num_labels} labels, {self.problem_type})"
            ) from None
        if self.problem_type == "multi_label_classification":
            value = [i for i, v in enumerate(value) if v >= 0.5]
        return self.text(value)

    # -- the engine interface --------------------------------------------------------------------------
    def classify(self, requests: list[InferRequest], config: Optional[RequestConfig] = None) -> list[tuple]:
        """``(prediction, logprobs, prompt tokens)`` of each request, batched."""
        import torch

        top = (config.top_logprobs if config is not None else None) or DEFAULT_TOP_LOGPROBS
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        device = next(self.model.parameters()).device
        out: list[tuple] = []
        for start in range(0, len(requests), self.max_batch_size):
            chunk = requests[start : start + self.max_batch_size]
            encoded = [self._ids(r) for r in chunk]
            width = max(len(e) for e in encoded)
            ids = torch.tensor([e + [pad] * (width - len(e)) for e in encoded], device=device)
            mask = torch.tensor([[1] * len(e) + [0] * (width - len(e)) for e in encoded], device=device)
            with self._lock, torch.no_grad():
                logits = self.model(input_ids=ids, attention_mask=mask).logits
            for request, e, (pred, logprobs) in zip(chunk, encoded, self.predict(logits, top)):
                out.append((pred, None if request.prompt is not None and not request.messages else logprobs, len(e)))
        return out

    def infer(
        self, requests: list[InferRequest], config: Optional[RequestConfig] = None, *, use_tqdm: bool = False
    ) -> list[ChatCompletionResponse]:
        return [
            ChatCompletionResponse(
                self.model_name,
                [Choice(0, {"role": "assistant", "content": self.text(pred)}, "stop", logprobs=logprobs)],
                Usage(n, 0, n),
            )
            for pred, logprobs, n in self.classify(list(requests), config)
        ]

    def infer_stream(
        self, request: InferRequest, config: Optional[RequestConfig] = None
    ) -> Iterator[ChatCompletionStreamResponse]:
        ((pred, logprobs, n),) = self.classify([request], config)
        yield ChatCompletionStreamResponse(
            self.model_name,
            [StreamChoice(0, {"role": "assistant", "content": self.text(pred)}, "stop", logprobs=logprobs)],
            f"chatcmpl-{uuid.uuid4().hex}",
            Usage(n, 0, n),
        )


def default_problem(num_labels: int) -> str:
    """ms-swift's problem type of a classifier that records none: regression for one label, else single-label."""
    return "regression" if num_labels == 1 else "single_label_classification"


def _logprobs(pred: Any, scores: Any, top: int) -> dict:
    values = scores.tolist()
    best = scores.argsort(descending=True)[:top].tolist()
    chosen = [values[p] for p in pred] if isinstance(pred, list) else values[pred]
    return {
        "content": [
            {"index": pred, "logprobs": chosen, "top_logprobs": [{"index": i, "logprob": values[i]} for i in best]}
        ]
    }
