"""Finding the model folder and its type, and the one-line errors when that fails."""

from __future__ import annotations

import json

import pytest

import swiftk
from models_helpers import make_template, row, tiny_tokenizer
from swiftk.cli.builtin import resolve_arguments
from swiftk.errors import UsageError
from swiftk.pipelines.model import _name_of, get_template, resolve_model
from swiftk.specs import Model, ModelGroup, ModelMeta
from swiftk.testing.tiny import build_tiny_checkpoint


def config_folder(tmp_path, name, **config):
    """A folder with only a config.json: enough for resolving (nothing is loaded)."""
    folder = tmp_path / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def resolve(*argv):
    return resolve_model(resolve_arguments("sft", list(argv)))


@pytest.mark.parametrize(
    "name,expected",
    [
        ("Qwen2-7B-Instruct", "qwen2"),
        ("Qwen1.5-0.5B-Chat", "qwen2"),
        ("Qwen2.5-7B-Instruct", "qwen2_5"),
        ("Qwen2.5-Coder-1.5B", "qwen2_5"),
        ("QwQ-32B-Preview", "qwq"),
        ("DeepSeek-R1-Distill-Qwen-14B", "deepseek_r1_distill_qwen"),
        ("some-finetune", "qwen2"),
    ],
)
def test_shared_architecture_told_apart_by_folder_name(tmp_path, name, expected):
    folder = config_folder(tmp_path, name, architectures=["Qwen2ForCausalLM"], model_type="qwen2")
    assert resolve("--model", str(folder)).model_type == expected


@pytest.mark.parametrize(
    "name,expected",
    [
        ("Llama-2-13b-chat-hf", "llama2"),
        ("Meta-Llama-3-8B-Instruct", "llama3"),
        ("Llama-3.1-70B-Instruct", "llama3_1"),
        ("Llama-3.3-70B-Instruct", "llama3_1"),
        ("Llama-3.2-3B-Instruct", "llama3_2"),
        ("Yi-34B-Chat", "yi"),
        ("deepseek-llm-67b-chat", "deepseek"),
        ("DeepSeek-R1-Distill-Llama-70B", "deepseek_r1_distill_llama"),
        ("vicuna-7b", "llama"),
    ],
)
def test_llama_architecture_families(tmp_path, name, expected):
    folder = config_folder(tmp_path, name, architectures=["LlamaForCausalLM"], model_type="llama")
    assert resolve("--model", str(folder)).model_type == expected


def test_model_type_flag_overrides_detection(tmp_path):
    folder = config_folder(tmp_path, "Qwen2.5-7B-Instruct", architectures=["Qwen2ForCausalLM"], model_type="qwen2")
    info = resolve("--model", str(folder), "--model_type", "qwq")
    assert (info.model_type, info.template_type) == ("qwq", "qwq")


def test_model_info_fields(tmp_path):
    folder = config_folder(
        tmp_path,
        "Qwen2.5-7B-Instruct",
        architectures=["Qwen2ForCausalLM"],
        model_type="qwen2",
        torch_dtype="bfloat16",
        max_position_embeddings=32768,
    )
    info = resolve("--model", str(folder))
    assert (info.torch_dtype, info.max_model_len, info.task_type, info.is_multimodal) == (
        "bfloat16",
        32768,
        "causal_lm",
        False,
    )
    assert resolve("--model", str(folder), "--torch_dtype", "float32").torch_dtype == "float32"
    info = resolve("--model", str(folder), "--num_labels", "3")
    assert (info.task_type, info.num_labels) == ("seq_cls", 3)


def test_hub_cache_folders_are_named_by_their_repository():
    assert _name_of("/cache/hub/models--Qwen--Qwen2.5-7B-Instruct/snapshots/abc123") == "Qwen2.5-7B-Instruct"


def test_generic_type_for_unregistered_auto_loadable_architecture(tmp_path):
    folder = config_folder(tmp_path, "my-model", architectures=["Olmo2ForCausalLM"], model_type="olmo2")
    info = resolve("--model", str(folder))
    assert (info.model_type, info.template_type) == ("causal_lm", "chatml")


def test_resolve_model_type_hook_wins(tmp_path, register_plugin):
    class Resolver:
        @swiftk.hookimpl
        def resolve_model_type(self, model_dir, config):
            return "yi" if config.get("my_marker") else None

    register_plugin(Resolver(), "resolver")
    folder = config_folder(tmp_path, "whatever", architectures=["Qwen2ForCausalLM"], model_type="qwen2", my_marker=1)
    assert resolve("--model", str(folder)).model_type == "yi"


def test_registered_model_id_with_local_path(tmp_path, register_plugin):
    folder = build_tiny_checkpoint("qwen2_5", tmp_path / "weights")

    class Local:
        @swiftk.hookimpl
        def register_models(self, register):
            register(
                "my_local",
                ModelMeta(
                    "my_local",
                    [ModelGroup([Model(ms_model_id="me/local-chat", model_path=str(folder))])],
                    template="qwen2_5",
                    architectures=["Qwen2ForCausalLM"],
                ),
            )

    register_plugin(Local(), "local")
    info = resolve("--model", "me/local-chat")
    assert (info.model_dir, info.model_type) == (str(folder), "my_local")


# --- errors: one line, naming the flag and what is valid ------------------------------------------


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def test_unknown_model_type_lists_choices(tmp_path):
    folder = config_folder(tmp_path, "x", architectures=["Qwen2ForCausalLM"])
    with pytest.raises(UsageError) as exc:
        resolve("--model", str(folder), "--model_type", "qwen9")
    message = one_line(exc)
    assert "--model_type qwen9" in message and "qwen2_5" in message and "causal_lm" in message


def test_unknown_template_lists_choices(tmp_path):
    folder = build_tiny_checkpoint("qwen2", tmp_path / "Qwen2-0.5B")
    args = resolve_arguments("sft", ["--model", str(folder), "--template", "qwen9"])
    info = resolve_model(args)
    with pytest.raises(UsageError) as exc:
        get_template(args, tiny_tokenizer("qwen"), info)
    message = one_line(exc)
    assert "--template qwen9" in message and "qwen2_5" in message and "llama3_1" in message


def test_folder_without_config_json(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError) as exc:
        resolve("--model", str(tmp_path / "empty"))
    assert "no config.json" in one_line(exc)


def test_missing_local_folder(tmp_path):
    with pytest.raises(UsageError) as exc:
        resolve("--model", str(tmp_path / "nope"))
    assert "no such folder" in one_line(exc)


def test_unregistered_architecture_suggests_model_type_and_template(tmp_path):
    folder = config_folder(tmp_path, "odd", architectures=["FancyNetForTagging"], model_type="fancy")
    with pytest.raises(UsageError) as exc:
        resolve("--model", str(folder))
    message = one_line(exc)
    assert "FancyNetForTagging" in message and "--model_type" in message and "--template" in message


def test_hub_id_offline_says_so_and_how_to_pass_a_folder():
    with pytest.raises(UsageError) as exc:
        resolve("--model", "Qwen/Qwen2.5-7B-Instruct", "--use_hf", "true")
    message = one_line(exc)
    assert "offline" in message and "--model /path/to/Qwen2.5-7B-Instruct" in message


def test_tokenizer_lacking_the_template_special_tokens():
    llama_tokenizer = tiny_tokenizer("llama")
    with pytest.raises(UsageError) as exc:
        make_template("qwen", llama_tokenizer)
    message = one_line(exc)
    assert "<|im_start|>" in message and "--template qwen" in message


def test_template_follows_model_type_default(tmp_path):
    folder = build_tiny_checkpoint("llama3_2", tmp_path / "Llama-3.2-1B-Instruct")
    args = resolve_arguments("infer", ["--model", str(folder)])
    info = resolve_model(args)
    from transformers import AutoTokenizer

    template = get_template(args, AutoTokenizer.from_pretrained(folder), info, mode="infer")
    assert template.template_type == "llama3_2" and template.mode == "infer"
    assert template.encode(row("gen"))["labels"] is None
