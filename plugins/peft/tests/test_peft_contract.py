"""The tuner contract suite (swiftk.testing.tuners) for every tuner of swift-plugin-peft.

Each class trains 20 steps on swiftk/tiny-chat through `swiftk sft`, checks the printed trainable
count against the tuner's formula, reloads the checkpoint in a fresh process and merges it.
"""

from __future__ import annotations

import pytest

from peft_formulas import layer_params, lora_params, norm_and_embed_params
from swiftk.testing.tuners import TunerContract, linear_shapes

LORA = ("--lora_rank", "4", "--lora_alpha", "8", "--lora_dropout", "0.0")


class TestLora(TunerContract):
    train_type = "lora"
    extra_args = LORA
    learning_rate = 5e-3

    def expected_trainable_params(self, model, args):
        return lora_params(model, 4)


@pytest.mark.slow
class TestDora(TestLora):
    extra_args = LORA + ("--use_dora", "true")

    def expected_trainable_params(self, model, args):
        return lora_params(model, 4, dora=True)


@pytest.mark.slow
class TestLoraPlusRsloraGaussian(TestLora):
    """LoRA+ (the lorap optimizer), rank-stabilised scaling and gaussian init together."""

    extra_args = LORA + ("--lorap_lr_ratio", "16", "--use_rslora", "true", "--init_weights", "gaussian")
    learning_rate = 1e-3

    def test_the_lorap_optimizer_was_used(self, tuned):
        assert tuned.args.optimizer == "lorap"


@pytest.mark.slow
class TestPissa(TestLora):
    extra_args = LORA + ("--init_weights", "pissa_niter_4")
    learning_rate = 2e-3

    def test_checkpoint_has_the_converted_adapter(self, tuned):
        import json
        import os

        converted = os.path.join(tuned.checkpoint, "converted", "default", "adapter_config.json")
        config = json.load(open(converted))
        assert config["r"] == 8 and config["init_lora_weights"] is True


@pytest.mark.slow
class TestLoraGA(TestLora):
    extra_args = LORA + (
        "--init_weights",
        "lora-ga",
        "--lora_ga_batch_size",
        "2",
        "--lora_ga_iters",
        "2",
        "--lora_ga_max_length",
        "32",
        "--lora_ga_direction",
        "ArB2r",
        "--lora_ga_scale",
        "stable",
        "--lora_ga_stable_gamma",
        "16",
    )
    learning_rate = 2e-3


@pytest.mark.slow
class TestAdaLora(TunerContract):
    train_type = "adalora"
    extra_args = (
        "--adalora_init_r",
        "6",
        "--adalora_target_r",
        "4",
        "--adalora_tinit",
        "2",
        "--adalora_tfinal",
        "4",
        "--adalora_deltaT",
        "2",
        "--lora_dropout",
        "0.0",
    )
    learning_rate = 5e-3

    def expected_trainable_params(self, model, args):
        return sum(6 * (i + o + 1) for i, o in linear_shapes(model))


@pytest.mark.slow
class TestVera(TunerContract):
    train_type = "vera"
    extra_args = ("--vera_rank", "16")
    learning_rate = 2e-2

    def expected_trainable_params(self, model, args):
        return sum(16 + o for i, o in linear_shapes(model))


@pytest.mark.slow
class TestBoft(TunerContract):
    train_type = "boft"
    extra_args = ("--boft_block_size", "4")
    learning_rate = 5e-3

    def expected_trainable_params(self, model, args):
        return sum(i * 4 + o for i, o in linear_shapes(model))


@pytest.mark.slow
class TestFourierFT(TunerContract):
    train_type = "fourierft"
    extra_args = ("--fourier_n_frequency", "100", "--fourier_scaling", "300")
    learning_rate = 5e-3

    def expected_trainable_params(self, model, args):
        return 100 * len(linear_shapes(model))


class TestAdapter(TunerContract):
    train_type = "adapter"
    extra_args = ("--adapter_length", "16")
    learning_rate = 2e-3

    def expected_trainable_params(self, model, args):
        hidden = model.config.hidden_size
        return model.config.num_hidden_layers * (hidden * 16 + 16 + 16 * hidden + hidden)


@pytest.mark.slow
class TestLongLora(TunerContract):
    train_type = "longlora"
    extra_args = LORA
    learning_rate = 2e-3

    def expected_trainable_params(self, model, args):
        return lora_params(model, 4) + norm_and_embed_params(model)


class TestLlamaPro(TunerContract):
    train_type = "llamapro"
    extra_args = ("--llamapro_num_new_blocks", "2", "--llamapro_num_groups", "2")
    learning_rate = 2e-3

    def expected_trainable_params(self, model, args):
        return 2 * layer_params(model)


@pytest.mark.slow
class TestIA3(TunerContract):
    """Later ms-swift's extra tuner: one learned scale per output of each attention linear, per input of each MLP one."""

    train_type = "ia3"
    learning_rate = 2e-2

    def expected_trainable_params(self, model, args):
        import torch

        return sum(
            module.in_features if ".mlp." in name else module.out_features
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name != "lm_head"
        )


@pytest.mark.slow
class TestBone(TunerContract):
    """ms-swift's Bone (peft's MiSS): an r x out_features block per targeted linear, r = --reft_rank."""

    train_type = "bone"
    extra_args = ("--reft_rank", "4")
    learning_rate = 5e-3

    def expected_trainable_params(self, model, args):
        return sum(4 * o for i, o in linear_shapes(model))
