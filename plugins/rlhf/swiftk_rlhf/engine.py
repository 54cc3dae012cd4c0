"""``--infer_backend reward``: a reward model (the output of ``--rlhf_type rm``) in ``swiftk infer``/``deploy``.

A reward model does not generate: each request's conversation is scored, and the answer's content
is the score (``"1.2345"``), as ms-swift's pt engine answers for a reward model.  A conversation
that ends with an assistant message scores that answer; one that ends with a user message scores
the prompt (up to the assistant prefix).

    swiftk infer --adapters output/rm/checkpoint-20                              # LoRA rm
    swiftk infer --model output/rm/checkpoint-20                                 # full rm

The default backend (pt) hands a checkpoint of an ``rm`` run (its args.json says so) to this engine;
``--infer_backend reward`` scores with any other one-output classifier.  A classifier with more labels
is swift-plugin-infer's (:mod:`swiftk_infer.classify`).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Iterator, Optional

from swiftk.api import (
    ChatCompletionResponse,
    ChatCompletionStreamResponse,
    Choice,
    InferEngine,
    InferRequest,
    RequestConfig,
    StreamChoice,
    UsageError,
    Usage,
)


class RewardEngine(InferEngine):
    """Scores conversations with a one-output sequence classifier."""

    task = "reward"  # what /v1/models says of it

    def __init__(self, model: Any, template: Any, *, model_name: str = "model", max_batch_size: int = 8):
        from swiftk_rlhf.reward_model import causal_template

        self.model = model.eval()
        self.template = causal_template(template)
        self.model_name = model_name
        self.max_batch_size = max(1, int(max_batch_size or 1))
        self._lock = threading.Lock()

    @classmethod
    def from_args(cls, args: Any) -> "RewardEngine":
        from swiftk.api import derived_args, get_template, load_model_and_processor, resolve_model
        from swiftk_rlhf.reward_model import one_output_classifier

        outputs = resolve_model(args).num_labels  # a classifier's (args.json or config.json), before loading
        if outputs not in (None, 1):
            raise UsageError(
                f"--infer_backend reward: --model {args.model} is a classifier with {outputs} labels, not a "
                f"one-output reward model; leave out --infer_backend (pt classifies it)"
            )
        args = derived_args(args, task_type="seq_cls", num_labels=1)
        model, processor, info = load_model_and_processor(args)
        model = one_output_classifier(
            model, list(args.get("adapters") or []), "--adapters", f"--infer_backend reward: --model {args.model}"
        )
        template = get_template(args, processor, info, mode="train")
        name = args.get("served_model_name") or (args.model or "model").rstrip("/").split("/")[-1]
        return cls(model, template, model_name=name, max_batch_size=args.get("max_batch_size") or 8)

    def _ids(self, request: InferRequest) -> list[int]:
        row: dict[str, Any] = {"messages": list(request.messages)}
        if request.tools:
            import json

            row["tools"] = json.dumps(request.tools, ensure_ascii=False)
        answered = bool(row["messages"]) and row["messages"][-1].get("role") == "assistant"
        return list(self.template.encode(row, add_generation_prompt=not answered)["input_ids"])

    def score(self, requests: list[InferRequest]) -> list[tuple[float, int]]:
        """``(reward, tokens)`` of each request's conversation."""
        import torch

        tokenizer = self.template.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        device = next(self.model.parameters()).device
        out: list[tuple[float, int]] = []
        for start in range(0, len(requests), self.max_batch_size):
            encoded = [self._ids(r) for r in requests[start : start + self.max_batch_size]]
            width = max(len(e) for e in encoded)
            ids = torch.tensor([e + [pad] * (width - len(e)) for e in encoded], device=device)
            mask = torch.tensor([[1] * len(e) + [0] * (width - len(e)) for e in encoded], device=device)
            with self._lock, torch.no_grad():
                logits = self.model(input_ids=ids, attention_mask=mask).logits
            out.extend((float(v), len(e)) for v, e in zip(logits[:, 0].tolist(), encoded))
        return out

    def infer(
        self, requests: list[InferRequest], config: Optional[RequestConfig] = None, *, use_tqdm: bool = False
    ) -> list[ChatCompletionResponse]:
        return [
            ChatCompletionResponse(
                self.model_name, [Choice(0, {"role": "assistant", "content": f"{s:.4f}"}, "stop")], Usage(n, 0, n)
            )
            for s, n in self.score(list(requests))
        ]

    def infer_stream(
        self, request: InferRequest, config: Optional[RequestConfig] = None
    ) -> Iterator[ChatCompletionStreamResponse]:
        ((s, n),) = self.score([request])
        yield ChatCompletionStreamResponse(
            self.model_name,
            [StreamChoice(0, {"role": "assistant", "content": f"{s:.4f}"}, "stop")],
            f"chatcmpl-{uuid.uuid4().hex}",
            Usage(n, 0, n),
        )
