"""The callback contract suite: the tests every registered training callback (ours or a third party's)
should pass.

Subclass :class:`CallbackContract` in a test module and name the callback; pytest collects the inherited
tests::

    from swiftk.testing.callbacks import CallbackContract

    class TestEarlyStop(CallbackContract):
        callback = "early_stop"                          # a name given to register_callbacks
        plugins = ("my_callbacks/__init__.py",)          # only if not installed: files or modules to register
        arguments = ("--my_patience", "1")               # flags of the suite's run (they must make when() true)
        applies_to = (("--my_patience", "3"),)           # argument lists when(args) must accept ...
        not_applies_to = ((),)                           # ... and refuse (() is the defaults)

A callback is registered as ``register(name, callback_cls_or_factory, when=None, takes_args=False)``; each
training run builds it as :func:`swiftk.pipelines.train.registered_callbacks` does: ``factory(args)``
with ``takes_args``, else ``factory()``, for the runs where ``when(args)`` holds.  What the suite checks:

1. the name is registered;
2. the factory builds a ``transformers.TrainerCallback`` (from the suite's arguments);
3. ``when(args)``, where given, returns a bool: True for the suite's arguments and each of
   :attr:`applies_to`, False for each of :attr:`not_applies_to` (a callback without ``when`` applies to
   every run: then :attr:`not_applies_to` must be empty);
4. a short real ``swiftk sft`` run (``max_steps`` 2 on ``swiftk/tiny-chat`` from swift-plugin-demo,
   in this process, once per class) with the callback completes: the factory is called once, and the
   callback receives the Trainer's events (:attr:`events`: ``on_train_begin``, ``on_step_end`` for each
   step, ``on_train_end``) without raising;
5. the run's checkpoint is complete: ``checkpoint-<max_steps>`` with ``trainer_state.json`` (at that
   step) and the model's weights, as ``--resume_from_checkpoint`` wants it.

The run keeps the other registered callbacks, as every run does; the suite records the one under test by
wrapping its registered factory (:func:`wrap_registered`).  :func:`short_training_run` is that run,
also used by :mod:`swiftk.testing.optimizers`.
"""

from __future__ import annotations

import json
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import pytest

__all__ = ["CallbackContract", "ShortRun", "short_training_run", "wrap_registered", "DEFAULT_MODEL"]

DEFAULT_MODEL = "swiftk/tiny-chat"


# --- a short training run in this process ------------------------------------------------------------


@dataclass
class ShortRun:
    """What :func:`short_training_run` did: the exit code, or the error it raised (never raised again)."""

    output_dir: str
    args: Any = None
    code: Optional[int] = None
    error: Optional[str] = None
    trainer: Any = None
    checkpoint: Optional[str] = None
    notes: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.code == 0


def _write_rows(path: str) -> str:
    from swiftk.testing.tuners import ROWS

    with open(path, "w", encoding="utf-8") as f:
        for query, response in ROWS:
            messages = [{"role": "user", "content": query}, {"role": "assistant", "content": response}]
            f.write(json.dumps({"messages": messages}) + "\n")
    return path


def training_argv(workdir: str, *, model: str = DEFAULT_MODEL, max_steps: int = 2, save: bool = True) -> list[str]:
    """The flags of the suites' short ``swiftk sft`` runs on :data:`swiftk.testing.tuners.ROWS`."""
    os.makedirs(workdir, exist_ok=True)
    data = _write_rows(os.path.join(workdir, "rows.jsonl"))
    saving = ["--save_steps", str(max_steps)] if save else ["--save_strategy", "no"]
    return [
        "--model",
        model,
        "--dataset",
        data,
        "--split_dataset_ratio",
        "0",
        "--max_steps",
        str(max_steps),
        "--per_device_train_batch_size",
        "2",
        "--logging_steps",
        "1",
        *saving,
        "--report_to",
        "none",
        "--output_dir",
        os.path.join(workdir, "run"),
        "--add_version",
        "false",
        "--max_length",
        "64",
        "--gradient_checkpointing",
        "false",
        "--dataloader_num_workers",
        "0",
        "--disable_tqdm",
        "true",
        "--seed",
        "42",
    ]


def wrap_registered(host: Any, kind: str, name: str, wrap: Callable[[Any], Any]) -> Any:
    """Replace the ``kind`` entry ``name`` of ``host`` by ``wrap(the registered object)``, with the same
    plugin and options (``when=``, ``takes_args=``); returns the registered object."""
    registry = host.registry(kind)
    entry = registry.entry(name)
    real = entry.load()
    registry.remove(name, entry.plugin)
    registry.add(name, wrap(real), entry.plugin, **entry.meta)
    return real


def short_training_run(
    workdir: str,
    arguments: Sequence[str] = (),
    *,
    model: str = DEFAULT_MODEL,
    plugins: Sequence[str] = (),
    max_steps: int = 2,
    save: bool = True,
    prepare: Optional[Callable[[Any], None]] = None,
) -> ShortRun:
    """``swiftk sft`` of ``max_steps`` steps in this process, with a fresh host holding ``plugins`` (given
    to ``prepare(host)`` first); the trainer is kept.  A failure is recorded, not raised."""
    import swiftk
    from swiftk.cli.builtin import invoke
    from swiftk.testing.plugins import host_with

    argv = [*training_argv(workdir, model=model, max_steps=max_steps, save=save), *arguments]
    run = ShortRun(output_dir=os.path.join(workdir, "run"))

    class Keep:
        @swiftk.hookimpl
        def post_trainer_create(self, args, trainer):
            run.trainer = trainer

        @swiftk.hookimpl
        def train_end(self, args, trainer, output_dir):
            run.checkpoint = output_dir

    with host_with(plugins) as host:
        host.register_plugin(Keep(), "swiftk-contract-run")
        try:
            if prepare is not None:
                prepare(host)
            run.code, run.args = invoke("sft", argv, launch=False)
        except (Exception, SystemExit) as exc:
            run.error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:]).strip()
    return run


# --- the suite ------------------------------------------------------------------------------------------


def _events() -> list[str]:
    from transformers import TrainerCallback

    return [n for n in vars(TrainerCallback) if n.startswith("on_")]


class _Recorder:
    """Wraps the factory: keeps what it builds and records each event the instance receives."""

    def __init__(self) -> None:
        self.instances: list = []
        self.calls: list[str] = []
        self.raised: list[tuple[str, str]] = []

    def wrap(self, factory: Any) -> Any:
        def recording_factory(*args: Any) -> Any:
            instance = factory(*args)
            self.instances.append(instance)
            from transformers import TrainerCallback

            if isinstance(instance, TrainerCallback):
                for event in _events():
                    method = getattr(instance, event, None)
                    if callable(method):
                        setattr(instance, event, self._recording(event, method))
            return instance

        return recording_factory

    def _recording(self, event: str, method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(event)
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                self.raised.append((event, f"{type(exc).__name__}: {exc}"))
                raise

        return call


class CallbackContract:
    """Inherit, set ``callback`` (and the ``arguments`` its ``when`` needs); see the module docstring."""

    callback: str = ""
    plugins: Sequence[str] = ()
    model: str = DEFAULT_MODEL
    #: Flags of the suite's run and of the arguments the factory gets (``when(args)`` must be true for them).
    arguments: Sequence[str] = ()
    #: Argument lists (flags) ``when(args)`` must return True for, and False for.
    applies_to: Sequence[Sequence[str]] = ()
    not_applies_to: Sequence[Sequence[str]] = ()
    #: The events the run must deliver to the callback (each step's ``on_step_end``).
    events: Sequence[str] = ("on_train_begin", "on_step_end", "on_train_end")
    max_steps: int = 2

    # -- fixtures: one host and one run per class ---------------------------------------------------------
    # (class-scoped fixtures are classmethods: pytest runs them once, not on the instance each test gets)
    @pytest.fixture(scope="class")
    @classmethod
    def callback_host(cls) -> Any:
        from swiftk.testing.plugins import host_with

        with host_with(cls.plugins) as host:
            yield host

    @pytest.fixture(scope="class")
    @classmethod
    def callback_entry(cls, callback_host: Any) -> Any:
        registry = callback_host.registry("callbacks")
        assert cls.callback in registry, f"'{cls.callback}' is not a registered callback"
        return registry.entry(cls.callback)

    @pytest.fixture(scope="class")
    @classmethod
    def callback_run(cls, callback_host: Any, callback_entry: Any, tmp_path_factory: Any) -> ShortRun:
        recorder = _Recorder()
        workdir = str(tmp_path_factory.mktemp("callback-contract"))
        run = short_training_run(
            workdir,
            cls.arguments,
            model=cls.model,
            plugins=cls.plugins,
            max_steps=cls.max_steps,
            prepare=lambda host: wrap_registered(host, "callbacks", cls.callback, recorder.wrap),
        )
        run.notes["recorder"] = recorder
        return run

    # -- helpers -----------------------------------------------------------------------------------------
    def resolve(self, flags: Sequence[str]) -> Any:
        """The ``sft`` arguments of ``flags`` (with the run's model), after the plugins' ``post_args_parse``."""
        from swiftk.cli.builtin import resolve_arguments
        from swiftk.host import get_host

        args = resolve_arguments("sft", ["--model", self.model, *flags])
        get_host().hook.post_args_parse(command="sft", args=args)
        return args

    def when(self, entry: Any) -> Any:
        from swiftk.registry import load_reference

        when = entry.meta.get("when")
        return None if when is None else load_reference(when)

    # -- the contract ------------------------------------------------------------------------------------
    def test_the_name_is_registered(self, callback_host: Any) -> None:
        assert self.callback in callback_host.registry("callbacks"), f"'{self.callback}' is not a registered callback"

    def test_the_factory_builds_a_trainer_callback(self, callback_entry: Any) -> None:
        from transformers import TrainerCallback

        factory = callback_entry.load()
        takes_args = bool(callback_entry.meta.get("takes_args"))
        built = factory(self.resolve(self.arguments)) if takes_args else factory()
        assert isinstance(built, TrainerCallback), (
            f"callback '{self.callback}': {'factory(args)' if takes_args else 'factory()'} built "
            f"{type(built).__name__}, not a transformers.TrainerCallback"
        )

    def test_when_decides_by_the_arguments(self, callback_entry: Any) -> None:
        when = self.when(callback_entry)
        if when is None:
            assert not self.not_applies_to, (
                f"callback '{self.callback}' has no when=: it applies to every run, not_applies_to cannot hold"
            )
            return
        cases = [(tuple(self.arguments), True)]
        cases += [(tuple(flags), True) for flags in self.applies_to]
        cases += [(tuple(flags), False) for flags in self.not_applies_to]
        for flags, expected in cases:
            value = when(self.resolve(flags))
            assert isinstance(value, bool), (
                f"callback '{self.callback}': when(args) returned {value!r} for {list(flags)}, not a bool"
            )
            assert value is expected, (
                f"callback '{self.callback}': when(args) is {value} for {list(flags) or 'defaults'}"
            )

    def test_a_training_run_calls_its_events(self, callback_run: ShortRun) -> None:
        recorder = callback_run.notes["recorder"]
        for event, error in recorder.raised:
            pytest.fail(f"callback '{self.callback}' raised in {event}: {error}")
        assert callback_run.ok, f"swiftk sft with callback '{self.callback}' failed:\n{callback_run.error}"
        assert len(recorder.instances) == 1, (
            f"callback '{self.callback}': the run built it {len(recorder.instances)} times, not once "
            f"(is when(args) false for the suite's arguments {list(self.arguments)}?)"
        )
        from transformers import TrainerCallback

        assert isinstance(recorder.instances[0], TrainerCallback), (
            f"callback '{self.callback}' is not a TrainerCallback"
        )
        assert recorder.instances[0] in callback_run.trainer.callback_handler.callbacks, (
            f"callback '{self.callback}' is not among the trainer's callbacks"
        )
        for event in self.events:
            assert event in recorder.calls, f"callback '{self.callback}' never received {event}: {recorder.calls}"
        steps = recorder.calls.count("on_step_end")
        assert steps == self.max_steps, f"callback '{self.callback}': {steps} on_step_end for {self.max_steps} steps"

    def test_the_checkpoint_is_complete(self, callback_run: ShortRun) -> None:
        assert callback_run.ok, f"swiftk sft with callback '{self.callback}' failed:\n{callback_run.error}"
        checkpoint = os.path.join(callback_run.args.output_dir, f"checkpoint-{self.max_steps}")
        state = os.path.join(checkpoint, "trainer_state.json")
        assert os.path.isfile(state), f"callback '{self.callback}': the run left no {state}"
        with open(state, encoding="utf-8") as f:
            step = json.load(f).get("global_step")
        assert step == self.max_steps, f"callback '{self.callback}': trainer_state.json is at step {step}"
        names = os.listdir(checkpoint)
        assert any(n.endswith((".safetensors", ".bin")) for n in names), (
            f"callback '{self.callback}': no weights in {checkpoint}: {sorted(names)}"
        )
