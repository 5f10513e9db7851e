"""Rewards for RL on code, as o1-Coder combines them: φ = α(t)·R + (1 − α(t))·Σ_j γ^j·r_j / m.

- outcome R: the sandbox's pass fraction (or all-pass) of the completion's program on the tests; none
  at all (None) where a sandbox fault outlived its retry, since a fault of ours is not a wrong answer;
- process r_j: the PRM's score of step j of the completion (m steps), discounted by γ^j;
- format: whether the completion has its prompt format's shape (`Trajectory.well_formed`): pseudocode
  steps ending in code, or a chat answer ending in a ```python block.

α(t) moves weight between outcome and process over training: `constant`, or `linear` / `cosine`
from `alpha_start` to `alpha_end` over `alpha_steps`.

Each reward reads a completion as a `coder_rl.trajectory.Trajectory`, parsed once per completion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from coder_rl.execution import BatchRunner
from coder_rl.trajectory import PRMInput, Trajectory, prm_input
from sandbox import ProgramResult, Verdict, all_passed, pass_fraction


class RewardConfig(Section):
    outcome: Literal["pass_fraction", "all_pass"] = "pass_fraction"
    alpha_schedule: Literal["constant", "linear", "cosine"] = "linear"
    alpha_start: float = Field(0.5, ge=0, le=1, description="weight of the outcome at step 0")
    alpha_end: float = Field(1.0, ge=0, le=1, description="weight of the outcome from alpha_steps on")
    alpha_steps: int = Field(100, ge=1)
    gamma: float = Field(1.0, gt=0, le=1, description="discount of later steps' process rewards")


def alpha(step: int, cfg: RewardConfig) -> float:
    """α(t): the outcome's weight at training step t."""
    if cfg.alpha_schedule == "constant":
        return cfg.alpha_start
    progress = min(max(step, 0) / cfg.alpha_steps, 1.0)
    if cfg.alpha_schedule == "cosine":
        progress = (1 - math.cos(math.pi * progress)) / 2
    return cfg.alpha_start + (cfg.alpha_end - cfg.alpha_start) * progress


def combined(
    outcome: float | None, step_rewards: Sequence[float], step: int, cfg: RewardConfig
) -> float | None:
    """φ = α(t)·R + (1 − α(t))·Σ_j γ^j·r_j / m (no steps: the outcome alone; no outcome: no reward)."""
    a = alpha(step, cfg)
    if outcome is None or not step_rewards:
        return outcome
    process = sum(cfg.gamma**j * r for j, r in enumerate(step_rewards)) / len(step_rewards)
    return a * outcome + (1 - a) * process


def format_reward(trajectories: Sequence[Trajectory]) -> list[float]:
    """1.0 for a completion of its format's shape (`Trajectory.well_formed`), else 0.0."""
    return [float(t.well_formed) for t in trajectories]


def run_programs(
    box: BatchRunner, problems: Sequence[Problem], trajectories: Sequence[Trajectory], fail_fast: bool = False
) -> list[ProgramResult | None]:
    """Each trajectory's program, as its problem's grader runs it (`Problem.runnable`), on the problem's
    tests, in one sandbox batch (None: no program, or a problem without tests)."""
    runnable = [
        (i, t.program) for i, t in enumerate(trajectories) if t.program is not None and problems[i].tests
    ]
    results = box.run_batch(
        [(problems[i].runnable(code), problems[i].tests) for i, code in runnable], fail_fast=fail_fast
    )
    out: list[ProgramResult | None] = [None] * len(trajectories)
    for (i, _), result in zip(runnable, results, strict=True):
        out[i] = result
    return out


_NOT_THE_PROGRAMS = {Verdict.PASSED, Verdict.SANDBOX_ERROR, Verdict.SKIPPED}


def outcome(result: ProgramResult | None, cfg: RewardConfig) -> float | None:
    """R for one program: its pass fraction, or 1.0 / 0.0 for all passed or not; 0.0 with no program.
    None where a test ended in sandbox_error (a fault of ours that outlived the sandbox's retry on a
    fresh worker): no reward at all, never a 0 the policy would learn from."""
    if result is None:
        return 0.0
    if cfg.outcome == "all_pass" and any(t.verdict not in _NOT_THE_PROGRAMS for t in result.tests):
        return 0.0  # a test the program failed decides it, whatever a fault left unknown
    if any(t.verdict is Verdict.SANDBOX_ERROR for t in result.tests):
        return None
    return pass_fraction(result) if cfg.outcome == "pass_fraction" else all_passed(result)


def outcome_rewards(
    box: BatchRunner, problems: Sequence[Problem], trajectories: Sequence[Trajectory], cfg: RewardConfig
) -> list[float | None]:
    """Each trajectory's R (`outcome`), its program run in one sandbox batch."""
    results = run_programs(box, problems, trajectories, fail_fast=cfg.outcome == "all_pass")
    return [outcome(result, cfg) for result in results]


PRMScorer = Callable[[list[PRMInput]], list[list[float]]]  # `PRM.score_batch`


def process_rewards(
    score_steps: PRMScorer, problems: Sequence[Problem], trajectories: Sequence[Trajectory]
) -> list[list[float]]:
    """Each trajectory's per-step PRM scores, on `prm_input`: the problem as the PRM was trained to read
    it (not the policy's few-shot prompt), then exactly the steps the policy wrote."""
    return score_steps([prm_input(p, t.steps) for p, t in zip(problems, trajectories, strict=True)])
