"""Q-GaLore: q-galore-torch's projector inside galore-torch's optimizers (module-level classes, so that
the optimizer state, projectors included, pickles into ``optimizer.pt``)."""

from __future__ import annotations

from galore_torch import GaLoreAdamW
from q_galore_torch.q_galore_projector import GaLoreProjector as _QProjector


class QGaLoreProjector(_QProjector):
    """q-galore-torch's projector; a projection whose size the quantization group does not divide is
    quantized per row instead of failing."""

    def _quantize(self, w, q_group_size=-1, n_bit=8):
        if q_group_size > 0 and w.nelement() % q_group_size:
            q_group_size = -1
        return super()._quantize(w, q_group_size=q_group_size, n_bit=n_bit)


class _QGaLoreMixin:
    """Creates each GaLore parameter's projector as Q-GaLore's before galore-torch's step would create its own."""

    def step(self, closure=None):
        for group in self.param_groups:
            if "rank" not in group or "quant" not in group:
                continue
            for p in group["params"]:
                state = self.state[p]
                if p.grad is not None and "projector" not in state:
                    state["projector"] = QGaLoreProjector(
                        group["rank"],
                        update_proj_gap=group["update_proj_gap"],
                        scale=group["scale"],
                        proj_type=group["proj_type"],
                        quant=group["quant"],
                        group_size=group["quant_group_size"],
                        n_bit=group["quant_n_bit"],
                        cos_threshold=group["cos_threshold"],
                        gamma_proj=group["gamma_proj"],
                        queue_size=group["queue_size"],
                    )
        return super().step(closure)


class QGaLoreAdamW(_QGaLoreMixin, GaLoreAdamW):
    """Q-GaLore with 32-bit AdamW states (CPU, or any --optim adamw_torch)."""


def adamw8bit():
    """Q-GaLore with bitsandbytes' 8-bit AdamW states (CUDA)."""
    return QGaLoreAdamW8bit


try:  # bitsandbytes is optional
    from galore_torch import GaLoreAdamW8bit

    class QGaLoreAdamW8bit(_QGaLoreMixin, GaLoreAdamW8bit):
        """Q-GaLore with 8-bit AdamW states, as q-galore-torch's own optimizer (CUDA only)."""
except ImportError:  # pragma: no cover
    QGaLoreAdamW8bit = None  # type: ignore[assignment,misc]
