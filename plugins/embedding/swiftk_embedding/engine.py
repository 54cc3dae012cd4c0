"""An embedding or reranker checkpoint in ``swiftk infer`` and ``swiftk deploy``.

Such a model does not generate: a chat request is answered in one forward, the answer's content being JSON
text, as a classifier's is: an embedding model's the conversation's vector (``"[0.01, ...]"``), a reranker's
the relevance of the conversation's last answer (the document) to what precedes it (the query).  The
deploy routes (:mod:`swiftk_embedding.routes`) call :meth:`TaskEngine.embed` and :meth:`TaskEngine.rerank`.
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

from swiftk_embedding import forward
from swiftk_embedding.data import encode_ids, pad, pair

DEFAULT_MAX_BATCH_SIZE = 32
TASKS = ("embedding", "reranker", "generative_reranker")


class TaskEngine(InferEngine):
    """Embeds or scores texts with a model trained by ``--task_type embedding | reranker | generative_reranker``."""

    def __init__(
        self, model: Any, template: Any, task: str, *, model_name: str = "model", max_batch_size: int = 32, **options
    ):
        self.model = model.eval()
        self.template = template
        self.tokenizer = template.tokenizer
        self.task = task
        self.model_name = model_name
        self.max_batch_size = max(1, int(max_batch_size or 1))
        self.use_activation = bool(options.get("use_activation", True))
        self.tokens = forward.yes_no_ids(self.tokenizer) if task == "generative_reranker" else None
        self._lock = threading.Lock()

    @classmethod
    def from_args(cls, args: Any) -> "TaskEngine":
        from swiftk.api import UsageError, get_template, load_model_and_processor
        from swiftk_infer.common import served_name
        from swiftk_infer.pt_engine import load_adapters, split_adapters

        if args.get("task_type") not in TASKS and args.get("infer_backend") in TASKS:
            args.task_type = args.infer_backend  # --infer_backend embedding on a checkpoint that records no task
        model, processor, info = load_model_and_processor(args)
        plain, named = split_adapters(list(args.get("adapters") or []))
        if named:
            raise UsageError(f"--adapters {', '.join(named)}=...: a {info.task_type} model is served with its adapters "
                             f"merged; pass them without a name")  # fmt: skip
        if plain:
            model = load_adapters(model, plain, merge=True, args=args)
        template = get_template(args, processor, info, mode="train")  # documents are answers: rendered whole
        explicit = getattr(args, "explicit", set()) or set()
        batch = args.get("max_batch_size") if "max_batch_size" in explicit else DEFAULT_MAX_BATCH_SIZE
        return cls(
            model,
            template,
            info.task_type,
            model_name=served_name(args),
            max_batch_size=batch,
            use_activation=args.get("reranker_use_activation", True),
        )

    # -- the work ------------------------------------------------------------------------------------
    def _ids(self, messages: list[dict]) -> list[int]:
        try:
            return encode_ids(self.template, messages)
        except ValueError as exc:  # a text the template cannot encode (too long, malformed)
            raise InferError(str(exc), "input") from None

    def _run(self, conversations: list[list[dict]]) -> tuple[list[list[float]], list[int]]:
        """The model's output rows (vectors, or one score each) and each input's token count."""
        import torch

        device = next(self.model.parameters()).device
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        encoded = [self._ids(c) for c in conversations]
        rows: list[list[float]] = []
        for start in range(0, len(encoded), self.max_batch_size):
            batch = {k: v.to(device) for k, v in pad(encoded[start : start + self.max_batch_size], pad_id).items()}
            with self._lock, torch.no_grad():
                out = forward.outputs(self.model, self.task, batch, self.tokens)
            values = out.get("last_hidden_state")
            if values is None:
                values = out["logits"]
                values = torch.sigmoid(values) if self.use_activation else values
            rows += values.float().cpu().tolist()
        return rows, [len(e) for e in encoded]

    def embed(self, conversations: list[list[dict]]) -> tuple[list[list[float]], list[int]]:
        """Normalised vectors (embedding models only)."""
        if self.task != "embedding":
            raise InferError(f"the model is a {self.task}, not an embedding model: use /v1/rerank", "model")
        return self._run(conversations)

    def rerank(self, query: str, documents: list[str]) -> tuple[list[float], int]:
        """One relevance score per document, and the tokens read: a reranker's score (sigmoid unless
        ``--reranker_use_activation false``), or an embedding model's cosine similarity."""
        if self.task == "embedding":
            vectors, counts = self._run([[{"role": "user", "content": t}] for t in [query] + documents])
            first = vectors[0]
            return [sum(a * b for a, b in zip(first, v)) for v in vectors[1:]], sum(counts)
        user = [{"role": "user", "content": query}]
        scored, counts = self._run([pair(user, [{"role": "assistant", "content": d}]) for d in documents])
        return [row[0] for row in scored], sum(counts)

    # -- the chat interface ----------------------------------------------------------------------------
    def _answer(self, requests: list[InferRequest]) -> list[tuple[str, int]]:
        conversations = []
        for request in requests:
            if request.adapter:
                raise InferError(f"unknown adapter {request.adapter!r}; served: none", "model", 404, "model_not_found")
            if request.prompt is not None and not request.messages:
                conversations.append([{"role": "user", "content": request.prompt}])
            else:
                conversations.append([m for m in request.messages])
        rows, counts = self._run(conversations)
        return [(json.dumps(row if self.task == "embedding" else row[0]), n) for row, n in zip(rows, counts)]

    def infer(
        self, requests: list[InferRequest], config: Optional[RequestConfig] = None, *, use_tqdm: bool = False
    ) -> list[ChatCompletionResponse]:
        return [
            ChatCompletionResponse(
                self.model_name, [Choice(0, {"role": "assistant", "content": text}, "stop")], Usage(n, 0, n)
            )
            for text, n in self._answer(list(requests))
        ]

    def infer_stream(
        self, request: InferRequest, config: Optional[RequestConfig] = None
    ) -> Iterator[ChatCompletionStreamResponse]:
        ((text, n),) = self._answer([request])
        yield ChatCompletionStreamResponse(
            self.model_name,
            [StreamChoice(0, {"role": "assistant", "content": text}, "stop")],
            f"chatcmpl-{uuid.uuid4().hex}",
            Usage(n, 0, n),
        )

    def label_text(self, label: Any) -> Optional[str]:
        """A dataset row's ``label`` as the result line's ``labels`` (its presence makes ``swiftk infer`` pass each
        row's whole conversation: a reranker's document is its last answer)."""
        return None if label is None else json.dumps(label)

    def routes(self, server: Any) -> list:
        """``swiftk deploy``'s extra routes for this model (see swiftk_infer.deploy)."""
        from swiftk_embedding.routes import routes

        return routes(self, server)
