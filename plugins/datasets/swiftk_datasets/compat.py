"""ms-swift's preprocessor classes, as row functions, for registration files written for ms-swift.

An ms-swift file subclasses ``ResponsePreprocessor`` (or ``MessagesPreprocessor``...) and
overrides ``preprocess(row)``, calling ``super().preprocess(...)`` with a row in one of the known
forms.  Here every form is recognised after the function returns, so the base ``preprocess``
only hands the row on; ``columns`` (``columns_mapping``) renames are applied first, and
``MessagesPreprocessor``'s role/content keys tell the standardizer how messages are spelled.
"""

from __future__ import annotations

from typing import Any, Optional


class RowPreprocessor:
    """A row function: ``preprocessor(row) -> row or None`` (None drops the row)."""

    def __init__(
        self, *, columns: Optional[dict] = None, columns_mapping: Optional[dict] = None, **kwargs: Any
    ) -> None:
        self.columns = {**(columns_mapping or {}), **(columns or {})}
        self.options = kwargs

    def preprocess(self, row: dict) -> Optional[dict]:
        return row

    def __call__(self, row: dict) -> Optional[dict]:
        if self.columns:
            row = {self.columns.get(k, k): v for k, v in row.items()}
        return self.preprocess(row)

    def __repr__(self) -> str:  # part of the cache key
        return f"{type(self).__module__}.{type(self).__qualname__}({self.columns!r}, {self.options!r})"


class ResponsePreprocessor(RowPreprocessor):
    """query/response rows (ms-swift's name for them)."""


class AlpacaPreprocessor(RowPreprocessor):
    """instruction/input/output rows."""


class AutoPreprocessor(RowPreprocessor):
    """Any supported form."""


class MessagesPreprocessor(RowPreprocessor):
    """Conversation rows; the keyword arguments say how roles and contents are spelled."""

    def __init__(
        self,
        *,
        role_key: Optional[str] = None,
        content_key: Optional[str] = None,
        user_role: Optional[str] = None,
        assistant_role: Optional[str] = None,
        system_role: str = "system",
        tool_role: str = "tool",
        columns: Optional[dict] = None,
        columns_mapping: Optional[dict] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(columns=columns, columns_mapping=columns_mapping, **kwargs)
        self.messages_style = {
            k: v
            for k, v in dict(
                role_key=role_key,
                content_key=content_key,
                user_role=user_role,
                assistant_role=assistant_role,
                system_role=system_role,
                tool_role=tool_role,
            ).items()
            if v
        }


__all__ = ["RowPreprocessor", "ResponsePreprocessor", "AlpacaPreprocessor", "AutoPreprocessor", "MessagesPreprocessor"]
