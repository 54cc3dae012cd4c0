"""``swift/self-cognition``: who-are-you pairs with ``{{NAME}}`` and ``{{AUTHOR}}`` filled in.

As in ms-swift, ``--model_name ZH EN`` and ``--model_author ZH EN`` replace the placeholders,
Chinese rows (``tag: zh``) taking the first value and English rows the second; the ``qwen3`` and
``empty_think`` subsets add an empty thinking block to each answer (and ``/no_think`` to each
question for qwen3).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from swiftk.api import UsageError

DATASET_ID = "swift/self-cognition"
EMPTY_THINK = "<think>\n\n</think>\n\n"


@dataclass(frozen=True)
class SelfCognition:
    """A row function for the self-cognition rows ``{query, response, tag}``."""

    query_suffix: str = ""
    response_prefix: str = ""
    name: Optional[tuple[str, str]] = None
    author: Optional[tuple[str, str]] = None

    def configure(self, options: Any) -> "SelfCognition":
        """Bind ``--model_name`` / ``--model_author``; refuse to run without them."""
        missing = [
            flag
            for flag, value in (("--model_name", options.model_name), ("--model_author", options.model_author))
            if value is None
        ]
        if missing:
            raise UsageError(
                f"--dataset {DATASET_ID} needs {' and '.join(missing)}: its answers contain "
                f"{{{{NAME}}}} and {{{{AUTHOR}}}}; pass the Chinese and English values, e.g. "
                f"--model_name 小黄 'Xiao Huang' --model_author 魔搭 ModelScope"
            )
        return replace(self, name=options.model_name, author=options.model_author)

    def __call__(self, row: dict) -> dict:
        lang = 1 if str(row.pop("tag", "en")).lower().startswith("en") else 0
        query, response = row.get("query") or "", row.get("response") or ""
        for placeholder, pair in (("{{NAME}}", self.name), ("{{AUTHOR}}", self.author)):
            if pair is not None:
                query = query.replace(placeholder, pair[lang])
                response = response.replace(placeholder, pair[lang])
        row["query"] = query + self.query_suffix
        row["response"] = self.response_prefix + response
        return row


default = SelfCognition()
qwen3 = SelfCognition(query_suffix=" /no_think", response_prefix=EMPTY_THINK)
empty_think = SelfCognition(response_prefix=EMPTY_THINK)
