"""Every registered model type: a tiny checkpoint in a folder named like the real model (its tokenizer
carrying the family's official chat template) is detected, loads, encodes a 3-turn conversation and
takes one forward/backward step with the loss only on the assistant's tokens; its generation prompt
equals what the official template renders with the tokenizer transformers loads."""

from __future__ import annotations

import pytest
import torch

import swiftk
from models_helpers import ANSWER1, ANSWER2, ANSWER3, USER1, USER2, USER3, official, row, to_hf
from swiftk.cli.builtin import resolve_arguments
from swiftk.pipelines.model import get_template, load_model_and_processor
from swiftk.testing.tiny import build_tiny_checkpoint

#: model type -> the folder name of one real checkpoint (detection reads it, as ms-swift does).
FOLDERS = {
    "qwen": "Qwen-1_8B-Chat",
    "qwen2": "Qwen2-0.5B-Instruct",
    "qwen2_5": "Qwen2.5-0.5B-Instruct",
    "qwq": "QwQ-32B",
    "qwen3": "Qwen3-0.6B",
    "qwen3_moe": "Qwen3-30B-A3B",
    "llama": "llama-7b",
    "llama2": "Llama-2-7b-chat-hf",
    "llama3": "Meta-Llama-3-8B-Instruct",
    "llama3_1": "Llama-3.1-8B-Instruct",
    "llama3_2": "Llama-3.2-1B-Instruct",
    "mistral": "Mistral-7B-Instruct-v0.2",
    "mixtral": "Mixtral-8x7B-Instruct-v0.1",
    "chatglm3": "chatglm3-6b",
    "glm4": "glm-4-9b-chat-hf",
    "internlm2": "internlm2-chat-1_8b",
    "internlm2_5": "internlm2_5-7b-chat",
    "internlm3": "internlm3-8b-instruct",
    "deepseek": "deepseek-llm-7b-chat",
    "deepseek_v2": "DeepSeek-V2-Lite-Chat",
    "deepseek_v3": "DeepSeek-V3",
    "deepseek_r1": "DeepSeek-R1",
    "deepseek_r1_distill_qwen": "DeepSeek-R1-Distill-Qwen-1.5B",
    "deepseek_r1_distill_llama": "DeepSeek-R1-Distill-Llama-8B",
    "phi3": "Phi-3.5-mini-instruct",
    "phi4": "phi-4",
    "gemma": "gemma-2b-it",
    "gemma2": "gemma-2-2b-it",
    "gemma3": "gemma-3-1b-it",
    "yi": "Yi-1.5-6B-Chat",
    "baichuan2": "Baichuan2-7B-Chat",
    "minicpm": "MiniCPM-2B-sft-bf16",
    "causal_lm": "my-own-model",
}


def _our_model_types() -> list[str]:
    return [e.name for e in swiftk.get_host().registry("models").entries() if e.plugin == "models"]


def test_every_model_type_has_a_folder_name():
    assert sorted(_our_model_types()) == sorted(FOLDERS)


@pytest.mark.parametrize("model_type", sorted(FOLDERS))
def test_detect_load_encode_and_train_one_step(model_type, tmp_path):
    template_name = swiftk.get_host().registry("models").get(model_type).template
    folder = build_tiny_checkpoint(model_type, tmp_path / FOLDERS[model_type], chat_template=official(template_name))
    args = resolve_arguments("sft", ["--model", str(folder)])
    model, tokenizer, info = load_model_and_processor(args)
    assert info.model_type == model_type
    assert model.model_info is info and model.model_meta.model_type == model_type
    template = get_template(args, tokenizer, info)
    assert template.template_type == info.template_type
    encoded = template.encode(row("multi"))
    labels = encoded["labels"]
    trained = tokenizer.decode([t for t, lab in zip(encoded["input_ids"], labels) if lab != -100])
    for answer in (ANSWER1, ANSWER2, ANSWER3):
        assert answer.strip() in trained
    for question in (USER1, USER2, USER3):
        assert question not in trained
    prompt = template.encode(row("gen_nosys"), add_generation_prompt=True)["input_ids"]
    text = tokenizer.apply_chat_template(
        to_hf(row("gen_nosys"), template_name)[0], add_generation_prompt=True, tokenize=False
    )
    assert prompt == tokenizer(text, add_special_tokens=False)["input_ids"]
    batch = template.data_collator([encoded])
    model.train()
    loss = model(**batch).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
