"""Later ms-swift 3.x spellings of the page's arguments, accepted beside the page's names.

ms-swift renamed some arguments after v3.2 (the vLLM and LMDeploy engine arguments gained a ``vllm_`` /
``lmdeploy_`` prefix on every command, ``tools_prompt`` became ``agent_template``) and some values gained
forms (transformers' attention names; ``--save_total_limit -1``). A command line written for a later
release is read as the page's: the value goes to the page's argument, which ``args.json`` records, and
``--help`` lists the later name beside it. A name that is an argument of the command itself (GRPO's own
``--vllm_gpu_memory_utilization``) is never an alias there.
"""

from __future__ import annotations

from typing import Any, Callable, Optional


#: later name -> the page's name
ALIASES: dict[str, str] = {
    "vllm_gpu_memory_utilization": "gpu_memory_utilization",
    "vllm_tensor_parallel_size": "tensor_parallel_size",
    "vllm_pipeline_parallel_size": "pipeline_parallel_size",
    "vllm_max_num_seqs": "max_num_seqs",
    "vllm_max_model_len": "max_model_len",
    "vllm_enforce_eager": "enforce_eager",
    "vllm_limit_mm_per_prompt": "limit_mm_per_prompt",
    "vllm_enable_prefix_caching": "enable_prefix_caching",
    "vllm_disable_custom_all_reduce": "disable_custom_all_reduce",
    "lmdeploy_tp": "tp",
    "lmdeploy_session_len": "session_len",
    "lmdeploy_cache_max_entry_count": "cache_max_entry_count",
    "lmdeploy_quant_policy": "quant_policy",
    "lmdeploy_vision_batch_size": "vision_batch_size",
    "num_sampling_batch_size": "num_sampling_per_gpu_batch_size",
    "num_sampling_batches": "num_sampling_per_gpu_batches",
    "agent_template": "tools_prompt",
    "load_from_cache_file": "enable_cache",
    "init_lora_weights": "init_weights",  # peft's name, used by ms-swift's tuner examples (pissa, olora)
}


def _attn_impl(token: str) -> Optional[str]:
    later = {"flash_attention_2": "flash_attn", "flash_attn": "flash_attn", "sdpa": "sdpa", "eager": "eager"}
    if token in later:
        return later[token]
    return token  # flash_attention_3 is its own choice; anything else is refused by the choices, naming them


def _save_total_limit(token: str) -> Optional[str]:
    return "None" if token.strip() == "-1" else token  # later ms-swift: -1 keeps every checkpoint


#: the page's name -> a function of one command-line token giving the token the page's argument reads
VALUE_FORMS: dict[str, Callable[[str], Any]] = {
    "attn_impl": _attn_impl,
    "save_total_limit": _save_total_limit,
}


def page_name(name: str, known: Any) -> str:
    """The page's name for ``name`` on a command whose arguments are ``known`` (``name`` itself when it is
    one of them, or not an alias)."""
    if name in known:
        return name
    target = ALIASES.get(name)
    return target if target is not None and target in known else name


def page_tokens(name: str, tokens: list[str]) -> list[str]:
    form = VALUE_FORMS.get(name)
    return [form(t) for t in tokens] if form else tokens


def aliases_of(name: str) -> list[str]:
    """The later names that mean the page's ``name`` (for ``--help``)."""
    return [later for later, page in ALIASES.items() if page == name]
