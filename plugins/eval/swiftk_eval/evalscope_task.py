"""``python -m swiftk_eval.evalscope_task TASK.json``: one evalscope run, in its own process.

evalscope configures the root logger and its environment as it imports, so the eval command runs it
here.  The API key arrives in ``SWIFTK_EVAL_API_KEY`` (never in the task file).  BLEU tokenizes with
NLTK's ``punkt_tab``, which is downloaded on first use and so is missing offline, where evalscope would
score every BLEU 0 without a word: offline (the command passes ``SWIFTK_EVAL_NLTK_FALLBACK``, a folder of
the run), when NLTK cannot find it, the Punkt parameters of :func:`punkt_fallback` are used instead, and the
log says so; online NLTK downloads the real one.
"""

from __future__ import annotations

import json
import os
import sys

#: Abbreviations the fallback's sentence splitter does not end a sentence at.
_ABBREVIATIONS = ("mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "no", "fig")


def punkt_fallback(root: str) -> str:
    """An NLTK data folder with ``tokenizers/punkt_tab/english``: Punkt parameters without training
    statistics beyond common abbreviations (sentence splits at ``.?!`` as a trained model mostly does).
    Word tokenization, which BLEU scores, is NLTK's own Treebank tokenizer either way."""
    folder = os.path.join(root, "tokenizers", "punkt_tab", "english")
    os.makedirs(folder, exist_ok=True)
    files = {
        "collocations.tab": "",
        "sent_starters.txt": "",
        "ortho_context.tab": "",
        "abbrev_types.txt": "\n".join(_ABBREVIATIONS) + "\n",
    }
    for name, text in files.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)
    return root


def _ensure_punkt() -> None:
    fallback = os.environ.get("SWIFTK_EVAL_NLTK_FALLBACK")
    if not fallback:
        return
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        root = punkt_fallback(fallback)
        nltk.data.path.insert(0, root)
        os.environ["NLTK_DATA"] = os.pathsep.join(filter(None, [root, os.environ.get("NLTK_DATA")]))
        print(f"[swiftk] NLTK's punkt_tab is not installed: BLEU tokenizes with the fallback in {root}", flush=True)


def main(task_path: str) -> int:
    with open(task_path, encoding="utf-8") as f:
        config = json.load(f)
    if os.environ.get("SWIFTK_EVAL_API_KEY"):
        config["api_key"] = os.environ["SWIFTK_EVAL_API_KEY"]
    _ensure_punkt()
    from evalscope import TaskConfig, run_task

    run_task(TaskConfig(**config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
