"""One reward for every trainer: a completion's program judged on its problem's tests in the sandbox, with
the PRM's process reward and the format reward, combined exactly as `rl run` combines them
(`coder_rl.rewards`). The adapters beside this module (trl, verl, openrlhf) only translate each trainer's
call into `RewardScorer.score` and its answer back.

A sandbox fault that outlives the sandbox's retry on a fresh worker is no answer at all: that sample's
reward is None (each adapter says what its trainer makes of it), never 0.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coder_rl.data.adapters import BadRow, taco_tests
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.execution import BatchRunner
from coder_rl.rewards import (
    PRMScorer,
    RewardConfig,
    combined,
    format_reward,
    outcome,
    process_rewards,
    run_programs,
)
from coder_rl.trajectory import PromptFormat, read_completion
from sandbox import Verdict, pass_fraction

NO_PROGRAM = "no_program"  # a completion without a program, or a problem without tests: nothing ran


@dataclass(frozen=True)
class Judged:
    """One completion's reward and what is worth logging beside it."""

    reward: float | None  # φ + format_weight·format; None: a sandbox fault, so no reward
    outcome: float | None  # R: the pass fraction (or all-pass), None on a fault
    pass_fraction: float  # of the tests that ran (0.0 without a program)
    verdicts: dict[str, int]  # test verdict -> count (NO_PROGRAM when there was nothing to run)
    format: float  # 1.0 for a completion of its format's shape (`Trajectory.well_formed`)
    step_scores: list[float] = field(default_factory=list)  # the PRM's, when one is loaded


class RewardScorer:
    """Scores completions against their problems' tests, on a `Sandbox` (or the `Verifier` holding one);
    thread-safe (the PRM is used by one caller at a time, the sandbox takes concurrent batches).
    `format` is the prompt format the completions answer (`coder_rl.trajectory`): it says where the
    program is and what shape the format reward asks for."""

    def __init__(
        self,
        box: BatchRunner,
        prm: PRMScorer | None = None,
        rewards: RewardConfig | None = None,
        format_weight: float = 0.0,
        format: PromptFormat = "steps",
    ) -> None:
        self.box, self.prm, self.rewards = box, prm, rewards or RewardConfig()
        self.format_weight, self.format = format_weight, format
        self._prm_lock = threading.Lock()

    def score(self, problems: Sequence[Problem], completions: Sequence[str], step: int = 0) -> list[Judged]:
        """Each completion's reward at training step `step` (which sets α(t)), its program run on its own
        problem's tests, all in one sandbox batch."""
        trajectories = [read_completion(c, self.format) for c in completions]
        results = run_programs(self.box, problems, trajectories, fail_fast=self.rewards.outcome == "all_pass")
        steps: list[list[float]] = [[] for _ in trajectories]
        if self.prm is not None and trajectories:
            with self._prm_lock:
                steps = process_rewards(self.prm, problems, trajectories)
        formats = format_reward(trajectories)
        judged = []
        for result, scores, fmt in zip(results, steps, formats, strict=True):
            r = outcome(result, self.rewards)
            phi = combined(r, scores, step, self.rewards)
            verdicts = Counter(t.verdict.value for t in result.tests) if result else {NO_PROGRAM: 1}
            judged.append(
                Judged(
                    reward=None if phi is None else phi + self.format_weight * fmt,
                    outcome=r,
                    pass_fraction=pass_fraction(result) if result else 0.0,
                    verdicts=dict(verdicts),
                    format=fmt,
                    step_scores=scores,
                )
            )
        return judged


def verdict_counts(judged: Judged) -> dict[str, int]:
    """`verdict/<name>`: how many of its tests got each verdict, every verdict named (trainers that log
    a dict per sample want the same keys for every sample)."""
    return {f"verdict/{v.value}": judged.verdicts.get(v.value, 0) for v in Verdict}


def faults(judged: Sequence[Judged]) -> int:
    """How many samples got no reward for a sandbox fault."""
    return sum(j.verdicts.get(Verdict.SANDBOX_ERROR.value, 0) > 0 for j in judged)


def label_problem(label: Any, question: str = "", known: Mapping[str, Problem] | None = None) -> Problem:
    """The problem a trainer's label names: TACO's `input_output` (a JSON string or the decoded object,
    stdin or call-based, as veRL's and OpenRLHF's code datasets carry it), or the id of a problem in
    `known` (a dataset the server loaded). A label that is neither is a UserError naming why."""
    if isinstance(label, str) and known is not None and label in known:
        return known[label]
    try:
        tests = taco_tests(label)
    except BadRow as exc:
        hint = " or a known problem id" if known else ""
        raise UserError(f"label is not TACO input_output{hint}: {exc}") from None
    return Problem(id="label", question=question, tests=tests)


_local: dict[str, Any] = {}
_local_lock = threading.Lock()


def local_scorer(
    workers: int | None = None, python: str | None = None, format: PromptFormat = "steps"
) -> RewardScorer:
    """A scorer of completions in `format` on a sandbox this process owns, started at the first call
    (with these `workers` and `python`, the interpreter programs run on, whose packages they may import)
    and stopped at exit: for reward functions a trainer loads into its own workers (veRL's, OpenRLHF's)."""
    with _local_lock:
        if "box" not in _local:
            import atexit

            from sandbox import Sandbox

            _local["box"] = Sandbox(workers=workers, python=python)
            atexit.register(_local["box"].close)
        return RewardScorer(_local["box"], format=format)
