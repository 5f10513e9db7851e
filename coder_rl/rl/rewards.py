"""Rewards for RL on code, as o1-Coder combines them: φ = α(t)·R + (1 − α(t))·Σ_j γ^j·r_j / m.

- outcome R: the sandbox's pass fraction (or all-pass) of the completion's program on the tests;
- process r_j: the PRM's score of step j of the completion (m steps), discounted by γ^j;
- format: whether the completion follows the pseudocode step format and ends in code.

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
from coder_rl.trajectory import PRMInput, Trajectory, prm_input
from sandbox import Sandbox, all_passed, pass_fraction


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


def combined(outcome: float, step_rewards: Sequence[float], step: int, cfg: RewardConfig) -> float:
    """φ = α(t)·R + (1 − α(t))·Σ_j γ^j·r_j / m (no steps: the outcome alone)."""
    a = alpha(step, cfg)
    if not step_rewards:
        return outcome
    process = sum(cfg.gamma**j * r for j, r in enumerate(step_rewards)) / len(step_rewards)
    return a * outcome + (1 - a) * process


def format_reward(trajectories: Sequence[Trajectory]) -> list[float]:
    """1.0 for a well-formed run of steps that ends in a generate step with code, else 0.0."""
    return [float(t.well_formed) for t in trajectories]


def outcome_rewards(
    box: Sandbox, problems: Sequence[Problem], trajectories: Sequence[Trajectory], cfg: RewardConfig
) -> list[float]:
    """Each trajectory's program on its problem's tests, in one sandbox batch; no program scores 0."""
    runnable = [
        (i, t.program) for i, t in enumerate(trajectories) if t.program is not None and problems[i].tests
    ]
    results = box.run_batch(
        [(code, problems[i].tests) for i, code in runnable], fail_fast=cfg.outcome == "all_pass"
    )
    score = pass_fraction if cfg.outcome == "pass_fraction" else all_passed
    rewards = [0.0] * len(trajectories)
    for (i, _), result in zip(runnable, results, strict=True):
        rewards[i] = score(result)
    return rewards


PRMScorer = Callable[[list[PRMInput]], list[list[float]]]  # `PRM.score_batch`


def process_rewards(
    score_steps: PRMScorer, problems: Sequence[Problem], trajectories: Sequence[Trajectory]
) -> list[list[float]]:
    """Each trajectory's per-step PRM scores, on `prm_input`: the problem as the PRM was trained to read
    it (not the policy's few-shot prompt), then exactly the steps the policy wrote."""
    return score_steps([prm_input(p, t.steps) for p, t in zip(problems, trajectories, strict=True)])


def score_trajectories(
    box: Sandbox, score_steps: PRMScorer | None, problems: Sequence[Problem],
    trajectories: Sequence[Trajectory], cfg: RewardConfig,
) -> tuple[list[float], list[list[float]]]:  # fmt: skip
    """Each trajectory's outcome and per-step process scores (no steps without a PRM)."""
    outcomes = outcome_rewards(box, problems, trajectories, cfg)
    steps = (
        process_rewards(score_steps, problems, trajectories) if score_steps else [[] for _ in trajectories]
    )
    return outcomes, steps
