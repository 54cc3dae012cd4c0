"""The swiftk hooks of swift-plugin-models.

Imports only declarations (dataclasses of :mod:`swiftk.specs`), never torch or transformers, so that
``swiftk --help`` and ``swiftk plugins`` stay fast; classes are registered as lazy references.
"""

from __future__ import annotations

import swiftk
from swiftk_models.model_types import MODEL_METAS
from swiftk_models.templates import TEMPLATE_METAS

AGENT_TEMPLATES = {
    "react_en": "swiftk_models.agent:ReactEn",
    "react_zh": "swiftk_models.agent:ReactZh",
    "glm4": "swiftk_models.agent:Glm4",
    "toolbench": "swiftk_models.agent:ToolBench",
    "qwen": "swiftk_models.agent:QwenAgent",
    "hermes": "swiftk_models.agent:Hermes",
    "llama3": "swiftk_models.agent:Llama3Json",
}

LOSS_SCALES = {
    "default": "swiftk_models.loss_scale:DefaultLossScale",
    "last_round": "swiftk_models.loss_scale:LastRoundLossScale",
    "all": "swiftk_models.loss_scale:AllLossScale",
    "react": "swiftk_models.loss_scale:ReactLossScale",
    "agentflan": "swiftk_models.loss_scale:AgentFlanLossScale",
    "alpha_umi": "swiftk_models.loss_scale:AlphaUmiLossScale",
    "qwen": "swiftk_models.loss_scale:QwenLossScale",
    "hermes": "swiftk_models.loss_scale:HermesLossScale",
    "ignore_empty_think": "swiftk_models.loss_scale:IgnoreEmptyThinkLossScale",
}


@swiftk.hookimpl
def register_models(register):
    for meta in MODEL_METAS:
        register(meta.model_type, meta)


@swiftk.hookimpl
def register_templates(register):
    for meta in TEMPLATE_METAS:
        register(meta.template_type, meta)


@swiftk.hookimpl
def register_agent_templates(register):
    for name, ref in AGENT_TEMPLATES.items():
        register(name, ref)


@swiftk.hookimpl
def register_loss_scales(register):
    for name, ref in LOSS_SCALES.items():
        register(name, ref)


@swiftk.hookimpl
def register_arguments(register):
    from swiftk_models.arguments import MODEL_LOADING_COMMANDS

    register("remote_code", "swiftk_models.arguments:RemoteCodeArguments", commands=list(MODEL_LOADING_COMMANDS))
    register("problem_type", "swiftk_models.arguments:ProblemTypeArguments", commands=list(MODEL_LOADING_COMMANDS))
    register(
        "response_prefix", "swiftk_models.later_args:ResponsePrefixArguments", commands=list(MODEL_LOADING_COMMANDS)
    )
    register(
        "new_special_tokens",
        "swiftk_models.arguments:NewSpecialTokensArguments",
        commands=list(MODEL_LOADING_COMMANDS),
    )
    register("to_ollama", "swiftk_models.later_args:OllamaExportArguments", commands=["export"])


@swiftk.hookimpl
def post_args_parse(command, args):
    """``--new_special_tokens``: each .txt file read into its tokens now, so args.json records the tokens."""
    if args.get("new_special_tokens"):
        from swiftk_models.tokens import read_new_special_tokens

        args.new_special_tokens = read_new_special_tokens(args.new_special_tokens)


@swiftk.hookimpl
def template_engine():
    """The Template class that encodes every TemplateMeta naming no template_cls."""
    from swiftk_models.template import Template

    return Template


@swiftk.hookimpl
def download_model(model_id, args):
    """--model ORG/NAME from ModelScope, or the Hugging Face Hub with --use_hf true."""
    from swiftk_models.hub import download_model as download

    return download(model_id, args)


@swiftk.hookimpl
def load_model(args, model_info, load_weights):
    """The loading arguments, the registered quantizer and the weights (swiftk_models.loader)."""
    from swiftk_models.loader import load_model as load

    return load(args, model_info, load_weights)


@swiftk.hookimpl
def upload_model(folder, args):
    """swiftk export --push_to_hub: to ModelScope, or the Hugging Face Hub with --use_hf true."""
    from swiftk_models.hub import upload_model as upload

    return upload(folder, args)
