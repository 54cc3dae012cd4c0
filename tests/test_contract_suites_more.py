"""The model-type, optimizer and callback contract suites catch what they promise: each fails on broken
examples and passes on a good one (run as a third party would, by pytest in a subprocess, on plugin files)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Optional

import pytest

from kernel_support import swiftk_env

MODEL_PLUGIN = '''
import swiftk
from swiftk.api import Model, ModelGroup, ModelMeta, TemplateMeta

TINY = {"config": "llama", "tokens": {"bos": "<s>", "eos": "<|im_end|>", "pad": "<pad>"}}


@swiftk.hookimpl
def register_templates(register):
    register("my_chat", TemplateMeta(
        "my_chat", prefix=["<s>"], system_prefix=["<s><|im_start|>system\\n{{SYSTEM}}<|im_end|>\\n"],
        prompt=["<|im_start|>user\\n{{QUERY}}<|im_end|>\\n<|im_start|>assistant\\n"],
        chat_sep=["<|im_end|>\\n"], suffix=["<|im_end|>"], stop_words=["<|im_end|>"],
        extra={"special_tokens": ["<|im_start|>", "<|im_end|>"]}))


@swiftk.hookimpl
def register_models(register):
    register("my_tiny_llama", ModelMeta(
        "my_tiny_llama", [ModelGroup([Model(hf_model_id="me/my-tiny-llama")])], template="my_chat",
        architectures=["LlamaForCausalLM"], extra={"tiny": TINY}))
    # its default template was never registered
    register("no_template", ModelMeta(
        "no_template", [ModelGroup([Model(hf_model_id="me/no-template")])], template="my_chatt",
        architectures=["LlamaForCausalLM"], extra={"tiny": TINY}))
    # Qwen2ForCausalLM is qwen2's (and qwen2_5's, ...): nothing tells a folder of this type from theirs
    register("shadowed", ModelMeta(
        "shadowed", [], template="my_chat", architectures=["Qwen2ForCausalLM"],
        extra={"tiny": {"config": "qwen2", "tokens": TINY["tokens"]}}))
'''

OPTIMIZER_PLUGIN = '''
import torch
import swiftk


def trainable(model):
    return [p for p in model.parameters() if p.requires_grad]


def good(args, model, dataset):
    optimizer = torch.optim.AdamW(trainable(model), lr=args.learning_rate)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def all_parameters(args, model, dataset):      # the frozen ones too
    return torch.optim.AdamW(model.parameters(), lr=args.learning_rate), None


def not_an_optimizer(args, model, dataset):     # a description of one, not an optimizer
    return {"params": trainable(model), "lr": args.learning_rate}, None


def fixed_rate(args, model, dataset):           # --learning_rate never reaches it
    return torch.optim.AdamW(trainable(model), lr=1e-3), None


@swiftk.hookimpl
def register_optimizers(register):
    for fn in (good, all_parameters, not_an_optimizer, fixed_rate):
        register(fn.__name__, fn)
'''

GOOD_CALLBACK = '''
from transformers import TrainerCallback
import swiftk


class CountSteps(TrainerCallback):
    def __init__(self, args):
        self.limit, self.steps = args.max_steps, 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


@swiftk.hookimpl
def register_callbacks(register):
    register("count_steps", CountSteps, takes_args=True, when=lambda args: args.get("train_type") == "full")
'''

NOT_A_CALLBACK = '''
import swiftk


class Notes:                                    # has the events' names, but is no TrainerCallback
    def on_step_end(self, args, state, control, **kwargs):
        pass


@swiftk.hookimpl
def register_callbacks(register):
    register("not_a_callback", Notes)
'''

RAISING_CALLBACK = '''
from transformers import TrainerCallback
import swiftk


class StopsTheRun(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        raise RuntimeError("the step end went wrong")


@swiftk.hookimpl
def register_callbacks(register):
    register("raises_in_step_end", StopsTheRun)
'''


def run_suite(tmp_path, plugins: dict, test_code: str, env: Optional[dict] = None) -> tuple[int, str]:
    """Write the plugin files (``NAME`` in the test code becomes the path of ``NAME.py``) and the test
    module, and run pytest on them in a subprocess."""
    for name, code in plugins.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(code))
        test_code = test_code.replace(f'"{name}.py"', repr(str(tmp_path / f"{name}.py")))
    (tmp_path / "test_third_party.py").write_text(textwrap.dedent(test_code))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:warnings", str(tmp_path)],
        capture_output=True,
        text=True,
        env=swiftk_env({"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}),
        cwd=str(tmp_path),
        timeout=600,
    )
    return proc.returncode, proc.stdout


@pytest.mark.slow
def test_model_suite_fails_on_broken_model_types(tmp_path):
    code, out = run_suite(
        tmp_path,
        {"third_party": MODEL_PLUGIN},
        """
        from swiftk.testing.models import ModelContract

        class TestNoTemplate(ModelContract):
            model_type = "no_template"
            plugins = ("third_party.py",)

        class TestShadowed(ModelContract):
            model_type = "shadowed"
            plugins = ("third_party.py",)

        class TestGood(ModelContract):
            model_type = "my_tiny_llama"
            plugins = ("third_party.py",)
    """,
    )
    assert code == 1, out
    summary = out.split("short test summary")[-1]
    assert "TestNoTemplate::test_the_default_template_encodes_a_conversation" in summary
    assert "its default template 'my_chatt' is not a registered template" in out
    assert "TestShadowed::test_the_folder_resolves_to_this_type" in summary
    assert "without --model_type" in out
    assert "TestShadowed::test_it_loads" not in summary  # only what is broken fails
    assert "TestGood" not in summary


@pytest.mark.slow
def test_optimizer_suite_fails_on_broken_optimizers(tmp_path):
    code, out = run_suite(
        tmp_path,
        {"third_party": OPTIMIZER_PLUGIN},
        """
        from swiftk.testing.optimizers import OptimizerContract

        class TestAllParameters(OptimizerContract):
            optimizer = "all_parameters"
            plugins = ("third_party.py",)

        class TestNotAnOptimizer(OptimizerContract):
            optimizer = "not_an_optimizer"
            plugins = ("third_party.py",)

        class TestFixedRate(OptimizerContract):
            optimizer = "fixed_rate"
            plugins = ("third_party.py",)

        class TestGood(OptimizerContract):
            optimizer = "good"
            plugins = ("third_party.py",)
    """,
    )
    assert code == 1, out
    summary = out.split("short test summary")[-1]
    assert "TestAllParameters::test_the_param_groups_hold_exactly_the_trainable_parameters" in summary
    assert "frozen (or foreign) parameters in the param groups: ['model.layers.0." in out
    assert "TestNotAnOptimizer::test_the_factory_returns_an_optimizer_and_a_scheduler" in summary
    assert "returned dict, not a torch.optim.Optimizer" in out
    assert "TestNotAnOptimizer::test_a_training_run_uses_the_returned_optimizer" in summary
    assert "TestFixedRate::test_the_learning_rate_reaches_the_param_groups" in summary
    assert "TestFixedRate::test_the_param_groups" not in summary
    assert "TestGood" not in summary


@pytest.mark.slow
def test_callback_suite_fails_on_broken_callbacks(tmp_path):
    code, out = run_suite(
        tmp_path,
        {"good": GOOD_CALLBACK, "not_a_callback": NOT_A_CALLBACK, "raising": RAISING_CALLBACK},
        """
        from swiftk.testing.callbacks import CallbackContract

        class TestNotACallback(CallbackContract):
            callback = "not_a_callback"
            plugins = ("not_a_callback.py",)

        class TestRaising(CallbackContract):
            callback = "raises_in_step_end"
            plugins = ("raising.py",)

        class TestGood(CallbackContract):
            callback = "count_steps"
            plugins = ("good.py",)
            arguments = ("--train_type", "full")
            not_applies_to = (("--train_type", "lora"),)

            def test_it_counted_the_steps(self, callback_run):
                assert callback_run.notes["recorder"].instances[0].steps == 2
    """,
    )
    assert code == 1, out
    summary = out.split("short test summary")[-1]
    assert "TestNotACallback::test_the_factory_builds_a_trainer_callback" in summary
    assert "built Notes, not a transformers.TrainerCallback" in out
    assert "TestNotACallback::test_a_training_run_calls_its_events" in summary
    assert "TestRaising::test_a_training_run_calls_its_events" in summary
    assert "raised in on_step_end: RuntimeError: the step end went wrong" in out
    assert "TestRaising::test_the_checkpoint_is_complete" in summary
    assert "TestRaising::test_the_factory" not in summary
    assert "TestGood" not in summary
