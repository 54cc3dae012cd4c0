"""swift-plugin-multimodal on tiny random Qwen2-VL and Qwen2.5-VL checkpoints built from transformers' config
classes, in the multimodal venv (.venv-mm: the CUDA build of torch with its torchvision, which run on CPU;
`make mm-env`): the template against the family's own processor and chat template token for token, LoRA and
full training with --freeze_vit, the adapter reloaded with identical logits, infer over a dataset of images,
deploy answering OpenAI image_url parts, and one-line errors for bad media."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
MM_PYTHON = os.environ.get("SWIFTK_MM_PYTHON") or str(ROOT / ".venv-mm" / "bin" / "python")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(MM_PYTHON), reason=f"no multimodal venv ({MM_PYTHON}); run `make mm-env`"),
]


def _env(extra=None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWIFTK_", "VIRTUAL_ENV"))}
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}, **(extra or {}))
    return env


def run(*args, cwd=None, timeout=600):
    return subprocess.run(
        [MM_PYTHON, *map(str, args)], capture_output=True, text=True, env=_env(), cwd=cwd, timeout=timeout
    )


def swiftk(*args, **kw):
    proc = run("-m", "swiftk", *args, **kw)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def one_line_error(proc) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return errors[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlm")
    folders = {}
    for model_type, name in (("qwen2_vl", "qwen2-vl-tiny"), ("qwen2_5_vl", "qwen2.5-vl-tiny")):
        proc = run(HERE / "tiny_vlm.py", model_type, root / name)
        assert proc.returncode == 0, proc.stderr[-3000:]
        folders[model_type] = root / name
    return folders


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    """Red and blue pictures, and a dataset asking their colour (ms-swift's form: a tag and an images column)."""
    root = tmp_path_factory.mktemp("data")
    code = (
        "from PIL import Image; import sys\n"
        "Image.new('RGB', (50, 60), (255, 0, 0)).save(sys.argv[1] + '/red.png')\n"
        "Image.new('RGB', (60, 40), (0, 0, 255)).save(sys.argv[1] + '/blue.png')\n"
    )
    assert run("-c", code, root).returncode == 0
    rows = [
        {"messages": [{"role": "user", "content": "<image>What colour is it?"}, {"role": "assistant", "content": c}],
         "images": [str(root / f"{c}.png")]}
        for c in ("red", "blue")
    ]  # fmt: skip
    (root / "colours.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows * 4))
    return root


@pytest.mark.parametrize("model_type", ["qwen2_vl", "qwen2_5_vl"])
def test_the_template_is_the_family_processor_token_for_token(tiny, model_type):
    proc = run(HERE / "mm_checks.py", "template_parity", tiny[model_type])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["model_type"] == model_type
    assert all(p["ids"] and p["pixels"] for p in result["prompts"]), result
    assert result["labelled"] == "red<|im_end|>"  # the loss falls on the answer only
    full, bounded = result["max_pixels"]
    assert bounded < full


def _weights(folder) -> dict:
    code = (
        "import json, sys; from safetensors.torch import load_file\n"
        "w = load_file(sys.argv[1] + '/model.safetensors')\n"
        "print(json.dumps({k: float(v.double().sum()) for k, v in w.items()}))\n"
    )
    proc = run("-c", code, folder)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_full_training_freezes_the_vision_tower_as_the_flags_say(tiny, colours, tmp_path):
    base = _weights(tiny["qwen2_5_vl"])
    common = ["--model", tiny["qwen2_5_vl"], "--dataset", colours / "colours.jsonl", "--train_type", "full"]
    common += ["--max_steps", "2", "--save_steps", "2", "--learning_rate", "1e-2", "--add_version", "false"]
    for freeze in ("true", "false"):
        out = tmp_path / f"vit-{freeze}"
        swiftk("sft", *common, "--freeze_vit", freeze, "--output_dir", out)
        after = _weights(out / "checkpoint-2")
        changed = {k for k in base if abs(after[k] - base[k]) > 1e-6}
        # saved in the checkpoints' own layout: visual.* (its merger is the aligner), model.layers.*
        vision = {k for k in changed if k.startswith("visual.") and not k.startswith("visual.merger.")}
        llm = {k for k in changed if k.startswith("model.layers.")}
        assert llm, "the LLM trains"
        assert bool(vision) == (freeze == "false"), sorted(vision)[:5]


def test_lora_trains_reloads_with_identical_logits_and_answers_images(tiny, colours, tmp_path):
    out = tmp_path / "lora"
    swiftk("sft", "--model", tiny["qwen2_vl"], "--dataset", colours / "colours.jsonl", "--max_steps", "3",
           "--save_steps", "3", "--learning_rate", "1e-2", "--output_dir", out, "--add_version", "false")  # fmt: skip
    ckpt = out / "checkpoint-3"
    config = json.loads((ckpt / "adapter_config.json").read_text())
    assert all(".language_model." in m for m in config["target_modules"])  # --freeze_vit true: the LLM only
    merged = tmp_path / "merged"
    swiftk("export", "--adapters", ckpt, "--merge_lora", "true", "--output_dir", merged)
    code = (
        "import sys, torch\n"
        "from peft import PeftModel\n"
        "from transformers import AutoModelForImageTextToText, AutoProcessor\n"
        "from PIL import Image\n"
        "base, ckpt, merged, image = sys.argv[1:5]\n"
        "processor = AutoProcessor.from_pretrained(merged)\n"
        "text = processor.apply_chat_template([{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'Colour?'}]}], add_generation_prompt=True, tokenize=False)\n"
        "inputs = processor(text=[text], images=[Image.open(image)], return_tensors='pt')\n"
        "logits = {}\n"
        "for name, model in (('base', AutoModelForImageTextToText.from_pretrained(base)),\n"
        "                    ('adapter', PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base), ckpt)),\n"
        "                    ('merged', AutoModelForImageTextToText.from_pretrained(merged))):\n"
        "    with torch.no_grad(): logits[name] = model.eval()(**inputs).logits\n"
        "print(float((logits['adapter'] - logits['merged']).abs().max()), float((logits['adapter'] - logits['base']).abs().max()))\n"
    )  # fmt: skip
    proc = run("-c", code, tiny["qwen2_vl"], ckpt, merged, colours / "red.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    to_merged, to_base = map(float, proc.stdout.split())
    assert to_merged < 1e-4 and to_base > 1e-3

    result = tmp_path / "answers.jsonl"
    swiftk("infer", "--adapters", ckpt, "--val_dataset", colours / "colours.jsonl", "--max_new_tokens", "3",
           "--temperature", "0", "--result_path", result)  # fmt: skip
    lines = [json.loads(line) for line in result.read_text().splitlines()]
    assert len(lines) == 8 and all(line["labels"] in ("red", "blue") for line in lines)
    assert lines[0]["messages"][0]["content"][0] == {
        "type": "image_url",
        "image_url": {"url": str(colours / "red.png")},
    }


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_deploy_answers_openai_image_parts(tiny, colours):
    sys.path.insert(0, str(ROOT / "plugins" / "infer"))
    from swiftk_infer.testing import DeployProcess

    picture = "data:image/png;base64," + base64.b64encode((colours / "blue.png").read_bytes()).decode()
    args = ["--model", tiny["qwen2_5_vl"], "--allowed_local_media_path", colours / "inside"]
    (colours / "inside").mkdir(exist_ok=True)
    with DeployProcess(list(map(str, args)), python=MM_PYTHON, env=_env()) as server:
        url = server.base_url + "/chat/completions"

        def ask(image_url: str):
            content = [{"type": "image_url", "image_url": {"url": image_url}}, {"type": "text", "text": "Colour?"}]
            return _post(
                url, {"model": "qwen2.5-vl-tiny", "messages": [{"role": "user", "content": content}], "max_tokens": 4}
            )

        status, body = ask(picture)
        assert status == 200 and body["choices"][0]["message"]["content"] is not None, body
        assert body["usage"]["prompt_tokens"] > 20  # the picture's tokens count
        status, body = ask("https://example.com/cat.png")
        assert status == 400 and "offline" in body["error"]["message"], body
        status, body = ask(str(colours / "inside" / "no-such.png"))
        assert status == 400 and "does not exist" in body["error"]["message"], body
        status, body = ask("file://" + str(colours / "red.png"))  # a file outside --allowed_local_media_path
        assert status == 400 and "--allowed_local_media_path" in body["error"]["message"], body
        (colours / "inside" / "red.png").write_bytes((colours / "red.png").read_bytes())
        assert ask("file://" + str(colours / "inside" / "red.png"))[0] == 200


def test_bad_media_name_the_row(tiny, colours, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "<image><image>Two?"},
                                            {"role": "assistant", "content": "no"}], "images": [str(colours / "red.png")]}) + "\n")  # fmt: skip
    proc = run("-m", "swiftk", "sft", "--model", tiny["qwen2_5_vl"], "--dataset", bad, "--strict", "true",
               "--max_steps", "1", "--split_dataset_ratio", "0", "--output_dir", tmp_path / "o")  # fmt: skip
    error = one_line_error(proc)
    assert "bad.jsonl:1" in error and "2 <image> tags but 1 images" in error
