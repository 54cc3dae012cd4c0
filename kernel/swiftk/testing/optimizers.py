"""The optimizer contract suite: the tests every ``--optimizer`` name (ours or a third party's) should pass.

Subclass :class:`OptimizerContract` in a test module and name the optimizer; pytest collects the inherited
tests::

    from swiftk.testing.optimizers import OptimizerContract

    class TestMyAdamW(OptimizerContract):
        optimizer = "my_adamw"                     # a registered name
        plugins = ("my_optim/__init__.py",)        # only if not installed: files or modules to register
        arguments = ("--my_beta", "0.9")           # the optimizer's own flags
        train_arguments = ("--train_type", "lora") # the tuner it is for (default: full, layer 0 frozen)

``register(name, factory)``; ``factory(args, model, dataset) -> (optimizer, lr_scheduler)``, either may
be None (the Trainer then makes its own): the sft trainer calls it from ``create_optimizer`` with the run's
arguments, the model as the tuner prepared it, and the encoded training dataset.  The suite builds that
trainer ONCE per class, as ``swiftk sft`` builds it (``swiftk.pipelines.train.build_trainer``, on
``swiftk/tiny-chat`` from swift-plugin-demo, with :attr:`train_arguments`, which leave some parameters
frozen, and ``--learning_rate`` :attr:`learning_rate`), without training it, and checks:

1. the name is registered;
2. ``factory(trainer.swift_args, trainer.model, trainer.train_dataset)`` returns a pair: a
   ``torch.optim.Optimizer`` or None, and a scheduler bound to that optimizer (``scheduler.optimizer``)
   or None (None when the optimizer is None);
3. the optimizer's param groups (for a layer-wise ``LayerWiseDummyOptimizer``, its optimizers') hold
   every trainable parameter once and no frozen one;
4. ``--learning_rate`` reaches the param groups: ten times the rate gives ten times the groups' base
   rate (a group may keep a fixed rate of its own, but one at least follows the flag);
5. :attr:`steps` steps on a batch of the training data (the scheduler stepped after each, as the
   Trainer does) lower that batch's loss, change trainable parameters and leave the frozen ones as
   they were;
6. a short real ``swiftk sft --optimizer NAME --max_steps 2`` run, in this process, completes and
   trains with the optimizer (and scheduler) the factory returned: the trainer's ``optimizer``
   (unwrapped from accelerate's) is that object.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import pytest

from swiftk.testing.callbacks import DEFAULT_MODEL, ShortRun, short_training_run, training_argv, wrap_registered

__all__ = ["OptimizerContract"]


def _inner_optimizers(optimizer: Any) -> list:
    """The optimizers that hold the parameters: a layer-wise dummy's per-parameter ones, else itself."""
    per_parameter = getattr(optimizer, "optimizer_dict", None)
    return list(per_parameter.values()) if isinstance(per_parameter, dict) else [optimizer]


def _groups(optimizer: Any) -> list[dict]:
    return [g for inner in _inner_optimizers(optimizer) for g in inner.param_groups]


def _base_lr(group: dict) -> float:
    return float(group.get("initial_lr", group.get("lr", 0.0)))


class OptimizerContract:
    """Inherit, set ``optimizer``; see the module docstring."""

    optimizer: str = ""
    plugins: Sequence[str] = ()
    model: str = DEFAULT_MODEL
    #: The optimizer's own flags.
    arguments: Sequence[str] = ()
    #: The tuner and freezing of the suite's model: some parameters must stay frozen.
    train_arguments: Sequence[str] = ("--train_type", "full", "--freeze_parameters", "model.layers.0.")
    learning_rate: float = 1e-3
    #: Optimizer steps on one batch in the step check.
    steps: int = 3

    # -- fixtures: one host and one built trainer per class ---------------------------------------------
    # (class-scoped fixtures are classmethods: pytest runs them once, not on the instance each test gets)
    @pytest.fixture(scope="class")
    @classmethod
    def optimizer_host(cls) -> Any:
        from swiftk.testing.plugins import host_with

        with host_with(cls.plugins) as host:
            yield host

    @pytest.fixture(scope="class")
    @classmethod
    def factory(cls, optimizer_host: Any) -> Any:
        registry = optimizer_host.registry("optimizers")
        assert cls.optimizer in registry, f"'{cls.optimizer}' is not a registered optimizer"
        return registry.get(cls.optimizer)

    @pytest.fixture(scope="class")
    @classmethod
    def trainer(cls, optimizer_host: Any, tmp_path_factory: Any) -> Any:
        """The sft trainer of the suite's arguments, built and never trained."""
        from swiftk.io import release_run_lock
        from swiftk.pipelines.train import build_trainer

        args = cls().resolve(str(tmp_path_factory.mktemp("optimizer-contract")), cls.learning_rate)
        trainer = build_trainer(args)
        try:
            yield trainer
        finally:
            release_run_lock(args.output_dir)

    @pytest.fixture(scope="class")
    @classmethod
    def optimizer_run(cls, optimizer_host: Any, factory: Any, tmp_path_factory: Any) -> ShortRun:
        """A real two-step ``swiftk sft --optimizer NAME``; notes["returned"] holds what the factory returned."""
        returned: list = []

        def wrap(real: Any) -> Any:
            def recording_factory(args: Any, model: Any, dataset: Any) -> Any:
                out = real(args, model, dataset)
                returned.append(out)
                return out

            return recording_factory

        run = short_training_run(
            str(tmp_path_factory.mktemp("optimizer-contract-run")),
            cls().flags(cls.learning_rate),
            model=cls.model,
            plugins=cls.plugins,
            save=False,
            prepare=lambda host: wrap_registered(host, "optimizers", cls.optimizer, wrap),
        )
        run.notes["returned"] = returned
        return run

    # -- helpers -----------------------------------------------------------------------------------------
    def flags(self, learning_rate: float) -> list[str]:
        return [
            *self.train_arguments,
            "--optimizer",
            self.optimizer,
            "--learning_rate",
            repr(float(learning_rate)),
            *self.arguments,
        ]

    def resolve(self, workdir: str, learning_rate: float) -> Any:
        """The ``sft`` arguments of the suite (after the plugins' ``post_args_parse``, as a run has them)."""
        from swiftk.cli.builtin import resolve_arguments
        from swiftk.host import get_host

        argv = [*training_argv(workdir, model=self.model, save=False), *self.flags(learning_rate)]
        args = resolve_arguments("sft", argv)
        get_host().hook.post_args_parse(command="sft", args=args)
        return args

    def call(self, factory: Any, trainer: Any, args: Optional[Any] = None) -> tuple[Any, Any]:
        """``factory(args, model, dataset)`` as the trainer calls it, with the result's shape checked."""
        import torch

        out = factory(trainer.swift_args if args is None else args, trainer.model, trainer.train_dataset)
        assert isinstance(out, tuple) and len(out) == 2, (
            f"optimizer '{self.optimizer}': the factory must return (optimizer, lr_scheduler), got {out!r}"
        )
        optimizer, scheduler = out
        assert optimizer is None or isinstance(optimizer, torch.optim.Optimizer), (
            f"optimizer '{self.optimizer}': the factory returned {type(optimizer).__name__}, not a "
            f"torch.optim.Optimizer (or None)"
        )
        if optimizer is None:
            assert scheduler is None, f"optimizer '{self.optimizer}': a scheduler without an optimizer is ignored"
        elif scheduler is not None:
            assert callable(getattr(scheduler, "step", None)) and getattr(scheduler, "optimizer", None) is optimizer, (
                f"optimizer '{self.optimizer}': the scheduler {type(scheduler).__name__} is not bound to the "
                f"returned optimizer (scheduler.optimizer)"
            )
        return optimizer, scheduler

    def made(self, factory: Any, trainer: Any, args: Optional[Any] = None) -> tuple[Any, Any]:
        optimizer, scheduler = self.call(factory, trainer, args)
        if optimizer is None:
            pytest.skip(f"optimizer '{self.optimizer}' returned None for these arguments (the Trainer's own is used)")
        return optimizer, scheduler

    @staticmethod
    def batch(trainer: Any) -> dict:
        rows = [trainer.train_dataset[i] for i in range(min(2, len(trainer.train_dataset)))]
        batch = trainer.data_collator(rows)
        return {k: batch[k] for k in ("input_ids", "attention_mask", "labels") if k in batch}

    @staticmethod
    def loss(model: Any, batch: dict) -> float:
        import torch

        model.eval()
        with torch.no_grad():
            return float(model(**batch).loss)

    # -- the contract ------------------------------------------------------------------------------------
    def test_the_name_is_registered(self, optimizer_host: Any) -> None:
        assert self.optimizer in optimizer_host.registry("optimizers"), (
            f"'{self.optimizer}' is not a registered optimizer"
        )

    def test_the_factory_returns_an_optimizer_and_a_scheduler(self, factory: Any, trainer: Any) -> None:
        self.call(factory, trainer)

    def test_the_param_groups_hold_exactly_the_trainable_parameters(self, factory: Any, trainer: Any) -> None:
        optimizer, _ = self.made(factory, trainer)
        names = {id(p): n for n, p in trainer.model.named_parameters(remove_duplicate=False)}
        trainable = {id(p) for p in trainer.model.parameters() if p.requires_grad}
        frozen = {id(p) for p in trainer.model.parameters() if not p.requires_grad}
        assert trainable and frozen, (
            f"the suite's model has {len(trainable)} trainable and {len(frozen)} frozen parameters: give "
            f"train_arguments that leave some of each"
        )
        held = [id(p) for g in _groups(optimizer) for p in g["params"]]
        twice = sorted({names.get(i, "?") for i in held if held.count(i) > 1})
        assert not twice, f"optimizer '{self.optimizer}': parameters in more than one place: {twice[:5]}"
        wrong = sorted(names.get(i, "(not the model's)") for i in set(held) - trainable)
        assert not wrong, (
            f"optimizer '{self.optimizer}': frozen (or foreign) parameters in the param groups: {wrong[:5]}"
        )
        missing = sorted(names[i] for i in trainable - set(held))
        assert not missing, f"optimizer '{self.optimizer}': trainable parameters missing from the groups: {missing[:5]}"

    def test_the_learning_rate_reaches_the_param_groups(self, factory: Any, trainer: Any, tmp_path: Any) -> None:
        optimizer, _ = self.made(factory, trainer)
        faster, _ = self.made(factory, trainer, self.resolve(str(tmp_path), 10 * self.learning_rate))
        base, tenfold = [_base_lr(g) for g in _groups(optimizer)], [_base_lr(g) for g in _groups(faster)]
        assert len(base) == len(tenfold), f"optimizer '{self.optimizer}': --learning_rate changes the param groups"
        ratios = [b and t / b for b, t in zip(base, tenfold)]
        assert any(math.isclose(r, 10, rel_tol=1e-6) for r in ratios), (
            f"optimizer '{self.optimizer}': --learning_rate {self.learning_rate} gives the groups rates {base}, "
            f"and ten times that {tenfold}: the flag does not reach them"
        )
        odd = [r for r in ratios if not (math.isclose(r, 10, rel_tol=1e-6) or math.isclose(r, 1, rel_tol=1e-6))]
        assert not odd, f"optimizer '{self.optimizer}': ten times --learning_rate scales group rates by {odd}"

    def test_steps_train_the_trainable_parameters_only(self, factory: Any, trainer: Any) -> None:
        import torch

        model = trainer.model
        optimizer, scheduler = self.made(factory, trainer)
        batch = self.batch(trainer)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        start = self.loss(model, batch)
        model.train()
        for _ in range(self.steps):
            model.zero_grad(set_to_none=True)
            model(**batch).loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            optimizer.zero_grad()
        end = self.loss(model, batch)
        moved = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
        frozen = sorted(n for n, p in model.named_parameters() if not p.requires_grad and n in moved)
        assert not frozen, f"optimizer '{self.optimizer}': {self.steps} steps changed frozen parameters {frozen[:5]}"
        assert moved, f"optimizer '{self.optimizer}': {self.steps} steps changed no parameter"
        assert math.isfinite(end) and end < start, (
            f"optimizer '{self.optimizer}': {self.steps} steps on one batch took its loss from {start:.4f} to {end:.4f}"
        )

    def test_a_training_run_uses_the_returned_optimizer(self, optimizer_run: ShortRun) -> None:
        assert optimizer_run.ok, f"swiftk sft --optimizer {self.optimizer} failed:\n{optimizer_run.error}"
        returned = optimizer_run.notes["returned"]
        assert len(returned) == 1, f"the trainer called the factory of '{self.optimizer}' {len(returned)} times"
        optimizer, scheduler = returned[0]
        trainer = optimizer_run.trainer
        assert trainer.state.global_step == 2, f"the run stopped at step {trainer.state.global_step}"
        if optimizer is None:
            return
        used = getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # accelerate wraps it
        assert used is optimizer, (
            f"swiftk sft --optimizer {self.optimizer} trained with {type(used).__name__}, not the "
            f"{type(optimizer).__name__} its factory returned"
        )
        if scheduler is not None:
            assert getattr(trainer.lr_scheduler, "scheduler", trainer.lr_scheduler) is scheduler, (
                f"swiftk sft --optimizer {self.optimizer} ignored the returned scheduler"
            )
