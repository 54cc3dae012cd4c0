"""The rollout server's worker extension: vLLM mixes it into every worker (``--worker-extension-cls``), and
``POST /collective_rpc`` calls its methods on each of them.

It is how a trainer without vLLM's NCCL engine (no GPU, or no vLLM in its environment) updates the server:
the trainer writes the policy's full weights to a safetensors file under their Hugging Face names, then asks
every worker to load it.  vLLM's in-place reload does the loading: it shards and fuses the checkpoint tensors
as at start-up and re-runs the processing after loading (the CPU backend repacks linear weights, so plain
``load_weights`` into a served model fails).
"""

from __future__ import annotations

import os


class WeightSyncExtension:
    """Methods on vLLM's worker (``self.reload_weights`` and ``self.model_runner`` are vLLM's)."""

    def swiftk_load_weights(self, path: str) -> int:
        """Load every tensor of the safetensors file ``path`` into the served model; the count loaded."""
        from safetensors.torch import load_file

        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"rollout server: no weights file {path}; the trainer and `swiftk rollout` must share a "
                f"filesystem (the same machine, or shared storage) when weights are synced through a file"
            )
        tensors = load_file(path, device="cpu")
        self.reload_weights(weights_iterator=iter(tensors.items()), is_checkpoint_format=True)
        return len(tensors)
