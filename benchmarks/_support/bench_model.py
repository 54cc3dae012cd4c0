"""The fixed model and data the side-by-side benchmarks train: a 4-layer Qwen2 (hidden 256, about 4M
parameters) with the demo tokenizer, and rows cut from the demo corpus in each command's form."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: ms-swift's side venv (python -m venv benchmarks/.venv-mswift; pip install torch==2.13.0 ms-swift==4.6.0 math-verify)
MSWIFT = os.path.join(ROOT, "benchmarks", ".venv-mswift", "bin", "swift")


def build_model(folder: str) -> int:
    """Save the model and tokenizer under ``folder``; its parameter count."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from swiftk_demo import MODEL_DIR

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def corpus_rows(rows: int) -> list[dict]:
    """The first ``rows`` conversations of the demo corpus (made by its script if absent)."""
    from swiftk_demo import MODEL_DIR

    source = os.path.join(os.path.dirname(MODEL_DIR), "data", "chat.jsonl")
    if not os.path.exists(source):
        script = os.path.join(ROOT, "plugins", "demo", "scripts", "make_corpus.py")
        subprocess.run([sys.executable, script], check=True, stdout=subprocess.DEVNULL)
    with open(source) as f:
        return [json.loads(line) for _, line in zip(range(rows), f)]


def write_rows(path: str, kind: str, rows: int) -> None:
    """``kind``: sft (the corpus), dpo (chosen = the answer, rejected = the next row's), kto (alternately the
    answer, labelled true, and the next row's, labelled false), grpo (the shipped sums: query + solution)."""
    if kind == "grpo":
        from swiftk_datasets.plugin import DATA_DIR

        with open(os.path.join(DATA_DIR, "demo_grpo_sums.jsonl")) as f:
            lines = [line for _, line in zip(range(rows), f)]
        with open(path, "w") as out:
            out.writelines(lines)
        return
    convs = corpus_rows(rows + 1)
    with open(path, "w") as out:
        for i in range(rows):
            messages, other = convs[i]["messages"], convs[i + 1]["messages"][-1]["content"]
            if kind == "dpo":
                row = {"messages": messages, "rejected_response": other}
            elif kind == "kto":
                good = i % 2 == 0
                row = {
                    "messages": messages[:-1]
                    + [{"role": "assistant", "content": messages[-1]["content"] if good else other}],
                    "label": good,
                }
            else:
                row = {"messages": messages}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
