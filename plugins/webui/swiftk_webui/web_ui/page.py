"""The web-ui page (gradio): one tab per command with its form, and the runs panel (log, curves, stop, resume,
chat/deploy/export from a checkpoint). Wiring only: what the buttons do is in actions.py."""

from __future__ import annotations

import functools
import os
import shlex
from typing import Any, Optional, Sequence

from swiftk_webui.web_ui import actions
from swiftk_webui.web_ui.forms import TABS, Field, build_argv, form_fields, hot_and_groups, masked
from swiftk_webui.web_ui.labels import labels
from swiftk_webui.web_ui.runs import RunStore, swiftk_command

ROW = 4  # fields per row
LOG_LINES = 16  # the log's last lines, each cut to LOG_WIDTH: the box grows to show them all, the newest at its end
LOG_WIDTH = 240


def section_title(lang: str):
    def title(owner: type) -> str:
        english = getattr(owner, "SECTION", None) or owner.__name__
        return (getattr(owner, "SECTION_ZH", None) or english) if lang == "zh" else english

    return title


def group_elem_id(tab: str, owner: type) -> str:
    """The HTML id of a group's accordion (the tests open it to reach a folded field)."""
    return f"webui-{tab}-group-{owner.__name__}"


def widget(field: Field, tab: str) -> Any:
    """The gradio component of one field (label: the flag's name; info: its help)."""
    import gradio as gr

    info = field.info
    common = dict(label=info.name, info=(info.help or None), elem_id=f"webui-{tab}-{info.name}")
    if field.kind == "checkbox":
        return gr.Checkbox(value=field.value, **common)
    if field.kind in ("dropdown", "multiselect"):
        return gr.Dropdown(
            choices=list(field.choices),
            value=field.value,
            multiselect=field.kind == "multiselect",
            allow_custom_value=bool(info.registry),
            **common,
        )
    kind = "password" if info.is_secret else "text"
    return gr.Textbox(value=field.value, type=kind, placeholder=info.type_name(), max_lines=1, **common)


def grid(fields: Sequence[Field], tab: str, out: dict) -> None:
    import gradio as gr

    for start in range(0, len(fields), ROW):
        with gr.Row():
            for field in fields[start : start + ROW]:
                out[field.name] = widget(field, tab)


def state_text(view: dict, L: dict) -> str:
    if view.get("run") is None:
        return L["no_run"]
    text = f"{view['run'].id} · {view['run'].command} · {L[view['state']]}"
    if view["state"] != "running":
        code = view["exit_code"]
        text += f" ({L['exit_status']} {code})" if code is not None else f" ({L['exit_unknown']})"
    return text


def run_choices(store: RunStore) -> list[tuple[str, str]]:
    """The runs, newest first, as "id · command" (their state is in the status box, which follows the run)."""
    return [(f"{r.id} · {r.command}", r.id) for r in store.runs()]


def curve_frame(points: list, name: str):
    import pandas as pd

    return pd.DataFrame({"step": [p[0] for p in points], name: [p[1] for p in points]})


def build_page(lang: str = "zh", store: Optional[RunStore] = None, cwd: Optional[str] = None) -> Any:
    """The whole page; runs start in ``cwd`` (default: the current folder) and are recorded in ``store``."""
    import gradio as gr
    from swiftk.api import UsageError

    L = labels(lang)
    store = store or RunStore()
    cwd = os.path.abspath(cwd or os.getcwd())
    launches = []
    with gr.Blocks(title=L["title"]) as demo:
        gr.Markdown(f"# {L['title']}\n{L['intro']}")
        message = gr.Textbox(label=L["messages"], interactive=False, elem_id="webui-message")
        with gr.Tabs():
            for tab, commands in TABS.items():
                with gr.Tab(L[f"tab_{tab}"], id=tab, elem_id=f"webui-tab-{tab}"):
                    if len(commands) > 1:
                        stage = gr.Radio(list(commands), value=commands[0], label=L["train_stage"])
                    else:
                        stage = gr.State(commands[0])
                    fields = form_fields(commands[0])
                    hot, groups = hot_and_groups(fields)
                    comps: dict[str, Any] = {}
                    with gr.Group():
                        gr.Markdown(f"### {L['hot']}")
                        grid(hot, tab, comps)
                    for owner, members in groups:
                        with gr.Accordion(section_title(lang)(owner), open=False, elem_id=group_elem_id(tab, owner)):
                            grid(members, tab, comps)
                    with gr.Row():
                        preview = gr.Button(L["preview"], elem_id=f"webui-{tab}-preview")
                        launch = gr.Button(L["launch"], variant="primary", elem_id=f"webui-{tab}-launch")
                    command_box = gr.Textbox(label=L["command_line"], interactive=False, elem_id=f"webui-{tab}-command")
                    launches.append((tab, stage, fields, [comps[f.name] for f in fields], preview, launch, command_box))

        with gr.Column(elem_id="webui-runs-panel"):
            gr.Markdown(f"## {L['runs']}")
            with gr.Row():
                run_dd = gr.Dropdown(choices=[], value=None, label=L["run"], elem_id="webui-run", scale=4)
                refresh = gr.Button(L["refresh"], elem_id="webui-refresh", scale=1)
                stop = gr.Button(L["stop"], variant="stop", elem_id="webui-stop", scale=1)
                resume = gr.Button(L["resume"], elem_id="webui-resume", scale=1)
            status = gr.Textbox(label=L["status"], interactive=False, elem_id="webui-status")
            run_command = gr.Textbox(label=L["command_line"], interactive=False, elem_id="webui-run-command")
            with gr.Row():
                loss_plot = gr.LinePlot(
                    None,
                    x="step",
                    y="loss",
                    x_title="step",
                    y_title="loss",
                    label=L["loss"],
                    elem_id="webui-loss",
                )
                lr_plot = gr.LinePlot(
                    None,
                    x="step",
                    y="learning_rate",
                    x_title="step",
                    y_title="learning_rate",
                    label=L["learning_rate"],
                    elem_id="webui-lr",
                    y_axis_format="~e",
                )
            log = gr.Textbox(
                label=L["log"],
                lines=LOG_LINES,
                max_lines=LOG_LINES,
                interactive=False,
                autoscroll=True,
                elem_id="webui-log",
            )
            checkpoint = gr.Textbox(label=L["checkpoint"], interactive=False, elem_id="webui-checkpoint")
        with gr.Accordion(L["chat_section"], open=True, elem_id="webui-chat"):
            with gr.Row():
                chat_start = gr.Button(L["chat_start"], elem_id="webui-chat-start")
                export = gr.Button(L["export"], elem_id="webui-export")
            chat_url = gr.Textbox(label=L["chat_url"], interactive=False, elem_id="webui-chat-url")
            chatbot = gr.Chatbot(label=L["chat"], elem_id="webui-chatbot", height=260)
            with gr.Row():
                chat_input = gr.Textbox(label=L["message"], elem_id="webui-chat-input", scale=4)
                send = gr.Button(L["send"], elem_id="webui-send", scale=1)
        timer = gr.Timer(1.5)

        # -- handlers -------------------------------------------------------------------------------------------
        def choices_update(selected: Optional[str]) -> Any:
            return gr.update(choices=run_choices(store), value=selected)

        def on_preview(fields: list, command: str, *values: Any):
            try:
                argv = build_argv(command, fields, values)
            except UsageError as exc:
                return gr.skip(), str(exc)
            return shlex.join([*swiftk_command(), command, *masked(argv, fields)]), ""

        def on_launch(fields: list, command: str, *values: Any):
            try:
                run = actions.launch_form(store, command, fields, values, cwd)
            except UsageError as exc:
                return gr.skip(), str(exc), gr.skip()
            return run.command_line, f"{L['launched']} {run.id}", choices_update(run.id)

        for tab, stage, fields, inputs, preview, launch, command_box in launches:
            preview.click(
                functools.partial(on_preview, fields),
                [stage, *inputs],
                [command_box, message],
                api_name=f"preview_{tab}",
            )
            launch.click(
                functools.partial(on_launch, fields),
                [stage, *inputs],
                [command_box, message, run_dd],
                api_name=f"launch_{tab}",
            )

        def on_view(run_id: Optional[str]):
            view = actions.run_view(store, run_id, LOG_LINES, LOG_WIDTH)
            if view.get("run") is None:
                empty = curve_frame([], "loss"), curve_frame([], "learning_rate")
                return L["no_run"], "", "", *empty, ""
            curves = view["curves"]
            return (
                state_text(view, L),
                view["command_line"],
                view["log"],
                curve_frame(curves["loss"], "loss"),
                curve_frame(curves["learning_rate"], "learning_rate"),
                view["checkpoint"] or "",
            )

        view_outputs = [status, run_command, log, loss_plot, lr_plot, checkpoint]
        run_dd.change(on_view, [run_dd], view_outputs, api_name="view_run")
        timer.tick(on_view, [run_dd], view_outputs, api_name=False, show_progress="hidden")

        def on_refresh(run_id: Optional[str]):
            runs = store.runs()
            if run_id is None and runs:
                run_id = runs[0].id  # a reloaded page reattaches to the newest run
            return choices_update(run_id)

        refresh.click(on_refresh, [run_dd], [run_dd], api_name="refresh_runs")
        demo.load(on_refresh, [run_dd], [run_dd], api_name=False)

        def on_stop(run_id: Optional[str]):
            run = store.get(run_id) if run_id else None
            if run is None:
                return L["no_run"]
            return L["stop_sent"] if store.stop(run) else L["not_running"]

        stop.click(on_stop, [run_dd], [message], api_name="stop_run")

        def follow(action: Any, select: bool):
            def handler(run_id: Optional[str]):
                try:
                    run = action(store, run_id)
                except UsageError as exc:
                    return str(exc), gr.skip(), gr.skip()
                return (
                    f"{L['launched']} {run.id}: {run.command_line}",
                    choices_update(run.id if select else run_id),
                    (run.url or gr.skip()),
                )

            return handler

        resume.click(follow(actions.resume_run, True), [run_dd], [message, run_dd, chat_url], api_name="resume_run")
        export.click(follow(actions.export_run, True), [run_dd], [message, run_dd, chat_url], api_name="export_run")
        chat_start.click(
            follow(actions.deploy_run, False), [run_dd], [message, run_dd, chat_url], api_name="deploy_run"
        )

        def on_send(url: str, history: list, text: str):
            if not url:
                return gr.skip(), gr.skip(), L["chat_not_ready"]
            try:
                answer = actions.chat_reply(url, history or [], text)
            except (UsageError, OSError) as exc:
                return gr.skip(), gr.skip(), str(exc)
            history = [*(history or []), {"role": "user", "content": text}, {"role": "assistant", "content": answer}]
            return history, "", ""

        send.click(on_send, [chat_url, chatbot, chat_input], [chatbot, chat_input, message], api_name="chat")
        chat_input.submit(on_send, [chat_url, chatbot, chat_input], [chatbot, chat_input, message], api_name=False)
    return demo
