"""``swiftk eval``: benchmarks against the model served locally, or against ``--eval_url``.

Read top to bottom (:func:`run_eval`):

1. the backend (``--eval_backend``, any registered name) checks what it was asked for (``check(args)``:
   the benchmarks and their data) before anything loads;
2. the model: without ``--eval_url`` it is deployed in this process on 127.0.0.1 (every deploy argument
   applies; ``--temperature`` 0 and ``--verbose`` false are eval's defaults) and stopped at the end; with
   ``--eval_url`` (and ``--api_key``) the server there is used and its first model evaluated unless
   ``--served_model_name`` names one;
3. the backend evaluates through the OpenAI API into a run folder ``--eval_output_dir/YYYYmmdd-HHMMSS``;
4. ``eval_result.json`` (benchmark -> metric -> score, with the model, adapters, limit and times) is
   written there, atomically, and a markdown table of each benchmark's primary metric is printed.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any, Optional

from swiftk.api import EvalBackendSpec, UsageError, atomic_write_text, get_host, load_reference


def backend_of(args: Any) -> EvalBackendSpec:
    spec = get_host().registry("eval_backends").get(args.eval_backend)
    return spec if isinstance(spec, EvalBackendSpec) else EvalBackendSpec(run=spec)


def run_folder(args: Any) -> str:
    """A new folder under ``--eval_output_dir``, named by the time (``-2``, ``-3``, ... when taken)."""
    base = os.path.join(args.get("eval_output_dir") or "eval_output", datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    for n in range(1, 1000):
        folder = base if n == 1 else f"{base}-{n}"
        try:
            os.mkdir(folder)  # not makedirs(exist_ok): two runs started in one second get two folders
            return folder
        except FileExistsError:
            continue
    raise UsageError(f"--eval_output_dir: no free run folder under {os.path.dirname(base)}")


def served_models(url: str, api_key: Optional[str]) -> list[str]:
    """The ids ``GET URL/models`` lists; one line naming the URL when the server cannot be asked."""
    request = urllib.request.Request(url.rstrip("/") + "/models")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data = json.load(response)
    except urllib.error.HTTPError as exc:
        hint = " (pass --api_key)" if exc.code in (401, 403) else ""
        raise UsageError(f"--eval_url {url}: GET /models answered {exc.code} {exc.reason}{hint}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"--eval_url {url}: no OpenAI-compatible server answers there ({reason})") from None
    return [m.get("id") for m in data.get("data", []) if isinstance(m, dict) and m.get("id")]


def _model_at(url: str, args: Any) -> str:
    """The model to evaluate at ``url``: ``--served_model_name`` (or the name ``--model`` implies), else the
    first one the server lists."""
    models = served_models(url, args.get("api_key"))
    wanted = args.get("served_model_name")
    if wanted and wanted not in models:
        flag = (
            f"--served_model_name {wanted}"
            if "served_model_name" in args.explicit
            else f"--model {args.get('model')} (served as {wanted})"
        )
        raise UsageError(f"{flag}: {url} serves {', '.join(models) or 'no model'}")
    if not (wanted or models):
        raise UsageError(f"--eval_url {url}: the server lists no model")
    return wanted or models[0]


def markdown_table(results: dict[str, dict[str, float]]) -> str:
    rows = ["| dataset | metric | score |", "| --- | --- | --- |"]
    for dataset, scores in results.items():
        metric, score = next(iter((scores or {}).items()), ("-", None))
        shown = f"{score:.4f}" if isinstance(score, (int, float)) else str(score)
        rows.append(f"| {dataset} | {metric} | {shown} |")
    return "\n".join(rows)


def _evaluate(evaluate: Any, args: Any, **where: Any) -> tuple[str, dict]:
    """The backend's run, in a run folder; an error of a backend is one line (``SWIFTK_DEBUG=1``: the
    traceback), and an empty folder it leaves is removed."""
    folder = run_folder(args)
    try:
        results = evaluate(args, output_dir=folder, **where)
    except (UsageError, KeyboardInterrupt):
        _remove_if_empty(folder)
        raise
    except Exception as exc:
        _remove_if_empty(folder)
        raise UsageError(f"--eval_backend {args.eval_backend} failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(results, dict):
        raise UsageError(f"--eval_backend {args.eval_backend} returned {type(results).__name__}, not a dict of scores")
    return folder, results


def _remove_if_empty(folder: str) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        pass


def run_eval(args: Any) -> int:
    """``swiftk eval``: see the module docstring."""
    backend = backend_of(args)
    # 1. what to evaluate, checked before a model loads
    try:
        check = load_reference(backend.check) if backend.check is not None else None
        evaluate = load_reference(backend.run)
    except ImportError as exc:
        raise UsageError(f"--eval_backend {args.eval_backend}: its code cannot be imported: {exc}") from None
    if check is not None:
        check(args)
    started = time.time()
    # 2-3. the model behind the OpenAI API, evaluated
    if args.get("eval_url"):
        url = args.eval_url.rstrip("/")
        model = _model_at(url, args)
        folder, results = _evaluate(evaluate, args, base_url=url, model=model)
    else:
        from swiftk_infer.deploy import BackgroundServer

        with BackgroundServer(args) as server:
            print(f"[swiftk] evaluating {server.model} served at {server.url}", flush=True)
            model = server.model
            folder, results = _evaluate(evaluate, args, base_url=server.url, model=model)
    # 4. the record and the table
    record = {
        "model": args.get("model") if not args.get("eval_url") else model,
        "served_model_name": model,
        "adapters": list(args.get("adapters") or []),
        "eval_url": args.get("eval_url"),
        "eval_backend": args.eval_backend,
        "eval_dataset": list(args.eval_dataset or []),
        "eval_limit": args.get("eval_limit"),
        "results": results,
        "started": datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
    }
    path = os.path.join(folder, "eval_result.json")
    atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=2) + "\n")
    print(markdown_table(results), flush=True)
    print(f"[swiftk] eval_result: {path}", flush=True)
    return 0
