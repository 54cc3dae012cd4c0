"""The page's "生成参数"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from swiftk.arguments.fields import arg


@dataclass
class GenerationArguments:
    """Generation arguments (the seed page's "生成参数")."""

    SECTION = "Generation arguments"
    SECTION_ZH = "生成参数"

    max_new_tokens: Optional[int] = arg(None, "Max new tokens to generate; None means no limit.", hot=True)
    temperature: Optional[float] = arg(
        None, "Sampling temperature (0 means greedy); None reads generation_config.json."
    )
    top_k: Optional[int] = arg(None, "top_k; None reads generation_config.json.")
    top_p: Optional[float] = arg(None, "top_p; None reads generation_config.json.")
    repetition_penalty: Optional[float] = arg(None, "Repetition penalty; None reads generation_config.json.")
    num_beams: int = arg(1, "Number of beams of beam search.")
    stream: bool = arg(
        False,
        "Stream the output: the terminal chat prints answers chunk by chunk; a dataset is answered in "
        "batches, not streamed.",
        hot=True,
    )
    stop_words: List[str] = arg(list, "Extra stop words besides eos_token (kept in the output).")
    logprobs: bool = arg(False, "Return logprobs.")
    top_logprobs: Optional[int] = arg(None, "Number of top logprobs to return.")
