"""One GRPO step on CPU with the tiny model: the weights change, and what TRL logs for each reward is
the mean of what the reward functions returned."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from coder_rl.data import load_problems
from coder_rl.integrations.trl import CodeReward
from coder_rl.rl.config import RLConfig
from coder_rl.rl.grpo import run_grpo
from coder_rl.trajectory import policy_prompt

pytestmark = pytest.mark.slow


def length_reward(completions, **_):
    """Test only: a reward that varies within a group, so advantages are not all zero."""
    return [len(c) / 100 for c in completions]


def test_a_grpo_step_changes_the_weights_and_logs_the_rewards(tiny_model_dir, tmp_path, monkeypatch):
    returned: list[list[float]] = []
    prompted: list[tuple[str, str]] = []
    original = CodeReward.__call__

    async def recording(self, *args, **kwargs):
        prompted.extend(zip(kwargs["prompts"], kwargs["problem_id"], strict=True))
        rewards = await original(self, *args, **kwargs)
        returned.append(rewards)
        return rewards

    monkeypatch.setattr(CodeReward, "__call__", recording)
    cfg = RLConfig(
        data={"dataset": "sample", "limit": 2},
        model=str(tiny_model_dir),
        output_dir=str(tmp_path),
        device="cpu",
        sandbox={"workers": 2},
        grpo={"max_steps": 1, "per_device_train_batch_size": 4, "num_generations": 4, "max_completion_length": 24,
              "learning_rate": 1e-2, "save_steps": 1},
    )  # fmt: skip
    result = run_grpo(cfg, extra_rewards=[length_reward])
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(result.model_dir / "model.safetensors"))
    assert any(not before[name].equal(after[name]) for name in before if name in after)
    # the prompts GRPO gave the policy are each problem's `policy_prompt`, as every other pipeline's
    problems = {p.id: p for p in load_problems(cfg.data).problems}
    assert prompted and all(prompt == policy_prompt(problems[pid]) for prompt, pid in prompted)
    logged = next(entry for entry in result.log_history if "rewards/CodeReward/mean" in entry)
    flat = [r for batch in returned for r in batch]
    assert logged["rewards/CodeReward/mean"] == pytest.approx(sum(flat) / len(flat))
    assert "reward/outcome" in logged and "reward/alpha" in logged
