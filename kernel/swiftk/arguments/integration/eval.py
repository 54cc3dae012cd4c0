"""The page's "评测参数"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from swiftk.arguments.fields import arg


@dataclass
class EvalArguments:
    """Evaluation arguments (the seed page's "评测参数")."""

    SECTION = "Evaluation arguments"
    SECTION_ZH = "评测参数"

    eval_backend: str = arg(
        "Native",
        "Evaluation backend (or one a plugin registers).",
        hot=True,
        choices=("Native", "OpenCompass", "VLMEvalKit"),
        registry="eval_backends",
    )
    eval_dataset: List[str] = arg(list, "Evaluation datasets.", hot=True)
    eval_limit: Optional[int] = arg(None, "Samples per evaluation dataset; None uses all.")
    eval_output_dir: str = arg("eval_output", "Folder of the evaluation results.")
    local_dataset: bool = arg(
        False, "Download the full data package once into ./data and evaluate from it (e.g. CMB).", hot=True
    )
    temperature: float = arg(0.0, "Overrides the generation temperature for evaluation.")
    verbose: bool = arg(False, "Passed to the local deployment started for evaluation.")
    eval_num_proc: int = arg(16, "Max concurrent client requests during evaluation.")
    eval_url: Optional[str] = arg(
        None, "URL of a deployed model to evaluate, e.g. http://localhost:8000/v1; None deploys locally.", hot=True
    )
