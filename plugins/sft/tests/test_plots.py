"""Loss-curve PNGs (swiftk_sft.plots.write_plots): a curve is redrawn only when its points changed or its
PNG is gone, so the end of training after a final save draws nothing again."""

from __future__ import annotations

import json

from swiftk_sft.plots import write_plots


def test_only_changed_or_missing_curves_are_redrawn(tmp_path):
    logs, images = tmp_path / "logging.jsonl", tmp_path / "images"
    rows = [{"global_step": step, "loss": 2.0 / step, "learning_rate": 1e-4} for step in (1, 2, 3)]
    logs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    drawn: dict = {}
    first = write_plots(str(logs), str(images), drawn=drawn)
    assert sorted(p.rsplit("/", 1)[-1] for p in first) == ["learning_rate.png", "loss.png"]
    assert (images / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert write_plots(str(logs), str(images), drawn=drawn) == []  # nothing new

    with logs.open("a") as f:  # a summary row without curve values, then a new loss point
        f.write(json.dumps({"global_step": 3, "train_runtime": 1.0}) + "\n")
    assert write_plots(str(logs), str(images), drawn=drawn) == []
    with logs.open("a") as f:
        f.write(json.dumps({"global_step": 4, "loss": 0.4}) + "\n")
    assert [p.rsplit("/", 1)[-1] for p in write_plots(str(logs), str(images), drawn=drawn)] == ["loss.png"]

    (images / "learning_rate.png").unlink()
    assert [p.rsplit("/", 1)[-1] for p in write_plots(str(logs), str(images), drawn=drawn)] == ["learning_rate.png"]
    assert len(write_plots(str(logs), str(images))) == 2  # without a memo: every curve, as before
