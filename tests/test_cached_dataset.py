"""`swiftk export --to_cached_dataset true` and `--cached_dataset` (later ms-swift): rows tokenized once train
exactly as the same rows encoded by the training run (same losses, step by step, for sft and dpo); a cache that
another encoding wrote, a folder that is no cache and mixing with --dataset are refused with one line; `#N` samples
and `--max_length` drops or cuts as ms-swift's cached datasets do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel_support import one_line_error

MODEL = str(Path(__file__).resolve().parents[1] / "plugins/demo/swiftk_demo/tiny-chat")
STEPS = ["--max_steps", "3", "--logging_steps", "1", "--report_to", "none", "--save_strategy", "no",
         "--per_device_train_batch_size", "4", "--eval_strategy", "no"]  # fmt: skip


def ok(swiftk, *argv, **kw):
    result = swiftk(*map(str, argv), **kw)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def losses(output_dir: Path) -> list:
    [log] = list(output_dir.rglob("logging.jsonl"))
    return [json.loads(line)["loss"] for line in log.read_text().splitlines() if '"loss"' in line]


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    from kernel_support import run_swiftk

    root = tmp_path_factory.mktemp("cached")
    ok(run_swiftk, "export", "--to_cached_dataset", "true", "--model", MODEL, "--dataset", "swiftk/demo-sft",
       "--output_dir", root / "sft")  # fmt: skip
    ok(run_swiftk, "export", "--to_cached_dataset", "true", "--template_mode", "rlhf", "--model", MODEL,
       "--dataset", "swiftk/demo-dpo", "--output_dir", root / "dpo")  # fmt: skip
    return root


def test_the_export_writes_train_and_val_with_what_the_encoding_depended_on(caches):
    meta = json.loads((caches / "sft" / "train" / "swiftk_cache.json").read_text())
    assert meta["template"] == "qwen" and meta["model_type"] == "qwen2" and meta["encoder"] == "template"
    assert (caches / "sft" / "val" / "swiftk_cache.json").is_file()
    assert json.loads((caches / "dpo" / "train" / "swiftk_cache.json").read_text())["encoder"].endswith("dpo_encoder")
    assert not [p for p in caches.iterdir() if p.name.startswith(".cached-")]  # no staging folder left behind


def test_sft_from_the_cache_trains_as_from_the_dataset(swiftk, caches, tmp_path):
    ok(swiftk, "sft", "--model", MODEL, *STEPS, "--cached_dataset", caches / "sft" / "train",
       "--output_dir", tmp_path / "cached")  # fmt: skip
    ok(swiftk, "sft", "--model", MODEL, *STEPS, "--dataset", "swiftk/demo-sft", "--output_dir", tmp_path / "data")
    assert losses(tmp_path / "cached") == losses(tmp_path / "data") and len(losses(tmp_path / "data")) == 3
    args = min((tmp_path / "cached").rglob("args.json"), key=lambda p: len(p.parts))  # the run's, not a checkpoint's
    assert json.loads(args.read_text())["cached_dataset"] == [str(caches / "sft" / "train")]


def test_dpo_from_a_template_mode_rlhf_cache_trains_as_from_the_dataset(swiftk, caches, tmp_path):
    dpo = ["rlhf", "--rlhf_type", "dpo", "--model", MODEL, *STEPS]
    ok(swiftk, *dpo, "--cached_dataset", caches / "dpo" / "train", "--output_dir", tmp_path / "cached")
    ok(swiftk, *dpo, "--dataset", "swiftk/demo-dpo", "--output_dir", tmp_path / "data")
    assert losses(tmp_path / "cached") == losses(tmp_path / "data")


def test_a_cache_another_encoding_wrote_is_refused(swiftk, caches, tmp_path):
    base = ["--model", MODEL, *STEPS, "--output_dir", tmp_path / "o"]
    error = one_line_error(swiftk("sft", *base, "--template", "chatml", "--cached_dataset", caches / "sft" / "train"))
    assert "encoded with template 'qwen', this run encodes with 'chatml'" in error
    error = one_line_error(swiftk("rlhf", "--rlhf_type", "dpo", *base, "--cached_dataset", caches / "sft" / "train"))
    assert "encoded with encoder 'template'" in error and "dpo_encoder" in error
    error = one_line_error(swiftk("sft", *base, "--cached_dataset", caches / "sft"))
    assert "not a folder written by `swiftk export --to_cached_dataset true` (the export's train/" in error
    error = one_line_error(
        swiftk("sft", *base, "--cached_dataset", caches / "sft" / "train", "--dataset", "swiftk/demo-sft")
    )
    assert "--cached_dataset with --dataset/--val_dataset" in error
    error = one_line_error(
        swiftk(
            "rlhf",
            "--rlhf_type",
            "grpo",
            "--reward_funcs",
            "format",
            "--num_generations",
            "4",
            *base,
            "--cached_dataset",
            caches / "dpo" / "train",
        )
    )
    assert "--rlhf_type grpo generates from prompts" in error
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").rglob("checkpoint-*"))


def test_sample_counts_and_max_length_shape_the_rows(caches):
    from datasets import load_from_disk

    from swiftk.pipelines.cached_data import _fit, _sample

    rows = load_from_disk(str(caches / "sft" / "train"))
    n = len(rows)
    originals = [tuple(ids) for ids in rows["input_ids"]]
    five = [tuple(ids) for ids in _sample(rows, 5, 42)["input_ids"]]
    assert len(set(five)) == 5 and set(five) <= set(originals)
    assert five == [tuple(ids) for ids in _sample(rows, 5, 42)["input_ids"]]  # --data_seed decides
    doubled = [tuple(ids) for ids in _sample(rows, 2 * n + 3, 42)["input_ids"]]
    assert len(doubled) == 2 * n + 3 and all(doubled.count(row) >= 2 for row in originals)
    lengths = sorted(len(ids) for ids in rows["input_ids"])
    cut = lengths[len(lengths) // 2]

    class Args(dict):
        def get(self, key, default=None):
            return super().get(key, default)

    kept = _fit(rows, "--cached_dataset", "f", Args(max_length=cut, truncation_strategy="delete"))
    assert len(kept) == sum(1 for n_ in lengths if n_ <= cut) and max(len(i) for i in kept["input_ids"]) <= cut
    left = _fit(rows, "--cached_dataset", "f", Args(max_length=cut, truncation_strategy="left"))
    assert len(left) == n and all(len(i) == len(lab) <= cut for i, lab in zip(left["input_ids"], left["labels"]))
    longest = max(range(n), key=lambda i: len(rows[i]["input_ids"]))
    assert left[longest]["input_ids"] == rows[longest]["input_ids"][-cut:]


def test_other_pair_types_and_a_shorter_max_length_for_pairs_are_refused(swiftk, caches, tmp_path):
    base = ["--model", MODEL, *STEPS, "--output_dir", tmp_path / "o"]
    error = one_line_error(swiftk("rlhf", "--rlhf_type", "cpo", *base, "--cached_dataset", caches / "dpo" / "train"))
    assert "--rlhf_type cpo encodes them its own way: train it from --dataset" in error
    error = one_line_error(
        swiftk("rlhf", "--rlhf_type", "dpo", *base, "--max_length", "64", "--cached_dataset", caches / "dpo" / "train")
    )
    assert "its pairs were encoded with --max_length 2048; this run's --max_length 64" in error
