"""The argument machinery on its own dataclasses: types, lists, dicts, choices, config values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional, Union

import pytest

from swiftk.arguments.fields import arg
from swiftk.arguments.help import format_help
from swiftk.arguments.parser import Arguments, CommandParser, check_plugin_arguments, split_flags
from swiftk.errors import MissingPluginError, PluginError, UsageError


@dataclass
class Base:
    SECTION = "Base"
    model: Optional[str] = arg(None, "The model.", hot=True)
    seed: int = arg(42, "Seed.")
    ratio: float = arg(0.01, "A ratio.")
    flag: bool = arg(False, "A flag.")
    items: List[str] = arg(list, "Items.", hot=True)
    numbers: List[int] = arg([1, 2], "Numbers.")
    kwargs: Optional[Dict[str, Any]] = arg(None, "JSON.")
    mode: Literal["a", "b"] = arg("a", "A mode.")
    picked: List[str] = arg(list, "Several choices.", choices=("x", "y"))
    init: Union[bool, str] = arg(True, "true, false or a method name.")
    shard: Union[int, str] = arg("5GB", "Size.")
    rank: int = arg(8, "Plugin owned.", plugin="swift-plugin-nowhere")


@dataclass
class Override:
    SECTION = "Override"
    seed: int = arg(7, "Overridden seed.")


def parse(*argv, config=None, groups=(Base,)):
    return CommandParser("cmd", groups).parse(list(argv), config)


def test_defaults_and_explicit():
    values, explicit = parse()
    assert values["seed"] == 42 and values["items"] == [] and explicit == set()
    values, explicit = parse("--seed", "1", "--flag")
    assert values["seed"] == 1 and values["flag"] is True and explicit == {"seed", "flag"}


def test_defaults_are_not_shared_between_parses():
    values, _ = parse()
    values["numbers"].append(3)
    assert parse()[0]["numbers"] == [1, 2]


def test_later_group_overrides_a_field():
    values, _ = parse(groups=(Base, Override))
    assert values["seed"] == 7


@pytest.mark.parametrize(
    "argv, key, expected",
    [
        (["--items", "a", "b", "c"], "items", ["a", "b", "c"]),
        (["--items", '["a", "b"]'], "items", ["a", "b"]),
        (["--numbers", "3", "-4"], "numbers", [3, -4]),
        (["--ratio", "-0.5"], "ratio", -0.5),
        (["--ratio=0.25"], "ratio", 0.25),
        (["--model", "none"], "model", None),
        (["--kwargs", '{"a": [1, 2]}'], "kwargs", {"a": [1, 2]}),
        (["--flag", "false"], "flag", False),
        (["--flag", "True"], "flag", True),
        (["--mode", "b"], "mode", "b"),
        (["--picked", "x", "y"], "picked", ["x", "y"]),
        (["--init", "false"], "init", False),
        (["--init", "pissa_niter_4"], "init", "pissa_niter_4"),
        (["--shard", "100"], "shard", 100),
        (["--shard", "2GB"], "shard", "2GB"),
        (["--per-dash-ok"], None, None),
    ],
)
def test_conversions(argv, key, expected):
    if key is None:
        with pytest.raises(UsageError, match="unknown argument --per_dash_ok"):
            parse(*argv)
        return
    assert parse(*argv)[0][key] == expected


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", "x"], "--seed expects an integer, got 'x'"),
        (["--ratio", "high"], "--ratio expects a number"),
        (["--flag", "perhaps"], "--flag expects true or false"),
        (["--kwargs", "{nope"], "--kwargs expects a JSON object or the path of a JSON file"),
        (["--kwargs", "[1]"], "--kwargs expects a JSON object, got list"),
        (["--items", '{"a": 1}'], "--items expects a list"),
        (["--mode", "c"], "--mode: 'c' is not valid; choose from a, b"),
        (["--picked", "x", "z"], "--picked: 'z' is not valid; choose from x, y"),
        (["--seed"], "--seed expects a value"),
        (["--seed", "1", "2"], "--seed takes one value, got 2"),
        (["--sed", "1"], "did you mean --seed"),
        (["loose"], "unexpected argument 'loose'"),
    ],
)
def test_errors_name_the_flag(argv, message):
    with pytest.raises(UsageError) as err:
        parse(*argv)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_config_values_are_checked_and_converted():
    values, explicit = parse(config={"seed": "5", "items": "single", "kwargs": '{"k": 1}', "flag": True})
    assert values["seed"] == 5 and values["items"] == ["single"] and values["kwargs"] == {"k": 1}
    assert explicit == {"seed", "items", "kwargs", "flag"}
    with pytest.raises(UsageError, match="--items expects a list, got a mapping"):
        parse(config={"items": {"a": 1}})
    with pytest.raises(UsageError, match="--seed takes one value"):
        parse(config={"seed": [1, 2]})
    with pytest.raises(UsageError, match="--config: unknown argument --sed"):
        parse(config={"sed": 1})
    with pytest.raises(UsageError, match="--seed expects an integer"):
        parse(config={"seed": 1.5})


def test_command_line_wins_over_config():
    values, _ = parse("--seed", "3", config={"seed": 9, "ratio": 0.5})
    assert values["seed"] == 3 and values["ratio"] == 0.5


def test_plugin_owned_argument_needs_its_distribution():
    parser = CommandParser("cmd", [Base])
    values, explicit = parser.parse(["--rank", "8"])
    check_plugin_arguments(parser, values, explicit)  # the default value needs nothing
    values, explicit = parser.parse(["--rank", "16"])
    with pytest.raises(MissingPluginError, match="--rank needs swift-plugin-nowhere.*pip install swift-plugin-nowhere"):
        check_plugin_arguments(parser, values, explicit)
    check_plugin_arguments(parser, values, explicit, installed={"swift-plugin-nowhere"})


def test_argument_owned_by_either_of_two_distributions():
    from swiftk.arguments.integration.rlhf import RewardModelArguments

    parser = CommandParser("rlhf", [RewardModelArguments])
    values, explicit = parser.parse(["--reward_model", "rm-folder"])
    with pytest.raises(
        MissingPluginError,
        match="--reward_model needs swift-plugin-rlhf or swift-plugin-grpo, "
        "which is not installed: pip install swift-plugin-rlhf",
    ):
        check_plugin_arguments(parser, values, explicit, installed=set())
    check_plugin_arguments(parser, values, explicit, installed={"swift-plugin-grpo"})
    check_plugin_arguments(parser, values, explicit, installed={"swift-plugin-rlhf"})


def test_split_flags():
    assert split_flags(["--a", "1", "-2", "--b=x", "--c"]) == [("a", ["1", "-2"]), ("b", ["x"]), ("c", [])]


def test_arguments_object_and_args_json(tmp_path):
    parser = CommandParser("cmd", [Base])
    values, explicit = parser.parse(["--model", "m", "--kwargs", '{"x": 1}'])
    args = Arguments("cmd", values, explicit, parser)
    assert args.model == "m" and args.get("rlhf_type", 3) == 3  # another command's argument: the default
    with pytest.raises(PluginError, match="args.get\\('lora_rnak'\\).*did you mean lora_rank"):
        args.get("lora_rnak")  # defined nowhere: a misspelling
    args.seed = 5
    with pytest.raises(AttributeError):
        args.not_an_argument = 1
    assert args.group(Override).seed == 5
    import json

    path = args.save(str(tmp_path))
    saved = json.loads(open(path).read())
    assert saved["command"] == "cmd" and saved["seed"] == 5 and saved["kwargs"] == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["args.json"]


def test_help_lists_hot_first_then_sections():
    text = format_help(CommandParser("cmd", [Base, Override]), "Summary line.")
    hot = text.index("🔥 Key arguments:")
    assert text.index("🔥--model") > hot and text.index("🔥--items") > hot
    assert text.index("Base:") > text.index("🔥--items")
    assert "--mode {a,b}" in text and "(default: 'a')" in text
    assert "needs swift-plugin-nowhere" in text
    assert text.count("--seed") == 1 and "Overridden seed. (default: 7)" in text
