"""A policy's pass rate: sample completions in the RL prompt form and run their programs on the tests."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from coder_rl.policy.base import PolicyConfig, SamplingParams
from coder_rl.rl.rewards import RewardConfig, format_reward, outcome_rewards
from pseudocode import Action, step_prompt
from pseudocode.steps import step_open
from sandbox import Sandbox


class PassRateConfig(Section):
    samples: int = Field(4, ge=1, description="completions per problem")
    max_tokens: int = Field(512, ge=8)
    temperature: float = Field(0.8, ge=0, description="0: greedy (then one sample is enough)")
    seed: int = 0


def pass_rate(
    policy_cfg: PolicyConfig, problems: Sequence[Problem], box: Sandbox, cfg: PassRateConfig
) -> dict[str, float]:
    """pass@1 (the share of samples whose program passes every test), the share of problems with at
    least one passing sample, the mean pass fraction, and the share of well-formed completions."""
    from coder_rl.policy import load_policy

    policy = load_policy(policy_cfg)
    params = SamplingParams(
        n=cfg.samples, max_tokens=cfg.max_tokens, temperature=cfg.temperature, seed=cfg.seed
    )
    try:
        samples = policy.generate([step_prompt(p, [], Action.DEFINE) for p in problems], params)
    finally:
        policy.close()
    texts = [step_open(Action.DEFINE) + c.text for group in samples for c in group]
    repeated = [p for p, group in zip(problems, samples, strict=True) for _ in group]
    fraction = outcome_rewards(box, repeated, texts, RewardConfig(outcome="pass_fraction"))
    passed = [f == 1.0 for f in fraction]
    solved, start = 0, 0
    for group in samples:
        solved += any(passed[start : start + len(group)])
        start += len(group)
    count = max(len(texts), 1)
    return {
        "problems": len(problems),
        "pass_at_1": sum(passed) / count,
        "solved": solved / max(len(problems), 1),
        "pass_fraction": sum(fraction) / count,
        "format": sum(format_reward(texts)) / count,
    }
