"""``--eval_backend exact_match``: the share of answers equal to the expected ``response``.

``check(args)`` runs before any model loads; ``run(args, *, base_url, model, output_dir)`` asks the served
model through the OpenAI API and returns ``{dataset: {metric: score}}``, keeping its predictions in the
run's folder.
"""

from __future__ import annotations

import json
import os
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from swiftk.api import UsageError


def _rows(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for i, row in enumerate(rows, 1):
        if not {"query", "response"} <= set(row):
            raise UsageError(f"--eval_dataset {path}:{i}: exact_match needs 'query' and 'response' in every row")
    return rows


def check(args: Any) -> None:
    for path in args.eval_dataset or []:
        if not os.path.isfile(path):
            raise UsageError(f"--eval_dataset {path}: exact_match evaluates jsonl files of query/response rows")
        _rows(path)


def _ask(base_url: str, model: str, api_key: Any, query: str, temperature: float) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": query}], "temperature": temperature}
    request = urllib.request.Request(
        base_url.rstrip("/") + "/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)["choices"][0]["message"]["content"]


def run(args: Any, *, base_url: str, model: str, output_dir: str) -> dict:
    results = {}
    for path in args.eval_dataset:
        rows = _rows(path)[: args.eval_limit or None]
        with ThreadPoolExecutor(max_workers=int(args.eval_num_proc or 1)) as pool:
            answers = list(pool.map(
                lambda row: _ask(base_url, model, args.api_key, row["query"], float(args.temperature or 0)), rows
            ))  # fmt: skip
        same = [a.strip().lower() == row["response"].strip().lower() for a, row in zip(answers, rows)]
        name = os.path.splitext(os.path.basename(path))[0]
        with open(os.path.join(output_dir, f"{name}_predictions.jsonl"), "w", encoding="utf-8") as f:
            for row, answer, ok in zip(rows, answers, same):
                f.write(json.dumps({**row, "prediction": answer, "exact_match": ok}, ensure_ascii=False) + "\n")
        results[path] = {"exact_match": sum(same) / len(rows) if rows else 0.0}
    return results
