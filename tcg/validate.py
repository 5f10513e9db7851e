"""Validation: a generated test is valid when the problem's reference solutions pass it. With several
references, the majority decides; on a tie the references themselves disagree, and the test is
neither valid nor invalid (None): it is kept out of metrics' "valid" and out of DPO's pools alike."""

from __future__ import annotations

from collections.abc import Sequence

from coder_rl.data.problem import Problem
from sandbox import Sandbox
from tcg.format import TestCase

Verdicts = list[bool | None]  # per test: valid, invalid, or undecided (a tie)


def validate(
    box: Sandbox, items: Sequence[tuple[Problem, Sequence[TestCase]]], max_references: int = 3
) -> list[Verdicts | None]:
    """For each (problem, tests): each test's verdict; None for a problem without references."""
    batch, owners = [], []
    for index, (problem, cases) in enumerate(items):
        for reference in problem.solutions[:max_references]:
            if cases:
                batch.append((problem.runnable(reference), list(cases)))
                owners.append(index)
    votes: list[list[int]] = [[0] * len(cases) for _, cases in items]
    voters = [0] * len(items)
    # Every test must run: fail-fast would turn the tests after a failure into votes against.
    for index, result in zip(owners, box.run_batch(batch, fail_fast=False), strict=True):
        voters[index] += 1
        for j, test in enumerate(result.tests):
            votes[index][j] += test.passed
    return [
        None if not problem.solutions else [_majority(v, voters[i]) for v in votes[i]]
        for i, (problem, _) in enumerate(items)
    ]


def _majority(passed: int, voters: int) -> bool | None:
    return None if 2 * passed == voters else 2 * passed > voters
