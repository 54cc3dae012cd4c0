"""The engine contract suite catches what it promises: it fails on broken example engines and passes on a
good one (run as a third party would, by pytest in a subprocess). The example engines load no model: they
answer every prompt with the same words, one token a word."""

from __future__ import annotations

from test_contract_suites import run_suite

ENGINE_PLUGIN = '''
import swiftk
from swiftk.api import (ChatCompletionResponse, ChatCompletionStreamResponse, Choice, EngineSpec, InferEngine,
                        InferError, StreamChoice, Usage)

ANSWER = "one two three four five".split()


class WordEngine(InferEngine):
    """Answers with ANSWER, cut at max_tokens; a prompt's tokens are its words."""

    model_name = "words"
    max_model_len = 64

    @classmethod
    def from_args(cls, args):
        return cls()

    def _check(self, request):
        if request.adapter:
            raise InferError(f"unknown adapter {request.adapter!r}", "model", status=404)
        if self._prompt_tokens(request) > self.max_model_len:
            raise InferError("the prompt is longer than the context", "messages")

    def _prompt_tokens(self, request):
        return sum(len(m["content"].split()) for m in request.messages)

    def _answer(self, request, config):
        limit = (config.max_tokens if config and config.max_tokens else None) or len(ANSWER)
        words = ANSWER[:limit]
        return words, "length" if len(words) < len(ANSWER) else "stop"

    def _usage(self, request, words):
        prompt = self._prompt_tokens(request)
        return Usage(prompt, len(words), prompt + len(words))

    def infer(self, requests, config=None, *, use_tqdm=False):
        for request in requests:
            self._check(request)
        out = []
        for request in requests:
            words, reason = self._answer(request, config)
            out.append(ChatCompletionResponse(self.model_name, [Choice(0, {"role": "assistant",
                                                                             "content": " ".join(words)}, reason)],
                                              self._usage(request, words)))
        return out

    def _deltas(self, words):
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    def infer_stream(self, request, config=None):
        self._check(request)
        words, reason = self._answer(request, config)
        deltas = self._deltas(words)
        for i, delta in enumerate(deltas):
            last = i == len(deltas) - 1
            yield ChatCompletionStreamResponse(
                self.model_name, [StreamChoice(0, {"role": "assistant", "content": delta}, reason if last else None)],
                "chunk", self._usage(request, words) if last else None)


class WrongUsage(WordEngine):
    def _usage(self, request, words):
        prompt = self._prompt_tokens(request)
        return Usage(prompt, len(words), prompt)          # total_tokens forgets the completion


class StreamDiffers(WordEngine):
    def _deltas(self, words):
        return [w for w in words]                          # the spaces are lost


class IgnoresMaxTokens(WordEngine):
    def _answer(self, request, config):
        return list(ANSWER), "stop"


class RefusesWithValueError(WordEngine):
    def _check(self, request):
        if request.adapter:
            raise ValueError("no adapters here")           # not an InferError: a server would answer 500
        super()._check(request)


@swiftk.hookimpl
def register_infer_engines(register):
    register("words", EngineSpec(engine_cls=WordEngine))
    register("wrong_usage", EngineSpec(engine_cls=WrongUsage))
    register("stream_differs", EngineSpec(engine_cls=StreamDiffers))
    register("ignores_max_tokens", EngineSpec(engine_cls=IgnoresMaxTokens))
    register("refuses_with_value_error", EngineSpec(engine_cls=RefusesWithValueError))
'''


def test_engine_suite_fails_on_broken_engines(tmp_path):
    code, out = run_suite(
        tmp_path,
        ENGINE_PLUGIN,
        '''
        from swiftk.testing.engines import EngineContract

        class TestWrongUsage(EngineContract):
            engine = "wrong_usage"
            plugins = ("PLUGIN",)

        class TestStreamDiffers(EngineContract):
            engine = "stream_differs"
            plugins = ("PLUGIN",)

        class TestIgnoresMaxTokens(EngineContract):
            engine = "ignores_max_tokens"
            plugins = ("PLUGIN",)

        class TestRefusesWithValueError(EngineContract):
            engine = "refuses_with_value_error"
            plugins = ("PLUGIN",)

        class TestGood(EngineContract):
            engine = "words"
            plugins = ("PLUGIN",)
    ''',
    )
    assert code == 1, out
    summary = out.split("short test summary")[-1]
    assert "TestWrongUsage::test_one_response_per_request" in summary
    assert "prompt_tokens + completion_tokens != total_tokens" in out
    assert "TestStreamDiffers::test_streaming_gives_the_same_answer" in summary
    assert "TestStreamDiffers::test_the_server_methods_give_the_same_answer" in summary
    assert "TestIgnoresMaxTokens::test_max_tokens_is_respected" in summary
    assert "TestRefusesWithValueError::test_a_bad_request_raises_infer_error_and_the_engine_keeps_serving" in summary
    assert "raised ValueError: no adapters here, not an InferError" in out
    assert "TestGood" not in summary
