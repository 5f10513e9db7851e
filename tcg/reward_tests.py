"""Which tests score a program when rewards are computed (MCTS, RL): the dataset's own, tests a
trained TCG writes from the statement alone, or both pooled; and `tcg_tests`, the one way a TCG's tests
are written for a problem (here, and for the verifier)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.policy.base import PolicyConfig

if TYPE_CHECKING:
    from coder_rl.policy.base import Policy
    from sandbox import TestCase

MAX_CASE_CHARS = 10_000  # a generated test longer than this is dropped


class RewardTestsConfig(Section):
    source: Literal["dataset", "tcg", "both"] = "dataset"
    tcg_model: str | None = Field(None, description="a model from `coder-rl tcg train` (source: tcg or both)")
    num_tests: int = Field(4, ge=1)
    samples: int = Field(2, ge=1, description="suites sampled per problem; their parsed tests are pooled")
    max_tokens: int = Field(384, ge=16)

    def check(self) -> None:
        if self.source != "dataset" and not self.tcg_model:
            raise UserError(
                f"tests.source is {self.source}: give tests.tcg_model, a model trained by `coder-rl tcg train`"
            )


def with_reward_tests(
    problems: list[Problem], cfg: RewardTestsConfig, backend: str, device: str
) -> list[Problem]:
    """The problems with the tests their programs are rewarded on; generated tests are deduplicated
    by input and pooled after the dataset's when the source is `both`. A call-based problem stays one
    whatever the TCG wrote (`Problem.with_tests`)."""
    if cfg.source == "dataset":
        return problems
    from coder_rl.policy import load_policy
    from tcg.data import input_key

    cfg.check()
    policy = load_policy(PolicyConfig(backend=backend, model=cfg.tcg_model, device=device))  # type: ignore[arg-type]
    try:
        generated = tcg_tests(policy, problems, cfg.num_tests, cfg.samples, cfg.max_tokens)
    finally:
        policy.close()
    rewarded = []
    for problem, new in zip(problems, generated, strict=True):
        own = problem.tests if cfg.source == "both" else []
        known = {input_key(case) for case in own}
        rewarded.append(problem.with_tests(own + [c for c in new if input_key(c) not in known]))
    return rewarded


def tcg_tests(
    policy: Policy, problems: Sequence[Problem], num_tests: int, samples: int, max_tokens: int
) -> list[list[TestCase]]:
    """Per problem, the tests a TCG (`policy`) writes from its statement alone: `samples` suites of
    `num_tests` asked for, pooled, keeping the usable cases (not oversized, carried by the format) and
    each input once. One policy call for all the problems."""
    from tcg.data import usable_cases
    from tcg.generate import SuiteSamplingParams, sample_cases, sample_tests

    sampling = SuiteSamplingParams(n=samples, max_tokens=max_tokens, seed=0)
    return [
        usable_cases(
            [case for sample in suites for case in sample_cases(sample)], max_case_chars=MAX_CASE_CHARS
        )
        for _, suites in sample_tests(policy, problems, num_tests, sampling, len(problems))
    ]
