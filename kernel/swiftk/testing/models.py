"""The model-type contract suite: the tests every ``--model_type`` (ours or a third party's) should pass.

Subclass :class:`ModelContract` in a test module and name the model type; pytest collects the inherited
tests::

    from swiftk.testing.models import ModelContract

    class TestMyLlama(ModelContract):
        model_type = "my_llama"                    # a registered name
        plugins = ("my_models/__init__.py",)       # only if not installed: files or modules to register
        folder_name = "my-llama-7b-chat"           # how a real checkpoint's folder is named (see below)

The suite needs a small checkpoint of the type, made ONCE per class by :meth:`ModelContract.checkpoint`:
:attr:`model` when set (a local folder, or a registered id with a local ``model_path``); else a random tiny
checkpoint written by :func:`swiftk.testing.tiny.build_tiny_checkpoint` from the ModelMeta's
``extra["tiny"]`` recipe, in a folder named :attr:`folder_name` (by default the name of the type's first
registered hub id, as a download would be named; else the model type); else the local ``model_path`` of
a registered id.  Override ``checkpoint(folder)`` to write your own.  What the suite checks, as the
pipelines resolve and load ``--model`` (``swiftk.api.resolve_model``, ``load_model_and_processor``,
``get_template``):

1. the name is registered, as a ``ModelMeta`` whose ``model_type`` is that name;
2. the folder resolves to this type with ``--model_type``; when the ModelMeta declares ``architectures``,
   also from the folder alone (its ``config.json`` architectures, and the folder's name where other types
   share them: a registered id's name or an ``extra["name_patterns"]`` match must pick this type); a
   registered id with a local ``model_path`` resolves to this type;
3. ``load_model_and_processor`` loads a model and a tokenizer that has a pad token; the model carries
   ``model_info`` (of this type, with the type's default template) and ``model_meta``, its weights (the
   input embeddings') in the resolved ``torch_dtype``;
4. the default template (``ModelMeta.template``) is registered and encodes a two-round conversation with
   this tokenizer: ids inside the model's embedding table, both answers labelled, the questions not;
5. a forward pass on that sample (batched by the template's ``data_collator``) gives a finite loss, and
   gradients reach the weights;
6. ``load_model=False`` gives the tokenizer only (the model is None), the same tokenizer;
7. ``--torch_dtype`` is honoured (each of :attr:`torch_dtypes`): the resolved dtype and the weights'.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence

import pytest

__all__ = ["ModelContract"]

IGNORE = -100


class ModelContract:
    """Inherit, set ``model_type``; see the module docstring."""

    model_type: str = ""
    plugins: Sequence[str] = ()
    #: A checkpoint to test instead of a tiny one: a local folder, or a registered id with a local model_path.
    model: Optional[str] = None
    #: The tiny checkpoint's folder name (default: the name of the type's first registered hub id).
    folder_name: Optional[str] = None
    #: More flags for resolving and loading (``--trust_remote_code true``, ``--model_kwargs ...``).
    arguments: Sequence[str] = ()
    #: The dtypes ``--torch_dtype`` is checked with.
    torch_dtypes: Sequence[str] = ("bfloat16",)
    system: str = "Answer briefly."
    turns: Sequence[tuple[str, str]] = (
        ("What is the weather in Paris?", "It is sunny and 22 degrees."),
        ("Call the tool with the city name.", "The answer is 42."),
    )

    # -- fixtures: one host, checkpoint and loaded model per class -----------------------------------
    # (class-scoped fixtures are classmethods: pytest runs them once, not on the instance each test gets)
    @pytest.fixture(scope="class")
    @classmethod
    def model_host(cls) -> Any:
        from swiftk.testing.plugins import host_with

        with host_with(cls.plugins) as host:
            yield host

    @pytest.fixture(scope="class")
    @classmethod
    def model_meta(cls, model_host: Any) -> Any:
        registry = model_host.registry("models")
        assert cls.model_type in registry, f"'{cls.model_type}' is not a registered model type"
        return registry.get(cls.model_type)

    @pytest.fixture(scope="class")
    @classmethod
    def checkpoint_dir(cls, model_host: Any, model_meta: Any, tmp_path_factory: Any) -> str:
        folder = cls().checkpoint(tmp_path_factory.mktemp("model-contract"))
        assert folder and os.path.isdir(folder), f"model type '{cls.model_type}': checkpoint() gave {folder!r}"
        return str(folder)

    @pytest.fixture(scope="class")
    @classmethod
    def loaded(cls, model_host: Any, checkpoint_dir: str) -> tuple:
        """``(model, processor, ModelInfo)`` of the checkpoint, loaded as a run loads it."""
        from swiftk.api import load_model_and_processor

        return load_model_and_processor(cls().args(checkpoint_dir))

    # -- helpers (override to adapt) -----------------------------------------------------------------
    def args(self, folder: str, *flags: str, model_type: bool = True) -> Any:
        """The resolved ``sft`` arguments of ``--model folder`` (and ``--model_type``) and :attr:`arguments`."""
        from swiftk.cli.builtin import resolve_arguments

        argv = ["--model", str(folder), *(("--model_type", self.model_type) if model_type else ()), *self.arguments]
        return resolve_arguments("sft", [*argv, *flags])

    def default_folder_name(self, meta: Any) -> str:
        if self.folder_name:
            return self.folder_name
        for group in getattr(meta, "model_groups", None) or []:
            for model in group.models:
                for model_id in (model.hf_model_id, model.ms_model_id):
                    if model_id:
                        return model_id.rsplit("/", 1)[-1]
        return self.model_type

    def local_folders(self, meta: Any) -> list[tuple[Optional[str], str]]:
        """``(registered id, folder)`` of the type's checkpoints that have a local ``model_path``."""
        out = []
        for group in getattr(meta, "model_groups", None) or []:
            for model in group.models:
                path = model.model_path and os.path.abspath(os.path.expanduser(model.model_path))
                if path and os.path.isdir(path):
                    out.append((model.hf_model_id or model.ms_model_id, path))
        return out

    def checkpoint(self, folder: Path) -> str:
        """A small checkpoint folder of this type, written under ``folder`` if need be (see the docstring)."""
        import swiftk
        from swiftk.pipelines.model import resolve_model_dir

        if self.model:
            return resolve_model_dir(self.args(self.model))[0]
        meta = swiftk.get_host().get("models", self.model_type)
        if (meta.extra or {}).get("tiny"):
            from swiftk.testing.tiny import build_tiny_checkpoint

            return str(build_tiny_checkpoint(self.model_type, Path(folder) / self.default_folder_name(meta)))
        local = self.local_folders(meta)
        if local:
            return local[0][1]
        pytest.fail(
            f"model type '{self.model_type}' declares no tiny checkpoint recipe (ModelMeta.extra['tiny']) and no "
            f"local model_path: set `model` (a small local folder) or override checkpoint(folder)"
        )

    def row(self, system: bool = True) -> dict:
        messages = [{"role": "system", "content": self.system}] if system else []
        for query, answer in self.turns:
            messages += [{"role": "user", "content": query}, {"role": "assistant", "content": answer}]
        return {"messages": messages}

    @staticmethod
    def tokenizer_of(processor: Any) -> Any:
        return getattr(processor, "tokenizer", processor)

    @staticmethod
    def weights_dtype(model: Any) -> Any:
        """The dtype of the input embeddings' weights (modules a model keeps in float32 aside)."""
        return model.get_input_embeddings().weight.dtype

    def encoded(self, args: Any, processor: Any, info: Any) -> tuple[Any, dict]:
        """The default template (train mode) and its encoding of :meth:`row`."""
        from swiftk.api import get_template

        template = get_template(args, processor, info, "train")
        return template, template.encode(self.row())

    # -- the contract ------------------------------------------------------------------------------------
    def test_the_name_is_registered(self, model_host: Any) -> None:
        from swiftk.api import ModelMeta

        registry = model_host.registry("models")
        assert self.model_type in registry, f"'{self.model_type}' is not a registered model type"
        meta = registry.get(self.model_type)
        assert isinstance(meta, ModelMeta), f"'{self.model_type}' must be registered as a ModelMeta, not {meta!r}"
        assert meta.model_type == self.model_type, (
            f"model type '{self.model_type}' is registered with a ModelMeta of model_type '{meta.model_type}'"
        )

    def test_the_folder_resolves_to_this_type(self, model_meta: Any, checkpoint_dir: str) -> None:
        from swiftk.api import resolve_model

        info = resolve_model(self.args(checkpoint_dir))
        assert info.model_type == self.model_type and info.template_type == model_meta.template, (
            f"--model_type {self.model_type} resolved to {info.model_type} (template {info.template_type})"
        )
        if model_meta.architectures:
            archs = list(info.config.get("architectures") or [])
            assert set(archs) & set(model_meta.architectures), (
                f"model type '{self.model_type}' declares architectures {model_meta.architectures}, but the "
                f"checkpoint's config.json has {archs}"
            )
            alone = resolve_model(self.args(checkpoint_dir, model_type=False)).model_type
            assert alone == self.model_type, (
                f"the folder {os.path.basename(checkpoint_dir)!r} (config.json architectures {archs}) resolves to "
                f"'{alone}', not '{self.model_type}', without --model_type: another type shares the architecture; "
                f"register the checkpoint's id, or an extra['name_patterns'] entry matching its folder name"
            )
        for model_id, _ in self.local_folders(model_meta):
            if model_id:
                found = resolve_model(self.args(model_id, model_type=False)).model_type
                assert found == self.model_type, f"--model {model_id} (registered) resolves to '{found}'"

    def test_it_loads_a_model_and_a_tokenizer(self, model_meta: Any, loaded: tuple) -> None:
        import torch

        model, processor, info = loaded
        assert isinstance(model, torch.nn.Module), f"model type '{self.model_type}': the loader gave {model!r}"
        tokenizer = self.tokenizer_of(processor)
        assert tokenizer is not None and callable(getattr(tokenizer, "decode", None)), (
            f"model type '{self.model_type}': the loader gave no tokenizer ({processor!r})"
        )
        assert tokenizer.pad_token_id is not None, f"model type '{self.model_type}': the tokenizer has no pad token"
        assert info.model_type == self.model_type and model.model_info is info, (
            f"model type '{self.model_type}': model.model_info is {getattr(model, 'model_info', None)!r}"
        )
        assert model.model_meta is model_meta and info.template_type == model_meta.template
        weights = self.weights_dtype(model)
        assert weights == getattr(torch, info.torch_dtype), (
            f"model type '{self.model_type}': torch_dtype {info.torch_dtype} resolved, weights in {weights}"
        )

    def test_the_default_template_encodes_a_conversation(self, model_host: Any, model_meta: Any, loaded: tuple) -> None:
        model, processor, info = loaded
        assert model_meta.template, f"model type '{self.model_type}' names no default template (ModelMeta.template)"
        assert model_meta.template in model_host.registry("templates"), (
            f"model type '{self.model_type}': its default template '{model_meta.template}' is not a registered template"
        )
        _, encoded = self.encoded(self.args(info.model_dir), processor, info)
        ids, labels = list(encoded["input_ids"]), list(encoded.get("labels") or [])
        assert ids and len(labels) == len(ids), (
            f"template '{model_meta.template}': {len(ids)} ids, {len(labels)} labels"
        )
        size = model.get_input_embeddings().num_embeddings
        assert max(ids) < size and min(ids) >= 0, (
            f"model type '{self.model_type}': template '{model_meta.template}' encodes ids up to {max(ids)}, outside "
            f"the model's {size} embeddings (a special token the tokenizer lacks?)"
        )
        tokenizer = self.tokenizer_of(processor)
        trained = tokenizer.decode([i for i, label in zip(ids, labels) if label != IGNORE])
        for query, answer in self.turns:
            assert answer in trained, f"template '{model_meta.template}': the answer {answer!r} is not labelled"
            assert query not in trained, f"template '{model_meta.template}': the question {query!r} is labelled"

    def test_a_forward_pass_gives_a_finite_loss(self, loaded: tuple) -> None:
        import torch

        model, processor, info = loaded
        template, encoded = self.encoded(self.args(info.model_dir), processor, info)
        batch = template.data_collator([encoded])
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "labels") if k in batch}
        model.train()
        model.zero_grad(set_to_none=True)
        try:
            loss = model(**inputs).loss
            assert loss is not None and torch.isfinite(loss), f"model type '{self.model_type}': loss {loss}"
            loss.backward()
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            assert grads, f"model type '{self.model_type}': no gradient reaches the weights"
            assert all(torch.isfinite(g).all() for g in grads), f"model type '{self.model_type}': non-finite gradients"
        finally:
            model.zero_grad(set_to_none=True)
            model.eval()

    def test_load_model_false_gives_the_tokenizer_only(self, checkpoint_dir: str, loaded: tuple) -> None:
        from swiftk.api import load_model_and_processor

        model, processor, info = load_model_and_processor(self.args(checkpoint_dir), load_model=False)
        assert model is None, f"model type '{self.model_type}': load_model=False loaded {type(model).__name__}"
        tokenizer, full = self.tokenizer_of(processor), self.tokenizer_of(loaded[1])
        assert tokenizer is not None and info.model_type == self.model_type
        assert len(tokenizer) == len(full) and tokenizer.pad_token_id == full.pad_token_id, (
            f"model type '{self.model_type}': load_model=False gives another tokenizer"
        )

    def test_torch_dtype_is_honoured(self, checkpoint_dir: str) -> None:
        import torch

        from swiftk.api import load_model_and_processor

        for dtype in self.torch_dtypes:
            model, _, info = load_model_and_processor(self.args(checkpoint_dir, "--torch_dtype", dtype))
            assert info.torch_dtype == dtype, f"--torch_dtype {dtype} resolved to {info.torch_dtype}"
            weights = self.weights_dtype(model)
            assert weights == getattr(torch, dtype), (
                f"model type '{self.model_type}': --torch_dtype {dtype} loaded weights in {weights}"
            )
