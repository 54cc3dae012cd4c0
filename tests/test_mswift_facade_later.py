"""ms-swift 3.12-style plugin files through the compatibility facade (swiftk.compat.mswift): swift.plugin's
submodules, the built-in ORMs, swift.utils, and swift.llm's PtEngine / InferRequest / RequestConfig /
load_dataset from swift-plugin-infer's and swift-plugin-datasets' mswift_facade hooks. Every file here is
modelled on one of ms-swift v3.12's examples (examples/train/grpo/plugin/plugin.py, examples/custom/*.py,
examples/train/multimodal/lora_llm_full_vit/custom_plugin.py)."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from swiftk.errors import PluginError
from swiftk.external import _module_name, load_plugin_file
from swiftk.host import PluginHost
from swiftk.testing import HostScope
from kernel_support import one_line_error


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _loaded_module(path):
    return sys.modules[_module_name(str(path.resolve()))]


def _refused(tmp_path, text, host=None):
    """The one-line PluginError of loading a file with ``text``."""
    path = _write(tmp_path, "refused.py", text)
    with pytest.raises(PluginError) as err:
        load_plugin_file(host or PluginHost(autoload=False), str(path))
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


GRPO_PLUGIN = """\
    import asyncio
    import re
    from typing import List

    from swift.plugin import ORM, orms
    from swift.plugin.orm import AsyncORM
    from swift.plugin.orm import orms as orm_module_orms
    from swift.plugin.prm import PRM, prms
    from swift.plugin.loss import loss_mapping, register_loss_func
    from swift.plugin.callback import extra_callbacks
    from swift.plugin.optimizer import optimizers_map
    from swift.plugin.metric import metric_mapping
    from swift.plugin.multi_turn import MultiTurnScheduler, multi_turns
    import swift.plugin.tuner
    from swift.utils import get_logger
    from swift.llm import deep_getattr

    logger = get_logger()
    assert orm_module_orms is orms


    class CountdownORM(ORM):

        def __call__(self, completions, target, nums, **kwargs) -> List[float]:
            rewards = []
            for completion, gt, numbers in zip(completions, target, nums):
                match = re.search(r'<answer>(.*?)<\\/answer>', completion)
                if match is None:
                    rewards.append(0.0)
                    continue
                equation = match.group(1).strip()
                used = [int(n) for n in re.findall(r'\\d+', equation)]
                ok = sorted(used) == sorted(numbers) and abs(eval(equation, {'__builtins__': None}, {}) - gt) < 1e-5
                rewards.append(1.0 if ok else 0.0)
            return rewards


    orms['external_countdown'] = CountdownORM


    class SlowLength(AsyncORM):

        async def __call__(self, completions, **kwargs) -> List[float]:
            await asyncio.sleep(0)
            return [float(len(c)) for c in completions]


    orms['async_length'] = SlowLength


    class StepPRM(PRM):

        def __call__(self, **kwargs):
            return [0.0]


    prms['step_prm'] = StepPRM


    @register_loss_func('my_ce')
    def my_ce(outputs, labels, **kwargs):
        return outputs.loss


    class Greeter:
        pass


    extra_callbacks.append(Greeter)
    optimizers_map['my_opt'] = lambda args, model, dataset: (None, None)
    metric_mapping['my_metric'] = (lambda p: {'m': 1.0}, None)


    class NotUsedScheduler(MultiTurnScheduler):  # imported and subclassed, never registered: fine
        pass


    DEPTH = deep_getattr({'a': {'b': 3}}, 'a.b')
    """


def test_grpo_plugin_file_with_plugin_submodules(tmp_path):
    path = _write(tmp_path, "plugin.py", GRPO_PLUGIN)
    host = PluginHost(autoload=False)
    load_plugin_file(host, str(path))
    countdown = host.get("rewards", "external_countdown")()
    assert host.registry("rewards").entry("external_countdown").meta == {"reward_type": "orm"}
    assert countdown(["<answer>3 + 4</answer>", "7"], target=[7, 7], nums=[[3, 4], [3, 4]]) == [1.0, 0.0]
    # an async ms-swift reward is awaited: swiftk's trainers call rewards synchronously
    assert host.get("rewards", "async_length")()(["ab", "abc"]) == [2.0, 3.0]
    assert host.registry("rewards").entry("step_prm").meta == {"reward_type": "prm"}
    assert host.get("losses", "my_ce").__name__ == "my_ce"
    assert host.get("callbacks", "Greeter").__name__ == "Greeter"
    assert "my_opt" in host.registry("optimizers") and "my_metric" in host.registry("metrics")
    assert _loaded_module(path).DEPTH == 3
    assert not [m for m in sys.modules if m == "swift" or m.startswith("swift.")]  # facade removed afterwards


def test_registered_names_are_valid_values_on_the_command_line(swiftk, tmp_path):
    path = _write(tmp_path, "plugin.py", GRPO_PLUGIN)
    result = swiftk(
        "rlhf",
        "--rlhf_type",
        "grpo",
        "--model",
        "swiftk/tiny-chat",
        "--reward_funcs",
        "external_countdown",
        "async_length",
        "--external_plugins",
        str(path),
        "--print_args",
    )
    assert result.returncode == 0, result.stderr
    assert '"external_countdown"' in result.stdout and '"async_length"' in result.stdout


def test_builtin_orms_are_swiftk_rewards(tmp_path):
    pytest.importorskip("swiftk_grpo")
    path = _write(
        tmp_path,
        "strict_math.py",
        """\
        from swift.plugin.orm import MathAccuracy, Format, orms


        class StrictMath(MathAccuracy):

            def __call__(self, completions, solution, **kwargs):
                scores = super().__call__(completions, solution=solution, **kwargs)
                return [s if '<answer>' in c else 0.0 for s, c in zip(scores, completions)]


        orms['strict_math'] = StrictMath
        FORMAT_SCORE = Format()(['<think>x</think><answer>1</answer>'])
        """,
    )
    host = PluginHost(autoload=False)
    host.register_plugin(importlib.import_module("swiftk_grpo.plugin"), "grpo")
    load_plugin_file(host, str(path))
    strict = host.get("rewards", "strict_math")()
    assert strict(["<answer>4</answer>", "4"], solution=["4", "4"]) == [1.0, 0.0]
    assert _loaded_module(path).FORMAT_SCORE == [1.0]


def test_builtin_orm_without_its_plugin_or_equivalent_is_one_line(tmp_path):
    message = _refused(tmp_path, "from swift.plugin.orm import MathAccuracy\n")
    assert "refused.py:1" in message and "MathAccuracy" in message and "swift-plugin-grpo" in message
    message = _refused(tmp_path, "from swift.plugin.orm import ReactORM\n")
    assert "ReactORM has no swiftk equivalent" in message


def test_multi_turn_registration_is_refused_naming_multi_turn_grpo(tmp_path):
    message = _refused(
        tmp_path,
        """\
        from swift.plugin.multi_turn import MultiTurnScheduler, multi_turns


        class ToolCallScheduler(MultiTurnScheduler):
            pass


        multi_turns['tool_call_scheduler'] = ToolCallScheduler
        """,
    )
    assert "refused.py:8" in message
    assert "multi_turns['tool_call_scheduler']" in message and "multi-turn GRPO" in message
    assert "not supported" in message
    message = _refused(tmp_path, "from swift.plugin import rm_plugins\nrm_plugins['my_rm'] = object\n")
    assert "refused.py:2" in message and "reward-model plugins" in message


def test_unsupported_imports_name_the_missing_piece(tmp_path):
    # examples/train/grpo/plugin/plugin.py's header: RolloutInferRequest is multi-turn GRPO's
    message = _refused(
        tmp_path,
        """\
        from swift.llm import PtEngine, RequestConfig, RolloutInferRequest, Template, to_device
        """,
        host=_infer_host(),
    )
    assert "refused.py:1" in message and "RolloutInferRequest" in message and "multi-turn GRPO" in message
    message = _refused(tmp_path, "from swift.llm.infer.protocol import ChatCompletionResponse\n")
    assert "swift.llm.infer is not part of swift-kernel's ms-swift compatibility facade" in message
    # examples/train/multimodal/lora_llm_full_vit/custom_plugin.py
    message = _refused(tmp_path, "from swift.llm import deep_getattr\nfrom swift.tuners import LoraConfig, Swift\n")
    assert "refused.py:2" in message and "swift.tuners is not part of" in message
    message = _refused(tmp_path, "from swift.plugin import Tuner, extra_tuners\n")
    assert "Tuner" in message and "register_tuners" in message
    message = _refused(tmp_path, "from swift.plugin.loss_scale import LossScale, loss_scale_map\n")
    assert "LossScale" in message and "register_loss_scales" in message
    message = _refused(tmp_path, "from swift.utils import get_env_args\n")
    assert "swift.utils.get_env_args is not part of" in message
    # a name a plugin offers, without that plugin
    message = _refused(tmp_path, "from swift.llm import InferRequest, PtEngine\n")
    assert "swift.llm.InferRequest: provided by swift-plugin-infer, which is not loaded" in message


def _infer_host():
    pytest.importorskip("swiftk_infer")
    host = PluginHost(autoload=False)
    host.register_plugin(importlib.import_module("swiftk_infer.plugin"), "infer")
    return host


def test_pt_engine_infer_through_the_facade(tmp_path):
    """examples/custom/model.py's inference, on the shipped demo model."""
    pytest.importorskip("swiftk_infer")
    pytest.importorskip("swiftk_demo")
    path = _write(
        tmp_path,
        "model.py",
        """\
        from swift.llm import InferEngine, InferRequest, PtEngine, RequestConfig


        def chat(text):
            engine = PtEngine('swiftk/tiny-chat', max_batch_size=2)
            request = InferRequest(messages=[{'role': 'user', 'content': text}])
            try:
                return engine.infer([request, request], RequestConfig(max_tokens=8, temperature=0))
            finally:
                engine.close()
        """,
    )
    from swiftk.api import ChatCompletionResponse

    with HostScope() as host:
        load_plugin_file(host, str(path))
        responses = _loaded_module(path).chat("who are you?")  # after loading: the facade is gone, names remain
    assert len(responses) == 2 and all(isinstance(r, ChatCompletionResponse) for r in responses)
    message = responses[0].choices[0].message
    assert isinstance(message.content, str) and message.content.strip()
    assert message.role == "assistant" and message["content"] == message.content
    assert responses[1].choices[0].message.content == message.content  # greedy


def test_pt_engine_refuses_what_it_cannot_do(tmp_path):
    pytest.importorskip("swiftk_infer")
    path = _write(
        tmp_path,
        "quantized.py",
        """\
        from swift.llm import PtEngine


        def build():
            return PtEngine('swiftk/tiny-chat', quantization_config=object())
        """,
    )
    with HostScope() as host:
        load_plugin_file(host, str(path))
        with pytest.raises(TypeError, match=r"PtEngine\(quantization_config=\.\.\.\)"):
            _loaded_module(path).build()


def test_custom_dataset_file_and_load_dataset(tmp_path):
    """examples/custom/dataset.py, on a local file instead of swift/stsb."""
    pytest.importorskip("swiftk_datasets")
    data = tmp_path / "stsb.jsonl"
    data.write_text(
        "".join(
            f'{{"text1": "a{i}", "text2": "b{i}", "label": {i % 5}.0}}\n'
            for i in range(10)  # ten rows: half train, half validation
        )
    )
    path = _write(
        tmp_path,
        "dataset.py",
        f"""\
        from typing import Any, Dict, Optional

        from swift.llm import DatasetMeta, ResponsePreprocessor, load_dataset, register_dataset


        class CustomPreprocessor(ResponsePreprocessor):
            prompt = '''Sentence 1: {{text1}}
        Sentence 2: {{text2}}
        Similarity score: '''

            def preprocess(self, row: Dict[str, Any]) -> Optional[Dict[str, Any]]:
                return super().preprocess({{
                    'query': self.prompt.format(text1=row['text1'], text2=row['text2']),
                    'response': f"{{row['label']:.1f}}"
                }})


        register_dataset(DatasetMeta(dataset_path={str(data)!r}, dataset_name='my-stsb',
                                     preprocess_func=CustomPreprocessor()))


        def load():
            return load_dataset(['my-stsb'], split_dataset_ratio=0.5, seed=1)
        """,
    )
    with HostScope() as host:
        load_plugin_file(host, str(path))
        train, val = _loaded_module(path).load()
    assert len(train) == 5 and len(val) == 5
    row = train[0]
    assert row["messages"][0]["content"].startswith("Sentence 1: a")
    assert row["messages"][-1]["role"] == "assistant"


def test_cli_ms_swift_file_errors_are_one_line(swiftk, tmp_path):
    path = _write(
        tmp_path,
        "scheduler.py",
        "from swift.plugin import MultiTurnScheduler, multi_turns\n\n"
        "class S(MultiTurnScheduler):\n    pass\n\nmulti_turns['s'] = S\n",
    )
    result = swiftk("sft", "--external_plugins", str(path), "--print_args")
    assert result.returncode == 2
    error = one_line_error(result)
    assert "scheduler.py:6" in error and "multi-turn GRPO" in error


def test_custom_model_file_registers_with_the_generic_loader(tmp_path):
    """examples/custom/model.py: ms-swift's generic loader becomes swiftk's (get_function None)."""
    path = _write(
        tmp_path,
        "model.py",
        """\
        from swift.llm import (InferRequest, Model, ModelGroup, ModelMeta, PtEngine, RequestConfig, TemplateMeta,
                               get_model_tokenizer_with_flash_attn, register_model, register_template)

        register_template(
            TemplateMeta(
                template_type='custom',
                prefix=['<extra_id_0>System\\n{{SYSTEM}}\\n'],
                prompt=['<extra_id_1>User\\n{{QUERY}}\\n<extra_id_1>Assistant\\n'],
                chat_sep=['\\n']))

        register_model(
            ModelMeta(
                model_type='custom',
                model_groups=[
                    ModelGroup([Model('AI-ModelScope/Nemotron-Mini-4B-Instruct', 'nvidia/Nemotron-Mini-4B-Instruct')])
                ],
                template='custom',
                get_function=get_model_tokenizer_with_flash_attn,
                ignore_patterns=['nemo'],
                is_multimodal=False,
            ))

        if __name__ == '__main__':
            engine = PtEngine('AI-ModelScope/Nemotron-Mini-4B-Instruct')
        """,
    )
    pytest.importorskip("swiftk_infer")
    with HostScope(autoload=False) as host:
        host.register_plugin(importlib.import_module("swiftk_infer.plugin"), "infer")
        load_plugin_file(host, str(path))
        model = host.get("models", "custom")
        assert model.get_function is None and model.template == "custom" and model.ignore_patterns == ["nemo"]
        assert host.get("templates", "custom").chat_sep == ["\n"]
