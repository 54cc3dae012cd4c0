"""Registered datasets: the built-ins, ms-swift ids, custom_dataset_info, self-cognition."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from swiftk.errors import UsageError

from ds_helpers import load, messages
from ds_helpers import data_dir, offline_fresh_host, tiny_tokenizer  # noqa: F401 (fixtures)

NAMES = ["--model_name", "小黄", "Xiao Huang", "--model_author", "魔搭", "ModelScope"]


def test_plugin_registers_the_builtin_ids(swiftk_host):
    names = swiftk_host.registry("datasets").names()
    for name in (
        "swift/self-cognition",
        "swiftk/demo-sft",
        "swiftk/demo-pt",
        "swiftk/demo-dpo",
        "swiftk/demo-kto",
        "swiftk/demo-grpo-math",
        "swiftk/demo-grpo-sums",
    ):
        assert name in names
    assert swiftk_host.registry("datasets").entry("swift/self-cognition").plugin == "datasets"


def test_self_cognition_substitutes_name_and_author_by_language():
    train, _ = load("--dataset", "swift/self-cognition", *NAMES)
    assert len(train) == 100
    text = json.dumps(messages(train), ensure_ascii=False)
    assert "{{NAME}}" not in text and "{{AUTHOR}}" not in text
    zh = [m for m in messages(train) if m[0][1] == "你是谁？"][0]
    assert zh[1][1].startswith("我是小黄，一个由魔搭训练的")
    en = [m for m in messages(train) if m[0][1] == "Who are you?"][0]
    assert en[1][1] == "I am Xiao Huang, an AI assistant trained by ModelScope. How can I help you?"


def test_self_cognition_without_name_or_author_is_a_clear_error():
    with pytest.raises(UsageError, match=r"swift/self-cognition needs --model_name and --model_author"):
        load("--dataset", "swift/self-cognition")
    with pytest.raises(UsageError, match=r"needs --model_author:"):
        load("--dataset", "swift/self-cognition", "--model_name", "小黄", "Xiao Huang")


def test_self_cognition_ms_swift_spellings_and_subsets():
    train, _ = load("--dataset", "modelscope/self-cognition#20", *NAMES)  # its HF id works too
    assert len(train) == 20
    train, _ = load("--dataset", "swift/self-cognition:qwen3#5", *NAMES)
    first = messages(train)[0]
    assert first[0][1].endswith(" /no_think") and first[1][1].startswith("<think>\n\n</think>\n\n")
    train, _ = load("--dataset", "swift/self-cognition:all", "--model_name", "X", "--model_author", "Y")
    assert len(train) == 300


def test_demo_sets_fit_their_commands():
    assert len(load("--dataset", "swiftk/demo-sft")[0]) >= 30
    assert len(load("--dataset", "swiftk/demo-pt", command="pt")[0]) >= 20
    dpo, _ = load("--dataset", "swiftk/demo-dpo", "--rlhf_type", "dpo", command="rlhf")
    assert all(r["rejected_response"] for r in dpo)
    kto, _ = load("--dataset", "swiftk/demo-kto", "--rlhf_type", "kto", command="rlhf")
    assert {r["label"] for r in kto} == {True, False}
    grpo, _ = load("--dataset", "swiftk/demo-grpo-math", "--rlhf_type", "grpo", command="rlhf")
    assert all(r["solution"].isdigit() and r["messages"][0]["role"] == "user" for r in grpo)


def test_custom_dataset_info_registers_names_with_columns(data_dir):
    info = data_dir / "custom" / "dataset_info.json"
    train, _ = load("--custom_dataset_info", str(info), "--dataset", "my-pingpong")
    assert messages(train) == [[("user", "Ping?"), ("assistant", "Pong.")], [("user", "Tick?"), ("assistant", "Tock.")]]
    # the path of a described file picks up its columns as well
    train, _ = load("--custom_dataset_info", str(info), "--dataset", str(data_dir / "custom" / "my_data.jsonl"))
    assert len(train) == 2


def test_custom_dataset_info_as_json_string_with_messages_keys(tmp_path):
    data = tmp_path / "roles.jsonl"
    data.write_text('{"dialog": [{"speaker": "asker", "text": "Hi"}, {"speaker": "answerer", "text": "Yo"}]}\n')
    info = json.dumps(
        [
            {
                "dataset_path": str(data),
                "dataset_name": "roles",
                "columns": {"dialog": "messages"},
                "messages": {
                    "role_key": "speaker",
                    "content_key": "text",
                    "user_role": "asker",
                    "assistant_role": "answerer",
                },
            }
        ]
    )
    train, _ = load("--custom_dataset_info", info, "--dataset", "roles")
    assert messages(train) == [[("user", "Hi"), ("assistant", "Yo")]]


def test_custom_dataset_info_errors(tmp_path):
    bad = tmp_path / "info.json"
    bad.write_text(json.dumps([{"dataset_pth": "x.jsonl"}]))
    with pytest.raises(UsageError, match=r"unknown key 'dataset_pth'; did you mean 'dataset_path'"):
        load("--custom_dataset_info", str(bad), "--dataset", "swiftk/demo-sft")
    with pytest.raises(UsageError, match=r"--custom_dataset_info nowhere.json: no such file"):
        load("--custom_dataset_info", "nowhere.json", "--dataset", "swiftk/demo-sft")


def test_preprocess_func_of_a_registered_dataset(register_plugin, tmp_path):
    import swiftk
    from swiftk.specs import DatasetMeta

    data = tmp_path / "pairs.jsonl"
    data.write_text('{"a": "1+1", "b": "2"}\n{"a": "skip me", "b": "-"}\n')

    class Plugin:
        @staticmethod
        @swiftk.hookimpl
        def register_datasets(register):
            def to_row(row):
                if row["a"] == "skip me":
                    return None
                return {"query": f"Compute {row['a']}", "response": row["b"], "tag": "math"}

            register("me/pairs", DatasetMeta(dataset_path=str(data), preprocess_func=to_row))

    register_plugin(Plugin, "me")
    train, _ = load("--dataset", "me/pairs", "--remove_unused_columns", "false")
    assert messages(train) == [[("user", "Compute 1+1"), ("assistant", "2")]]
    assert train[0]["tag"] == "math"


def test_plugin_module_imports_nothing_heavy():
    code = (
        "import sys, swiftk_datasets.plugin as p; p.builtin_datasets(); "
        "print(','.join(m for m in ('datasets', 'pyarrow', 'numpy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_ms_swift_style_preprocessor_class(register_plugin, tmp_path):
    import swiftk
    from swiftk.specs import DatasetMeta
    from swiftk_datasets.compat import MessagesPreprocessor, ResponsePreprocessor

    stsb = tmp_path / "stsb.jsonl"
    stsb.write_text('{"sentence1": "A cat.", "sentence2": "A dog.", "score": 1.5}\n')
    chats = tmp_path / "chats.jsonl"
    chats.write_text('{"talk": [{"who": "me", "says": "Hi"}, {"who": "bot2", "says": "Hello"}]}\n')

    class StsbPreprocessor(ResponsePreprocessor):  # as in ms-swift's custom dataset docs
        prompt = "Similarity of '{}' and '{}'?"

        def preprocess(self, row):
            return super().preprocess(
                {"query": self.prompt.format(row["sentence1"], row["sentence2"]), "response": f"{row['score']:.1f}"}
            )

    class Plugin:
        @staticmethod
        @swiftk.hookimpl
        def register_datasets(register):
            register("me/stsb", DatasetMeta(dataset_path=str(stsb), preprocess_func=StsbPreprocessor()))
            register(
                "me/chats",
                DatasetMeta(
                    dataset_path=str(chats),
                    preprocess_func=MessagesPreprocessor(
                        role_key="who",
                        content_key="says",
                        user_role="me",
                        assistant_role="bot2",
                        columns={"talk": "messages"},
                    ),
                ),
            )

    register_plugin(Plugin, "me")
    train, _ = load("--dataset", "me/stsb", "me/chats")
    assert messages(train) == [
        [("user", "Similarity of 'A cat.' and 'A dog.'?"), ("assistant", "1.5")],
        [("user", "Hi"), ("assistant", "Hello")],
    ]


def test_hub_failures_are_wrapped_with_the_dataset_and_hub(monkeypatch):
    import swiftk_datasets.hub as hub
    import swiftk_datasets.sources as sources

    monkeypatch.setattr(hub, "offline", lambda: False)
    monkeypatch.setattr(sources, "offline", lambda: False)
    with pytest.raises(
        UsageError,
        match=r"--dataset someone/some-data: loading subset 'default' split 'train' "
        r"from the Hugging Face hub failed: ",
    ):
        load("--dataset", "someone/some-data", "--use_hf", "true")
