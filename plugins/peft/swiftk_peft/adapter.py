"""``--train_type adapter``: a bottleneck adapter on the output of every transformer block's MLP.

As ms-swift's adapter: ``h = mlp(x); h + W2·act(W1·h + b1) + b2`` with ``W1: hidden -> adapter_length``,
``W2: adapter_length -> hidden`` (Xavier-uniform weights, near-zero biases), ``--adapter_act`` between
them.  Only the adapters train.  A forward hook adds the adapter, so the base model's parameter names
do not change.  Checkpoints hold only the adapters (``model.safetensors`` + ``swiftk_tuner.json``);
the adapter is not linear in the weights, so it cannot be merged.
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError
from swiftk_peft.common import (
    attach_native_save,
    decoder_layers,
    freeze_all,
    load_native_weights,
    read_tuner_config,
    report_trainable,
)

ATTR = "swiftk_adapter"
_MLP_NAMES = ("mlp", "feed_forward", "ffn", "block_sparse_moe")


def _activation(name: str):
    import torch.nn as nn

    table = {
        "gelu": nn.GELU,
        "relu": nn.ReLU,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "identity": nn.Identity,
        "linear": nn.Identity,
    }
    if name not in table:
        raise UsageError(f"--adapter_act {name}: valid: {', '.join(table)}")
    return table[name]()


def _make_module(dim: int, length: int, act: str, dtype: Any, device: Any):
    import torch.nn as nn

    class BottleneckAdapter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear1 = nn.Linear(dim, length)
            self.act = _activation(act)
            self.linear2 = nn.Linear(length, dim)
            for layer in (self.linear1, self.linear2):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.normal_(layer.bias, std=1e-6)

        def forward(self, hidden):
            x = hidden.to(self.linear1.weight.dtype)
            return (x + self.linear2(self.act(self.linear1(x)))).to(hidden.dtype)

    return BottleneckAdapter().to(device=device, dtype=dtype)


def _hook(module, inputs, output):
    adapter = getattr(module, ATTR)
    if isinstance(output, tuple):
        return (adapter(output[0]),) + tuple(output[1:])
    return adapter(output)


def _mlps(model: Any) -> list:
    _, layers = decoder_layers(model)
    out = []
    for i, layer in enumerate(layers):
        mlp = next((getattr(layer, n) for n in _MLP_NAMES if hasattr(layer, n)), None)
        if mlp is None:
            raise UsageError(
                f"--train_type adapter: block {i} ({type(layer).__name__}) has no MLP "
                f"({'/'.join(_MLP_NAMES)}) to put an adapter after"
            )
        out.append(mlp)
    return out


def add_adapters(model: Any, config: dict) -> Any:
    param = next(model.parameters())
    dim = model.config.get_text_config().hidden_size
    for mlp in _mlps(model):
        if hasattr(mlp, ATTR):
            raise UsageError("--train_type adapter: the model already has adapters")
        mlp.add_module(
            ATTR, _make_module(dim, config["adapter_length"], config["adapter_act"], param.dtype, param.device)
        )
        mlp.register_forward_hook(_hook)
    attach_native_save(model, "adapter", config, lambda name: f".{ATTR}." in name)
    return model


def prepare_adapter(model: Any, args: Any) -> Any:
    if args.get("adapters"):
        model = load_adapter(model, args.adapters[0], args)
    else:
        length = int(args.get("adapter_length") or 128)
        if length < 1:
            raise UsageError(f"--adapter_length must be a positive integer, got {length}")
        add_adapters(model, {"adapter_length": length, "adapter_act": args.get("adapter_act") or "gelu"})
    freeze_all(model)
    for name, param in model.named_parameters():
        if f".{ATTR}." in name:
            param.requires_grad_(True)
    report_trainable(model, "adapter")
    return model


def load_adapter(model: Any, adapter_dir: str, args: Any = None) -> Any:
    config = read_tuner_config(adapter_dir, "adapter")
    add_adapters(model, config)
    return load_native_weights(model, adapter_dir)
