"""The losses against their definitions on small hand-made batches, and the INFONCE_* / LISTWISE_* variables."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from swiftk_embedding import losses, metrics


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


#: two rows: anchor, positive, one negative each
VECTORS = unit([1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1], [0, 0.2, 1], [1, 1, 0])
LABELS = torch.tensor([1.0, 0.0, 1.0, 0.0])


def infonce(vectors=VECTORS, **env):
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        return losses.infonce({"last_hidden_state": vectors}, LABELS).item()


def test_infonce_with_in_batch_negatives_is_cross_entropy_over_every_document():
    docs = VECTORS[[1, 2, 4, 5]]
    scores = torch.stack([VECTORS[0] @ docs.T, VECTORS[3] @ docs.T]) / 0.1
    assert infonce() == pytest.approx(F.cross_entropy(scores, torch.tensor([0, 2])).item(), rel=1e-5)


def test_infonce_within_rows_temperature_and_hard_negatives():
    own = torch.stack([VECTORS[0] @ VECTORS[[1, 2]].T, VECTORS[3] @ VECTORS[[4, 5]].T])
    assert infonce(INFONCE_USE_BATCH="false", INFONCE_TEMPERATURE="0.5") == pytest.approx(
        F.cross_entropy(own / 0.5, torch.tensor([0, 0])).item(), rel=1e-5
    )
    # one hard negative per row kept: the same as the data; zero: only the positive is left
    assert infonce(INFONCE_HARD_NEGATIVES="1") == pytest.approx(infonce(), rel=1e-6)
    assert infonce(INFONCE_USE_BATCH="false", INFONCE_HARD_NEGATIVES="0") == pytest.approx(0.0, abs=1e-6)


def test_infonce_fake_negative_mask_and_extra_blocks_change_the_denominator():
    base = infonce()
    assert infonce(INFONCE_INCLUDE_QQ="true") > base and infonce(INFONCE_INCLUDE_DD="true") > base
    # the first anchor's positive is weak; the second row's negative [1, 1, 0] scores above it by more than the margin
    weak = unit([1, 0, 0], [0.5, 0.5, 0.7], [0, 1, 0], [0, 0, 1], [0, 0.2, 1], [1, 1, 0])
    assert infonce(weak, INFONCE_MASK_FAKE_NEGATIVE="true") < infonce(weak)
    assert infonce(INFONCE_MASK_FAKE_NEGATIVE="true") == pytest.approx(base)  # nothing above the positives here


def test_infonce_gradient_flows():
    vectors = VECTORS.clone().requires_grad_(True)
    losses.infonce({"last_hidden_state": vectors}, LABELS).backward()
    assert vectors.grad is not None and vectors.grad.abs().sum() > 0


def test_pair_losses():
    pairs = unit([1, 0], [1, 0], [1, 0], [0, 1])  # a same pair, an orthogonal pair
    out = {"last_hidden_state": pairs}
    assert losses.cosine_similarity(out, torch.tensor([1.0, 0.0])).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.cosine_similarity(out, torch.tensor([0.0, 1.0])).item() == pytest.approx(1.0, abs=1e-6)
    assert losses.contrastive(out, torch.tensor([1, 0])).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.contrastive(out, torch.tensor([0, 1])).item() == pytest.approx(0.5 * (0.25 + 1) / 2, abs=1e-6)
    four = {"last_hidden_state": unit([1, 0], [1, 0], [1, 0], [0, 1], [1, 0], [1, 1], [1, 0], [-1, 1])}
    hard = losses.online_contrastive(four, torch.tensor([0, 1, 0, 1]))  # a close negative, a far positive
    distances = [0.0, 1.0, 1 - 2**-0.5, 1 + 2**-0.5]
    expected = distances[1] ** 2 + distances[3] ** 2 + (0.5 - distances[0]) ** 2 + (0.5 - distances[2]) ** 2
    assert hard.item() == pytest.approx(expected, rel=1e-5)


def test_reranker_losses():
    logits = {"logits": torch.tensor([[2.0], [-1.0], [0.5], [1.0], [0.0]])}
    labels = torch.tensor([1, 0, 0, 1, 0])
    bce = F.binary_cross_entropy_with_logits(logits["logits"].squeeze(-1), labels.float())
    assert losses.reranker(logits, labels).item() == pytest.approx(bce.item())
    groups = [F.cross_entropy(torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([0])),
              F.cross_entropy(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))]  # fmt: skip
    assert losses.listwise_reranker(logits, labels).item() == pytest.approx(sum(groups).item() / 2, rel=1e-5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LISTWISE_RERANKER_MIN_GROUP_SIZE", "3")  # the two-document group is skipped
        assert losses.listwise_reranker(logits, labels).item() == pytest.approx(groups[0].item(), rel=1e-5)


RANKS = """
import os, sys
import torch, torch.distributed as dist
sys.path.insert(0, {tests!r})
from test_losses import VECTORS, LABELS
from swiftk_embedding import losses
dist.init_process_group("gloo")
rank = dist.get_rank()
vectors = (VECTORS[:3] if rank == 0 else VECTORS[3:]).clone().requires_grad_(True)
loss = losses.infonce({{"last_hidden_state": vectors}}, LABELS[:2] if rank == 0 else LABELS[2:])
loss.backward()
with open(os.path.join({out!r}, f"rank{{rank}}.txt"), "w") as f:  # one file each: no interleaved stdout
    f.write(f"{{loss.item():.6f}} {{vectors.grad.abs().sum().item() > 0}}")
dist.destroy_process_group()
"""


def test_infonce_takes_the_other_ranks_rows_as_negatives(tmp_path):
    """Two gloo ranks with one row each: each rank's loss is the one-process loss over both rows (ms-swift's
    gather), and its own vectors get gradients."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "ranks.py"
    script.write_text(RANKS.format(tests=str(Path(__file__).parent), out=str(tmp_path)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    import socket

    with socket.socket() as probe:  # a free port: other jobs on the machine may hold torchrun's default
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(port), str(script)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    whole = infonce()
    for rank in (0, 1):
        value, grad = (tmp_path / f"rank{rank}.txt").read_text().split()
        assert float(value) == pytest.approx(whole, abs=1e-5) and grad == "True"


def test_retrieval_metrics():
    import numpy as np

    scores = np.array([0.2, 0.9, 0.1, 0.8, 0.3])  # first query: its positive ranked 2nd; second: 1st
    ranked = metrics.reranker_metrics(scores, np.array([1, 0, 0, 1, 0]))
    assert ranked == pytest.approx({"mrr": (0.5 + 1) / 2, "ndcg": (1 / np.log2(3) + 1) / 2})
    found = metrics.infonce_metrics(VECTORS.numpy(), LABELS.numpy())
    own = [float(VECTORS[0] @ VECTORS[1]), float(VECTORS[3] @ VECTORS[4])]
    assert found["mean_pos"] == pytest.approx(sum(own) / 2, rel=1e-5) and found["margin"] > 0
    vectors = unit([1, 0], [1, 0], [1, 0], [0, 1], [1, 0], [1, 1]).numpy()
    pairs = metrics.pair_metrics(vectors, np.array([1.0, 0.0, 2**-0.5]))
    assert pairs == pytest.approx({"pearson_cosine": 1.0, "spearman_cosine": 1.0}, abs=1e-6)
