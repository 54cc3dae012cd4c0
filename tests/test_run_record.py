"""A run records what it resolved (args.json), and every later command that reads the run uses it.

One real LoRA run trains a tiny model from a folder whose name gives no hint, with its template
provided by a separately installed distribution; the tests then read that run as infer, export,
rlhf and --config would.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from kernel_support import one_line_error, run_swiftk

TEMPLATE_DIST = "swift-plugin-mytemplates"
TEMPLATE_PLUGIN = '''
import swiftk
from swiftk.specs import TemplateMeta


@swiftk.hookimpl
def register_templates(register):
    register("mytpl", TemplateMeta("mytpl", prefix=[], prompt=["Q: {{QUERY}}\\nA: "], chat_sep=["\\n"],
                                   suffix=[["eos_token_id"]], default_system=None, stop_words=["Q:"]))
'''


def demo_model_dir() -> Path:
    import swiftk_demo

    return Path(swiftk_demo.__file__).resolve().parent / "tiny-chat"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(the copied model folder, the run folder, PYTHONPATH holding the template's distribution)."""
    root = tmp_path_factory.mktemp("record")
    model = root / "mystery"  # nothing in the name says qwen2 or tiny-chat
    shutil.copytree(demo_model_dir(), model)
    site = root / "site"
    site.mkdir()
    (site / "mytemplates_plugin.py").write_text(TEMPLATE_PLUGIN)
    info = site / "swift_plugin_mytemplates-2.5.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {TEMPLATE_DIST}\nVersion: 2.5\n")
    (info / "entry_points.txt").write_text("[swiftk]\nmytemplates = mytemplates_plugin\n")
    out = root / "run"
    result = run_swiftk(
        "sft",
        "--model",
        str(model),
        "--template",
        "mytpl",
        "--dataset",
        "swiftk/demo-sft#16",
        "--split_dataset_ratio",
        "0",
        "--train_type",
        "lora",
        "--max_steps",
        "2",
        "--save_steps",
        "1",
        "--learning_rate",
        "1e-2",
        "--max_length",
        "128",
        "--report_to",
        "none",
        "--add_version",
        "false",
        "--output_dir",
        str(out),
        env={"PYTHONPATH": str(site)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return model, out, site, result


@pytest.mark.slow
def test_args_json_records_what_the_run_resolved(trained):
    model, out, _, _ = trained
    for folder in (out, out / "checkpoint-1", out / "checkpoint-2"):
        saved = json.loads((folder / "args.json").read_text())
        assert saved["model_type"] == "qwen2" and saved["template"] == "mytpl", folder
        assert saved["model_dir"] == str(model)
        assert saved["torch_dtype"] == "float32" and saved["max_length"] == 128 and saved["train_type"] == "lora"
        assert saved["resolved"]["target_modules"] == [
            "down_proj",
            "gate_proj",
            "k_proj",
            "o_proj",
            "q_proj",
            "up_proj",
            "v_proj",
        ]
        assert saved["resolved"]["stop_words"][0] == "Q:"
        plugins = saved["plugins"]
        assert plugins["template"] == {
            "name": "mytpl",
            "plugin": "mytemplates",
            "distribution": TEMPLATE_DIST,
            "version": "2.5",
        }
        assert plugins["model_type"]["distribution"] == "swift-plugin-models"
        assert plugins["tuner"]["distribution"] == "swift-plugin-peft"
        assert plugins["trainer"]["name"] == "sft" and plugins["trainer"]["distribution"] == "swift-plugin-sft"
        assert plugins["datasets"]["swiftk/demo-sft#16"]["distribution"] == "swift-plugin-datasets"


@pytest.mark.slow
def test_the_first_encoded_sample_is_shown_once(trained):
    stdout = trained[3].stdout
    assert stdout.count("[INPUT_IDS]") == 1 and stdout.count("[LABELS]") == 1, stdout
    inputs = next(l for l in stdout.splitlines() if l.startswith("[INPUT] "))
    labels = next(l for l in stdout.splitlines() if l.startswith("[LABELS] "))
    assert inputs.startswith("[INPUT] Q: ")  # the plugin's template, not the model's chatml
    assert labels.startswith("[LABELS] [-100 * ") and "-100" not in labels[len("[LABELS] [-100 * ") :]


@pytest.mark.slow
def test_infer_stops_naming_the_distribution_of_a_missing_template(trained):
    _, out, site, _ = trained
    ckpt = str(out / "checkpoint-2")
    missing = run_swiftk("infer", "--adapters", ckpt, "--max_new_tokens", "4")
    line = one_line_error(missing)
    assert "template 'mytpl'" in line and f"pip install {TEMPLATE_DIST}" in line and "2.5" in line, line
    disabled = run_swiftk(
        "infer",
        "--adapters",
        ckpt,
        "--max_new_tokens",
        "4",
        env={"PYTHONPATH": str(site), "SWIFTK_DISABLED_PLUGINS": "mytemplates"},
    )
    line = one_line_error(disabled)
    assert "template 'mytpl'" in line and "installed but not loaded" in line, line


@pytest.mark.slow
def test_infer_uses_the_recorded_model_and_template(trained, tmp_path):
    model, out, site, _ = trained
    ckpt = out / "checkpoint-2"
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "What is the capital of France?"}]}) + "\n")
    result_path = tmp_path / "answers.jsonl"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    # from another folder, with the adapter given as --model: base model and template come from args.json
    shown = run_swiftk("infer", "--model", str(ckpt), "--print_args", env={"PYTHONPATH": str(site)}, cwd=str(elsewhere))
    assert shown.returncode == 0, shown.stderr
    printed = json.loads(shown.stdout)
    assert printed["model"] == str(model) and printed["adapters"] == [str(ckpt)]
    assert printed["template"] == "mytpl" and printed["model_type"] == "qwen2"
    assert "is an adapter checkpoint" in shown.stderr
    ran = run_swiftk(
        "infer",
        "--model",
        str(ckpt),
        "--val_dataset",
        str(data),
        "--max_new_tokens",
        "6",
        "--result_path",
        str(result_path),
        env={"PYTHONPATH": str(site)},
        cwd=str(elsewhere),
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert json.loads(result_path.read_text().splitlines()[0])["response"] is not None
    # an explicit different template is used, with one warning
    other = run_swiftk(
        "infer", "--adapters", str(ckpt), "--template", "chatml", "--print_args", env={"PYTHONPATH": str(site)}
    )
    assert json.loads(other.stdout)["template"] == "chatml"
    assert "--template chatml differs from the template 'mytpl' recorded in" in other.stderr


@pytest.mark.slow
def test_args_json_reruns_as_config(trained):
    _, out, site, _ = trained
    shown = run_swiftk("sft", "--config", str(out / "args.json"), "--print_args", env={"PYTHONPATH": str(site)})
    assert shown.returncode == 0, shown.stderr
    printed = json.loads(shown.stdout)
    assert printed["template"] == "mytpl" and printed["train_type"] == "lora" and printed["max_steps"] == 2


@pytest.mark.slow
def test_ref_model_as_adapter_checkpoint_is_its_base_with_the_adapter_merged(trained):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from swiftk.cli.builtin import resolve_arguments
    from swiftk.pipelines.rlhf import load_reference_model

    model, out, _, _ = trained
    ckpt = out / "checkpoint-2"
    args = resolve_arguments(
        "rlhf", ["--rlhf_type", "dpo", "--model", str(model), "--ref_model", str(ckpt), "--dataset", "x.jsonl"]
    )
    ref = load_reference_model(args)
    expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model), str(ckpt)).merge_and_unload()
    base = AutoModelForCausalLM.from_pretrained(model)
    name = "model.layers.0.self_attn.q_proj.weight"
    got, want, before = (dict(m.named_parameters())[name] for m in (ref, expected, base))
    assert not torch.equal(want, before)  # the adapter changed this weight
    torch.testing.assert_close(got, want)


def test_print_args_shows_the_resolution_without_loading_weights(tmp_path, swiftk):
    folder = tmp_path / "anything"
    shutil.copytree(demo_model_dir(), folder)
    (folder / "model.safetensors").unlink()  # config.json is all it reads
    result = swiftk("sft", "--model", str(folder), "--dataset", "x.jsonl", "--print_args")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["model_type"] == "qwen2" and printed["template"] == "qwen"
    assert printed["model_dir"] == str(folder) and printed["torch_dtype"] == "float32"


def test_recorded_model_type_from_an_uninstalled_distribution_is_named(tmp_path, swiftk):
    run = tmp_path / "run"
    ckpt = run / "checkpoint-5"
    ckpt.mkdir(parents=True)
    (ckpt / "adapter_config.json").write_text("{}")
    saved = {
        "command": "sft",
        "model": str(demo_model_dir()),
        "model_type": "gizmo",
        "template": "chatml",
        "train_type": "lora",
        "plugins": {
            "model_type": {"name": "gizmo", "plugin": "gizmo", "distribution": "swift-plugin-gizmo", "version": "0.3"}
        },
    }
    (run / "args.json").write_text(json.dumps(saved))
    line = one_line_error(swiftk("infer", "--adapters", str(ckpt), "--print_args"))
    assert "model type 'gizmo'" in line and "swift-plugin-gizmo 0.3: pip install swift-plugin-gizmo" in line, line


class _HubStandIn(http.server.BaseHTTPRequestHandler):
    """A local stand-in for the ModelScope API: records each request's headers, knows no model."""

    seen: list = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).seen.append(dict(self.headers))
        body = b'{"Code": 10010205001, "Message": "not found", "Success": false}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_hub_token_reaches_modelscope(tmp_path, swiftk):
    pytest.importorskip("modelscope")
    _HubStandIn.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HubStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            "HF_HUB_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0",
            "MODELSCOPE_CACHE": str(tmp_path / "cache"),
            "MODELSCOPE_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        }
        result = swiftk("infer", "--model", "someorg/somemodel", "--hub_token", "tok-123-secret", env=env)
    finally:
        server.shutdown()
    assert result.returncode == 2, result.stderr
    assert any(h.get("Authorization") == "Bearer tok-123-secret" for h in _HubStandIn.seen), _HubStandIn.seen
    assert "tok-123-secret" not in result.stderr + result.stdout


def test_masked_label_runs_are_shown_as_one():
    from transformers import AutoTokenizer

    from swiftk.pipelines.sample_log import decode_with_masks, format_sample

    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir())
    ids = tokenizer("Paris is the capital")["input_ids"]
    assert decode_with_masks([-100] * 3 + ids + [-100, -100], tokenizer) == "[-100 * 3]Paris is the capital[-100 * 2]"
    text = format_sample(
        {"chosen_input_ids": ids, "chosen_labels": [-100] + ids[1:], "rejected_input_ids": ids}, tokenizer
    )
    assert "[CHOSEN_INPUT] Paris is the capital" in text and "[CHOSEN_LABELS] [-100 * 1]" in text
    assert "[REJECTED_INPUT_IDS]" in text
