"""The dataset contract suite: the tests every registered ``--dataset`` name (ours or a third party's) should pass.

Subclass :class:`DatasetContract` in a test module and name the dataset; pytest collects the
inherited tests::

    from swiftk.testing.datasets import DatasetContract

    class TestMyQA(DatasetContract):
        dataset = "my-org/my-qa"                   # a registered name (DatasetMeta)
        plugins = ("my_datasets/__init__.py",)     # only if not installed: files or modules to register
        columns = ("solution",)                    # optional: columns every row must carry
        arguments = ("--model_name", "A", "B")     # optional: flags its preprocessing needs

The dataset is loaded as a run loads it (``swiftk.api.load_datasets(args)`` with ``--dataset NAME``),
for the kind of training it feeds: :attr:`kind`, else from the DatasetMeta's ``tags``: ``pretrain``
(``swiftk pt``), ``dpo``/``orpo``/``simpo``/``cpo``/``rm`` (preference pairs), ``kto``, ``grpo``/``ppo``
(prompts), else ``sft``.  Run it offline (``HF_HUB_OFFLINE=1``) to check that the data ships with the
plugin.  What the suite checks:

1. the name is registered;
2. every row is a standard row: ``messages``, a non-empty list of ``{"role", "content"}`` with roles
   among system (first only), user, assistant, tool, tool_call and text contents; sft, dpo and kto
   rows have a user turn and end with the assistant's answer, pt rows end with an assistant text,
   grpo rows have a user turn; dpo rows carry ``rejected_response`` (text) or ``rejected_messages``,
   kto rows a boolean ``label``; ``tools``, when present, is None or a JSON list; the
   :attr:`columns` given are there;
3. every row carries its origin (``swiftk.api.ORIGIN``, a non-empty text naming its file and line);
4. no row is dropped: loading with ``--strict true`` (which stops at the first bad row) succeeds
   and gives as many rows;
5. ``NAME#N`` gives N standard rows of the dataset, and each declared subset (``NAME:subset#N``) loads;
6. loading is deterministic: the same ``--data_seed`` gives the same rows in the same order;
7. ``--split_dataset_ratio`` splits the rows into a non-empty training and validation part that
   together are the whole dataset.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Optional, Sequence

import pytest

__all__ = ["DatasetContract"]

ROLES = ("system", "user", "assistant", "tool", "tool_call")

#: kind -> the command (and flags) a run of that kind loads its data with
KINDS = {
    "sft": ("sft", ()),
    "pt": ("pt", ()),
    "dpo": ("rlhf", ("--rlhf_type", "dpo")),
    "kto": ("rlhf", ("--rlhf_type", "kto")),
    "grpo": ("rlhf", ("--rlhf_type", "grpo")),
}
_TAGS = (
    ("pt", ("pretrain", "pt")),
    ("dpo", ("dpo", "orpo", "simpo", "cpo", "rm")),
    ("kto", ("kto",)),
    ("grpo", ("grpo", "ppo")),
)


class DatasetContract:
    """Inherit, set ``dataset``; see the module docstring."""

    dataset: str = ""
    plugins: Sequence[str] = ()
    kind: Optional[str] = None
    arguments: Sequence[str] = ()
    columns: Sequence[str] = ()
    sample: int = 4
    split_ratio: float = 0.25
    seed: int = 7

    # -- fixtures (one host and one full load per class) -----------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def dataset_host(cls) -> Any:
        from swiftk.testing.plugins import host_with

        with host_with(cls.plugins) as host:
            yield host

    @pytest.fixture(scope="class")
    @classmethod
    def full(cls, dataset_host: Any) -> Any:
        """``(train, error)`` of ``--dataset NAME`` (the error kept, for the tests to report)."""
        try:
            return cls().load(dataset_host, cls.dataset)[0], None
        except Exception as exc:  # reported by every test that needs the rows
            return None, exc

    # -- helpers ----------------------------------------------------------------------------------
    def meta(self, host: Any) -> Any:
        registry = host.registry("datasets")
        return registry.get(self.dataset) if self.dataset in registry else None

    def row_kind(self, host: Any) -> str:
        if self.kind:
            assert self.kind in KINDS, f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}"
            return self.kind
        tags = {str(t).lower() for t in (getattr(self.meta(host), "tags", None) or [])}
        return next((kind for kind, names in _TAGS if tags & set(names)), "sft")

    def load(self, host: Any, spec: str, *flags: str) -> tuple[Any, Optional[Any]]:
        """``(train, val)`` of ``--dataset spec`` for this dataset's kind (``--split_dataset_ratio 0``
        unless ``flags`` give it)."""
        from swiftk.api import load_datasets
        from swiftk.cli.builtin import resolve_arguments

        command, kind_flags = KINDS[self.row_kind(host)]
        argv = ["--dataset", spec, *kind_flags, *self.arguments, *flags]
        if "--split_dataset_ratio" not in argv:
            argv += ["--split_dataset_ratio", "0"]
        return load_datasets(resolve_arguments(command, argv))

    def rows(self, full: tuple[Any, Optional[BaseException]]) -> list[dict]:
        dataset, error = full
        if error is not None:
            pytest.fail(f"--dataset {self.dataset} does not load: {type(error).__name__}: {error}")
        rows = list(dataset)
        assert rows, f"--dataset {self.dataset} gave no rows"
        return rows

    def subsets(self, host: Any) -> list[str]:
        """The subset names the DatasetMeta declares (``default`` alone: none)."""
        names = []
        for subset in getattr(self.meta(host), "subsets", None) or []:
            names.append(subset if isinstance(subset, str) else (subset.name or subset.subset))
        return [] if names in ([], ["default"]) else names

    @staticmethod
    def key(row: dict) -> str:
        """A row as comparable text."""
        return json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)

    def check_row(self, row: dict, kind: str, where: str) -> None:
        """Fail with the row's origin unless it is a standard row of ``kind``."""
        from swiftk.api import ORIGIN

        where = f"--dataset {self.dataset} ({where}, {row.get(ORIGIN, 'no origin')})"
        messages = row.get("messages")
        assert isinstance(messages, list) and messages, f"{where}: no 'messages' list: {row!r}"
        for i, message in enumerate(messages):
            assert isinstance(message, dict) and set(message) >= {"role", "content"}, (
                f"{where}: messages[{i}] is not a {{role, content}} object: {message!r}"
            )
            assert message["role"] in ROLES, (
                f"{where}: messages[{i}] has role {message['role']!r}, not one of {', '.join(ROLES)}"
            )
            assert isinstance(message["content"], str), f"{where}: messages[{i}] content is not text: {message!r}"
            assert message["role"] != "system" or i == 0, f"{where}: a system message at messages[{i}]"
        roles = [m["role"] for m in messages]
        if kind in ("sft", "dpo", "kto", "grpo"):
            assert "user" in roles, f"{where}: no user message: roles {roles}"
        if kind in ("sft", "dpo", "kto", "pt"):
            assert roles[-1] == "assistant", f"{where}: does not end with the assistant's answer: roles {roles}"
        if kind == "dpo":
            rejected, rejected_messages = row.get("rejected_response"), row.get("rejected_messages")
            assert (isinstance(rejected, str) and rejected) or isinstance(rejected_messages, list), (
                f"{where}: a preference row needs rejected_response or rejected_messages"
            )
        if kind == "kto":
            assert isinstance(row.get("label"), (bool, int)) and row["label"] in (0, 1), (
                f"{where}: a kto row needs a true/false label, got {row.get('label')!r}"
            )
        tools = row.get("tools")
        if tools is not None:
            assert isinstance(tools, str) and isinstance(json.loads(tools), list), (
                f"{where}: 'tools' must be None or a JSON list, got {tools!r}"
            )
        for column in self.columns:
            assert row.get(column) is not None, f"{where}: no '{column}'"

    def check_origin(self, row: dict, where: str) -> None:
        from swiftk.api import ORIGIN

        origin = row.get(ORIGIN)
        assert isinstance(origin, str) and origin, (
            f"--dataset {self.dataset} ({where}): a row without its origin column {ORIGIN!r}: {row!r}"
        )

    # -- the contract -------------------------------------------------------------------------------
    def test_the_name_is_registered(self, dataset_host: Any) -> None:
        assert self.dataset in dataset_host.registry("datasets"), f"'{self.dataset}' is not a registered dataset"

    def test_rows_are_standard(self, dataset_host: Any, full: Any) -> None:
        kind = self.row_kind(dataset_host)
        for row in self.rows(full):
            self.check_row(row, kind, kind)

    def test_every_row_carries_its_origin(self, full: Any) -> None:
        for row in self.rows(full):
            self.check_origin(row, "origin")

    def test_no_row_is_dropped(self, dataset_host: Any, full: Any) -> None:
        rows = self.rows(full)
        strict, _ = self.load(dataset_host, self.dataset, "--strict", "true")
        assert len(strict) == len(rows), f"--dataset {self.dataset} --strict true: {len(strict)} rows, not {len(rows)}"

    def test_sampling_and_subsets(self, dataset_host: Any, full: Any) -> None:
        rows = self.rows(full)
        kind = self.row_kind(dataset_host)
        n = min(self.sample, len(rows))
        sampled, _ = self.load(dataset_host, f"{self.dataset}#{n}")
        assert len(sampled) == n, f"--dataset {self.dataset}#{n} gave {len(sampled)} rows"
        everything = {self.key(row) for row in rows}
        for row in sampled:
            self.check_row(row, kind, f"#{n}")
            self.check_origin(row, f"#{n}")
            assert self.key(row) in everything, f"--dataset {self.dataset}#{n}: a row not in the dataset: {row!r}"
        for subset in self.subsets(dataset_host):
            part, _ = self.load(dataset_host, f"{self.dataset}:{subset}#{n}")
            assert len(part) == n, f"--dataset {self.dataset}:{subset}#{n} gave {len(part)} rows"
            for row in part:
                self.check_row(row, kind, f"subset {subset}")
                self.check_origin(row, f"subset {subset}")

    def test_loading_is_deterministic(self, dataset_host: Any, full: Any) -> None:
        n = min(self.sample, len(self.rows(full)))
        for spec, flags in (
            (f"{self.dataset}#{n}", ()),
            (self.dataset, ("--split_dataset_ratio", str(self.split_ratio))),
        ):
            flags = ("--data_seed", str(self.seed), *flags)
            first = [[self.key(r) for r in part or []] for part in self.load(dataset_host, spec, *flags)]
            second = [[self.key(r) for r in part or []] for part in self.load(dataset_host, spec, *flags)]
            assert first == second, f"--dataset {spec} {' '.join(flags)}: two loads gave different rows"

    def test_split_dataset_ratio_splits(self, full: Any, dataset_host: Any) -> None:
        rows = self.rows(full)
        if len(rows) < 2:
            pytest.skip("one row cannot be split")
        train, val = self.load(dataset_host, self.dataset, "--split_dataset_ratio", str(self.split_ratio))
        assert val is not None and len(val) > 0 and len(train) > 0, (
            f"--dataset {self.dataset} --split_dataset_ratio {self.split_ratio}: no validation or training rows"
        )
        for row in val:
            self.check_origin(row, "validation split")
        parts = Counter(self.key(r) for r in train) + Counter(self.key(r) for r in val)
        assert parts == Counter(self.key(r) for r in rows), (
            f"--dataset {self.dataset}: the training and validation parts are not the whole dataset"
        )
