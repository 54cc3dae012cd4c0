"""``--train_type dummy`` (later ms-swift's extra tuner): the model trains as loaded, through the tuner contract
suite; the freeze arguments, which it would not apply, are refused."""

from __future__ import annotations

import pytest

from swiftk.testing.tuners import TunerContract


@pytest.mark.slow
class TestDummy(TunerContract):
    train_type = "dummy"
    learning_rate = 1e-3

    def expected_trainable_params(self, model, args):
        return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def test_dummy_refuses_the_freeze_arguments():
    from swiftk.api import UsageError
    from swiftk_sft.full import prepare_dummy

    class Args(dict):
        def get(self, name, default=None):
            return super().get(name, default)

    with pytest.raises(UsageError, match="--freeze_parameters_ratio: --train_type dummy trains the model as loaded"):
        prepare_dummy(object(), Args(freeze_parameters_ratio=0.5))
