"""``swiftk infer``: an interactive chat in the terminal, or a run over a dataset written to jsonl."""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

from swiftk.infer import InferRequest, RequestConfig

HELP = ("Commands: 'exit' quits, 'clear' clears the history, 'reset-system' sets a new system prompt, "
        "'multi-line' switches to multi-line input (end a message with '#'), 'single-line' switches back.")


def apply_ckpt_dir(args: Any) -> None:
    """``--ckpt_dir``: an adapter folder joins ``--adapters``; a full checkpoint becomes ``--model``."""
    ckpt = args.get("ckpt_dir")
    if not ckpt:
        return
    from swiftk.errors import UsageError

    if not os.path.isdir(ckpt):
        raise UsageError(f"--ckpt_dir {ckpt}: no such folder")
    if os.path.isfile(os.path.join(ckpt, "adapter_config.json")):
        adapters = list(args.get("adapters") or [])
        if ckpt not in adapters:
            args.adapters = [ckpt] + adapters
    elif os.path.isfile(os.path.join(ckpt, "config.json")):
        args.model = ckpt
    else:
        raise UsageError(f"--ckpt_dir {ckpt}: neither an adapter (adapter_config.json) nor a model (config.json)")


def build_engine(args: Any):
    """The engine ``--infer_backend`` names, built from the arguments."""
    from swiftk.host import get_host
    from swiftk.registry import is_lazy_reference, resolve_reference

    if "ckpt_dir" in args:
        apply_ckpt_dir(args)
    spec = get_host().get("infer_engines", args.infer_backend)
    engine_cls = resolve_reference(spec.engine_cls) if is_lazy_reference(spec.engine_cls) else spec.engine_cls
    return engine_cls.from_args(args)


def run_infer(args: Any) -> int:
    from swiftk.startup import startup_phase

    with startup_phase(args):  # imports and the model: no garbage-collection passes over them
        engine = build_engine(args)
    try:
        if args.get("val_dataset") or args.get("dataset"):
            return infer_dataset(engine, args)
        return chat(engine, args)
    finally:
        engine.close()


# --- a dataset -------------------------------------------------------------------------------

def split_row(row: dict) -> tuple[InferRequest, Optional[str]]:
    """The conversation up to the last user turn, and the reference answer if the row has one."""
    messages = list(row["messages"])
    label = None
    if messages and messages[-1]["role"] == "assistant":
        label = messages.pop()["content"]
    tools = row.get("tools")
    if isinstance(tools, str) and tools:
        tools = json.loads(tools)
    return InferRequest(messages, tools or None), label


def infer_dataset(engine: Any, args: Any) -> int:
    from swiftk.io import atomic_write_text
    from swiftk.pipelines.data import load_datasets
    from swiftk.scoring import exact_match, nlg_scores
    from swiftk.startup import startup_phase

    with startup_phase():  # the datasets library and the rows
        train, val = load_datasets(args)
    rows = list(val if val is not None else train)
    if args.get("val_dataset_sample"):
        rows = rows[: args.val_dataset_sample]
    requests, labels = zip(*(split_row(r) for r in rows)) if rows else ((), ())
    responses = engine.infer(list(requests), RequestConfig.from_args(args), use_tqdm=True)
    lines = []
    for request, label, response in zip(requests, labels, responses):
        text = response.choices[0].message["content"]
        lines.append(json.dumps({"messages": request.messages + [{"role": "assistant", "content": text}],
                                 "response": text, "labels": label}, ensure_ascii=False))
        if args.get("verbose", True):
            print(f"[QUERY] {request.messages[-1]['content']}\n[RESPONSE] {text}\n[LABELS] {label}\n" + "-" * 40)
    path = args.result_path
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
    print(f"[swiftk] result_path: {os.path.abspath(path)}")
    metric = args.get("metric")
    if metric:
        predictions = [json.loads(l)["response"] for l in lines]
        references = [l or "" for l in labels]
        scores = {"acc": exact_match(predictions, references)} if metric == "acc" else nlg_scores(predictions, references)
        print(f"[swiftk] {metric}: " + ", ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    return 0


# --- the terminal ----------------------------------------------------------------------------

def _read(multi_line: bool) -> Optional[str]:
    try:
        if not multi_line:
            return input("<<< ")
        lines = []
        prompt = "<<<[M] "
        while True:
            line = input(prompt)
            prompt = ""
            if line.endswith("#"):
                lines.append(line[:-1])
                return "\n".join(lines)
            lines.append(line)
    except EOFError:
        return None


def chat(engine: Any, args: Any) -> int:
    print(HELP)
    system = args.get("system")
    history: list[dict] = []
    multi_line = False
    config = RequestConfig.from_args(args)
    while True:
        query = _read(multi_line)
        if query is None or query.strip() == "exit":
            return 0
        command = query.strip()
        if command == "clear":
            history = []
            print("(history cleared)")
            continue
        if command == "multi-line":
            multi_line = True
            continue
        if command == "single-line":
            multi_line = False
            continue
        if command == "reset-system":
            system = _read(multi_line) or None
            history = []
            continue
        messages = ([{"role": "system", "content": system}] if system else []) + history + \
            [{"role": "user", "content": query}]
        print(">>> ", end="", flush=True)
        text = []
        for chunk in engine.infer_stream(InferRequest(messages), config):
            delta = chunk.choices[0].delta.get("content") if chunk.choices else None
            if delta:
                text.append(delta)
                sys.stdout.write(delta)
                sys.stdout.flush()
        print()
        history += [{"role": "user", "content": query}, {"role": "assistant", "content": "".join(text)}]
