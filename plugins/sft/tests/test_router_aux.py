"""`--router_aux_loss_coef` (later ms-swift) on a tiny random Qwen3-MoE: 0 (the default) trains without the
router's loss, as with the flag absent; a coefficient adds coef x the load-balancing loss to the first step's
loss (the same through a registered --loss_type as through the model's own loss); DPO takes it through trl's
config; a dense model refuses a coefficient above 0."""

from __future__ import annotations

import json

import pytest
from test_sft_e2e import COMMON, swiftk, train_losses

from swiftk.testing.tiny import build_tiny_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moe(tmp_path_factory):
    return str(build_tiny_checkpoint("qwen3_moe", tmp_path_factory.mktemp("moe") / "Qwen3-30B-A3B"))


def first_loss(moe, out, *extra):
    argv = [*COMMON, "--model", moe, "--train_type", "full", "--max_steps", "1", "--logging_steps", "1",
            "--report_to", "none", "--save_strategy", "no", "--output_dir", str(out), *extra]  # fmt: skip
    swiftk("sft", *argv)
    return train_losses(out)[1]


def test_the_coefficient_weights_the_routers_loss(moe, tmp_path):
    from swiftk_sft.router_aux import configure
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(moe)
    configure(model, {"router_aux_loss_coef": 1.0})
    ids = __import__("torch").arange(5, 37).view(2, 16)
    aux = float(model(input_ids=ids, labels=ids).aux_loss)
    assert aux > 0

    absent = first_loss(moe, tmp_path / "absent")
    zero = first_loss(moe, tmp_path / "zero", "--router_aux_loss_coef", "0")
    two = first_loss(moe, tmp_path / "two", "--router_aux_loss_coef", "2")
    custom = first_loss(moe, tmp_path / "custom", "--router_aux_loss_coef", "2", "--loss_type", "cross_entropy")
    assert zero == pytest.approx(absent, abs=1e-6)
    assert two - zero == pytest.approx(2 * aux, rel=0.2), (absent, zero, two, aux)  # this batch's router loss
    assert custom == pytest.approx(two, abs=1e-4)
    args = json.loads(next((tmp_path / "two").rglob("args.json")).read_text())
    assert args["router_aux_loss_coef"] == 2.0


def test_dpo_takes_the_coefficient_and_a_dense_model_refuses_it(moe, tmp_path):
    swiftk("rlhf", "--rlhf_type", "dpo", "--model", moe, "--dataset", "swiftk/demo-dpo", "--max_steps", "1",
           "--router_aux_loss_coef", "0.5", "--report_to", "none", "--save_strategy", "no",
           "--output_dir", str(tmp_path / "dpo"))  # fmt: skip
    assert (tmp_path / "dpo").exists()
    proc = swiftk("sft", *COMMON, "--max_steps", "1", "--router_aux_loss_coef", "0.5", "--output_dir",
                  str(tmp_path / "dense"), check=False)  # fmt: skip
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
    assert "--router_aux_loss_coef 0.5: qwen2 has no experts' router" in errors[0]
