"""The reward model: ``--reward_model`` (+ ``--reward_adapters``, ``--reward_model_type``,
``--reward_model_revision``) as a frozen one-output sequence classifier: what ``--rlhf_type rm`` trains,
what PPO scores completions with, and (registered as the reward ``reward_model``) what GRPO adds after
its ``--reward_funcs`` (one reward per model of later ms-swift's ``--reward_model A B``: :func:`each_reward_model`).

* a full ``rm`` run's checkpoint folder: ``--reward_model output/rm/checkpoint-N``;
* a LoRA ``rm`` run: ``--reward_model <its base model> --reward_adapters output/rm/checkpoint-N``
  (the adapter carries the trained score head; it is merged into the loaded model).

:func:`score` gives the reward of whole conversations, encoded by the run's template;
:func:`pair_accuracy` is the rm check.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from swiftk.api import UsageError


def causal_template(template: Any) -> Any:
    """The template encoding conversations token by token (a reward model's template is set up as a
    classifier's, which encodes only the prompt)."""
    if getattr(template, "task_type", "causal_lm") != "causal_lm":
        template = copy.copy(template)
        template.task_type = "causal_lm"
    return template


def reward_args(args: Any) -> Any:
    """The arguments that load the reward model: ``--reward_model*`` in place of ``--model*``."""
    from swiftk.api import derived_args

    if not args.get("reward_model"):
        raise UsageError("--reward_model is required (a reward model folder or id; the output of --rlhf_type rm)")
    return derived_args(
        args,
        model=args.reward_model,
        model_type=args.get("reward_model_type"),
        model_revision=args.get("reward_model_revision"),
        adapters=[],
        task_type="seq_cls",
        num_labels=1,
        quant_method=None,
    )


def each_reward_model(args: Any) -> list[Any]:
    """The arguments of each reward model: ``args`` itself for one ``--reward_model``; for several (later ms-swift's
    ``--reward_model A B``, GRPO), a copy per model with its own ``--reward_model_type``/``--reward_model_revision``
    (one value for all, or one per model) and ``--reward_adapters`` (none, or one adapter per model, in order)."""
    from swiftk.api import derived_args

    models = args.get("reward_model")
    if not isinstance(models, list):
        several = [f"--{n}" for n in ("reward_model_type", "reward_model_revision") if isinstance(args.get(n), list)]
        if several:
            raise UsageError(f"{', '.join(several)}: one value per --reward_model, and there is one reward model")
        return [args]
    count = len(models)

    def per_model(name: str) -> list:
        value = args.get(name)
        if not isinstance(value, list):
            return [value] * count
        if len(value) != count:
            raise UsageError(f"--{name}: give one value, or one per --reward_model ({count}), got {len(value)}")
        return value

    import os

    for model in models:
        if os.path.isfile(os.path.join(str(model), "adapter_config.json")):
            raise UsageError(
                f"--reward_model {model}: an adapter checkpoint; with several reward models give each one's base "
                f"model in --reward_model and its adapter in --reward_adapters (one per model, in order)"
            )
    adapters = list(args.get("reward_adapters") or [])
    if adapters and len(adapters) != count:
        raise UsageError(
            f"--reward_adapters with {count} reward models: give one adapter per --reward_model, in order "
            f"(got {len(adapters)}), or merge them into their models first"
        )
    return [
        derived_args(
            args,
            reward_model=model,
            reward_model_type=model_type,
            reward_model_revision=revision,
            reward_adapters=[adapters[i]] if adapters else [],
        )
        for i, (model, model_type, revision) in enumerate(
            zip(models, per_model("reward_model_type"), per_model("reward_model_revision"))
        )
    ]


def one_output_classifier(model: Any, adapters: list[str], adapters_flag: str, model_flag: str) -> Any:
    """``model`` with the LoRA ``adapters`` of an rm run merged (they carry its trained score head),
    checked to have the one output of a reward model; the flags name where each came from."""
    import os

    for path in adapters:
        if not os.path.isfile(os.path.join(path, "adapter_config.json")):
            raise UsageError(f"{adapters_flag}: {path} has no adapter_config.json (not an adapter checkpoint)")
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, path).merge_and_unload()
    if getattr(model.config, "num_labels", 1) != 1:
        raise UsageError(
            f"{model_flag}: the model has {model.config.num_labels} outputs; a reward model has one "
            f"(train it with swiftk rlhf --rlhf_type rm)"
        )
    return model


def load_reward_model(args: Any, *, with_processor: bool = False) -> Any:
    """The frozen reward model (adapters merged); with ``with_processor`` also its tokenizer and info."""
    from swiftk.api import load_model_and_processor, renamed_flags

    with renamed_flags("reward_"):
        model, processor, info = load_model_and_processor(reward_args(args))
    model = one_output_classifier(
        model, list(args.get("reward_adapters") or []), "--reward_adapters", f"--reward_model {args.reward_model}"
    )
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return (model, processor, info) if with_processor else model


def score(model: Any, template: Any, rows: list[dict], batch_size: int = 8) -> list[float]:
    """The reward of each conversation (its last assistant answer included)."""
    import torch

    template = causal_template(template)
    tokenizer = template.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: list[float] = []
    device = next(model.parameters()).device
    for start in range(0, len(rows), batch_size):
        encoded = [list(template.encode(r)["input_ids"]) for r in rows[start : start + batch_size]]
        width = max(len(e) for e in encoded)
        ids = torch.tensor([e + [pad] * (width - len(e)) for e in encoded], device=device)
        mask = torch.tensor([[1] * len(e) + [0] * (width - len(e)) for e in encoded], device=device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
        out.extend(float(v) for v in logits[:, 0].tolist())
    return out


def scorer(args: Any) -> Callable[[list[dict]], list[float]]:
    """``fn(rows) -> list[float]``: the reward model loaded once, scoring conversations (rows with
    ``messages`` ending in the assistant's answer) encoded by its own template (its tokenizer)."""
    from swiftk.api import get_template

    model, processor, info = load_reward_model(args, with_processor=True)
    template = get_template(reward_args(args), processor, info, mode="train")
    return lambda rows: score(model, template, rows)


class RewardModelReward:
    """``--reward_model`` as a reward function (registered as ``reward_model``): the prompt and the
    completion as one conversation, scored by the classifier with its own template."""

    def __init__(self, args: Any):
        if not args.get("reward_model"):
            raise UsageError("the reward 'reward_model' scores with --reward_model, which is not set")
        self.score = scorer(args)

    def __call__(self, completions: list[str], prompts: list, **columns: Any) -> list[float]:
        rows = [
            {"messages": list(prompt) + [{"role": "assistant", "content": completion}]}
            for prompt, completion in zip(prompts, completions)
        ]
        return self.score(rows)


def pair_accuracy(model: Any, template: Any, rows: list[dict]) -> float:
    """Share of preference rows whose chosen conversation scores above the rejected one."""
    from swiftk_rlhf.encode import rejected_row

    pairs = [(r, rejected_row(r)) for r in rows]
    pairs = [(c, r) for c, r in pairs if r is not None]
    if not pairs:
        return 0.0
    chosen = score(model, template, [c for c, _ in pairs])
    rejected = score(model, template, [r for _, r in pairs])
    return sum(c > r for c, r in zip(chosen, rejected)) / len(pairs)
