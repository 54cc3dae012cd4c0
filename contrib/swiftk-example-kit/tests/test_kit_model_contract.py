"""``--model_type kit_llama`` against the model contract suite, on a random tiny Llama checkpoint built
from the type's ``extra["tiny"]`` recipe in a folder named like its hub id (kit-llama-tiny)."""

from __future__ import annotations

import shutil

import pytest
from swiftk.api import UsageError, get_host, load_model_and_processor, load_reference, resolve_model
from swiftk.testing.models import ModelContract

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TestKitLlama(ModelContract):
    model_type = "kit_llama"
    plugins = ("swiftk_example_kit.plugin",)

    def test_other_llama_folders_are_not_kit_llama(self, model_host, checkpoint_dir, tmp_path):
        """The name pattern claims only folders named kit-llama / kit_llama, not every Llama."""
        for name, expected in (("Llama-3-8B-kit", False), ("my-kit_llama-sft-v2", True), ("kitllama", False)):
            folder = tmp_path / name
            shutil.copytree(checkpoint_dir, folder)
            resolved = resolve_model(self.args(str(folder), model_type=False)).model_type
            assert (resolved == "kit_llama") is expected, f"{name} resolved to {resolved}"

    def test_kit_bias_wants_norms_on_a_model_without_biases(self, model_host, checkpoint_dir):
        """Llama has no bias terms: --train_type kit_bias says so in one line, and trains the norms
        with --kit_bias_norms true."""
        prepare = load_reference(get_host().get("tuners", "kit_bias").prepare)
        args = self.args(checkpoint_dir, "--train_type", "kit_bias")
        model, _, _ = load_model_and_processor(args)
        with pytest.raises(UsageError, match="no bias terms.*--kit_bias_norms true"):
            prepare(model, args)
        args = self.args(checkpoint_dir, "--train_type", "kit_bias", "--kit_bias_norms", "true")
        model = prepare(model, args)
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        assert trainable and all("norm" in n for n in trainable)
