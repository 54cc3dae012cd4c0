"""``--sampler_type sample``: rejection sampling (ms-swift's vanilla sampler).

Each prompt gets ``--num_return_sequences`` completions (or those ``--cache_files`` hold for it). Without
``--orm_model``/``--prm_model`` every completion is written, one line each: the first phase of the two-phase
flow. With them, each completion is scored; those the ORM rejects (score <= 0) or whose PRM score is not
above ``--prm_threshold`` are dropped, prompts with more than ``--easy_query_threshold`` of their
completions correct are dropped as too easy, and the ``--n_best_to_keep`` best distinct ones remain (ranked
by the min-max normalized PRM score plus ten times the normalized ORM score, as ms-swift ranks them). Each
kept completion is one line, with the prompt's worst completion as ``rejected_response`` when it scored lower:
``swiftk sft`` trains on the lines, ``swiftk rlhf --rlhf_type dpo`` on the pairs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from swiftk.api import SampleContext, UsageError


def normalized(values: list[float]) -> list[float]:
    """Min-max normalized to [0, 1]; all equal: 0 when they are 0, else min(1, value) (ms-swift)."""
    low, high = min(values), max(values)
    if low == high:
        return [0.0 if low == 0 else min(1.0, low)] * len(values)
    return [(v - low) / (high - low) for v in values]


class RejectionSampler:
    def __init__(self, context: SampleContext):
        self.context = context
        args = context.args
        self.n = int(args.num_return_sequences)
        if self.n < 1:
            raise UsageError(f"--num_return_sequences {self.n}: sample at least one completion per prompt")
        if context.engine is None and not context.cache:
            raise UsageError(
                "--sampler_engine no: nothing to score; give --cache_files (the output of a run without "
                "--orm_model/--prm_model), or choose an engine"
            )
        self.system = args.get("system")
        self.keep = int(args.n_best_to_keep)
        self.prm_threshold = float(args.prm_threshold)
        self.easy = args.get("easy_query_threshold")

    # -- generation -----------------------------------------------------------------------------------
    def completions(self, rows: list[dict]) -> list[list[str]]:
        """``--num_return_sequences`` completions per row: cached ones first, the rest generated in one batch."""
        ctx = self.context
        out = [list(ctx.cache.get(ctx.row_id(row), ()))[: self.n] for row in rows]
        missing = [(i, self.n - len(got)) for i, got in enumerate(out) if len(got) < self.n]
        if not missing:
            return out
        if ctx.engine is None:
            ids = ", ".join(ctx.row_id(rows[i]) for i, _ in missing[:3])
            raise UsageError(
                f"--sampler_engine no: --cache_files hold fewer than --num_return_sequences {self.n} completions "
                f"for {len(missing)} rows of this --dataset (ids {ids}...); they were sampled from another dataset "
                f"or with fewer sequences"
            )
        from swiftk.api import InferRequest

        requests, owners = [], []
        for i, count in missing:
            config = dataclasses.replace(ctx.config, n=count)
            requests.append(InferRequest(ctx.prompt(rows[i])))
            owners.append((i, config))
        # one batch when every row needs the same count (the usual case), else one call per count
        by_count: dict[int, list[int]] = {}
        for k, (i, config) in enumerate(owners):
            by_count.setdefault(config.n, []).append(k)
        for count, ks in by_count.items():
            responses = ctx.engine.infer(
                [requests[k] for k in ks], dataclasses.replace(ctx.config, n=count), use_tqdm=False
            )
            for k, response in zip(ks, responses):
                i = owners[k][0]
                out[i] += [self.answer(c) for c in response.choices]
        return out

    def answer(self, choice: Any) -> str:
        """The text of one generated choice."""
        return choice.message.get("content") or ""

    # -- scoring ----------------------------------------------------------------------------------------
    def sample(self, rows: list[dict]) -> list[dict]:
        from swiftk_sample.records import output_line

        ctx = self.context
        lines: list[dict] = []
        for row, answers in zip(rows, self.completions(rows)):
            if ctx.orm is None and ctx.prm is None:
                lines += [output_line(row, a, self.system) for a in answers]
                continue
            lines += self.select(row, answers)
        return lines

    def select(self, row: dict, answers: list[str]) -> list[dict]:
        from swiftk_sample.records import output_line

        if not answers:
            return []
        ctx = self.context
        same = [row] * len(answers)
        orm = ctx.orm(answers, same) if ctx.orm else None
        prm = ctx.prm(answers, same) if ctx.prm else None
        if orm is not None and self.easy is not None:
            if sum(s > 0 for s in orm) / len(answers) > float(self.easy):
                return []  # too easy: most answers are right already
        keep = [
            (orm is None or orm[i] > 0) and (prm is None or prm[i] > self.prm_threshold) for i in range(len(answers))
        ]
        n_orm = normalized(orm) if orm is not None else [1.0] * len(answers)
        n_prm = normalized(prm) if prm is not None else [1.0] * len(answers)
        score = [p + 10 * o for p, o in zip(n_prm, n_orm)]
        order = sorted(range(len(answers)), key=lambda i: -score[i])
        worst = order[-1]
        chosen: list[int] = []
        for i in order:
            if keep[i] and answers[i] not in {answers[c] for c in chosen} and len(chosen) < self.keep:
                chosen.append(i)
        lines = []
        for i in chosen:
            rejected: Optional[str] = answers[worst] if score[worst] < score[i] else None
            lines.append(
                output_line(
                    row,
                    answers[i],
                    self.system,
                    rejected_response=rejected,
                    orm_score=None if orm is None else orm[i],
                    prm_score=None if prm is None else prm[i],
                )
            )
        return lines


class DistillSampler(RejectionSampler):
    """``--sampler_type distill`` (ms-swift 3.x, after the page): answers of a (usually large, served) model
    as training data, one line each, scored when rewards are given. A server that returns its reasoning
    apart (``reasoning_content``, DeepSeek-R1's API) gets ``<think>{reasoning}</think>\\n\\n<answer>{content}</answer>``,
    as ms-swift writes it."""

    def answer(self, choice: Any) -> str:
        content = choice.message.get("content") or ""
        reasoning = choice.message.get("reasoning_content")
        return f"<think>{reasoning}</think>\n\n<answer>{content}</answer>" if reasoning else content
