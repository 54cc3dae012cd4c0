"""Trainable-parameter formulas of the peft plugin's tuners (imported by name by the tests)."""

from __future__ import annotations

from swiftk.testing.tuners import linear_shapes


def lora_params(model, r, dora=False):
    return sum(r * (i + o) + (o if dora else 0) for i, o in linear_shapes(model))


def layer_params(model):
    """Parameters of one transformer block."""
    from swiftk_peft.common import decoder_layers

    _, layers = decoder_layers(model)
    return sum(p.numel() for p in layers[0].parameters())


def norm_and_embed_params(model):
    embed = model.get_input_embeddings().weight.numel()
    norms = sum(
        p.numel()
        for n, m in model.named_modules()
        if "norm" in n.split(".")[-1].lower()
        for p in m.parameters(recurse=False)
    )
    return embed + norms
