"""The tuner contract suite for --train_type reft, one class per intervention type."""

from __future__ import annotations

import pytest

from swiftk.testing.tuners import TunerContract

RANK = 4


def _reft_args(kind: str) -> tuple:
    return (
        "--reft_rank",
        str(RANK),
        "--reft_intervention_type",
        kind,
        "--reft_layers",
        "1",
        "2",
        "--reft_args",
        '{"dropout": 0.0}',
    )


class TestLoreft(TunerContract):
    train_type = "reft"
    kind = "LoreftIntervention"
    extra_args = _reft_args("LoreftIntervention")
    learning_rate = 5e-3

    def expected_trainable_params(self, model, args):
        hidden = model.config.hidden_size
        per_layer = (
            hidden * RANK + RANK
            if self.kind in ("ConsreftIntervention", "LobireftIntervention")
            else 2 * hidden * RANK + RANK
        )
        return 2 * per_layer  # --reft_layers 1 2


@pytest.mark.slow
class TestNoreft(TestLoreft):
    kind = "NoreftIntervention"
    extra_args = _reft_args(kind)


@pytest.mark.slow
class TestConsreft(TestLoreft):
    kind = "ConsreftIntervention"
    extra_args = _reft_args(kind)


@pytest.mark.slow
class TestLobireft(TestLoreft):
    kind = "LobireftIntervention"
    extra_args = _reft_args(kind)


@pytest.mark.slow
class TestDireft(TestLoreft):
    kind = "DireftIntervention"
    extra_args = _reft_args(kind)


@pytest.mark.slow
class TestNodireft(TestLoreft):
    kind = "NodireftIntervention"
    extra_args = _reft_args(kind)
