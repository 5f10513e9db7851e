"""Which tests score a program when rewards are computed (MCTS, RL): the dataset's own, tests a
trained TCG writes from the statement alone, or both pooled."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.policy.base import PolicyConfig


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
    by input and pooled after the dataset's when the source is `both`."""
    if cfg.source == "dataset":
        return problems
    from coder_rl.policy import load_policy
    from tcg.data import input_key, usable_cases
    from tcg.generate import SuiteSamplingParams, sample_cases, sample_tests

    cfg.check()
    policy = load_policy(PolicyConfig(backend=backend, model=cfg.tcg_model, device=device))  # type: ignore[arg-type]
    sampling = SuiteSamplingParams(n=cfg.samples, max_tokens=cfg.max_tokens, seed=0)
    try:
        generated = {
            problem.id: [case for sample in samples for case in sample_cases(sample)]
            for problem, samples in sample_tests(policy, problems, cfg.num_tests, sampling, len(problems))
        }
    finally:
        policy.close()
    rewarded = []
    for problem in problems:
        own = problem.tests if cfg.source == "both" else []
        known = {input_key(case) for case in own}
        new = usable_cases(generated.get(problem.id, []), max_case_chars=10_000)
        rewarded.append(replace(problem, tests=own + [c for c in new if input_key(c) not in known]))
    return rewarded
