"""The running batch's KV cache, kept in buffers with room to grow.

transformers' ``DynamicLayer`` appends a decoding step's keys by concatenation, which copies the
whole cache of every layer at every step; and the pt engine's batch changes shape at most steps
under load (a sequence finishes, a newcomer joins), which with plain tensors is another copy of
every row. :class:`SlabLayer` keeps one layer's keys and values in buffers with spare rows and
columns, and hands the model views of the live part (``[rows, heads, start:end, dim]``):

- a decoding step writes its column in place;
- a finished row is replaced by the last row (one row copied, not the batch), and leading
  columns no row uses are dropped by moving ``start``;
- newcomers are written into spare rows, right-aligned with the running rows' last column.

Columns before a row's first token are masked by the engine's attention mask, so they may hold
stale values of an earlier row: the buffers start zeroed and only ever receive keys and values
the model computed, so a masked column is always finite and weighs exactly 0.

The buffers are copied into larger ones only when they are full; keys assigned from outside
(``layer.keys = ...``, as transformers' own cache methods do) are adopted the same way.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from transformers.cache_utils import DynamicLayer

#: columns added at the right end of a new buffer (about that many decoding steps before the next copy)
SPARE_COLUMNS = 64
#: rows added to a new buffer beyond those in use (a batch grows by this many before the next copy; not by a
#: factor, as the cache of a large model's batch may take much of a GPU's memory)
SPARE_ROWS = 8


class SlabLayer(DynamicLayer):
    """One layer's keys and values for the running rows (see the module's docstring)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.device = keys.device
        self._adopt(keys, values, rows=keys.shape[0] + SPARE_ROWS, left=0, columns=SPARE_COLUMNS)

    # -- the buffers ------------------------------------------------------------------------------
    def _adopt(self, keys: torch.Tensor, values: torch.Tensor, *, rows: int, left: int, columns: int) -> None:
        """New buffers holding ``keys``/``values`` with ``rows`` rows in all, ``left`` spare columns before
        them and ``columns`` after them."""
        n, heads, width, dim = keys.shape
        self._k = keys.new_zeros(max(rows, n), heads, left + width + columns, dim)
        self._v = values.new_zeros(max(rows, n), values.shape[1], left + width + columns, values.shape[3])
        self._k[:n, :, left : left + width] = keys
        self._v[:n, :, left : left + width] = values
        self._rows, self._start, self._end = n, left, left + width
        self.is_initialized = True
        self._publish()

    def _publish(self) -> None:
        self.keys = self._k[: self._rows, :, self._start : self._end]
        self.values = self._v[: self._rows, :, self._start : self._end]
        self._views = (self.keys, self.values)

    def _own(self) -> None:
        """Adopt keys and values assigned from outside since the last change."""
        if self.keys is not self._views[0] or self.values is not self._views[1]:
            self._adopt(self.keys, self.values, rows=self.keys.shape[0] + SPARE_ROWS, left=0, columns=SPARE_COLUMNS)

    # -- what the model calls -----------------------------------------------------------------------
    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new columns after the last one; the keys and values so far, as views."""
        self._own()
        if not self._rows:  # after reset(): these are the first rows again
            self._adopt(key_states, value_states, rows=key_states.shape[0] + SPARE_ROWS, left=0, columns=SPARE_COLUMNS)
            return self.keys, self.values
        n = key_states.shape[-2]
        if key_states.shape[0] != self._rows:
            raise ValueError(f"{key_states.shape[0]} rows of new keys for a cache of {self._rows} rows")
        if self._end + n > self._k.shape[2]:  # (spare rows left by a burst that has finished go now)
            self._adopt(self.keys, self.values, rows=self._rows + SPARE_ROWS, left=0, columns=max(n, SPARE_COLUMNS))
        self._k[: self._rows, :, self._end : self._end + n] = key_states
        self._v[: self._rows, :, self._end : self._end + n] = value_states
        self._end += n
        self._publish()
        return self.keys, self.values

    def reset(self) -> None:
        """No rows (the buffers stay, for the next ones)."""
        self._rows = self._start = self._end = 0
        self._publish()

    # -- what the engine calls ----------------------------------------------------------------------
    def keep_rows(self, dst: Optional[torch.Tensor], src: Optional[torch.Tensor], rows: int, trim: int) -> None:
        """Copy the rows ``src`` into the rows ``dst`` (1D index tensors, or None for no move), keep the first
        ``rows`` rows, and drop the first ``trim`` columns."""
        self._own()
        if dst is not None and len(dst):
            dst, src = dst.to(self._k.device), src.to(self._k.device)
            live = slice(self._start, self._end)
            self._k[:, :, live].index_copy_(0, dst, self._k[:, :, live].index_select(0, src))
            self._v[:, :, live].index_copy_(0, dst, self._v[:, :, live].index_select(0, src))
        self._rows = rows
        self._start += trim
        self._publish()

    def add_rows(self, keys: torch.Tensor, values: torch.Tensor, width: int) -> None:
        """Append ``keys``/``values`` ([J, heads, w, dim]) as new rows, their last column with the running
        rows' last one; the live part becomes ``width`` columns wide (at least the current width and w)."""
        self._own()
        j, w = keys.shape[0], keys.shape[2]
        if self._end - width < 0 or self._rows + j > self._k.shape[0]:
            grow = max(0, width - (self._end - self._start))
            self._adopt(
                self.keys,
                self.values,
                rows=max(self._k.shape[0], self._rows + j + SPARE_ROWS),
                left=grow,
                columns=SPARE_COLUMNS,
            )
        self._start = self._end - width
        self._k[self._rows : self._rows + j, :, self._end - w : self._end] = keys
        self._v[self._rows : self._rows + j, :, self._end - w : self._end] = values
        self._rows += j
        self._publish()


def compaction(done: list[bool]) -> tuple[list[int], list[tuple[int, int]]]:
    """How a batch whose rows ``done`` have finished closes up: the last kept rows move into the finished
    rows' places (a row copied each, not the batch). Returns, for each kept row in its new place, its old
    row; and the ``(dst, src)`` moves."""
    keep = [i for i, finished in enumerate(done) if not finished]
    n = len(keep)
    moves = list(zip([i for i in range(n) if done[i]], [i for i in keep if i >= n]))
    order = list(range(n))
    for dst, src in moves:
        order[dst] = src
    return order, moves


def running_cache(cache: Any) -> Any:
    """``cache`` (a DynamicCache of the first rows of a batch) with each layer's keys and values in a slab."""
    cache.layers = [SlabLayer(layer.keys, layer.values) for layer in cache.layers]
    return cache
