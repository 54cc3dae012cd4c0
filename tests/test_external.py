"""Plugin files given to --custom_register_path / --external_plugins, including ms-swift files."""

from __future__ import annotations

import importlib
import sys

import pytest

from swiftk.errors import PluginError, UsageError
from swiftk.external import load_plugin_file
from swiftk.host import PluginHost
from kernel_support import CONTRIB, one_line_error


def test_swiftk_style_file_registers_with_its_path_as_plugin(tmp_path):
    host = PluginHost(autoload=False)
    name = load_plugin_file(host, str(CONTRIB / "external_reward_plugin.py"))
    entry = host.registry("rewards").entry("has_answer_tag")
    assert entry.plugin == name and name.endswith("external_reward_plugin.py")
    fn = entry.load()
    assert fn(["<answer>4</answer>", "4"]) == [1.0, 0.0]


def test_ms_swift_file_works_through_the_facade():
    host = PluginHost(autoload=False)
    load_plugin_file(host, str(CONTRIB / "ms_swift_reward_plugin.py"))
    entry = host.registry("rewards").entry("external_math_format")
    assert entry.meta == {"reward_type": "orm"}
    reward = entry.load()()
    assert reward(["so \\boxed{4}", "no box"]) == [1.0, 0.0]
    assert "swift" not in sys.modules and "swift.plugin" not in sys.modules  # facade removed afterwards


def test_ms_swift_register_functions(tmp_path):
    path = tmp_path / "register_all.py"
    path.write_text(
        "from swift.llm import register_model, register_template, register_dataset, ModelMeta, ModelGroup, Model, "
        "TemplateMeta, DatasetMeta\n"
        "from swift.plugin import loss_mapping, register_loss_func, extra_callbacks, optimizers_map\n"
        "register_model(ModelMeta('my_model', [ModelGroup([Model('org/my-model')])], template='my_tpl', "
        "architectures=['MyForCausalLM']))\n"
        "register_template(TemplateMeta('my_tpl', prefix=[], prompt=['User: {{QUERY}}\\nAssistant: '], chat_sep=['\\n']))\n"
        "register_dataset(DatasetMeta(ms_dataset_id='org/my-data', subsets=['a', 'b']))\n"
        "@register_loss_func('my_loss')\n"
        "def my_loss(outputs, labels, **kw):\n    return 0\n"
        "loss_mapping['other_loss'] = {'loss_func': my_loss}\n"
        "class MyCallback: pass\n"
        "extra_callbacks.append(MyCallback)\n"
        "optimizers_map['my_opt'] = lambda args, model, dataset: (None, None)\n"
    )
    host = PluginHost(autoload=False)
    load_plugin_file(host, str(path), "--custom_register_path")
    assert host.get("models", "my_model").architectures == ["MyForCausalLM"]
    assert host.get("templates", "my_tpl").chat_sep == ["\n"]
    assert host.get("datasets", "org/my-data").subsets == ["a", "b"]
    assert host.get("losses", "my_loss").__name__ == "my_loss"
    assert host.get("losses", "other_loss").__name__ == "my_loss"
    assert host.get("callbacks", "MyCallback").__name__ == "MyCallback"
    assert "my_opt" in host.registry("optimizers")


def test_unsupported_ms_swift_name_explains(tmp_path):
    path = tmp_path / "uses_more.py"
    path.write_text("from swift.llm import get_model_tokenizer\n")
    with pytest.raises(PluginError) as err:
        load_plugin_file(PluginHost(autoload=False), str(path))
    assert f"{path}:1" in str(err.value) and "compatibility facade" in str(err.value)


def test_file_folder_is_on_sys_path_only_while_it_runs(tmp_path):
    (tmp_path / "helper_mod_xyz.py").write_text("VALUE = 7\n")
    path = tmp_path / "uses_helper.py"
    path.write_text(
        "import swiftk\nimport helper_mod_xyz\n\n@swiftk.hookimpl\ndef register_metrics(register):\n"
        "    register('seven', lambda *a: helper_mod_xyz.VALUE)\n"
    )
    host = PluginHost(autoload=False)
    load_plugin_file(host, str(path))
    assert str(tmp_path) not in sys.path
    assert host.get("metrics", "seven")() == 7


def test_two_files_with_one_stem_load_as_two_modules(tmp_path):
    for sub, reward in (("a", "ra"), ("b", "rb")):
        folder = tmp_path / sub
        folder.mkdir()
        (folder / "plugin.py").write_text(f"def register_rewards(register):\n    register('{reward}', len)\n")
    host = PluginHost(autoload=False)
    load_plugin_file(host, str(tmp_path / "a" / "plugin.py"))
    load_plugin_file(host, str(tmp_path / "b" / "plugin.py"))
    assert host.registry("rewards").names() == ["ra", "rb"]  # unmarked hook functions are accepted too


def test_missing_raising_and_misspelled_files(tmp_path):
    host = PluginHost(autoload=False)
    with pytest.raises(UsageError, match="--custom_register_path: no such file: .*nope.py"):
        load_plugin_file(host, str(tmp_path / "nope.py"), "--custom_register_path")
    raising = tmp_path / "raising.py"
    raising.write_text("x = 1\nraise ValueError('bad plugin')\n")
    with pytest.raises(PluginError, match=r"raising.py:2 raised ValueError: bad plugin"):
        load_plugin_file(host, str(raising))
    typo = tmp_path / "typo.py"
    typo.write_text("def register_rewardz(register):\n    pass\n")
    with pytest.raises(PluginError, match=r"typo.py:1\).*register_rewardz.*did you mean register_rewards"):
        load_plugin_file(host, str(typo))


def test_cli_bad_plugin_files_are_one_line_errors(swiftk, tmp_path):
    result = swiftk("sft", "--custom_register_path", str(tmp_path / "missing.py"), "--print_args")
    assert result.returncode == 2
    assert "no such file" in one_line_error(result)
    raising = tmp_path / "raising.py"
    raising.write_text("raise RuntimeError('kaboom')\n")
    result = swiftk("sft", "--custom_register_path", str(raising), "--print_args")
    assert result.returncode == 2
    assert "raising.py:1 raised RuntimeError: kaboom" in one_line_error(result)
    assert not (tmp_path / "output").exists()


def test_names_from_plugin_files_are_known_before_the_full_parse(swiftk, tmp_path):
    """Plugin files are read first, so the names they register are valid values of the flags."""
    plugin = tmp_path / "names.py"
    plugin.write_text(
        "def register_metrics(register):\n    register('my_metric', len)\n\n"
        "def register_losses(register):\n    register('my_loss', len)\n"
    )
    refused = swiftk("sft", "--metric", "my_metric", "--print_args")
    assert refused.returncode == 2
    assert "--metric: 'my_metric' is not valid" in one_line_error(refused)
    for flag in ("--external_plugins", "--custom_register_path"):
        result = swiftk("sft", "--metric", "my_metric", "--loss_type", "my_loss", flag, str(plugin), "--print_args")
        assert result.returncode == 0, result.stderr
        assert '"metric": "my_metric"' in result.stdout and '"loss_type": "my_loss"' in result.stdout
    # the same through a --config file naming the plugin file
    config = tmp_path / "c.yaml"
    config.write_text(f"external_plugins: [{plugin}]\nmetric: my_metric\n")
    assert swiftk("sft", "--config", str(config), "--print_args").returncode == 0


def test_registered_reward_is_valid_for_reward_funcs(tmp_path):
    from swiftk.arguments.commands import COMMANDS
    from swiftk.arguments.parser import CommandParser
    from swiftk.testing import HostScope

    parser = CommandParser("rlhf", COMMANDS["rlhf"])
    with HostScope(autoload=False) as host:
        with pytest.raises(UsageError, match="--reward_funcs: 'has_answer_tag' is not valid"):
            parser.parse(["--reward_funcs", "accuracy", "has_answer_tag"])
        load_plugin_file(host, str(CONTRIB / "external_reward_plugin.py"))
        values, _ = parser.parse(["--reward_funcs", "accuracy", "has_answer_tag"])
    assert values["reward_funcs"] == ["accuracy", "has_answer_tag"]


def test_ms_swift_dataset_file_with_a_preprocessor(tmp_path):
    pytest.importorskip("swiftk_datasets")
    data = tmp_path / "qa.jsonl"
    data.write_text('{"question": "2+2?", "answer": "4"}\n')
    path = tmp_path / "my_dataset.py"
    path.write_text(
        "from swift.llm import DatasetMeta, ResponsePreprocessor, register_dataset\n\n"
        "class QA(ResponsePreprocessor):\n"
        "    def preprocess(self, row):\n"
        "        return super().preprocess({'query': row['question'], 'response': row['answer']})\n\n"
        f"register_dataset(DatasetMeta(dataset_path={str(data)!r}, dataset_name='my-qa', preprocess_func=QA()))\n"
    )
    host = PluginHost(autoload=False)
    # the preprocessor classes come from swift-plugin-datasets' mswift_facade hook
    host.register_plugin(importlib.import_module("swiftk_datasets.plugin"), "datasets")
    load_plugin_file(host, str(path), "--custom_register_path")
    meta = host.get("datasets", "my-qa")
    assert meta.dataset_path == str(data)
    assert meta.preprocess_func({"question": "q", "answer": "a"}) == {"query": "q", "response": "a"}
