"""Arguments this plugin adds (ms-swift 3.x has them; the page's tables do not list them)."""

from __future__ import annotations

from dataclasses import dataclass

from swiftk.api import arg


@dataclass
class AdapterArguments:
    """``--train_type adapter``: a bottleneck adapter after every MLP."""

    SECTION = "Adapter arguments"

    adapter_length: int = arg(128, "Adapter: bottleneck width of the adapter after each MLP.")
    adapter_act: str = arg("gelu", "Adapter: activation between the adapter's two linear layers.")
