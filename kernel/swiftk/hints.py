"""Which distribution provides each built-in name, so that a missing one says what to install.

Only the names the project's own plugins provide are listed; third-party names are found
through their entry points as usual.
"""

from __future__ import annotations

from typing import Optional

#: kind -> name -> distribution
PROVIDERS: dict[str, dict[str, str]] = {
    # sft, pt, rlhf, export and merge-lora are the kernel's own pipelines: what they miss is a trainer or tuner
    "commands": {
        **dict.fromkeys("infer deploy".split(), "swift-plugin-infer"),
        "eval": "swift-plugin-eval",
        "sample": "swift-plugin-sample",
        "rollout": "swift-plugin-vllm",
        **dict.fromkeys(("app", "web-ui"), "swift-plugin-webui"),
    },
    "samplers": dict.fromkeys(("sample", "mcts", "distill"), "swift-plugin-sample"),
    "eval_backends": dict.fromkeys("Native OpenCompass VLMEvalKit".split(), "swift-plugin-eval"),
    "tuners": {
        **dict.fromkeys("lora longlora adalora llamapro adapter vera boft fourierft".split(), "swift-plugin-peft"),
        "reft": "swift-plugin-reft",
        "unsloth": "swift-plugin-unsloth",
        **dict.fromkeys(("full", "dummy"), "swift-plugin-sft"),
        **dict.fromkeys(("ia3", "bone"), "swift-plugin-peft"),
    },
    "trainers": {
        "sft": "swift-plugin-sft",
        **dict.fromkeys("dpo orpo simpo kto cpo rm ppo gkd".split(), "swift-plugin-rlhf"),
        "grpo": "swift-plugin-grpo",
        **dict.fromkeys("embedding reranker generative_reranker".split(), "swift-plugin-embedding"),
    },
    "rewards": {
        **dict.fromkeys("accuracy format cosine repetition".split(), "swift-plugin-grpo"),
        "reward_model": "swift-plugin-rlhf",
    },
    "metrics": dict.fromkeys("acc nlg".split(), "swift-plugin-sft"),
    "losses": {
        **dict.fromkeys("cross_entropy loss_scale".split(), "swift-plugin-sft"),
        **dict.fromkeys(
            "infonce cosine_similarity contrastive online_contrastive reranker generative_reranker listwise_reranker "
            "listwise_generative_reranker".split(),
            "swift-plugin-embedding",
        ),
    },
    "infer_engines": {
        "pt": "swift-plugin-infer",
        "vllm": "swift-plugin-vllm",
        "lmdeploy": "swift-plugin-lmdeploy",
        "reward": "swift-plugin-rlhf",
        **dict.fromkeys("embedding reranker generative_reranker".split(), "swift-plugin-embedding"),
    },
    "optimizers": {"galore": "swift-plugin-galore", "lorap": "swift-plugin-peft", "muon": "swift-plugin-sft"},
    "callbacks": {
        "lisa": "swift-plugin-lisa",
        "adalora": "swift-plugin-peft",
        "logging_jsonl": "swift-plugin-sft",
        "loss_curves": "swift-plugin-sft",
        "early_stop": "swift-plugin-sft",
        "tracker_config": "swift-plugin-trackers",
    },
    "datasets": dict.fromkeys(
        "swift/self-cognition swiftk/demo-sft swiftk/demo-pt swiftk/demo-dpo swiftk/demo-kto swiftk/demo-grpo-math "
        "swiftk/demo-grpo-sums".split(),
        "swift-plugin-datasets",
    ),
    "models": {
        **dict.fromkeys(
            "qwen qwen2 qwen2_5 qwq qwen3 qwen3_moe llama llama2 llama3 llama3_1 llama3_2 mistral mixtral chatglm3 glm4 "
            "internlm2 internlm2_5 internlm3 deepseek deepseek_v2 deepseek_v3 deepseek_r1 deepseek_r1_distill_qwen "
            "deepseek_r1_distill_llama phi3 phi4 gemma gemma2 gemma3 yi baichuan2 minicpm causal_lm".split(),
            "swift-plugin-models",
        ),
        "tiny_chat": "swift-plugin-demo",
        **dict.fromkeys(
            "gemma3_vision paligemma idefics3 internvl_hf llava1_5_hf llava_llama3_hf llava1_6_mistral_hf "
            "llava1_6_vicuna_hf llava1_6_yi_hf llama3_llava_next_hf llava_next_qwen_hf llava_llama3_1_hf "
            "llava_onevision_hf llava_next_video_hf llava_next_video_yi_hf llama3_2_vision qwen2_audio qwen2_vl "
            "qvq qwen2_5_vl internvl internvl2 internvl2_5 minicpmv2_6 minicpmo2_6 ovis1_6 ovis2 mplug_owl3 "
            "xcomposer2_4khd xcomposer2_5 cogvlm2_video phi3_vision llama3_1_omni".split(),
            "swift-plugin-multimodal",
        ),
    },
    "templates": {
        **dict.fromkeys(
            "qwen qwen2_5 qwq qwen3 chatml yi internlm2 llama llama3 llama3_1 llama3_2 mistral chatglm3 glm4 deepseek "
            "deepseek_v2_5 deepseek_r1 phi3 phi4 gemma gemma3 baichuan minicpm default".split(),
            "swift-plugin-models",
        ),
        "tiny_chat": "swift-plugin-demo",
        **dict.fromkeys(
            "gemma3_vision paligemma idefics3 internvl_hf llava1_5_hf llava1_6_mistral_hf llava1_6_vicuna_hf "
            "llava1_6_yi_hf llama3_llava_next_hf llava_llama3_1_hf llava_llama3_hf llava_next_qwen_hf "
            "llava_onevision_hf llava_next_video_hf llama3_2_vision qwen2_audio qwen2_vl qwen2_5_vl qvq internvl "
            "internvl2 internvl2_5 minicpmv2_6 minicpmo2_6 ovis1_6 ovis2 mplug_owl3 ixcomposer2 xcomposer2_4khd "
            "xcomposer2_5 cogvlm2_video phi3_vision llama3_1_omni".split(),
            "swift-plugin-multimodal",
        ),
    },
    "quantizers": dict.fromkeys("bnb hqq eetq gptq awq fp8 w8a8".split(), "swift-plugin-quant"),
    "agent_templates": dict.fromkeys(
        "react_en react_zh glm4 toolbench qwen hermes llama3".split(), "swift-plugin-models"
    ),
    "loss_scales": dict.fromkeys(
        "default last_round all react agentflan alpha_umi qwen hermes ignore_empty_think".split(), "swift-plugin-models"
    ),
}


#: The distributions that answer the ``template_engine``, ``download_model``, ``load_model`` and data provider hooks
#: (named when no installed plugin answers them).
TEMPLATE_ENGINE_PROVIDER = MODEL_DOWNLOAD_PROVIDER = MODEL_LOADER_PROVIDER = "swift-plugin-models"
DATA_PROVIDER = "swift-plugin-datasets"


def distribution_installed(distribution: str) -> bool:
    """True when ``distribution`` is installed (by its metadata; nothing is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(distribution)
        return True
    except PackageNotFoundError:
        return False


#: Commands of ms-swift's page that no swiftk plugin implements yet: saying so beats naming a
#: distribution that does not exist.
NOT_YET: dict[str, dict[str, str]] = {}


def not_yet(kind: str, name: str) -> Optional[str]:
    """Why a page name has no provider yet, or None."""
    return NOT_YET.get(kind, {}).get(name)


def provider_of(kind: str, name: str) -> Optional[str]:
    """The distribution that provides built-in ``name`` of ``kind``, if it is one of ours."""
    return PROVIDERS.get(kind, {}).get(name)
