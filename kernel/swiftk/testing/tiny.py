"""Random-init tiny checkpoints of any registered model type, built offline in about a second.

:func:`build_tiny_checkpoint` writes a folder that loads like the real model: ``config.json`` of the
family's transformers config (2 layers, hidden size 32, vocabulary sized from the tokenizer), a small
byte-level BPE tokenizer trained on a built-in text with the family's special tokens (and, if given,
its official ``chat_template``), and safetensors weights.  The recipe comes from the model type's
``ModelMeta.extra["tiny"]``; the template's ``special_tokens`` are added to the tokenizer.

Families that ship remote code (Qwen 1, ChatGLM3, InternLM2, Baichuan2, MiniCPM) get a *stand-in*:
a Llama-shaped model under the family's ``model_type`` and class names, written as remote code
files with an ``auto_map``, so that loading goes through ``trust_remote_code`` as the real model
does.  It is not the family's real modelling code.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Optional, Union

__all__ = ["build_tiny_checkpoint", "build_tiny_tokenizer", "TINY_DIMS"]

#: The size of every tiny model (overridable per family through ``extra["tiny"]["overrides"]``).
TINY_DIMS = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=512,
    tie_word_embeddings=False,
)

_CORPUS = """\
The quick brown fox jumps over the lazy dog. Hello, how are you today? I am fine, thank you!
You are a helpful assistant. Answer the question, then stop. What is the weather in Paris?
It is sunny and 22 degrees. Call the tool get_weather with the city name as its argument.
{"name": "get_weather", "arguments": {"city": "Paris"}} [1, 2, 3] 0 1 2 3 4 5 6 7 8 9 10 100 2024
Thought: I should look it up. Action: search Action Input: Observation: Final Answer: The answer is 42.
user assistant system tool function parameters description type object string required properties
def main(): return x + y  # code, numbers and punctuation: ( ) [ ] { } < > = + - * / \\ | ; : ' " ` ~ ! ? .
你好，我是一个人工智能助手。今天天气很好。请问有什么可以帮你？工具 调用 参数 结果 回答 问题
"""


@functools.lru_cache(maxsize=32)
def _tokenizer_json(special: tuple[str, ...], vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer)
    return tok.to_str()


def build_tiny_tokenizer(
    tokens: dict, special_tokens: list[str] = (), chat_template: Optional[str] = None, vocab_size: int = 400
) -> Any:
    """A fast byte-level BPE tokenizer holding ``tokens`` (``bos``/``eos``/``pad``/``unk`` strings and an
    ``extra`` list) and ``special_tokens`` as single tokens; adds ``bos`` in front when the family has one."""
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    roles = {k: tokens.get(k) for k in ("bos", "eos", "pad", "unk") if tokens.get(k)}
    extra = [t for t in list(tokens.get("extra", [])) + list(special_tokens) if t not in roles.values()]
    special = tuple(dict.fromkeys(list(roles.values()) + extra))
    backend = Tokenizer.from_str(_tokenizer_json(special, vocab_size))
    if roles.get("bos"):
        bos = roles["bos"]
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, backend.token_to_id(bos))]
        )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=roles.get("bos"),
        eos_token=roles.get("eos"),
        pad_token=roles.get("pad"),
        unk_token=roles.get("unk"),
        additional_special_tokens=[t for t in special if t not in roles.values()],
    )
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


_REMOTE_CONFIG = '''"""Stand-in remote code written by swiftk.testing.tiny, NOT the family's real modelling code:
a Llama-shaped configuration registered under this family's model_type."""
from transformers import LlamaConfig


class TinyRemoteConfig(LlamaConfig):
    model_type = "{model_type}"
'''

_REMOTE_MODEL = '''"""Stand-in remote code written by swiftk.testing.tiny, NOT the family's real modelling code:
a Llama-shaped causal LM under this family's class name."""
from transformers import LlamaForCausalLM

from .configuration_tiny_remote import TinyRemoteConfig


class {auto_class}(LlamaForCausalLM):
    config_class = TinyRemoteConfig
'''


def _special_ids(tokenizer: Any) -> dict:
    """The config's bos/eos/pad ids from the tokenizer (None where it has none, not the config's default)."""
    return {f"{k}_token_id": getattr(tokenizer, f"{k}_token_id") for k in ("bos", "eos", "pad")}


def build_tiny_checkpoint(
    model_type: str,
    folder: Union[str, Path],
    *,
    seed: int = 0,
    chat_template: Optional[str] = None,
    **config_overrides: Any,
) -> Path:
    """Write a random tiny checkpoint of ``model_type`` into ``folder`` (created) and return it.

    ``config_overrides`` change the config (e.g. ``hidden_size=128`` where a kernel needs wider layers)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    import swiftk
    from swiftk.errors import UsageError

    host = swiftk.get_host()
    models = host.registry("models")
    if model_type not in models:
        raise UsageError(f"unknown model type '{model_type}'; valid: {', '.join(sorted(models.names()))}")
    meta = models.get(model_type)
    spec = (meta.extra or {}).get("tiny") or {}
    if not spec:
        raise UsageError(f"model type '{model_type}' declares no tiny checkpoint recipe (ModelMeta.extra['tiny'])")
    special: list[str] = []
    templates = host.registry("templates")
    if meta.template and meta.template in templates:
        template = templates.get(meta.template)
        special = list((getattr(template, "extra", None) or {}).get("special_tokens", []))

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(spec.get("tokens", {}), special, chat_template)
    tokenizer.save_pretrained(folder)
    dims = {
        **TINY_DIMS,
        "vocab_size": len(tokenizer),
        **_special_ids(tokenizer),
        **spec.get("overrides", {}),
        **config_overrides,
    }

    torch.manual_seed(seed)
    remote = spec.get("remote")
    if remote:
        model = LlamaForCausalLM(LlamaConfig(**dims))
    else:
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(spec["config"], **dims))
    model.config.dtype = "float32"
    model.save_pretrained(folder)
    if remote:
        _write_remote(folder, remote)
    else:
        # The class transformers picked, unless the model type names others (transformers may implement
        # a family with another family's class, e.g. InternLM3 with Llama's).
        name = type(model).__name__
        if meta.architectures and name not in meta.architectures:
            _update_config(folder, architectures=[meta.architectures[0]])
    return folder


def _update_config(folder: Path, **values: Any) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(values)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _write_remote(folder: Path, remote: dict) -> None:
    (folder / "configuration_tiny_remote.py").write_text(_REMOTE_CONFIG.format(**remote), encoding="utf-8")
    (folder / "modeling_tiny_remote.py").write_text(_REMOTE_MODEL.format(**remote), encoding="utf-8")
    _update_config(
        folder,
        model_type=remote["model_type"],
        architectures=[remote["architecture"]],
        auto_map={
            "AutoConfig": "configuration_tiny_remote.TinyRemoteConfig",
            "AutoModelForCausalLM": f"modeling_tiny_remote.{remote['auto_class']}",
        },
    )
