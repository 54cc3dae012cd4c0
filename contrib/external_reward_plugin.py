"""A swiftk plugin file for ``--external_plugins`` (or ``--custom_register_path``).

    swiftk rlhf --rlhf_type grpo --external_plugins contrib/external_reward_plugin.py \
        --reward_funcs has_answer_tag ...
"""

import swiftk


def has_answer_tag(completions, **columns):
    """1.0 for completions that contain <answer>...</answer>."""
    return [1.0 if "<answer>" in c and "</answer>" in c else 0.0 for c in completions]


@swiftk.hookimpl
def register_rewards(register):
    register("has_answer_tag", has_answer_tag)
