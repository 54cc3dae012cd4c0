"""The quantizer contract suite: the tests every ``--quant_method`` name (ours or a third party's) should pass.

Subclass :class:`QuantizerContract` in a test module and name the quantizer; pytest collects the inherited
tests::

    from swiftk.testing.quantizers import QuantizerContract

    class TestMyInt4(QuantizerContract):
        quant_method = "my_int4"                   # a registered name
        plugins = ("my_quant/plugin.py",)          # only if not installed: files or modules to register
        arguments = ("--quant_bits", "4")          # the flags a user gives with it
        refused = [(("--quant_bits", "3"), "--quant_bits 3")]  # flags check(args) must refuse, and a phrase
        min_agreement = 0.8                        # next-token agreement with the full-precision model

``register(name, QuantizerSpec(load_config=..., after_load=..., check=..., export=...))``: see
docs/export.md.  The suite runs the steps the spec has, as the commands run them, on ``swiftk/tiny-chat``
(swift-plugin-demo) in this process, and checks:

1. the name is registered, as a ``QuantizerSpec`` with at least one step;
2. each of :attr:`refused` makes ``swiftk export`` stop with a usage error quoting its phrase, before
   anything is written (``check(args)`` runs first): no output folder, no staging folder;
3. with an ``export`` step, ``swiftk export --quant_method NAME`` (ONCE per class) completes; the folder
   is in place with no staging or backup folder beside it; its ``args.json`` records the method and the
   quantizer's plugin; ``swiftk infer --model FOLDER`` loads it as it is (``load_model_and_processor``,
   the method not applied again) and its next-token predictions on a few chat turns are finite and agree
   with the full-precision model's on at least :attr:`min_agreement` of the positions;
4. with a load step (``load_config`` or ``after_load``), ``--quant_method NAME`` at load time gives a
   model whose predictions agree the same way.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional, Sequence

import pytest

from swiftk.testing.callbacks import DEFAULT_MODEL
from swiftk.testing.tuners import ROWS

__all__ = ["QuantizerContract", "next_token_predictions"]


def next_token_predictions(model: Any, tokenizer: Any, max_length: int = 64) -> list:
    """The model's argmax next token at each position of the suite's chat turns (:data:`ROWS` through the
    tokenizer's chat template), one tensor per turn; asserts the logits are finite."""
    import torch

    predictions = []
    for question, answer in ROWS:
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        text = tokenizer.apply_chat_template(messages, tokenize=False) if tokenizer.chat_template else question + answer
        ids = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length).input_ids
        with torch.no_grad():
            logits = model(input_ids=ids.to(model.device)).logits.float()
        assert torch.isfinite(logits).all(), "the model's logits are not finite"
        predictions.append(logits.argmax(-1).cpu())
    return predictions


def _agreement(reference: list, other: list) -> float:
    same = sum(int((a == b).sum()) for a, b in zip(reference, other))
    return same / sum(a.numel() for a in reference)


class QuantizerContract:
    """Inherit, set ``quant_method``; see the module docstring."""

    quant_method: str = ""
    plugins: Sequence[str] = ()
    model: str = DEFAULT_MODEL
    #: The flags given with ``--quant_method`` (``--quant_bits``, ``--torch_dtype``, a calibration ``--dataset``).
    arguments: Sequence[str] = ()
    #: ``(flags, phrase)``: flags (added to :attr:`arguments`) that ``check(args)`` refuses, with a phrase of its message.
    refused: Sequence[tuple[Sequence[str], str]] = ()
    #: The least share of positions where the quantized model's next token is the full-precision one's.
    min_agreement: float = 0.75

    # -- fixtures: one host, the reference predictions and one export per class ----------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def quantizer_host(cls) -> Any:
        from swiftk.testing.plugins import host_with

        with host_with(cls.plugins) as host:
            yield host

    @pytest.fixture(scope="class")
    @classmethod
    def spec(cls, quantizer_host: Any) -> Any:
        registry = quantizer_host.registry("quantizers")
        assert cls.quant_method in registry, f"'{cls.quant_method}' is not a registered quantizer"
        return registry.get(cls.quant_method)

    @pytest.fixture(scope="class")
    @classmethod
    def reference(cls, quantizer_host: Any) -> list:
        """The full-precision model's next-token predictions (float32)."""
        return cls.predictions(["--model", cls.model, "--torch_dtype", "float32"])

    @pytest.fixture(scope="class")
    @classmethod
    def exported(cls, spec: Any, tmp_path_factory: Any) -> tuple[str, Optional[str]]:
        """``swiftk export --quant_method NAME`` in this process: (output folder, error or None)."""
        if spec.export is None:
            pytest.skip(f"quantizer '{cls.quant_method}' has no export step")
        out = os.path.join(str(tmp_path_factory.mktemp("quantizer-contract")), "quantized")
        return out, cls.export(out)

    # -- helpers -------------------------------------------------------------------------------------------
    @classmethod
    def export(cls, output_dir: str, extra: Sequence[str] = ()) -> Optional[str]:
        """Runs ``swiftk export`` as the command does; returns the error it stopped with, or None."""
        from swiftk.cli.builtin import invoke

        argv = ["--model", cls.model, "--quant_method", cls.quant_method, *cls.arguments, *extra]
        try:
            code, _ = invoke("export", [*argv, "--output_dir", output_dir], launch=False)
        except (Exception, SystemExit) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if code == 0 else f"exit code {code}"

    @classmethod
    def predictions(cls, argv: Sequence[str]) -> list:
        """Loads ``swiftk infer argv``'s model as the command does and returns its predictions."""
        from swiftk.cli.builtin import resolve_arguments
        from swiftk.pipelines.model import load_model_and_processor

        args = resolve_arguments("infer", list(argv))
        model, processor, _ = load_model_and_processor(args)
        try:
            return next_token_predictions(model.eval(), getattr(processor, "tokenizer", processor))
        finally:
            del model

    def assert_agrees(self, reference: list, predictions: list, what: str) -> None:
        agreement = _agreement(reference, predictions)
        assert agreement >= self.min_agreement, (
            f"quantizer '{self.quant_method}' ({what}): next-token agreement with the full-precision model "
            f"{agreement:.3f} < {self.min_agreement}"
        )

    # -- the contract ----------------------------------------------------------------------------------------
    def test_the_name_is_registered(self, spec: Any) -> None:
        from swiftk.specs import QuantizerSpec

        assert isinstance(spec, QuantizerSpec), f"'{self.quant_method}' is registered as {type(spec).__name__}"
        steps = [s for s in ("load_config", "after_load", "export") if getattr(spec, s) is not None]
        assert steps, f"quantizer '{self.quant_method}' has no step (load_config, after_load or export)"

    def test_check_refuses_before_anything_is_written(self, spec: Any, tmp_path: Any) -> None:
        if not self.refused:
            pytest.skip("no refused flags given (set `refused`)")
        for flags, phrase in self.refused:
            out = tmp_path / "refused"
            error = self.export(str(out), flags)
            assert error is not None, f"quantizer '{self.quant_method}': export with {list(flags)} was not refused"
            assert phrase in error, f"quantizer '{self.quant_method}': {list(flags)} stopped with {error!r}"
            assert sorted(os.listdir(tmp_path)) == [], f"{list(flags)}: written before refusing: {os.listdir(tmp_path)}"

    def test_export_completes_in_place(self, exported: tuple) -> None:
        out, error = exported
        assert error is None, f"swiftk export --quant_method {self.quant_method} failed: {error}"
        assert os.path.isfile(os.path.join(out, "config.json")), f"no config.json in {out}: {os.listdir(out)}"
        left = [n for n in os.listdir(os.path.dirname(out)) if n != os.path.basename(out)]
        assert not left, f"left beside the export: {left}"

    def test_export_records_the_method_and_its_plugin(self, exported: tuple) -> None:
        out, error = exported
        assert error is None, error
        with open(os.path.join(out, "args.json"), encoding="utf-8") as f:
            record = json.load(f)
        assert record["quant_method"] == self.quant_method
        assert record["plugins"].get("quantizer", {}).get("name") == self.quant_method, record["plugins"]

    def test_the_export_reloads_and_agrees(self, exported: tuple, reference: list) -> None:
        out, error = exported
        assert error is None, error
        self.assert_agrees(reference, self.predictions(["--model", out]), f"reloaded from {out}")

    def test_the_load_step_agrees(self, spec: Any, reference: list) -> None:
        if spec.load_config is None and spec.after_load is None:
            pytest.skip(f"quantizer '{self.quant_method}' has no load step")
        argv = ["--model", self.model, "--quant_method", self.quant_method, *self.arguments]
        self.assert_agrees(reference, self.predictions(argv), "quantized at load time")
