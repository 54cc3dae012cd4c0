"""Rebuild the demo model ``swiftk/tiny-chat`` from scratch with the project's own commands.

    .venv/bin/python plugins/demo/scripts/build_tiny_chat.py [--pt-epochs 30] [--sft-epochs 3]

1. write the synthetic corpus (make_corpus.py);
2. train a byte-level BPE tokenizer on it (chatml special tokens, a chatml chat template);
3. initialise a small Qwen2-architecture model at random (about 1M parameters, a few MB);
4. ``swiftk pt`` on the text, then ``swiftk sft`` (full) on the conversations;
5. copy the result into ``swiftk_demo/tiny-chat/``, the folder ``--model swiftk/tiny-chat`` loads.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.dirname(HERE)
DATA = os.path.join(PLUGIN, "swiftk_demo", "data")
BUILD = os.path.join(PLUGIN, "build")
TARGET = os.path.join(PLUGIN, "swiftk_demo", "tiny-chat")

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def corpus_lines() -> list[str]:
    lines = [json.loads(row)["text"] for row in open(os.path.join(DATA, "pt.jsonl"), encoding="utf-8")]
    for row in open(os.path.join(DATA, "chat.jsonl"), encoding="utf-8"):
        for message in json.loads(row)["messages"]:
            lines.append(message["content"])
    return lines


def build_tokenizer(folder: str, vocab_size: int = 1536) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", additional_special_tokens=SPECIAL[1:]
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)


def build_model(folder: str) -> None:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=384,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        dtype="float32",
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder)
    print(f"initial model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters in {folder}")


def swiftk(*args: str) -> None:
    cmd = [sys.executable, "-m", "swiftk", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})


def last_checkpoint(output_dir: str) -> str:
    found = sorted(glob.glob(os.path.join(output_dir, "checkpoint-*")), key=lambda p: int(p.rsplit("-", 1)[1]))
    return found[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pt-epochs", type=int, default=20)
    parser.add_argument("--sft-epochs", type=int, default=4)
    opts = parser.parse_args()
    subprocess.run([sys.executable, os.path.join(HERE, "make_corpus.py")], check=True)
    shutil.rmtree(BUILD, ignore_errors=True)
    init = os.path.join(BUILD, "init")
    build_tokenizer(init)
    build_model(init)
    common = [
        "--model_type",
        "tiny_chat",
        "--template",
        "tiny_chat",
        "--train_type",
        "full",
        "--add_version",
        "false",
        "--learning_rate",
        "2e-3",
        "--warmup_ratio",
        "0.05",
        "--weight_decay",
        "0.0",
        "--save_strategy",
        "epoch",
        "--save_total_limit",
        "1",
        "--logging_steps",
        "20",
        "--split_dataset_ratio",
        "0",
        "--gradient_checkpointing",
        "false",
        "--report_to",
        "none",
        "--dataloader_num_workers",
        "0",
    ]
    swiftk(
        "pt",
        "--model",
        init,
        "--dataset",
        os.path.join(DATA, "pt.jsonl"),
        "--output_dir",
        os.path.join(BUILD, "pt"),
        "--num_train_epochs",
        str(opts.pt_epochs),
        "--per_device_train_batch_size",
        "16",
        "--max_length",
        "256",
        *common,
    )
    swiftk(
        "sft",
        "--model",
        last_checkpoint(os.path.join(BUILD, "pt")),
        "--dataset",
        os.path.join(DATA, "chat.jsonl"),
        "--output_dir",
        os.path.join(BUILD, "sft"),
        "--num_train_epochs",
        str(opts.sft_epochs),
        "--per_device_train_batch_size",
        "16",
        "--max_length",
        "128",
        *common,
    )
    final = last_checkpoint(os.path.join(BUILD, "sft"))
    shutil.rmtree(TARGET, ignore_errors=True)
    os.makedirs(TARGET)
    for name in (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
    ):
        if os.path.isfile(os.path.join(final, name)):
            shutil.copy2(os.path.join(final, name), os.path.join(TARGET, name))
    print(f"demo model written to {TARGET}")


if __name__ == "__main__":
    main()
