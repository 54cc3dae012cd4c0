"""The `swiftk` command line: help, --print_args, --config, plugin commands and usage errors."""

from __future__ import annotations

import json
import os

import pytest

from kernel_support import TEST_PLUGINS, one_line_error

PIPELINE = str(TEST_PLUGINS / "pipeline_commands.py")


def test_top_level_help_lists_every_command(swiftk):
    result = swiftk("--help")
    assert result.returncode == 0
    for command in (
        "sft",
        "pt",
        "rlhf",
        "infer",
        "deploy",
        "app",
        "web-ui",
        "eval",
        "export",
        "sample",
        "merge-lora",
        "plugins",
        "run",
    ):
        assert f"  {command} " in result.stdout


def test_no_arguments_prints_help(swiftk):
    result = swiftk()
    assert "Commands:" in result.stdout + result.stderr


def test_command_help_lists_hot_parameters_first_with_defaults(swiftk):
    result = swiftk("sft", "--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    headers = [i for i, line in enumerate(lines) if line.endswith(":") and not line.startswith(" ")]
    assert lines[headers[0]] == "🔥 Key arguments:"
    hot = "\n".join(lines[headers[0] : headers[1]])
    rest = "\n".join(lines[headers[1] :])
    assert "🔥--model STR" in hot and "🔥--train_type {lora,full," in hot and "🔥--lora_rank INT" in hot
    assert "🔥" not in rest
    assert "Model arguments:" in rest and "LoRA" in rest
    assert "--seed INT" in rest and "(default: 42)" in " ".join(rest.split())
    assert result.stdout.count("--lora_rank ") == 1


def test_print_args_resolves_without_loading_anything(swiftk, tmp_path):
    result = swiftk(
        "sft",
        "--model",
        "some/model",
        "--dataset",
        "a.jsonl",
        "b.jsonl#5",
        "--max_length",
        "512",
        "--model_kwargs",
        '{"fps_max_frames": 12}',
        "--gradient_checkpointing",
        "false",
        "--print_args",
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    args = json.loads(result.stdout)
    assert args["command"] == "sft"
    assert args["dataset"] == ["a.jsonl", "b.jsonl#5"]
    assert args["max_length"] == 512 and args["model_kwargs"] == {"fps_max_frames": 12}
    assert args["gradient_checkpointing"] is False
    assert not os.listdir(tmp_path)  # nothing written


def test_config_file_with_command_line_winning(swiftk, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("model: from/config\nmax_length: 4\ndataset: [x.jsonl, y.jsonl]\nmodel_kwargs: {a: 1}\n")
    result = swiftk("sft", "--config", str(config), "--max_length", "32", "--print_args")
    assert result.returncode == 0, result.stderr
    args = json.loads(result.stdout)
    assert args["model"] == "from/config" and args["max_length"] == 32
    assert args["dataset"] == ["x.jsonl", "y.jsonl"] and args["model_kwargs"] == {"a": 1}
    as_json = tmp_path / "train.json"
    as_json.write_text(json.dumps({"model": "json/model", "seed": 7}))
    args = json.loads(swiftk("infer", "--config", str(as_json), "--print_args").stdout)
    assert args["model"] == "json/model" and args["seed"] == 7


def test_dict_flag_reads_a_json_file(swiftk, tmp_path):
    path = tmp_path / "kw.json"
    path.write_text('{"max_pixels": 1024}')
    args = json.loads(swiftk("sft", "--model_kwargs", str(path), "--print_args").stdout)
    assert args["model_kwargs"] == {"max_pixels": 1024}


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["sftt"], "unknown command 'sftt'; did you mean sft"),
        (["sft", "--lora_rnak", "8"], "unknown argument --lora_rnak for `swiftk sft`; did you mean --lora_rank"),
        (["sft", "--model_kwargs", "{bad json"], "--model_kwargs expects a JSON object"),
        (["sft", "--dataset", '{"a": 1}'], "--dataset expects a list (space-separated values), got a JSON object"),
        (["sft", "--lora_rank", "eight"], "--lora_rank expects an integer, got 'eight'"),
        (["sft", "--gradient_checkpointing", "maybe"], "--gradient_checkpointing expects true or false"),
        (["sft", "--train_type", "loraa"], "--train_type: 'loraa' is not valid"),
        (["sft", "--seed", "1", "2"], "--seed takes one value, got 2"),
        (["sft", "stray"], "unexpected argument 'stray'"),
        (["sft", "--config", "/nonexistent/x.yaml"], "--config: no such file"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(swiftk, tmp_path, argv, expected):
    result = swiftk(*argv, "--print_args", cwd=str(tmp_path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert expected in one_line_error(result)
    assert not os.listdir(tmp_path)


def test_config_list_given_a_mapping(swiftk, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("dataset: {a: 1}\n")
    result = swiftk("sft", "--config", str(config), "--print_args")
    assert result.returncode == 2
    assert "--dataset expects a list, got a mapping" in one_line_error(result)


def test_debug_shows_a_traceback(swiftk):
    result = swiftk("sft", "--lora_rank", "x", "--print_args", env={"SWIFTK_DEBUG": "1"})
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_command_without_its_plugin_names_the_distribution(swiftk, tmp_path):
    result = swiftk("app", "--model", "m", cwd=str(tmp_path), env={"SWIFTK_DISABLED_PLUGINS": "webui"})
    assert result.returncode == 2
    assert "provided by swift-plugin-webui, which is installed but not loaded" in one_line_error(result)
    assert not list(tmp_path.iterdir())
    result = swiftk("deploy", "--model", str(tmp_path), env={"SWIFTK_DISABLED_PLUGINS": "infer"})
    assert "provided by swift-plugin-infer, which is installed but not loaded" in one_line_error(result)


def test_installed_but_disabled_plugin_is_named(bare_swiftk, tmp_path):
    result = bare_swiftk("sft", "--model", "m", "--output_dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "swift-plugin-sft, which is installed but not loaded" in one_line_error(result)


def test_plugin_owned_argument_without_its_plugin():
    """Every plugin of the repository is installed here: the check is given the installed set instead."""
    from swiftk.arguments.parser import check_plugin_arguments
    from swiftk.cli.builtin import make_parser
    from swiftk.errors import MissingPluginError

    parser = make_parser("rlhf")
    with pytest.raises(MissingPluginError) as missing:
        check_plugin_arguments(parser, {"swanlab_mode": "local"}, {"swanlab_mode"}, installed=set())
    assert str(missing.value) == (
        "--swanlab_mode needs swift-plugin-trackers, which is not installed: pip install swift-plugin-trackers"
    )
    check_plugin_arguments(parser, {"swanlab_mode": "local"}, {"swanlab_mode"}, installed={"swift-plugin-trackers"})


def test_builtin_command_runs_the_plugin_and_writes_args_json(bare_swiftk, tmp_path):
    out = tmp_path / "run"
    result = bare_swiftk(
        "sft",
        "--model",
        "tiny",
        "--model_name",
        "小A",
        "Little A",
        "--output_dir",
        str(out),
        "--add_version",
        "false",
        "--custom_register_path",
        PIPELINE,
    )
    assert result.returncode == 0, result.stderr
    saved = json.loads((out / "args.json").read_text())
    assert saved["command"] == "sft" and saved["model"] == "tiny" and saved["model_name"] == ["小A", "Little A"]
    assert json.loads((out / "rank0.json").read_text())["model_name"] == ["小A", "Little A"]
    assert not [p for p in os.listdir(out) if p.startswith(".tmp")]


def test_output_dir_not_writable(bare_swiftk, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = bare_swiftk(
        "sft",
        "--model",
        "m",
        "--output_dir",
        str(blocker / "sub"),
        "--add_version",
        "false",
        "--custom_register_path",
        PIPELINE,
    )
    assert result.returncode == 2
    assert "--output_dir" in one_line_error(result) and "not writable" in one_line_error(result)


def test_plugin_added_commands_and_arguments(swiftk, tmp_path):
    plugin = tmp_path / "cmds.py"
    plugin.write_text('''
import click
from dataclasses import dataclass
import swiftk
from swiftk.arguments.fields import arg

@dataclass
class GreetArguments:
    SECTION = "Greeting"
    who: str = arg("world", "Whom to greet.", hot=True)
    times: int = arg(1, "How often.")

@dataclass
class ExtraSftArguments:
    SECTION = "My plugin"
    my_extra_flag: float = arg(0.5, "A flag a plugin adds to sft.")

@click.command("hello")
@click.option("--name", default="you")
def hello(name):
    """Say hello."""
    click.echo(f"hello {name}")

def greet(args):
    for _ in range(args.times):
        print(f"greetings, {args.who}")

@swiftk.hookimpl
def register_commands(register):
    register("hello", hello, help="Say hello (a click command).")
    register("lazy-hello", "cmds_impl:lazy_hello", help="Imported only when run.")
    register("greet", greet, help="Greet with kernel-parsed arguments.", arguments=[GreetArguments])

@swiftk.hookimpl
def register_arguments(register):
    register("extra_sft", ExtraSftArguments, commands=["sft"])
''')
    site = tmp_path / "site"
    site.mkdir()
    info = site / "swiftk_cmds-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: swiftk-cmds\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[swiftk]\ncmds = cmds\n")
    (site / "cmds.py").write_text(plugin.read_text())
    marker = tmp_path / "cmds_impl_imported"
    (site / "cmds_impl.py").write_text(
        f"import click\nopen({str(marker)!r}, 'w').close()\n\n"
        "@click.command()\ndef lazy_hello():\n    click.echo('lazy hello')\n"
    )
    env = {"PYTHONPATH": str(site)}
    listing = swiftk("--help", env=env)
    assert "lazy-hello" in listing.stdout and "Imported only when run. [cmds]" in listing.stdout
    assert not marker.exists()  # listed from its registered help, not imported
    assert swiftk("lazy-hello", env=env).stdout.strip() == "lazy hello" and marker.exists()
    top = swiftk("--help", env=env)
    assert "hello" in top.stdout and "Say hello (a click command). [cmds]" in top.stdout
    assert swiftk("hello", "--name", "Ann", env=env).stdout.strip() == "hello Ann"
    greet = swiftk("greet", "--who", "Bo", "--times", "2", env=env)
    assert greet.returncode == 0, greet.stderr
    assert greet.stdout.splitlines() == ["greetings, Bo", "greetings, Bo"]
    assert "🔥--who" in swiftk("greet", "--help", env=env).stdout
    args = json.loads(swiftk("sft", "--my_extra_flag", "0.25", "--print_args", env=env).stdout)
    assert args["my_extra_flag"] == 0.25
    assert "My plugin:" in swiftk("sft", "--help", env=env).stdout


def test_plugin_argument_group_may_not_redefine_a_kernel_argument(swiftk, tmp_path):
    plugin = tmp_path / "clash.py"
    plugin.write_text(
        "from dataclasses import dataclass\nfrom swiftk.arguments.fields import arg\n\n"
        "@dataclass\nclass Clash:\n    seed: int = arg(1, 'Mine.')\n\n"
        "def register_arguments(register):\n    register('clash', Clash, commands=['sft'])\n"
    )
    result = swiftk("sft", "--custom_register_path", str(plugin), "--print_args")
    assert result.returncode == 2
    assert "plugin argument group Clash redefines --seed" in one_line_error(result)
