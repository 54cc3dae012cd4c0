"""`--optimizer muon` (later ms-swift): Muon orthogonalises the hidden matrices' updates, AdamW moves the rest, the
Trainer's schedule reaches both, and a run resumed from a checkpoint (the optimizer's state reloaded) continues
with the losses of the uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_sft_e2e import COMMON, swiftk, train_losses

from swiftk_sft.muon import MuonWithAdamW, optim_options, split_parameters

MODEL = str(Path(__file__).resolve().parents[2] / "demo/swiftk_demo/tiny-chat")


@pytest.fixture(scope="module")
def model():
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32)


def one_step(model, optimizer):
    ids = torch.arange(3, 35).view(2, 16)
    model.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    optimizer.step()
    return before, grads


def spread(matrix, top=8):
    """Largest over 8th largest singular value (the gradient of a 32-token batch has few large directions)."""
    values = torch.linalg.svdvals(matrix.double())
    return float(values[0] / values[top - 1])


def test_muon_orthogonalises_matrix_updates_and_adamw_moves_the_rest(model):
    muon, adamw = split_parameters(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim == 2 for p in muon) and not any("embed_tokens" in names[id(p)] for p in muon)
    assert any("embed_tokens" in names[id(p)] for p in adamw) and any(p.ndim == 1 for p in adamw)
    optimizer = MuonWithAdamW(muon, adamw, lr=1e-3, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8)
    before, grads = one_step(model, optimizer)
    name = next(n for n in names.values() if n.endswith("mlp.down_proj.weight"))
    param = dict(model.named_parameters())[name]
    update = param.detach() - before[name]
    # Newton-Schulz flattens the gradient's singular values: the update's spread is small, the gradient's is not
    assert spread(update) < 1.6 and spread(grads[name]) > 3, (spread(update), spread(grads[name]))
    norm = next(n for n in names.values() if n.endswith("input_layernorm.weight"))
    step = (dict(model.named_parameters())[norm].detach() - before[norm]).abs()
    assert torch.allclose(step[grads[norm].abs() > 1e-6], torch.tensor(1e-3), rtol=0.05)  # Adam's first step: lr


def test_the_schedule_reaches_both_and_the_state_reloads(model):
    muon, adamw = split_parameters(model)
    optimizer = MuonWithAdamW(muon, adamw, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.999), eps=1e-8)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5)
    assert optimizer.muon.param_groups[0]["lr"] == optimizer.adamw.param_groups[0]["lr"] == 5e-4
    one_step(model, optimizer)
    scheduler.step()
    state = optimizer.state_dict()
    fresh = MuonWithAdamW(muon, adamw, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.999), eps=1e-8)
    fresh.load_state_dict(state)
    assert fresh.muon.state_dict()["state"].keys() == optimizer.muon.state_dict()["state"].keys()
    assert fresh.param_groups[0]["lr"] == 5e-4 and fresh.param_groups[0] is fresh.muon.param_groups[0]


def test_optim_args_are_muon_options_or_refused():
    from swiftk.api import UsageError

    assert optim_options("ns_steps=3, momentum=0.9,nesterov=false") == {
        "ns_steps": 3,
        "momentum": 0.9,
        "nesterov": False,
    }
    with pytest.raises(UsageError, match="'betas=1' is not a Muon option"):
        optim_options("betas=1")


@pytest.mark.slow
def test_a_resumed_muon_run_continues_with_the_losses_of_the_straight_run(tmp_path):
    args = [*COMMON, "--train_type", "full", "--optimizer", "muon", "--max_steps", "4", "--save_steps", "2",
            "--logging_steps", "1", "--learning_rate", "1e-3", "--report_to", "none"]  # fmt: skip
    straight = tmp_path / "straight"
    out = swiftk("sft", *args, "--output_dir", str(straight)).stdout
    assert "matrices by Muon" in out
    resumed = tmp_path / "resumed"
    swiftk("sft", *args, "--output_dir", str(resumed), "--resume_from_checkpoint", str(straight / "checkpoint-2"))
    a, b = train_losses(straight), train_losses(resumed)
    assert sorted(a) == [1, 2, 3, 4] and len(set(a.values())) > 1
    for step in (3, 4):
        assert b[step] == pytest.approx(a[step], abs=1e-5), (step, a, b)


def test_only_matrices_go_to_muon_and_sharded_runs_are_refused():
    """torch's Muon takes 2-D tensors only: stacked experts (3-D) and convolutions go to AdamW; DeepSpeed and FSDP
    hand the optimizer flat partitions, so they are refused."""
    from swiftk.api import UsageError
    from swiftk_sft.muon import create_muon_optimizer

    class Experts(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = torch.nn.Embedding(10, 4)
            self.gate_up_proj = torch.nn.Parameter(torch.randn(2, 4, 8))  # as transformers 5 stacks MoE experts
            self.down = torch.nn.Linear(8, 4)

        def get_input_embeddings(self):
            return self.embed_tokens

    muon, adamw = split_parameters(Experts())
    assert [p.shape for p in muon] == [torch.Size([4, 8])]
    assert torch.Size([2, 4, 8]) in [p.shape for p in adamw]
    MuonWithAdamW(muon, adamw, lr=1e-3, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8)  # builds
    args = {"learning_rate": 1e-3, "deepspeed": "zero2"}
    with pytest.raises(UsageError, match="--optimizer muon with --deepspeed"):
        create_muon_optimizer(type("A", (dict,), {"get": dict.get, "learning_rate": 1e-3})(args), Experts())
