"""A policy's pass rate: sample completions in the RL prompt form and run their programs on the tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from coder_rl.policy.base import PolicyConfig, SamplingParams
from coder_rl.rewards import RewardConfig, format_reward, outcome_rewards
from coder_rl.trajectory import PromptConfig, policy_prompt, read_completion
from sandbox import Sandbox


class PassRateConfig(Section):
    samples: int = Field(4, ge=1, description="completions per problem")
    max_tokens: int = Field(512, ge=8)
    temperature: float = Field(0.8, ge=0, description="0: greedy (then one sample is enough)")
    seed: int = 0
    prompt: PromptConfig = PromptConfig()


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of pass@k from n samples of which c pass (Chen et al. 2021):
    1 - C(n-c, k) / C(n, k), the chance that k samples drawn without replacement hold a passing one."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n and 0 <= c <= n (n={n}, c={c})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_rate(
    policy_cfg: PolicyConfig, problems: Sequence[Problem], box: Sandbox, cfg: PassRateConfig
) -> dict[str, Any]:
    """pass@1 (the share of samples whose program passes every test), pass@k for k = 1, 2, 4, ... up to the
    samples (the unbiased estimator, averaged over problems), the share of problems with at least one
    passing sample, the mean pass fraction, and the share of well-formed completions. A sample whose run
    hit a persistent sandbox fault counts as not passing, and is counted in `faults`."""
    from coder_rl.policy import load_policy

    policy = load_policy(policy_cfg)
    params = SamplingParams(
        n=cfg.samples, max_tokens=cfg.max_tokens, temperature=cfg.temperature, seed=cfg.seed
    )
    try:
        samples = policy.generate([policy_prompt(p, cfg.prompt) for p in problems], params)
    finally:
        policy.close()
    trajectories = [read_completion(c.text) for group in samples for c in group]
    repeated = [p for p, group in zip(problems, samples, strict=True) for _ in group]
    fraction = outcome_rewards(box, repeated, trajectories, RewardConfig(outcome="pass_fraction"))
    passed = [f == 1.0 for f in fraction]
    solved, start, correct = 0, 0, []
    for group in samples:
        correct.append(sum(passed[start : start + len(group)]))
        solved += correct[-1] > 0
        start += len(group)
    ks = [k for k in (2**j for j in range(cfg.samples.bit_length())) if k <= cfg.samples]
    count = max(len(trajectories), 1)
    return {
        "problems": len(problems),
        "pass_at_1": sum(passed) / count,
        "pass_at": {
            str(k): sum(pass_at_k(cfg.samples, c, k) for c in correct) / max(len(problems), 1) for k in ks
        },
        "solved": solved / max(len(problems), 1),
        "pass_fraction": sum(f or 0.0 for f in fraction) / count,
        "faults": sum(f is None for f in fraction),
        "format": sum(format_reward(trajectories)) / count,
    }
