"""Datasets for the pipelines: ``--dataset`` / ``--val_dataset`` to standard rows, and tokenization.

The work is done by the plugin answering the ``load_datasets`` and ``encode_dataset`` provider hooks
(swift-plugin-datasets, or a third party's that replaces it); this module is the stable entry point the
other pipelines call, and says what to install when no plugin answers.

Standard rows: ``{"messages": [{"role", "content"}, ...]}`` (roles system, user, assistant,
tool, tool_call) plus, when the data has them, ``rejected_response``, ``rejected_messages``,
``label``, ``tools`` (a JSON string), ``images``/``videos``/``audios`` and extra columns such as
``solution`` (kept when ``remove_unused_columns`` is false, and always for GRPO).  Every row
also carries :data:`ORIGIN` (``"data/train.jsonl:17"``) so that a later step can name the line
it rejects; :func:`encode_dataset` drops that column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from swiftk.errors import MissingPluginError

if TYPE_CHECKING:
    from swiftk.arguments.parser import Arguments

#: The column holding each row's origin (file:line, or name[index]).
ORIGIN = "__origin__"


def _answer(hook: str, **kwargs: Any) -> Any:
    """The first plugin's answer to provider hook ``hook``; none: what to install."""
    from swiftk.hints import DATA_PROVIDER
    from swiftk.host import get_host

    answer = getattr(get_host().hook, hook)(**kwargs)
    if answer is None:
        raise MissingPluginError(
            f"{hook.replace('_', ' ')} needs a plugin implementing the {hook} hook, and "
            f"none is installed: pip install {DATA_PROVIDER}",
            DATA_PROVIDER,
        )
    return answer


def load_datasets(args: "Arguments") -> tuple[Any, Optional[Any]]:
    """``(train_dataset, val_dataset or None)`` from ``args``.

    Reads ``dataset``, ``val_dataset``, ``split_dataset_ratio``, ``data_seed``,
    ``dataset_num_proc``, ``streaming`` (+ ``max_steps``), ``enable_cache``, ``download_mode``,
    ``columns``, ``strict``, ``remove_unused_columns``, ``model_name``, ``model_author``,
    ``custom_dataset_info``, ``use_hf``; named datasets come from the ``datasets`` registry.
    Returns ``datasets.Dataset`` objects (``IterableDataset`` with ``--streaming true``).
    Raises :class:`swiftk.errors.UsageError` with the file, line and reason for bad data.
    """
    return _answer("load_datasets", args=args)


def encode_dataset(
    dataset: Any,
    encode_fn: Callable[[dict], dict],
    *,
    num_proc: int = 1,
    lazy: bool = False,
    strict: bool = False,
    load_from_cache_file: bool = False,
    cache_file_name: Optional[str] = None,
    desc: str = "Tokenizing",
) -> Any:
    """Apply a template's ``encode_fn(row) -> dict`` to every row.

    Eager: a ``datasets`` map over ``num_proc`` processes, rows whose encode raises ``ValueError``
    dropped with a summary (or, ``strict``, the first one stops the run naming its origin).
    ``lazy`` (``--lazy_tokenize``): a map-style dataset that encodes in ``__getitem__``.
    An ``IterableDataset`` is encoded lazily as it streams.
    """
    options = dict(
        num_proc=num_proc,
        lazy=lazy,
        strict=strict,
        load_from_cache_file=load_from_cache_file,
        cache_file_name=cache_file_name,
        desc=desc,
    )
    return _answer("encode_dataset", dataset=dataset, encode_fn=encode_fn, options=options)


__all__ = ["load_datasets", "encode_dataset", "ORIGIN"]
