"""`swiftk run`: job files with steps, references between steps, overrides and failures."""

from __future__ import annotations

import json

from kernel_support import TEST_PLUGINS, one_line_error

PIPELINE = str(TEST_PLUGINS / "pipeline_commands.py")


def _job(tmp_path, text: str):
    path = tmp_path / "job.yaml"
    path.write_text(text.replace("PIPELINE", PIPELINE).replace("OUT", str(tmp_path / "out")))
    return str(path)


STEPS = """
steps:
  - name: train
    command: sft
    args:
      model: tiny-base
      model_name: [小黄, Xiao Huang]
      output_dir: OUT
      custom_register_path: [PIPELINE]
  - name: merge
    command: merge-lora
    args:
      adapters: ["${train.last_checkpoint}"]
  - command: infer
    args:
      model: "${prev.output_dir}"
"""


def test_steps_run_in_order_and_refer_to_earlier_outputs(bare_swiftk, tmp_path):
    result = bare_swiftk("run", _job(tmp_path, STEPS))
    assert result.returncode == 0, result.stderr
    assert "ANSWER: merged trained 10 steps of tiny-base as ['小黄', 'Xiao Huang']" in result.stdout
    runs = list((tmp_path / "out").glob("v0-*"))
    assert len(runs) == 1 and (runs[0] / "args.json").is_file()  # add_version: output/v0-<time>


def test_overrides_apply_to_every_step_that_takes_them(bare_swiftk, tmp_path):
    result = bare_swiftk("run", _job(tmp_path, STEPS), "--model_name", "小A", "Little A", "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert "trained 10 steps of tiny-base as ['小A', 'Little A']" in result.stdout
    assert "SEED 7" in result.stdout  # the infer step took the override too
    run = next((tmp_path / "out").glob("v0-*"))
    assert json.loads((run / "args.json").read_text())["seed"] == 7


def test_single_command_job(bare_swiftk, tmp_path):
    job = _job(
        tmp_path, "command: sft\nmodel: m\noutput_dir: OUT\nadd_version: false\ncustom_register_path: [PIPELINE]\n"
    )
    result = bare_swiftk("run", job)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out" / "args.json").read_text())["model"] == "m"


def test_run_stops_at_first_failing_step_with_its_code(bare_swiftk, tmp_path):
    result = bare_swiftk("run", _job(tmp_path, STEPS), env={"FAKE_SFT_FAIL": "1"})
    assert result.returncode == 3
    assert "step 1 'train' (sft) failed with exit code 3" in result.stderr
    assert "ANSWER" not in result.stdout


def test_job_errors(bare_swiftk, tmp_path):
    result = bare_swiftk("run", _job(tmp_path, STEPS), "--no_such_flag", "1")
    assert result.returncode == 2
    assert "override --no_such_flag is accepted by no step" in one_line_error(result)
    bad_ref = _job(tmp_path, STEPS.replace("${train.last_checkpoint}", "${trian.last_checkpoint}"))
    result = bare_swiftk("run", bad_ref)
    assert result.returncode == 2
    assert "no earlier step is named 'trian'" in one_line_error(result)
    result = bare_swiftk("run", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "no such job file" in one_line_error(result)
    no_command = _job(tmp_path, "steps:\n  - model: x\n")
    assert "needs a 'command'" in one_line_error(bare_swiftk("run", no_command))
