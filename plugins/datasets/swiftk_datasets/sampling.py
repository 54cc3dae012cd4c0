"""``#N`` sampling and the train/validation split, as the seed page states them.

* N below the dataset size: N rows drawn at random without repetition;
* N above it: the whole dataset N // size times, plus N % size rows drawn at random;
* ``split_dataset_ratio`` r > 0 (no ``--val_dataset``): max(1, int(min(size, N) * r)) rows go to
  validation before the training part is sampled, so a large N never inflates the validation set.

All draws come from one ``numpy.random.RandomState(data_seed)`` shared by the datasets of a run, in
command-line order, so a run is reproducible.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from swiftk.api import UsageError


def sample_indices(size: int, count: int, rng: np.random.RandomState) -> np.ndarray:
    """Row indices for ``#count`` of a dataset of ``size`` rows."""
    if size <= 0:
        return np.zeros(0, dtype=np.int64)
    repeats, rest = divmod(count, size)
    whole = np.tile(np.arange(size, dtype=np.int64), repeats)
    if rest == 0:
        return whole
    return np.concatenate([whole, rng.permutation(size)[:rest].astype(np.int64)])


def sample(dataset: Any, count: Optional[int], rng: np.random.RandomState) -> Any:
    """``dataset`` with ``#count`` applied (None: unchanged)."""
    if count is None:
        return dataset
    return dataset.select(sample_indices(len(dataset), count, rng))


def split_and_sample(
    dataset: Any, count: Optional[int], ratio: float, rng: np.random.RandomState, what: str
) -> tuple[Any, Optional[Any]]:
    """(train, validation or None) for one ``--dataset`` value."""
    size = len(dataset)
    if ratio <= 0:
        return sample(dataset, count, rng), None
    wanted = size if count is None else count
    val_size = max(int(min(size, wanted) * ratio), 1)
    train_count = wanted - val_size
    if train_count <= 0 or val_size >= size:
        raise UsageError(
            f"{what}: {size} rows are too few to split off {val_size} for validation "
            f"(--split_dataset_ratio {ratio}); add rows, lower the ratio, set it to 0, "
            f"or pass --val_dataset"
        )
    order = rng.permutation(size)
    val = dataset.select(np.sort(order[:val_size]))
    train = dataset.select(np.sort(order[val_size:]))
    return sample(train, None if count is None else train_count, rng), val
