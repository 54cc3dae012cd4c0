"""The page's "模板参数"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from swiftk.arguments.fields import arg


#: --loss_scale values swift-plugin-models registers (listed in --help; a plugin may register more)
LOSS_SCALES = (
    "default",
    "last_round",
    "all",
    "react",
    "agentflan",
    "alpha_umi",
    "qwen",
    "hermes",
    "ignore_empty_think",
)


@dataclass
class TemplateArguments:
    """Template arguments (the seed page's "模板参数")."""

    SECTION = "Template arguments"
    SECTION_ZH = "模板参数"

    template: Optional[str] = arg(None, "Chat template type; None picks the model's template.", hot=True)
    system: Optional[str] = arg(
        None, "System prompt, or a .txt file holding it; None uses the template's default.", hot=True
    )
    max_length: Optional[int] = arg(
        None,
        "Max tokens per sample (max prompt length for PPO, GRPO and inference); None uses max_model_len.",
        hot=True,
    )
    truncation_strategy: Literal["delete", "left", "right"] = arg(
        "delete", "What to do with a sample over max_length: delete it, or truncate left/right."
    )
    max_pixels: Optional[int] = arg(
        None, "Max pixels (H*W) of an input image of a multimodal model; larger ones are resized.", hot=True
    )
    tools_prompt: str = arg(
        "react_en",
        "Format turning the tool list into the system prompt: react_en, react_zh, glm4, "
        "toolbench, qwen, or a registered agent template.",
        choices=("react_en", "react_zh", "glm4", "toolbench", "qwen"),
        registry="agent_templates",
    )
    norm_bbox: Optional[Literal["norm1000", "none"]] = arg(
        None, "Bounding-box scaling: norm1000 or none; None picks per model."
    )
    padding_side: Literal["left", "right"] = arg(
        "right", "Padding side in training with batch_size >= 2 (inference always pads left)."
    )
    loss_scale: str = arg(
        "default",
        "Loss weights of tokens: default, last_round, all, or an agent loss_scale "
        "(react, agentflan, alpha_umi, qwen, hermes), ignore_empty_think, or a registered one.",
        choices=LOSS_SCALES,
        registry="loss_scales",
    )
    sequence_parallel_size: int = arg(
        1, "Sequence parallel size; swiftk has no sequence parallelism yet, so values above 1 are refused."
    )
    use_chat_template: bool = arg(True, "Use the chat template (else the generation template; swift pt sets it).")
    template_backend: Literal["swift", "jinja"] = arg(
        "swift", "Template backend; jinja uses transformers' apply_chat_template (inference only)."
    )
