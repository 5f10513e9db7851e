"""Selection: pick one program from a problem's candidates without looking at its hidden tests.

Each aggregation is a pure function of what was measured about the candidates and returns the index
of the chosen one; ties always go to the lowest index, so a run is deterministic.

- `majority_vote`: cluster the candidates by behaviour (their outputs on the selection tests' inputs),
  pick the largest cluster (AlphaCode's clustering, self-consistency for programs).
- `codet`: CodeT's dual agreement: cluster by identical pass vectors on the generated tests; a cluster
  scores (programs in it) × (tests it passes).
- `orm_max`, `orm_vote`: an outcome reward per program, the best one, or the behaviour cluster with the
  largest sum of rewards (OpenR's ORM_max and ORM_vote).
- `prm_min_max`, `prm_last_max`, `prm_min_vote`, `prm_last_vote`: the PRM's step scores reduced to one
  per trajectory by its weakest or its last step, then the best one, or the weighted vote.

A vote returns the highest-scoring member of the winning cluster (the first one when nothing is scored).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

from coder_rl.prm.model import reduce_steps
from sandbox import CallCase, ProgramResult, StdioCase, TestCase, Verdict

AggregationName = Literal[
    "majority_vote",
    "codet",
    "orm_max",
    "orm_vote",
    "prm_min_max",
    "prm_last_max",
    "prm_min_vote",
    "prm_last_vote",
]


def argmax(scores: Sequence[float]) -> int:
    """The index of the highest score; the lowest such index on a tie."""
    if not scores:
        raise ValueError("no candidates to select from")
    best = 0
    for i, score in enumerate(scores):
        if score > scores[best]:
            best = i
    return best


def clusters(signatures: Sequence[Hashable]) -> list[list[int]]:
    """Indices grouped by equal signature, each group in index order, groups by their first member."""
    groups: dict[Hashable, list[int]] = {}
    for i, signature in enumerate(signatures):
        groups.setdefault(signature, []).append(i)
    return list(groups.values())


def majority_vote(signatures: Sequence[Hashable]) -> int:
    """The first member of the largest behaviour cluster."""
    groups = clusters(signatures)
    return groups[argmax([len(group) for group in groups])][0]


def codet(pass_vectors: Sequence[Sequence[bool]]) -> int:
    """CodeT's dual agreement: programs that pass exactly the same tests form a consensus set, scored
    by its size times the number of tests it passes; the first member of the best set."""
    groups = clusters([tuple(vector) for vector in pass_vectors])
    return groups[argmax([len(group) * sum(pass_vectors[group[0]]) for group in groups])][0]


def weighted_vote(signatures: Sequence[Hashable], scores: Sequence[float]) -> int:
    """The behaviour cluster with the largest sum of scores; within it, the highest-scoring member."""
    groups = clusters(signatures)
    winner = groups[argmax([sum(scores[i] for i in group) for group in groups])]
    return winner[argmax([scores[i] for i in winner])]


def orm_max(orm_scores: Sequence[float]) -> int:
    return argmax(orm_scores)


def orm_vote(signatures: Sequence[Hashable], orm_scores: Sequence[float]) -> int:
    return weighted_vote(signatures, orm_scores)


def prm_min_max(step_scores: Sequence[Sequence[float]]) -> int:
    return argmax([reduce_steps(s, "min") for s in step_scores])


def prm_last_max(step_scores: Sequence[Sequence[float]]) -> int:
    return argmax([reduce_steps(s, "last") for s in step_scores])


def prm_min_vote(signatures: Sequence[Hashable], step_scores: Sequence[Sequence[float]]) -> int:
    return weighted_vote(signatures, [reduce_steps(s, "min") for s in step_scores])


def prm_last_vote(signatures: Sequence[Hashable], step_scores: Sequence[Sequence[float]]) -> int:
    return weighted_vote(signatures, [reduce_steps(s, "last") for s in step_scores])


def behaviour(result: ProgramResult, tests: Sequence[TestCase]) -> tuple[str, ...]:
    """What a program did on each test, in a form two programs share exactly when they behaved alike:
    a stdin program's output (whitespace-normalised tokens, as the judge compares them), a call's
    return value (the expected one, or the one the verdict's detail quotes), else how it failed."""
    out = []
    for case, test in zip(tests, result.tests, strict=True):
        ran = test.verdict in (Verdict.PASSED, Verdict.WRONG_ANSWER)
        if ran and isinstance(case, StdioCase):
            out.append("stdout: " + " ".join(test.stdout.split()))
        elif ran and isinstance(case, CallCase) and test.verdict is Verdict.WRONG_ANSWER:
            out.append(test.detail)  # "expected X, got Y": Y is what it returned
        else:  # a call that returned the expected value, an assert's outcome, a crash, a timeout
            out.append(test.verdict.value)
    return tuple(out)


@dataclass
class Evidence:
    """What selection may use about one problem's candidates, one entry per candidate."""

    signatures: list[Hashable]  # behaviour on the selection tests (see `behaviour`)
    pass_vectors: list[tuple[bool, ...]]  # passed or not, per selection test
    orm: list[float] | None = None  # the PRM's score of the bare program (None: no PRM)
    steps: list[list[float]] | None = None  # the PRM's score of each reasoning step (None: no PRM)


NEEDS_PRM = {"orm_max", "orm_vote", "prm_min_max", "prm_last_max", "prm_min_vote", "prm_last_vote"}

AGGREGATIONS: dict[str, Callable[[Evidence], int]] = {
    "majority_vote": lambda e: majority_vote(e.signatures),
    "codet": lambda e: codet(e.pass_vectors),
    "orm_max": lambda e: orm_max(e.orm or []),
    "orm_vote": lambda e: orm_vote(e.signatures, e.orm or []),
    "prm_min_max": lambda e: prm_min_max(e.steps or []),
    "prm_last_max": lambda e: prm_last_max(e.steps or []),
    "prm_min_vote": lambda e: prm_min_vote(e.signatures, e.steps or []),
    "prm_last_vote": lambda e: prm_last_vote(e.signatures, e.steps or []),
}


def pick(name: str, evidence: Evidence) -> int:
    """The candidate aggregation `name` picks."""
    return AGGREGATIONS[name](evidence)
