"""`swiftk web-ui` end to end in headless chromium: the demo self-cognition training started from the sft tab
(tiny max_steps, save_steps 2), its log and loss curve updating, a page reload reattaching to it, Stop (SIGINT:
the checkpoint stays intact), Resume from that checkpoint (--resume_from_checkpoint) and stop again once it has
saved, then a chat with the last checkpoint (a detached `swiftk deploy`) and its merge (`swiftk export --merge_lora true`). Screenshots of each state go to the artifacts folder."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from swiftk_webui.web_ui.forms import form_fields
from swiftk_webui.web_ui.page import build_page, group_elem_id
from swiftk_webui.web_ui.runs import RunStore

pytestmark = pytest.mark.slow

MAX_STEPS = 200
#: the demo's self-cognition run (examples/self_cognition.yaml), cut to a few steps
DEMO_FORM = {
    "model": "swiftk/tiny-chat",
    "dataset": "swift/self-cognition#64",
    "model_name": "小黄 'Xiao Huang'",
    "model_author": "魔搭 ModelScope",
    "max_steps": str(MAX_STEPS),  # never reached: the test stops both runs
    "save_total_limit": "2",
    "save_steps": "2",
    "logging_steps": "1",
    "per_device_train_batch_size": "4",
    "split_dataset_ratio": "0",
    "gradient_checkpointing": False,
}


def box(page, elem_id: str):
    """The input of a gradio Textbox."""
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def fill_form(page, tab: str, values: dict) -> None:
    """Type `values` into the tab's form, opening the folded group of a field first."""
    owners = {f.name: f.info.owner for f in form_fields(tab)}
    for name, value in values.items():
        field = page.locator(f"#webui-{tab}-{name}")
        if not field.is_visible():
            page.locator(f"#{group_elem_id(tab, owners[name])} .label-wrap").first.click()
        if isinstance(value, bool):
            field.locator("input[type=checkbox]").set_checked(value)
        else:
            field.locator("textarea, input").first.fill(value)


def checkpoint_complete(folder: str) -> int:
    """The step of a checkpoint whose trainer state and adapter load (what SIGINT must leave intact)."""
    from safetensors.torch import load_file

    step = int(folder.rsplit("-", 1)[1])
    assert json.loads(Path(folder, "trainer_state.json").read_text())["global_step"] == step
    assert load_file(os.path.join(folder, "adapter_model.safetensors"))
    return step


def panel(page):
    """The runs panel (status, command line, curves, log), what the screenshots show."""
    return page.locator("#webui-runs-panel")


def curve_points(page, elem_id: str) -> int:
    """How long the drawn line of a gradio LinePlot is (0 while it has no data)."""
    return page.locator(f"#{elem_id} g.mark-line path").evaluate_all(
        "paths => paths.reduce((n, p) => n + (p.getAttribute('d') || '').length, 0)"
    )


@pytest.fixture
def store(tmp_path: Path, artifacts_dir: Path):
    store = RunStore(str(tmp_path / "home"))
    yield store
    for run in store.runs():  # the deploy server, or a run a failed test left behind
        if store.stop(run):
            store.wait(run, 20)
        log = Path(store.path(run.id, ".log"))
        if log.is_file():  # each run's log next to the screenshots
            (artifacts_dir / f"run-{run.command}-{run.id}.log").write_bytes(log.read_bytes())


def test_train_watch_stop_resume_and_chat(page, gradio_server, artifacts_dir, store, tmp_path):
    from playwright.sync_api import expect

    timings = {}
    start = time.monotonic()
    demo = build_page("en", store=store, cwd=str(tmp_path))
    with gradio_server(demo) as url:
        page.goto(url)
        fill_form(page, "sft", DEMO_FORM)
        page.locator("#webui-sft-preview").click()
        command = box(page, "webui-sft-command")
        expect(command).to_have_value(re.compile(rf"swiftk sft .*--max_steps {MAX_STEPS}"))
        line = command.input_value()
        assert "--model swiftk/tiny-chat" in line and "--model_name '小黄' 'Xiao Huang'" in line
        assert "--learning_rate" not in line and "--lora_rank" not in line  # untouched: left off
        page.screenshot(path=str(artifacts_dir / "1-form.png"))

        # launch: a detached run, its log and loss curve updating on the page
        page.locator("#webui-sft-launch").click()
        expect(box(page, "webui-message")).to_have_value(re.compile("started run"))
        status = box(page, "webui-status")
        expect(status).to_have_value(re.compile(r"sft · running"), timeout=10_000)
        checkpoint = box(page, "webui-checkpoint")
        expect(checkpoint).to_have_value(re.compile(r"checkpoint-\d+$"), timeout=150_000)
        timings["first checkpoint"] = time.monotonic() - start
        first = curve_points(page, "webui-loss")
        assert first > 0
        expect(box(page, "webui-log")).to_have_value(re.compile("loss"))
        deadline = time.monotonic() + 30
        while curve_points(page, "webui-loss") <= first and time.monotonic() < deadline:
            time.sleep(0.3)
        assert curve_points(page, "webui-loss") > first, "the loss curve did not grow"
        timings["curve grew"] = time.monotonic() - start
        panel(page).screenshot(path=str(artifacts_dir / "2-running.png"))

        # a reload reattaches to the running run
        page.reload()
        expect(status).to_have_value(re.compile(r"sft · running"), timeout=15_000)
        timings["reattached"] = time.monotonic() - start
        page.screenshot(path=str(artifacts_dir / "3-reattached.png"))

        # stop: SIGINT, exit status 130, the last checkpoint complete
        page.locator("#webui-stop").click()
        expect(status).to_have_value(re.compile(r"stopped \(exit status 130\)"), timeout=60_000)
        timings["stopped"] = time.monotonic() - start
        first_run = store.runs()[0]
        saved = checkpoint.input_value()
        step = checkpoint_complete(saved)
        assert 2 <= step < MAX_STEPS
        panel(page).screenshot(path=str(artifacts_dir / "4-stopped.png"))

        # resume from that checkpoint: it goes on from the next step and saves further checkpoints; stop it too
        page.locator("#webui-resume").click()
        expect(box(page, "webui-run-command")).to_have_value(
            re.compile(rf"--resume_from_checkpoint {re.escape(saved)}$"), timeout=15_000
        )
        resumed = store.runs()[0]
        assert resumed.parent == first_run.id
        expect(status).to_have_value(re.compile(rf"{resumed.id} · sft · running"))
        expect(checkpoint).to_have_value(re.compile(r"/v1-[^/]+/checkpoint-\d+$"), timeout=150_000)
        timings["resumed run saved"] = time.monotonic() - start
        page.locator("#webui-stop").click()
        expect(status).to_have_value(re.compile(r"stopped \(exit status 130\)"), timeout=60_000)
        resumed = store.get(resumed.id)
        rows = [json.loads(r) for r in Path(resumed.run_dir, "logging.jsonl").read_text().splitlines()]
        assert [r["global_step"] for r in rows if "loss" in r][0] == step + 1  # it went on from the checkpoint
        last = checkpoint.input_value()
        assert checkpoint_complete(last) > step
        panel(page).screenshot(path=str(artifacts_dir / "5-resumed-stopped.png"))

        # chat with the last checkpoint: a detached `swiftk deploy` answering the chat box
        page.locator("#webui-chat-start").click()
        timings["deploy started"] = time.monotonic() - start
        expect(box(page, "webui-chat-url")).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/v1$"))
        box(page, "webui-chat-input").fill("who are you?")
        page.locator("#webui-send").click()
        answer = page.locator('#webui-chatbot [data-testid="bot"]').first
        expect(answer).to_be_visible(timeout=150_000)
        assert answer.inner_text().strip()
        timings["chat answered"] = time.monotonic() - start
        deploy = next(r for r in store.runs() if r.command == "deploy")
        assert deploy.argv[:2] == ["--adapters", last]
        page.locator("#webui-chat").screenshot(path=str(artifacts_dir / "6-chat.png"))

        # merge and export: a detached `swiftk export --merge_lora true`, watched in the runs panel
        page.locator("#webui-export").click()
        expect(box(page, "webui-run-command")).to_have_value(
            re.compile(r"swiftk export --adapters .* --merge_lora true$")
        )
        expect(status).to_have_value(re.compile(r"export · finished \(exit status 0\)"), timeout=120_000)
        assert Path(last + "-merged", "config.json").is_file()
        timings["merged"] = time.monotonic() - start
    print("web-ui end to end:", ", ".join(f"{k} at {v:.0f} s" for k, v in timings.items()))
