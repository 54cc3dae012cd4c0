"""The demo model type passes the model-type contract suite on its own shipped checkpoint."""

from __future__ import annotations

import pytest

from swiftk.testing.models import ModelContract

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TestTinyChat(ModelContract):
    model_type = "tiny_chat"  # no tiny recipe: the registered swiftk/tiny-chat folder, resolved by its id
