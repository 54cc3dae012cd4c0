"""``--sampler_type mcts``: Monte Carlo tree search over reasoning steps, for prompts that sampling alone
rarely answers right.

An answer is a sequence of steps, each ending with the step separator (the first ``--stop_words``, else a
newline), as ms-swift splits them. The tree's root is the prompt; a node is the answer so far. Each
iteration:

1. select: from the root, follow the child with the best UCT score, ``value + exploration_rate *
   sqrt(ln(parent visits + 1) / (visits + 1))``, where value mixes the node's process reward (PRM) and its
   mean outcome: ``process_reward_rate * prm + (1 - process_reward_rate) * outcome``;
2. expand: sample ``--num_return_sequences`` next steps of that answer (distinct ones become children); a
   step the model ends the answer with is a finished answer, scored by the ORM (``--orm_model``);
3. roll out: below ``--rollout_start_depth``, each unfinished child is completed greedily, within
   ``--rollout_depth`` more steps, and the ORM's score of that answer is the child's first estimate;
4. back up: the best child's score is averaged into the expanded node and every node above it.

The search stops after ``--max_iterations``, when every branch is finished, or when ``--num_return_sequences``
finished answers were found. The output is the best correct answers (up to ``--n_best_to_keep``, distinct),
one line each, with the worst wrong one as ``rejected_response`` when there is one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

from swiftk.api import SampleContext, UsageError


@dataclasses.dataclass(eq=False)
class Node:
    """A partial answer: its steps, and what the search learned about it."""

    steps: list[str]
    parent: Optional["Node"] = None
    children: list["Node"] = dataclasses.field(default_factory=list)
    visits: int = 0
    value: float = 0.0  # mean outcome backed up through this node
    process: float = 0.0  # the PRM's score of the partial answer
    finished: bool = False  # the model ended the answer here
    dead: bool = False  # cut off (max_new_tokens) before the step ended
    outcome: Optional[float] = None  # the ORM's score, once finished

    @property
    def answer(self) -> str:
        return "".join(self.steps)

    @property
    def depth(self) -> int:
        return len(self.steps)

    @property
    def exhausted(self) -> bool:
        """Nothing left to search below it."""
        if self.finished or self.dead:
            return True
        return bool(self.children) and all(c.exhausted for c in self.children)


@dataclasses.dataclass
class Found:
    """A complete answer the search produced, from a finished node or a rollout."""

    answer: str
    score: float


class MCTSSampler:
    def __init__(self, context: SampleContext):
        self.context = context
        args = context.args
        if context.engine is None or context.continue_answer is None:
            raise UsageError("--sampler_type mcts generates as it searches: choose an engine, not --sampler_engine no")
        if context.orm is None:
            raise UsageError(
                "--sampler_type mcts: give --orm_model (e.g. accuracy): the search is guided by the score of finished answers"
            )
        self.width = int(args.num_return_sequences)
        if self.width < 1:
            raise UsageError(f"--num_return_sequences {self.width}: expand at least one step per node")
        self.separator = (list(args.get("stop_words") or []) or ["\n"])[0]
        self.rate = float(args.process_reward_rate)
        if self.rate > 0 and context.prm is None:
            raise UsageError(
                f"--process_reward_rate {self.rate}: mixes in the process reward, and no --prm_model is given"
            )
        self.exploration = float(args.exploration_rate)
        self.max_iterations = int(args.max_iterations)
        self.rollout_start = int(args.rollout_start_depth)
        self.rollout_depth = int(args.rollout_depth)
        self.keep = int(args.n_best_to_keep)

    # -- the four phases ------------------------------------------------------------------------------
    def uct(self, node: Node) -> float:
        value = self.rate * node.process + (1 - self.rate) * node.value
        explore = self.exploration * math.sqrt(math.log(node.parent.visits + 1) / (node.visits + 1))
        return value + explore

    def select(self, root: Node) -> Node:
        node = root
        while node.children:
            node = max((c for c in node.children if not c.exhausted), key=self.uct)
        return node

    def expand(self, row: dict, node: Node, found: list[Found]) -> list[Node]:
        ctx = self.context
        config = dataclasses.replace(ctx.config, n=self.width, stop=[self.separator])
        (response,) = ctx.engine.infer([ctx.continue_answer(row, node.answer)], config)
        children: list[Node] = []
        seen = {c.steps[-1] for c in node.children}
        for choice in response.choices:
            step = choice.message.get("content") or ""
            if step in seen:
                continue
            seen.add(step)
            child = Node(node.steps + [step], parent=node)
            if choice.finish_reason == "length":
                child.dead = True
            elif not step.endswith(self.separator) or not step.strip():
                child.finished = True
            children.append(child)
        node.children += children
        finished = [c for c in children if c.finished]
        if finished:
            scores = ctx.orm([c.answer for c in finished], [row] * len(finished))
            for child, score in zip(finished, scores):
                child.outcome = child.value = score
                found.append(Found(child.answer, score))
        if self.rate > 0 and children:
            for child, score in zip(children, ctx.prm([c.answer for c in children], [row] * len(children))):
                child.process = score
        return children

    def rollout(self, row: dict, children: list[Node], found: list[Found]) -> None:
        """Greedy completions of the unfinished children; the ORM's score of each is its first estimate."""
        ctx = self.context
        open_children = [c for c in children if not c.finished and not c.dead]
        if not open_children:
            return
        config = dataclasses.replace(ctx.config, n=1, temperature=0.0, stop=[])
        responses = ctx.engine.infer([ctx.continue_answer(row, c.answer) for c in open_children], config)
        done: list[tuple[Node, str]] = []
        for child, response in zip(open_children, responses):
            choice = response.choices[0]
            rest = choice.message.get("content") or ""
            steps = rest.count(self.separator) + (0 if rest.endswith(self.separator) else 1)
            if choice.finish_reason == "stop" and steps <= self.rollout_depth:
                done.append((child, child.answer + rest))
        if done:
            scores = ctx.orm([answer for _, answer in done], [row] * len(done))
            for (child, answer), score in zip(done, scores):
                child.value = score
                child.visits = 1
                found.append(Found(answer, score))

    @staticmethod
    def back_up(node: Node, children: list[Node]) -> None:
        scored = [c.value for c in children if c.outcome is not None or c.visits]
        value = max(scored) if scored else 0.0
        while node is not None:
            node.visits += 1
            node.value += (value - node.value) / node.visits
            node = node.parent

    # -- a prompt -----------------------------------------------------------------------------------------
    def search(self, row: dict) -> tuple[list[Found], dict[str, Any]]:
        root = Node([])
        found: list[Found] = []
        iterations, reason = 0, "max_iterations"
        while iterations < self.max_iterations:
            if root.exhausted:
                reason = "every branch finished"
                break
            if sum(1 for f in found if f.score > 0) >= self.width:
                reason = "enough correct answers"
                break
            node = self.select(root)
            children = self.expand(row, node, found)
            if node.depth > self.rollout_start:  # as ms-swift: nodes up to that depth are only expanded
                self.rollout(row, children, found)
            self.back_up(node, children)
            iterations += 1
        return found, {"iterations": iterations, "stop_reason": reason, "nodes": _count(root)}

    def sample(self, rows: list[dict]) -> list[dict]:
        from swiftk_sample.records import output_line

        system = self.context.args.get("system")
        lines: list[dict] = []
        for row in rows:
            found, stats = self.search(row)
            correct = sorted((f for f in found if f.score > 0), key=lambda f: -f.score)
            wrong = sorted((f for f in found if f.score <= 0), key=lambda f: f.score)
            kept: list[Found] = []
            for f in correct:
                if f.answer not in {k.answer for k in kept} and len(kept) < self.keep:
                    kept.append(f)
            for f in kept:
                lines.append(
                    output_line(
                        row,
                        f.answer,
                        system,
                        rejected_response=wrong[0].answer if wrong else None,
                        orm_score=f.score,
                        mcts=stats,
                    )
                )
        return lines


def _count(node: Node) -> int:
    return 1 + sum(_count(c) for c in node.children)
