"""The plugin host: attribution, duplicates, lazy references, entry points and their env lists."""

from __future__ import annotations

import json
import types

import pytest

import swiftk
from swiftk.errors import PluginError, UsageError
from swiftk.host import PluginHost
from kernel_support import one_line_error


def _plugin(**hooks):
    return types.SimpleNamespace(**{k: swiftk.hookimpl(v) for k, v in hooks.items()})


def test_every_entry_records_its_plugin():
    host = PluginHost(autoload=False)
    host.register_plugin(_plugin(register_rewards=lambda register: register("a", len)), "one")
    host.register_plugin(
        _plugin(
            register_rewards=lambda register: register("b", len), register_metrics=lambda register: register("m", len)
        ),
        "two",
    )
    rewards = host.registry("rewards")
    assert rewards.names() == ["a", "b"]
    assert rewards.entry("a").plugin == "one" and rewards.entry("b").plugin == "two"
    assert host.registry("metrics").entry("m").plugin == "two"
    infos = {i.name: i.registers for i in host.plugin_infos()}
    assert infos == {"one": {"rewards": ["a"]}, "two": {"rewards": ["b"], "metrics": ["m"]}}


def test_duplicate_name_skips_the_second_plugin_naming_both(capsys):
    host = PluginHost(autoload=False)
    host.register_plugin(_plugin(register_rewards=lambda register: register("acc", len)), "first")
    host.register_plugin(
        _plugin(
            register_rewards=lambda register: register("acc", str),
            register_metrics=lambda register: register("second_metric", len),
        ),
        "second",
    )
    assert host.get("rewards", "acc") is len  # the first plugin's, and no error
    assert "second_metric" not in host.registry("metrics")  # the faulty plugin is skipped whole
    error = host.failed["second"].error
    assert "'first'" in error and "'second'" in error and "acc" in error
    warnings = [l for l in capsys.readouterr().err.splitlines() if "warning" in l]
    assert len(warnings) == 1 and "second" in warnings[0]
    assert [i.name for i in host.plugin_infos()] == ["first"]


def test_lazy_reference_is_imported_on_first_use_only():
    host = PluginHost(autoload=False)
    host.register_plugin(_plugin(register_metrics=lambda register: register("dump", "json:dumps")), "lazy")
    entry = host.registry("metrics").entry("dump")
    assert entry.value == "json:dumps" and not entry._is_loaded
    assert entry.load() is json.dumps and entry._is_loaded


def test_broken_lazy_reference_names_plugin_and_reference():
    host = PluginHost(autoload=False)
    host.register_plugin(
        _plugin(register_rewards=lambda register: register("nope", "no_such_module_xyz:thing")), "broken"
    )
    with pytest.raises(PluginError, match="plugin 'broken'.*no_such_module_xyz:thing"):
        host.get("rewards", "nope")


def test_unknown_name_suggests_close_names():
    host = PluginHost(autoload=False)
    host.register_plugin(_plugin(register_rewards=lambda register: register("accuracy_v2", len)), "p")
    with pytest.raises(UsageError, match="did you mean 'accuracy_v2'"):
        host.get("rewards", "accuracy_v3")


def test_builtin_name_of_missing_distribution_says_pip_install():
    host = PluginHost(autoload=False)
    with pytest.raises(UsageError) as err:
        host.get("rewards", "accuracy")
    # swift-plugin-grpo is installed in the test venv, not loaded by this host: the message says which
    assert "provided by swift-plugin-grpo, which is installed but not loaded" in str(err.value)
    with pytest.raises(UsageError, match="provided by swift-plugin-webui, which is installed but not loaded"):
        host.get("commands", "app")


def test_register_hook_that_raises_skips_that_plugin_only():
    def bad(register):
        register("half_done", len)
        raise RuntimeError("boom")

    host = PluginHost(autoload=False)
    host.register_plugin(
        _plugin(register_rewards=bad, post_model_load=lambda args, model, processor: 1 / 0), "bad-plugin"
    )
    host.register_plugin(_plugin(register_losses=lambda register: register("fine", len)), "good-plugin")
    assert host.get("losses", "fine") is len
    failed = host.failed["bad-plugin"]
    assert f"plugin 'bad-plugin' failed in register_rewards ({__file__}:" in failed.error
    assert "RuntimeError: boom" in failed.error
    # what it registered before raising is gone, and asking for it quotes the cause
    with pytest.raises(UsageError, match="provided by plugin 'bad-plugin', which failed and was skipped.*boom"):
        host.get("rewards", "half_done")
    # its other hooks do not run either
    host.hook.post_model_load(args=None, model=None, processor=None)


def test_misspelled_marked_hook_fails_naming_it():
    host = PluginHost(autoload=False)
    with pytest.raises(PluginError, match="register_rewardz.*did you mean register_rewards"):
        host.register_plugin(_plugin(register_rewardz=lambda register: None), "typo")


def test_resolve_model_type_first_answer_wins():
    host = PluginHost(autoload=False)
    calls = []

    def never(model_dir, config):
        calls.append("never")
        return None

    def qwen(model_dir, config):
        calls.append("qwen")
        return "qwen2" if config.get("model_type") == "qwen2" else None

    host.register_plugin(_plugin(resolve_model_type=qwen), "qwen")
    host.register_plugin(_plugin(resolve_model_type=never), "never")
    assert host.hook.resolve_model_type(model_dir="/m", config={"model_type": "qwen2"}) == "qwen2"
    assert host.hook.resolve_model_type(model_dir="/m", config={"model_type": "llama"}) is None
    assert "never" in calls and "qwen" in calls


# --- entry points, for real: installed distributions on PYTHONPATH -------------------------

GOOD = """
import swiftk

@swiftk.hookimpl
def register_rewards(register):
    register("{name}", "json:dumps")
"""

BROKEN = """
import swiftk
import a_module_that_is_not_installed_xyz
"""


def _listing(swiftk, env):
    result = swiftk("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)}, result


def test_entry_points_load_and_env_lists(make_dist, swiftk):
    make_dist("swiftk-good-one", "good_one", "good_one_mod", GOOD.format(name="r_one"))
    site = make_dist("swiftk-good-two", "good_two", "good_two_mod", GOOD.format(name="r_two"))
    env = {"PYTHONPATH": str(site)}
    plugins, _ = _listing(swiftk, env)
    assert plugins["good_one"]["registers"] == {"rewards": ["r_one"]}
    assert plugins["good_one"]["distribution"] == "swiftk-good-one"
    assert plugins["good_one"]["version"] == "1.0"
    assert "good_two" in plugins

    plugins, _ = _listing(swiftk, {**env, "SWIFTK_DISABLED_PLUGINS": "good_one"})
    assert "good_one" not in plugins and "good_two" in plugins

    plugins, _ = _listing(swiftk, {**env, "SWIFTK_LOAD_PLUGINS": "swiftk-good-two"})
    assert set(plugins) & {"good_one", "good_two"} == {"good_two"}

    plugins, _ = _listing(swiftk, {**env, "SWIFTK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert not set(plugins) & {"good_one", "good_two"}

    plugins, _ = _listing(swiftk, {**env, "SWIFTK_DISABLE_PLUGIN_AUTOLOAD": "1", "SWIFTK_LOAD_PLUGINS": "good_one"})
    assert set(plugins) & {"good_one", "good_two"} == {"good_one"}


def test_broken_plugin_is_skipped_with_one_warning_and_others_work(make_dist, swiftk):
    make_dist("swiftk-good-one", "good_one", "good_one_mod", GOOD.format(name="r_one"))
    site = make_dist("swift-plugin-grpo", "grpo", "broken_grpo_mod", BROKEN)
    env = {"PYTHONPATH": str(site)}
    plugins, result = _listing(swiftk, env)
    assert "good_one" in plugins and "grpo" not in plugins
    warnings = [l for l in result.stderr.splitlines() if "warning" in l]
    assert len(warnings) == 1 and "grpo" in warnings[0] and "a_module_that_is_not_installed_xyz" in warnings[0]
    # asking for one of its names quotes the failure
    code = (
        "from swiftk.host import get_host\n"
        "try:\n    get_host().get('rewards', 'accuracy')\n"
        "except Exception as e:\n    print(e)\n"
    )
    import subprocess, sys
    from kernel_support import swiftk_env

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=swiftk_env(env))
    assert "failed to load" in out.stdout and "a_module_that_is_not_installed_xyz" in out.stdout


RAISING = """
import swiftk

@swiftk.hookimpl
def register_templates(register):
    register("raising_tpl", "json:dumps")
    raise ValueError("a bug in the plugin")
"""


def test_two_installed_plugins_registering_one_name_skip_the_second(make_dist, swiftk):
    make_dist("swiftk-clash-a", "clash_a", "clash_a_mod", GOOD.format(name="same"))
    site = make_dist("swiftk-clash-b", "clash_b", "clash_b_mod", GOOD.format(name="same"))
    result = swiftk("plugins", env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    assert "clash_a (swiftk-clash-a 1.0)" in result.stdout
    failed = [l for l in result.stdout.splitlines() if l.startswith("clash_b")]
    assert len(failed) == 1 and "FAILED" in failed[0] and "'same'" in failed[0] and "clash_a" in failed[0]
    warnings = [l for l in result.stderr.splitlines() if "warning" in l]
    assert len(warnings) == 1 and "clash_b" in warnings[0]


def test_a_raising_installed_plugin_fails_only_the_commands_that_need_it(make_dist, swiftk):
    site = make_dist("swiftk-raising", "raising", "raising_mod", RAISING)
    env = {"PYTHONPATH": str(site)}
    listing = swiftk("plugins", env=env)
    assert listing.returncode == 0, listing.stderr
    line = next(l for l in listing.stdout.splitlines() if l.startswith("raising"))
    assert "FAILED" in line and "register_templates" in line and "raising_mod.py:7" in line
    assert "models (swift-plugin-models" in listing.stdout  # the others are all there
    ok = swiftk("sft", "--model", "swiftk/tiny-chat", "--dataset", "swiftk/demo-sft", "--print_args", env=env)
    assert ok.returncode == 0, ok.stderr
    needs = swiftk("infer", "--model", "swiftk/tiny-chat", "--template", "raising_tpl", env=env)
    line = one_line_error(needs)
    assert "raising_tpl" in line and "plugin 'raising'" in line and "a bug in the plugin" in line


def test_a_plugin_file_may_override_an_installed_name(tmp_path, swiftk):
    plugin = tmp_path / "override.py"
    plugin.write_text(
        "import swiftk\n\n@swiftk.hookimpl\ndef register_rewards(register):\n"
        "    register('accuracy', lambda completions, **kw: [0.5] * len(completions))\n"
    )
    result = swiftk("plugins", "--json", "--external_plugins", str(plugin))
    assert result.returncode == 0, result.stderr
    listed = {p["name"]: p["registers"] for p in json.loads(result.stdout)}
    assert listed[str(plugin)] == {"rewards": ["accuracy"]}
    assert "accuracy" not in listed["grpo"].get("rewards", [])
    assert f"reward function 'accuracy' of plugin 'grpo' is overridden by {plugin}" in result.stderr


def test_register_plugin_uses_the_bare_host_when_the_test_asks_for_it(bare_swiftk_host, register_plugin):
    import swiftk

    class OnlyMine:
        @swiftk.hookimpl
        def register_rewards(self, register):
            register("length_penalty", lambda completions, **kw: [1.0] * len(completions))

    register_plugin(OnlyMine(), "only_mine")
    assert swiftk.get_host() is bare_swiftk_host
    assert list(bare_swiftk_host.registry("rewards").names()) == ["length_penalty"]
