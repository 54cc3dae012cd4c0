"""A registration file written for ms-swift 3.x, unchanged: it works with swift-kernel too.

    swiftk rlhf --rlhf_type grpo --external_plugins contrib/ms_swift_reward_plugin.py \
        --reward_funcs external_math_format ...

While it loads, ``swift.plugin`` is swift-kernel's compatibility facade (unless ms-swift itself
is installed), and ``orms[...] = ...`` registers a reward function.
"""

import re

from swift.plugin import ORM, orms


class MathFormat(ORM):
    """1.0 when the completion ends with an answer in \\boxed{...}, else 0.0."""

    def __call__(self, completions, **kwargs):
        return [1.0 if re.search(r"\\boxed\{[^}]*\}\s*$", c.strip()) else 0.0 for c in completions]


orms["external_math_format"] = MathFormat
