"""`swiftk run` from any working folder: inputs named in a job file are relative to the job file's
folder (when they exist there), outputs and command-line values to the working folder."""

from __future__ import annotations

import json
import shutil

import pytest

from kernel_support import ROOT, TEST_PLUGINS


def test_job_inputs_resolve_against_the_job_folder(bare_swiftk, tmp_path):
    jobs, work = tmp_path / "jobs", tmp_path / "work"
    (jobs / "data").mkdir(parents=True)
    work.mkdir()
    shutil.copy(TEST_PLUGINS / "pipeline_commands.py", jobs / "plugin.py")
    (jobs / "data" / "train.jsonl").write_text('{"query": "q", "response": "r"}\n')
    (jobs / "ds.json").write_text('{"zero_optimization": {"stage": 2}}')
    (jobs / "job.yaml").write_text(
        "command: sft\n"
        "model: m\n"
        "dataset: [data/train.jsonl#3, swift/self-cognition#2, not/here.jsonl]\n"
        "deepspeed: ds.json\n"
        "custom_register_path: [plugin.py]\n"
        "output_dir: out\n"
        "add_version: false\n"
    )
    result = bare_swiftk("run", "../jobs/job.yaml", "--val_dataset", "mine.jsonl", cwd=str(work))
    assert result.returncode == 0, result.stderr
    saved = json.loads((work / "out" / "args.json").read_text())  # the output: under the working folder
    assert saved["dataset"] == [f"{jobs}/data/train.jsonl#3", "swift/self-cognition#2", "not/here.jsonl"]
    assert saved["custom_register_path"] == [str(jobs / "plugin.py")]
    assert saved["deepspeed"] == str(jobs / "ds.json")
    assert saved["val_dataset"] == ["mine.jsonl"]  # a command-line value: relative to the cwd
    assert saved["model"] == "m" and saved["output_dir"] == "out"


@pytest.mark.slow
def test_the_demo_job_runs_from_another_folder(swiftk, tmp_path):
    """examples/self_cognition.yaml trains swiftk/tiny-chat and asks it examples/who_are_you.jsonl."""
    result = swiftk(
        "run", str(ROOT / "examples" / "self_cognition.yaml"), "--max_steps", "2", cwd=str(tmp_path), timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "output" / "self-cognition").glob("v0-*"))
    assert len(runs) == 1 and (runs[0] / "checkpoint-2" / "adapter_model.safetensors").is_file(), result.stderr[-2000:]
    answers = [
        json.loads(line)
        for result_file in runs[0].rglob("infer_result/*.jsonl")
        for line in result_file.read_text().splitlines()
    ]
    assert len(answers) == len((ROOT / "examples" / "who_are_you.jsonl").read_text().splitlines())
