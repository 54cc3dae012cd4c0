"""What the multimodal test files share: commands run in the multimodal venv (.venv-mm, `make mm-env`), the
tiny checkpoints and the colour pictures, and the checks every family passes (template parity with the
family's own processor, LoRA trained and reloaded with identical logits, infer and deploy answering media).
A family's test file is a parametrized list of model types calling these."""

from __future__ import annotations

import atexit
import base64
import json
import os
import queue
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
MM_PYTHON = os.environ.get("SWIFTK_MM_PYTHON") or str(ROOT / ".venv-mm" / "bin" / "python")
#: every multimodal test module's marks
MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(MM_PYTHON), reason=f"no multimodal venv ({MM_PYTHON}); run `make mm-env`"),
]


def env(extra=None) -> dict:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("SWIFTK_", "VIRTUAL_ENV"))}
    out.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}, **(extra or {}))
    return out


class HelperRunner:
    """The tests' helper scripts run in one long-lived Python of the multimodal venv (mm_runner.py), one per
    test worker: each helper would otherwise pay about 4 s of imports.  Started on first use, ended at exit.
    What a helper's C code writes straight to file descriptors 1 and 2 is not kept (Python's prints are)."""

    def __init__(self):
        self.proc = None
        self.replies: queue.Queue = queue.Queue()
        atexit.register(self.close)

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [MM_PYTHON, str(HERE / "mm_runner.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=env(), bufsize=1,
        )  # fmt: skip
        self.replies = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.replies), daemon=True).start()

    @staticmethod
    def _read(stream, replies: queue.Queue) -> None:
        for line in stream:
            replies.put(line)
        replies.put(None)  # the runner ended

    def __call__(self, args: list, timeout: float) -> subprocess.CompletedProcess:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps({"argv": args, "env": env()}) + "\n")
        self.proc.stdin.flush()
        try:
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise subprocess.TimeoutExpired([MM_PYTHON, *args], timeout) from None
        if line is None:  # the helper ended the runner (a crash, os._exit): its own process says how
            self.close()
            return subprocess.run([MM_PYTHON, *args], capture_output=True, text=True, env=env(), timeout=timeout)
        reply = json.loads(line)
        return subprocess.CompletedProcess([MM_PYTHON, *args], reply["returncode"], reply["stdout"], reply["stderr"])

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


#: SWIFTK_MM_RUNNER=0 runs every helper as a process of its own (to tell a helper's fault from shared state)
_RUNNER = HelperRunner() if os.environ.get("SWIFTK_MM_RUNNER", "1") != "0" else None


def run(*args, cwd=None, timeout=600, extra_env=None, input_text=None):
    """``python *args`` in the multimodal venv. Helper scripts go to the shared runner; ``-m`` (swiftk commands)
    and calls with their own working folder, environment or stdin get a process of their own."""
    argv = list(map(str, args))
    if _RUNNER is not None and argv[0] != "-m" and cwd is None and extra_env is None and input_text is None:
        return _RUNNER(argv, timeout)
    return subprocess.run(
        [MM_PYTHON, *argv], capture_output=True, text=True, env=env(extra_env), cwd=cwd, timeout=timeout,
        input=input_text,
    )  # fmt: skip


def swiftk(*args, **kw):
    proc = run("-m", "swiftk", *args, **kw)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def one_line_error(proc) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return errors[0]


def build_tiny(model_type: str, folder: Path) -> Path:
    """A tiny random checkpoint of the family (tiny_vlm.py), named as the family's hub ids are."""
    proc = run(HERE / "tiny_vlm.py", model_type, folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder


def make_colours(root: Path, medium: str = "image") -> Path:
    """Red and blue pictures (or a low and a high tone), and a dataset asking their colour in ms-swift's form
    (a tag and a media column): colours.jsonl, 8 rows."""
    code = (
        "from PIL import Image; import sys, numpy as np, wave\n"
        "Image.new('RGB', (50, 60), (255, 0, 0)).save(sys.argv[1] + '/red.png')\n"
        "Image.new('RGB', (60, 40), (0, 0, 255)).save(sys.argv[1] + '/blue.png')\n"
        "for name, hz in (('red', 220), ('blue', 880)):\n"
        "    with wave.open(sys.argv[1] + f'/{name}.wav', 'wb') as w:\n"
        "        w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)\n"
        "        w.writeframes((np.sin(np.arange(16000) * 2 * np.pi * hz / 16000) * 20000).astype('<i2').tobytes())\n"
    )
    proc = run("-c", code, root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    suffix = {"image": "png", "audio": "wav"}[medium]
    rows = [
        {"messages": [{"role": "user", "content": f"<{medium}>What colour is it?"}, {"role": "assistant", "content": c}],
         f"{medium}s": [str(root / f"{c}.{suffix}")]}
        for c in ("red", "blue")
    ]  # fmt: skip
    (root / "colours.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows * 4))
    return root


def check_template_parity(folder: Path, model_type: str, medium: str = "image") -> dict:
    """The template makes, token for token, what the family's processor makes of its own chat template."""
    proc = run(HERE / "mm_checks.py", "template_parity", folder, medium)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["model_type"] == model_type
    assert all(p["ids"] and p["media"] for p in result["prompts"]), result
    assert result["labelled"].startswith("red"), result  # the loss falls on the answer (and the end of turn) only
    assert "Colour" not in result["labelled"], result
    if medium == "image":
        full, bounded = result["max_pixels"]
        assert bounded <= full
    return result


def weights(folder: Path) -> dict:
    """Each saved tensor's sum: what changed in training."""
    code = (
        "import json, sys, glob; from safetensors.torch import load_file\n"
        "w = {}\n"
        "for f in sorted(glob.glob(sys.argv[1] + '/*.safetensors')): w.update(load_file(f))\n"
        "print(json.dumps({k: float(v.double().sum()) for k, v in w.items()}))\n"
    )
    proc = run("-c", code, folder)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


LOGITS = """
import sys, torch
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor
from PIL import Image
base, ckpt, merged, image = sys.argv[1:5]
processor = AutoProcessor.from_pretrained(merged)
messages = [{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'Colour?'}]}]
text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
inputs = processor(text=[text], images=[Image.open(image).convert('RGB')], return_tensors='pt')
logits = {}
for name, load in (('base', lambda: AutoModelForImageTextToText.from_pretrained(base)),
                   ('adapter', lambda: PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base), ckpt)),
                   ('merged', lambda: AutoModelForImageTextToText.from_pretrained(merged))):
    with torch.no_grad():
        logits[name] = load().eval()(**inputs).logits
print(float((logits['adapter'] - logits['merged']).abs().max()), float((logits['adapter'] - logits['base']).abs().max()))
"""


def check_lora_round_trip(folder: Path, colours: Path, tmp_path: Path, *extra: str) -> Path:
    """LoRA (--freeze_vit true: the LLM only) trains, merges, and the adapter, merged or not, gives the same
    logits, which differ from the base model's. Returns the checkpoint."""
    out = tmp_path / "lora"
    swiftk("sft", "--model", folder, "--dataset", colours / "colours.jsonl", "--max_steps", "3", "--save_steps", "3",
           "--learning_rate", "1e-2", "--output_dir", out, "--add_version", "false", *extra)  # fmt: skip
    ckpt = out / "checkpoint-3"
    config = json.loads((ckpt / "adapter_config.json").read_text())
    assert config["target_modules"], config
    merged = tmp_path / "merged"
    swiftk("export", "--adapters", ckpt, "--merge_lora", "true", "--output_dir", merged)
    proc = run("-c", LOGITS, folder, ckpt, merged, colours / "red.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    to_merged, to_base = map(float, proc.stdout.split())
    assert to_merged < 1e-4 and to_base > 1e-3, (to_merged, to_base)
    return ckpt


def check_infer(ckpt: Path, colours: Path, tmp_path: Path, medium: str = "image") -> list:
    """`swiftk infer` over the colour dataset: 8 answers, the media kept in the result's messages."""
    result = tmp_path / "answers.jsonl"
    swiftk("infer", "--adapters", ckpt, "--val_dataset", colours / "colours.jsonl", "--max_new_tokens", "3",
           "--temperature", "0", "--result_path", result)  # fmt: skip
    lines = [json.loads(line) for line in result.read_text().splitlines()]
    assert len(lines) == 8 and all(line["labels"] in ("red", "blue") for line in lines)
    assert all(line["response"] is not None for line in lines)
    return lines


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def deploy(args: list):
    """A `swiftk deploy` server in the multimodal venv (a context manager with ``base_url``)."""
    sys.path.insert(0, str(ROOT / "plugins" / "infer"))
    from swiftk_infer.testing import DeployProcess

    return DeployProcess(list(map(str, args)), python=MM_PYTHON, env=env())


def data_url(path: Path, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def check_deploy_answers(folder: Path, colours: Path, medium: str = "image") -> dict:
    """`swiftk deploy` answers an OpenAI request with an ``image_url`` (or ``input_audio``) part."""
    if medium == "image":
        part = {"type": "image_url", "image_url": {"url": data_url(colours / "blue.png")}}
    else:
        data = base64.b64encode((colours / "blue.wav").read_bytes()).decode()
        part = {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
    with deploy(["--model", folder]) as server:
        content = [part, {"type": "text", "text": "Colour?"}]
        status, body = post(
            server.base_url + "/chat/completions",
            {"model": folder.name, "messages": [{"role": "user", "content": content}], "max_tokens": 4},
        )
    assert status == 200 and body["choices"][0]["message"]["content"] is not None, body
    assert body["usage"]["prompt_tokens"] > 10, body  # the medium's tokens count
    return body
