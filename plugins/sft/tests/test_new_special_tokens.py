"""--new_special_tokens (ms-swift 3.12) on the demo model: a LoRA run with --modules_to_save embed_tokens lm_head
(ms-swift's example) saves a tokenizer holding the tokens and the grown embedding, whose new rows train; `swiftk
infer` of its checkpoint loads with the same vocabulary (the tokens come from args.json); a .txt file of tokens
on a full run; a missing .txt file is one line naming the argument."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_sft_e2e import COMMON, swiftk

TOKENS = ["<|tool_a|>", "<|tool_b|>"]
VOCAB, GROWN = 1536, 1664  # the demo model's rows; 1538 tokens rounded up to a multiple of 128


def tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    out = {}
    for path in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(path)))
    return out


def check_tokenizer(folder: Path, tokens: list) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert len(tokenizer) == VOCAB + len(tokens)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    assert ids == list(range(VOCAB, VOCAB + len(tokens)))
    assert set(tokens) <= set(tokenizer.all_special_tokens)
    assert "<|im_start|>" in tokenizer.all_special_tokens  # the template's markers stay special
    assert tokenizer(f"a{tokens[0]}b")["input_ids"].count(ids[0]) == 1  # never split


def infer_rows(tmp_path: Path) -> Path:
    rows = tmp_path / "ask.jsonl"
    rows.write_text(json.dumps({"messages": [{"role": "user", "content": f"hi {TOKENS[0]}"}]}) + "\n")
    return rows


@pytest.mark.slow
def test_lora_run_adds_the_tokens_trains_their_rows_and_infer_loads_them(tmp_path):
    out = tmp_path / "run"
    swiftk("sft", *COMMON, "--train_type", "lora", "--max_steps", "2", "--save_steps", "1", "--learning_rate", "1e-2",
           "--new_special_tokens", *TOKENS, "--modules_to_save", "embed_tokens", "lm_head",
           "--output_dir", str(out))  # fmt: skip
    assert json.loads((out / "args.json").read_text())["new_special_tokens"] == TOKENS
    first, last = out / "checkpoint-1", out / "checkpoint-2"
    check_tokenizer(last, TOKENS)
    before, after = tensors(first), tensors(last)
    heads = [k for k in after if "lm_head" in k or "embed_tokens" in k]
    assert heads, sorted(after)
    for key in heads:
        assert after[key].shape[0] == GROWN, (key, after[key].shape)
    new_rows = [k for k in heads if not (after[k][VOCAB : VOCAB + 2] == before[k][VOCAB : VOCAB + 2]).all()]
    assert new_rows, "the new tokens' rows changed between the two steps"

    # infer of the checkpoint: the base model grows the same way before the adapter (its rows) loads
    result = tmp_path / "answers.jsonl"
    swiftk("infer", "--adapters", str(last), "--val_dataset", str(infer_rows(tmp_path)), "--max_new_tokens", "4",
           "--temperature", "0", "--result_path", str(result))  # fmt: skip
    assert json.loads(result.read_text().splitlines()[0])["response"] is not None
    printed = json.loads(swiftk("infer", "--model", str(last), "--print_args").stdout)
    assert printed["new_special_tokens"] == TOKENS and printed["adapters"] == [str(last)]


@pytest.mark.slow
def test_a_txt_file_of_tokens_on_a_full_run(tmp_path):
    tokens = ["<|x0|>", "<|x1|>", "<|x2|>"]
    listed = tmp_path / "tokens.txt"
    listed.write_text("<|x0|>\n<|x1|>  <|x2|>\n")
    out = tmp_path / "full"
    swiftk("sft", *COMMON, "--train_type", "full", "--max_steps", "1", "--save_steps", "1",
           "--new_special_tokens", str(listed), "--output_dir", str(out))  # fmt: skip
    assert json.loads((out / "args.json").read_text())["new_special_tokens"] == tokens  # the tokens, not the file
    ckpt = out / "checkpoint-1"
    check_tokenizer(ckpt, tokens)
    assert json.loads((ckpt / "config.json").read_text())["vocab_size"] == GROWN
    assert tensors(ckpt)["model.embed_tokens.weight"].shape[0] == GROWN
    result = tmp_path / "answers.jsonl"
    swiftk("infer", "--model", str(ckpt), "--val_dataset", str(infer_rows(tmp_path)), "--max_new_tokens", "4",
           "--temperature", "0", "--result_path", str(result))  # fmt: skip
    assert result.is_file()


def test_a_missing_tokens_file_is_one_line(tmp_path):
    proc = swiftk("sft", *COMMON, "--new_special_tokens", "<|ok|>", str(tmp_path / "nope.txt"),
                  "--output_dir", str(tmp_path / "o"), check=False)  # fmt: skip
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "--new_special_tokens" in errors[0] and "nope.txt: no such file" in errors[0]
    assert not (tmp_path / "o").exists()
