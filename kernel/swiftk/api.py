"""The kernel's public API: everything a plugin (ours or a third party's) may import from swiftk.

Import from here (``from swiftk.api import UsageError, TunerSpec``) and from the top-level package
(``swiftk.hookimpl``, ``swiftk.get_host``), and from ``swiftk.testing`` in tests; every other
module of the kernel is internal and may change.  ``tests/test_public_api.py`` checks that the
repository's plugins and contrib import nothing else.

Names are resolved on first use, so ``import swiftk.api`` stays as cheap as ``import swiftk``:
a plugin's entry-point module may import from here at its top.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> "module:attribute" (grouped as docs/plugins.md documents them)
_EXPORTS: dict[str, str] = {
    # the host and registries
    "get_host": "swiftk.host:get_host",
    "load_reference": "swiftk.registry:load_reference",
    "resolve_reference": "swiftk.registry:resolve_reference",
    "is_lazy_reference": "swiftk.registry:is_lazy_reference",
    # errors
    "UsageError": "swiftk.errors:UsageError",
    "MissingPluginError": "swiftk.errors:MissingPluginError",
    "PluginError": "swiftk.errors:PluginError",
    # what registration hooks register
    "ModelMeta": "swiftk.specs:ModelMeta",
    "ModelGroup": "swiftk.specs:ModelGroup",
    "Model": "swiftk.specs:Model",
    "TemplateMeta": "swiftk.specs:TemplateMeta",
    "DatasetMeta": "swiftk.specs:DatasetMeta",
    "SubsetDataset": "swiftk.specs:SubsetDataset",
    "TunerSpec": "swiftk.specs:TunerSpec",
    "TrainerSpec": "swiftk.specs:TrainerSpec",
    "EngineSpec": "swiftk.specs:EngineSpec",
    "QuantizerSpec": "swiftk.specs:QuantizerSpec",
    "EvalBackendSpec": "swiftk.specs:EvalBackendSpec",
    "SampleContext": "swiftk.specs:SampleContext",
    # arguments
    "arg": "swiftk.arguments.fields:arg",
    "get_model_arg": "swiftk.arguments.model_env:get_model_arg",
    "check_requires": "swiftk.requirements:check_requires",
    "command_arguments": "swiftk.cli.builtin:command_arguments",
    "check_command_line": "swiftk.cli.builtin:check_command_line",
    # models, templates and data, as the pipelines load them
    "load_model_and_processor": "swiftk.pipelines.model:load_model_and_processor",
    "resolve_model": "swiftk.pipelines.model:resolve_model",
    "get_template": "swiftk.pipelines.model:get_template",
    "template_name": "swiftk.pipelines.model:template_name",
    "load_datasets": "swiftk.pipelines.data:load_datasets",
    "encode_dataset": "swiftk.pipelines.data:encode_dataset",
    "ORIGIN": "swiftk.pipelines.data:ORIGIN",
    # adapters and saved models
    "tuner_of": "swiftk.pipelines.export:tuner_of",
    "apply_adapters": "swiftk.pipelines.export:apply_adapters",
    "merge_tuned": "swiftk.pipelines.export:merge_tuned",
    "save_model_folder": "swiftk.pipelines.export:save_model_folder",
    # preference and RL training
    "derived_args": "swiftk.pipelines.rlhf:derived_args",
    "renamed_flags": "swiftk.pipelines.rlhf:renamed_flags",
    "RewardError": "swiftk.rewards:RewardError",
    "build_reward": "swiftk.rewards:build_reward",
    "call_reward": "swiftk.rewards:call_reward",
    # inference engines
    "InferEngine": "swiftk.infer:InferEngine",
    "InferError": "swiftk.infer:InferError",
    "InferRequest": "swiftk.infer:InferRequest",
    "RequestConfig": "swiftk.infer:RequestConfig",
    "ChatCompletionResponse": "swiftk.infer:ChatCompletionResponse",
    "ChatCompletionStreamResponse": "swiftk.infer:ChatCompletionStreamResponse",
    "Choice": "swiftk.infer:Choice",
    "StreamChoice": "swiftk.infer:StreamChoice",
    "Usage": "swiftk.infer:Usage",
    # scoring, files, runs
    "parameter_counts": "swiftk.params:parameter_counts",
    "atomic_write_text": "swiftk.io:atomic_write_text",
    "hold_run_lock": "swiftk.io:hold_run_lock",
    "run_in_progress": "swiftk.io:run_in_progress",
    "VERSION_DIR": "swiftk.io:VERSION_DIR",
    "startup_phase": "swiftk.startup:startup_phase",
    "is_main_process": "swiftk.run_record:is_main_process",
    "record_resolution": "swiftk.run_record:record_resolution",
    "in_torchrun_worker": "swiftk.cli.launch:in_worker",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    ref = _EXPORTS.get(name)
    if ref is None:
        raise AttributeError(
            f"swiftk.api has no '{name}'; the public names are listed in docs/plugins.md (swiftk.api.__all__)"
        )
    module, _, attribute = ref.partition(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names resolve lazily above
    from swiftk.arguments.fields import arg  # noqa: F401
    from swiftk.arguments.model_env import get_model_arg  # noqa: F401
    from swiftk.errors import MissingPluginError, PluginError, UsageError  # noqa: F401
    from swiftk.host import get_host  # noqa: F401
    from swiftk.requirements import check_requires  # noqa: F401
    from swiftk.infer import (  # noqa: F401
        ChatCompletionResponse,
        ChatCompletionStreamResponse,
        Choice,
        InferEngine,
        InferError,
        InferRequest,
        RequestConfig,
        StreamChoice,
        Usage,
    )
    from swiftk.specs import (  # noqa: F401
        DatasetMeta,
        EngineSpec,
        EvalBackendSpec,
        Model,
        ModelGroup,
        ModelMeta,
        QuantizerSpec,
        SampleContext,
        SubsetDataset,
        TemplateMeta,
        TrainerSpec,
        TunerSpec,
    )
