"""The loss contract suite: the tests every ``--loss_type`` name (ours or a third party's) should pass.

Subclass :class:`LossContract` in a test module and name the loss; pytest collects the inherited
tests::

    from swiftk.testing.losses import LossContract

    class TestFocalLoss(LossContract):
        loss = "focal"                            # a registered name
        plugins = ("my_losses/__init__.py",)      # only if not installed: files or modules to register

A loss is ``fn(outputs, labels, loss_scale=None, num_items_in_batch=None) -> Tensor``, called by the
sft trainer with the model's outputs (``outputs.logits``, batch x length x vocabulary) and the
labels UNSHIFTED, as the template made them: position t of the logits predicts label t + 1, and
-100 marks positions without a label.  What the suite checks:

1. the name is registered;
2. it returns a finite scalar tensor that gradients flow through to the logits;
3. positions labelled -100 do not count: changing their logits, or the logits of the last
   position (which predicts nothing), leaves the loss unchanged;
4. the labels are read unshifted: moving one label changes the loss as the shifted convention says
   (the logits that predict it are the ones its gradient reaches);
5. ``num_items_in_batch`` (the trainer's count of labelled tokens across gradient-accumulation steps)
   divides a sum: ``loss(n) * n`` does not depend on ``n``;
6. padding rows (all -100) neither change the loss nor make it NaN.
"""

from __future__ import annotations

from typing import Any, Sequence

import pytest

__all__ = ["LossContract"]


class LossContract:
    """Inherit, set ``loss``; see the module docstring."""

    loss: str = ""
    plugins: Sequence[str] = ()
    vocab_size: int = 11
    seed: int = 0

    @pytest.fixture
    def loss_host(self) -> Any:
        from swiftk.testing.plugins import host_with

        with host_with(self.plugins) as host:
            yield host

    @pytest.fixture
    def loss_fn(self, loss_host: Any) -> Any:
        return loss_host.get("losses", self.loss)

    def batch(self) -> tuple[Any, Any]:
        """Logits (2 x 6 x vocabulary) and labels with masked prompt positions."""
        import torch

        generator = torch.Generator().manual_seed(self.seed)
        logits = torch.randn(2, 6, self.vocab_size, generator=generator, dtype=torch.float64)
        labels = torch.tensor([[-100, -100, 3, 4, 5, 1], [-100, 7, 8, 2, -100, -100]])
        return logits, labels

    def call(self, fn: Any, logits: Any, labels: Any, **kwargs: Any) -> Any:
        from transformers.modeling_outputs import CausalLMOutput

        return fn(CausalLMOutput(logits=logits), labels, **kwargs)

    def test_the_name_is_registered(self, loss_host: Any) -> None:
        assert self.loss in loss_host.registry("losses"), f"'{self.loss}' is not a registered loss type"

    def test_a_finite_scalar_with_gradients(self, loss_fn: Any) -> None:
        import torch

        logits, labels = self.batch()
        logits.requires_grad_(True)
        value = self.call(loss_fn, logits, labels)
        assert isinstance(value, torch.Tensor) and value.dim() == 0, "a loss returns a scalar tensor"
        assert torch.isfinite(value), f"loss '{self.loss}' is not finite: {value}"
        value.backward()
        assert logits.grad is not None and logits.grad.abs().sum() > 0, "no gradient reaches the logits"

    def test_masked_positions_do_not_count(self, loss_fn: Any) -> None:
        logits, labels = self.batch()
        base = self.call(loss_fn, logits, labels)
        changed = logits.clone()
        changed[0, 0] += 5.0  # predicts labels[0, 1] = -100
        changed[1, 4] += 5.0  # predicts labels[1, 5] = -100
        changed[:, -1] += 5.0  # the last position predicts nothing
        assert self.call(loss_fn, changed, labels) == pytest.approx(base.item(), rel=1e-9)

    def test_labels_are_read_unshifted(self, loss_fn: Any) -> None:
        logits, labels = self.batch()
        logits.requires_grad_(True)
        self.call(loss_fn, logits, labels).backward()
        grad = logits.grad.abs().sum(-1)
        # labels[0, 2] is predicted by position 1, labels[0, 1] (-100) by position 0
        assert grad[0, 1] > 0 and grad[0, 0] == 0 and grad[0, -1] == 0, (
            "the loss must shift: logits at position t predict labels[t + 1]"
        )

    def test_num_items_in_batch_divides_a_sum(self, loss_fn: Any) -> None:
        import torch

        logits, labels = self.batch()
        five = self.call(loss_fn, logits, labels, num_items_in_batch=torch.tensor(5))
        ten = self.call(loss_fn, logits, labels, num_items_in_batch=torch.tensor(10))
        assert (five * 5).item() == pytest.approx((ten * 10).item(), rel=1e-9)

    def test_padding_rows_change_nothing(self, loss_fn: Any) -> None:
        import torch

        logits, labels = self.batch()
        base = self.call(loss_fn, logits, labels)
        pad_logits = torch.cat([logits, torch.randn(1, 6, self.vocab_size, dtype=logits.dtype)])
        pad_labels = torch.cat([labels, torch.full((1, 6), -100)])
        padded = self.call(loss_fn, pad_logits, pad_labels)
        assert torch.isfinite(padded) and padded.item() == pytest.approx(base.item(), rel=1e-9)
