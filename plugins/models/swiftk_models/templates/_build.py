"""A compact way to declare a chat template in ms-swift's prefix/prompt/chat_sep/suffix form.

Placeholders: ``{{SYSTEM}}``, ``{{QUERY}}``, ``{{ROUND0}}``/``{{ROUND1}}`` (0/1-based round), and
``{{bos_token}}``/``{{eos_token}}`` (the tokenizer's strings); ms-swift's ``[['bos_token_id']]`` and
lists of ids work too.  swift-kernel reads these extra keys (``TemplateMeta.extra``):

* ``special_tokens`` — tokens the tokenizer must hold as single tokens (checked when loading);
* ``strip`` — ``"all"`` trims system, queries and responses, ``"system"`` only the system (as the
  official templates' ``| trim`` / ``.strip()`` do);
* ``system_in_query`` — the system goes inside the first query (``{{SYSTEM}}`` and ``{{QUERY}}``);
* ``response_lead`` — text that starts every response in training but belongs to no prompt (the
  space of ``[/INST] answer``): it is the first thing the model generates;
* ``history_think`` — ``"drop"`` / ``"drop_lstrip"`` removes ``...</think>`` from earlier answers.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from swiftk.api import TemplateMeta


def template_meta(
    name: str,
    *,
    prompt: Sequence[Any],
    chat_sep: Sequence[Any],
    suffix: Sequence[Any],
    prefix: Sequence[Any] = (),
    system_prefix: Optional[Sequence[Any]] = None,
    default_system: Optional[str] = None,
    stop_words: Sequence[str] = (),
    special_tokens: Sequence[str] = (),
    template_cls: Optional[str] = None,
    agent_template: str = "react_en",
    response_prefix: str = "",
    is_thinking: bool = False,
    **extra: Any,
) -> TemplateMeta:
    return TemplateMeta(
        template_type=name,
        prefix=list(prefix),
        prompt=list(prompt),
        chat_sep=list(chat_sep),
        suffix=list(suffix),
        template_cls=template_cls,
        system_prefix=list(system_prefix) if system_prefix is not None else None,
        default_system=default_system,
        response_prefix=response_prefix,
        stop_words=list(stop_words),
        agent_template=agent_template,
        is_thinking=is_thinking,
        extra={"special_tokens": list(special_tokens), **extra},
    )
