"""Where the chat page's answers come from: an OpenAI-compatible ``/v1``, remote or served in this process.

Without ``--base_url`` the model is served by swift-plugin-infer's deploy server on 127.0.0.1 in a thread of
this process (:class:`swiftk_infer.deploy.BackgroundServer`: every deploy argument, adapters and backends,
and concurrent requests batched by the engine); the page then talks to it exactly as to a remote
``--base_url``, with the same client, so both paths are one.  The model loads in the background while gradio
builds and serves the page, which is up before the weights are; a turn sent meanwhile waits for them.
The load starts once the page is served, not alongside gradio's import: both are mostly Python holding the
GIL, so running them together would delay the page by the model's imports and gain little.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Optional

logger = logging.getLogger("swiftk.webui")

#: concurrent chat events without --max_batch_size: the pt engine's own default batch (its DEFAULT_MAX_BATCH_SIZE)
DEFAULT_CONCURRENCY = 32
#: seconds to wait for a remote --base_url's model list at start
CONNECT_TIMEOUT = 15.0
#: a model type's tags -> the media kind the page then accepts
_TAG_KINDS = (("vision", "image"), ("image", "image"), ("video", "video"), ("audio", "audio"))


def concurrency(args: Any) -> int:
    """How many chats run at once: the engine's batch (``--max_batch_size``; vLLM's ``--max_num_seqs``)."""
    explicit = getattr(args, "explicit", set()) or set()
    if "max_batch_size" in explicit and args.get("max_batch_size"):
        return int(args.max_batch_size)
    if args.get("infer_backend") == "vllm" and args.get("max_num_seqs"):
        return int(args.max_num_seqs)
    return DEFAULT_CONCURRENCY


def media_kinds(flag: Optional[bool], meta: Any) -> frozenset:
    """The media the page lets the user attach: none for a text model; for a multimodal one (``--is_multimodal``,
    or the model type's ``is_multimodal`` when None) the kinds its tags name, every kind when they name none."""
    multimodal = flag if flag is not None else bool(getattr(meta, "is_multimodal", False))
    if not multimodal:
        return frozenset()
    tags = {str(t).lower() for t in (getattr(meta, "tags", None) or [])}
    kinds = {kind for tag, kind in _TAG_KINDS if tag in tags}
    return frozenset(kinds or {"image", "audio", "video"})


class Backend:
    """The model behind the page: ``client`` (an :class:`~swiftk_infer.client.InferClient`), ``model`` (the
    served name), ``name`` (for the title), ``kinds`` (media it takes) once :meth:`start` returned; the
    client waits until a local model is loaded."""

    def __init__(self, args: Any):
        self.args = args
        self.remote = bool(args.get("base_url"))
        self.model: Optional[str] = None
        self.name = ""
        self.kinds: frozenset = frozenset()
        self.error: Optional[BaseException] = None
        self.ready = threading.Event()
        self._client: Any = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- start ----------------------------------------------------------------------------------
    def start(self) -> "Backend":
        """:meth:`check`, then :meth:`load`."""
        return self.check().load()

    def check(self) -> "Backend":
        """What can be checked at once: a remote server answers (and then the backend is ready), a local
        `--model` resolves; a bad argument raises UsageError here, before any page is served."""
        if self.remote:
            self._connect()
        else:
            self._resolve_local()
        return self

    def load(self) -> "Backend":
        """Start loading a local model in a thread (`ready` is set once it answers, or it failed)."""
        if not self.remote and self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="swiftk-app-model", daemon=True)
            self._thread.start()
        return self

    def _connect(self) -> None:
        from swiftk.api import InferError, UsageError, get_host
        from swiftk_infer.client import InferClient

        url, key = self.args.base_url, self.args.get("api_key")
        probe = InferClient(url, api_key=key, timeout=CONNECT_TIMEOUT)
        try:
            models = probe.models()
        except InferError as exc:
            what = "--api_key" if exc.status in (401, 403) else "--base_url"
            raise UsageError(f"{what}: {probe.base_url}/models answered {exc.status}: {exc.message}") from None
        except (ConnectionError, OSError) as exc:
            raise UsageError(f"--base_url {url}: no OpenAI-compatible server answers there ({exc})") from None
        if not models:
            raise UsageError(f"--base_url {url}: the server lists no model at {probe.base_url}/models")
        wanted = self.args.get("served_model_name")
        if wanted and wanted not in models:
            raise UsageError(f"--served_model_name {wanted}: {probe.base_url} serves {', '.join(models)}")
        self.model = self.name = wanted or models[0]
        meta = None
        if self.args.get("model_type"):
            entry = get_host().registry("models").entry_or_none(self.args.model_type)
            meta = entry.load() if entry is not None else None
        self.kinds = media_kinds(self.args.get("is_multimodal"), meta)
        self._client = InferClient(probe.base_url, api_key=key, model=self.model)
        self.ready.set()

    def _resolve_local(self) -> None:
        from swiftk.api import resolve_model

        info = resolve_model(self.args)  # a bad --model is refused now, in one line
        self.kinds = media_kinds(self.args.get("is_multimodal"), info.model_meta)
        self.name = self.args.get("served_model_name") or str(self.args.model).rstrip("/\\").split("/")[-1]

    def _serve(self) -> None:
        from swiftk.api import startup_phase
        from swiftk_infer.client import InferClient
        from swiftk_infer.deploy import BackgroundServer

        try:
            with startup_phase(self.args):
                server = BackgroundServer(self.args, timeout=120.0).__enter__()
        except BaseException as exc:  # shown by wait() in the main thread
            self.error = exc
            self.ready.set()
            return
        try:
            self.model = server.model
            self._client = InferClient(server.url, api_key=self.args.get("api_key"), model=server.model)
            logger.info("model %s served for the page at %s", server.model, server.url)
            self.ready.set()
            self._stop.wait()
        finally:
            server.__exit__(None, None, None)

    # -- use --------------------------------------------------------------------------------------
    def wait(self, timeout: Optional[float] = None) -> bool:
        """True once the model answers; raises what stopped it from loading."""
        done = self.ready.wait(timeout)
        if self.error is not None:
            raise self.error
        return done

    @property
    def client(self) -> Any:
        self.wait()
        return self._client

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
