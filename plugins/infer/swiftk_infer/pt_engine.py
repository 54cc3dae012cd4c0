"""``--infer_backend pt``: generation with transformers, batched up to ``--max_batch_size``."""
from __future__ import annotations

import threading
import uuid
from typing import Any, Iterator, Optional

import torch

from swiftk.infer import (ChatCompletionResponse, ChatCompletionStreamResponse, Choice, InferEngine, InferRequest,
                          RequestConfig, StreamChoice, Usage)


def load_adapters(model: Any, adapters: list[str], merge: bool = False) -> Any:
    """Apply saved adapters (peft folders) on top of ``model``; merge them if asked."""
    import os

    from swiftk.errors import UsageError

    for path in adapters:
        if not os.path.isfile(os.path.join(path, "adapter_config.json")):
            raise UsageError(f"--adapters: {path} has no adapter_config.json")
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, path)
        if merge:
            model = model.merge_and_unload()
    return model


class PtEngine(InferEngine):
    """Continues conversations with ``model.generate``; requests are batched by ``max_batch_size``."""

    def __init__(self, model: Any, processor: Any, template: Any, *, model_name: str = "model",
                 max_batch_size: int = 1, defaults: Optional[RequestConfig] = None):
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.template = template
        self.model_name = model_name
        self.max_batch_size = max(1, int(max_batch_size or 1))
        self.defaults = defaults or RequestConfig()
        self._lock = threading.Lock()

    @classmethod
    def from_args(cls, args: Any) -> "PtEngine":
        from swiftk.pipelines.model import get_template, load_model_and_processor

        model, processor, info = load_model_and_processor(args)
        model = load_adapters(model, list(args.get("adapters") or []), merge=bool(args.get("merge_lora")))
        template = get_template(args, processor, info, mode="infer")
        name = args.get("served_model_name") or (args.model or "model").rstrip("/").split("/")[-1]
        return cls(model, processor, template, model_name=name, max_batch_size=args.get("max_batch_size") or 1,
                   defaults=RequestConfig.from_args(args))

    # -- generation ---------------------------------------------------------------------------
    def _merged(self, config: Optional[RequestConfig]) -> RequestConfig:
        merged = RequestConfig(**{k: v for k, v in vars(self.defaults).items()})
        for key, value in vars(config or RequestConfig()).items():
            if value is not None and value != [] and not (key in ("num_beams", "n") and value == 1 and
                                                          getattr(self.defaults, key) != 1):
                setattr(merged, key, value)
        return merged

    def _generation_kwargs(self, config: RequestConfig) -> dict[str, Any]:
        temperature = config.temperature if config.temperature is not None else 1.0
        kwargs: dict[str, Any] = dict(max_new_tokens=config.max_tokens or 512, do_sample=temperature > 0,
                                      num_beams=config.num_beams or 1, num_return_sequences=config.n or 1,
                                      pad_token_id=self._pad_id(), eos_token_id=self._eos_ids())
        if temperature > 0:
            kwargs.update(temperature=temperature, top_k=config.top_k or 50, top_p=config.top_p or 1.0)
        if config.repetition_penalty:
            kwargs["repetition_penalty"] = config.repetition_penalty
        stops = [s for s in (config.stop or []) + list(getattr(self.template, "stop_words", []) or [])
                 if isinstance(s, str) and s]
        if stops:
            kwargs.update(stop_strings=sorted(set(stops)), tokenizer=self.tokenizer)
        if config.logprobs:
            kwargs.update(output_scores=True, return_dict_in_generate=True)
        return kwargs

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self._eos_ids()[0]

    def _eos_ids(self) -> list[int]:
        ids = [self.tokenizer.eos_token_id] + list(getattr(self.template, "stop_token_ids", []) or [])
        generation = getattr(self.model, "generation_config", None)
        extra = getattr(generation, "eos_token_id", None)
        ids += extra if isinstance(extra, list) else [extra]
        return sorted({i for i in ids if i is not None})

    def _encode(self, request: InferRequest) -> list[int]:
        row: dict[str, Any] = {"messages": request.messages}
        if request.tools:
            row["tools"] = request.tools
        return list(self.template.encode(row, add_generation_prompt=True)["input_ids"])

    def _batch(self, prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(p) for p in prompts)
        pad = self._pad_id()
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.model.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.model.device)
        return ids, mask

    def _finish(self, tokens: list[int], max_tokens: int) -> tuple[list[int], str]:
        """Drop eos/pad at the end; stop words stay in the text."""
        eos = set(self._eos_ids()) | {self._pad_id()}
        cut = len(tokens)
        for i, t in enumerate(tokens):
            if t in eos:
                cut = i
                break
        reason = "stop" if cut < len(tokens) or len(tokens) < max_tokens else "length"
        return tokens[:cut], reason

    def infer(self, requests: list[InferRequest], config: Optional[RequestConfig] = None,
              *, use_tqdm: bool = False) -> list[ChatCompletionResponse]:
        config = self._merged(config)
        kwargs = self._generation_kwargs(config)
        responses: list[ChatCompletionResponse] = []
        starts = range(0, len(requests), self.max_batch_size)
        if use_tqdm:
            from tqdm import tqdm

            starts = tqdm(starts, desc="infer", unit="batch")
        for start in starts:
            batch = requests[start:start + self.max_batch_size]
            prompts = [self._encode(r) for r in batch]
            ids, mask = self._batch(prompts)
            with self._lock, torch.no_grad():
                if config.seed is not None:
                    torch.manual_seed(config.seed)
                out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
            sequences = out.sequences if hasattr(out, "sequences") else out
            generated = sequences[:, ids.shape[1]:].tolist()
            n = config.n or 1
            for i, prompt in enumerate(prompts):
                choices, completion_tokens = [], 0
                for j in range(n):
                    row = i * n + j
                    tokens, reason = self._finish(generated[row], kwargs["max_new_tokens"])
                    completion_tokens += len(tokens)
                    logprobs = self._logprobs(out, row, tokens, config) if config.logprobs else None
                    text = self.tokenizer.decode(tokens, skip_special_tokens=False)
                    choices.append(Choice(j, {"role": "assistant", "content": text}, reason, logprobs))
                responses.append(ChatCompletionResponse(self.model_name, choices,
                                                        Usage(len(prompt), completion_tokens,
                                                              len(prompt) + completion_tokens)))
        return responses

    def _logprobs(self, out: Any, row: int, tokens: list[int], config: RequestConfig) -> dict[str, Any]:
        content = []
        k = config.top_logprobs or 0
        for step, token in enumerate(tokens):
            scores = torch.log_softmax(out.scores[step][row].float(), dim=-1)
            entry = {"token": self.tokenizer.decode([token]), "logprob": float(scores[token])}
            if k:
                values, indices = scores.topk(k)
                entry["top_logprobs"] = [{"token": self.tokenizer.decode([int(t)]), "logprob": float(v)}
                                         for v, t in zip(values, indices)]
            content.append(entry)
        return {"content": content}

    def infer_stream(self, request: InferRequest,
                     config: Optional[RequestConfig] = None) -> Iterator[ChatCompletionStreamResponse]:
        from transformers import TextIteratorStreamer

        config = self._merged(config)
        kwargs = self._generation_kwargs(config)
        kwargs.pop("output_scores", None)
        kwargs.pop("return_dict_in_generate", None)
        kwargs["num_return_sequences"] = 1
        prompt = self._encode(request)
        ids, mask = self._batch([prompt])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: dict[str, Any] = {}

        def generate() -> None:
            with self._lock, torch.no_grad():
                if config.seed is not None:
                    torch.manual_seed(config.seed)
                result["out"] = self.model.generate(input_ids=ids, attention_mask=mask, streamer=streamer, **kwargs)

        thread = threading.Thread(target=generate, daemon=True)
        thread.start()
        chunk_id = f"chatcmpl-{uuid.uuid4().hex}"
        for text in streamer:
            if text:
                yield ChatCompletionStreamResponse(self.model_name, [StreamChoice(0, {"role": "assistant",
                                                                                      "content": text})], chunk_id)
        thread.join()
        tokens, reason = self._finish(result["out"][0, ids.shape[1]:].tolist(), kwargs["max_new_tokens"])
        usage = Usage(len(prompt), len(tokens), len(prompt) + len(tokens))
        yield ChatCompletionStreamResponse(self.model_name, [StreamChoice(0, {}, reason)], chunk_id, usage)
