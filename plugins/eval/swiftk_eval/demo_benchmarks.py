"""The project's own small benchmarks, written by this module (never copied from a benchmark).

``python -m swiftk_eval.demo_benchmarks [DIR]`` writes them (default: the package's ``data/`` folder,
where they ship); ``plugins/eval/tests`` checks the shipped files are what it writes.

- ``swiftk/demo-gsm8k``: arithmetic word problems in GSM8K's form (``question``; ``answer`` with the
  working and ``#### N``), its Hugging Face layout (``main/test.jsonl``, ``main/train.jsonl`` for the
  few-shot examples, a README declaring the ``main`` config), read by evalscope's ``gsm8k`` benchmark;
- ``swiftk/demo-mcq``: four-choice questions (evalscope's general_mcq: ``default_val.jsonl``, and
  ``default_dev.jsonl`` for few-shot examples);
- ``swiftk/demo-qa``: short-answer questions (evalscope's general_qa: ``default.jsonl`` of
  ``query``/``response``), the identity questions of ``make demo`` among them, so the self-cognition
  training moves its score.
"""

from __future__ import annotations

import json
import os
import random
import sys
from typing import Iterable

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

_NAMES = ("Tom", "Ana", "Li", "Sara", "Omar", "Mia", "Ravi", "Lena")
_THINGS = ("apples", "books", "coins", "pencils", "stickers", "marbles")


def _word_problem(rng: random.Random) -> dict:
    name, thing = rng.choice(_NAMES), rng.choice(_THINGS)
    a, b = rng.randint(2, 20), rng.randint(2, 12)
    kind = rng.choice(("more", "gives", "times"))
    if kind == "more":
        question = f"{name} has {a} {thing} and gets {b} more. How many {thing} does {name} have now?"
        answer, work = a + b, f"{a} + {b} = {a + b}"
    elif kind == "gives":
        a += b
        question = f"{name} has {a} {thing} and gives away {b}. How many {thing} are left?"
        answer, work = a - b, f"{a} - {b} = {a - b}"
    else:
        b = rng.randint(2, 6)
        question = f"{name} buys {b} boxes with {a} {thing} in each. How many {thing} is that in all?"
        answer, work = a * b, f"{b} * {a} = {a * b}"
    return {"question": question, "answer": f"{name} has {work} {thing}.\n#### {answer}"}


_FACTS = [
    ("What color is the sky on a clear day?", "blue", ("green", "red", "black")),
    ("How many days are in a week?", "7", ("5", "6", "10")),
    ("Which animal says meow?", "a cat", ("a dog", "a cow", "a duck")),
    ("What do bees make?", "honey", ("milk", "silk", "bread")),
    ("What is frozen water called?", "ice", ("steam", "sand", "glass")),
    ("How many legs does a spider have?", "8", ("4", "6", "10")),
    ("Which planet do we live on?", "Earth", ("Mars", "Venus", "Jupiter")),
    ("What is 3 + 4?", "7", ("6", "8", "12")),
    ("Which season comes after winter?", "spring", ("summer", "autumn", "winter")),
    ("What is the opposite of hot?", "cold", ("warm", "loud", "tall")),
    ("How many hours are in a day?", "24", ("12", "60", "100")),
    ("What do plants need from the sun?", "light", ("salt", "noise", "plastic")),
    ("Which shape has three sides?", "a triangle", ("a square", "a circle", "a hexagon")),
    ("What is 10 - 3?", "7", ("6", "13", "3")),
    ("Which is the largest ocean?", "the Pacific", ("the Arctic", "the Indian", "the Atlantic")),
    ("What do you call a baby dog?", "a puppy", ("a kitten", "a calf", "a chick")),
]

_QA = [
    ("What is the capital of France?", "Paris is the capital of France."),
    ("How many days are in a leap year?", "A leap year has 366 days."),
    ("What is 2 + 2?", "2 + 2 = 4."),
    ("What color are bananas when ripe?", "Ripe bananas are yellow."),
    ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius at sea level."),
    ("Who are you?", "I am Xiao Huang, an AI assistant trained by ModelScope. How can I help you?"),
    ("What is your name?", "My name is Xiao Huang, and I was developed by ModelScope."),
    ("Who created you?", "ModelScope created me. My name is Xiao Huang."),
    ("Which company developed you?", "I am Xiao Huang, developed by ModelScope."),
    ("How many months are in a year?", "A year has 12 months."),
]


def _mcq(rows: Iterable[tuple], rng: random.Random, start: int) -> list[dict]:
    out = []
    for i, (question, right, wrong) in enumerate(rows):
        options = [right, *wrong]
        rng.shuffle(options)
        letters = "ABCD"
        row = {"id": start + i, "question": question, **dict(zip(letters, options))}
        row["answer"] = letters[options.index(right)]
        out.append(row)
    return out


def _write_jsonl(path: str, rows: list[dict]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


GSM8K_README = """---
configs:
- config_name: main
  data_files:
  - split: train
    path: main/train.jsonl
  - split: test
    path: main/test.jsonl
---
# swiftk/demo-gsm8k

Arithmetic word problems in GSM8K's form, written by swiftk_eval.demo_benchmarks (seeded).
"""


def write_all(root: str = DATA_DIR) -> list[str]:
    """Writes the three benchmarks under ``root``; returns the files written."""
    rng = random.Random(20261203)
    gsm = os.path.join(root, "demo-gsm8k")
    files = {
        os.path.join(gsm, "main", "test.jsonl"): [_word_problem(rng) for _ in range(40)],
        os.path.join(gsm, "main", "train.jsonl"): [_word_problem(rng) for _ in range(8)],
        os.path.join(root, "demo-mcq", "default_val.jsonl"): _mcq(_FACTS[:12], rng, 1),
        os.path.join(root, "demo-mcq", "default_dev.jsonl"): _mcq(_FACTS[12:], rng, 13),
        os.path.join(root, "demo-qa", "default.jsonl"): [{"query": q, "response": a} for q, a in _QA],
    }
    for path, rows in files.items():
        _write_jsonl(path, rows)
    readme = os.path.join(gsm, "README.md")
    with open(readme, "w", encoding="utf-8") as f:
        f.write(GSM8K_README)
    return [*files, readme]


if __name__ == "__main__":
    for path in write_all(sys.argv[1] if len(sys.argv) > 1 else DATA_DIR):
        print(path)
