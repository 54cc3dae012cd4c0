"""``--sampler_type mcts``: the search itself, against a scripted engine whose tree of steps is known, and
on the demo model, where it finds right answers to sums that greedy decoding gets wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from swiftk.api import ChatCompletionResponse, Choice, InferEngine, InferRequest, RequestConfig, SampleContext, Usage
from swiftk_sample.mcts import MCTSSampler

#: partial answer -> the steps the scripted model can take next ("" ends nothing: every leaf ends the answer)
TREE = {
    "": ["A\n", "B\n", "C\n"],
    "A\n": ["A1", "A2"],
    "B\n": ["B1\n", "B2\n"],
    "B\nB1\n": ["wrong"],
    "B\nB2\n": ["right"],
    "C\n": ["C1"],
}


class ScriptedEngine(InferEngine):
    """Answers a continuation request with the next steps of :data:`TREE`, round robin over ``n``."""

    def __init__(self):
        self.calls: list[tuple[str, int, list]] = []

    def infer(self, requests, config=None, *, use_tqdm=False):
        out = []
        for request in requests:
            partial = request.prompt
            self.calls.append((partial, config.n, list(config.stop)))
            options = TREE[partial]
            if not config.stop:  # a rollout: greedy to the end of the answer
                rest = options[0]
                while partial + rest in TREE:
                    rest += TREE[partial + rest][0]
                options = [rest]
            choices = [
                Choice(i, {"role": "assistant", "content": options[i % len(options)]}, "stop") for i in range(config.n)
            ]
            out.append(ChatCompletionResponse("scripted", choices, Usage(0, 0, 0)))
        return out

    def infer_stream(self, request, config=None):
        raise NotImplementedError


def context(engine, **args):
    values = dict(num_return_sequences=3, stop_words=[], process_reward_rate=0.0, exploration_rate=0.5,
                  max_iterations=20, rollout_start_depth=3, rollout_depth=5, n_best_to_keep=5, system=None)  # fmt: skip
    values.update(args)
    ns = SimpleNamespace(**values)
    ns.get = lambda name, default=None: getattr(ns, name, default)
    orm_calls = []

    def orm(completions, rows):
        orm_calls.append(list(completions))
        return [1.0 if c.endswith("right") else 0.0 for c in completions]

    ctx = SampleContext(
        args=ns, engine=engine, config=RequestConfig(max_tokens=8), orm=orm, row_id=lambda row: "id",
        prompt=lambda row: list(row["messages"]), continue_answer=lambda row, partial: InferRequest([], prompt=partial),
    )  # fmt: skip
    return ctx, orm_calls


ROW = {"messages": [{"role": "user", "content": "q"}]}


def test_the_search_finds_the_one_right_path_two_steps_down():
    engine = ScriptedEngine()
    ctx, orm_calls = context(engine)
    found, stats = MCTSSampler(ctx).search(ROW)
    assert [f.answer for f in found if f.score > 0] == ["B\nB2\nright"]
    assert stats["stop_reason"] == "every branch finished" and stats["nodes"] == 1 + 3 + 2 + 2 + 1 + 2 + 1 - 1
    # every expansion asked for --num_return_sequences steps up to the separator
    assert all(n == 3 and stop == ["\n"] for _, n, stop in engine.calls)
    assert sorted(p for p, _, _ in engine.calls) == sorted(TREE)  # each node expanded once, nothing twice
    lines = MCTSSampler(ctx).sample([ROW])
    assert len(lines) == 1 and lines[0]["messages"][-1] == {"role": "assistant", "content": "B\nB2\nright"}
    assert lines[0]["rejected_response"] in {"A\nA1", "A\nA2", "B\nB1\nwrong", "C\nC1"} and lines[0]["orm_score"] == 1.0


def test_rollouts_start_below_rollout_start_depth_and_stop_at_max_iterations():
    engine = ScriptedEngine()
    ctx, orm_calls = context(engine, rollout_start_depth=0, max_iterations=1)
    found, stats = MCTSSampler(ctx).search(ROW)
    assert stats == {"iterations": 1, "stop_reason": "max_iterations", "nodes": 4}
    # the root only (depth 0, not below 0): expanded, no rollout
    assert [stop for _, _, stop in engine.calls] == [["\n"]]
    engine = ScriptedEngine()
    ctx, _ = context(engine, rollout_start_depth=0, max_iterations=3)
    found, stats = MCTSSampler(ctx).search(ROW)
    # iteration 2 expands A (both children end the answer), iteration 3 expands B (depth 1, below 0): its two
    # open children are rolled out greedily, and the rollout of B2 is the right answer
    rollouts = [p for p, _, stop in engine.calls if not stop]
    assert rollouts == ["B\nB1\n", "B\nB2\n"]
    assert [f.answer for f in found if f.score > 0] == ["B\nB2\nright"]


def test_the_process_reward_steers_selection():
    engine = ScriptedEngine()
    ctx, _ = context(engine, process_reward_rate=1.0, exploration_rate=0.0, max_iterations=2)
    ctx.prm = lambda completions, rows: [1.0 if c.startswith("C") else 0.0 for c in completions]
    MCTSSampler(ctx).search(ROW)
    assert [p for p, _, _ in engine.calls] == ["", "C\n"]  # the PRM's favourite is expanded second


def swiftk(*args, timeout=900):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWIFTK_")}
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


@pytest.mark.slow
def test_on_the_demo_model_mcts_answers_more_sums_than_greedy_decoding(tmp_path):
    common = ["--model", "swiftk/tiny-chat", "--dataset", "swiftk/demo-grpo-sums#40", "--orm_model", "accuracy"]
    common += ["--max_new_tokens", "24", "--seed", "3", "--output_dir", tmp_path]
    swiftk("sample", *common, "--temperature", "0", "--num_return_sequences", "1", "--output_file", "greedy.jsonl")
    swiftk("sample", *common, "--sampler_type", "mcts", "--temperature", "0.8", "--num_return_sequences", "6",
           "--max_iterations", "6", "--output_file", "mcts.jsonl")  # fmt: skip
    greedy = {json.loads(line)["id"] for line in Path(tmp_path / "greedy.jsonl").read_text().splitlines()}
    mcts_lines = [json.loads(line) for line in Path(tmp_path / "mcts.jsonl").read_text().splitlines()]
    solved = {line["id"] for line in mcts_lines}
    print(f"greedy {len(greedy)}/40, mcts {len(solved)}/40")
    assert len(solved) >= len(greedy) + 6  # measured: 7 and 15 of 40 (all 200 sums, n 8: 44 and 112)
    assert all(line["orm_score"] > 0 and line["solution"] in line["messages"][-1]["content"] for line in mcts_lines)
