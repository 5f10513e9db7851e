"""What a searched tree is for: step-labelled trajectories and the datasets made from them.

- trajectories: one record per program the search wrote (a root-to-terminal path), with each step's
  soft label (its backed-up value) and hard label: the format the PRM trains on;
- policy SFT: the correct paths, as prompt/completion;
- step preferences: sibling steps whose values differ by at least `gap`;
- journey-learning traces: a walk that tries failed branches first, reflects at each dead end,
  backtracks, and ends on the correct path (the o1 replication's "journey learning").
"""

from __future__ import annotations

from typing import Any, Literal

from coder_rl.data.problem import Problem
from coder_rl.mcts.tree import Node, hard_label, has_solution_below
from coder_rl.trajectory import prm_text, statement
from pseudocode import Step, format_steps
from pseudocode.steps import format_step


def trajectories(
    problem: Problem,
    root: Node,
    threshold: float = 0.5,
    rule: Literal["threshold", "any_correct"] = "any_correct",
) -> list[dict[str, Any]]:
    records = []
    for node in root.walk():
        if not node.terminal or node.step is None:
            continue
        path = node.path()[1:]
        records.append(
            {
                "problem_id": problem.id,
                "prompt": statement(problem),  # what the PRM reads before the steps (`prm_input`)
                "steps": [n.step.to_dict() for n in path],  # type: ignore[union-attr]
                "values": [n.value for n in path],
                "labels": [hard_label(n, threshold, rule) for n in path],
                "code": node.code,
                "reward": node.reward,
            }
        )
    return records


def correct_paths(problem: Problem, root: Node) -> list[dict[str, str]]:
    return [
        {
            "problem_id": problem.id,
            "prompt": statement(problem),
            "completion": format_steps(node.steps()),
        }
        for node in root.walk()
        if node.solved
    ]


def step_preferences(problem: Problem, root: Node, gap: float = 0.5) -> list[dict[str, Any]]:
    pairs = []
    for parent in root.walk():
        visited = [c for c in parent.children if c.visits]
        for better in visited:
            for worse in visited:
                if better.value - worse.value >= gap:
                    pairs.append(
                        {
                            "problem_id": problem.id,
                            "prompt": prm_text(statement(problem), parent.steps()),
                            "chosen": format_step(better.step),  # type: ignore[arg-type]
                            "rejected": format_step(worse.step),  # type: ignore[arg-type]
                            "value_gap": better.value - worse.value,
                        }
                    )
    return pairs


def journey(problem: Problem, root: Node, dead_ends_per_step: int = 1) -> dict[str, str] | None:
    """A trace through failed branches to the correct path, or None if the search found no program."""
    if not has_solution_below(root):
        return None
    parts: list[str] = []
    node = root
    while not node.solved:
        good = next(c for c in node.children if has_solution_below(c))
        failed = sorted(
            (c for c in node.children if c.visits and not has_solution_below(c)), key=lambda c: -c.value
        )
        for dead in failed[:dead_ends_per_step]:
            steps = _best_path(dead)
            parts.append(format_steps(steps))
            parts.append(_reflection(dead, node))
        parts.append(format_steps([good.step]))  # type: ignore[list-item]
        node = good
    return {"problem_id": problem.id, "prompt": statement(problem), "completion": "".join(parts)}


def _best_path(node: Node) -> list[Step]:
    """The steps from `node` down its most valuable branch."""
    steps = [node.step]
    while node.children:
        node = max(node.children, key=lambda c: c.value)
        steps.append(node.step)
    return [s for s in steps if s is not None]


def _reflection(dead: Node, back_to: Node) -> str:
    best = max((n.reward or 0.0 for n in dead.walk() if n.terminal), default=0.0)
    where = f"step {back_to.depth}" if back_to.depth else "the start"
    return (
        f"<reflection>\nThis approach does not work: its best program passes {best:.0%} of the tests. "
        f"Back to {where}.\n</reflection>\n"
    )
