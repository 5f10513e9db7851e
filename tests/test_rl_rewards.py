"""Rewards are wired right: outcome from the sandbox, process from the PRM, format, and α(t)."""

from __future__ import annotations

import math

import pytest

from coder_rl.data import Problem
from coder_rl.rewards import RewardConfig, alpha, combined, format_reward, outcome_rewards, process_rewards
from coder_rl.trajectory import read_trajectory, statement
from sandbox import StdioCase

PROBLEM = Problem(id="p", question="double", tests=[StdioCase("2\n", "4\n"), StdioCase("3\n", "6\n")])
GOOD = '<step action="define">\ndouble it\n</step>\n<step action="generate">\n```python\nprint(2 * int(input()))\n```\n</step>\n'
HALF = '<step action="generate">\n```python\nn = int(input())\nprint(4 if n == 2 else 0)\n```\n</step>\n'
WRONG = '<step action="generate">\n```python\nprint(int(input()) + 1)\n```\n</step>\n'


def test_outcome_is_1_for_a_passing_program_and_0_for_a_failing_one(local_box):
    texts = [GOOD, WRONG, HALF, "no program at all", "```python\nprint(2 * int(input()))\n```"]
    trajectories = [read_trajectory(t) for t in texts]
    cfg = RewardConfig()
    assert outcome_rewards(local_box, [PROBLEM] * 5, trajectories, cfg) == [1.0, 0.0, 0.5, 0.0, 1.0]
    all_pass = RewardConfig(outcome="all_pass")
    assert outcome_rewards(local_box, [PROBLEM] * 3, trajectories[:3], all_pass) == [1.0, 0.0, 0.0]


def test_process_reward_follows_the_prms_scores():
    seen = []

    def fake_prm(items):  # scores each step by its length: any function of the steps will do
        seen.extend(items)
        return [[len(step.text) / 100 for step in steps] for _, steps in items]

    other = Problem(id="q", question="add one", tests=[])
    scores = process_rewards(fake_prm, [PROBLEM, other], [read_trajectory(GOOD), read_trajectory(WRONG)])
    assert scores == [[len("double it") / 100, len("```python\nprint(2 * int(input()))\n```") / 100],
                      [len("```python\nprint(int(input()) + 1)\n```") / 100]]  # fmt: skip
    assert [p for p, _ in seen] == [statement(PROBLEM), statement(other)]  # as the PRM trained
    cfg = RewardConfig(alpha_schedule="constant", alpha_start=0.25, gamma=0.5)
    assert combined(1.0, [0.8, 0.4], 0, cfg) == pytest.approx(0.25 * 1.0 + 0.75 * (0.8 + 0.5 * 0.4) / 2)
    assert combined(0.3, [], 0, cfg) == 0.3  # no steps to score: the outcome alone


def test_format_reward():
    texts = [GOOD, WRONG, "prose", '<step action="define">\nplan\n</step>\n']
    assert format_reward([read_trajectory(t) for t in texts]) == [
        1.0,
        1.0,
        0.0,
        0.0,
    ]


@pytest.mark.parametrize("t", [0, 25, 50, 100, 400])
def test_alpha_schedules_match_their_formulas(t):
    linear = RewardConfig(alpha_schedule="linear", alpha_start=0.2, alpha_end=1.0, alpha_steps=100)
    cosine = RewardConfig(alpha_schedule="cosine", alpha_start=0.2, alpha_end=1.0, alpha_steps=100)
    progress = min(t / 100, 1.0)
    assert alpha(t, linear) == pytest.approx(0.2 + 0.8 * progress)
    assert alpha(t, cosine) == pytest.approx(0.2 + 0.8 * (1 - math.cos(math.pi * progress)) / 2)
    assert alpha(t, RewardConfig(alpha_schedule="constant", alpha_start=0.7)) == 0.7


def test_tcg_reward_tests_are_written_once_and_pooled_after_the_datasets(
    tiny_model_dir, tmp_path, monkeypatch
):
    """tests.source=both: the dataset's tests, then the TCG's (here an untrained model's, whatever parses);
    they are cached in output_dir, so a resume or another rank rewards the same tests."""
    import coder_rl.rl.inputs as run
    from coder_rl.data import DataConfig, load_problems
    from coder_rl.errors import UserError
    from coder_rl.rl import RLConfig

    calls = []
    real = run.with_reward_tests
    monkeypatch.setattr(run, "with_reward_tests", lambda *a: calls.append(a) or real(*a))
    cfg = RLConfig(
        data={"dataset": "sample", "limit": 2}, output_dir=str(tmp_path), device="cpu",
        tests={"source": "both", "tcg_model": str(tiny_model_dir), "samples": 1, "max_tokens": 32},
    )  # fmt: skip
    first = run.rewarded_problems(cfg)
    own = load_problems(DataConfig(dataset="sample", limit=2)).problems
    assert [p.tests[: len(o.tests)] for p, o in zip(first, own, strict=True)] == [o.tests for o in own]
    assert (tmp_path / "reward_tests.json").is_file() and len(calls) == 1
    assert run.rewarded_problems(cfg) == first and len(calls) == 1  # read back, not generated again
    with pytest.raises(UserError, match="give tests.tcg_model"):
        run.rewarded_problems(
            cfg.model_copy(update={"tests": cfg.tests.model_copy(update={"tcg_model": None})})
        )
