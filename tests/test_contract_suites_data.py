"""The template and dataset contract suites catch what they promise: each fails on a broken example and
passes on a good one (run as a third party would, by pytest in a subprocess)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from kernel_support import swiftk_env

BROKEN_TEMPLATE_PLUGIN = '''
import swiftk
from swiftk.api import TemplateMeta

CHATML = dict(system_prefix=["<|im_start|>system\\n{{SYSTEM}}<|im_end|>\\n"],
              prompt=["<|im_start|>user\\n{{QUERY}}<|im_end|>\\n<|im_start|>assistant\\n"],
              chat_sep=["<|im_end|>\\n"], suffix=["<|im_end|>\\n"], stop_words=["<|im_end|>"],
              extra={"special_tokens": ["<|im_start|>", "<|im_end|>"]})


class LabelsEverything:
    """The installed template engine, but training on every token: the user's turns too."""

    def __init__(self, processor, meta, **options):
        self._inner = swiftk.get_host().hook.template_engine()(processor, meta, **options)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def encode(self, row, add_generation_prompt=False):
        out = self._inner.encode(row, add_generation_prompt)
        if out.get("labels") is not None:
            out["labels"] = list(out["input_ids"])
        return out


@swiftk.hookimpl
def register_templates(register):
    register("labels_everything", TemplateMeta("labels_everything", template_cls=LabelsEverything, **CHATML))
    # generation starts with text that no training answer has: the prompt differs from training
    register("forced_prefix", TemplateMeta("forced_prefix", response_prefix="Sure! ", **CHATML))
'''

BROKEN_DATASET_PLUGIN = '''
import json
import os

import swiftk
from swiftk.api import DatasetMeta

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qa.jsonl")
with open(PATH, "w", encoding="utf-8") as f:
    for i in range(10):
        f.write(json.dumps({"q": f"What is {i} + {i}?", "a": f"{i} + {i} = {2 * i}."}) + "\\n")


def no_messages(row):            # no conversation the pipeline can find: every row dropped
    return {"prompt_text": row["q"], "reply_text": row["a"]}


def answer_only(row):            # a text row, read as one assistant message: no user turn for sft
    return {"text": row["a"]}


def bad_role(row):               # one row in ten has an unknown role: dropped unless --strict
    role = "robot" if "3" in row["q"] else "assistant"
    return {"messages": [{"role": "user", "content": row["q"]}, {"role": role, "content": row["a"]}]}


@swiftk.hookimpl
def register_datasets(register):
    for fn in (no_messages, answer_only, bad_role):
        name = fn.__name__.replace("_", "-")
        register(f"broken/{name}", DatasetMeta(dataset_path=PATH, dataset_name=name, preprocess_func=fn,
                                               tags=["chat"]))
'''


def run_suite(tmp_path, plugin_code: str, test_code: str) -> tuple[int, str]:
    (tmp_path / "third_party.py").write_text(textwrap.dedent(plugin_code))
    (tmp_path / "test_third_party.py").write_text(
        textwrap.dedent(test_code).replace("PLUGIN", str(tmp_path / "third_party.py"))
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=swiftk_env({"TOKENIZERS_PARALLELISM": "false"}),
        cwd=str(tmp_path),
        timeout=600,
    )
    return proc.returncode, proc.stdout


@pytest.mark.slow
def test_template_suite_fails_on_broken_templates(tmp_path):
    code, out = run_suite(
        tmp_path,
        BROKEN_TEMPLATE_PLUGIN,
        '''
        from swiftk.testing.templates import TemplateContract

        class TestLabelsEverything(TemplateContract):
            template = "labels_everything"
            plugins = ("PLUGIN",)

        class TestForcedPrefix(TemplateContract):
            template = "forced_prefix"
            plugins = ("PLUGIN",)

        class TestGood(TemplateContract):
            template = "chatml"
    ''',
    )
    assert code == 1, out
    summary = out.split("short test summary")[-1]
    assert "TestLabelsEverything::test_only_the_answer_is_labelled" in summary and "the user turn is labelled" in out
    assert "TestLabelsEverything::test_every_assistant_turn_is_labelled" in summary
    assert "TestForcedPrefix::test_the_generation_prompt_matches_training" in summary
    assert "is not a prefix of the training ids" in out
    assert "TestGood" not in summary


@pytest.mark.slow
def test_dataset_suite_fails_on_broken_datasets(tmp_path):
    code, out = run_suite(
        tmp_path,
        BROKEN_DATASET_PLUGIN,
        '''
        from swiftk.testing.datasets import DatasetContract

        class TestNoMessages(DatasetContract):
            dataset = "broken/no-messages"
            plugins = ("PLUGIN",)

        class TestAnswerOnly(DatasetContract):
            dataset = "broken/answer-only"
            plugins = ("PLUGIN",)

        class TestBadRole(DatasetContract):
            dataset = "broken/bad-role"
            plugins = ("PLUGIN",)

        class TestGood(DatasetContract):
            dataset = "swiftk/demo-sft"
    ''',
    )
    assert code == 1, out
    summary = out.split("short test summary")[-1]
    assert "TestNoMessages::test_rows_are_standard" in summary and "does not load" in out
    assert "TestAnswerOnly::test_rows_are_standard" in summary and "no user message" in out
    assert "TestBadRole::test_no_row_is_dropped" in summary and "role 'robot'" in out
    assert "TestBadRole::test_rows_are_standard" not in summary
    assert "TestNoMessages::test_the_name_is_registered" not in summary
    assert "TestGood" not in summary
