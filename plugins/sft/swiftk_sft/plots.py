"""Loss-curve PNGs from ``logging.jsonl``: one figure per logged quantity, in ``images/``."""

from __future__ import annotations

import json
import os
from typing import Iterable, Optional

#: What gets a curve, when the logs have it (train and eval variants).
CURVES = (
    "loss",
    "token_acc",
    "learning_rate",
    "grad_norm",
    "eval_loss",
    "eval_token_acc",
    "eval_acc",
    "eval_rouge-l",
    "eval_bleu-4",
    "reward",
    "rewards/margins",
)


def read_logs(path: str) -> list[dict]:
    if not os.path.isfile(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def write_plots(
    logging_jsonl: str, images_dir: str, keys: Iterable[str] = CURVES, drawn: Optional[dict] = None
) -> list[str]:
    """Write ``images_dir/<key>.png`` for each key present; returns the written paths.

    ``drawn`` (kept by the caller between calls: key -> the points of its last picture) skips a curve whose
    points have not changed since it was drawn and whose PNG is still there: the end of training redraws
    nothing after a final save, where each figure costs about 0.1 s.
    """
    # the object API with the Agg canvas: no pyplot (slow to import, global state, not thread-safe)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_logs(logging_jsonl)
    written = []
    for key in keys:
        points = [
            (r["global_step"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and "global_step" in r
        ]
        if not points:
            continue
        path = os.path.join(images_dir, key.replace("/", "_") + ".png")
        if drawn is not None:
            if drawn.get(key) == points and os.path.isfile(path):
                continue
            drawn[key] = points
        os.makedirs(images_dir, exist_ok=True)
        steps, values = zip(*points)
        fig = Figure(figsize=(6, 4), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot(steps, values, marker="o" if len(points) < 30 else None, linewidth=1.2)
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        tmp = path + ".tmp.png"
        fig.savefig(tmp)
        os.replace(tmp, path)
        written.append(path)
    return written
