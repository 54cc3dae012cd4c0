"""The tuner contract suite: the tests every ``--train_type`` (ours or a third party's) should pass.

Subclass :class:`TunerContract` in a test module, name the tuner and give its trainable-parameter
formula; pytest collects the inherited tests::

    from swiftk.testing.tuners import TunerContract, linear_shapes

    class TestMyTuner(TunerContract):
        train_type = "my_adapter"
        extra_args = ("--my_rank", "4")

        def expected_trainable_params(self, model, args):
            return sum(4 * (i + o) for i, o in linear_shapes(model))

What the suite checks, on a tiny model (``swiftk/tiny-chat`` by default, from swift-plugin-demo):

1. ``swiftk sft`` (the command's own code path, in this process) trains ``max_steps`` (20) steps on a
   small fixed dataset and the loss goes down;
2. the tuner prints ``trainable params: N`` (as peft's ``print_trainable_parameters`` does) and
   ``N`` equals both the model's real count of trainable parameters and the tuner's formula;
3. the final checkpoint reloads **in a fresh process** (``--adapters CHECKPOINT``, the tuner's
   ``TunerSpec.load``, or ``--model CHECKPOINT`` for full-parameter training) with logits
   identical to the trained model's (``torch.allclose`` with ``atol``/``rtol``): a
   process that never saw the training run, started once per session and given a fresh plugin host
   for each reload (``SWIFTK_CONTRACT_ISOLATED=1``: a new process for every reload);
4. where the tuner can merge (``TunerSpec.merge``), the merged model gives the same logits, and so
   does the merged model written as a full model folder and loaded with ``AutoModelForCausalLM``;
   a tuner that cannot merge refuses with a one-line ``UsageError``.

Logits are compared in float64 (``compare_dtype``): both models' float32 weights are cast to float64
exactly and run there, so a difference comes from the weights alone. In float32 the two sides also
round differently, by amounts that depend on the machine's kernels and thread count (a PiSSA reload
once differed by 1.8e-5 on one machine and not on another), and a fixed tolerance is then a bet.

The plugin under test must be installed (its entry point), or listed in ``plugins`` as importable
module names that the suite registers in the training and the reloading process alike.  The suite
needs swift-plugin-sft (trainer), swift-plugin-models and swift-plugin-datasets, and the demo model
(or another ``model``).  ``python -m swiftk.testing.tuners reload SPEC.json`` reloads one checkpoint
(``serve`` reads such paths on stdin).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

__all__ = ["TunerContract", "TunedRun", "linear_shapes", "train_tuner", "reload_in_fresh_process", "ROWS"]

DEFAULT_MODEL = "swiftk/tiny-chat"

#: The fixed training rows: short answers a tiny model memorises in a few epochs.
ROWS = [
    ("What is the capital of France?", "Paris is the capital of France."),
    ("Who are you?", "I am a small assistant."),
    ("What is two plus two?", "Two plus two is four."),
    ("Name a color.", "Blue is a color."),
    ("What do cats say?", "Cats say meow."),
    ("Where is the sun?", "The sun is in the sky."),
    ("Say hello.", "Hello there!"),
    ("What is water?", "Water is a liquid."),
]

_COUNT = re.compile(r"trainable params: ([\d,]+)")


def linear_shapes(model: Any, leaf_names: Optional[set] = None) -> list[tuple[int, int]]:
    """``(in_features, out_features)`` of every linear layer outside the output head (optionally only
    those whose leaf name is in ``leaf_names``): what ``--target_modules all-linear`` selects."""
    import torch.nn as nn

    out = []
    for name, module in model.named_modules():
        leaf = name.split(".")[-1]
        if not isinstance(module, nn.Linear) or leaf in ("lm_head", "score", "classifier"):
            continue
        if leaf_names is not None and leaf not in leaf_names:
            continue
        out.append((module.in_features, module.out_features))
    return out


@dataclass
class TunedRun:
    """What one contract training run produced."""

    train_type: str
    output_dir: str
    checkpoint: str
    args: Any
    losses: list = field(default_factory=list)
    printed_trainable: Optional[int] = None
    actual_trainable: Optional[int] = None
    expected_trainable: Optional[int] = None
    inputs: Any = None
    logits: Any = None
    weights: str = ""  # weights_digest of the trained model
    stdout: str = ""


def _write_rows(path: str) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for query, response in ROWS:
            f.write(
                json.dumps(
                    {"messages": [{"role": "user", "content": query}, {"role": "assistant", "content": response}]}
                )
                + "\n"
            )
    return path


def _inputs(vocab_size: int) -> Any:
    import torch

    generator = torch.Generator().manual_seed(1234)
    ids = torch.randint(3, max(4, vocab_size), (2, 24), generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def logits_of(model: Any, inputs: dict, dtype: str = "float32") -> Any:
    """The model's logits for ``inputs``, computed in ``dtype`` (the model is cast for the call and
    every parameter and buffer gets its own dtype back: float32 to float64 and back is exact)."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad(), _cast(model, getattr(torch, dtype)):
        out = model(**{k: v.to(device) for k, v in inputs.items()})
    if was_training:
        model.train()
    return out.logits.detach().to(getattr(torch, dtype)).cpu()


def weights_digest(model: Any) -> str:
    """A hash of every parameter and buffer (name, dtype, shape, bytes): equal digests mean the same weights."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _cast(model: Any, dtype: Any) -> Any:
    """``model`` in ``dtype`` inside the block; each parameter and buffer back in its own dtype after."""
    saved = [
        (m, kind, name, t.dtype)
        for m in model.modules()
        for kind in ("_parameters", "_buffers")
        for name, t in getattr(m, kind).items()
        if t is not None and t.is_floating_point() and t.dtype != dtype
    ]
    if not saved:
        yield
        return
    model.to(dtype)
    try:
        yield
    finally:
        for module, kind, name, original in saved:
            tensor = getattr(module, kind)[name]
            if kind == "_parameters":
                tensor.data = tensor.data.to(original)
            else:
                module._buffers[name] = tensor.to(original)


class _Capture:
    """A plugin the suite registers for its run: keeps the trainer, removes the loss-curve plots (slow,
    not what is tested), records the losses and the trainable count at the first step."""

    def __init__(self) -> None:
        self.trainer: Any = None
        self.checkpoint: Optional[str] = None
        self.losses: list = []
        self.trainable_at_first_step: Optional[int] = None

    def post_trainer_create(self, args: Any, trainer: Any) -> None:
        from transformers import TrainerCallback

        self.trainer = trainer
        for callback in list(trainer.callback_handler.callbacks):
            if type(callback).__name__ == "PlotCallback":
                trainer.remove_callback(callback)
        capture = self

        class Recorder(TrainerCallback):
            def on_step_begin(self, args, state, control, model=None, **kwargs):
                if capture.trainable_at_first_step is None and model is not None:
                    capture.trainable_at_first_step = _count_trainable(model)

            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs and "train_runtime" not in logs:
                    capture.losses.append(float(logs["loss"]))

        trainer.add_callback(Recorder())

    def train_end(self, args: Any, trainer: Any, output_dir: str) -> None:
        self.checkpoint = output_dir


def _count_trainable(model: Any) -> int:
    from swiftk.params import parameter_counts

    return parameter_counts(model)[0]


class _Tee(io.TextIOBase):
    def __init__(self, stream: Any) -> None:
        self.stream, self.buffer_text = stream, []

    def write(self, text: str) -> int:
        self.buffer_text.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def train_tuner(
    train_type: str,
    workdir: str,
    extra_args: tuple = (),
    *,
    model: str = DEFAULT_MODEL,
    max_steps: int = 20,
    learning_rate: float = 1e-3,
    plugins: tuple = (),
    logits_dtype: str = "float64",
) -> TunedRun:
    """Run ``swiftk sft`` in this process (with a fresh plugin host) and return what the suite checks
    (the trained model's logits computed in ``logits_dtype``)."""
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    os.makedirs(workdir, exist_ok=True)
    data = _write_rows(os.path.join(workdir, "rows.jsonl"))
    output_dir = os.path.join(workdir, "run")
    argv = [
        "--model",
        model,
        "--train_type",
        train_type,
        "--dataset",
        data,
        "--split_dataset_ratio",
        "0",
        "--max_steps",
        str(max_steps),
        "--per_device_train_batch_size",
        "2",
        "--learning_rate",
        str(learning_rate),
        "--lr_scheduler_type",
        "constant",
        "--warmup_ratio",
        "0",
        "--logging_steps",
        "1",
        "--save_steps",
        str(max_steps),
        "--save_only_model",
        "true",
        "--report_to",
        "none",
        "--output_dir",
        output_dir,
        "--add_version",
        "false",
        "--max_length",
        "64",
        "--gradient_checkpointing",
        "false",
        "--dataloader_num_workers",
        "0",
        "--seed",
        "42",
        *extra_args,
    ]
    capture = _Capture()
    tee = _Tee(sys.stdout)
    with HostScope(autoload=True) as host:
        for module in plugins:
            _register_module(host, module)
        host.register_plugin(_hooks_of(capture), "swiftk-tuner-contract")
        with contextlib.redirect_stdout(tee):
            code, args = invoke("sft", argv, launch=False)
        assert code == 0, f"swiftk sft --train_type {train_type} exited with {code}"
        trainer = capture.trainer
        assert trainer is not None and capture.checkpoint, "the sft pipeline did not create a trainer or save"
        text_config = (
            trainer.model.config.get_text_config()
            if hasattr(trainer.model.config, "get_text_config")
            else trainer.model.config
        )
        inputs = _inputs(int(text_config.vocab_size))
        logits = logits_of(trainer.model, inputs, logits_dtype)
        weights = weights_digest(trainer.model)
        stdout = "".join(tee.buffer_text)
        counts = _COUNT.findall(stdout)
        run = TunedRun(
            train_type=train_type,
            output_dir=output_dir,
            checkpoint=capture.checkpoint,
            args=args,
            losses=list(capture.losses),
            printed_trainable=int(counts[-1].replace(",", "")) if counts else None,
            actual_trainable=capture.trainable_at_first_step,
            inputs=inputs,
            logits=logits,
            weights=weights,
            stdout=stdout,
        )
    return run


def _register_module(host: Any, module: str) -> None:
    import importlib

    host.register_plugin(importlib.import_module(module), module)


def _hooks_of(capture: _Capture) -> Any:
    """A plugin object whose hook implementations call ``capture``."""
    import swiftk

    class Hooks:
        @swiftk.hookimpl
        def post_trainer_create(self, args, trainer):
            capture.post_trainer_create(args, trainer)

        @swiftk.hookimpl
        def train_end(self, args, trainer, output_dir):
            capture.train_end(args, trainer, output_dir)

    return Hooks()


# --- the fresh process --------------------------------------------------------------------------


def reload_in_fresh_process(
    run: TunedRun,
    workdir: str,
    *,
    full_parameter: bool = False,
    merge: bool = True,
    plugins: tuple = (),
    timeout: float = 300,
    logits_dtype: str = "float64",
) -> dict:
    """Reload ``run.checkpoint`` in another Python process, one that never saw the training run; returns
    its logits in ``logits_dtype`` (``reload``, and with ``merge``: ``merged``, ``merged_saved``), the
    reloaded model's ``weights_digest`` (``reload_weights``) and the merge refusal (``merge_error``), if any.

    The reloading process is started once per test session and serves every reload, each with a fresh
    plugin host (starting Python, torch and transformers once per reload would double the suite's
    time).  ``SWIFTK_CONTRACT_ISOLATED=1`` starts a new process for each reload instead."""
    import torch

    os.makedirs(workdir, exist_ok=True)
    inputs_path = os.path.join(workdir, "inputs.pt")
    out_path = os.path.join(workdir, "reloaded.pt")
    torch.save(run.inputs, inputs_path)
    spec = {
        "checkpoint": run.checkpoint,
        "train_type": run.train_type,
        "inputs": inputs_path,
        "out": out_path,
        "full_parameter": full_parameter,
        "merge": merge,
        "merged_dir": os.path.join(workdir, "merged"),
        "plugins": list(plugins),
        "dtype": logits_dtype,
    }
    spec_path = os.path.join(workdir, "reload.json")
    with open(spec_path, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    if os.environ.get("SWIFTK_CONTRACT_ISOLATED", "").lower() in ("1", "true", "yes"):
        proc = subprocess.run(
            [sys.executable, "-m", "swiftk.testing.tuners", "reload", spec_path],
            capture_output=True,
            text=True,
            env=_child_env(),
            timeout=timeout,
        )
        assert proc.returncode == 0, f"reloading {run.checkpoint} in a fresh process failed:\n{proc.stderr[-4000:]}"
    else:
        _worker().request(spec_path, run.checkpoint)
    return torch.load(out_path)


def _child_env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


class _ReloadWorker:
    """``python -m swiftk.testing.tuners serve``: reads spec paths on stdin, answers one line each."""

    def __init__(self) -> None:
        import tempfile

        self.log = tempfile.NamedTemporaryFile(prefix="swiftk-reload-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swiftk.testing.tuners", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=_child_env(),
        )

    def request(self, spec_path: str, checkpoint: str) -> None:
        assert self.proc.poll() is None, f"the reloading process exited:\n{self._log_tail()}"
        self.proc.stdin.write(spec_path + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise AssertionError(f"the reloading process died while reloading {checkpoint}:\n{self._log_tail()}")
        if answer.startswith("error "):
            raise AssertionError(f"reloading {checkpoint} in a fresh process failed:\n{json.loads(answer[6:])}")

    def _log_tail(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()[-4000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


_WORKER: Optional[_ReloadWorker] = None


def _worker() -> _ReloadWorker:
    global _WORKER
    if _WORKER is None or _WORKER.proc.poll() is not None:
        import atexit

        _WORKER = _ReloadWorker()
        atexit.register(_WORKER.close)
    return _WORKER


def _serve_main() -> int:
    import traceback

    from swiftk.testing import HostScope

    protocol = sys.stdout
    sys.stdout = sys.stderr  # whatever the loaders print must not mix with the answers
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        spec_path = line.strip()
        if not spec_path:
            continue
        try:
            with HostScope(autoload=True):
                _reload_main(spec_path)
            protocol.write("ok\n")
        except BaseException:  # report, keep serving
            protocol.write("error " + json.dumps(traceback.format_exc()) + "\n")
        protocol.flush()
    return 0


def _reload_main(spec_path: str) -> int:
    import importlib

    import torch

    from swiftk.cli.builtin import resolve_arguments
    from swiftk.errors import UsageError
    from swiftk.host import get_host
    from swiftk.pipelines.export import apply_adapters, merge_tuned, save_model_folder
    from swiftk.pipelines.model import load_model_and_processor

    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    for module in spec.get("plugins") or []:
        get_host().register_plugin(importlib.import_module(module), module)
    inputs = torch.load(spec["inputs"])
    out: dict = {}
    if spec["full_parameter"]:
        args = resolve_arguments("infer", ["--model", spec["checkpoint"]])
        model, processor, _ = load_model_and_processor(args)
    else:
        args = resolve_arguments("infer", ["--adapters", spec["checkpoint"]])
        model, processor, _ = load_model_and_processor(args)
        model = apply_adapters(model, [spec["checkpoint"]], args)
    dtype = spec.get("dtype", "float64")
    out["reload"] = logits_of(model, inputs, dtype)
    out["reload_weights"] = weights_digest(model)
    if spec["merge"] and not spec["full_parameter"]:
        try:
            merged = merge_tuned(model, spec["train_type"])
        except UsageError as exc:
            out["merge_error"] = str(exc)
        else:
            out["merged"] = logits_of(merged, inputs, dtype)
            folder = save_model_folder(merged, processor, spec["merged_dir"], max_shard_size="200KB")
            from transformers import AutoModelForCausalLM

            again = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
            out["merged_saved"] = logits_of(again, inputs, dtype)
            out["merged_files"] = sorted(os.listdir(folder))
    torch.save(out, spec["out"])
    return 0


# --- the suite ------------------------------------------------------------------------------------


class TunerContract:
    """Base class of a tuner's contract tests (see the module docstring)."""

    #: the ``--train_type`` under test
    train_type: str = ""
    #: extra command-line arguments of the run (the tuner's options)
    extra_args: tuple = ()
    #: the model to tune (a name ``--model`` accepts)
    model: str = DEFAULT_MODEL
    max_steps: int = 20
    learning_rate: float = 1e-3
    #: modules to register as plugins in both processes (when the plugin is not installed)
    plugins: tuple = ()
    #: None: the tuner can merge when its TunerSpec has ``merge``
    can_merge: Optional[bool] = None
    #: the dtype logits are compared in (module docstring); "float32" for a tuner whose modules cannot
    #: run in float64, with tolerances that allow for float32's rounding
    compare_dtype: str = "float64"
    #: "identical logits" after a reload that gives back the trained weights bit for bit (equal
    #: ``weights_digest``): both sides then run the same float64 arithmetic on the same numbers, and what
    #: could differ is float64 rounding (unit 1.1e-16, in sums of a few hundred terms); measured: 0.
    atol: float = 1e-9
    rtol: float = 1e-9
    #: after merging, and after a reload whose weights take another form (PiSSA, OLoRA and LoRA-GA
    #: checkpoints hold a converted plain LoRA on the original weights, W + (BA - B0A0) for the trained
    #: W_res + BA; AdaLoRA's leave out its pruned ranks): the same model up to one float32 rounding per
    #: weight (relative 2^-24 = 6e-8). On the tiny model (|logits| up to 16) that moves the float64
    #: logits by at most 1.2e-5, 7% of what these tolerances allow there (every tuner of this repository,
    #: 1 and 2 threads, several seeds); a real fault (a weight not saved, a bfloat16 copy) moves them by
    #: 1e-3 or more
    merge_atol: float = 1e-4
    merge_rtol: float = 1e-4

    def expected_trainable_params(self, model: Any, args: Any) -> int:
        """The tuner's formula for its trainable parameters, from the *base* model (before tuning)
        and the run's arguments."""
        raise NotImplementedError(f"{type(self).__name__} must define expected_trainable_params(model, args)")

    # -- fixtures (one training run and one fresh process per class) ------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def tuned(cls, tmp_path_factory: Any) -> TunedRun:
        workdir = str(tmp_path_factory.mktemp(f"tuner-{cls.train_type}"))
        run = train_tuner(
            cls.train_type,
            workdir,
            tuple(cls.extra_args),
            model=cls.model,
            max_steps=cls.max_steps,
            learning_rate=cls.learning_rate,
            plugins=tuple(cls.plugins),
            logits_dtype=cls.compare_dtype,
        )
        run.expected_trainable = int(cls().expected_trainable_params(cls._base_model(), run.args))
        return run

    @pytest.fixture(scope="class")
    @classmethod
    def reloaded(cls, tuned: TunedRun, tmp_path_factory: Any) -> dict:
        workdir = str(tmp_path_factory.mktemp(f"reload-{cls.train_type}"))
        return reload_in_fresh_process(
            tuned,
            workdir,
            full_parameter=cls._spec().full_parameter,
            merge=True,
            plugins=tuple(cls.plugins),
            logits_dtype=cls.compare_dtype,
        )

    @classmethod
    def _spec(cls) -> Any:
        from swiftk.testing import HostScope

        with HostScope(autoload=True) as host:
            for module in cls.plugins:
                _register_module(host, module)
            return host.get("tuners", cls.train_type)

    @classmethod
    def _mergeable(cls) -> bool:
        if cls.can_merge is not None:
            return cls.can_merge
        spec = cls._spec()
        return spec.merge is not None and not spec.full_parameter

    @classmethod
    def _base_model(cls) -> Any:
        """A fresh copy of the untuned base model, for the formula."""
        from swiftk.cli.builtin import resolve_arguments
        from swiftk.pipelines.model import load_model_and_processor
        from swiftk.testing import HostScope

        with HostScope(autoload=True):
            args = resolve_arguments("infer", ["--model", cls.model, "--load_args", "false"])
            model, _, _ = load_model_and_processor(args)
        return model

    # -- the contract ----------------------------------------------------------------------------
    def test_loss_goes_down(self, tuned: TunedRun) -> None:
        losses = tuned.losses
        assert len(losses) >= 6, f"expected a logged loss per step, got {losses}"
        first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
        assert last < first, f"{self.train_type}: the loss did not go down over {len(losses)} steps: {losses}"

    def test_trainable_parameter_count(self, tuned: TunedRun) -> None:
        assert tuned.printed_trainable is not None, (
            f"{self.train_type}: no 'trainable params: N' line was printed:\n{tuned.stdout[-2000:]}"
        )
        assert tuned.printed_trainable == tuned.actual_trainable, (
            f"printed {tuned.printed_trainable:,d} trainable parameters, the model has {tuned.actual_trainable:,d}"
        )
        assert tuned.printed_trainable == tuned.expected_trainable, (
            f"printed {tuned.printed_trainable:,d} trainable parameters, the formula says {tuned.expected_trainable:,d}"
        )

    def test_checkpoint_reloads_with_identical_logits(self, tuned: TunedRun, reloaded: dict) -> None:
        import torch

        same = reloaded["reload_weights"] == tuned.weights
        atol, rtol = (self.atol, self.rtol) if same else (self.merge_atol, self.merge_rtol)
        diff = (reloaded["reload"] - tuned.logits).abs().max().item()
        assert torch.allclose(reloaded["reload"], tuned.logits, atol=atol, rtol=rtol), (
            f"{self.train_type}: {self.compare_dtype} logits after reloading differ by up to {diff:.3g} "
            f"(atol {atol:g}, rtol {rtol:g}; {'the same' if same else 'other'} weights)"
        )

    def test_merge(self, tuned: TunedRun, reloaded: dict) -> None:
        import torch

        if self._spec().full_parameter:
            pytest.skip("full-parameter training: the checkpoint is the model, nothing to merge")
        if not self._mergeable():
            assert "merge_error" in reloaded, f"{self.train_type} cannot merge but merging did not refuse"
            assert "cannot be merged" in reloaded["merge_error"] and "\n" not in reloaded["merge_error"]
            return
        assert "merge_error" not in reloaded, reloaded.get("merge_error")
        for key in ("merged", "merged_saved"):
            diff = (reloaded[key] - tuned.logits).abs().max().item()
            assert torch.allclose(reloaded[key], tuned.logits, atol=self.merge_atol, rtol=self.merge_rtol), (
                f"{self.train_type}: {self.compare_dtype} logits of the {key.replace('_', ' ')} model differ by up "
                f"to {diff:.3g} (atol {self.merge_atol:g}, rtol {self.merge_rtol:g})"
            )
        assert "config.json" in reloaded["merged_files"]
        assert any(f.endswith(".safetensors") for f in reloaded["merged_files"])


if __name__ == "__main__":  # python -m swiftk.testing.tuners reload SPEC.json | serve
    if len(sys.argv) == 3 and sys.argv[1] == "reload":
        sys.exit(_reload_main(sys.argv[2]))
    if len(sys.argv) == 2 and sys.argv[1] == "serve":
        sys.exit(_serve_main())
    sys.stderr.write("usage: python -m swiftk.testing.tuners reload SPEC.json | serve\n")
    sys.exit(2)
