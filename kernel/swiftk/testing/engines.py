"""The engine contract suite: the tests every ``--infer_backend`` (ours or a third party's) should pass.

Subclass :class:`EngineContract` in a test module and name the engine; pytest collects the inherited
tests::

    from swiftk.testing.engines import EngineContract

    class TestMyEngine(EngineContract):
        engine = "my_engine"                       # a registered name
        plugins = ("my_engine_plugin",)            # only if not installed: files or modules to register
        arguments = ("--gpu_memory_utilization", "0.3")   # more flags for building it

The engine is built ONCE per class, as ``swiftk infer`` builds it: ``--model`` (``swiftk/tiny-chat`` by
default, from swift-plugin-demo) and ``--infer_backend`` resolved into the arguments, the
registered ``EngineSpec.engine_cls`` and its ``from_args(args)``; it is closed after the class.  An
engine whose spec says ``needs_gpu`` is skipped on a machine without CUDA.  What the suite checks,
with greedy decoding (``temperature=0``) and a few tokens, what ``swiftk infer`` and ``swiftk deploy``
rely on:

1. the name is registered, and its ``engine_cls`` is an :class:`swiftk.infer.InferEngine` with ``from_args``;
2. the engine builds: a non-empty ``model_name``, ``max_model_len`` None or positive, ``stats()`` None
   or the counters the server logs (``prompt_tokens``, ``generation_tokens``, ``running``, ``waiting``);
3. ``infer(requests, config)`` returns one ``ChatCompletionResponse`` per request, in order: an
   assistant message with text, ``finish_reason`` 'stop' or 'length', usage counts that add up
   (``prompt + completion == total``, ``completion <= max_tokens``), and, where reported, as many
   ``token_ids`` as completion tokens (one more for the end token it stopped on) and as many
   ``prompt_token_ids`` as prompt tokens;
4. greedy decoding is deterministic: the same requests give the same answers again, and one by one
   (``batch_invariant = False`` for an engine whose batched numerics may differ);
5. ``max_tokens`` is respected: a shorter limit cuts the same answer short, at exactly that many
   tokens with ``finish_reason`` 'length';
6. ``infer_stream`` yields ``ChatCompletionStreamResponse`` chunks whose deltas, joined, are the
   non-streamed answer; the last chunk, and only it, carries the ``finish_reason``, and it carries
   the same usage as the non-streamed answer;
7. the asyncio methods the server calls (``infer_async``, ``infer_stream_async``) give the same answer;
8. a request's own mistakes (an unknown adapter; a prompt longer than ``max_model_len``) raise
   :class:`swiftk.infer.InferError` from every method, before any chunk, as
   :class:`~swiftk.infer.InferEngine` documents, and the engine keeps serving afterwards.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional, Sequence

import pytest

__all__ = ["EngineContract", "DEFAULT_MODEL"]

DEFAULT_MODEL = "swiftk/tiny-chat"

#: What ``stats()`` reports when it reports anything (``swiftk deploy --log_interval`` prints them).
STATS_KEYS = ("prompt_tokens", "generation_tokens", "running", "waiting")


class EngineContract:
    """Inherit, set ``engine``; see the module docstring."""

    engine: str = ""
    plugins: Sequence[str] = ()
    model: str = DEFAULT_MODEL
    #: More command-line flags for building the engine (``--max_batch_size 4``, ...).
    arguments: Sequence[str] = ()
    #: The command whose arguments build the engine (``infer``, or ``deploy``).
    command: str = "infer"
    prompts: Sequence[str] = ("What is 3 + 4?", "Who are you?", "What color is grass?")
    max_tokens: int = 12
    #: Whether a batch gives, greedily, the answers each request gets alone.
    batch_invariant: bool = True

    # -- fixtures: one host and one engine per class ---------------------------------------------------
    # (class-scoped fixtures are classmethods: pytest runs them once, not on the instance each test gets)
    @pytest.fixture(scope="class")
    @classmethod
    def engine_host(cls) -> Any:
        from swiftk.testing.plugins import host_with

        with host_with(cls.plugins) as host:
            yield host

    @pytest.fixture(scope="class")
    @classmethod
    def engine_spec(cls, engine_host: Any) -> Any:
        registry = engine_host.registry("infer_engines")
        assert cls.engine in registry, f"'{cls.engine}' is not a registered inference backend"
        return registry.get(cls.engine)

    @pytest.fixture(scope="class")
    @classmethod
    def infer_engine(cls, engine_host: Any, engine_spec: Any) -> Any:
        from swiftk.cli.builtin import resolve_arguments
        from swiftk.registry import load_reference

        if getattr(engine_spec, "needs_gpu", False):
            import torch

            if not torch.cuda.is_available():
                pytest.skip(f"inference backend '{cls.engine}' needs a GPU")
        args = resolve_arguments(cls.command, ["--model", cls.model, "--infer_backend", cls.engine, *cls.arguments])
        engine = load_reference(engine_spec.engine_cls).from_args(args)
        try:
            yield engine
        finally:
            engine.close()

    @pytest.fixture(scope="class")
    @classmethod
    def answers(cls, infer_engine: Any) -> list:
        """The greedy answers to :attr:`prompts`, as one batch."""
        return infer_engine.infer([cls.request(p) for p in cls.prompts], cls.greedy())

    # -- helpers -----------------------------------------------------------------------------------------
    @staticmethod
    def request(prompt: str, **kwargs: Any) -> Any:
        from swiftk.infer import InferRequest

        return InferRequest([{"role": "user", "content": prompt}], **kwargs)

    @classmethod
    def greedy(cls, max_tokens: Optional[int] = None) -> Any:
        from swiftk.infer import RequestConfig

        return RequestConfig(max_tokens=max_tokens or cls.max_tokens, temperature=0)

    def check_response(self, response: Any, max_tokens: int) -> str:
        """The answer's text, after checking what a response promises."""
        from swiftk.infer import ChatCompletionResponse

        name = self.engine
        assert isinstance(response, ChatCompletionResponse), (
            f"engine '{name}' returned {type(response).__name__}, not a ChatCompletionResponse"
        )
        assert len(response.choices) == 1 and response.choices[0].index == 0, (
            f"engine '{name}': one choice (index 0) per request without n, got {response.choices}"
        )
        choice = response.choices[0]
        assert choice.message.get("role") == "assistant", f"engine '{name}': message {choice.message}"
        content = choice.message.get("content")
        assert isinstance(content, str), f"engine '{name}': the message's content is {content!r}, not text"
        assert choice.finish_reason in ("stop", "length"), (
            f"engine '{name}': finish_reason {choice.finish_reason!r} is neither 'stop' nor 'length'"
        )
        usage = response.usage
        counts = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
        assert all(isinstance(c, int) and c >= 0 for c in counts), f"engine '{name}': usage {usage}"
        assert usage.prompt_tokens > 0, f"engine '{name}': usage counts no prompt tokens: {usage}"
        assert usage.prompt_tokens + usage.completion_tokens == usage.total_tokens, (
            f"engine '{name}': prompt_tokens + completion_tokens != total_tokens in {usage}"
        )
        assert usage.completion_tokens <= max_tokens, (
            f"engine '{name}': {usage.completion_tokens} completion tokens with max_tokens {max_tokens}"
        )
        if choice.finish_reason == "length":
            assert usage.completion_tokens == max_tokens, (
                f"engine '{name}': finish_reason 'length' after {usage.completion_tokens} of {max_tokens} tokens"
            )
        if choice.token_ids is not None:
            assert len(choice.token_ids) - usage.completion_tokens in (0, 1), (
                f"engine '{name}': {len(choice.token_ids)} token_ids for {usage.completion_tokens} completion tokens"
            )
        if response.prompt_token_ids is not None:
            assert len(response.prompt_token_ids) == usage.prompt_tokens, (
                f"engine '{name}': {len(response.prompt_token_ids)} prompt_token_ids for {usage.prompt_tokens} "
                f"prompt tokens"
            )
        return content

    def stream(self, engine: Any, prompt: str, config: Any) -> list:
        from swiftk.infer import ChatCompletionStreamResponse

        chunks = list(engine.infer_stream(self.request(prompt), config))
        assert chunks, f"engine '{self.engine}': infer_stream yielded no chunk"
        for chunk in chunks:
            assert isinstance(chunk, ChatCompletionStreamResponse), (
                f"engine '{self.engine}': infer_stream yielded {type(chunk).__name__}"
            )
        return chunks

    @staticmethod
    def joined(chunks: Sequence[Any]) -> str:
        return "".join(c.delta.get("content") or "" for chunk in chunks for c in chunk.choices)

    # -- the contract ------------------------------------------------------------------------------------
    def test_the_name_is_registered(self, engine_host: Any, engine_spec: Any) -> None:
        from swiftk.infer import InferEngine
        from swiftk.registry import load_reference

        assert getattr(engine_spec, "engine_cls", None), (
            f"'{self.engine}' must be registered as an EngineSpec(engine_cls=...), not {engine_spec!r}"
        )
        cls = load_reference(engine_spec.engine_cls)
        assert isinstance(cls, type) and issubclass(cls, InferEngine), (
            f"the engine_cls of '{self.engine}' ({cls!r}) is not a subclass of swiftk.infer.InferEngine"
        )
        assert callable(getattr(cls, "from_args", None)), f"the engine_cls of '{self.engine}' has no from_args(args)"

    def test_it_builds_from_the_arguments(self, infer_engine: Any) -> None:
        from swiftk.infer import InferEngine

        assert isinstance(infer_engine, InferEngine)
        assert isinstance(infer_engine.model_name, str) and infer_engine.model_name, (
            f"engine '{self.engine}': model_name {infer_engine.model_name!r} (the server's model id)"
        )
        size = infer_engine.max_model_len
        assert size is None or (isinstance(size, int) and size > 0), f"engine '{self.engine}': max_model_len {size!r}"
        stats = infer_engine.stats()
        if stats is not None:
            missing = [k for k in STATS_KEYS if not isinstance(stats.get(k), (int, float))]
            assert not missing, f"engine '{self.engine}': stats() lacks {missing}: {stats}"

    def test_one_response_per_request(self, answers: list) -> None:
        assert isinstance(answers, list) and len(answers) == len(self.prompts), (
            f"engine '{self.engine}': {len(answers)} responses for {len(self.prompts)} requests"
        )
        for response in answers:
            self.check_response(response, self.max_tokens)

    def test_greedy_is_deterministic(self, infer_engine: Any, answers: list) -> None:
        first = [self.check_response(r, self.max_tokens) for r in answers]
        again = infer_engine.infer([self.request(p) for p in self.prompts], self.greedy())
        assert [self.check_response(r, self.max_tokens) for r in again] == first, (
            f"engine '{self.engine}': the same greedy batch gave other answers"
        )
        if self.batch_invariant:
            alone = [
                self.check_response(infer_engine.infer([self.request(p)], self.greedy())[0], self.max_tokens)
                for p in self.prompts
            ]
            assert alone == first, (
                f"engine '{self.engine}': greedy answers one by one differ from the batch's "
                f"(or the batch's are out of order)"
            )

    def test_max_tokens_is_respected(self, infer_engine: Any, answers: list) -> None:
        for limit in (1, 3):
            cut = infer_engine.infer([self.request(p) for p in self.prompts], self.greedy(limit))
            assert len(cut) == len(self.prompts)
            for full, short in zip(answers, cut):
                text = self.check_response(short, limit)
                whole = full.choices[0].message["content"]
                assert whole.startswith(text.rstrip("\ufffd")), (
                    f"engine '{self.engine}': greedy with max_tokens {limit} gave {text!r}, not a start of {whole!r}"
                )
                if full.usage.completion_tokens > limit:
                    assert short.usage.completion_tokens == limit and short.choices[0].finish_reason == "length", (
                        f"engine '{self.engine}': max_tokens {limit} on a longer answer gave "
                        f"{short.usage.completion_tokens} tokens, finish_reason {short.choices[0].finish_reason!r}"
                    )

    def test_streaming_gives_the_same_answer(self, infer_engine: Any, answers: list) -> None:
        for prompt, response in zip(self.prompts, answers):
            chunks = self.stream(infer_engine, prompt, self.greedy())
            choice = response.choices[0]
            assert self.joined(chunks) == choice.message["content"], (
                f"engine '{self.engine}': the streamed deltas {self.joined(chunks)!r} are not the answer "
                f"{choice.message['content']!r}"
            )
            reasons = [c.finish_reason for chunk in chunks for c in chunk.choices]
            assert reasons and reasons[-1] == choice.finish_reason and not any(reasons[:-1]), (
                f"engine '{self.engine}': finish_reason should come once, on the last chunk "
                f"({choice.finish_reason!r}); the chunks carry {reasons}"
            )
            assert chunks[-1].usage == response.usage, (
                f"engine '{self.engine}': the last chunk's usage {chunks[-1].usage} is not the answer's "
                f"{response.usage}"
            )

    def test_the_server_methods_give_the_same_answer(self, infer_engine: Any, answers: list) -> None:
        prompt, response = self.prompts[0], answers[0]

        async def both() -> tuple:
            one = await infer_engine.infer_async(self.request(prompt), self.greedy())
            chunks = [c async for c in infer_engine.infer_stream_async(self.request(prompt), self.greedy())]
            return one, chunks

        one, chunks = asyncio.run(both())
        text = self.check_response(one, self.max_tokens)
        assert text == response.choices[0].message["content"] and one.usage == response.usage, (
            f"engine '{self.engine}': infer_async gave {text!r} ({one.usage}), infer gave "
            f"{response.choices[0].message['content']!r} ({response.usage})"
        )
        assert self.joined(chunks) == text, (
            f"engine '{self.engine}': infer_stream_async gave {self.joined(chunks)!r}, infer gave {text!r}"
        )

    def test_a_bad_request_raises_infer_error_and_the_engine_keeps_serving(
        self, infer_engine: Any, answers: list
    ) -> None:
        from swiftk.infer import InferError

        bad = [("an unknown adapter", self.request(self.prompts[0], adapter="no-such-adapter-of-the-contract"))]
        if infer_engine.max_model_len:
            too_long = self.request("hello " * (2 * infer_engine.max_model_len))
            bad.append(("a prompt longer than max_model_len", too_long))

        def first_chunk(request: Any) -> None:
            source = iter(infer_engine.infer_stream(request, self.greedy()))
            try:
                next(source)
            finally:
                getattr(source, "close", lambda: None)()

        async def first_async(request: Any) -> None:
            await infer_engine.infer_async(request, self.greedy())

        async def first_async_chunk(request: Any) -> None:
            source = infer_engine.infer_stream_async(request, self.greedy())
            try:
                await source.__anext__()
            finally:
                await source.aclose()

        for what, request in bad:
            calls = {
                "infer": lambda r: infer_engine.infer([r], self.greedy()),
                "infer_stream (its first chunk)": first_chunk,
                "infer_async": lambda r: asyncio.run(first_async(r)),
                "infer_stream_async (its first chunk)": lambda r: asyncio.run(first_async_chunk(r)),
            }
            for method, call in calls.items():
                try:
                    call(request)
                except InferError:
                    continue
                except Exception as exc:
                    pytest.fail(
                        f"engine '{self.engine}': {method} with {what} raised {type(exc).__name__}: {exc}, "
                        f"not an InferError"
                    )
                pytest.fail(f"engine '{self.engine}': {method} with {what} raised no InferError")
        again = infer_engine.infer([self.request(self.prompts[0])], self.greedy())[0]
        assert self.check_response(again, self.max_tokens) == answers[0].choices[0].message["content"], (
            f"engine '{self.engine}': after the refused requests, the engine answers differently"
        )
