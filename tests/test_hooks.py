"""Every hook, called the way the kernel calls it: one plugin per kind, and the pipeline hooks."""

from __future__ import annotations

import types

import pytest

import swiftk
from swiftk.errors import PluginError
from swiftk import hookspecs
from swiftk.host import PluginHost
from swiftk.specs import DatasetMeta, EngineSpec, ModelMeta, TemplateMeta, TrainerSpec, TunerSpec

# one registration per kind, written as a plugin author would
EXAMPLES = {
    "register_models": ("my_model", ModelMeta("my_model", architectures=["MyForCausalLM"])),
    "register_templates": ("my_template", TemplateMeta("my_template", prompt=["{{QUERY}}"])),
    "register_agent_templates": ("my_tools", "json:dumps"),
    "register_datasets": ("org/my-data", DatasetMeta(ms_dataset_id="org/my-data")),
    "register_tuners": ("my_tuner", TunerSpec(prepare="json:loads")),
    "register_trainers": ("my_trainer", TrainerSpec(trainer_cls="json:JSONDecoder")),
    "register_losses": ("my_loss", lambda outputs, labels, **kw: 0.0),
    "register_loss_scales": ("my_scale", lambda turns: [1.0] * len(turns)),
    "register_metrics": ("my_metric", lambda args=None, tokenizer=None: lambda eval_prediction: {}),
    "register_rewards": ("my_reward", lambda completions, **cols: [0.0] * len(completions)),
    "register_optimizers": ("my_opt", lambda args, model, dataset: (None, None)),
    "register_callbacks": ("my_callback", "json:JSONEncoder"),
    "register_infer_engines": ("my_engine", EngineSpec(engine_cls="json:JSONDecoder")),
    "register_quantizers": ("my_quant", "json:dumps"),
    "register_eval_backends": ("my_eval", lambda args, base_url: {"score": 1.0}),
    "register_samplers": ("my_sampler", "json:JSONDecoder"),
    "register_commands": ("my-command", lambda args: 0),
    "register_arguments": ("my_args", "json:JSONDecoder"),
}


def test_examples_cover_every_registration_hook():
    assert set(EXAMPLES) == {f"register_{k}" for k in hookspecs.REGISTRY_KINDS}


@pytest.mark.parametrize("hook", sorted(EXAMPLES))
def test_registration_hook(hook):
    name, obj = EXAMPLES[hook]
    plugin = types.SimpleNamespace(**{hook: swiftk.hookimpl(lambda register: register(name, obj))})
    host = PluginHost(autoload=False)
    host.register_plugin(plugin, "author")
    kind = hook[len("register_") :]
    entry = host.registry(kind).entry(name)
    assert entry.plugin == "author" and entry.meta == {}
    loaded = entry.load()
    assert loaded is obj or (isinstance(obj, str) and loaded is not obj)
    assert host.plugin_infos()[0].registers == {kind: [name]}


@pytest.mark.parametrize("hook", sorted(EXAMPLES))
def test_register_refuses_an_option_its_kind_does_not_take(hook):
    name, obj = EXAMPLES[hook]
    kind = hook[len("register_") :]
    options = hookspecs.REGISTER_OPTIONS.get(kind, {})
    plugin = types.SimpleNamespace(
        **{
            hook: swiftk.hookimpl(
                lambda register: register(name, obj, **{option: None for option in options}, whne=None)
            )
        }
    )
    host = PluginHost(autoload=False)
    host.register_plugin(plugin, "author")
    assert name not in host.registry(kind)
    error = host.failed["author"].error
    assert f"register_{kind} the unknown option whne= for '{name}'" in error
    assert ("did you mean when?" in error) == (kind == "callbacks")
    assert all(option in error for option in options) and (options or "takes none" in error)


def test_callback_options_are_kept():
    plugin = types.SimpleNamespace(
        register_callbacks=swiftk.hookimpl(
            lambda register: register("cb", "json:JSONEncoder", when=bool, takes_args=True)
        )
    )
    host = PluginHost(autoload=False)
    host.register_plugin(plugin, "author")
    assert host.registry("callbacks").entry("cb").meta == {"when": bool, "takes_args": True}


def test_a_marked_function_that_is_no_hook_is_refused():
    plugin = types.SimpleNamespace(setup_everything=swiftk.hookimpl(lambda: None))
    host = PluginHost(autoload=False)
    with pytest.raises(PluginError, match="setup_everything"):
        host.register_plugin(plugin, "odd")
    assert host.pm.get_plugin("odd") is None


def test_pipeline_hooks_are_called_with_their_arguments_in_order():
    calls = []

    class Recorder:
        @swiftk.hookimpl
        def post_args_parse(self, command, args):
            calls.append(("post_args_parse", command, args))

        @swiftk.hookimpl
        def post_model_load(self, args, model, processor):
            calls.append(("post_model_load", model, processor))

        @swiftk.hookimpl
        def post_trainer_create(self, args, trainer):
            calls.append(("post_trainer_create", trainer))

        @swiftk.hookimpl
        def train_end(self, args, trainer, output_dir):
            calls.append(("train_end", trainer, output_dir))

    host = PluginHost(autoload=False)
    host.register_plugin(Recorder(), "recorder")
    host.hook.post_args_parse(command="sft", args="A")
    host.hook.post_model_load(args="A", model="M", processor="P")
    host.hook.post_trainer_create(args="A", trainer="T")
    host.hook.train_end(args="A", trainer="T", output_dir="/out")
    assert calls == [
        ("post_args_parse", "sft", "A"),
        ("post_model_load", "M", "P"),
        ("post_trainer_create", "T"),
        ("train_end", "T", "/out"),
    ]


def test_post_args_parse_can_refuse_a_run(bare_swiftk, tmp_path):
    plugin = tmp_path / "refuse.py"
    plugin.write_text(
        "import swiftk\nfrom swiftk.errors import UsageError\n\n"
        "def register_commands(register):\n    register('sft', lambda args: print('RAN'))\n\n"
        "@swiftk.hookimpl\ndef post_args_parse(command, args):\n"
        "    if args.model == 'forbidden':\n        raise UsageError('--model forbidden is refused by my policy')\n"
    )
    ok = bare_swiftk(
        "sft", "--model", "fine", "--output_dir", str(tmp_path / "o"), "--custom_register_path", str(plugin)
    )
    assert ok.returncode == 0 and "RAN" in ok.stdout, ok.stderr
    refused = bare_swiftk(
        "sft", "--model", "forbidden", "--output_dir", str(tmp_path / "o2"), "--custom_register_path", str(plugin)
    )
    assert refused.returncode == 2 and "refused by my policy" in refused.stderr and "RAN" not in refused.stdout


def test_testing_fixtures_give_a_fresh_host(register_plugin, swiftk_host):
    from swiftk.host import get_host

    assert get_host() is swiftk_host
    register_plugin(
        types.SimpleNamespace(register_rewards=swiftk.hookimpl(lambda register: register("fixture_reward", len))),
        "fixture-plugin",
    )
    assert get_host().registry("rewards").entry("fixture_reward").plugin == "fixture-plugin"


def test_the_next_test_does_not_see_it(bare_swiftk_host):
    assert "fixture_reward" not in bare_swiftk_host.registry("rewards")


def test_template_plugin_skeleton_registers_lazily():
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "plugins" / "_template"
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("swiftk_template.plugin")
        host = PluginHost(autoload=False)
        host.register_plugin(module, "template")
        entry = host.registry("metrics").entry("template_metric")
        assert not entry._is_loaded and "swiftk_template.impl" not in sys.modules
        assert callable(entry.load())  # a factory (args, tokenizer); tests/test_plugin_examples.py runs it
    finally:
        sys.path.remove(str(root))
