"""Helpers shared by the rlhf plugin tests (imported by name: no conftest.py in plugin test folders,
the kernel's tests import their own ``conftest`` module by name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

DATA = Path(__file__).resolve().parents[3] / "plugins" / "datasets" / "swiftk_datasets" / "data"
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRL_EXPERIMENTAL_SILENCE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
os.environ.update(OFFLINE)

#: flags every training run of the tests shares (the demo model, small batches, no extras)
COMMON = [
    "--model",
    "swiftk/tiny-chat",
    "--split_dataset_ratio",
    "0",
    "--per_device_train_batch_size",
    "4",
    "--max_length",
    "128",
    "--gradient_checkpointing",
    "false",
    "--dataloader_num_workers",
    "0",
    "--add_version",
    "false",
    "--report_to",
    "none",
    "--disable_tqdm",
    "true",
    "--logging_steps",
    "1",
]


def dataset_for(rlhf_type: str) -> str:
    return "swiftk/demo-kto" if rlhf_type == "kto-label" else "swiftk/demo-dpo"


def rlhf(output_dir: Any, *argv: str) -> Path:
    """``swiftk rlhf COMMON argv --output_dir output_dir`` in this process (the imports are paid once)."""
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        code, _ = invoke("rlhf", [*COMMON, *argv, "--output_dir", str(output_dir)], launch=False)
    assert code == 0
    return Path(output_dir)


def infer(*argv: str) -> list[dict]:
    """``swiftk infer argv`` over two questions in this process; the result rows."""
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    result = Path(os.environ.get("PYTEST_TMP", "/tmp")) / f"infer-{os.getpid()}-{abs(hash(argv))}.jsonl"
    with HostScope(autoload=True):
        code, _ = invoke(
            "infer",
            [
                *argv,
                "--val_dataset",
                "swiftk/demo-dpo#2",
                "--max_new_tokens",
                "6",
                "--temperature",
                "0",
                "--result_path",
                str(result),
            ],
            launch=False,
        )
    assert code == 0
    return [json.loads(line) for line in result.read_text().splitlines()]


def cli(*args: str, env: Optional[dict] = None, check: bool = True, timeout: int = 600):
    """``python -m swiftk args`` in a subprocess (the real command line)."""
    full_env = {**os.environ, **OFFLINE, "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def logs(output_dir: Any) -> list[dict]:
    return [json.loads(line) for line in Path(output_dir, "logging.jsonl").read_text().splitlines()]


def train_logs(output_dir: Any) -> list[dict]:
    return [r for r in logs(output_dir) if "loss" in r and "train_runtime" not in r]


def last_checkpoint(output_dir: Any) -> Path:
    return Path(json.loads(Path(output_dir, "run_summary.json").read_text())["last_model_checkpoint"])


def assert_run_outputs(output_dir: Any, rlhf_type: str, train_type: str) -> Path:
    """args.json (in the run and its checkpoints), an atomic checkpoint with weights, the summary."""
    output_dir = Path(output_dir)
    saved = json.loads((output_dir / "args.json").read_text())
    assert saved["rlhf_type"] == rlhf_type and saved["train_type"] == train_type
    ckpt = last_checkpoint(output_dir)
    assert ckpt.is_dir() and (ckpt / "args.json").is_file() and (ckpt / "trainer_state.json").is_file()
    weights = "adapter_model.safetensors" if train_type == "lora" else "model.safetensors"
    assert (ckpt / weights).is_file(), sorted(p.name for p in ckpt.iterdir())
    assert (ckpt / "optimizer.pt").is_file() and not (output_dir / ".staging").exists()
    assert not (ckpt / "ref").exists()  # the LoRA reference is the base model, never a saved copy
    return ckpt


# --- what the models learned --------------------------------------------------------------------

_BASE: dict = {}


def base_parts():
    """(tokenizer, template) of the demo model, loaded once."""
    if not _BASE:
        from swiftk.cli.builtin import resolve_arguments
        from swiftk.pipelines.model import get_template, load_model_and_processor
        from swiftk.testing import HostScope

        with HostScope(autoload=True):
            args = resolve_arguments("rlhf", ["--model", "swiftk/tiny-chat"])
            _, processor, info = load_model_and_processor(args, load_model=False)
            _BASE["template"] = get_template(args, processor, info, mode="train")
            _BASE["model_dir"] = info.model_dir
    return _BASE["template"], _BASE["model_dir"]


def load_policy(checkpoint: Optional[Any] = None):
    """The demo model, or a checkpoint of it (adapter or full), in eval mode."""
    from transformers import AutoModelForCausalLM

    _, model_dir = base_parts()
    if checkpoint is not None and not Path(checkpoint, "adapter_config.json").is_file():
        return AutoModelForCausalLM.from_pretrained(str(checkpoint)).eval()
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if checkpoint is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(checkpoint))
    return model.eval()


def preference_rows() -> list[dict]:
    return [json.loads(line) for line in (DATA / "demo_dpo.jsonl").read_text().splitlines()]


def pair_margin(model: Any) -> float:
    """Mean over the demo preference pairs of log p(chosen answer) - log p(rejected answer), per token."""
    import torch

    from swiftk_rlhf.encode import encode_pair

    template, _ = base_parts()
    total = 0.0
    rows = preference_rows()
    for row in rows:
        prompt, chosen, rejected = encode_pair(template, row)
        logps = []
        for answer in (chosen, rejected):
            ids = torch.tensor([prompt + answer])
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
            logps.append(torch.log_softmax(logits.float(), -1).gather(-1, ids[0, len(prompt) :, None]).mean().item())
        total += logps[0] - logps[1]
    return total / len(rows)


def perturbed_copy(folder: Any, scale: float = 0.3, seed: int = 0) -> Path:
    """The demo model with every weight moved by ``scale`` of its spread (same tokenizer and vocabulary): a
    distinct teacher or reference model."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    _, model_dir = base_parts()
    folder = Path(folder)
    shutil.copytree(model_dir, folder, dirs_exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * scale * param.std())
    model.save_pretrained(folder)
    return folder
