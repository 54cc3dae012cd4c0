"""The seed page's parameter table (tests/data/seed_params.json) against the kernel's dataclasses.

Regenerate the table with ``python scripts/extract_seed_params.py`` when the page changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Literal, Union

import pytest

from swiftk.arguments.atomic.hf_training import HfTrainingArguments
from swiftk.arguments.commands import BASIC_GROUPS, COMMANDS, ENV_VARS, HOT_MODEL_ENV_VARS, MODEL_ENV_VARS
from swiftk.arguments.fields import arg_infos
from swiftk.arguments.parser import CommandParser, convert_tokens

SEED = json.loads((Path(__file__).parent / "data" / "seed_params.json").read_text(encoding="utf-8"))
ALL_GROUPS = list(dict.fromkeys(g for groups in COMMANDS.values() for g in groups))
BY_ZH = {g.SECTION_ZH: g for g in ALL_GROUPS}


def command_fields(cmd: str) -> dict:
    """name -> ArgInfo of a command's real parser (a later group wins on duplicate names)."""
    return CommandParser(cmd, COMMANDS[cmd]).infos


def as_tokens(value: Any) -> list:
    """How a user would type ``value`` on the command line."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, list):
        return [t for v in value for t in as_tokens(v)]
    if isinstance(value, dict):
        return [json.dumps(value)]
    return [str(value)]


def group_of(entry: dict) -> type:
    return BY_ZH[entry["section"].split("/")[-1]]


def is_raw(default: Any) -> bool:
    return isinstance(default, dict) and "raw" in default


def accepts(tp: Any, value: Any) -> bool:
    """Whether a value fits an annotation the way the parser reads it."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin is Union:
        return any(accepts(a, value) for a in typing.get_args(tp))
    if value is None:
        return tp is type(None)
    if origin is Literal:
        return value in typing.get_args(tp)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is list or tp is list:
        args = typing.get_args(tp)
        return isinstance(value, list) and all(accepts(args[0], x) for x in value) if args else True
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    raise AssertionError(f"annotation the parser does not know: {tp!r}")


def same_default(page: Any, field_default: Any) -> bool:
    if isinstance(field_default, list) and not isinstance(page, list):
        page = [page]  # e.g. report_to: the page says `tensorboard`
    if page is None or isinstance(page, bool) or isinstance(field_default, bool):
        return page is field_default or (isinstance(page, list) and page == field_default)
    return page == field_default


# --- the table itself -------------------------------------------------------------------------


def test_seed_table_is_complete():
    assert len(SEED) == 326
    assert len({e["name"] for e in SEED}) == 304
    assert len({(e["section"], e["name"]) for e in SEED}) == 326


def test_every_page_section_has_one_group_and_back():
    sections = {e["section"].split("/")[-1] for e in SEED}
    assert sections <= set(BY_ZH), sections - set(BY_ZH)
    groups_without_section = [
        g.__name__ for g in ALL_GROUPS if g.SECTION_ZH not in sections and g is not HfTrainingArguments
    ]
    assert not groups_without_section
    assert len(BY_ZH) == len(ALL_GROUPS), "two groups share a SECTION_ZH"


def test_no_parameter_the_page_does_not_list():
    on_page = {(e["section"].split("/")[-1], e["name"]) for e in SEED}
    extra = [
        (g.__name__, i.name)
        for g in ALL_GROUPS
        if g is not HfTrainingArguments
        for i in arg_infos(g)
        if (g.SECTION_ZH, i.name) not in on_page
    ]
    assert not extra


# --- each entry in its own group -------------------------------------------------------------


@pytest.mark.parametrize("entry", SEED, ids=lambda e: f"{e['section'].split('/')[-1]}:{e['name']}")
def test_entry_declared_in_its_group(entry):
    infos = {i.name: i for i in arg_infos(group_of(entry))}
    assert entry["name"] in infos, f"{entry['name']} missing from {group_of(entry).__name__}"
    info = infos[entry["name"]]
    assert info.hot == entry["hot"], f"{entry['name']}: hot should be {entry['hot']}"
    assert info.help and "\n" not in info.help
    if not is_raw(entry["default"]):
        assert same_default(entry["default"], info.default), (
            f"{entry['name']}: page default {entry['default']!r}, declared {info.default!r}"
        )


# --- each command, with overriding ------------------------------------------------------------


def _command_cases():
    for cmd, groups in COMMANDS.items():
        order = {g.SECTION_ZH: i for i, g in enumerate(groups)}
        effective = {}
        for e in SEED:
            leaf = e["section"].split("/")[-1]
            if leaf not in order:
                continue
            if e["name"] not in effective or order[leaf] >= order[effective[e["name"]]["section"].split("/")[-1]]:
                effective[e["name"]] = e
        for name, e in sorted(effective.items()):
            yield pytest.param(cmd, e, id=f"{cmd}:{name}")


@pytest.mark.parametrize("cmd,entry", list(_command_cases()))
def test_command_has_entry(cmd, entry):
    fields = command_fields(cmd)
    assert entry["name"] in fields
    info = fields[entry["name"]]
    assert info.owner is group_of(entry), f"{cmd} {entry['name']} comes from {info.owner.__name__}"
    assert info.hot == entry["hot"]
    if not is_raw(entry["default"]):
        assert same_default(entry["default"], info.default)
    assert accepts(info.type, info.default)
    # the parser reads the default, typed as a user would type it, back as the same value
    if info.default is not None and info.default != [] and info.default != {}:
        assert convert_tokens(info, as_tokens(info.default)) == info.default


def test_command_name_counts():
    counts = {
        cmd: len({e["name"] for e in SEED if e["section"].split("/")[-1] in {g.SECTION_ZH for g in groups}})
        for cmd, groups in COMMANDS.items()
    }
    assert counts == {
        "sft": 177,
        "pt": 177,
        "rlhf": 235,
        "infer": 88,
        "deploy": 96,
        "web-ui": 4,
        "app": 103,
        "eval": 103,
        "export": 76,
        "merge-lora": 76,
        "sample": 87,
        "rollout": 96,  # later ms-swift's: the deploy arguments (its own are swift-plugin-vllm's)
    }
    # training commands also accept every other transformers TrainingArguments field
    hf = {i.name for i in arg_infos(HfTrainingArguments)}
    for cmd in ("sft", "pt", "rlhf"):
        assert hf <= set(command_fields(cmd))


@pytest.mark.parametrize(
    "cmd,name,value",
    [
        ("sft", "temperature", 0.0),
        ("sft", "max_new_tokens", 64),
        ("rlhf", "temperature", 0.9),
        ("rlhf", "loss_scale", "last_round"),
        ("rlhf", "top_k", 50),
        ("infer", "temperature", None),
        ("eval", "temperature", 0.0),
        ("eval", "verbose", False),
        ("deploy", "verbose", True),
        ("app", "lang", "en"),
        ("web-ui", "lang", "zh"),
        ("export", "max_length", 2048),
        ("infer", "max_length", None),
        ("sample", "temperature", 1.0),
        ("sample", "api_key", "EMPTY"),
        ("deploy", "api_key", None),
        ("export", "quant_method", None),
        ("sft", "output_dir", None),
        ("sample", "output_dir", "sample_output"),
    ],
)
def test_later_group_wins(cmd, name, value):
    assert command_fields(cmd)[name].default == value


def test_export_quant_method_choices_are_exports():
    assert set(command_fields("export")["quant_method"].valid_choices()) == {"gptq", "awq", "bnb"}
    assert set(command_fields("sft")["quant_method"].valid_choices()) == {"bnb", "hqq", "eetq"}


# --- types, plugins ---------------------------------------------------------------------------


@pytest.mark.parametrize("group", ALL_GROUPS, ids=lambda g: g.__name__)
def test_annotations_accept_defaults(group):
    for info in arg_infos(group):
        assert accepts(info.type, info.default), f"{group.__name__}.{info.name}: {info.type} {info.default!r}"
        choices = info.valid_choices()
        if choices and info.default is not None and not isinstance(info.default, list):
            assert info.default in choices


def test_types_that_matter():
    f = command_fields("rlhf")
    assert f["init_weights"].type == Union[bool, str]
    assert f["reft_layers"].type == typing.Optional[typing.List[int]]
    assert f["reward_weights"].type == typing.Optional[typing.List[float]]
    assert f["model_kwargs"].is_dict and f["vllm_limit_mm_per_prompt"].is_dict
    assert command_fields("infer")["limit_mm_per_prompt"].is_dict
    assert f["dataset"].is_list and f["learning_rate"].optional and f["gradient_checkpointing"].is_bool
    assert command_fields("sample")["data_range"].type == typing.List[int]


PLUGIN_PREFIXES = {
    "lora_": "swift-plugin-peft",
    "adalora_": "swift-plugin-peft",
    "vera_": "swift-plugin-peft",
    "boft_": "swift-plugin-peft",
    "fourier_": "swift-plugin-peft",
    "llamapro_": "swift-plugin-peft",
    "galore_": "swift-plugin-galore",
    "use_galore": "swift-plugin-galore",
    "lisa_": "swift-plugin-lisa",
    "reft_": "swift-plugin-reft",
    "use_liger": "swift-plugin-liger",
    "vllm_": "swift-plugin-vllm",
    "swanlab_": "swift-plugin-trackers",
}


def test_plugin_owned_arguments():
    for group in ALL_GROUPS:
        for info in arg_infos(group):
            for prefix, dist in PLUGIN_PREFIXES.items():
                if group is not HfTrainingArguments and (
                    info.name.startswith(prefix) if prefix.endswith("_") else info.name == prefix
                ):
                    assert info.plugin == dist, f"{info.name}: {info.plugin}"
            if group.SECTION_ZH in ("LMDeploy参数",):
                assert info.plugin == "swift-plugin-lmdeploy"
            if group.SECTION_ZH in ("vLLM参数",):
                assert info.plugin == "swift-plugin-vllm"
            if group.SECTION_ZH == "PPO参数":
                assert info.plugin == "swift-plugin-rlhf"
            if group.SECTION_ZH == "Reward模型参数":  # PPO's and GRPO's: either distribution gives them meaning
                assert info.plugin == "swift-plugin-rlhf or swift-plugin-grpo"
    for group in BASIC_GROUPS:
        assert all(i.plugin is None for i in arg_infos(group)), group.__name__
    grpo = {i.name: i.plugin for i in arg_infos(BY_ZH["GRPO参数"])}
    assert grpo["num_generations"] == "swift-plugin-grpo" and grpo["cosine_max_len"] == "swift-plugin-grpo"


# --- environment variables ----------------------------------------------------------------------


def test_env_vars():
    assert [n for n, _, _ in ENV_VARS] == [
        "CUDA_VISIBLE_DEVICES",
        "ASCEND_RT_VISIBLE_DEVICES",
        "MODELSCOPE_CACHE",
        "NPROC_PER_NODE",
        "MASTER_PORT",
        "MASTER_ADDR",
        "NNODES",
        "NODE_RANK",
    ]
    assert dict((n, d) for n, d, _ in ENV_VARS)["MASTER_PORT"] == 29500
    qwen = {n: d for n, d, _ in MODEL_ENV_VARS["qwen2_5_vl"]}
    assert len(qwen) == 11 and qwen["MIN_PIXELS"] == 4 * 28 * 28 and qwen["FPS_MAX_FRAMES"] == 768
    assert {n for n, _, _ in MODEL_ENV_VARS["minicpmo2_6"]} >= {"MAX_SLICE_NUMS", "INIT_TTS"}
    assert HOT_MODEL_ENV_VARS == {"MAX_PIXELS", "VIDEO_MAX_PIXELS", "FPS_MAX_FRAMES"}
    assert sum(len(v) for v in MODEL_ENV_VARS.values()) > 31


def test_import_is_light():
    kernel = Path(__file__).resolve().parent.parent / "kernel"
    code = (
        "import sys; sys.path.insert(0, %r); import swiftk.arguments.commands, swiftk.arguments.derive, "
        "swiftk.arguments.load_args, swiftk.arguments.model_env; "
        "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))" % str(kernel)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
