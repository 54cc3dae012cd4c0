"""The dataset contract suite (swiftk.testing.datasets) on the datasets this plugin ships (offline)."""

from __future__ import annotations

import os

from swiftk.testing.datasets import DatasetContract

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


class TestSelfCognition(DatasetContract):
    dataset = "swift/self-cognition"  # three subsets: default, qwen3, empty_think
    arguments = ("--model_name", "小A", "Little A", "--model_author", "某人", "Someone")


class TestDemoSft(DatasetContract):
    dataset = "swiftk/demo-sft"


class TestDemoPt(DatasetContract):
    dataset = "swiftk/demo-pt"  # tags: pretrain


class TestDemoDpo(DatasetContract):
    dataset = "swiftk/demo-dpo"  # tags: dpo


class TestDemoKto(DatasetContract):
    dataset = "swiftk/demo-kto"  # tags: kto


class TestDemoGrpoMath(DatasetContract):
    dataset = "swiftk/demo-grpo-math"  # tags: grpo
    columns = ("solution",)


class TestDemoGrpoSums(DatasetContract):
    dataset = "swiftk/demo-grpo-sums"
    columns = ("solution",)
