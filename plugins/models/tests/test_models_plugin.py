"""The plugin as users see it: what `swiftk plugins` lists, and a light import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import swiftk


def run(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, timeout=120)


def test_swiftk_plugins_lists_the_model_types_and_templates():
    proc = run("-m", "swiftk", "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    ours = next(p for p in json.loads(proc.stdout) if p["name"] == "models")
    assert ours["distribution"] == "swift-plugin-models"
    assert len(ours["registers"]["models"]) >= 30 and len(ours["registers"]["templates"]) >= 20
    assert {"react_en", "react_zh", "glm4", "toolbench", "qwen"} <= set(ours["registers"]["agent_templates"])


def test_plugin_module_imports_nothing_heavy():
    code = (
        "import sys, swiftk_models.plugin; "
        "print(','.join(m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules))"
    )
    proc = run("-c", code)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_this_plugin_answers_the_template_engine_hook():
    from swiftk.hints import TEMPLATE_ENGINE_PROVIDER
    from swiftk_models.template import Template

    assert TEMPLATE_ENGINE_PROVIDER == "swift-plugin-models"
    assert swiftk.get_host().hook.template_engine() is Template


def test_template_default_is_accepted_where_print_args_shows_it():
    # ms-swift's 'default' template: --print_args took it, and a run now encodes with it (it was refused)
    proc = run("-m", "swiftk", "infer", "--model", "swiftk/tiny-chat", "--template", "default", "--print_args")
    assert proc.returncode == 0 and '"template": "default"' in proc.stdout, proc.stderr
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.pipelines.model import get_template, load_model_and_processor
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        args = resolve_arguments("infer", ["--model", "swiftk/tiny-chat", "--template", "default"])
        _, processor, info = load_model_and_processor(args, load_model=False)
        template = get_template(args, processor, info, mode="train")
        messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
        text = template.render({"messages": messages})
        prompt = template.render({"messages": messages[:1]}, add_generation_prompt=True)
    bos, eos = processor.bos_token or "", processor.eos_token
    assert text == f"{bos}You are a helpful assistant.\n\n### Human:\nHi\n\n### Assistant:\nHello{eos}"
    assert prompt == f"{bos}You are a helpful assistant.\n\n### Human:\nHi\n\n### Assistant:\n"


@pytest.mark.parametrize(
    "problem, label, encoded",
    [
        ("single_label_classification", 2, 2),
        ("regression", 1, 1.0),
        ("multi_label_classification", [0, 2], [1.0, 0.0, 1.0]),  # class indices
        ("multi_label_classification", [1, 0, 1], [1.0, 0.0, 1.0]),  # multi-hot, as long as num_labels
        ("multi_label_classification", 1, [0.0, 1.0, 0.0]),  # one index
        (None, [2], [0.0, 0.0, 1.0]),  # a list read as multi-label when no problem type is set
    ],
)
def test_classifier_labels_are_encoded_for_their_problem_type(problem, label, encoded):
    template = _seq_cls_template(problem)
    row = {"messages": [{"role": "user", "content": "Hi"}], "label": label}
    assert template.encode(row)["labels"] == encoded
    batch = template.data_collator([template.encode(row)])["labels"]
    assert str(batch.dtype) == ("torch.int64" if problem == "single_label_classification" else "torch.float32")


def test_bad_classifier_labels_name_the_label():
    with pytest.raises(ValueError, match=r"label \[0, 1\] is a list"):
        _seq_cls_template("single_label_classification").seq_cls_label([0, 1])
    with pytest.raises(ValueError, match="label 3 is not a class index 0..2"):
        _seq_cls_template("single_label_classification").seq_cls_label(3)
    with pytest.raises(ValueError, match=r"label \[0, 5\]: 5 is not a class index 0..2"):
        _seq_cls_template("multi_label_classification").seq_cls_label([0, 5])


def _seq_cls_template(problem):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.pipelines.model import get_template, load_model_and_processor
    from swiftk.testing import HostScope

    argv = ["--model", "swiftk/tiny-chat", "--num_labels", "3"] + (["--problem_type", problem] if problem else [])
    with HostScope(autoload=True):
        args = resolve_arguments("sft", argv)
        _, processor, info = load_model_and_processor(args, load_model=False)
        return get_template(args, processor, info, mode="train")
