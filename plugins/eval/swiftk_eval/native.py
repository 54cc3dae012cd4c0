"""``--eval_backend Native``: EvalScope (the library ms-swift's Native backend runs) in its OpenAI-API mode.

:func:`check` resolves every ``--eval_dataset`` to an evalscope benchmark and its local data before any
model loads; :func:`run` writes the task, runs evalscope in a subprocess (it reconfigures the root logger
and the environment) against the served model, and reads its report files back.

Each ``--eval_dataset`` entry is one of:

- a benchmark of this plugin (``swiftk/demo-gsm8k``, ``swiftk/demo-mcq``, ``swiftk/demo-qa``), shipped
  with it;
- a jsonl/csv file or folder of one's own, in evalscope's custom formats: multiple choice
  (``question``, ``A``..``D``, ``answer``) or question answering (``query``, ``response``);
- a benchmark evalscope knows (``gsm8k``, ``arc``, ``mmlu``, ...).  Its data is looked up in
  ``$SWIFTK_EVAL_DATA/NAME`` and, with ``--local_dataset true``, ``./data/NAME`` (ms-swift's folder),
  in the benchmark's Hugging Face layout; where none is found and the hub is reachable evalscope
  downloads it; offline (``HF_HUB_OFFLINE=1``) the command stops naming the folders it looked in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from swiftk.api import MissingPluginError, UsageError

from swiftk_eval.demo_benchmarks import DATA_DIR

#: English prompt for multiple choice (evalscope's general_mcq defaults to a Chinese one).
MCQ_PROMPT = (
    "Answer the following multiple choice question. The last line of your response should be of the "
    "following format: 'ANSWER: [LETTER]' (without quotes) where [LETTER] is one of {letters}.\n\n"
    "{question}\n\n{choices}"
)

#: This plugin's own benchmarks: name -> (evalscope benchmark, folder under data/, dataset_args).
DEMO_BENCHMARKS: dict[str, tuple[str, str, dict]] = {
    "swiftk/demo-gsm8k": ("gsm8k", "demo-gsm8k", {"few_shot_num": 4}),
    "swiftk/demo-mcq": ("general_mcq", "demo-mcq", {"few_shot_num": 0, "prompt_template": MCQ_PROMPT}),
    "swiftk/demo-qa": ("general_qa", "demo-qa", {"few_shot_num": 0}),
}

#: the file kinds evalscope's local loader reads (``FOLDER/SUBSET[_SPLIT].EXT``)
_DATA_EXTENSIONS = (".jsonl", ".csv", ".tsv")
#: the split evalscope evaluates, per custom form, and the few-shot split it may read beside it
_SPLITS = {"general_mcq": ("val", "dev"), "general_qa": ("test", None)}

#: evalscope's name for the evaluated model in its folders (reports/MODEL_ID/...), whatever it is served as
MODEL_ID = "model"

#: how to install EvalScope without what downgrades the pinned stack (docs/eval.md)
INSTALL = (
    "make install, or: pip install -r requirements/eval.txt && pip install --no-deps -r requirements/eval-nodeps.txt"
)


@dataclass
class Benchmark:
    """One ``--eval_dataset`` entry as evalscope runs it."""

    name: str  # as given
    benchmark: str  # evalscope's name
    dataset_args: dict = field(default_factory=dict)
    subset: Optional[str] = None  # a file of one's own: its subset (the file's stem) in its folder


def _evalscope_benchmarks() -> set[str]:
    """evalscope's benchmark names, read from its index (importing evalscope here would reconfigure logging)."""
    import importlib.util

    spec = importlib.util.find_spec("evalscope")
    if spec is None or not spec.submodule_search_locations:
        raise MissingPluginError(f"--eval_backend Native runs EvalScope, which is not installed: {INSTALL}")
    index = os.path.join(list(spec.submodule_search_locations)[0], "benchmarks", "_index.json")
    with open(index, encoding="utf-8") as f:
        return set(json.load(f))


def _read_first_row(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        if path.endswith(".jsonl"):
            line = next((line for line in f if line.strip()), "")
            return json.loads(line) if line else {}
        import csv

        return next(csv.DictReader(f, delimiter="\t" if path.endswith(".tsv") else ","), {})


def _form(row: dict, where: str) -> str:
    keys = set(row)
    if {"question", "A", "B", "answer"} <= keys:
        return "general_mcq"
    if {"query", "response"} <= keys or "messages" in keys or {"question", "answer"} <= keys:
        return "general_qa"
    raise UsageError(
        f"--eval_dataset {where}: its rows ({', '.join(sorted(keys)) or 'none'}) are neither multiple choice "
        f"(question, A, B, ..., answer) nor question answering (query, response)"
    )


def _split_of(stem: str, form: str) -> tuple[str, Optional[str]]:
    """``(subset, split)`` of a file stem: ``mine_val`` is subset ``mine``'s val split."""
    for split in _SPLITS[form]:
        if split and stem.endswith("_" + split):
            return stem[: -len(split) - 1], split
    return stem, None


def _own_data(path: str) -> Benchmark:
    """A file (a subset of its folder, named by its stem) or a folder (its files' subsets) of one's own."""
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.endswith(_DATA_EXTENSIONS))
        if not files:
            raise UsageError(f"--eval_dataset {path}: the folder holds no {'/'.join(_DATA_EXTENSIONS)} file")
        folder, first = path, os.path.join(path, files[0])
    elif path.endswith(_DATA_EXTENSIONS):
        folder, first, files = os.path.dirname(os.path.abspath(path)), path, [os.path.basename(path)]
    else:
        raise UsageError(f"--eval_dataset {path}: EvalScope reads {', '.join(_DATA_EXTENSIONS)} files of your own")
    try:
        form = _form(_read_first_row(first), first)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--eval_dataset {path}: cannot read it: {exc}") from None
    evaluated, few_shot = _SPLITS[form]
    subsets = []
    for name in files:
        stem, ext = os.path.splitext(name)
        subset, split = _split_of(stem, form)
        if split == few_shot and few_shot is not None or subset in subsets:
            continue
        if split is None and os.path.exists(os.path.join(folder, f"{subset}_{evaluated}{ext}")) and len(files) == 1:
            raise UsageError(
                f"--eval_dataset {path}: EvalScope would read {subset}_{evaluated}{ext} beside it instead; "
                f"rename one of the two"
            )
        subsets.append(subset)
    if not subsets:
        raise UsageError(f"--eval_dataset {path}: only few-shot ({few_shot}) data; name the file to evaluate")
    subset = subsets[0] if len(files) == 1 else None
    where = {"local_path": folder, "few_shot_num": 0, "subset_list": subsets}
    if form == "general_mcq":
        where["prompt_template"] = MCQ_PROMPT
    return Benchmark(path, form, where, subset)


def _offline() -> bool:
    """What the Hugging Face libraries take for offline (``1``, ``true``, ``yes``, ``on``)."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _data_folders(name: str, args: Any) -> list[str]:
    folders = [os.path.join(os.environ["SWIFTK_EVAL_DATA"], name)] if os.environ.get("SWIFTK_EVAL_DATA") else []
    if args.get("local_dataset"):
        folders.append(os.path.join(os.getcwd(), "data", name))
    return folders


def resolve(name: str, args: Any, known: Optional[set] = None) -> Benchmark:
    """The evalscope benchmark and data of one ``--eval_dataset`` entry (module docstring), or a UsageError."""
    if name in DEMO_BENCHMARKS:
        benchmark, folder, extra = DEMO_BENCHMARKS[name]
        return Benchmark(name, benchmark, {"local_path": os.path.join(DATA_DIR, folder), **extra})
    known = _evalscope_benchmarks() if known is None else known
    if name not in known and os.path.exists(name):  # a benchmark's name wins over a folder of that name
        return _own_data(name)
    if name not in known:
        own = ", ".join(DEMO_BENCHMARKS)
        raise UsageError(
            f"--eval_dataset {name}: neither a benchmark EvalScope knows (e.g. gsm8k, arc, mmlu, ceval), one of "
            f"swift-plugin-eval's ({own}), nor an existing file or folder"
        )
    folders = _data_folders(name, args)
    found = next((f for f in folders if os.path.isdir(f)), None)
    if found:
        return Benchmark(name, name, {"local_path": found})
    if _offline():
        where = " or ".join(folders) if folders else "$SWIFTK_EVAL_DATA/" + name
        hint = "" if args.get("local_dataset") else " (or ./data/" + name + " with --local_dataset true)"
        raise UsageError(
            f"--eval_dataset {name}: its data is not here and the hub is offline: put the benchmark in its "
            f"Hugging Face layout in {where}{hint}"
        )
    return Benchmark(name, name)  # evalscope downloads it


def check(args: Any) -> list[Benchmark]:
    """Every ``--eval_dataset`` resolved, before anything loads; a missing one is one line."""
    names = list(args.get("eval_dataset") or [])
    if not names:
        raise UsageError("--eval_dataset: name at least one benchmark (e.g. swiftk/demo-gsm8k, gsm8k, or a jsonl file)")
    known = _evalscope_benchmarks()  # installed at all: fail before a model loads
    benchmarks = [resolve(name, args, known) for name in names]
    dataset_args_of(benchmarks)  # entries that cannot run together: refused now
    return benchmarks


def dataset_args_of(benchmarks: list[Benchmark]) -> dict:
    """evalscope's ``dataset_args``: one entry per benchmark, files of one folder as its subsets."""
    dataset_args: dict = {}
    for b in benchmarks:
        earlier = dataset_args.get(b.benchmark)
        if earlier is None:
            dataset_args[b.benchmark] = {**b.dataset_args}
        elif b.subset and earlier.get("subset_list") and earlier["local_path"] == b.dataset_args["local_path"]:
            earlier["subset_list"] = [*earlier["subset_list"], b.subset]
        else:
            raise UsageError(
                f"--eval_dataset: {b.name} and another entry are both evalscope's '{b.benchmark}' from different "
                f"places; put your files in one folder, or evaluate them in two runs"
            )
    return dataset_args


def task_config(args: Any, benchmarks: list[Benchmark], *, base_url: str, model: str, output_dir: str) -> dict:
    """The evalscope ``TaskConfig`` of the run, as JSON-able keyword arguments."""
    dataset_args = dataset_args_of(benchmarks)
    generation = {"temperature": float(args.get("temperature") or 0.0)}
    if args.get("max_new_tokens"):
        generation["max_tokens"] = int(args.max_new_tokens)
    config = {
        "model": model,
        "model_id": MODEL_ID,  # the reports' folder (evalscope would derive it from the name: org/m -> m)
        "api_url": base_url,
        "api_key": "EMPTY",  # the real key goes by environment, never into the task file
        "eval_type": "openai_api",
        "datasets": [b.benchmark for b in benchmarks],
        "dataset_args": dataset_args,
        "eval_batch_size": int(args.get("eval_num_proc") or 16),
        "generation_config": generation,
        "work_dir": output_dir,
        "no_timestamp": True,
    }
    if args.get("eval_limit") is not None:
        config["limit"] = int(args.eval_limit)
    return config


def run(args: Any, *, base_url: str, model: str, output_dir: str) -> dict[str, dict[str, float]]:
    """Evaluates every ``--eval_dataset`` against ``base_url``; returns dataset -> metric -> score,
    each dataset's primary metric first."""
    benchmarks = check(args)
    config = task_config(args, benchmarks, base_url=base_url, model=model, output_dir=output_dir)
    task = os.path.join(output_dir, "evalscope_task.json")
    with open(task, "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
    env = dict(os.environ)
    if args.get("api_key"):
        env["SWIFTK_EVAL_API_KEY"] = args.api_key
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if _offline():
        env["SWIFTK_EVAL_NLTK_FALLBACK"] = os.path.join(output_dir, "nltk_data")  # see swiftk_eval.evalscope_task
    log = os.path.join(output_dir, "evalscope.log")
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "swiftk_eval.evalscope_task", task], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    if proc.returncode != 0:
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = [line.rstrip() for line in f if line.strip()][-1:] or ["(no output)"]
        raise UsageError(f"EvalScope failed (exit {proc.returncode}; its log: {log}): {tail[0][:400]}")
    try:
        return {b.name: read_report(output_dir, b.benchmark, b.subset) for b in benchmarks}
    except (OSError, KeyError, ValueError) as exc:
        raise UsageError(
            f"EvalScope's reports in {output_dir} could not be read: {type(exc).__name__}: {exc}"
        ) from None


def metric_label(identity: dict) -> str:
    """``accuracy``, ``bleu-1``, ``rouge-l-recall``: an evalscope metric identity as one name."""
    dims = identity.get("dimensions") or {}
    parts = [identity["name"]] + [str(dims[k]) for k in ("ngram", "variant", "statistic") if k in dims]
    parts += [f"{k}={v}" for k, v in sorted(dims.items()) if k not in ("ngram", "variant", "statistic")]
    return "-".join(parts)


def read_report(output_dir: str, benchmark: str, subset: Optional[str] = None) -> dict[str, float]:
    """metric -> score of ``reports/MODEL_ID/BENCHMARK.json`` (of one of its subsets when given), the primary
    metric first."""
    path = os.path.join(output_dir, "reports", MODEL_ID, f"{benchmark}.json")
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    scores = {metric_label(m["identity"]): _score(m, subset) for m in report["metrics"]}
    primary = report.get("primary_metric_identity")
    if primary and metric_label(primary) in scores:
        first = metric_label(primary)
        scores = {first: scores[first], **{k: v for k, v in scores.items() if k != first}}
    return scores


def _score(metric: dict, subset: Optional[str]) -> float:
    if subset is None:
        return float(metric["score"])
    for category in metric.get("categories") or []:
        for part in category.get("subsets") or []:
            if part.get("name") == subset:
                return float(part["score"])
    raise ValueError(f"EvalScope's report has no subset '{subset}' for {metric['identity']}")
