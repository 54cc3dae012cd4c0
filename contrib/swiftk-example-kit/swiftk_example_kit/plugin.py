"""The entry point of swiftk-example-kit: hook implementations only.

Everything heavy (torch, transformers) is registered as a lazy ``"module:attribute"`` reference and
imported the first time a run uses the name, so ``swiftk --help`` stays fast (docs/plugins.md, "Stay
light at import").
"""

from __future__ import annotations

import os
import swiftk
from swiftk.api import (
    DatasetMeta,
    EngineSpec,
    Model,
    ModelGroup,
    ModelMeta,
    SubsetDataset,
    TemplateMeta,
    TunerSpec,
)

from swiftk_example_kit.arguments import KitArguments

#: The tokens the kit_chat template writes; each is a single token of a kit_llama tokenizer.
KIT_TOKENS = ["<|kit_system|>", "<|kit_user|>", "<|kit_bot|>", "<|kit_end|>"]

ARITH_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "arith.jsonl")


@swiftk.hookimpl
def register_arguments(register):
    register("example_kit", KitArguments, commands=["sft", "pt", "rlhf"])


@swiftk.hookimpl
def register_models(register):
    register(
        "kit_llama",
        ModelMeta(
            "kit_llama",
            [ModelGroup([Model(hf_model_id="swiftk-example-kit/kit-llama-tiny")])],
            template="kit_chat",
            architectures=["LlamaForCausalLM"],
            extra={
                # a LlamaForCausalLM folder whose name contains "kit-llama" (or kit_llama) is ours
                "name_patterns": [r"kit[-_]llama"],
                # swiftk.testing.tiny.build_tiny_checkpoint("kit_llama", folder) writes a random one
                "tiny": {"config": "llama", "tokens": {"bos": "<s>", "eos": "</s>", "pad": "<pad>"}},
            },
        ),
    )


@swiftk.hookimpl
def register_templates(register):
    register(
        "kit_chat",
        TemplateMeta(
            "kit_chat",
            prefix=[],
            system_prefix=["<|kit_system|>{{SYSTEM}}<|kit_end|>"],
            prompt=["<|kit_user|>{{QUERY}}<|kit_end|><|kit_bot|>"],
            chat_sep=["<|kit_end|>"],
            suffix=["<|kit_end|>"],
            default_system="You are a careful calculator.",
            stop_words=["<|kit_end|>"],
            extra={"special_tokens": KIT_TOKENS},
        ),
    )


@swiftk.hookimpl
def register_datasets(register):
    register(
        "kit/arith",
        DatasetMeta(
            dataset_path=ARITH_FILE,
            dataset_name="kit/arith",
            subsets=[
                SubsetDataset("default", "default", preprocess_func="swiftk_example_kit.data:preprocess"),
                SubsetDataset("add", "add", preprocess_func="swiftk_example_kit.data:preprocess_add"),
            ],
            preprocess_func="swiftk_example_kit.data:preprocess",
            tags=["math", "chat"],
            help="36 one-step sums, differences and products of small numbers (with a `solution` column)",
        ),
    )


@swiftk.hookimpl
def register_tuners(register):
    register(
        "kit_bias",
        TunerSpec(
            prepare="swiftk_example_kit.tuner:prepare",
            load="swiftk_example_kit.tuner:load",
            merge="swiftk_example_kit.tuner:merge",
        ),
    )


@swiftk.hookimpl
def register_losses(register):
    register("kit_smooth", "swiftk_example_kit.losses:label_smoothed_loss")


@swiftk.hookimpl
def register_metrics(register):
    register(
        "kit_len_ratio",
        "swiftk_example_kit.metrics:len_ratio_metric",
        score_texts="swiftk_example_kit.metrics:len_ratio_texts",
    )


@swiftk.hookimpl
def register_rewards(register):
    register("kit_brevity", "swiftk_example_kit.rewards:Brevity")


@swiftk.hookimpl
def register_optimizers(register):
    register("kit_sgd", "swiftk_example_kit.optim:create_sgd")


def _count_steps(args) -> bool:
    return args.group(KitArguments).kit_count_steps


@swiftk.hookimpl
def register_callbacks(register):
    register("kit_step_counter", "swiftk_example_kit.callbacks:StepCounter", when=_count_steps)


@swiftk.hookimpl
def register_infer_engines(register):
    register("kit_greedy", EngineSpec(engine_cls="swiftk_example_kit.engine:GreedyEngine", requires=["transformers"]))
