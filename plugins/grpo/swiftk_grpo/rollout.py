"""GRPO's rollouts through the engine interface: trl's ``rollout_func`` on the pt engine.

trl's GRPOTrainer hands ``rollout_func(prompts, trainer)`` a generation batch in which each prompt
appears ``num_generations`` times in a row.  Each run of equal prompts becomes one
:class:`swiftk.infer.InferRequest` with ``n`` choices, so the engine encodes the prompt once (with
the run's template, as ``swiftk infer`` would) and samples its completions side by side in one
continuously batched decode loop.  The engine runs on the policy being trained, in eval mode and
under ``inference_mode``; ZeRO-3 parameters are gathered first when ``--ds3_gather_for_generation``.

Rows with images (:mod:`swiftk_grpo.media`): the trainer sets :attr:`EngineRollout.images` (one list per
prompt) before a rollout; a run is then equal prompts with equal images, each request carries its images as
content parts, the model may not sample the images' placeholder tokens, and :attr:`EngineRollout.media`
holds, per completion, the template's media of its prompt for the log-prob passes.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from swiftk.api import InferRequest, RequestConfig


def runs_of_equal(prompts: list) -> list[tuple[Any, int]]:
    """``[(prompt, count), ...]`` for consecutive equal prompts, in order."""
    runs: list[list] = []
    for prompt in prompts:
        if runs and runs[-1][0] == prompt:
            runs[-1][1] += 1
        else:
            runs.append([prompt, 1])
    return [(prompt, count) for prompt, count in runs]


class EngineRollout:
    """``rollout_func`` for trl: prompts in, ``prompt_ids``/``completion_ids`` out (``logprobs`` None:
    the trainer computes the old policy's log-probabilities itself)."""

    def __init__(self, template: Any, processor: Any, args: Any):
        self.template = template
        self.processor = processor
        self.config = RequestConfig(
            max_tokens=int(args.max_completion_length),
            temperature=float(args.temperature),
            top_k=int(args.top_k or 0),
            top_p=float(args.top_p or 1.0),
            repetition_penalty=float(args.repetition_penalty or 1.0),
        )
        self.seed = int(args.get("seed") or 42)
        self.engine: Optional[Any] = None
        self.step = -1  # the trainer's step at the last rollout
        #: (seconds, completion tokens) of the latest rollout, for the trainer's rollout/* metrics
        self.last: tuple[float, int] = (0.0, 0)
        #: the images of each prompt of the next rollout (set by the trainer), and each completion's media after it
        self.images: Optional[list] = None
        self.media: list[dict] = []

    def _engine(self, trainer: Any) -> Any:
        """The pt engine on the trained model, made at the first rollout (after the Trainer placed it)."""
        if self.engine is None:
            from swiftk.api import get_host, load_reference as _load

            spec = get_host().get("infer_engines", "pt")
            engine_cls = _load(getattr(spec, "engine_cls", spec))
            batch = max(32, int(trainer.args.generation_batch_size or 0))
            # no mixed steps: every prompt of a rollout arrives at once, and the trained model keeps its attention
            self.engine = engine_cls(
                trainer.model,
                self.processor,
                self.template,
                model_name="policy",
                max_batch_size=batch,
                defaults=self.config,
                seed=self.seed,
                mixed_steps=False,
            )
        return self.engine

    def __call__(self, prompts: list, trainer: Any) -> dict:
        from trl.models import unwrap_model_for_generation

        model = trainer.model
        training = model.training  # before the engine exists: making it switches the model to eval
        engine = self._engine(trainer)
        if trainer.state.global_step != self.step:  # the policy was updated since the last rollout
            engine.weights_changed()
            self.step = trainer.state.global_step
        with_images = self.images is not None and any(self.images)
        if with_images:
            from swiftk_grpo.media import image_parts

            prompts = [image_parts(list(p), images) for p, images in zip(prompts, self.images)]
        runs = runs_of_equal(prompts)
        with unwrap_model_for_generation(
            trainer.model_wrapped, trainer.accelerator, gather_deepspeed3_params=trainer.args.ds3_gather_for_generation
        ):
            model.eval()
            start = time.perf_counter()
            suppressed = self._suppress_placeholders(model) if with_images else None
            try:
                responses = self._generate(engine, runs)
            finally:
                if suppressed is not None:
                    suppressed[0].suppress_tokens = suppressed[1]
                model.train(training)
        seconds = time.perf_counter() - start
        prompt_ids, completion_ids, media = [], [], []
        for (prompt, count), response in zip(runs, responses):
            prompt_media = self._prompt_media(prompt, response) if with_images else {}
            for choice in sorted(response.choices, key=lambda c: c.index)[:count]:
                prompt_ids.append(list(response.prompt_token_ids))
                completion_ids.append(list(choice.token_ids))
                media.append(prompt_media)
        self.media = media
        self.last = (seconds, sum(len(ids) for ids in completion_ids))
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None}

    def _prompt_media(self, prompt: list, response: Any) -> dict:
        """The template's media of a prompt, encoded as the engine encoded it (its ids checked)."""
        from swiftk_grpo.media import prompt_media

        encoded = self.template.encode({"messages": prompt}, add_generation_prompt=True)
        if list(encoded["input_ids"]) != list(response.prompt_token_ids):
            raise RuntimeError("the template encoded a prompt with images other than the engine did")
        return prompt_media(encoded)

    @staticmethod
    def _suppress_placeholders(model: Any) -> Optional[tuple]:
        """No image or video placeholder token in a completion (the forward passes would miscount the
        images' tokens): trl's own rollouts suppress them too. Returns what to restore."""
        config = getattr(model, "config", None)
        tokens = [getattr(config, k, None) for k in ("image_token_id", "video_token_id")]
        tokens = [t for t in tokens if isinstance(t, int)]
        generation = getattr(model, "generation_config", None)
        if not tokens or generation is None:
            return None
        before = generation.suppress_tokens
        generation.suppress_tokens = sorted(set(before or []) | set(tokens))
        return generation, before

    def _generate(self, engine: Any, runs: list[tuple[Any, int]]) -> list[Any]:
        """One request per run of equal prompts, ``n`` = its length; runs of equal length share a call."""
        responses: list[Any] = [None] * len(runs)
        for n in sorted({count for _, count in runs}):
            indices = [i for i, (_, count) in enumerate(runs) if count == n]
            config = RequestConfig(**{**vars(self.config), "n": n})
            batch = engine.infer([InferRequest(messages=list(runs[i][0])) for i in indices], config)
            for i, response in zip(indices, batch):
                responses[i] = response
        return responses

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
